//! The Plugboard plugin host: runs plugins, WebAssembly components built against the
//! `plugboard:plugin` WIT package, in a wasmtime sandbox.
//!
//! Architecture Invariant: this is the only crate that depends on wasmtime, and no
//! wasmtime type appears in its public API. Callers load plugins with [`Runtime`] and call
//! hooks on [`Plugin`] with the types of [`api`].
//!
//! Every call runs under the plugin's CPU deadline and memory ceiling (its manifest's,
//! capped by [`RuntimeConfig`]). A trap, panic, stack overflow, deadline or memory overrun
//! fails that call with a [`CallError`] and never the host; a plugin that faults too
//! often is disabled by its circuit breaker. WASI is deny-by-default and every host
//! service checks the manifest's permissions.

mod abi;
pub mod api;
mod breaker;
mod cache;
mod chain;
mod config;
mod error;
mod events;
mod http;
mod link;
mod plugin;
mod plugin_set;
mod runtime;
pub mod services;
mod shared;
mod state;
mod stats;
mod stdio;

pub use api::Hook;
pub use breaker::{BreakerState, BreakerStatus, FaultRecord};
pub use chain::{
    ChainResult, FilterStep, Rejection, StepOutcome, TextFilter, deliver_event, filter_order, run_stream_filters,
    run_text_filters,
};
pub use config::{BreakerConfig, HttpConfig, InstanceAllocator, RuntimeConfig};
pub use error::{CallError, CallErrorKind, LoadError};
pub use http::tls_config;
pub use plugin::{EffectiveLimits, Plugin, PluginStatus, SettingsError};
pub use plugin_set::{PluginSet, WeakPlugins};
pub use runtime::{HOST_VERSION, PluginSource, Runtime, RuntimeError, RuntimeEvent};
pub use services::Services;
pub use stats::{CALL_DURATION_BUCKETS, HookCallStats};
