//! The registry: the living set of plugins. It owns discovery, load order, the lifecycle
//! operations an operator runs while the server serves, settings, and the persisted state
//! of every plugin; the runtime below it only runs what it is given.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use plugboard_host::api::{CallContext, Event};
use plugboard_host::{LoadError, Plugin, PluginStatus, Runtime, RuntimeEvent, SettingsError, deliver_event};
use plugboard_manifest::{FailMode, Manifest, PluginId};
use plugboard_store::{FaultEntry, PluginRecord, PluginStore};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::discover::{Bundled, Candidate, Origin, folder_name, plugin_folders};
use crate::error::RegistryError;
use crate::resolve::{DependencyError, resolve};

/// What the registry is given at start.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Plugins embedded in the binary; a folder plugin with the same id replaces one.
    pub bundled: Vec<Bundled>,
    /// Directories whose sub-folders are plugins (`PLUGINS_DIRS`), in order: a later one
    /// replaces an earlier plugin with the same id.
    pub directories: Vec<PathBuf>,
    /// `ENABLED_PLUGINS`: the ids (or folder names) that start enabled, overriding the
    /// saved state; `None` keeps the saved state (every plugin enabled at first).
    pub enabled_plugins: Option<BTreeSet<String>>,
    /// Where installed packages are unpacked, one sub-folder per plugin id. It should be
    /// one of `directories`, so installed plugins are found again at start.
    pub install_dir: Option<PathBuf>,
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
}

/// Where a known plugin's `ui/` and `docs/` files come from.
enum KnownOrigin {
    Bundled(&'static [(&'static str, &'static [u8])]),
    Folder(PathBuf),
}

#[derive(Debug)]
struct Known {
    candidate: Candidate,
    /// The last load failure, cleared by a successful load.
    error: Option<String>,
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
    /// The event dispatcher and the expired-entry sweeper, stopped with the registry.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// How often expired key-value entries are deleted (reads already ignore them).
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

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
        });
        let dispatcher = tokio::spawn(dispatch_events(Arc::downgrade(&inner), events));
        let sweeper = tokio::spawn(purge_expired(Arc::downgrade(&inner)));
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

    /// Discovers every plugin (bundled, then each directory in order), resolves their
    /// dependencies and loads them in dependency order with their saved settings and
    /// state. A plugin that cannot load is reported and skipped; the others load.
    pub async fn start(&self) -> StartReport {
        let _operation = self.inner.operations.lock().await;
        let mut report = StartReport::default();
        let mut candidates: BTreeMap<PluginId, Candidate> = BTreeMap::new();
        let found = |candidate: Candidate, candidates: &mut BTreeMap<PluginId, Candidate>| {
            let id = candidate.source.manifest.id.clone();
            if let Some(replaced) = candidates.get(&id) {
                tracing::info!(plugin = %id, "{} replaces the plugin from {}", candidate.origin, replaced.origin);
            }
            candidates.insert(id, candidate);
        };
        for bundled in &self.inner.config.bundled {
            match Candidate::bundled(bundled) {
                Ok(candidate) => found(candidate, &mut candidates),
                Err(error) => report.failed.push(self.folder_failed(Path::new(bundled.name), &error)),
            }
        }
        for directory in &self.inner.config.directories {
            let folders = match plugin_folders(directory) {
                Ok(folders) => folders,
                Err(error) => {
                    tracing::warn!(
                        "cannot read plugin directory {}: {error}; create it or remove it from PLUGINS_DIRS",
                        directory.display()
                    );
                    continue;
                }
            };
            for folder in folders {
                match Candidate::from_folder(&folder) {
                    Ok(candidate) => found(candidate, &mut candidates),
                    Err(error) => report.failed.push(self.folder_failed(&folder, &error)),
                }
            }
        }

        let manifests: BTreeMap<PluginId, &Manifest> =
            candidates.iter().map(|(id, candidate)| (id.clone(), &candidate.source.manifest)).collect();
        let resolution = resolve(&manifests, &self.loaded_versions());
        let records: BTreeMap<String, PluginRecord> = match self.inner.store.plugin_records().await {
            Ok(records) => records.into_iter().map(|record| (record.plugin.clone(), record)).collect(),
            Err(error) => {
                tracing::error!("cannot read the saved plugin state, starting every plugin with defaults: {error}");
                BTreeMap::new()
            }
        };
        for (id, error) in &resolution.refused {
            if let Some(candidate) = candidates.get(id) {
                self.remember(candidate.clone(), Some(error.to_string()));
            }
            report.failed.push((id.to_string(), self.failed(id.as_str(), error)));
        }
        for id in resolution.order {
            let Some(candidate) = candidates.remove(&id) else { continue };
            // A dependency that passed resolution may still have failed to start.
            if let Err(error) = self.check_dependencies(&candidate.source.manifest) {
                report.failed.push((id.to_string(), self.failed(id.as_str(), &error)));
                self.remember(candidate, Some(error.to_string()));
                continue;
            }
            let record = records.get(id.as_str());
            let enabled = match &self.inner.config.enabled_plugins {
                Some(listed) => listed.contains(id.as_str()) || folder_listed(listed, &candidate.origin),
                None => record.is_none_or(|record| record.enabled),
            };
            match self.activate(candidate.clone(), record, enabled, None).await {
                Ok(_) => report.loaded.push(id),
                Err(error) => {
                    report.failed.push((id.to_string(), self.failed(id.as_str(), &error)));
                    self.remember(candidate, Some(error.to_string()));
                }
            }
        }
        report
    }

    /// Every installed plugin, by id, with the reason the host disabled it (read from the
    /// store) where it did.
    pub async fn list(&self) -> Vec<PluginEntry> {
        let mut entries: Vec<PluginEntry> = {
            let known = lock(&self.inner.known);
            known.keys().filter_map(|id| self.entry_locked(&known, id)).collect()
        };
        match self.inner.store.plugin_records().await {
            Ok(records) => {
                let reasons: BTreeMap<String, Option<String>> =
                    records.into_iter().map(|record| (record.plugin, record.disabled_reason)).collect();
                for entry in &mut entries {
                    entry.set_disabled_reason(reasons.get(entry.id.as_str()).cloned().flatten());
                }
            }
            Err(error) => tracing::warn!("cannot read why plugins were disabled: {error}"),
        }
        entries
    }

    /// One installed plugin.
    pub fn entry(&self, id: &PluginId) -> Option<PluginEntry> {
        let known = lock(&self.inner.known);
        self.entry_locked(&known, id)
    }

    /// Plugin folders that could not be read, with their errors.
    pub fn broken_folders(&self) -> Vec<BrokenFolder> {
        lock(&self.inner.broken)
            .iter()
            .map(|(folder, error)| BrokenFolder { folder: folder.clone(), error: error.clone() })
            .collect()
    }

    fn entry_locked(&self, known: &BTreeMap<PluginId, Known>, id: &PluginId) -> Option<PluginEntry> {
        let entry = known.get(id)?;
        let loaded = self.inner.runtime.plugin(id);
        let manifest = loaded.as_ref().map_or(&entry.candidate.source.manifest, |plugin| plugin.manifest());
        let status = loaded.as_ref().map(Plugin::status);
        let (state, error) = match (&loaded, &status) {
            (Some(_), Some(status)) if status.breaker.state == plugboard_host::BreakerState::Open => (
                PluginState::Failed,
                status.breaker.last_fault.as_ref().map(|fault| format!("circuit breaker open: {}", fault.error)),
            ),
            (Some(plugin), _) if plugin.is_disabled_by_operator() => (PluginState::Disabled, self.kept_running(entry)),
            (Some(_), _) => (PluginState::Enabled, self.kept_running(entry)),
            (None, _) if entry.error.is_some() => (PluginState::Failed, entry.error.clone()),
            (None, _) => (PluginState::Unloaded, None),
        };
        Some(PluginEntry {
            id: id.clone(),
            version: manifest.version.clone(),
            name: manifest.name.clone(),
            description: manifest.description.clone(),
            origin: entry.candidate.origin.to_string(),
            state,
            error,
            disabled_reason: None,
            dependencies: manifest.dependencies.iter().map(|(id, req)| (id.clone(), req.to_string())).collect(),
            dependents: self.loaded_dependents(id),
            status,
        })
    }

    /// A loaded plugin whose new files failed to load: what failed, for display.
    fn kept_running(&self, entry: &Known) -> Option<String> {
        entry.error.as_ref().map(|error| format!("the new version did not load, the running one stays: {error}"))
    }

    /// [`Registry::entry`] with the reason the host disabled the plugin, read from the store.
    pub async fn describe(&self, id: &PluginId) -> Result<PluginEntry, RegistryError> {
        let mut entry = self.entry(id).ok_or_else(|| self.unknown(id.as_str()))?;
        if let Some(record) = self.inner.store.plugin_record(id.as_str()).await? {
            entry.set_disabled_reason(record.disabled_reason);
        }
        Ok(entry)
    }

    /// Loads an installed plugin that is not loaded (unloaded by an operator, or failed),
    /// reading its folder again so a fixed version is picked up.
    pub async fn load(&self, id: &PluginId) -> Result<Plugin, RegistryError> {
        let _operation = self.inner.operations.lock().await;
        if let Some(plugin) = self.inner.runtime.plugin(id) {
            return Err(RegistryError::AlreadyLoaded { plugin: id.clone(), version: plugin.version().clone() });
        }
        let candidate = self.fresh_candidate(id)?;
        self.load_new(candidate).await
    }

    /// Loads the plugin in `folder` (outside the plugin directories, or new in one).
    pub async fn load_folder(&self, folder: &Path) -> Result<Plugin, RegistryError> {
        let _operation = self.inner.operations.lock().await;
        let candidate = Candidate::from_folder(folder).inspect_err(|error| {
            self.folder_failed(folder, error);
        })?;
        lock(&self.inner.broken).remove(folder);
        let id = candidate.source.manifest.id.clone();
        if let Some(plugin) = self.inner.runtime.plugin(&id) {
            return Err(RegistryError::AlreadyLoaded { plugin: id, version: plugin.version().clone() });
        }
        self.load_new(candidate).await
    }

    async fn load_new(&self, candidate: Candidate) -> Result<Plugin, RegistryError> {
        self.load_candidate(candidate, None).await
    }

    /// Loads a candidate, enabled as saved unless `enabled` says otherwise.
    async fn load_candidate(&self, candidate: Candidate, enabled: Option<bool>) -> Result<Plugin, RegistryError> {
        let id = candidate.source.manifest.id.clone();
        let result = async {
            self.check_dependencies(&candidate.source.manifest)?;
            let record = self.inner.store.plugin_record(id.as_str()).await?;
            let enabled = enabled.unwrap_or_else(|| record.as_ref().is_none_or(|record| record.enabled));
            self.activate(candidate.clone(), record.as_ref(), enabled, None).await
        }
        .await;
        if let Err(error) = &result {
            self.failed(id.as_str(), error);
            self.remember(candidate, Some(error.to_string()));
        }
        result
    }

    /// Reads plugin `id` from its folder again and swaps the new version in atomically:
    /// calls already running finish on the old version, new calls get the new one, and no
    /// call fails because of the swap. The new version keeps the plugin's settings and
    /// enabled state. On any error the old version keeps running and the error is
    /// returned (and published as a `failed` event).
    pub async fn reload(&self, id: &PluginId) -> Result<Plugin, RegistryError> {
        let _operation = self.inner.operations.lock().await;
        let Some(current) = self.inner.runtime.plugin(id) else {
            let candidate = self.fresh_candidate(id)?;
            return self.load_new(candidate).await;
        };
        let result = async {
            let candidate = self.fresh_candidate(id)?;
            self.swap(current, candidate).await
        }
        .await;
        if let Err(error) = &result {
            let message = self.failed(id.as_str(), error);
            self.note_error(id, message);
            tracing::warn!(plugin = %id, "reload failed, the running version {} stays", self.version_of(id));
        }
        result
    }

    async fn swap(&self, current: Plugin, candidate: Candidate) -> Result<Plugin, RegistryError> {
        let id = current.id().clone();
        let manifest = &candidate.source.manifest;
        let mut others = self.loaded_versions();
        others.remove(&id);
        let single = BTreeMap::from([(id.clone(), manifest)]);
        if let Some(error) = resolve(&single, &others).refused.remove(&id) {
            return Err(error.into());
        }
        let broken: Vec<(PluginId, semver::VersionReq)> = self
            .inner
            .runtime
            .plugins()
            .iter()
            .filter_map(|plugin| {
                let req = plugin.manifest().dependencies.get(&id)?;
                (!req.matches(&manifest.version)).then(|| (plugin.id().clone(), req.clone()))
            })
            .collect();
        if !broken.is_empty() {
            return Err(RegistryError::BreaksDependents {
                plugin: id,
                version: manifest.version.clone(),
                dependents: broken,
            });
        }
        let record = self.inner.store.plugin_record(id.as_str()).await?;
        let enabled = !current.is_disabled_by_operator();
        let fail_mode = Some(if current.fails_closed() { FailMode::Closed } else { FailMode::Open });
        self.activate(candidate, record.as_ref(), enabled, fail_mode).await
    }

    /// Prepares a candidate with its saved settings, applies the saved state and installs
    /// it, and records it as the plugin's known files at that same moment, so no reader
    /// sees the new version with the old origin; a version it replaces is shut down once
    /// the new one serves.
    async fn activate(
        &self,
        candidate: Candidate,
        record: Option<&PluginRecord>,
        enabled: bool,
        fail_mode: Option<FailMode>,
    ) -> Result<Plugin, RegistryError> {
        let settings = record.and_then(|record| record.settings.clone());
        let plugin = self.inner.runtime.prepare(candidate.source.clone(), settings).await?;
        let saved_mode = record.and_then(|record| record.fail_mode.as_deref()).and_then(parse_fail_mode);
        if let Some(mode) = fail_mode.or(saved_mode) {
            plugin.set_fail_mode(mode);
        }
        if !enabled {
            plugin.restore_disabled();
        }
        let previous = self.inner.runtime.install(plugin.clone());
        self.remember(candidate, None);
        if let Some(previous) = previous
            && let Err(error) = previous.shutdown().await
        {
            tracing::warn!(plugin = %previous.id(), "shutdown of the replaced version failed: {error}");
        }
        Ok(plugin)
    }

    /// Unloads plugin `id` (calling its shutdown hook). When other loaded plugins depend
    /// on it, this is refused, unless `cascade` is set: then they are unloaded first,
    /// dependents before their dependencies. Returns every plugin unloaded, in order.
    pub async fn unload(&self, id: &PluginId, cascade: bool) -> Result<Vec<PluginId>, RegistryError> {
        let _operation = self.inner.operations.lock().await;
        self.unload_locked(id, cascade).await
    }

    async fn unload_locked(&self, id: &PluginId, cascade: bool) -> Result<Vec<PluginId>, RegistryError> {
        if self.inner.runtime.plugin(id).is_none() {
            return Err(self.not_loaded_or_unknown(id));
        }
        let mut order = Vec::new();
        self.dependents_first(id, &mut order);
        let dependents: Vec<PluginId> = order.iter().filter(|other| *other != id).cloned().collect();
        if !dependents.is_empty() && !cascade {
            return Err(RegistryError::HasDependents { plugin: id.clone(), dependents });
        }
        for plugin in &order {
            self.inner.runtime.unload(plugin).await;
        }
        Ok(order)
    }

    /// Post-order over loaded dependents: every plugin after those that need it.
    fn dependents_first(&self, id: &PluginId, order: &mut Vec<PluginId>) {
        if order.contains(id) {
            return;
        }
        for dependent in self.loaded_dependents(id) {
            self.dependents_first(&dependent, order);
        }
        if !order.contains(id) {
            order.push(id.clone());
        }
    }

    /// Enables plugin `id`: loads it if it is not loaded, resets its circuit breaker,
    /// calls `on-enable`, and remembers the choice across restarts.
    pub async fn enable(&self, id: &PluginId) -> Result<(), RegistryError> {
        let _operation = self.inner.operations.lock().await;
        let plugin = match self.inner.runtime.plugin(id) {
            Some(plugin) => plugin,
            None => {
                let candidate = self.fresh_candidate(id)?;
                // Saved as enabled only once it loaded (below).
                self.load_candidate(candidate, Some(true)).await?
            }
        };
        plugin.enable().await?;
        self.save_record(id, |record| {
            record.enabled = true;
            record.disabled_reason = None;
        })
        .await?;
        tracing::info!(plugin = %id, "plugin enabled");
        self.inner.runtime.publish(RuntimeEvent::Enabled { plugin: id.clone() });
        Ok(())
    }

    /// Disables plugin `id`: calls `on-disable`, stops routing calls to it (calls already
    /// running finish) and remembers the choice across restarts. Plugins that depend on it
    /// stay loaded; their calls to it fail with a clear error.
    pub async fn disable(&self, id: &PluginId) -> Result<(), RegistryError> {
        let _operation = self.inner.operations.lock().await;
        if !lock(&self.inner.known).contains_key(id) {
            return Err(self.unknown(id.as_str()));
        }
        let result = match self.inner.runtime.plugin(id) {
            Some(plugin) => plugin.disable().await,
            None => Ok(()),
        };
        self.save_record(id, |record| record.enabled = false).await?;
        let dependents = self.loaded_dependents(id);
        if !dependents.is_empty() {
            tracing::warn!(plugin = %id, ?dependents, "disabled a plugin others depend on; their calls to it will fail");
        }
        tracing::info!(plugin = %id, "plugin disabled");
        self.inner.runtime.publish(RuntimeEvent::Disabled { plugin: id.clone(), reason: None });
        // The plugin is disabled even when its `on-disable` hook failed.
        result.map_err(RegistryError::from)
    }

    /// Overrides whether a failing filter of plugin `id` refuses the request, and
    /// remembers it.
    pub async fn set_fail_mode(&self, id: &PluginId, mode: FailMode) -> Result<(), RegistryError> {
        let _operation = self.inner.operations.lock().await;
        let plugin = self.inner.runtime.plugin(id).ok_or_else(|| self.not_loaded_or_unknown(id))?;
        plugin.set_fail_mode(mode);
        let text = if mode == FailMode::Closed { "closed" } else { "open" };
        self.save_record(id, |record| record.fail_mode = Some(text.to_owned())).await?;
        Ok(())
    }

    /// The settings of plugin `id` with defaults applied and secrets blanked (`null`):
    /// secrets are never returned.
    pub async fn settings(&self, id: &PluginId) -> Result<serde_json::Value, RegistryError> {
        if let Some(plugin) = self.inner.runtime.plugin(id) {
            return Ok(plugin.redacted_settings());
        }
        let manifest = self.known_manifest(id)?;
        let saved = self.inner.store.plugin_record(id.as_str()).await?.and_then(|record| record.settings);
        let saved = saved.unwrap_or_else(|| serde_json::json!({}));
        let shown = manifest.settings.validate(&saved).unwrap_or(saved);
        Ok(manifest.settings.redact(&shown))
    }

    /// Saves new settings for plugin `id`: validated against its JSON Schema (every
    /// violation listed by path), delivered live to the running plugin (its `init` must
    /// accept them), then persisted. A secret left out or sent as `null` keeps its saved
    /// value, so a form that never shows secrets can be saved back as is. Returns the
    /// settings in force, secrets blanked. A plugin that failed to load is loaded again
    /// with the new settings.
    pub async fn update_settings(
        &self,
        id: &PluginId,
        settings: &serde_json::Value,
    ) -> Result<serde_json::Value, RegistryError> {
        let _operation = self.inner.operations.lock().await;
        let loaded = self.inner.runtime.plugin(id);
        let manifest = match &loaded {
            Some(plugin) => plugin.manifest().clone(),
            None => self.known_manifest(id)?,
        };
        let saved = self.inner.store.plugin_record(id.as_str()).await?.and_then(|record| record.settings);
        let merged = keep_secrets(&manifest, settings, saved.as_ref());
        let invalid = |violations| RegistryError::InvalidSettings { plugin: id.clone(), violations };
        let in_force = match &loaded {
            Some(plugin) => plugin.update_settings(&merged).await.map_err(|error| match error {
                SettingsError::Invalid(violations) => invalid(violations),
                SettingsError::Refused(error) => RegistryError::Hook(error),
            })?,
            None => manifest.settings.validate(&merged).map_err(invalid)?,
        };
        self.save_record(id, |record| record.settings = Some(merged)).await?;
        tracing::info!(plugin = %id, "settings changed");
        self.inner.runtime.publish(RuntimeEvent::SettingsChanged { plugin: id.clone() });
        if loaded.is_none() && lock(&self.inner.known).get(id).is_some_and(|known| known.error.is_some()) {
            let candidate = self.fresh_candidate(id)?;
            if let Err(error) = self.load_new(candidate).await {
                tracing::warn!(plugin = %id, "still cannot load with the new settings: {error}");
            }
        }
        Ok(manifest.settings.redact(&in_force))
    }

    /// The newest faults of plugin `id` (at most `limit`), kept across restarts.
    pub async fn faults(&self, id: &PluginId, limit: usize) -> Result<Vec<FaultEntry>, RegistryError> {
        Ok(self.inner.store.faults(id.as_str(), limit).await?)
    }

    /// Unloads every plugin, dependents before their dependencies, calling each shutdown
    /// hook. The saved state is untouched: they load again at the next start.
    pub async fn shutdown(&self) {
        let _operation = self.inner.operations.lock().await;
        let mut order = Vec::new();
        for id in self.inner.runtime.plugin_ids() {
            self.dependents_first(&id, &mut order);
        }
        for id in order {
            self.inner.runtime.unload(&id).await;
        }
    }

    /// Reconciles one plugin folder with what is loaded (for hot reload): a new folder is
    /// loaded, a changed one reloaded, a removed one unloaded. Unchanged files do nothing.
    /// Every error is also logged and published as a `failed` event.
    pub async fn sync_folder(&self, folder: &Path) -> Result<SyncOutcome, RegistryError> {
        let result = self.sync_folder_unreported(folder).await;
        if let Err(error) = &result {
            match error {
                // Reported where they happened.
                RegistryError::Load(_)
                | RegistryError::Dependency(_)
                | RegistryError::Hook(_)
                | RegistryError::InvalidSettings { .. }
                | RegistryError::BreaksDependents { .. } => {}
                _ => {
                    self.failed(&folder_name(folder), error);
                }
            }
        }
        result
    }

    async fn sync_folder_unreported(&self, folder: &Path) -> Result<SyncOutcome, RegistryError> {
        let origin = Origin::Folder(folder.to_path_buf());
        let owner = lock(&self.inner.known)
            .iter()
            .find(|(_, known)| known.candidate.origin == origin)
            .map(|(id, known)| (id.clone(), known.candidate.digest.clone()));
        if !folder.join(plugboard_manifest::MANIFEST_FILE_NAME).is_file() {
            lock(&self.inner.broken).remove(folder);
            let Some((id, _)) = owner else { return Ok(SyncOutcome::Unchanged) };
            if self.inner.runtime.plugin(&id).is_some() {
                let _operation = self.inner.operations.lock().await;
                self.unload_locked(&id, false).await?;
            }
            lock(&self.inner.known).remove(&id);
            // A folder that replaced a bundled plugin: the bundled one comes back.
            let bundled = self.inner.config.bundled.iter().filter_map(|bundled| Candidate::bundled(bundled).ok());
            if let Some(candidate) = bundled.into_iter().find(|candidate| candidate.source.manifest.id == id) {
                let _operation = self.inner.operations.lock().await;
                self.load_new(candidate).await?;
            }
            return Ok(SyncOutcome::Removed(id));
        }
        let candidate = match Candidate::from_folder(folder) {
            Ok(candidate) => candidate,
            Err(error) => {
                // The running version (if any) stays.
                let message = self.folder_failed(folder, &error).1;
                if let Some((id, _)) = owner {
                    tracing::warn!(plugin = %id, "the new files do not load, version {} keeps running", self.version_of(&id));
                    self.note_error(&id, message);
                }
                return Err(error.into());
            }
        };
        lock(&self.inner.broken).remove(folder);
        let id = candidate.source.manifest.id.clone();
        match owner {
            Some((owner_id, _)) if owner_id != id => {
                Err(RegistryError::IdChanged { folder: folder.to_path_buf(), expected: owner_id, found: id })
            }
            Some((_, digest)) if digest == candidate.digest && self.inner.runtime.plugin(&id).is_some() => {
                Ok(SyncOutcome::Unchanged)
            }
            Some(_) if self.inner.runtime.plugin(&id).is_some() => {
                let _operation = self.inner.operations.lock().await;
                let current = self.inner.runtime.plugin(&id).ok_or_else(|| self.not_loaded_or_unknown(&id))?;
                let from = current.version().clone();
                match self.swap(current, candidate).await {
                    Ok(plugin) => Ok(SyncOutcome::Reloaded { plugin: id, from, to: plugin.version().clone() }),
                    Err(error) => {
                        let message = self.failed(id.as_str(), &error);
                        self.note_error(&id, message);
                        Err(error)
                    }
                }
            }
            _ => {
                let _operation = self.inner.operations.lock().await;
                if let Some(current) = self.inner.runtime.plugin(&id) {
                    let bundled =
                        lock(&self.inner.known).get(&id).is_some_and(|known| known.candidate.origin == Origin::Bundled);
                    if !bundled {
                        // Another folder has this id loaded: which one wins is the operator's call.
                        return Err(RegistryError::AlreadyLoaded { plugin: id, version: current.version().clone() });
                    }
                    // A folder replaces the bundled plugin, as at start-up.
                    let from = current.version().clone();
                    let plugin = self.swap(current, candidate).await.inspect_err(|error| {
                        self.failed(id.as_str(), error);
                    })?;
                    return Ok(SyncOutcome::Reloaded { plugin: id, from, to: plugin.version().clone() });
                }
                let plugin = self.load_new(candidate).await?;
                Ok(SyncOutcome::Loaded { plugin: id, version: plugin.version().clone() })
            }
        }
    }

    // --- helpers ---

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

    /// Where a known plugin was read from (bundled or its folder).
    pub fn origin(&self, id: &PluginId) -> Option<Origin> {
        lock(&self.inner.known).get(id).map(|known| known.candidate.origin.clone())
    }

    /// Where a known plugin's files are: the embedded files of a bundled plugin (found by
    /// the folder name its candidate was read from, no manifest parsed again), or its folder.
    fn known_origin(&self, id: &PluginId) -> Option<KnownOrigin> {
        let (origin, path) = lock(&self.inner.known)
            .get(id)
            .map(|known| (known.candidate.origin.clone(), known.candidate.source.component_path.clone()))?;
        Some(match origin {
            Origin::Folder(folder) => KnownOrigin::Folder(folder),
            Origin::Bundled => {
                let name = path.parent().and_then(Path::file_name).and_then(|name| name.to_str());
                let bundled = self.inner.config.bundled.iter().find(|bundled| Some(bundled.name) == name)?;
                KnownOrigin::Bundled(bundled.files)
            }
        })
    }

    /// A file of a known plugin's folder (its `ui/` or `docs/`), by `/`-separated path:
    /// `None` when there is no such file or the path leaves the folder (`..`, absolute
    /// paths, links pointing outside).
    pub fn plugin_file(&self, id: &PluginId, path: &str) -> Option<Vec<u8>> {
        let origin = self.known_origin(id)?;
        let parts: Vec<&str> = path.split('/').collect();
        if parts.iter().any(|part| part.is_empty() || *part == "." || *part == ".." || part.contains('\\')) {
            return None;
        }
        if !matches!(parts.first(), Some(&"ui") | Some(&"docs")) {
            return None;
        }
        match origin {
            KnownOrigin::Bundled(files) => {
                files.iter().find(|(name, _)| *name == path).map(|(_, bytes)| bytes.to_vec())
            }
            KnownOrigin::Folder(folder) => {
                let root = folder.canonicalize().ok()?;
                let file = root.join(parts.join(std::path::MAIN_SEPARATOR_STR)).canonicalize().ok()?;
                if !file.starts_with(&root) || !file.is_file() {
                    return None;
                }
                std::fs::read(file).ok()
            }
        }
    }

    /// The files under `folder` (`ui` or `docs`) of a known plugin, as `/`-separated paths
    /// inside the plugin folder, sorted.
    pub fn plugin_files(&self, id: &PluginId, folder: &str) -> Vec<String> {
        let Some(origin) = self.known_origin(id) else { return Vec::new() };
        let prefix = format!("{folder}/");
        let mut files: Vec<String> = match origin {
            KnownOrigin::Bundled(files) => {
                files.iter().map(|(name, _)| (*name).to_owned()).filter(|name| name.starts_with(&prefix)).collect()
            }
            KnownOrigin::Folder(root) => {
                let mut found = Vec::new();
                let mut pending = vec![root.join(folder)];
                while let Some(dir) = pending.pop() {
                    let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                    for entry in entries.flatten() {
                        let Ok(kind) = entry.file_type() else { continue };
                        if kind.is_dir() {
                            pending.push(entry.path());
                        } else if kind.is_file()
                            && let Ok(relative) = entry.path().strip_prefix(&root)
                        {
                            let parts: Vec<String> = relative
                                .components()
                                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                                .collect();
                            found.push(parts.join("/"));
                        }
                    }
                }
                found
            }
        };
        files.sort();
        files
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
        lock(&self.inner.known).insert(id, Known { candidate, error });
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
        save_record(self.inner.store.as_ref(), id, change).await
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

/// What [`Registry::sync_folder`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Nothing changed.
    Unchanged,
    /// A new plugin was loaded.
    Loaded {
        /// The plugin.
        plugin: PluginId,
        /// Its version.
        version: semver::Version,
    },
    /// A new version replaced the running one.
    Reloaded {
        /// The plugin.
        plugin: PluginId,
        /// The version replaced.
        from: semver::Version,
        /// The version now running.
        to: semver::Version,
    },
    /// The folder is gone and its plugin was unloaded.
    Removed(PluginId),
}

fn folder_listed(listed: &BTreeSet<String>, origin: &Origin) -> bool {
    match origin {
        Origin::Folder(folder) => listed.contains(&folder_name(folder)),
        Origin::Bundled => false,
    }
}

fn parse_fail_mode(text: &str) -> Option<FailMode> {
    match text {
        "open" => Some(FailMode::Open),
        "closed" => Some(FailMode::Closed),
        _ => None,
    }
}

/// `given`, with every secret it leaves out (or sends as `null`) taken from `saved`.
fn keep_secrets(
    manifest: &Manifest,
    given: &serde_json::Value,
    saved: Option<&serde_json::Value>,
) -> serde_json::Value {
    let mut merged = given.clone();
    let (Some(object), Some(saved)) = (merged.as_object_mut(), saved.and_then(serde_json::Value::as_object)) else {
        return merged;
    };
    for name in manifest.settings.secret_names() {
        let missing = object.get(name).is_none_or(serde_json::Value::is_null);
        if missing && let Some(value) = saved.get(name).filter(|value| !value.is_null()) {
            object.insert(name.to_owned(), value.clone());
        }
    }
    merged
}

async fn save_record(
    store: &dyn PluginStore,
    id: &PluginId,
    change: impl FnOnce(&mut PluginRecord),
) -> Result<(), RegistryError> {
    let mut record = store.plugin_record(id.as_str()).await?.unwrap_or_else(|| PluginRecord {
        plugin: id.to_string(),
        enabled: true,
        disabled_reason: None,
        settings: None,
        fail_mode: None,
        updated_at_ms: 0,
    });
    change(&mut record);
    record.updated_at_ms = now_ms();
    store.save_plugin_record(&record).await?;
    Ok(())
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Follows the runtime's events: records faults, remembers an opened circuit breaker,
/// and tells plugins that implement the event hook about other plugins' lifecycle.
async fn dispatch_events(registry: Weak<Inner>, mut events: broadcast::Receiver<RuntimeEvent>) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!("the plugin event dispatcher fell behind and skipped {missed} events");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(inner) = registry.upgrade() else { return };
        let (subject, plugin_event) = match event {
            RuntimeEvent::Fault { plugin, version, error } => {
                let fault = FaultEntry { plugin: plugin.to_string(), version, at_ms: now_ms(), error };
                if let Err(error) = inner.store.record_fault(&fault).await {
                    tracing::error!(plugin = %plugin, "cannot record the fault: {error}");
                }
                continue;
            }
            RuntimeEvent::BreakerOpened { plugin, last_error } => {
                let reason = format!("its circuit breaker opened after repeated faults; the last: {last_error}");
                let saved = save_record(inner.store.as_ref(), &plugin, |record| {
                    record.enabled = false;
                    record.disabled_reason = Some(reason);
                })
                .await;
                if let Err(error) = saved {
                    tracing::error!(plugin = %plugin, "cannot remember that the breaker opened: {error}");
                }
                (plugin.to_string(), Event::PluginDisabled(plugin.to_string()))
            }
            RuntimeEvent::Loaded { plugin, .. } => (plugin.to_string(), Event::PluginLoaded(plugin.to_string())),
            RuntimeEvent::Unloaded { plugin } => (plugin.to_string(), Event::PluginUnloaded(plugin.to_string())),
            RuntimeEvent::Enabled { plugin } => (plugin.to_string(), Event::PluginEnabled(plugin.to_string())),
            RuntimeEvent::Disabled { plugin, .. } => (plugin.to_string(), Event::PluginDisabled(plugin.to_string())),
            RuntimeEvent::Failed { plugin, error } => (plugin.clone(), Event::PluginFailed { plugin, error }),
            RuntimeEvent::SettingsChanged { .. } => continue,
        };
        // The plugin an event is about learns of it through its own lifecycle hooks.
        let others: Vec<Plugin> =
            inner.runtime.plugins().into_iter().filter(|plugin| plugin.id().as_str() != subject).collect();
        drop(inner);
        deliver_event(&others, &CallContext::default(), &plugin_event).await;
    }
}

/// Deletes expired key-value entries now and then, so the database does not grow with
/// data no reader can see.
async fn purge_expired(registry: Weak<Inner>) {
    let mut ticks = tokio::time::interval(PURGE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = registry.upgrade() else { return };
        match inner.store.purge_expired().await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!("deleted {purged} expired key-value entries"),
            Err(error) => tracing::warn!("cannot delete expired key-value entries: {error}"),
        }
    }
}
