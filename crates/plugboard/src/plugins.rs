//! Opening the app for a command: the data folder (database, server key, compiled-plugin
//! cache, the local plugin folder), the store, and an `AppBuilder` set up with the bundled plugins
//! and the configured directories; `serve` adds the models, the plugin commands build it
//! for its registry.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use plugboard_host::RuntimeConfig;
use plugboard_package::{Limits, TrustStore};
use plugboard_registry::secrets::{SECRET_KEY_ENV, SecretKeys};
use plugboard_registry::{Bundled, InstallOptions, Registry, RegistryConfig};
use plugboard_server::AppBuilder;
use plugboard_store::{AnyStore, DatabaseLocation, Durability, Store};

use crate::config::FileConfig;

/// Where plugins and their state live, shared by every command.
#[derive(Debug, clap::Args)]
pub(crate) struct PluginOptions {
    /// A TOML configuration file. Default: `plugboard.toml` in the current directory, when
    /// it exists. Flags and environment variables override it.
    #[arg(long, env = "PLUGBOARD_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The data folder: the database (`plugboard.db`), the server key that encrypts
    /// secret plugin settings (`secret.key`, unless PLUGBOARD_SECRET_KEY gives it), the
    /// compiled-plugin cache (`cache/`) and the local plugin folder (`plugins/`).
    #[arg(long, env = "PLUGBOARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The database: a SQLite file's path (or `sqlite://PATH`), or a PostgreSQL database's
    /// URL (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`; the database must exist, and
    /// the schema is created in it). Default: `plugboard.db` in the data folder.
    #[arg(long, env = "PLUGBOARD_DATABASE_URL")]
    database_url: Option<String>,
    /// Plugin directories, comma-separated; each sub-folder holding a plugin.toml is a
    /// plugin, and a later directory's plugin replaces one with the same id. Default: the
    /// data folder's `plugins/`. The bundled plugins are always available, and a folder
    /// plugin with the same id replaces a bundled one.
    #[arg(long, env = "PLUGINS_DIRS", value_delimiter = ',')]
    plugins_dirs: Vec<PathBuf>,
    /// The plugins that start enabled (ids or folder names, comma-separated), overriding
    /// the saved state. Default: as saved (at first, every plugin but those that ship
    /// disabled, such as `example-tagger`).
    #[arg(long, env = "ENABLED_PLUGINS", value_delimiter = ',')]
    enabled_plugins: Option<Vec<String>>,
    /// Where compiled plugins are cached between runs. Default: the data folder's `cache/`.
    #[arg(long, env = "PLUGBOARD_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// What a plugin package's signature must be to install: `require` (signed by a
    /// trusted key; the default), `warn` (install unsigned or untrusted packages with a
    /// warning) or `off`.
    #[arg(long, env = "PLUGBOARD_INSTALL_POLICY")]
    install_policy: Option<plugboard_package::Policy>,
    /// The plugin index to browse and install from: a path or an http(s) URL of an
    /// `index.json` (made by `plugboard plugin index`).
    #[arg(long, env = "PLUGBOARD_PLUGIN_INDEX")]
    plugin_index: Option<String>,
}

/// What opening does with the replies the database says are still streaming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CutOffReplies {
    /// Marks them partial: no server is streaming them (on a database of one's own).
    MarkPartial,
    /// Leaves them: a server running beside this command may be streaming them.
    Leave,
}

/// How packages are installed: the trust store, the policy, size limits, the index.
#[derive(Debug, Clone)]
pub(crate) struct PackageSettings {
    pub(crate) install: InstallOptions,
    pub(crate) index: Option<String>,
}

/// The app, ready to build, and where its data lives.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) app: AppBuilder,
    pub(crate) data_dir: PathBuf,
    pub(crate) packages: PackageSettings,
}

impl Opened {
    /// The registry of the app built as opened (its plugins not loaded yet).
    pub(crate) async fn registry(self) -> anyhow::Result<Registry> {
        Ok(self.app.build().await.context("starting the plugin runtime")?.registry)
    }
}

impl PluginOptions {
    /// Opens the store in the data folder and sets up the app over it (not built yet).
    /// Settings left unset here come from `file`, then the defaults.
    pub(crate) async fn open(&self, file: &FileConfig) -> anyhow::Result<Opened> {
        self.open_with(file, CutOffReplies::MarkPartial).await
    }

    /// [`PluginOptions::open`] for a command that runs for long beside a server on the
    /// same data folder (`plugboard mcp`): the replies that server is streaming are left
    /// as they are.
    pub(crate) async fn open_beside_a_server(&self, file: &FileConfig) -> anyhow::Result<Opened> {
        self.open_with(file, CutOffReplies::Leave).await
    }

    async fn open_with(&self, file: &FileConfig, cut_off: CutOffReplies) -> anyhow::Result<Opened> {
        let data_dir = self.data_dir(file);
        private_data_dir(&data_dir).with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let configured_dirs = if self.plugins_dirs.is_empty() {
            file.plugins_dirs.clone().unwrap_or_default()
        } else {
            self.plugins_dirs.clone()
        };
        // Installed packages are unpacked into the data folder's `plugins/`, which is
        // always scanned first: a configured directory's plugin replaces an installed one.
        let install_dir = data_dir.join("plugins");
        std::fs::create_dir_all(&install_dir)
            .with_context(|| format!("cannot create the plugin folder {}", install_dir.display()))?;
        let mut directories = vec![install_dir.clone()];
        directories.extend(configured_dirs.into_iter().filter(|dir| !same_folder(dir, &install_dir)));
        let secret_keys = server_keys(&data_dir)?;
        let opened = self.open_store(file, &data_dir).await?;
        // Alone on its database (SQLite), this server streams nothing yet: every reply still
        // `streaming` was cut off when it last stopped. Sharing one, only the replies no
        // server has written for a while are; the server's sweep marks the others later.
        let stale_after = match &opened {
            AnyStore::Sqlite(_) => Duration::ZERO,
            AnyStore::Postgres(_) => plugboard_chat::STREAMING_STALE_AFTER,
        };
        if cut_off == CutOffReplies::MarkPartial {
            let interrupted = opened.mark_stale_streaming_messages(stale_after).await?.len();
            if interrupted > 0 {
                tracing::warn!(
                    "{interrupted} replies were cut off when the server last stopped; they are kept, marked partial"
                );
            }
        }
        let store: Arc<dyn Store> = opened.shared();
        let cache_dir =
            self.cache_dir.clone().or_else(|| file.cache_dir.clone()).unwrap_or_else(|| data_dir.join("cache"));
        let mut runtime = RuntimeConfig { cache_dir: Some(cache_dir), ..RuntimeConfig::default() };
        if let Some(deadline) = &file.max_task_deadline {
            runtime.max_task_timeout = humantime::parse_duration(deadline).with_context(|| {
                format!("`max_task_deadline = \"{deadline}\"` in the configuration file is not a duration; use one such as \"10m\"")
            })?;
        }
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
        let registry = RegistryConfig {
            bundled,
            directories,
            enabled_plugins,
            install_dir: Some(install_dir),
            secret_keys: Some(secret_keys),
        };
        let app = AppBuilder::new(store).runtime_config(runtime).registry_config(registry);
        let packages = self.package_settings(file, &data_dir)?;
        Ok(Opened { app, data_dir, packages })
    }
}

impl PluginOptions {
    /// The trust store (`<data>/trusted-keys/` unless configured), policy, limits and index.
    pub(crate) fn package_settings(&self, file: &FileConfig, data_dir: &Path) -> anyhow::Result<PackageSettings> {
        let config = &file.packages;
        let trust_dir = config.trusted_keys_dir.clone().unwrap_or_else(|| data_dir.join("trusted-keys"));
        let trust = TrustStore::from_folder(&trust_dir)?;
        let mut limits = Limits::default();
        if let Some(mb) = config.max_package_mb {
            limits.max_archive_bytes = mb << 20;
            limits.max_unpacked_bytes = limits.max_unpacked_bytes.max(mb << 22);
        }
        let policy = self.install_policy.or(config.policy).unwrap_or_default();
        Ok(PackageSettings {
            install: InstallOptions { trust, policy, force: false, limits },
            index: self.plugin_index.clone().or_else(|| config.index.clone()),
        })
    }

    /// The data folder, as `open` chooses it.
    /// Where the database is: the flag (or its variable), the file's `database_url`, or
    /// `plugboard.db` in `data_dir`.
    pub(crate) fn database(&self, file: &FileConfig, data_dir: &Path) -> anyhow::Result<DatabaseLocation> {
        match self.database_url.as_deref().or(file.database_url.as_deref()) {
            Some(text) => DatabaseLocation::parse(text)
                .context("in --database-url (PLUGBOARD_DATABASE_URL, or database_url in the configuration file)"),
            None => Ok(DatabaseLocation::Sqlite(data_dir.join("plugboard.db"))),
        }
    }

    /// Opens the database (see [`PluginOptions::database`]), bringing its schema up to date.
    pub(crate) async fn open_store(&self, file: &FileConfig, data_dir: &Path) -> anyhow::Result<AnyStore> {
        let location = self.database(file, data_dir)?;
        let durability = if file.durable_writes == Some(true) { Durability::Full } else { Durability::Normal };
        let store = AnyStore::open(&location, durability).await?;
        tracing::debug!(database = %location, "opened the database");
        Ok(store)
    }

    pub(crate) fn data_dir(&self, file: &FileConfig) -> PathBuf {
        self.data_dir.clone().or_else(|| file.data_dir.clone()).unwrap_or_else(|| "plugboard-data".into())
    }
}

/// The server keys that encrypt secret plugin settings: `PLUGBOARD_SECRET_KEY` when set,
/// else the data folder's `secret.key` (made on first start).
pub(crate) fn server_keys(data_dir: &Path) -> anyhow::Result<SecretKeys> {
    let environment = match std::env::var(SECRET_KEY_ENV) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => Some(String::new()),
    };
    Ok(SecretKeys::for_data_folder(data_dir, environment.as_deref())?)
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The data folder holds every chat, attachment and plugin secret: a new one is made
/// readable by its owner only (`0700`), and one an earlier version left open to others
/// (with its database in it) is closed (Unix; elsewhere the system's defaults apply).
fn private_data_dir(folder: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)?;
        let mode = std::fs::metadata(folder)?.permissions().mode();
        if mode & 0o077 != 0 && folder.join("plugboard.db").exists() {
            tracing::info!(folder = %folder.display(), "made the data folder readable by its owner only");
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(folder)
}
