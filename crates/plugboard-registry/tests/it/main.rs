//! Integration tests of the plugin registry through its public API, with real `.wasm`
//! plugins from `plugins/` copied into temporary plugin directories and a real SQLite
//! database file.

#![allow(clippy::unwrap_used, reason = "test helpers may unwrap like the tests they serve")]

mod compiles;
mod dependencies;
mod discovery;
mod events;
mod hot_reload;
mod lifecycle;
mod packages;
mod persistence;
mod reloading;
mod saved_state;
mod secrets;
mod settings;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use plugboard_host::{Runtime, RuntimeConfig, RuntimeEvent, Services};
use plugboard_manifest::PluginId;
use plugboard_registry::secrets::SecretKeys;
use plugboard_registry::{Registry, RegistryConfig, StoreKv};
use plugboard_store::{PluginRecord, PluginStore, SqliteStore};
use plugboard_test_plugins::{copy_plugin_folder, plugin_dir};
use tokio::sync::broadcast;

/// One compiled-component cache for the whole test binary: each plugin compiles once.
fn shared_cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory")).path()
}

/// A server's worth of state on disk: a data folder with the database, and a plugin
/// directory the test fills with copies of built plugins.
struct Setup {
    data: tempfile::TempDir,
    plugins: PathBuf,
}

impl Setup {
    /// A plugin directory holding copies of the named plugins.
    fn with(plugins: &[&str]) -> Setup {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("plugins");
        std::fs::create_dir_all(&dir).unwrap();
        for name in plugins {
            copy_plugin_folder(&plugin_dir(name), &dir.join(name)).unwrap();
        }
        Setup { data, plugins: dir }
    }

    fn folder(&self, name: &str) -> PathBuf {
        self.plugins.join(name)
    }

    /// Edits the manifest of the plugin in folder `name`.
    fn edit_manifest(&self, name: &str, edit: impl FnOnce(String) -> String) {
        let path = self.folder(name).join("plugin.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        write_atomically(&path, edit(text).as_bytes());
    }

    fn config(&self) -> RegistryConfig {
        RegistryConfig {
            bundled: Vec::new(),
            directories: vec![self.plugins.clone()],
            enabled_plugins: None,
            install_dir: Some(self.plugins.clone()),
            secret_keys: Some(self.secret_keys()),
        }
    }

    /// The data folder's server keys, as a server has them (made on first use).
    fn secret_keys(&self) -> SecretKeys {
        SecretKeys::for_data_folder(self.data.path(), None).unwrap()
    }

    fn db_path(&self) -> PathBuf {
        self.data.path().join("plugboard.db")
    }

    /// Opens the store and a registry over it, like a server starting, and starts it.
    async fn start(&self) -> Registry {
        self.start_with(self.config()).await
    }

    async fn start_with(&self, config: RegistryConfig) -> Registry {
        let registry = self.open(config).await;
        registry.start().await;
        registry
    }

    async fn open(&self, config: RegistryConfig) -> Registry {
        let store: Arc<dyn PluginStore> =
            Arc::new(SqliteStore::open(&self.data.path().join("plugboard.db")).await.unwrap());
        self.open_on(store, config).await
    }

    /// A registry over `store`, which the test keeps (to close it, say).
    async fn open_on(&self, store: Arc<dyn PluginStore>, config: RegistryConfig) -> Registry {
        self.open_with_cache(store, config, shared_cache_dir()).await
    }

    /// A registry over `store` whose compiled-component cache is `cache`.
    async fn open_with_cache(&self, store: Arc<dyn PluginStore>, config: RegistryConfig, cache: &Path) -> Registry {
        // The tests use the demonstration `example-tagger` (which ships disabled) as an
        // ordinary filter: as if an operator had enabled it once.
        if self.folder("example-tagger").is_dir() && store.plugin_record("example-tagger").await.unwrap().is_none() {
            let record = PluginRecord {
                plugin: "example-tagger".to_owned(),
                enabled: true,
                disabled_reason: None,
                settings: None,
                fail_mode: None,
                updated_at_ms: 0,
            };
            store.save_plugin_record(&record).await.unwrap();
        }
        let services = Services { kv: Arc::new(StoreKv::new(store.clone())), ..Services::default() };
        let config_runtime = RuntimeConfig { cache_dir: Some(cache.to_owned()), ..RuntimeConfig::default() };
        let runtime = Runtime::new(config_runtime, services).unwrap();
        Registry::new(runtime, store, config)
    }
}

/// Stops a registry the way the server does on shutdown.
async fn stop(registry: Registry) {
    registry.shutdown().await;
}

/// Writes a file the way a build tool does: a new file renamed over the old one.
fn write_atomically(path: &Path, contents: &[u8]) {
    let temporary = path.with_extension("tmp-write");
    std::fs::write(&temporary, contents).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn id(text: &str) -> PluginId {
    PluginId::parse(text).unwrap()
}

fn ids(registry_ids: &[PluginId]) -> Vec<&str> {
    registry_ids.iter().map(PluginId::as_str).collect()
}

/// Waits (at most 30 s) for an event matching `want`, skipping others.
async fn wait_for_event(
    events: &mut broadcast::Receiver<RuntimeEvent>,
    mut want: impl FnMut(&RuntimeEvent) -> bool,
) -> RuntimeEvent {
    let wait = async {
        loop {
            let event = events.recv().await.expect("the event stream stays open");
            if want(&event) {
                return event;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the expected event arrives within 30 s")
}

/// Waits (at most 30 s) until `check` holds, for effects that happen in a background
/// task and announce themselves no other way (a plugin writing its own KV store).
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `key` of `plugin`'s KV data, as text.
async fn kv_text(registry: &Registry, plugin: &str, key: &str) -> Option<String> {
    registry.store().kv_get(plugin, key).await.unwrap().map(|value| String::from_utf8(value).unwrap())
}

fn enabled_set(names: &[&str]) -> Option<BTreeSet<String>> {
    Some(names.iter().map(|name| (*name).to_owned()).collect())
}

/// Compares a data-driven case's `actual` outcome with its `expected.txt` (or, with
/// `BLESS` set, writes it there); a mismatch is added to `failures`.
fn check_expected(case: &Path, actual: &str, failures: &mut Vec<String>) {
    let expected_path = case.join("expected.txt");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&expected_path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|_| panic!("{} has no expected.txt; run with BLESS=1", case.display()));
    if expected != actual {
        failures.push(format!("{}:\n--- expected\n{expected}--- actual\n{actual}", case.display()));
    }
}
