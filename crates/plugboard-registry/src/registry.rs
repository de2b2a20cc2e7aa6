//! The registry: the living set of plugins. It owns discovery, load order, the lifecycle
//! operations an operator runs while the server serves, settings, and the persisted state
//! of every plugin; the runtime below it only runs what it is given.
//!
//! The `impl Registry` is split by concern: this file holds the types, the registry's
//! state, its constructor, small accessors and the helpers the others share;
//! `lifecycle` starts, loads, unloads, reloads, enables and disables plugins, `settings`
//! reads and changes their settings, `sync` reconciles a plugin folder (hot reload),
//! `listing` describes installed plugins, `files` serves their `ui/` and `docs/` files,
//! `follow` applies the plugin state another process saved (every two seconds),
//! and `background` runs the event dispatcher and the key-value sweeper, and `schedule` runs
//! the plugins' scheduled tasks.

mod background;
mod cluster;
mod files;
mod follow;
mod lifecycle;
mod listing;
mod schedule;
mod settings;
mod sync;

pub use self::cluster::PackageChange;
pub use self::follow::{StoreFollower, StoredChange};
pub use self::schedule::TaskInfo;
pub use self::sync::SyncOutcome;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use plugboard_host::{LoadError, Plugin, PluginStatus, Runtime, RuntimeEvent};
use plugboard_manifest::{Manifest, PluginId};
use plugboard_store::{Notice, PluginRecord, PluginStore};
use serde::Serialize;
use tokio::sync::broadcast;

use self::background::{dispatch_events, purge_expired};
use self::follow::follow_store;
use crate::discover::{Bundled, Candidate, Origin, folder_name};
use crate::error::RegistryError;
use crate::resolve::DependencyError;
use crate::secrets::SecretKeys;

/// What the registry is given at start.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Plugins embedded in the binary; a folder plugin with the same id replaces one.
    pub bundled: Vec<Bundled>,
    /// Directories whose sub-folders are plugins (`PLUGINS_DIRS`), in order: a later one
    /// replaces an earlier plugin with the same id.
    pub directories: Vec<PathBuf>,
    /// `ENABLED_PLUGINS`: the ids (or folder names) that start enabled, overriding the
    /// saved state; `None` keeps the saved state (at first, each plugin's manifest's
    /// `enabled_by_default`). A listed name that is no plugin is reported at start.
    pub enabled_plugins: Option<BTreeSet<String>>,
    /// Where installed packages are unpacked, one sub-folder per plugin id. It should be
    /// one of `directories`, so installed plugins are found again at start.
    pub install_dir: Option<PathBuf>,
    /// The server keys that encrypt secret settings in the store (see [`crate::secrets`]).
    /// `None` stores them as given: for tests and tools whose database is thrown away;
    /// a server always has keys.
    pub secret_keys: Option<SecretKeys>,
}

/// Where a plugin stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// Loaded and receiving calls.
    Enabled,
    /// Loaded, but an operator disabled it: no calls reach it.
    Disabled,
    /// Not running: it failed to load, or its circuit breaker opened.
    Failed,
    /// Installed, but unloaded by an operator.
    Unloaded,
    /// Waiting to load while the server serves: its component (or a dependency's) is being
    /// compiled for the first time on this machine (nothing in the compiled cache). It
    /// loads, or fails, when that is done; until then no call reaches it.
    Compiling,
}

/// One installed plugin, for operators and the API.
#[derive(Debug, Clone, Serialize)]
pub struct PluginEntry {
    /// The plugin id.
    pub id: PluginId,
    /// The version loaded, or found on disk when it is not loaded.
    pub version: semver::Version,
    /// Display name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Where it comes from: `bundled` or its folder.
    pub origin: String,
    /// Where it stands.
    pub state: PluginState,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Why the host disabled it, when it did (its circuit breaker), kept across restarts;
    /// such a plugin is [`PluginState::Failed`] until an operator enables it.
    pub disabled_reason: Option<String>,
    /// The plugins it needs, with the versions it accepts.
    pub dependencies: BTreeMap<PluginId, String>,
    /// The loaded plugins that need it.
    pub dependents: Vec<PluginId>,
    /// The runtime's view (calls, faults, breaker, limits) when loaded.
    pub status: Option<PluginStatus>,
}

impl PluginEntry {
    /// A plugin the host disabled (its circuit breaker opened, in this run or an earlier
    /// one) is failed, with the reason as its error, until an operator enables it.
    fn set_disabled_reason(&mut self, reason: Option<String>) {
        if let Some(reason) = &reason
            && self.state == PluginState::Disabled
        {
            self.state = PluginState::Failed;
            self.error = Some(reason.clone());
        }
        self.disabled_reason = reason;
    }
}

/// A plugin folder that could not be read (so it has no id), kept for display.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenFolder {
    /// The folder.
    pub folder: PathBuf,
    /// What is wrong and what to do.
    pub error: String,
}

/// What [`Registry::start`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StartReport {
    /// Loaded, in load order.
    pub loaded: Vec<PluginId>,
    /// Refused or failed, each with its error (folder names for unreadable folders).
    pub failed: Vec<(String, String)>,
    /// Left to load in the background, in load order, by
    /// [`Registry::start_without_waiting_for_compiles`]: their components (or their
    /// dependencies') were not compiled yet. Each loads, or fails with a `failed` event, when
    /// its compile is done.
    pub compiling: Vec<PluginId>,
    /// What the operator should know, also logged (an `ENABLED_PLUGINS` name that is no
    /// plugin).
    pub warnings: Vec<String>,
}

#[derive(Debug)]
struct Known {
    candidate: Candidate,
    /// The last load failure, cleared by a successful load.
    error: Option<String>,
    /// Left by the start to load once compiled ([`PluginState::Compiling`]); cleared by
    /// any load, successful or not.
    compiling: bool,
}

#[derive(Debug)]
struct Inner {
    runtime: Runtime,
    store: Arc<dyn PluginStore>,
    config: RegistryConfig,
    known: Mutex<BTreeMap<PluginId, Known>>,
    broken: Mutex<BTreeMap<PathBuf, String>>,
    /// Lifecycle operations run one at a time; calls to plugins are never blocked by it.
    operations: tokio::sync::Mutex<()>,
    /// The event dispatcher, the expired-entry sweeper and the scheduler, stopped with
    /// the registry.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Whether [`Registry::start_scheduler`] has run.
    scheduler_started: std::sync::atomic::AtomicBool,
    /// Installs, uninstalls and package syncs run one at a time (they move folders).
    installs: tokio::sync::Mutex<()>,
    /// Stored packages that failed to install here, by plugin: the failed file's SHA-256.
    package_failures: Mutex<BTreeMap<String, String>>,
    /// The store's notifications, passed on ([`Registry::notices`]).
    notices: broadcast::Sender<Notice>,
    /// Whether the start's background compiles are still running
    /// ([`Registry::compiles_finished`]).
    compiles_running: tokio::sync::watch::Sender<bool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a single map update: a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A [`Registry`] that may be gone.
#[derive(Debug, Clone)]
pub struct WeakRegistry {
    inner: Weak<Inner>,
}

impl WeakRegistry {
    /// The registry, if something still holds it.
    pub fn upgrade(&self) -> Option<Registry> {
        self.inner.upgrade().map(|inner| Registry { inner })
    }
}

/// The chat core and the model list see the registry only as the plugins now loaded.
impl plugboard_host::PluginSet for Registry {
    fn plugins(&self) -> Vec<Plugin> {
        self.inner.runtime.plugins()
    }
}

/// Whether a change is saved in the store, or only applied here because another process
/// saved it (writing it back could overwrite a change saved meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persist {
    /// Save it: the change starts here.
    Save,
    /// Only apply it: the store has it already.
    Apply,
}

/// The set of plugins. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    /// A registry over `runtime`, persisting to `store`. It starts delivering events: faults
    /// are recorded in the store, an opened circuit breaker is remembered across restarts,
    /// and plugins implementing the event hook hear of other plugins' lifecycle; expired
    /// key-value entries are deleted every ten minutes. Call
    /// [`Registry::start`] to discover and load the plugins.
    pub fn new(runtime: Runtime, store: Arc<dyn PluginStore>, config: RegistryConfig) -> Registry {
        let events = runtime.subscribe();
        let inner = Arc::new(Inner {
            runtime,
            store,
            config,
            known: Mutex::new(BTreeMap::new()),
            broken: Mutex::new(BTreeMap::new()),
            operations: tokio::sync::Mutex::new(()),
            tasks: Mutex::new(Vec::new()),
            scheduler_started: std::sync::atomic::AtomicBool::new(false),
            installs: tokio::sync::Mutex::new(()),
            package_failures: Mutex::new(BTreeMap::new()),
            notices: broadcast::channel(256).0,
            compiles_running: tokio::sync::watch::Sender::new(false),
        });
        let dispatcher = tokio::spawn(dispatch_events(Arc::downgrade(&inner), events));
        let sweeper = tokio::spawn(purge_expired(Arc::downgrade(&inner)));
        let follower = tokio::spawn(follow_store(Arc::downgrade(&inner)));
        lock(&inner.tasks).push(follower);
        lock(&inner.tasks).extend([dispatcher, sweeper]);
        Registry { inner }
    }

    /// The runtime that runs the plugins.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// A handle that does not keep the registry alive (for tests that check everything is
    /// released, and for holders the registry itself reaches).
    pub fn downgrade(&self) -> WeakRegistry {
        WeakRegistry { inner: Arc::downgrade(&self.inner) }
    }

    /// The store the registry persists to.
    pub fn store(&self) -> &Arc<dyn PluginStore> {
        &self.inner.store
    }

    /// The configuration it was given.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// Subscribes to plugin events: loaded, unloaded, enabled, disabled, failed, settings
    /// changed, faults.
    pub fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.inner.runtime.subscribe()
    }

    /// The loaded plugin `id`, enabled or not.
    pub fn plugin(&self, id: &PluginId) -> Option<Plugin> {
        self.inner.runtime.plugin(id)
    }

    /// Removes from the compiled-component cache the files of components no plugin known
    /// here uses (earlier versions of reloaded or reinstalled plugins, uninstalled ones,
    /// another Plugboard version's); logs and returns how many went. For the process that
    /// owns the data folder (the server at start), not for tests sharing one cache.
    pub async fn prune_compiled_cache(&self) -> usize {
        let keep: Vec<_> = lock(&self.inner.known).values().map(|known| known.candidate.source.wasm.clone()).collect();
        match self.inner.runtime.prune_compiled_cache(keep).await {
            Ok(0) => 0,
            Ok(removed) => {
                tracing::info!(removed, "removed compiled components no plugin uses from the cache");
                removed
            }
            Err(error) => {
                tracing::warn!("cannot prune the compiled-component cache: {error}");
                0
            }
        }
    }

    /// The plugins waiting for a compile ([`PluginState::Compiling`]), by id.
    pub fn compiling(&self) -> Vec<PluginId> {
        lock(&self.inner.known).iter().filter(|(_, known)| known.compiling).map(|(id, _)| id.clone()).collect()
    }

    /// Completes when the compiles [`Registry::start_without_waiting_for_compiles`] left
    /// running are done and their plugins loaded or failed (at once when there are none).
    pub async fn compiles_finished(&self) {
        let mut running = self.inner.compiles_running.subscribe();
        // An error means the registry is gone: nothing runs any more.
        let _ = running.wait_for(|running| !*running).await;
    }

    // --- helpers ---

    /// Held by installs, uninstalls and package syncs, which move folders.
    pub(crate) fn install_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.installs
    }

    fn loaded_versions(&self) -> BTreeMap<PluginId, semver::Version> {
        self.inner.runtime.plugins().iter().map(|plugin| (plugin.id().clone(), plugin.version().clone())).collect()
    }

    fn loaded_dependents(&self, id: &PluginId) -> Vec<PluginId> {
        self.inner
            .runtime
            .plugins()
            .iter()
            .filter(|plugin| plugin.manifest().dependencies.contains_key(id))
            .map(|plugin| plugin.id().clone())
            .collect()
    }

    /// Checks a plugin's dependencies against what is loaded now.
    fn check_dependencies(&self, manifest: &Manifest) -> Result<(), DependencyError> {
        let loaded = self.loaded_versions();
        for (dependency, requirement) in &manifest.dependencies {
            match loaded.get(dependency) {
                Some(found) if requirement.matches(found) => {}
                Some(found) => {
                    return Err(DependencyError::Unsatisfied {
                        plugin: manifest.id.clone(),
                        dependency: dependency.clone(),
                        requirement: requirement.clone(),
                        found: found.clone(),
                    });
                }
                None => {
                    let known = lock(&self.inner.known);
                    return Err(match known.get(dependency) {
                        Some(other) => DependencyError::DependencyFailed {
                            plugin: manifest.id.clone(),
                            dependency: dependency.clone(),
                            reason: other.error.clone().unwrap_or_else(|| "it is not loaded; load it first".to_owned()),
                        },
                        None => DependencyError::Missing {
                            plugin: manifest.id.clone(),
                            dependency: dependency.clone(),
                            requirement: requirement.clone(),
                        },
                    });
                }
            }
        }
        Ok(())
    }

    /// The plugin's candidate, read again from its folder (bundled ones are as embedded).
    fn fresh_candidate(&self, id: &PluginId) -> Result<Candidate, RegistryError> {
        let origin = lock(&self.inner.known).get(id).map(|known| known.candidate.clone());
        let Some(known) = origin else { return Err(self.unknown(id.as_str())) };
        let Origin::Folder(folder) = &known.origin else { return Ok(known) };
        let candidate = Candidate::from_folder(folder)?;
        if &candidate.source.manifest.id != id {
            return Err(RegistryError::IdChanged {
                folder: folder.clone(),
                expected: id.clone(),
                found: candidate.source.manifest.id,
            });
        }
        Ok(candidate)
    }

    fn known_manifest(&self, id: &PluginId) -> Result<Manifest, RegistryError> {
        // The guard must be gone before `unknown` locks again.
        let found = lock(&self.inner.known).get(id).map(|known| known.candidate.source.manifest.clone());
        found.ok_or_else(|| self.unknown(id.as_str()))
    }

    fn remember(&self, candidate: Candidate, error: Option<String>) {
        let id = candidate.source.manifest.id.clone();
        lock(&self.inner.known).insert(id, Known { candidate, error, compiling: false });
    }

    /// Remembers a plugin the start left to load once compiled.
    fn remember_compiling(&self, candidate: Candidate) {
        let id = candidate.source.manifest.id.clone();
        lock(&self.inner.known).insert(id, Known { candidate, error: None, compiling: true });
    }

    /// Remembers the last load failure of a known plugin.
    fn note_error(&self, id: &PluginId, message: String) {
        if let Some(known) = lock(&self.inner.known).get_mut(id) {
            known.error = Some(message);
        }
    }

    fn version_of(&self, id: &PluginId) -> String {
        self.inner.runtime.plugin(id).map(|plugin| plugin.version().to_string()).unwrap_or_default()
    }

    async fn save_record(&self, id: &PluginId, change: impl FnOnce(&mut PluginRecord)) -> Result<(), RegistryError> {
        // A plugin's first record keeps the state it runs in (a plugin that ships disabled
        // stays so when only its settings are saved).
        let enabled = match self.inner.runtime.plugin(id) {
            Some(plugin) => !plugin.is_disabled_by_operator(),
            None => self.known_manifest(id).is_ok_and(|manifest| manifest.enabled_by_default),
        };
        save_record(self.inner.store.as_ref(), id, enabled, change).await
    }

    /// Logs and publishes a plugin's failure; returns the message.
    fn failed(&self, plugin: &str, error: &dyn std::fmt::Display) -> String {
        let message = error.to_string();
        tracing::error!("{message}");
        self.inner.runtime.publish(RuntimeEvent::Failed { plugin: plugin.to_owned(), error: message.clone() });
        message
    }

    /// Records a folder whose plugin cannot be read; returns (folder name, message).
    fn folder_failed(&self, folder: &Path, error: &LoadError) -> (String, String) {
        let name = folder_name(folder);
        let message = self.failed(&name, error);
        lock(&self.inner.broken).insert(folder.to_path_buf(), message.clone());
        (name, message)
    }

    pub(crate) fn unknown(&self, plugin: &str) -> RegistryError {
        RegistryError::UnknownPlugin {
            plugin: plugin.to_owned(),
            known: lock(&self.inner.known).keys().cloned().collect(),
        }
    }

    fn not_loaded_or_unknown(&self, id: &PluginId) -> RegistryError {
        if lock(&self.inner.known).contains_key(id) {
            RegistryError::NotLoaded { plugin: id.clone() }
        } else {
            self.unknown(id.as_str())
        }
    }
}

/// Changes plugin `id`'s saved record; a plugin without one starts from `enabled`.
async fn save_record(
    store: &dyn PluginStore,
    id: &PluginId,
    enabled: bool,
    change: impl FnOnce(&mut PluginRecord),
) -> Result<(), RegistryError> {
    let mut record = store.plugin_record(id.as_str()).await?.unwrap_or_else(|| PluginRecord {
        plugin: id.to_string(),
        enabled,
        disabled_reason: None,
        settings: None,
        fail_mode: None,
        updated_at_ms: 0,
    });
    change(&mut record);
    // A reason may quote a plugin's error, which no store keeps a NUL of.
    record.disabled_reason = record.disabled_reason.map(plugboard_store::without_nul);
    record.updated_at_ms = now_ms();
    store.save_plugin_record(&record).await?;
    Ok(())
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
