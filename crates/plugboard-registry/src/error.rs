//! What can go wrong when changing the set of plugins, each with what to do about it.

use std::path::PathBuf;

use plugboard_host::{CallError, LoadError};
use plugboard_manifest::{PluginId, SettingsViolation};

use crate::resolve::DependencyError;
use crate::secrets::SecretError;

/// A lifecycle operation that was refused or failed. Nothing changed when it is returned,
/// unless the variant says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No plugin has this id.
    #[error("no plugin `{plugin}` is installed; installed plugins: {}", list(.known))]
    UnknownPlugin {
        /// The id asked for.
        plugin: String,
        /// The ids there are.
        known: Vec<PluginId>,
    },
    /// The plugin is installed but not loaded.
    #[error("plugin `{plugin}` is not loaded; load it first")]
    NotLoaded {
        /// The plugin.
        plugin: PluginId,
    },
    /// The plugin is loaded already.
    #[error("plugin `{plugin}` is already loaded (version {version}); reload it to pick up a new version")]
    AlreadyLoaded {
        /// The plugin.
        plugin: PluginId,
        /// The loaded version.
        version: semver::Version,
    },
    /// Reading, compiling or starting the plugin failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Its dependencies are not satisfied.
    #[error(transparent)]
    Dependency(#[from] DependencyError),
    /// Other loaded plugins depend on it.
    #[error(
        "plugin `{plugin}` is needed by {}; unload them first, or unload with cascade to unload them too",
        list(.dependents)
    )]
    HasDependents {
        /// The plugin.
        plugin: PluginId,
        /// The loaded plugins that depend on it, directly or not.
        dependents: Vec<PluginId>,
    },
    /// The new version is outside a dependent's accepted range.
    #[error(
        "reloading plugin `{plugin}` as version {version} would break {}; keep a version they accept or update them first",
        .dependents.iter().map(|(id, req)| format!("`{id}` (needs {req})")).collect::<Vec<_>>().join(", ")
    )]
    BreaksDependents {
        /// The plugin.
        plugin: PluginId,
        /// The version found on disk.
        version: semver::Version,
        /// Each dependent and the versions it accepts.
        dependents: Vec<(PluginId, semver::VersionReq)>,
    },
    /// The folder now holds a different plugin.
    #[error(
        "{} now holds plugin `{found}`, not `{expected}`; unload `{expected}` and load the folder as a new plugin",
        .folder.display()
    )]
    IdChanged {
        /// The folder.
        folder: PathBuf,
        /// The id loaded from it.
        expected: PluginId,
        /// The id its manifest now has.
        found: PluginId,
    },
    /// The settings break the plugin's schema; nothing was saved.
    #[error(
        "invalid settings for plugin `{plugin}`: {}; fix these values and save again",
        .violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    InvalidSettings {
        /// The plugin.
        plugin: PluginId,
        /// Every violation, by JSON Pointer path.
        violations: Vec<SettingsViolation>,
    },
    /// A lifecycle hook of the plugin failed (`init` refusing settings, `on-enable`, ...).
    #[error(transparent)]
    Hook(#[from] CallError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] plugboard_store::StoreError),
    /// A package was refused (format, size, paths, links, signature, checksum).
    #[error(transparent)]
    Package(#[from] plugboard_package::PackageError),
    /// A package's component does not do what its manifest declares.
    #[error(
        "the package `{plugin}` does not match its component: {message}; rebuild the component and package it again"
    )]
    ManifestMismatch {
        /// The plugin.
        plugin: PluginId,
        /// What does not match.
        message: String,
    },
    /// A package older than the installed version.
    #[error(
        "plugin `{plugin}` {installed} is installed, newer than the package's {package}; install with force to go back to {package}"
    )]
    Downgrade {
        /// The plugin.
        plugin: PluginId,
        /// The installed version.
        installed: semver::Version,
        /// The package's version.
        package: semver::Version,
    },
    /// The plugin was not installed from a package, so there is nothing to uninstall.
    #[error("plugin `{plugin}` was not installed from a package ({origin}); {fix}")]
    NotInstalled {
        /// The plugin.
        plugin: PluginId,
        /// Where it comes from.
        origin: String,
        /// What to do instead.
        fix: String,
    },
    /// Packages cannot be installed: no folder is set for them, or it is unusable.
    #[error("cannot install packages: {reason}")]
    InstallFolder {
        /// Why.
        reason: String,
    },
    /// The plugin declares no task of this name.
    #[error(
        "plugin `{plugin}` has no scheduled task `{task}`; its tasks: {}",
        if .known.is_empty() { "none".to_owned() } else { .known.iter().map(|task| format!("`{task}`")).collect::<Vec<_>>().join(", ") }
    )]
    UnknownTask {
        /// The plugin.
        plugin: PluginId,
        /// The task asked for.
        task: String,
        /// The tasks it declares.
        known: Vec<String>,
    },
    /// A run of the task is under way.
    #[error("task `{task}` of plugin `{plugin}` is running now; wait for it to finish and try again")]
    TaskRunning {
        /// The plugin.
        plugin: PluginId,
        /// The task.
        task: String,
    },
    /// The plugin is loaded but disabled (by an operator or its circuit breaker).
    #[error("plugin `{plugin}` is disabled; enable it first")]
    NotEnabled {
        /// The plugin.
        plugin: PluginId,
    },
    /// A saved secret setting does not decrypt (the server key that encrypted it is not
    /// here, or the value was changed); the plugin does not load with it. Nothing was
    /// changed: the saved value stays as it was.
    #[error("cannot decrypt secret setting `{setting}` of plugin `{plugin}`: {error}")]
    SecretUnreadable {
        /// The plugin.
        plugin: PluginId,
        /// The setting.
        setting: String,
        /// Why, and what to do.
        error: SecretError,
    },
    /// A secret setting could not be encrypted; nothing was saved.
    #[error("cannot encrypt secret setting `{setting}` of plugin `{plugin}`: {error}")]
    SecretNotSealed {
        /// The plugin.
        plugin: PluginId,
        /// The setting.
        setting: String,
        /// What failed.
        error: SecretError,
    },
    /// The plugin directories cannot be watched.
    #[error("cannot watch {} for plugin changes: {message}", .path.display())]
    Watch {
        /// The directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl RegistryError {
    /// A stable, machine-readable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::UnknownPlugin { .. } => "plugin_not_found",
            RegistryError::NotLoaded { .. } => "plugin_not_loaded",
            RegistryError::AlreadyLoaded { .. } => "plugin_already_loaded",
            RegistryError::Load(_) => "plugin_load_failed",
            RegistryError::Dependency(_) => "plugin_dependency",
            RegistryError::HasDependents { .. } => "plugin_has_dependents",
            RegistryError::BreaksDependents { .. } => "plugin_breaks_dependents",
            RegistryError::IdChanged { .. } => "plugin_id_changed",
            RegistryError::InvalidSettings { .. } => "invalid_settings",
            RegistryError::Hook(_) => "plugin_hook_failed",
            RegistryError::Store(_) => "storage",
            RegistryError::Watch { .. } => "watch",
            RegistryError::Package(error) => error.code(),
            RegistryError::ManifestMismatch { .. } => "package_manifest_mismatch",
            RegistryError::Downgrade { .. } => "package_downgrade",
            RegistryError::NotInstalled { .. } => "plugin_not_installed",
            RegistryError::InstallFolder { .. } => "install_folder",
            RegistryError::UnknownTask { .. } => "task_not_found",
            RegistryError::TaskRunning { .. } => "task_running",
            RegistryError::NotEnabled { .. } => "plugin_disabled",
            RegistryError::SecretUnreadable { .. } => "secret_unreadable",
            RegistryError::SecretNotSealed { .. } => "secret_not_encrypted",
        }
    }
}

fn list(ids: &[PluginId]) -> String {
    if ids.is_empty() {
        return "none".to_owned();
    }
    ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ")
}
