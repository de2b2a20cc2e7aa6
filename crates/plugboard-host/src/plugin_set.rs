//! [`PluginSet`], the seam between whoever decides which plugins run (the registry) and
//! whoever calls them (the chat core, the model list): "the loaded plugins now". The
//! callers check each plugin's enabled state and hooks themselves.

use std::sync::{Arc, Weak};

use crate::Plugin;
use crate::runtime::{Runtime, RuntimeInner};

/// The loaded plugins, in the order their filters run.
pub trait PluginSet: Send + Sync + std::fmt::Debug {
    /// Every loaded plugin (enabled or not), in load order.
    fn plugins(&self) -> Vec<Plugin>;
}

impl PluginSet for Runtime {
    fn plugins(&self) -> Vec<Plugin> {
        Runtime::plugins(self)
    }
}

/// A runtime's plugins, held without keeping the runtime alive: for what the runtime
/// itself reaches through its host services (the model list behind the `ai` service), so
/// no reference cycle keeps a dropped runtime and its registry alive. Empty once the
/// runtime is gone.
#[derive(Debug, Clone)]
pub struct WeakPlugins {
    runtime: Weak<RuntimeInner>,
}

impl Runtime {
    /// Its plugins, without keeping it alive.
    pub fn weak_plugins(&self) -> WeakPlugins {
        WeakPlugins { runtime: Arc::downgrade(&self.inner) }
    }
}

impl PluginSet for WeakPlugins {
    fn plugins(&self) -> Vec<Plugin> {
        match self.runtime.upgrade() {
            Some(inner) => Runtime { inner }.plugins(),
            None => Vec::new(),
        }
    }
}
