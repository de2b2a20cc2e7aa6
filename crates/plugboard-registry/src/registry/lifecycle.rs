//! The lifecycle operations, run one at a time: discovering and loading every plugin at
//! start (those still to compile, if the caller wishes, in the background), loading,
//! reloading (an atomic swap), unloading (with or without its dependents), enabling,
//! disabling, the filter failure mode, and shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use plugboard_host::{LoadError, Plugin, Runtime, RuntimeEvent};
use plugboard_manifest::{FailMode, Manifest, PluginId};
use plugboard_store::PluginRecord;

use super::{Persist, Registry, StartReport, WeakRegistry, lock};
use crate::discover::{Candidate, Origin, folder_name, plugin_folders};
use crate::error::RegistryError;
use crate::registry::PackageChange;
use crate::resolve::resolve;

impl Registry {
    /// Discovers every plugin (bundled, then each directory in order), resolves their
    /// dependencies and loads them in dependency order with their saved settings and
    /// state. A plugin that cannot load is reported and skipped; the others load. Then the
    /// packages the store keeps (installed through another server sharing the database)
    /// are installed, or uninstalled, here ([`Registry::sync_packages`]). Returns when
    /// every plugin has loaded or failed, compiles included.
    pub async fn start(&self) -> StartReport {
        self.start_then_sync_packages(Compiles::Wait).await
    }

    /// [`Registry::start`] for a server that answers while plugins compile: a plugin whose
    /// component is not in the compiled cache (a first start, a new version of it, a new
    /// Plugboard) is left to compile in the background, and loads when that is done; a
    /// plugin that depends on one left so loads after it. They are
    /// [`PluginState::Compiling`](super::PluginState::Compiling) meanwhile, and, not being
    /// loaded, reach no chat turn (their filters are skipped, their tools not offered). The
    /// others load before this returns: mapping a compiled file takes milliseconds.
    ///
    /// Compiles run one at a time, in load order: wasmtime already spreads one component's
    /// functions over every core, so running several at once would split the same cores,
    /// add up their peak memory, and make the first plugin wait for the others.
    /// [`Registry::compiles_finished`] completes when they are all done.
    pub async fn start_without_waiting_for_compiles(&self) -> StartReport {
        self.start_then_sync_packages(Compiles::InBackground).await
    }

    async fn start_then_sync_packages(&self, compiles: Compiles) -> StartReport {
        let mut report = self.start_found(compiles).await;
        match self.sync_packages().await {
            Ok(changes) => {
                for change in changes {
                    if let PackageChange::Installed { plugin, .. } = change
                        && !report.loaded.contains(&plugin)
                    {
                        report.loaded.push(plugin);
                    }
                }
            }
            Err(error) => {
                let warning = format!("cannot read the packages kept in the database: {error}");
                tracing::warn!("{warning}");
                report.warnings.push(warning);
            }
        }
        report
    }

    /// Discovers and loads the plugins found here (see [`Registry::start`]).
    async fn start_found(&self, compiles: Compiles) -> StartReport {
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

        report.warnings.extend(self.unknown_enabled_plugins(&candidates, &report.failed));

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
        let found: Vec<&Manifest> = candidates.values().map(|candidate| &candidate.source.manifest).collect();
        let saved: Vec<PluginRecord> = records.values().cloned().collect();
        self.seal_stored_secrets(&found, &saved).await;
        for (id, error) in &resolution.refused {
            if let Some(candidate) = candidates.get(id) {
                self.remember(candidate.clone(), Some(error.to_string()));
            }
            report.failed.push((id.to_string(), self.failed(id.as_str(), error)));
        }
        for id in resolution.order {
            let Some(candidate) = candidates.remove(&id) else { continue };
            let waits_for_compile = compiles == Compiles::InBackground
                && (!self.inner.runtime.is_compiled(&candidate.source)
                    || candidate
                        .source
                        .manifest
                        .dependencies
                        .keys()
                        .any(|dependency| report.compiling.contains(dependency)));
            if waits_for_compile {
                report.compiling.push(id);
                self.remember_compiling(candidate);
                continue;
            }
            // A dependency that passed resolution may still have failed to start.
            if let Err(error) = self.check_dependencies(&candidate.source.manifest) {
                report.failed.push((id.to_string(), self.failed(id.as_str(), &error)));
                self.remember(candidate, Some(error.to_string()));
                continue;
            }
            let record = records.get(id.as_str());
            let enabled = self.enabled_at_start(&candidate, record);
            match self.activate(candidate.clone(), record, enabled).await {
                Ok(_) => report.loaded.push(id),
                Err(error) => {
                    report.failed.push((id.to_string(), self.failed(id.as_str(), &error)));
                    self.remember(candidate, Some(error.to_string()));
                }
            }
        }
        if !report.compiling.is_empty() {
            let names = report.compiling.iter().map(PluginId::as_str).collect::<Vec<_>>().join(", ");
            tracing::info!(
                "{} plugins load in the background once compiled (not in the compiled cache, or waiting for a dependency that is not): {names}",
                report.compiling.len()
            );
            self.inner.compiles_running.send_replace(true);
            let task = tokio::spawn(load_once_compiled(
                self.downgrade(),
                self.inner.runtime.clone(),
                report.compiling.clone(),
            ));
            lock(&self.inner.tasks).push(task);
        }
        report
    }

    /// Whether a plugin starts enabled: as `ENABLED_PLUGINS` lists, else as saved, else as
    /// its manifest ships it.
    fn enabled_at_start(&self, candidate: &Candidate, record: Option<&PluginRecord>) -> bool {
        match &self.inner.config.enabled_plugins {
            Some(listed) => {
                listed.contains(candidate.source.manifest.id.as_str()) || folder_listed(listed, &candidate.origin)
            }
            None => record.map_or(candidate.source.manifest.enabled_by_default, |record| record.enabled),
        }
    }

    /// The files of a plugin the start left to load once compiled, while it still waits.
    fn waiting_for_compile(&self, id: &PluginId) -> Option<Candidate> {
        lock(&self.inner.known).get(id).filter(|known| known.compiling).map(|known| known.candidate.clone())
    }

    /// Loads a plugin the start left to compile, now that `compiled` says how its compile
    /// went, as the start would have; unless something loaded it meanwhile (an operator, a
    /// hot reload) or its folder went.
    async fn load_after_compile(&self, id: &PluginId, compiled: Result<(), LoadError>, started: Instant) {
        let _operation = self.inner.operations.lock().await;
        let Some(candidate) = self.waiting_for_compile(id) else { return };
        let result = async {
            compiled?;
            // Its dependencies came first; one may have failed.
            self.check_dependencies(&candidate.source.manifest)?;
            let record = self.inner.store.plugin_record(id.as_str()).await?;
            let enabled = self.enabled_at_start(&candidate, record.as_ref());
            self.activate(candidate.clone(), record.as_ref(), enabled).await
        }
        .await;
        match result {
            Ok(_) => {
                let seconds = format!("{:.1}", started.elapsed().as_secs_f64());
                tracing::info!(plugin = %id, seconds, "plugin compiled and loaded in {seconds} s");
            }
            Err(error) => {
                self.failed(id.as_str(), &error);
                self.remember(candidate, Some(error.to_string()));
            }
        }
    }

    /// The names `ENABLED_PLUGINS` lists that are no plugin found (by id or folder name),
    /// each logged as a warning; returns the warnings.
    fn unknown_enabled_plugins(
        &self,
        candidates: &BTreeMap<PluginId, Candidate>,
        failed: &[(String, String)],
    ) -> Vec<String> {
        let Some(listed) = &self.inner.config.enabled_plugins else { return Vec::new() };
        let mut found: BTreeSet<String> = failed.iter().map(|(name, _)| name.clone()).collect();
        for (id, candidate) in candidates {
            found.insert(id.to_string());
            if let Origin::Folder(folder) = &candidate.origin {
                found.insert(folder_name(folder));
            }
        }
        let known: Vec<&str> = candidates.keys().map(PluginId::as_str).collect();
        let mut warnings = Vec::new();
        for name in listed.iter().filter(|name| !found.contains(*name)) {
            let warning = format!(
                "ENABLED_PLUGINS names `{name}`, which is no plugin here (known: {}); check the spelling, or remove it",
                known.join(", ")
            );
            tracing::warn!("{warning}");
            warnings.push(warning);
        }
        warnings
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

    pub(super) async fn load_new(&self, candidate: Candidate) -> Result<Plugin, RegistryError> {
        self.load_candidate(candidate, None).await
    }

    /// Loads a candidate, enabled as saved unless `enabled` says otherwise.
    async fn load_candidate(&self, candidate: Candidate, enabled: Option<bool>) -> Result<Plugin, RegistryError> {
        let id = candidate.source.manifest.id.clone();
        let result = async {
            self.check_dependencies(&candidate.source.manifest)?;
            let record = self.inner.store.plugin_record(id.as_str()).await?;
            let enabled = enabled.unwrap_or_else(|| {
                record.as_ref().map_or(candidate.source.manifest.enabled_by_default, |record| record.enabled)
            });
            self.activate(candidate.clone(), record.as_ref(), enabled).await
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

    pub(super) async fn swap(&self, current: Plugin, candidate: Candidate) -> Result<Plugin, RegistryError> {
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
        // The failure mode is the operator's saved override, else the new manifest's.
        self.activate(candidate, record.as_ref(), enabled).await
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
    ) -> Result<Plugin, RegistryError> {
        let settings = record.and_then(|record| record.settings.clone());
        let settings = self.open_secrets(&candidate.source.manifest.id, settings)?;
        let plugin = self.inner.runtime.prepare(candidate.source.clone(), settings).await?;
        let saved_mode = record.and_then(|record| record.fail_mode.as_deref()).and_then(parse_fail_mode);
        if let Some(mode) = saved_mode {
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

    pub(super) async fn unload_locked(&self, id: &PluginId, cascade: bool) -> Result<Vec<PluginId>, RegistryError> {
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
        self.set_enabled(id, Persist::Save).await
    }

    /// [`Registry::enable`], remembering it or not (another process saved it already).
    pub(super) async fn set_enabled(&self, id: &PluginId, persist: Persist) -> Result<(), RegistryError> {
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
        if persist == Persist::Save {
            self.save_record(id, |record| {
                record.enabled = true;
                record.disabled_reason = None;
            })
            .await?;
        }
        tracing::info!(plugin = %id, "plugin enabled");
        self.inner.runtime.publish(RuntimeEvent::Enabled { plugin: id.clone() });
        Ok(())
    }

    /// Disables plugin `id`: calls `on-disable`, stops routing calls to it (calls already
    /// running finish) and remembers the choice across restarts. Plugins that depend on it
    /// stay loaded; their calls to it fail with a clear error.
    pub async fn disable(&self, id: &PluginId) -> Result<(), RegistryError> {
        self.set_disabled(id, Persist::Save).await
    }

    /// [`Registry::disable`], remembering it or not (another process saved it already).
    pub(super) async fn set_disabled(&self, id: &PluginId, persist: Persist) -> Result<(), RegistryError> {
        let _operation = self.inner.operations.lock().await;
        if !lock(&self.inner.known).contains_key(id) {
            return Err(self.unknown(id.as_str()));
        }
        let result = match self.inner.runtime.plugin(id) {
            Some(plugin) => plugin.disable().await,
            None => Ok(()),
        };
        if persist == Persist::Save {
            self.save_record(id, |record| record.enabled = false).await?;
        }
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

    /// Unloads every plugin, dependents before their dependencies, calling each shutdown
    /// hook. The saved state is untouched: they load again at the next start.
    pub async fn shutdown(&self) {
        let _operation = self.inner.operations.lock().await;
        // Plugins still waiting for their compile do not load after this.
        for known in lock(&self.inner.known).values_mut() {
            known.compiling = false;
        }
        let mut order = Vec::new();
        for id in self.inner.runtime.plugin_ids() {
            self.dependents_first(&id, &mut order);
        }
        for id in order {
            self.inner.runtime.unload(&id).await;
        }
    }
}

/// Whether [`Registry::start`] waits for the compiles of plugins not in the compiled cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compiles {
    /// Every plugin has loaded or failed when the start returns.
    Wait,
    /// Those still to compile load in the background, one at a time.
    InBackground,
}

/// The start's background work: compiles each plugin of `order` that waits for it, one at a
/// time and without the lifecycle lock (operators' changes and hot reloads go on), then loads
/// it under the lock. Holds the registry only while loading, so dropping the app stops it.
async fn load_once_compiled(registry: WeakRegistry, runtime: Runtime, order: Vec<PluginId>) {
    for id in order {
        let Some(candidate) = registry.upgrade().and_then(|registry| registry.waiting_for_compile(&id)) else {
            continue;
        };
        let started = Instant::now();
        let compiled = if runtime.is_compiled(&candidate.source) {
            // It waited for a dependency's compile only (or was compiled meanwhile).
            Ok(())
        } else {
            let megabytes = format!("{:.1}", candidate.source.wasm.len() as f64 / f64::from(1 << 20));
            tracing::info!(
                plugin = %id,
                megabytes,
                "compiling the plugin's component ({megabytes} MB) for this machine in the background; it loads when done"
            );
            runtime.compile(&candidate.source).await
        };
        let Some(registry) = registry.upgrade() else { return };
        registry.load_after_compile(&id, compiled, started).await;
    }
    if let Some(registry) = registry.upgrade() {
        registry.inner.compiles_running.send_replace(false);
    }
}

fn folder_listed(listed: &BTreeSet<String>, origin: &Origin) -> bool {
    match origin {
        Origin::Folder(folder) => listed.contains(&folder_name(folder)),
        Origin::Bundled => false,
    }
}

pub(super) fn parse_fail_mode(text: &str) -> Option<FailMode> {
    match text {
        "open" => Some(FailMode::Open),
        "closed" => Some(FailMode::Closed),
        _ => None,
    }
}
