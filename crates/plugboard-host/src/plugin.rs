//! A loaded plugin version: its compiled component, a pool of warm instances, and the
//! call path every hook goes through (permits, deadline, memory ceiling, fault
//! classification, circuit breaker).
//!
//! Architecture Invariant: an instance that faulted is never reused. Instances that
//! finished a call normally go back to the pool; a call takes a warm one when there is
//! one, so a warm call costs no instantiation.
//!
//! The `impl Plugin` is split by concern: this file holds the type, its constructor and
//! its status; `call` is the one call path every hook goes through, `pool` the warm
//! instances, `exports` where an instance's exported functions are, `settings` the
//! plugin's settings, `lifecycle` the lifecycle hooks and the load steps, and `hooks`
//! every other hook.

mod call;
mod exports;
mod hooks;
mod lifecycle;
mod pool;
mod settings;

pub(crate) use self::exports::ExportIndices;
pub(crate) use self::hooks::{AbiContext, AbiEvent};
pub use self::settings::SettingsError;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use plugboard_manifest::{FailMode, Manifest, PluginId};
use serde::Serialize;
use tokio::sync::Semaphore;
use wasmtime::component::InstancePre;

use self::call::RateLimit;
use self::pool::Instance;
use self::settings::SettingsState;
use crate::api::{Event, ExportFormat, Hook, ToolSpec};
use crate::breaker::{Breaker, BreakerStatus};
use crate::shared::PluginShared;
use crate::state::HostState;
use crate::stats::CallStats;

fn mask(hooks: &BTreeSet<Hook>) -> u32 {
    hooks.iter().fold(0, |mask, hook| mask | hook.bit())
}

/// The resource limits in force for a plugin: its manifest's, capped by the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EffectiveLimits {
    /// Memory ceiling of each instance, in bytes.
    pub memory_bytes: u64,
    /// Deadline of each call.
    #[serde(rename = "timeout_ms", serialize_with = "as_millis")]
    pub timeout: Duration,
    /// Calls per minute, if limited.
    pub max_calls_per_minute: Option<u32>,
    /// Longest deadline a scheduled task of the plugin gets, whatever it declares.
    #[serde(rename = "max_task_timeout_ms", serialize_with = "as_millis")]
    pub max_task_timeout: Duration,
}

fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_millis() as u64)
}

pub(crate) struct PluginInner {
    pub(crate) shared: Arc<PluginShared>,
    pre: InstancePre<HostState>,
    indices: ExportIndices,
    /// The hooks the host may call, as a bit set (see `Hook::bit`); set once at load,
    /// after the first instance said which hooks it implements.
    hooks: AtomicU32,
    pub(crate) limits: EffectiveLimits,
    idle: Mutex<Vec<Instance>>,
    max_idle: usize,
    permits: Semaphore,
    settings: RwLock<Arc<SettingsState>>,
    /// Mirrors `settings.generation`, so a warm call checks it without the lock.
    settings_generation: AtomicU64,
    breaker: Mutex<Breaker>,
    /// Mirrors the breaker's state, so a call checks it without the lock.
    breaker_open: AtomicBool,
    enabled: AtomicBool,
    fail_closed: AtomicBool,
    rate: Option<RateLimit>,
    tools: RwLock<Vec<ToolSpec>>,
    export_formats: RwLock<Vec<ExportFormat>>,
    calls: AtomicU64,
    faults: AtomicU64,
    loaded_at: std::time::SystemTime,
    epoch_tick: Duration,
    stats: Arc<CallStats>,
}

/// What `Plugin::new` needs.
pub(crate) struct PluginParts {
    pub(crate) shared: Arc<PluginShared>,
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) indices: ExportIndices,
    pub(crate) limits: EffectiveLimits,
    pub(crate) settings: serde_json::Value,
    pub(crate) breaker: crate::config::BreakerConfig,
    pub(crate) max_idle: usize,
    pub(crate) max_concurrency: u32,
    pub(crate) epoch_tick: Duration,
    pub(crate) stats: Arc<CallStats>,
}

/// A loaded plugin version. Cheap to clone; calls made through a clone keep that version
/// alive even after it is replaced by a reload.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("id", &self.id()).field("version", self.version()).finish_non_exhaustive()
    }
}

/// A plugin's state, for operators and the API.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    /// Plugin id.
    pub id: PluginId,
    /// Loaded version.
    pub version: semver::Version,
    /// Whether calls reach it (false when disabled or its breaker is open).
    pub enabled: bool,
    /// The circuit breaker.
    pub breaker: BreakerStatus,
    /// Optional hooks it implements.
    pub hooks: Vec<Hook>,
    /// Limits in force.
    pub limits: EffectiveLimits,
    /// Whether a failing filter refuses the request.
    pub fail_closed: bool,
    /// Calls since load.
    pub calls: u64,
    /// Faults since load.
    pub faults: u64,
    /// Warm idle instances.
    pub idle_instances: usize,
    /// When this version was loaded.
    pub loaded_at: std::time::SystemTime,
}

impl Plugin {
    pub(crate) fn new(parts: PluginParts, declared_hooks: BTreeSet<Hook>) -> Plugin {
        let settings_json: Arc<str> = parts.settings.to_string().into();
        let manifest = &parts.shared.manifest;
        let fail_closed = manifest.filters.on_error == FailMode::Closed;
        let rate = parts.limits.max_calls_per_minute.and_then(RateLimit::new);
        Plugin {
            inner: Arc::new(PluginInner {
                hooks: AtomicU32::new(mask(&declared_hooks)),
                shared: parts.shared,
                pre: parts.pre,
                indices: parts.indices,
                limits: parts.limits,
                idle: Mutex::new(Vec::new()),
                max_idle: parts.max_idle,
                permits: Semaphore::new(parts.max_concurrency as usize),
                settings_generation: AtomicU64::new(0),
                settings: RwLock::new(Arc::new(SettingsState {
                    generation: 0,
                    value: parts.settings,
                    json: settings_json,
                })),
                breaker: Mutex::new(Breaker::new(parts.breaker)),
                breaker_open: AtomicBool::new(false),
                enabled: AtomicBool::new(true),
                fail_closed: AtomicBool::new(fail_closed),
                rate,
                tools: RwLock::new(Vec::new()),
                export_formats: RwLock::new(Vec::new()),
                calls: AtomicU64::new(0),
                faults: AtomicU64::new(0),
                loaded_at: std::time::SystemTime::now(),
                epoch_tick: parts.epoch_tick,
                stats: parts.stats,
            }),
        }
    }

    /// The plugin id.
    pub fn id(&self) -> &PluginId {
        &self.inner.shared.id
    }

    /// The loaded version.
    pub fn version(&self) -> &semver::Version {
        &self.inner.shared.manifest.version
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.shared.manifest
    }

    /// Whether the plugin implements `hook` (and the component exports it).
    pub fn implements(&self, hook: Hook) -> bool {
        self.inner.hooks.load(Ordering::Relaxed) & hook.bit() != 0
    }

    /// Whether the plugin is sent `event`: it implements the event hook, lists the event in
    /// its manifest (or lists none), and, for an account event, exports
    /// `account-events` (a plugin built before that interface does not).
    pub fn receives(&self, event: &Event) -> bool {
        self.implements(Hook::Events)
            && self.manifest().wants_event(event.name())
            && (!event.is_account_event() || self.inner.indices.account_events.is_some())
    }

    /// The optional hooks it implements (lifecycle hooks aside).
    pub fn hooks(&self) -> impl Iterator<Item = Hook> + '_ {
        Hook::ALL.into_iter().filter(|hook| {
            self.implements(*hook) && !matches!(hook, Hook::Init | Hook::Shutdown | Hook::OnEnable | Hook::OnDisable)
        })
    }

    /// The deadline of a run of task `name`: the `deadline` its `[[schedules]]` entry
    /// declares, capped by the operator's ceiling for tasks, or else the plugin's own
    /// per-call deadline.
    pub fn task_timeout(&self, name: &str) -> Duration {
        let limits = &self.inner.limits;
        let declared = self.manifest().schedules.iter().find(|schedule| schedule.name == name);
        match declared.and_then(|schedule| schedule.deadline) {
            Some(deadline) => deadline.min(limits.max_task_timeout),
            None => limits.timeout,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> EffectiveLimits {
        self.inner.limits
    }

    /// Whether a failure of this plugin's filters refuses the request (fail closed) rather
    /// than skipping the filter (fail open).
    pub fn fails_closed(&self) -> bool {
        self.inner.fail_closed.load(Ordering::Relaxed)
    }

    /// Overrides the manifest's filter failure mode.
    pub fn set_fail_mode(&self, mode: FailMode) {
        self.inner.fail_closed.store(mode == FailMode::Closed, Ordering::Relaxed);
    }

    /// The filter order key: priority, then id.
    pub fn filter_order(&self) -> (i32, &PluginId) {
        (self.manifest().filters.priority, self.id())
    }

    /// Whether calls reach the plugin: enabled, and its breaker closed.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Acquire) && !self.inner.breaker_open.load(Ordering::Acquire)
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.inner.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The plugin's state for display.
    pub fn status(&self) -> PluginStatus {
        PluginStatus {
            id: self.id().clone(),
            version: self.version().clone(),
            enabled: self.is_enabled(),
            breaker: self.breaker().status(),
            hooks: self.hooks().collect(),
            limits: self.inner.limits,
            fail_closed: self.fails_closed(),
            calls: self.inner.calls.load(Ordering::Relaxed),
            faults: self.inner.faults.load(Ordering::Relaxed),
            idle_instances: self.idle().len(),
            loaded_at: self.inner.loaded_at,
        }
    }
}

/// A plugin is called by the plugins that depend on it through the runtime's link.
impl crate::link::Dependency for Plugin {
    fn version(&self) -> &semver::Version {
        Plugin::version(self)
    }

    fn call_tool<'a>(
        &'a self,
        context: &'a crate::api::CallContext,
        tool: &'a str,
        arguments: serde_json::Value,
    ) -> futures_util::future::BoxFuture<'a, Result<String, crate::error::CallError>> {
        Box::pin(Plugin::call_tool(self, context, tool, arguments))
    }
}
