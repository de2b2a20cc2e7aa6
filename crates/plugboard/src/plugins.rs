//! Opening the plugin registry for a command: the data folder (database, compiled-plugin
//! cache, the local plugin folder), the store, the runtime over it, and the registry with
//! the bundled plugins and the configured directories.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use plugboard_host::{Runtime, RuntimeConfig, Services};
use plugboard_registry::{Bundled, Registry, RegistryConfig, StoreKv};
use plugboard_store::{PluginStore, SqliteStore};

/// Where plugins and their state live, shared by every command.
#[derive(Debug, clap::Args)]
pub(crate) struct PluginOptions {
    /// The data folder: the database (`plugboard.db`), the compiled-plugin cache
    /// (`cache/`) and the local plugin folder (`plugins/`).
    #[arg(long, env = "PLUGBOARD_DATA_DIR", default_value = "plugboard-data")]
    data_dir: PathBuf,
    /// Plugin directories, comma-separated; each sub-folder holding a plugin.toml is a
    /// plugin, and a later directory's plugin replaces one with the same id. Default: the
    /// data folder's `plugins/`. The bundled plugins are always available, and a folder
    /// plugin with the same id replaces a bundled one.
    #[arg(long, env = "PLUGINS_DIRS", value_delimiter = ',')]
    plugins_dirs: Vec<PathBuf>,
    /// The plugins that start enabled (ids or folder names, comma-separated), overriding
    /// the saved state. Default: as saved (every plugin, at first).
    #[arg(long, env = "ENABLED_PLUGINS", value_delimiter = ',')]
    enabled_plugins: Option<Vec<String>>,
    /// Where compiled plugins are cached between runs. Default: the data folder's `cache/`.
    #[arg(long, env = "PLUGBOARD_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

impl PluginOptions {
    /// Opens the store, starts the runtime and makes the registry (not started yet).
    pub(crate) async fn open_registry(&self) -> anyhow::Result<Registry> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create the data folder {}", self.data_dir.display()))?;
        let directories = if self.plugins_dirs.is_empty() {
            let local = self.data_dir.join("plugins");
            std::fs::create_dir_all(&local)
                .with_context(|| format!("cannot create the plugin folder {}", local.display()))?;
            vec![local]
        } else {
            self.plugins_dirs.clone()
        };
        let store: Arc<dyn PluginStore> = Arc::new(SqliteStore::open(&self.data_dir.join("plugboard.db")).await?);
        let services = Services { kv: Arc::new(StoreKv::new(store.clone())), ..Services::default() };
        let cache_dir = self.cache_dir.clone().unwrap_or_else(|| self.data_dir.join("cache"));
        let config = RuntimeConfig { cache_dir: Some(cache_dir), ..RuntimeConfig::default() };
        let runtime = Runtime::new(config, services).context("starting the plugin runtime")?;
        let bundled = plugboard_plugins::BUNDLED
            .iter()
            .map(|plugin| Bundled { name: plugin.name, manifest: plugin.manifest, wasm: plugin.wasm })
            .collect();
        let enabled_plugins = self.enabled_plugins.as_ref().map(|names| {
            names.iter().map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()).collect::<BTreeSet<_>>()
        });
        Ok(Registry::new(runtime, store, RegistryConfig { bundled, directories, enabled_plugins }))
    }
}
