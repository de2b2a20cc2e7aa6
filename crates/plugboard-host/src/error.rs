//! Errors of the plugin host: why a plugin did not load, and why a call failed.

use std::path::PathBuf;
use std::time::Duration;

use plugboard_manifest::{InvalidManifest, PluginId, SettingsViolation};

use crate::api::Hook;

/// Why a plugin could not be loaded. Every variant names the plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] InvalidManifest),
    /// A file of the plugin could not be read.
    #[error("plugin `{plugin}`: cannot read {}: {source}", path.display())]
    Read {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest names an ABI version this host does not run.
    #[error(
        "plugin `{plugin}`: built for plugin ABI {abi}, which this host does not run (it runs {supported}); rebuild the plugin with a matching SDK"
    )]
    UnsupportedAbi {
        /// The plugin.
        plugin: PluginId,
        /// The ABI the manifest names.
        abi: String,
        /// The ABIs this host runs.
        supported: String,
    },
    /// The plugin needs a newer Plugboard.
    #[error(
        "plugin `{plugin}`: needs Plugboard {required} or newer, this is {host}; upgrade Plugboard or use an older version of the plugin"
    )]
    HostTooOld {
        /// The plugin.
        plugin: PluginId,
        /// Its minimum version.
        required: semver::Version,
        /// This host's version.
        host: semver::Version,
    },
    /// The component is not valid WebAssembly, or not a component.
    #[error("plugin `{plugin}`: `{}` is not a valid WebAssembly component: {message}; build it with `cargo build --release --target wasm32-wasip2`", path.display())]
    Compile {
        /// The plugin.
        plugin: PluginId,
        /// The component file.
        path: PathBuf,
        /// The compiler's explanation.
        message: String,
    },
    /// The component needs more than one slot of the instance pool holds (core instances,
    /// memories, tables or table elements per component), so it could never be instantiated.
    #[error("plugin `{plugin}`: `{}` needs more than this host's instance pool gives one plugin instance: {message}; the pool admits per component {}", path.display(), crate::runtime::POOL_ADMITS)]
    ExceedsInstancePool {
        /// The plugin.
        plugin: PluginId,
        /// The component file.
        path: PathBuf,
        /// What it needs (wasmtime's words).
        message: String,
    },
    /// The component does not match the manifest's ABI (missing export, unknown import).
    #[error("plugin `{plugin}`: the component does not match plugin ABI {abi}: {message}")]
    AbiMismatch {
        /// The plugin.
        plugin: PluginId,
        /// The manifest's ABI.
        abi: String,
        /// What is missing or unexpected.
        message: String,
    },
    /// The settings break the plugin's schema.
    #[error("plugin `{plugin}`: invalid settings: {}", violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidSettings {
        /// The plugin.
        plugin: PluginId,
        /// Every violation.
        violations: Vec<SettingsViolation>,
    },
    /// The first instance failed to start or refused its settings in `init`.
    #[error("plugin `{plugin}`: failed to start: {source}")]
    Start {
        /// The plugin.
        plugin: PluginId,
        /// What went wrong.
        #[source]
        source: CallError,
    },
}

/// Why a hook call failed: a typed error naming the plugin, the hook and the cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin `{plugin}` hook `{hook}`: {kind}")]
pub struct CallError {
    /// The plugin.
    pub plugin: PluginId,
    /// The hook that was called.
    pub hook: Hook,
    /// What went wrong.
    pub kind: CallErrorKind,
}

/// The cause of a failed call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallErrorKind {
    /// The call ran past its deadline and was stopped.
    #[error("exceeded its {} ms deadline and was stopped", timeout.as_millis())]
    Deadline {
        /// The deadline.
        timeout: Duration,
    },
    /// The plugin tried to grow its memory past its ceiling.
    #[error("tried to use more than its {} MiB memory ceiling and was stopped", limit_bytes / (1024 * 1024))]
    MemoryLimit {
        /// The ceiling.
        limit_bytes: u64,
    },
    /// The plugin overflowed its stack (usually endless recursion).
    #[error("overflowed its stack (endless recursion?) and was stopped")]
    StackOverflow,
    /// The plugin panicked.
    #[error("panicked: {message}")]
    Panic {
        /// The panic message the plugin printed.
        message: String,
    },
    /// The plugin trapped (invalid operation, `unreachable`, bad memory access...).
    #[error("trapped: {message}")]
    Trap {
        /// What wasmtime reported.
        message: String,
    },
    /// The plugin returned more data than the host accepts.
    #[error("returned {size} bytes, more than the {limit} byte limit")]
    OutputTooLarge {
        /// Bytes returned.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The plugin returned something the host cannot use.
    #[error("returned an invalid result: {message}")]
    InvalidOutput {
        /// What is wrong with it.
        message: String,
    },
    /// The plugin does not implement this hook.
    #[error("is not implemented by this plugin")]
    NotImplemented,
    /// The plugin is disabled.
    #[error("the plugin is disabled; enable it first")]
    Disabled,
    /// The plugin faulted too often and its circuit breaker is open.
    #[error("the plugin was disabled after {faults} faults in {} s (last: {last_error}); fix it and re-enable it", window.as_secs())]
    BreakerOpen {
        /// Faults counted.
        faults: usize,
        /// The window they happened in.
        window: Duration,
        /// The last fault.
        last_error: String,
    },
    /// The plugin's rate limit is reached.
    #[error("rate limit of {per_minute} calls per minute reached; try again shortly")]
    RateLimited {
        /// The limit.
        per_minute: u32,
    },
    /// No instance could be had in time (all busy).
    #[error("all instances are busy; try again shortly")]
    Busy,
    /// A fresh instance could not be created.
    #[error("could not start an instance: {message}")]
    Instantiate {
        /// Why.
        message: String,
    },
    /// `init` refused the settings.
    #[error("init refused the settings: {message}")]
    InitRefused {
        /// The plugin's explanation.
        message: String,
    },
    /// The plugin's tool (or command, task, export) reported an error of its own.
    #[error("{message}")]
    Plugin {
        /// The plugin's explanation.
        message: String,
    },
}

impl CallErrorKind {
    /// Whether this counts as a fault of the plugin for its circuit breaker: the plugin
    /// misbehaved, as opposed to refusing politely or being unavailable.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            CallErrorKind::Deadline { .. }
                | CallErrorKind::MemoryLimit { .. }
                | CallErrorKind::StackOverflow
                | CallErrorKind::Panic { .. }
                | CallErrorKind::Trap { .. }
                | CallErrorKind::OutputTooLarge { .. }
                | CallErrorKind::InvalidOutput { .. }
                | CallErrorKind::Instantiate { .. }
        )
    }

    /// Every code [`CallErrorKind::code`] gives, for the API's documentation.
    pub const CODES: [&'static str; 15] = [
        "deadline",
        "memory_limit",
        "stack_overflow",
        "panic",
        "trap",
        "output_too_large",
        "invalid_output",
        "not_implemented",
        "disabled",
        "breaker_open",
        "rate_limited",
        "busy",
        "instantiate",
        "init_refused",
        "plugin_error",
    ];

    /// A short stable code for APIs and logs, such as `deadline` or `panic`.
    pub fn code(&self) -> &'static str {
        match self {
            CallErrorKind::Deadline { .. } => "deadline",
            CallErrorKind::MemoryLimit { .. } => "memory_limit",
            CallErrorKind::StackOverflow => "stack_overflow",
            CallErrorKind::Panic { .. } => "panic",
            CallErrorKind::Trap { .. } => "trap",
            CallErrorKind::OutputTooLarge { .. } => "output_too_large",
            CallErrorKind::InvalidOutput { .. } => "invalid_output",
            CallErrorKind::NotImplemented => "not_implemented",
            CallErrorKind::Disabled => "disabled",
            CallErrorKind::BreakerOpen { .. } => "breaker_open",
            CallErrorKind::RateLimited { .. } => "rate_limited",
            CallErrorKind::Busy => "busy",
            CallErrorKind::Instantiate { .. } => "instantiate",
            CallErrorKind::InitRefused { .. } => "init_refused",
            CallErrorKind::Plugin { .. } => "plugin_error",
        }
    }
}
