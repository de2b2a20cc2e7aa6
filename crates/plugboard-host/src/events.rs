//! [`RuntimeEvent`]: what happens to plugins, told to the runtime's subscribers.

use plugboard_manifest::PluginId;
use serde::Serialize;

/// Something that happened to a plugin, for subscribers (the HTTP API streams these, the
/// registry delivers them to plugins that implement the event hook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RuntimeEvent {
    /// A plugin version was loaded, or replaced another (`previous`).
    Loaded {
        /// The plugin.
        plugin: PluginId,
        /// Its version.
        version: String,
        /// The version it replaced, for a reload.
        previous: Option<String>,
    },
    /// A plugin was unloaded.
    Unloaded {
        /// The plugin.
        plugin: PluginId,
    },
    /// An operator enabled a plugin.
    Enabled {
        /// The plugin.
        plugin: PluginId,
    },
    /// A plugin was disabled: by an operator, or by the host (`reason`).
    Disabled {
        /// The plugin.
        plugin: PluginId,
        /// Why, when the host did it.
        reason: Option<String>,
    },
    /// A plugin could not be loaded or reloaded. `plugin` is its id, or its folder's name
    /// when the manifest could not be read.
    Failed {
        /// The plugin.
        plugin: String,
        /// What went wrong and what to do.
        error: String,
    },
    /// A plugin's settings changed.
    SettingsChanged {
        /// The plugin.
        plugin: PluginId,
    },
    /// A call faulted.
    Fault {
        /// The plugin.
        plugin: PluginId,
        /// The version that faulted.
        version: String,
        /// The error.
        error: String,
    },
    /// Too many faults: the plugin's circuit breaker opened and it is disabled.
    BreakerOpened {
        /// The plugin.
        plugin: PluginId,
        /// The last fault.
        last_error: String,
    },
}
