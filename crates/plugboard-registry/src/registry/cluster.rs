//! Several servers on one database: the installed packages the store keeps are installed
//! (or uninstalled) here as well, and the store's notifications are passed on to whoever
//! in this server follows them ([`Registry::notices`]: the trusted keys, the plugin event
//! stream of the whole cluster).

use std::path::Path;

use plugboard_manifest::PluginId;
use plugboard_package::{Limits, Package, Verification};
use plugboard_store::{Notice, StoredPackage};
use serde::Serialize;
use tokio::sync::broadcast;

use super::{Registry, lock};
use crate::error::RegistryError;
use crate::install::{INSTALL_RECORD_FILE, InstallRecord};

/// What [`Registry::sync_packages`] changed here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum PackageChange {
    /// The stored package was installed (or replaced the installed version).
    Installed {
        /// The plugin.
        plugin: PluginId,
        /// The version now installed.
        version: String,
    },
    /// The plugin was uninstalled, as another server did.
    Uninstalled {
        /// The plugin.
        plugin: PluginId,
    },
}

/// A package from the store passed the installing server's limits and signature policy;
/// here it is only unpacked again, within bounds far above any limit a server accepts.
fn stored_package_limits() -> Limits {
    Limits { max_archive_bytes: 1 << 40, max_unpacked_bytes: 1 << 40, max_files: 1 << 24 }
}

/// The install record in `install_dir`'s folder of `plugin`, if an install wrote one.
fn local_record(install_dir: &Path, plugin: &str) -> Option<InstallRecord> {
    let bytes = std::fs::read(install_dir.join(plugin).join(INSTALL_RECORD_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl Registry {
    /// The store's notifications as this registry receives them (only where the store is
    /// shared by several servers): changes of other topics than the plugins' own state,
    /// published messages, and [`Notice::Resync`] after a lost connection.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.inner.notices.subscribe()
    }

    /// Brings the installed packages in line with those the store keeps (installed through
    /// any server sharing the database): a stored package whose file differs from the
    /// installed one is installed, one marked removed is uninstalled. Folders the store
    /// never recorded are left alone. A package that fails here is logged, and tried again
    /// only when the stored one changes. Returns what changed.
    pub async fn sync_packages(&self) -> Result<Vec<PackageChange>, RegistryError> {
        let Some(install_dir) = self.config().install_dir.clone() else { return Ok(Vec::new()) };
        let _installs = self.inner.installs.lock().await;
        let mut pending: Vec<StoredPackage> = Vec::new();
        for package in self.store().packages().await? {
            let local = local_record(&install_dir, &package.plugin);
            let wanted = if package.removed {
                local.is_some()
            } else {
                local.as_ref().map(|record| record.sha256.as_str()) != Some(package.sha256.as_str())
            };
            let failed_before = lock(&self.inner.package_failures).get(&package.plugin) == Some(&package.sha256);
            if wanted && !failed_before {
                pending.push(package);
            }
        }
        // A package may need one that comes later: go round while a round installs some.
        let mut changes = Vec::new();
        let mut errors = Vec::new();
        loop {
            errors.clear();
            let before = changes.len();
            let mut left = Vec::new();
            for package in pending {
                match self.apply_stored_package(&package).await {
                    Ok(Some(change)) => changes.push(change),
                    Ok(None) => {}
                    Err(error) => {
                        errors.push((package.plugin.clone(), package.sha256.clone(), error.to_string()));
                        left.push(package);
                    }
                }
            }
            if left.is_empty() || changes.len() == before {
                break;
            }
            pending = left;
        }
        for (plugin, sha256, error) in errors {
            tracing::warn!(plugin = %plugin, "cannot apply the package another server installed: {error}");
            lock(&self.inner.package_failures).insert(plugin, sha256);
        }
        Ok(changes)
    }

    /// Installs or uninstalls one stored package here.
    async fn apply_stored_package(&self, package: &StoredPackage) -> Result<Option<PackageChange>, RegistryError> {
        let id = PluginId::parse(&package.plugin).map_err(|error| RegistryError::InstallFolder {
            reason: format!("stored package `{}`: {error}", package.plugin),
        })?;
        if package.removed {
            self.uninstall_here(&id).await?;
            tracing::info!(plugin = %id, "uninstalled, as another server did");
            return Ok(Some(PackageChange::Uninstalled { plugin: id }));
        }
        let Some(bytes) = self.store().package_bytes(&package.plugin).await? else { return Ok(None) };
        let read = Package::read(&bytes, &stored_package_limits())?;
        let verification = Verification {
            signer_fingerprint: package.signer_fingerprint.clone(),
            signer: package.signer.clone(),
            trusted: package.trusted,
            warnings: Vec::new(),
        };
        let installed = self.install_verified(&read, &bytes, verification, true).await?;
        lock(&self.inner.package_failures).remove(&package.plugin);
        tracing::info!(plugin = %id, version = %installed.version, "installed the package another server installed");
        Ok(Some(PackageChange::Installed { plugin: id, version: installed.version.to_string() }))
    }
}
