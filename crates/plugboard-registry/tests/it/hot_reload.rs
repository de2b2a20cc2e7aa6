//! Hot reload from disk: a real change in a watched plugin directory loads, reloads or
//! unloads the plugin; a broken change leaves the old version running.

use std::time::Duration;

use plugboard_host::RuntimeEvent;
use plugboard_host::api::{CallContext, FilterOutcome};

use plugboard_test_plugins::copy_plugin_folder;

use crate::{Setup, id, stop, wait_for_event};

#[tokio::test]
async fn watched_folders_reload_on_change_and_keep_the_old_version_when_broken() {
    let setup = Setup::with(&["example-tagger"]);
    let registry = setup.start().await;
    let mut events = registry.subscribe();
    let _watch = registry.watch(Duration::from_millis(200)).unwrap();

    // A new version, as an author's build would leave it.
    setup.edit_manifest("example-tagger", |text| text.replace("version = \"0.1.0\"", "version = \"0.2.0\""));
    let loaded = wait_for_event(&mut events, |event| matches!(event, RuntimeEvent::Loaded { .. })).await;
    assert_eq!(
        loaded,
        RuntimeEvent::Loaded { plugin: id("example-tagger"), version: "0.2.0".into(), previous: Some("0.1.0".into()) }
    );

    // A broken build: the error is reported and 0.2.0 keeps serving.
    crate::write_atomically(&setup.folder("example-tagger").join("plugin.wasm"), b"\0asm garbage");
    let failed = wait_for_event(&mut events, |event| matches!(event, RuntimeEvent::Failed { .. })).await;
    let RuntimeEvent::Failed { plugin, error } = failed else { unreachable!() };
    assert_eq!(plugin, "example-tagger");
    assert!(error.contains("plugin.wasm"), "{error}");
    let running = registry.plugin(&id("example-tagger")).unwrap();
    assert_eq!(running.version().to_string(), "0.2.0");
    let outcome = running.before_prompt(&CallContext::default(), "still here").await.unwrap();
    assert_eq!(outcome, FilterOutcome::Rewrite("[tagged] still here".into()));

    // A new plugin folder appears, then goes away.
    copy_plugin_folder(&plugboard_test_plugins::plugin_dir("calculator"), &setup.folder("calculator")).unwrap();
    let loaded = wait_for_event(&mut events, |event| matches!(event, RuntimeEvent::Loaded { .. })).await;
    assert!(matches!(&loaded, RuntimeEvent::Loaded { plugin, .. } if plugin.as_str() == "calculator"), "{loaded:?}");
    std::fs::remove_dir_all(setup.folder("calculator")).unwrap();
    let unloaded = wait_for_event(&mut events, |event| matches!(event, RuntimeEvent::Unloaded { .. })).await;
    assert_eq!(unloaded, RuntimeEvent::Unloaded { plugin: id("calculator") });
    assert!(registry.entry(&id("calculator")).is_none());
    stop(registry).await;
}

#[tokio::test]
async fn removing_a_folder_that_replaced_a_bundled_plugin_brings_the_bundled_one_back() {
    let setup = Setup::with(&["example-tagger"]);
    setup.edit_manifest("example-tagger", |text| text.replace("version = \"0.1.0\"", "version = \"0.9.0\""));
    let bundled = plugboard_test_plugins::BUNDLED
        .iter()
        .filter(|plugin| plugin.name == "example-tagger")
        .map(|plugin| plugboard_registry::Bundled {
            name: plugin.name,
            manifest: plugin.manifest,
            wasm: plugin.wasm,
            files: plugin.files,
        })
        .collect();
    let registry = setup.start_with(plugboard_registry::RegistryConfig { bundled, ..setup.config() }).await;
    assert_eq!(registry.plugin(&id("example-tagger")).unwrap().version().to_string(), "0.9.0");
    let mut events = registry.subscribe();
    let _watch = registry.watch(Duration::from_millis(200)).unwrap();

    std::fs::remove_dir_all(setup.folder("example-tagger")).unwrap();
    wait_for_event(&mut events, |event| matches!(event, RuntimeEvent::Unloaded { .. })).await;
    let loaded = wait_for_event(&mut events, |event| matches!(event, RuntimeEvent::Loaded { .. })).await;
    assert_eq!(loaded, RuntimeEvent::Loaded { plugin: id("example-tagger"), version: "0.1.0".into(), previous: None });
    assert_eq!(registry.entry(&id("example-tagger")).unwrap().origin, "bundled");

    // A development copy appearing while the server runs replaces the bundled plugin.
    // Made outside the watched directory and moved in whole, as an installer would.
    let staging = setup.plugins.with_file_name("staging");
    copy_plugin_folder(&plugboard_test_plugins::plugin_dir("example-tagger"), &staging).unwrap();
    let manifest = std::fs::read_to_string(staging.join("plugin.toml")).unwrap();
    std::fs::write(staging.join("plugin.toml"), manifest.replace("version = \"0.1.0\"", "version = \"0.9.1\""))
        .unwrap();
    std::fs::rename(&staging, setup.folder("tagger-dev")).unwrap();
    let loaded = wait_for_event(&mut events, |event| matches!(event, RuntimeEvent::Loaded { .. })).await;
    assert_eq!(
        loaded,
        RuntimeEvent::Loaded { plugin: id("example-tagger"), version: "0.9.1".into(), previous: Some("0.1.0".into()) }
    );
    assert_eq!(registry.entry(&id("example-tagger")).unwrap().origin, setup.folder("tagger-dev").display().to_string());
    stop(registry).await;
}

// Two threads: the list is read while the replaced version's shutdown hook runs on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_replacing_a_bundled_plugin_is_listed_from_its_folder_as_soon_as_it_serves() {
    // The looper's shutdown hook spins until its deadline (2 s in the bundled copy, a window
    // wide enough for a busy machine), so the bundled version takes that long to stop; the
    // list must not show the new version as bundled (and without its install record) meanwhile.
    let looper = plugboard_test_plugins::plugin_dir("looper");
    let bundled = plugboard_registry::Bundled {
        name: "looper",
        manifest: std::fs::read_to_string(looper.join("plugin.toml"))
            .unwrap()
            .replace("timeout_ms = 200", "timeout_ms = 2000")
            .leak(),
        wasm: std::fs::read(looper.join("plugin.wasm")).unwrap().leak(),
        files: &[],
    };
    let setup = Setup::with(&[]);
    let registry =
        setup.start_with(plugboard_registry::RegistryConfig { bundled: vec![bundled], ..setup.config() }).await;
    assert_eq!(registry.entry(&id("looper")).unwrap().origin, "bundled");

    // No watcher runs: the folder is reconciled below, once it is complete.
    let folder = setup.folder("looper-dev");
    copy_plugin_folder(&looper, &folder).unwrap();
    setup.edit_manifest("looper-dev", |text| text.replace("version = \"0.1.0\"", "version = \"0.2.0\""));
    let sync = tokio::spawn({
        let (registry, folder) = (registry.clone(), folder.clone());
        async move { registry.sync_folder(&folder).await }
    });
    let seen = loop {
        let entry = registry.entry(&id("looper")).unwrap();
        if entry.version.to_string() == "0.2.0" {
            break entry;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    assert!(!sync.is_finished(), "the bundled version's shutdown hook is still running");
    assert_eq!(seen.origin, folder.display().to_string());
    assert!(sync.await.unwrap().is_ok());
    assert_eq!(registry.entry(&id("looper")).unwrap().origin, folder.display().to_string());
    stop(registry).await;
}
