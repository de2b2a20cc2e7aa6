//! Discovery: every plugin folder of every directory, broken ones reported and skipped,
//! `ENABLED_PLUGINS`, bundled plugins and overriding folders.

use plugboard_host::api::CallContext;
use plugboard_registry::{Bundled, PluginState, RegistryConfig};

use plugboard_test_plugins::copy_plugin_folder;

use crate::{Setup, enabled_set, id, ids, stop};

#[tokio::test]
async fn loads_every_folder_and_reports_each_broken_one_with_its_fix() {
    let setup = Setup::with(&["calculator", "example-tagger"]);
    let broken = setup.folder("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("plugin.toml"),
        "id = \"broken\"\nname = \"Broken\"\nversion = \"one\"\ndescription = \"Bad version\"\nabi = \"0.1\"\n",
    )
    .unwrap();
    copy_plugin_folder(&setup.folder("calculator"), &setup.folder("future-abi")).unwrap();
    setup.edit_manifest("future-abi", |text| {
        text.replace("id = \"calculator\"", "id = \"future-abi\"").replace("abi = \"0.1\"", "abi = \"9.9\"")
    });
    copy_plugin_folder(&setup.folder("calculator"), &setup.folder("newer-host")).unwrap();
    setup.edit_manifest("newer-host", |text| {
        text.replace("id = \"calculator\"", "id = \"newer-host\"")
            .replace("abi = \"0.1\"", "abi = \"0.1\"\nmin_plugboard_version = \"99.0.0\"")
    });
    // A folder without plugin.toml is not a plugin and is not reported.
    std::fs::create_dir_all(setup.folder("notes")).unwrap();

    let registry = setup.open(setup.config()).await;
    let report = registry.start().await;

    assert_eq!(ids(&report.loaded), ["calculator", "example-tagger"]);
    let failed: std::collections::BTreeMap<&str, &str> =
        report.failed.iter().map(|(name, error)| (name.as_str(), error.as_str())).collect();
    assert_eq!(failed.keys().copied().collect::<Vec<_>>(), ["broken", "future-abi", "newer-host"]);
    assert!(failed["broken"].contains("plugin.toml") && failed["broken"].contains("version"), "{}", failed["broken"]);
    assert!(failed["future-abi"].contains("ABI version 9.9 is not known"), "{}", failed["future-abi"]);
    assert!(failed["newer-host"].contains("needs Plugboard 99.0.0"), "{}", failed["newer-host"]);

    // Folders whose manifest cannot be read have no id: they are listed by folder.
    let broken_folders: Vec<_> = registry.broken_folders().into_iter().map(|b| b.folder).collect();
    assert_eq!(broken_folders, [broken, setup.folder("future-abi")]);

    let entries = registry.list().await;
    let states: Vec<(&str, PluginState)> = entries.iter().map(|e| (e.id.as_str(), e.state)).collect();
    assert_eq!(
        states,
        [
            ("calculator", PluginState::Enabled),
            ("example-tagger", PluginState::Enabled),
            ("newer-host", PluginState::Failed),
        ]
    );
    let calculator = registry.plugin(&id("calculator")).unwrap();
    assert_eq!(calculator.run_with_input(&CallContext::default(), "6 * 7").await.unwrap(), "42");
    stop(registry).await;
}

#[tokio::test]
async fn enabled_plugins_chooses_which_start_enabled() {
    let setup = Setup::with(&["calculator", "example-tagger"]);
    let config = RegistryConfig { enabled_plugins: enabled_set(&["calculator"]), ..setup.config() };
    let registry = setup.start_with(config).await;

    let states: Vec<(String, PluginState)> =
        registry.list().await.into_iter().map(|entry| (entry.id.to_string(), entry.state)).collect();
    assert_eq!(
        states,
        [("calculator".to_owned(), PluginState::Enabled), ("example-tagger".to_owned(), PluginState::Disabled)]
    );
    let tagger = registry.plugin(&id("example-tagger")).unwrap();
    let refused = tagger.before_prompt(&CallContext::default(), "hello").await.unwrap_err();
    assert_eq!(refused.kind.code(), "disabled", "{refused}");
    stop(registry).await;
}

#[tokio::test]
async fn a_folder_replaces_the_bundled_plugin_with_the_same_id() {
    let setup = Setup::with(&["example-tagger"]);
    setup.edit_manifest("example-tagger", |text| text.replace("version = \"0.1.0\"", "version = \"0.3.0\""));
    let bundled: Vec<Bundled> = plugboard_test_plugins::BUNDLED
        .iter()
        .map(|plugin| Bundled { name: plugin.name, manifest: plugin.manifest, wasm: plugin.wasm, files: plugin.files })
        .collect();
    let registry = setup.start_with(RegistryConfig { bundled, ..setup.config() }).await;

    let entries = registry.list().await;
    let tagger = entries.iter().find(|entry| entry.id.as_str() == "example-tagger").unwrap();
    assert_eq!(tagger.version.to_string(), "0.3.0");
    assert_eq!(tagger.origin, setup.folder("example-tagger").display().to_string());
    let calculator = entries.iter().find(|entry| entry.id.as_str() == "calculator").unwrap();
    assert_eq!(calculator.origin, "bundled");
    assert_eq!(calculator.state, PluginState::Enabled);
    stop(registry).await;
}
