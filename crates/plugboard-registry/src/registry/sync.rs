//! Reconciling one plugin folder with what is loaded, for hot reload and package
//! installs: a new folder is loaded, a changed one reloaded, a removed one unloaded.

use std::path::Path;

use plugboard_manifest::PluginId;

use super::{Registry, lock};
use crate::discover::{Candidate, Origin, folder_name};
use crate::error::RegistryError;

impl Registry {
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
                // The files are those running again (a broken edit reverted): its error is gone.
                if let Some(known) = lock(&self.inner.known).get_mut(&id) {
                    known.error = None;
                }
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
