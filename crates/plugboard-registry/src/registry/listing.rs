//! What operators see of installed plugins: each one's entry (version, state, error,
//! dependencies, the runtime's status), the folders that could not be read, and the
//! faults kept across restarts.

use std::collections::BTreeMap;

use plugboard_host::Plugin;
use plugboard_manifest::PluginId;
use plugboard_store::FaultEntry;

use super::{BrokenFolder, Known, PluginEntry, PluginState, Registry, lock};
use crate::error::RegistryError;

impl Registry {
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
            (None, _) if entry.compiling => (PluginState::Compiling, None),
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

    /// The newest faults of plugin `id` (at most `limit`), kept across restarts.
    pub async fn faults(&self, id: &PluginId, limit: usize) -> Result<Vec<FaultEntry>, RegistryError> {
        Ok(self.inner.store.faults(id.as_str(), limit).await?)
    }
}
