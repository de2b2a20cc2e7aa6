//! [`RuntimeLink`]: what a loaded plugin and its running instances reach the runtime for
//! (telling subscribers of a fault, making room in the instance pool, calling a
//! dependency's tool), as a trait the runtime implements. Plugins and instances hold it
//! weakly and never name the runtime's type, so `plugin`, `state` and `runtime` do not
//! import each other in a circle.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use plugboard_manifest::PluginId;

use crate::api::CallContext;
use crate::error::CallError;
use crate::events::RuntimeEvent;

/// The runtime, as its plugins see it.
pub(crate) trait RuntimeLink: Send + Sync {
    /// Tells the runtime's subscribers.
    fn emit(&self, event: RuntimeEvent);
    /// Drops every plugin's warm instances (when the instance pool is full).
    fn drop_idle_instances(&self);
    /// The loaded plugin `id`, as a dependent calls it.
    fn dependency(&self, id: &PluginId) -> Option<Arc<dyn Dependency>>;
}

/// A loaded plugin as a plugin that depends on it sees it: its version and its tools.
pub(crate) trait Dependency: Send + Sync {
    /// Its version.
    fn version(&self) -> &semver::Version;
    /// Calls its tool `tool` with JSON `arguments`.
    fn call_tool<'a>(
        &'a self,
        context: &'a CallContext,
        tool: &'a str,
        arguments: serde_json::Value,
    ) -> BoxFuture<'a, Result<String, CallError>>;
}
