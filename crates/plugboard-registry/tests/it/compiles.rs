//! Starting without waiting for compiles: plugins whose components are not in the compiled
//! cache load in the background, in dependency order, while those compiled load at once;
//! reloads, hot reloads and installs of a compiled component map it instead of compiling.

use std::sync::Arc;

use plugboard_host::RuntimeEvent;
use plugboard_registry::{InstallOptions, PluginState, SyncOutcome};
use plugboard_store::{PluginStore, SqliteStore};
use plugboard_test_plugins::{compiled_files, with_unused_code};

use crate::packages::{key, package_of, trust, version_edit};
use crate::{Setup, id, ids, stop};

/// Functions of unused code that make a component's first compile take seconds.
const UNUSED_FUNCTIONS: u32 = 1000;

async fn store_of(setup: &Setup) -> Arc<dyn PluginStore> {
    Arc::new(SqliteStore::open(&setup.db_path()).await.unwrap())
}

#[tokio::test]
async fn plugins_still_to_compile_load_in_the_background_after_the_others_and_in_dependency_order() {
    // host-probe depends on calculator; word-stats on nothing.
    let setup = Setup::with(&["calculator", "host-probe", "word-stats"]);
    let cache = tempfile::tempdir().unwrap();
    let registry = setup.open_with_cache(store_of(&setup).await, setup.config(), cache.path()).await;
    assert_eq!(ids(&registry.start().await.loaded), ["calculator", "host-probe", "word-stats"]);
    stop(registry).await;
    // A new calculator component, not compiled yet.
    let wasm = setup.folder("calculator").join("plugin.wasm");
    std::fs::write(&wasm, with_unused_code(&std::fs::read(&wasm).unwrap(), UNUSED_FUNCTIONS)).unwrap();

    let registry = setup.open_with_cache(store_of(&setup).await, setup.config(), cache.path()).await;
    let mut events = registry.subscribe();
    let report = registry.start_without_waiting_for_compiles().await;
    assert_eq!(ids(&report.loaded), ["word-stats"]);
    // host-probe is compiled, but waits for its dependency.
    assert_eq!(ids(&report.compiling), ["calculator", "host-probe"]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(registry.entry(&id("calculator")).unwrap().state, PluginState::Compiling);
    assert_eq!(registry.entry(&id("host-probe")).unwrap().state, PluginState::Compiling);
    assert_eq!(registry.entry(&id("word-stats")).unwrap().state, PluginState::Enabled);
    assert!(registry.plugin(&id("calculator")).is_none(), "no call reaches it meanwhile");
    assert_eq!(ids(&registry.compiling()), ["calculator", "host-probe"]);

    registry.compiles_finished().await;
    assert!(registry.compiling().is_empty());
    assert_eq!(registry.entry(&id("calculator")).unwrap().state, PluginState::Enabled);
    assert_eq!(registry.entry(&id("host-probe")).unwrap().state, PluginState::Enabled);
    let mut loaded = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let RuntimeEvent::Loaded { plugin, .. } = event {
            loaded.push(plugin.to_string());
        }
    }
    assert_eq!(loaded, ["word-stats", "calculator", "host-probe"], "the compiled one at once, the dependency first");
    let answer = registry.plugin(&id("calculator")).unwrap().run_with_input(&Default::default(), "6 * 7").await;
    assert!(answer.unwrap().contains("42"));

    // Reload, hot reload and install of components compiled already: nothing compiles.
    let compiled = compiled_files(cache.path());
    registry.reload(&id("calculator")).await.unwrap();
    assert_eq!(compiled_files(cache.path()), compiled, "a reload maps the compiled file");
    setup.edit_manifest("calculator", |text| text.replace("version = \"0.1.0\"", "version = \"0.1.1\""));
    let outcome = registry.sync_folder(&setup.folder("calculator")).await.unwrap();
    assert!(matches!(outcome, SyncOutcome::Reloaded { .. }), "{outcome:?}");
    assert_eq!(compiled_files(cache.path()), compiled, "a hot reload maps the compiled file");
    let mut package = package_of("word-stats", &[version_edit("word-stats", "0.2.0")], |_| {});
    package.sign(&key("trusted"));
    let options = InstallOptions { trust: trust(), ..InstallOptions::default() };
    registry.install_package(&package.to_bytes().unwrap(), &options).await.unwrap();
    assert_eq!(registry.plugin(&id("word-stats")).unwrap().version().to_string(), "0.2.0");
    assert_eq!(compiled_files(cache.path()), compiled, "an install maps the compiled file");
    stop(registry).await;
}

#[tokio::test]
async fn a_component_that_does_not_compile_in_the_background_fails_and_so_do_its_dependents() {
    let setup = Setup::with(&["calculator", "host-probe"]);
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(setup.folder("calculator").join("plugin.wasm"), b"\0asm\x0d\0\x01\0not a component").unwrap();
    let registry = setup.open_with_cache(store_of(&setup).await, setup.config(), cache.path()).await;
    let report = registry.start_without_waiting_for_compiles().await;
    assert_eq!(ids(&report.compiling), ["calculator", "host-probe"]);
    registry.compiles_finished().await;
    let calculator = registry.entry(&id("calculator")).unwrap();
    assert_eq!(calculator.state, PluginState::Failed);
    assert!(calculator.error.as_deref().unwrap().contains("plugin.wasm"), "{:?}", calculator.error);
    let probe = registry.entry(&id("host-probe")).unwrap();
    assert_eq!(probe.state, PluginState::Failed);
    assert!(probe.error.as_deref().unwrap().contains("calculator"), "{:?}", probe.error);
    stop(registry).await;
}
