//! The saved plugin state: a plugin that ships disabled, `ENABLED_PLUGINS` naming no
//! plugin, and changes another process saves (the `plugboard plugin` commands on the
//! same data folder) reaching a running registry.

use plugboard_manifest::FailMode;
use plugboard_registry::{Bundled, PluginState, RegistryConfig, StoreFollower, StoredChange};
use serde_json::json;

use crate::{Setup, enabled_set, eventually, id, stop};

fn bundled_tagger() -> Vec<Bundled> {
    plugboard_test_plugins::BUNDLED
        .iter()
        .filter(|plugin| plugin.name == "example-tagger")
        .map(|plugin| Bundled { name: plugin.name, manifest: plugin.manifest, wasm: plugin.wasm, files: plugin.files })
        .collect()
}

#[tokio::test]
async fn the_example_tagger_ships_disabled_until_an_operator_enables_it() {
    let setup = Setup::with(&["calculator"]);
    let config = RegistryConfig { bundled: bundled_tagger(), ..setup.config() };
    let registry = setup.start_with(config.clone()).await;
    let tagger = id("example-tagger");
    assert_eq!(registry.entry(&tagger).unwrap().state, PluginState::Disabled);
    assert_eq!(registry.entry(&id("calculator")).unwrap().state, PluginState::Enabled);
    // Saving its settings does not enable it, now or at the next start.
    registry.update_settings(&tagger, &json!({"tag": "demo"})).await.unwrap();
    stop(registry).await;
    let registry = setup.start_with(config.clone()).await;
    assert_eq!(registry.entry(&tagger).unwrap().state, PluginState::Disabled);

    registry.enable(&tagger).await.unwrap();
    stop(registry).await;
    let registry = setup.start_with(config).await;
    assert_eq!(registry.entry(&tagger).unwrap().state, PluginState::Enabled, "the operator's choice is kept");
    stop(registry).await;
}

#[tokio::test]
async fn enabled_plugins_naming_no_plugin_is_reported_by_name() {
    let setup = Setup::with(&["calculator", "word-stats"]);
    let config = RegistryConfig { enabled_plugins: enabled_set(&["calculator", "word-stat"]), ..setup.config() };
    let registry = setup.open(config).await;
    let report = registry.start().await;
    assert_eq!(
        report.warnings,
        [
            "ENABLED_PLUGINS names `word-stat`, which is no plugin here (known: calculator, word-stats); check the spelling, or remove it"
        ]
    );
    assert_eq!(registry.entry(&id("word-stats")).unwrap().state, PluginState::Disabled);
    // Folder names count as names of their plugins.
    let config = RegistryConfig { enabled_plugins: enabled_set(&["word-stats"]), ..setup.config() };
    let registry = setup.open(config).await;
    assert!(registry.start().await.warnings.is_empty());
    stop(registry).await;
}

#[tokio::test]
async fn a_running_registry_applies_what_another_process_saved() {
    let setup = Setup::with(&["calculator", "example-tagger"]);
    let server = setup.start().await;
    // Another process on the same database: `plugboard plugin disable` and friends.
    let command = setup.start().await;
    let calculator = id("calculator");

    command.disable(&calculator).await.unwrap();
    eventually("the server to disable the calculator", async || {
        (server.entry(&calculator).unwrap().state == PluginState::Disabled).then_some(())
    })
    .await;
    command.enable(&calculator).await.unwrap();
    eventually("the server to enable the calculator again", async || {
        (server.entry(&calculator).unwrap().state == PluginState::Enabled).then_some(())
    })
    .await;

    let tagger = id("example-tagger");
    command.set_fail_mode(&tagger, FailMode::Closed).await.unwrap();
    command.update_settings(&tagger, &json!({"tag": "elsewhere"})).await.unwrap();
    eventually("the server to take the new settings and failure mode", async || {
        let plugin = server.plugin(&tagger).unwrap();
        (plugin.fails_closed() && plugin.settings()["tag"] == "elsewhere").then_some(())
    })
    .await;
    stop(command).await;
    stop(server).await;
}

#[tokio::test]
async fn the_store_follower_applies_only_records_that_changed_since_it_last_looked() {
    let setup = Setup::with(&["calculator"]);
    let server = setup.start().await;
    let command = setup.start().await;
    let calculator = id("calculator");
    let mut follower = StoreFollower::new();
    // The first look only takes note of the state the registry started with.
    assert_eq!(follower.follow(&server).await.unwrap(), []);

    command.disable(&calculator).await.unwrap();
    // The server's own follower may have been first; either way the change is applied once.
    let applied = follower.follow(&server).await.unwrap();
    assert!(applied.is_empty() || applied == [(calculator.clone(), StoredChange::Disabled)], "{applied:?}");
    assert_eq!(server.entry(&calculator).unwrap().state, PluginState::Disabled);
    assert_eq!(follower.follow(&server).await.unwrap(), [], "nothing changed since");

    // The server's own change is saved too; applying it again changes nothing.
    server.enable(&calculator).await.unwrap();
    assert_eq!(follower.follow(&server).await.unwrap(), []);
    assert_eq!(server.entry(&calculator).unwrap().state, PluginState::Enabled);

    // Enabling a plugin the server unloaded loads it there again; a record that stays
    // enabled does not.
    server.unload(&calculator, false).await.unwrap();
    command.disable(&calculator).await.unwrap();
    follower.follow(&server).await.unwrap();
    assert_eq!(server.entry(&calculator).unwrap().state, PluginState::Unloaded);
    command.enable(&calculator).await.unwrap();
    follower.follow(&server).await.unwrap();
    assert_eq!(server.entry(&calculator).unwrap().state, PluginState::Enabled);
    stop(command).await;
    stop(server).await;
}

/// Applying what another process saved writes nothing back: a write-back could put an
/// older value over a change saved meanwhile (two quick settings changes through another
/// server, say).
#[tokio::test]
async fn applying_a_saved_change_does_not_save_it_again() {
    let setup = Setup::with(&["calculator", "pii-redactor"]);
    let server = setup.start().await;
    let command = setup.start().await;
    let mut follower = StoreFollower::new();
    assert_eq!(follower.follow(&server).await.unwrap(), []);
    let redactor = id("pii-redactor");

    command.update_settings(&redactor, &json!({"email_replacement": "[one]"})).await.unwrap();
    command.disable(&id("calculator")).await.unwrap();
    let saved = server.store().plugin_records().await.unwrap();
    let applied = follower.follow(&server).await.unwrap();
    assert!(applied.len() <= 2, "{applied:?}");
    assert_eq!(server.settings(&redactor).await.unwrap()["email_replacement"], "[one]");
    assert_eq!(server.entry(&id("calculator")).unwrap().state, PluginState::Disabled);
    assert_eq!(
        server.store().plugin_records().await.unwrap(),
        saved,
        "the records are as the other process saved them"
    );
    stop(command).await;
    stop(server).await;
}
