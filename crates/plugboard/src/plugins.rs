//! Opening the plugin registry for a command: the data folder (database, compiled-plugin
//! cache, the local plugin folder), the store, the runtime over it, and the registry with
//! the bundled plugins and the configured directories.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use plugboard_chat::{ModelsAi, SharedModels, StoreChat};
use plugboard_host::{Runtime, RuntimeConfig, Services};
use plugboard_registry::{Bundled, Registry, RegistryConfig, StoreKv};
use plugboard_store::{ChatStore, SqliteStore, Store};

use crate::config::FileConfig;

/// Where plugins and their state live, shared by every command.
#[derive(Debug, clap::Args)]
pub(crate) struct PluginOptions {
    /// A TOML configuration file. Default: `plugboard.toml` in the current directory, when
    /// it exists. Flags and environment variables override it.
    #[arg(long, env = "PLUGBOARD_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The data folder: the database (`plugboard.db`), the compiled-plugin cache
    /// (`cache/`) and the local plugin folder (`plugins/`).
    #[arg(long, env = "PLUGBOARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
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

/// The store and the registry over it.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Registry,
    pub(crate) data_dir: PathBuf,
}

impl PluginOptions {
    /// Opens the store in the data folder, starts the runtime and makes the registry (not
    /// started yet). Settings left unset here come from `file`, then the defaults.
    pub(crate) async fn open(&self, file: &FileConfig, models: SharedModels) -> anyhow::Result<Opened> {
        let data_dir =
            self.data_dir.clone().or_else(|| file.data_dir.clone()).unwrap_or_else(|| "plugboard-data".into());
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let configured_dirs = if self.plugins_dirs.is_empty() {
            file.plugins_dirs.clone().unwrap_or_default()
        } else {
            self.plugins_dirs.clone()
        };
        let directories = if configured_dirs.is_empty() {
            let local = data_dir.join("plugins");
            std::fs::create_dir_all(&local)
                .with_context(|| format!("cannot create the plugin folder {}", local.display()))?;
            vec![local]
        } else {
            configured_dirs
        };
        let sqlite = SqliteStore::open(&data_dir.join("plugboard.db")).await?;
        let interrupted = sqlite.mark_interrupted_messages().await?;
        if interrupted > 0 {
            tracing::warn!(
                "{interrupted} replies were cut off when the server last stopped; they are kept, marked partial"
            );
        }
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let services = Services {
            kv: Arc::new(StoreKv::new(store.clone())),
            chat: Arc::new(StoreChat::new(store.clone())),
            ai: Arc::new(ModelsAi::new(models)),
        };
        let cache_dir =
            self.cache_dir.clone().or_else(|| file.cache_dir.clone()).unwrap_or_else(|| data_dir.join("cache"));
        let config = RuntimeConfig { cache_dir: Some(cache_dir), ..RuntimeConfig::default() };
        let runtime = Runtime::new(config, services).context("starting the plugin runtime")?;
        let bundled = plugboard_plugins::BUNDLED
            .iter()
            .map(|plugin| Bundled {
                name: plugin.name,
                manifest: plugin.manifest,
                wasm: plugin.wasm,
                files: plugin.files,
            })
            .collect();
        let enabled_plugins = self.enabled_plugins.as_ref().or(file.enabled_plugins.as_ref()).map(|names| {
            names.iter().map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()).collect::<BTreeSet<_>>()
        });
        let registry = Registry::new(runtime, store.clone(), RegistryConfig { bundled, directories, enabled_plugins });
        Ok(Opened { store, registry, data_dir })
    }
}
