//! Loading: bad components and manifests are refused with clear errors; loaded versions
//! swap atomically and unload cleanly.

use plugboard_host::api::FilterOutcome;
use plugboard_host::{CallErrorKind, LoadError, PluginSource, RuntimeEvent};
use plugboard_test_plugins::plugin_dir;

use super::{context, load, load_with, runtime, source_with};

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let runtime = runtime();
    let mut source = source_with("calculator", |m| m);
    source.wasm = b"definitely not wasm".to_vec().into();
    let error = runtime.load(source, None).await.unwrap_err();
    assert!(matches!(error, LoadError::Compile { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with("plugin `calculator`: `"), "{text}");
    assert!(text.contains("is not a valid WebAssembly component"), "{text}");
    assert!(text.ends_with("build it with `cargo build --release --target wasm32-wasip2`"), "{text}");

    // A core module (not a component) is refused the same way.
    let mut source = source_with("calculator", |m| m);
    source.wasm = b"\0asm\x01\0\0\0".to_vec().into();
    assert!(matches!(runtime.load(source, None).await.unwrap_err(), LoadError::Compile { .. }));
}

/// A component that instantiates an empty core module `instances` times (and does nothing
/// else), in the binary format: more core instances than a pool slot holds, if enough.
fn component_of_core_instances(instances: u8) -> Vec<u8> {
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    let module = b"\0asm\x01\0\0\0";
    component.extend([0x01, u8::try_from(module.len()).unwrap()]);
    component.extend(module);
    // Each instance: `instantiate` (0x00) module 0 with no arguments.
    let mut section = vec![instances];
    for _ in 0..instances {
        section.extend([0x00, 0x00, 0x00]);
    }
    component.extend([0x02, u8::try_from(section.len()).unwrap()]);
    component.extend(section);
    component
}

#[tokio::test]
async fn a_component_larger_than_an_instance_pool_slot_is_refused_saying_so() {
    let runtime = runtime();
    let mut source = source_with("calculator", |m| m);
    source.wasm = component_of_core_instances(33).into();
    let error = runtime.load(source, None).await.unwrap_err();
    assert!(matches!(error, LoadError::ExceedsInstancePool { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with("plugin `calculator`: `"), "{text}");
    assert!(text.contains("needs more than this host's instance pool gives one plugin instance"), "{text}");
    assert!(text.contains("33 core module instances"), "{text}");
    assert!(text.ends_with("at most 32 core instances, 4 memories and 8 tables of at most 20 000 elements"), "{text}");
}

#[tokio::test]
async fn a_plugin_for_a_newer_host_is_refused() {
    let runtime = runtime();
    let source =
        source_with("calculator", |m| m.replace("abi = \"0.1\"", "abi = \"0.1\"\nmin_plugboard_version = \"99.0.0\""));
    let error = runtime.load(source, None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "plugin `calculator`: needs Plugboard 99.0.0 or newer, this is {}; upgrade Plugboard or use an older version of the plugin",
            plugboard_host::HOST_VERSION
        )
    );
}

#[tokio::test]
async fn invalid_settings_and_refusing_init_stop_the_load() {
    let runtime = runtime();
    let source = source_with("pii-redactor", |m| m);
    let error = runtime.load(source, Some(serde_json::json!({"mask_emails": "yes", "extra": 1}))).await.unwrap_err();
    match &error {
        LoadError::InvalidSettings { violations, .. } => {
            assert!(violations.iter().any(|v| v.path == "/mask_emails"), "{violations:?}");
            assert!(violations.iter().any(|v| v.message.contains("extra")), "{violations:?}");
        }
        other => panic!("{other:?}"),
    }
    // Valid for the schema, refused by the plugin's init: an invalid regular expression.
    let source = source_with("pii-redactor", |m| m);
    let error = runtime.load(source, Some(serde_json::json!({"patterns": [{"pattern": "("}]}))).await.unwrap_err();
    match &error {
        LoadError::Start { source, .. } => match &source.kind {
            CallErrorKind::InitRefused { message } => {
                assert!(
                    message.starts_with("setting `patterns[0].pattern`: `(` is not a valid regular expression"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(runtime.plugin(&"pii-redactor".parse().unwrap()).is_none(), "nothing half-loaded stays behind");
}

#[tokio::test]
async fn a_folder_without_its_component_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(plugin_dir("calculator").join("plugin.toml"), dir.path().join("plugin.toml")).unwrap();
    let error = PluginSource::from_dir(dir.path()).unwrap_err();
    assert!(error.to_string().contains("field `component`: file `plugin.wasm` does not exist"), "{error}");
}

#[tokio::test]
async fn reload_swaps_versions_and_unload_removes() {
    let runtime = runtime();
    let mut events = runtime.subscribe();
    let old = load(&runtime, "example-tagger").await;
    let new = load_with(&runtime, "example-tagger", |m| m.replace("version = \"0.1.0\"", "version = \"0.2.0\"")).await;
    let id = old.id().clone();
    assert_eq!(runtime.plugin(&id).unwrap().version().to_string(), "0.2.0");
    // A handle to the replaced version still works (calls in flight finish on it).
    assert_eq!(old.before_prompt(&context(), "x").await.unwrap(), FilterOutcome::Rewrite("[tagged] x".into()));
    assert_eq!(new.before_prompt(&context(), "x").await.unwrap(), FilterOutcome::Rewrite("[tagged] x".into()));
    assert!(runtime.unload(&id).await.is_some());
    assert!(runtime.plugin(&id).is_none());
    assert!(runtime.unload(&id).await.is_none());
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert_eq!(
        seen,
        [
            RuntimeEvent::Loaded { plugin: id.clone(), version: "0.1.0".into(), previous: None },
            RuntimeEvent::Loaded { plugin: id.clone(), version: "0.2.0".into(), previous: Some("0.1.0".into()) },
            RuntimeEvent::Unloaded { plugin: id },
        ]
    );
}

#[tokio::test]
async fn concurrent_calls_share_warm_instances() {
    let runtime = runtime();
    let calculator = load(&runtime, "calculator").await;
    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let calculator = calculator.clone();
            tokio::spawn(async move {
                calculator
                    .call_tool(&context(), "calculate", serde_json::json!({"expression": format!("{n} * 2")}))
                    .await
            })
        })
        .collect();
    for (n, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap(), (n * 2).to_string());
    }
    let status = calculator.status();
    assert_eq!(status.faults, 0);
    assert!(status.idle_instances >= 1 && status.idle_instances <= runtime.config().max_idle_per_plugin);
}

#[tokio::test]
async fn a_full_instance_pool_makes_room_and_never_blames_a_plugin() {
    // A pool for two instances (each instance may use up to two memories, so at most four
    // small plugins' instances fit at once).
    let runtime = super::runtime_with(plugboard_host::RuntimeConfig { max_instances: 2, ..super::test_config() });
    let looper = load(&runtime, "looper").await;
    let calculator = load(&runtime, "calculator").await;
    let tagger = load(&runtime, "example-tagger").await;
    let export = load(&runtime, "markdown-export").await;
    // A fifth plugin still loads, and all still answer: warm instances make room.
    let redactor = load(&runtime, "pii-redactor").await;
    assert_eq!(tagger.before_prompt(&context(), "x").await.unwrap(), FilterOutcome::Rewrite("[tagged] x".into()));
    assert_eq!(
        calculator.call_tool(&context(), "calculate", serde_json::json!({"expression": "1+1"})).await.unwrap(),
        "2"
    );
    assert!(redactor.before_prompt(&context(), "a@example.com").await.is_ok());
    assert_eq!(export.export_formats().len(), 1);

    // Six spinning calls want more instances than the pool has. This test runs on one
    // thread: each spawned call runs until its first epoch yield, holding its instance.
    let spinning: Vec<_> = (0..6)
        .map(|_| {
            let looper = looper.clone();
            tokio::spawn(async move { looper.call_tool(&context(), "spin", serde_json::json!({})).await })
        })
        .collect();
    tokio::task::yield_now().await;
    let calculation = calculator.call_tool(&context(), "calculate", serde_json::json!({"expression": "2+2"})).await;
    let (mut deadlines, mut busy) = (0, 0);
    for task in spinning {
        match task.await.unwrap().unwrap_err().kind {
            CallErrorKind::Deadline { .. } => deadlines += 1,
            CallErrorKind::Busy => busy += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    if let Err(error) = &calculation {
        assert_eq!(error.kind, CallErrorKind::Busy, "{error}");
        busy += 1;
    }
    assert!(busy >= 2, "more calls than instances: some are told the host is busy");
    assert!(deadlines >= 1);
    // Being refused for lack of room is nobody's fault; only the deadlines count.
    assert_eq!(looper.status().faults, deadlines);
    assert_eq!(calculator.status().faults, 0);
    assert_eq!(
        calculator.call_tool(&context(), "calculate", serde_json::json!({"expression": "2+2"})).await.unwrap(),
        "4"
    );
}
