//! Installing and uninstalling plugin packages: a package is read and checked (archive,
//! signature against the trust store, component against manifest, version against what
//! is installed), unpacked into the install folder under its id, and loaded or swapped
//! in like a changed plugin folder; a failure leaves the previous files and version.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugboard_host::api::Hook;
use plugboard_host::{LoadError, PluginSource};
use plugboard_manifest::PluginId;
use plugboard_package::{Limits, Package, Policy, TrustStore, Verification};
use plugboard_store::StoredPackage;
use serde::{Deserialize, Serialize};

use crate::discover::Origin;
use crate::{Registry, RegistryError};

/// The file an install writes into the plugin folder: where the package came from.
pub const INSTALL_RECORD_FILE: &str = ".plugboard-install.json";

/// How a package is installed.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// The keys whose signatures are accepted.
    pub trust: TrustStore,
    /// What the signature must be.
    pub policy: Policy,
    /// Install even when an installed version is newer.
    pub force: bool,
    /// What a package may weigh.
    pub limits: Limits,
}

/// A package installed and loaded.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    /// The plugin.
    pub plugin: PluginId,
    /// The version installed.
    pub version: semver::Version,
    /// The version it replaced, if one was there (bundled, or installed before).
    pub replaced: Option<semver::Version>,
    /// Its folder.
    pub folder: PathBuf,
    /// What the signature check found.
    pub verification: Verification,
    /// SHA-256 of the package file.
    pub sha256: String,
}

/// Where an installed plugin came from, kept in its folder as [`INSTALL_RECORD_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// The version installed.
    pub version: semver::Version,
    /// SHA-256 of the package file.
    pub sha256: String,
    /// The fingerprint of the key that signed it, if the signature was checked and good.
    pub signer_fingerprint: Option<String>,
    /// The name on that key.
    pub signer: Option<String>,
    /// Whether that key was trusted at install time.
    pub trusted: bool,
    /// When, in seconds since the Unix epoch.
    pub installed_at: u64,
}

impl Registry {
    /// Installs a package file's bytes: see the module documentation. Nothing on disk or
    /// in the running set changes when an error is returned.
    ///
    /// The package is also kept in the store, so that every server sharing the database
    /// installs it too ([`Registry::sync_packages`]) and a server that starts later finds it.
    pub async fn install_package(&self, bytes: &[u8], options: &InstallOptions) -> Result<Installed, RegistryError> {
        let package = Package::read(bytes, &options.limits)?;
        let verification = package.verify(&options.trust, options.policy)?;
        let _installs = self.install_lock().lock().await;
        let installed = self.install_verified(&package, bytes, verification, options.force).await?;
        let stored = StoredPackage {
            plugin: installed.plugin.to_string(),
            version: installed.version.to_string(),
            sha256: installed.sha256.clone(),
            signer_fingerprint: installed.verification.signer_fingerprint.clone(),
            signer: installed.verification.signer.clone(),
            trusted: installed.verification.trusted,
            removed: false,
            updated_at_ms: 0,
        };
        if let Err(error) = self.store().save_package(&stored, bytes).await {
            // Installed here, but the other servers will not hear of it: say so, and let
            // the operator install again (the same package replaces itself).
            tracing::error!(plugin = %installed.plugin, "installed, but cannot keep the package in the database: {error}");
            return Err(RegistryError::Store(error));
        }
        Ok(installed)
    }

    /// Installs a package already read and whose signature passed: see
    /// [`Registry::install_package`]; `force` allows a downgrade.
    pub(crate) async fn install_verified(
        &self,
        package: &Package,
        bytes: &[u8],
        verification: Verification,
        force: bool,
    ) -> Result<Installed, RegistryError> {
        let manifest = package.manifest().clone();
        let id = manifest.id.clone();
        self.check_package(package).await?;
        let install_dir = self.install_dir()?;
        let replaced = self.entry(&id).map(|entry| entry.version);
        if let Some(Origin::Folder(folder)) = self.origin(&id)
            && folder.parent() != Some(install_dir.as_path())
        {
            return Err(RegistryError::InstallFolder {
                reason: format!(
                    "plugin `{id}` is loaded from {}, a plugin folder not managed by installs; remove that folder first or change the package's id",
                    folder.display()
                ),
            });
        }
        if let Some(installed) = &replaced
            && *installed > manifest.version
            && !force
        {
            return Err(RegistryError::Downgrade {
                plugin: id,
                installed: installed.clone(),
                package: manifest.version.clone(),
            });
        }
        let target = install_dir.join(id.as_str());
        if target.exists() {
            match plugboard_manifest::read_manifest(&target) {
                Ok(existing) if existing.id == id => {}
                _ => {
                    return Err(RegistryError::InstallFolder {
                        reason: format!(
                            "{} exists and does not hold plugin `{id}`; move it away and install again",
                            target.display()
                        ),
                    });
                }
            }
        }
        let sha256 = plugboard_package::sha256_hex(bytes);
        let staging_root = install_dir.join(".staging");
        std::fs::create_dir_all(&staging_root).map_err(install_io(&staging_root))?;
        let stamp = unique_stamp();
        let staging = staging_root.join(format!("{id}-{stamp}"));
        package.extract(&staging)?;
        let record = InstallRecord {
            version: manifest.version.clone(),
            sha256: sha256.clone(),
            signer_fingerprint: verification.signer_fingerprint.clone(),
            signer: verification.signer.clone(),
            trusted: verification.trusted,
            installed_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs()),
        };
        let record_path = staging.join(INSTALL_RECORD_FILE);
        let record_json = serde_json::to_vec_pretty(&record).unwrap_or_default();
        if let Err(error) = std::fs::write(&record_path, record_json) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(install_io(&record_path)(error));
        }
        let backup = staging_root.join(format!("{id}-previous-{stamp}"));
        let had_previous = target.exists();
        if had_previous && let Err(error) = std::fs::rename(&target, &backup) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(install_io(&target)(error));
        }
        if let Err(error) = std::fs::rename(&staging, &target) {
            let _ = std::fs::remove_dir_all(&staging);
            if had_previous {
                let _ = std::fs::rename(&backup, &target);
            }
            return Err(install_io(&target)(error));
        }
        match self.sync_folder(&target).await {
            Ok(_) => {
                if had_previous {
                    let _ = std::fs::remove_dir_all(&backup);
                }
                tracing::info!(plugin = %id, version = %manifest.version, signer = ?verification.signer_fingerprint, "installed a plugin package");
                Ok(Installed { plugin: id, version: manifest.version, replaced, folder: target, verification, sha256 })
            }
            Err(error) => {
                // Put back what was there, and let the registry see it again.
                let _ = std::fs::remove_dir_all(&target);
                if had_previous {
                    let _ = std::fs::rename(&backup, &target);
                }
                let _ = self.sync_folder(&target).await;
                Err(error)
            }
        }
    }

    /// Uninstalls a plugin installed from a package: unloads it (refused while loaded
    /// plugins depend on it) and deletes its folder. A bundled plugin with the same id
    /// comes back. Its saved settings are kept for a later install. Only this server's
    /// files change.
    pub(crate) async fn uninstall_here(&self, id: &PluginId) -> Result<PathBuf, RegistryError> {
        let install_dir = self.install_dir()?;
        let folder = match self.origin(id) {
            Some(Origin::Folder(folder)) if folder.parent() == Some(install_dir.as_path()) => folder,
            Some(Origin::Folder(folder)) => {
                return Err(RegistryError::NotInstalled {
                    plugin: id.clone(),
                    origin: format!("a plugin folder at {}", folder.display()),
                    fix: "remove that folder to remove it".to_owned(),
                });
            }
            Some(Origin::Bundled) => {
                return Err(RegistryError::NotInstalled {
                    plugin: id.clone(),
                    origin: "bundled with Plugboard".to_owned(),
                    fix: "disable it instead".to_owned(),
                });
            }
            None => return Err(self.unknown(id.as_str())),
        };
        if self.runtime().plugin(id).is_some() {
            self.unload(id, false).await?;
        }
        let trash = install_dir.join(".staging").join(format!("{id}-removed-{}", unique_stamp()));
        std::fs::create_dir_all(install_dir.join(".staging")).map_err(install_io(&install_dir))?;
        std::fs::rename(&folder, &trash).map_err(install_io(&folder))?;
        let _ = std::fs::remove_dir_all(&trash);
        self.sync_folder(&folder).await?;
        tracing::info!(plugin = %id, "uninstalled a plugin package");
        Ok(folder)
    }

    /// Uninstalls as [`Registry::uninstall_here`] does, and records the removal in the
    /// store so that every server sharing the database uninstalls it too.
    pub async fn uninstall(&self, id: &PluginId) -> Result<PathBuf, RegistryError> {
        let _installs = self.install_lock().lock().await;
        let folder = self.uninstall_here(id).await?;
        self.store().remove_package(id.as_str()).await?;
        Ok(folder)
    }

    /// How an installed plugin was installed, when it was.
    pub fn install_record(&self, id: &PluginId) -> Option<InstallRecord> {
        let Some(Origin::Folder(folder)) = self.origin(id) else { return None };
        let bytes = std::fs::read(folder.join(INSTALL_RECORD_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Checks that the package's component is a component this host can run for the
    /// manifest's ABI, starts with the manifest's settings (the saved ones, or the
    /// schema's defaults), and implements what the manifest declares (routes need the HTTP
    /// handler, commands the command handler, schedules the scheduler). The trial instance
    /// is shut down again; nothing is installed.
    pub async fn check_package(&self, package: &Package) -> Result<(), RegistryError> {
        let manifest = package.manifest();
        let id = manifest.id.clone();
        let mismatch = |message: String| RegistryError::ManifestMismatch { plugin: id.clone(), message };
        let source = PluginSource {
            manifest: manifest.clone(),
            wasm: Arc::from(package.component()),
            component_path: Path::new(&format!("<package {}>", package.file_name())).join(&manifest.component),
        };
        self.runtime().check_component(&source).await.map_err(|error| match error {
            LoadError::Compile { .. } | LoadError::AbiMismatch { .. } => mismatch(error.to_string()),
            other => RegistryError::Load(other),
        })?;
        let saved = self.store().plugin_record(id.as_str()).await?.and_then(|record| record.settings);
        // Saved secrets that do not open count as no saved settings: the trial starts with
        // the manifest's defaults.
        let saved = self.open_secrets(&id, saved).ok().flatten();
        let settings = saved.filter(|saved| manifest.settings.validate(saved).is_ok());
        let trial = self.runtime().prepare(source, settings).await.map_err(|error| match error {
            LoadError::Start { .. } => mismatch(format!("it does not start with the manifest's settings: {error}")),
            other => RegistryError::Load(other),
        })?;
        let declared: [(bool, Hook, &str, &str); 3] = [
            (!manifest.routes.is_empty(), Hook::Http, "HTTP routes", "Http"),
            (!manifest.commands.is_empty(), Hook::Commands, "slash commands", "Commands"),
            (!manifest.schedules.is_empty(), Hook::Scheduled, "scheduled tasks", "Scheduled"),
        ];
        let missing: Vec<String> = declared
            .iter()
            .filter(|(declares, hook, _, _)| *declares && !trial.implements(*hook))
            .map(|(_, _, what, hook)| {
                format!("the manifest declares {what} but the component does not implement the `{hook}` hook")
            })
            .collect();
        if let Err(error) = trial.shutdown().await {
            tracing::debug!(plugin = %id, "the trial instance's shutdown failed: {error}");
        }
        if !missing.is_empty() {
            return Err(mismatch(missing.join("; ")));
        }
        Ok(())
    }

    pub(crate) fn install_dir(&self) -> Result<PathBuf, RegistryError> {
        let dir = self
            .config()
            .install_dir
            .clone()
            .ok_or_else(|| RegistryError::InstallFolder { reason: "no install folder is configured".to_owned() })?;
        std::fs::create_dir_all(&dir).map_err(install_io(&dir))?;
        Ok(dir)
    }
}

fn install_io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError {
    let path = path.to_path_buf();
    move |error| RegistryError::InstallFolder { reason: format!("{}: {error}", path.display()) }
}

fn unique_stamp() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{}", std::process::id())
}
