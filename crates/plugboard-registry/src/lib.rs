//! The Plugboard plugin registry: the living set of plugins an operator changes while the
//! server runs.
//!
//! [`Registry`] discovers plugins (bundled ones and every folder of `PLUGINS_DIRS`),
//! [`resolve`]s their dependencies, loads them in dependency order with the settings and
//! state saved in the store, and runs the lifecycle operations (load, unload with or
//! without cascade, atomic reload, enable, disable, settings) one at a time. [`HotReload`]
//! watches the plugin folders in development mode. [`Registry::install_package`] installs
//! a signed plugin package and [`Registry::uninstall`] removes one. [`StoreKv`] gives plugins their
//! key-value store from the database. [`secrets`] keeps the settings a plugin's schema
//! marks secret encrypted in the database under the server key.
//!
//! Architecture Invariant: the registry decides *which* plugins run and with what; the
//! runtime (`plugboard-host`) decides *how*. The registry never touches wasmtime, and the
//! runtime never reads folders on its own or talks to the store.

mod catalogue;
mod discover;
mod error;
mod install;
mod kv;
mod registry;
mod resolve;
pub mod secrets;
mod watch;

pub use catalogue::Catalogue;
pub use discover::{Bundled, Candidate, Origin, plugin_folders};
pub use error::RegistryError;
pub use install::{INSTALL_RECORD_FILE, InstallOptions, InstallRecord, Installed};
pub use kv::StoreKv;
pub use registry::{
    BrokenFolder, PackageChange, PluginEntry, PluginState, Registry, RegistryConfig, StartReport, StoreFollower,
    StoredChange, SyncOutcome, TaskInfo, WeakRegistry,
};
pub use resolve::{DependencyError, Resolution, resolve};
pub use watch::HotReload;
