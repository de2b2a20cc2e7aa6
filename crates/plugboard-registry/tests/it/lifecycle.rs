//! The lifecycle operations while plugins serve: load, unload, reload, enable, disable,
//! each reaching the plugin's hooks, and reload as an atomic swap under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use plugboard_host::api::{CallContext, FilterOutcome};
use plugboard_registry::{PluginState, RegistryError};

use crate::{Setup, eventually, id, ids, kv_text, stop};

#[tokio::test]
async fn enable_and_disable_call_the_hooks_and_gate_calls() {
    let setup = Setup::with(&["all-hooks"]);
    let registry = setup.start().await;
    let plugin_id = id("all-hooks");
    let plugin = registry.plugin(&plugin_id).unwrap();

    registry.disable(&plugin_id).await.unwrap();
    assert_eq!(kv_text(&registry, "all-hooks", "last-lifecycle").await.as_deref(), Some("disabled"));
    assert_eq!(registry.entry(&plugin_id).unwrap().state, PluginState::Disabled);
    let refused = plugin.before_prompt(&CallContext::default(), "hi").await.unwrap_err();
    assert_eq!(refused.kind.code(), "disabled");

    registry.enable(&plugin_id).await.unwrap();
    assert_eq!(kv_text(&registry, "all-hooks", "last-lifecycle").await.as_deref(), Some("enabled"));
    assert_eq!(registry.entry(&plugin_id).unwrap().state, PluginState::Enabled);
    let outcome = plugin.before_prompt(&CallContext::default(), "hi").await.unwrap();
    assert!(matches!(outcome, FilterOutcome::Rewrite(text) if text.starts_with("HI!")));

    let unloaded = registry.unload(&plugin_id, false).await.unwrap();
    assert_eq!(ids(&unloaded), ["all-hooks"]);
    assert_eq!(kv_text(&registry, "all-hooks", "last-lifecycle").await.as_deref(), Some("shutdown"));
    assert!(registry.plugin(&plugin_id).is_none());
    assert_eq!(registry.entry(&plugin_id).unwrap().state, PluginState::Unloaded);

    // Enabling an unloaded plugin loads it.
    registry.enable(&plugin_id).await.unwrap();
    assert!(registry.plugin(&plugin_id).is_some());
    stop(registry).await;
}

#[tokio::test]
async fn operations_on_unknown_or_unloaded_plugins_say_what_is_wrong() {
    let setup = Setup::with(&["calculator"]);
    let registry = setup.start().await;

    let unknown = registry.enable(&id("nope")).await.unwrap_err();
    assert_eq!(unknown.code(), "plugin_not_found");
    assert_eq!(unknown.to_string(), "no plugin `nope` is installed; installed plugins: `calculator`");

    let already = registry.load(&id("calculator")).await.unwrap_err();
    assert!(matches!(already, RegistryError::AlreadyLoaded { .. }), "{already}");

    registry.unload(&id("calculator"), false).await.unwrap();
    let not_loaded = registry.unload(&id("calculator"), false).await.unwrap_err();
    assert_eq!(not_loaded.to_string(), "plugin `calculator` is not loaded; load it first");
    stop(registry).await;
}

#[tokio::test]
async fn reload_picks_up_the_new_version_and_keeps_state() {
    let setup = Setup::with(&["example-tagger"]);
    let registry = setup.start().await;
    let plugin_id = id("example-tagger");
    registry.update_settings(&plugin_id, &serde_json::json!({"tag": "kept"})).await.unwrap();
    registry.disable(&plugin_id).await.unwrap();

    setup.edit_manifest("example-tagger", |text| text.replace("version = \"0.1.0\"", "version = \"0.2.0\""));
    let reloaded = registry.reload(&plugin_id).await.unwrap();

    assert_eq!(reloaded.version().to_string(), "0.2.0");
    assert_eq!(registry.plugin(&plugin_id).unwrap().version().to_string(), "0.2.0");
    assert_eq!(registry.entry(&plugin_id).unwrap().state, PluginState::Disabled, "still disabled");
    assert_eq!(reloaded.settings()["tag"], "kept");
    stop(registry).await;
}

#[tokio::test]
async fn a_broken_new_version_leaves_the_old_one_running() {
    let setup = Setup::with(&["example-tagger"]);
    let registry = setup.start().await;
    let plugin_id = id("example-tagger");
    let mut events = registry.subscribe();

    crate::write_atomically(&setup.folder("example-tagger").join("plugin.wasm"), b"not a component");
    let error = registry.reload(&plugin_id).await.unwrap_err();
    assert!(error.to_string().contains("example-tagger"), "{error}");
    assert_eq!(error.code(), "plugin_load_failed");

    let failed = crate::wait_for_event(
        &mut events,
        |event| matches!(event, plugboard_host::RuntimeEvent::Failed { plugin, .. } if plugin == "example-tagger"),
    )
    .await;
    assert!(matches!(failed, plugboard_host::RuntimeEvent::Failed { .. }));
    let running = registry.plugin(&plugin_id).unwrap();
    assert_eq!(running.version().to_string(), "0.1.0");
    let entry = registry.entry(&plugin_id).unwrap();
    assert_eq!(entry.state, PluginState::Enabled);
    let shown = entry.error.unwrap();
    assert!(shown.starts_with("the new version did not load, the running one stays: "), "{shown}");
    assert!(!shown.contains('\n'), "one line: {shown}");
    let outcome = running.before_prompt(&CallContext::default(), "hello").await.unwrap();
    assert!(matches!(outcome, FilterOutcome::Rewrite(text) if text.contains("hello")));
    stop(registry).await;
}

/// Calls run without pause on every plugin version while the plugin is reloaded again
/// and again, alternating versions: not one call may fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_never_fail_during_repeated_reloads() {
    const RELOADS: usize = 20;
    const CALLERS: usize = 4;
    let setup = Setup::with(&["example-tagger"]);
    let registry = setup.start().await;
    let plugin_id = id("example-tagger");

    let stop_calls = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for caller in 0..CALLERS {
        let (registry, plugin_id, stop_calls, calls) =
            (registry.clone(), plugin_id.clone(), stop_calls.clone(), calls.clone());
        callers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut versions = std::collections::BTreeSet::new();
            let context = CallContext { conversation_id: format!("caller-{caller}").into(), ..CallContext::default() };
            while !stop_calls.load(Ordering::Relaxed) {
                let plugin = registry.plugin(&plugin_id).expect("the plugin is always loaded during a reload");
                versions.insert(plugin.version().to_string());
                match plugin.before_prompt(&context, "ping").await {
                    Ok(FilterOutcome::Rewrite(text)) if text.contains("ping") => {}
                    other => failures.push(format!("{other:?}")),
                }
                calls.fetch_add(1, Ordering::Relaxed);
            }
            (failures, versions)
        }));
    }
    for reload in 0..RELOADS {
        let version = if reload % 2 == 0 { "0.2.0" } else { "0.1.0" };
        setup.edit_manifest("example-tagger", |text| {
            let current = text.lines().find(|line| line.starts_with("version = ")).unwrap().to_owned();
            text.replace(&current, &format!("version = \"{version}\""))
        });
        let plugin = registry.reload(&plugin_id).await.unwrap();
        assert_eq!(plugin.version().to_string(), version);
        // Let calls land on this version before the next swap.
        let seen = calls.load(Ordering::Relaxed);
        eventually("calls on the new version", async || (calls.load(Ordering::Relaxed) >= seen + 8).then_some(()))
            .await;
    }
    stop_calls.store(true, Ordering::Relaxed);
    let mut all_failures = Vec::new();
    let mut all_versions = std::collections::BTreeSet::new();
    for caller in callers {
        let (failures, versions) = caller.await.unwrap();
        all_failures.extend(failures);
        all_versions.extend(versions);
    }
    let total = calls.load(Ordering::Relaxed);
    assert!(all_failures.is_empty(), "{} of {total} calls failed: {:?}", all_failures.len(), &all_failures[..]);
    assert!(total >= (RELOADS * 8) as u64, "only {total} calls ran");
    assert_eq!(all_versions.into_iter().collect::<Vec<_>>(), ["0.1.0", "0.2.0"]);
    stop(registry).await;
}
