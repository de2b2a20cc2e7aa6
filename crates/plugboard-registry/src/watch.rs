//! Hot reload for development: watches the plugin directories and reconciles each plugin
//! folder whose files changed, once the changes settle. Nothing is rebuilt: the author
//! runs `cargo build` (and copies the component), the registry picks up the result.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::error::RegistryError;
use crate::registry::{Registry, SyncOutcome};

/// A running watcher; dropping it stops watching.
#[derive(Debug)]
pub struct HotReload {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HotReload {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Registry {
    /// Watches every plugin directory. A changed folder is reconciled once no change has
    /// been seen in it for `debounce`: loaded when new, reloaded when its manifest or
    /// component changed (a broken new version leaves the old one running, and the error
    /// is logged and published), unloaded when removed. Directories that do not exist are
    /// skipped with a warning.
    pub fn watch(&self, debounce: Duration) -> Result<HotReload, RegistryError> {
        // Events name canonical paths; folders are reported under the directory as
        // configured, the way the registry knows them.
        let roots: Vec<(PathBuf, PathBuf)> = self
            .config()
            .directories
            .iter()
            .map(|dir| (dir.canonicalize().unwrap_or_else(|_| dir.clone()), dir.clone()))
            .collect();
        let directories: Vec<PathBuf> = roots.iter().map(|(canonical, _)| canonical.clone()).collect();
        let (changes, mut changed) = mpsc::unbounded_channel::<PathBuf>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            // Reading the files (as the reload itself does) is no change.
            Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => {}
            Ok(event) => {
                for path in event.paths {
                    if let Some(folder) = plugin_folder_of(&roots, &path) {
                        // The receiver is gone only when watching stopped.
                        let _ = changes.send(folder);
                    }
                }
            }
            Err(error) => tracing::warn!("plugin folder watch: {error}"),
        })
        .map_err(|error| RegistryError::Watch { path: PathBuf::new(), message: error.to_string() })?;
        for directory in &directories {
            if !directory.is_dir() {
                tracing::warn!("not watching {}: it is not a directory", directory.display());
                continue;
            }
            watcher
                .watch(directory, RecursiveMode::Recursive)
                .map_err(|error| RegistryError::Watch { path: directory.clone(), message: error.to_string() })?;
            tracing::info!("watching {} for plugin changes", directory.display());
        }
        let registry = self.clone();
        let task = tokio::spawn(async move {
            while let Some(first) = changed.recv().await {
                let mut folders = BTreeSet::from([first]);
                // Wait until the folder has been quiet for `debounce`.
                while let Ok(Some(folder)) = tokio::time::timeout(debounce, changed.recv()).await {
                    folders.insert(folder);
                }
                for folder in folders {
                    report(&folder, registry.sync_folder(&folder).await);
                }
            }
        });
        Ok(HotReload { _watcher: watcher, task })
    }
}

fn report(folder: &Path, outcome: Result<SyncOutcome, RegistryError>) {
    match outcome {
        Ok(SyncOutcome::Unchanged) => tracing::debug!("{}: no change to the plugin", folder.display()),
        Ok(SyncOutcome::Loaded { plugin, version }) => {
            tracing::info!(plugin = %plugin, "hot reload: loaded new plugin version {version} from {}", folder.display());
        }
        Ok(SyncOutcome::Reloaded { plugin, from, to }) => {
            tracing::info!(plugin = %plugin, "hot reload: replaced version {from} with {to} from {}", folder.display());
        }
        Ok(SyncOutcome::Removed(plugin)) => {
            tracing::info!(plugin = %plugin, "hot reload: {} is gone, plugin unloaded", folder.display());
        }
        // The registry has logged and published the error.
        Err(error) => tracing::debug!("hot reload of {} failed: {error}", folder.display()),
    }
}

/// The plugin folder (a direct sub-folder of one of the `(canonical, configured)` roots)
/// that `path` is in, under the configured root.
fn plugin_folder_of(roots: &[(PathBuf, PathBuf)], path: &Path) -> Option<PathBuf> {
    roots.iter().find_map(|(canonical, configured)| {
        let relative = path.strip_prefix(canonical).ok()?;
        match relative.components().next()? {
            Component::Normal(name) => Some(configured.join(name)),
            _ => None,
        }
    })
}
