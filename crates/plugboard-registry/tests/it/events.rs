//! Plugin events: delivered to subscribers in the host, and to plugins that implement the
//! event hook.

use serde_json::json;

use plugboard_test_plugins::copy_plugin_folder;

use crate::{Setup, eventually, id, kv_text, stop, wait_for_event};

#[tokio::test]
async fn subscribers_hear_every_lifecycle_change_in_order() {
    let setup = Setup::with(&["calculator", "example-tagger"]);
    let broken = setup.folder("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("plugin.toml"), "not = [valid").unwrap();
    let registry = setup.open(setup.config()).await;
    let mut events = registry.subscribe();
    registry.start().await;
    let calculator = id("calculator");
    registry.disable(&calculator).await.unwrap();
    registry.enable(&calculator).await.unwrap();
    registry.update_settings(&id("example-tagger"), &json!({"tag": "x"})).await.unwrap();
    registry.unload(&calculator, false).await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 7 {
        let event = wait_for_event(&mut events, |_| true).await;
        seen.push(serde_json::to_value(&event).unwrap());
    }
    let failed_error = seen[0]["error"].as_str().unwrap().to_owned();
    assert!(failed_error.contains("plugin.toml"), "{failed_error}");
    assert_eq!(
        seen,
        [
            json!({"type": "failed", "plugin": "broken", "error": failed_error}),
            json!({"type": "loaded", "plugin": "calculator", "version": "0.1.0", "previous": null}),
            json!({"type": "loaded", "plugin": "example-tagger", "version": "0.1.0", "previous": null}),
            json!({"type": "disabled", "plugin": "calculator", "reason": null}),
            json!({"type": "enabled", "plugin": "calculator"}),
            json!({"type": "settings-changed", "plugin": "example-tagger"}),
            json!({"type": "unloaded", "plugin": "calculator"}),
        ]
    );
    stop(registry).await;
}

#[tokio::test]
async fn plugins_with_the_event_hook_hear_of_other_plugins() {
    let setup = Setup::with(&["all-hooks", "calculator"]);
    let registry = setup.start().await;
    let calculator = id("calculator");
    registry.disable(&calculator).await.unwrap();
    registry.enable(&calculator).await.unwrap();
    registry.unload(&calculator, false).await.unwrap();
    let broken = setup.folder("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("plugin.toml"), "id = \"broken\"").unwrap();
    registry.load_folder(&broken).await.unwrap_err();

    let expected = "plugin-loaded calculator\nplugin-disabled calculator\nplugin-enabled calculator\n\
                    plugin-unloaded calculator\nplugin-failed broken\n";
    let log = eventually("every event to reach all-hooks", async || {
        kv_text(&registry, "all-hooks", "event-log").await.filter(|log| log.len() >= expected.len())
    })
    .await;
    assert_eq!(log, expected);
    stop(registry).await;
}

#[tokio::test]
async fn a_disabled_plugin_hears_nothing() {
    let setup = Setup::with(&["all-hooks", "calculator"]);
    // A second listener, enabled, shows when the dispatcher has handled an event.
    copy_plugin_folder(&setup.folder("all-hooks"), &setup.folder("witness")).unwrap();
    setup.edit_manifest("witness", |text| text.replace("id = \"all-hooks\"", "id = \"witness\""));
    let registry = setup.start().await;
    registry.disable(&id("all-hooks")).await.unwrap();
    registry.unload(&id("calculator"), false).await.unwrap();
    eventually("the witness to hear of the unload", async || {
        kv_text(&registry, "witness", "event-log").await.filter(|log| log.contains("plugin-unloaded calculator"))
    })
    .await;
    let log = kv_text(&registry, "all-hooks", "event-log").await.unwrap_or_default();
    assert!(!log.contains("plugin-unloaded"), "{log}");
    stop(registry).await;
}

#[tokio::test]
async fn a_plugin_hears_only_the_events_its_manifest_lists() {
    let setup = Setup::with(&["all-hooks", "calculator"]);
    setup.edit_manifest("all-hooks", |text| {
        text.replace("abi = \"0.1\"", "abi = \"0.1\"\nevents = [\"plugin-unloaded\"]")
    });
    let registry = setup.start().await;
    let calculator = id("calculator");
    registry.disable(&calculator).await.unwrap();
    registry.enable(&calculator).await.unwrap();
    registry.unload(&calculator, false).await.unwrap();
    let log = eventually("the unload to reach all-hooks", async || {
        kv_text(&registry, "all-hooks", "event-log").await.filter(|log| log.contains("plugin-unloaded"))
    })
    .await;
    assert_eq!(log, "plugin-unloaded calculator\n", "loaded, disabled and enabled were not delivered");
    stop(registry).await;
}
