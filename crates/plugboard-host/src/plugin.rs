//! A loaded plugin version: its compiled component, a pool of warm instances, and the
//! call path every hook goes through (permits, deadline, memory ceiling, fault
//! classification, circuit breaker).
//!
//! Architecture Invariant: an instance that faulted is never reused. Instances that
//! finished a call normally go back to the pool; a call takes a warm one when there is
//! one, so a warm call costs no instantiation.

use std::collections::BTreeSet;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use plugboard_manifest::{FailMode, Manifest, PluginId, SettingsViolation};
use serde::Serialize;
use tokio::sync::Semaphore;
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::abi::exports::{commands, events, exporter, filters, http_handler, lifecycle, provider, scheduler, tools};
use crate::abi::imports::types as wit;
use crate::api::{
    CallContext, Completion, CompletionChunk, CompletionRequest, Conversation, Event, ExportFile, ExportFormat,
    FilterOutcome, HealthReport, HealthStatus, Hook, HttpRequest, HttpResponse, Message, ModelInfo, RequestOutcome,
    ResponseOutcome, SelfTestResult, ToolSpec,
};
use crate::breaker::{Breaker, BreakerStatus};
use crate::error::{CallError, CallErrorKind};
use crate::http::OutboundHttp;
use crate::runtime::{RuntimeEvent, RuntimeInner};
use crate::services::Services;
use crate::state::{ChunkSender, DeadlineExceeded, HostState, MemoryLimitExceeded};
use crate::stats::CallStats;

fn mask(hooks: &BTreeSet<Hook>) -> u32 {
    hooks.iter().fold(0, |mask, hook| mask | hook.bit())
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Ties a call's store borrow `'a` to the caller's borrows `'c` (`'c: 'a` is implied by
/// the type), so hook closures can capture references instead of copying their inputs.
type Scope<'a, 'c> = PhantomData<&'a &'c ()>;

/// A call context in the ABI's form, converted once for a chain or an event delivery
/// that passes it to many plugins.
pub(crate) struct AbiContext(wit::CallContext);

impl AbiContext {
    pub(crate) fn new(context: &CallContext) -> AbiContext {
        AbiContext(wit::CallContext::from(context))
    }
}

/// An event in the ABI's form, converted once for all its listeners.
pub(crate) struct AbiEvent(events::Event);

impl AbiEvent {
    pub(crate) fn new(event: Event) -> AbiEvent {
        AbiEvent(events::Event::from(event))
    }
}

/// What instances of one plugin share, reachable from their store data.
#[derive(Debug)]
pub(crate) struct PluginShared {
    pub(crate) id: PluginId,
    pub(crate) manifest: Manifest,
    pub(crate) services: Services,
    pub(crate) http: Arc<OutboundHttp>,
    pub(crate) runtime: Weak<RuntimeInner>,
    pub(crate) max_output_bytes: usize,
}

/// Where each optional interface's functions are, found once per component.
pub(crate) struct ExportIndices {
    pub(crate) lifecycle: lifecycle::GuestIndices,
    pub(crate) filters: Option<filters::GuestIndices>,
    pub(crate) events: Option<events::GuestIndices>,
    pub(crate) tools: Option<tools::GuestIndices>,
    pub(crate) provider: Option<provider::GuestIndices>,
    pub(crate) exporter: Option<exporter::GuestIndices>,
    pub(crate) http: Option<http_handler::GuestIndices>,
    pub(crate) commands: Option<commands::GuestIndices>,
    pub(crate) scheduler: Option<scheduler::GuestIndices>,
}

impl ExportIndices {
    pub(crate) fn new(pre: &InstancePre<HostState>) -> wasmtime::Result<ExportIndices> {
        Ok(ExportIndices {
            lifecycle: lifecycle::GuestIndices::new(pre)?,
            filters: filters::GuestIndices::new(pre).ok(),
            events: events::GuestIndices::new(pre).ok(),
            tools: tools::GuestIndices::new(pre).ok(),
            provider: provider::GuestIndices::new(pre).ok(),
            exporter: exporter::GuestIndices::new(pre).ok(),
            http: http_handler::GuestIndices::new(pre).ok(),
            commands: commands::GuestIndices::new(pre).ok(),
            scheduler: scheduler::GuestIndices::new(pre).ok(),
        })
    }

    /// The hooks whose interface the component exports.
    pub(crate) fn exported_hooks(&self) -> BTreeSet<Hook> {
        let mut hooks: BTreeSet<Hook> =
            [Hook::Init, Hook::Shutdown, Hook::OnEnable, Hook::OnDisable, Hook::Health, Hook::SelfTest].into();
        let groups: [(bool, &[Hook]); 8] = [
            (
                self.filters.is_some(),
                &[Hook::BeforePrompt, Hook::AfterResponse, Hook::StreamChunk, Hook::BeforeRequest, Hook::AfterRequest],
            ),
            (self.events.is_some(), &[Hook::Events, Hook::MessageWillBePosted]),
            (self.tools.is_some(), &[Hook::Tools]),
            (self.provider.is_some(), &[Hook::Provider]),
            (self.exporter.is_some(), &[Hook::Exporter]),
            (self.http.is_some(), &[Hook::Http]),
            (self.commands.is_some(), &[Hook::Commands]),
            (self.scheduler.is_some(), &[Hook::Scheduled]),
        ];
        for (present, group) in groups {
            if present {
                hooks.extend(group.iter().copied());
            }
        }
        hooks
    }

    fn load(
        &self,
        store: &mut Store<HostState>,
        instance: &wasmtime::component::Instance,
    ) -> wasmtime::Result<Exports> {
        fn optional<I, G>(
            indices: &Option<I>,
            load: impl FnOnce(&I) -> wasmtime::Result<G>,
        ) -> wasmtime::Result<Option<G>> {
            indices.as_ref().map(load).transpose()
        }
        Ok(Exports {
            lifecycle: self.lifecycle.load(&mut *store, instance)?,
            filters: optional(&self.filters, |i| i.load(&mut *store, instance))?,
            events: optional(&self.events, |i| i.load(&mut *store, instance))?,
            tools: optional(&self.tools, |i| i.load(&mut *store, instance))?,
            provider: optional(&self.provider, |i| i.load(&mut *store, instance))?,
            exporter: optional(&self.exporter, |i| i.load(&mut *store, instance))?,
            http: optional(&self.http, |i| i.load(&mut *store, instance))?,
            commands: optional(&self.commands, |i| i.load(&mut *store, instance))?,
            scheduler: optional(&self.scheduler, |i| i.load(&mut *store, instance))?,
        })
    }
}

/// The exported functions of one instance.
pub(crate) struct Exports {
    lifecycle: lifecycle::Guest,
    filters: Option<filters::Guest>,
    events: Option<events::Guest>,
    tools: Option<tools::Guest>,
    provider: Option<provider::Guest>,
    exporter: Option<exporter::Guest>,
    http: Option<http_handler::Guest>,
    commands: Option<commands::Guest>,
    scheduler: Option<scheduler::Guest>,
}

fn missing(interface: &str) -> wasmtime::Error {
    wasmtime::format_err!("the component does not export `{interface}`")
}

impl Exports {
    fn filters(&self) -> wasmtime::Result<&filters::Guest> {
        self.filters.as_ref().ok_or_else(|| missing("filters"))
    }
    fn events(&self) -> wasmtime::Result<&events::Guest> {
        self.events.as_ref().ok_or_else(|| missing("events"))
    }
    fn tools(&self) -> wasmtime::Result<&tools::Guest> {
        self.tools.as_ref().ok_or_else(|| missing("tools"))
    }
    fn provider(&self) -> wasmtime::Result<&provider::Guest> {
        self.provider.as_ref().ok_or_else(|| missing("provider"))
    }
    fn exporter(&self) -> wasmtime::Result<&exporter::Guest> {
        self.exporter.as_ref().ok_or_else(|| missing("exporter"))
    }
    fn http(&self) -> wasmtime::Result<&http_handler::Guest> {
        self.http.as_ref().ok_or_else(|| missing("http-handler"))
    }
    fn commands(&self) -> wasmtime::Result<&commands::Guest> {
        self.commands.as_ref().ok_or_else(|| missing("commands"))
    }
    fn scheduler(&self) -> wasmtime::Result<&scheduler::Guest> {
        self.scheduler.as_ref().ok_or_else(|| missing("scheduler"))
    }
}

struct Instance {
    store: Store<HostState>,
    exports: Exports,
    settings_generation: u64,
}

#[derive(Debug)]
struct SettingsState {
    generation: u64,
    value: serde_json::Value,
    json: Arc<str>,
}

/// A token bucket: `per_minute` calls, refilled continuously.
#[derive(Debug)]
struct RateLimit {
    per_minute: u32,
    tokens: f64,
    refilled: Instant,
}

impl RateLimit {
    fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let per_second = f64::from(self.per_minute) / 60.0;
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * per_second)
            .min(f64::from(self.per_minute));
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
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
    rate: Option<Mutex<RateLimit>>,
    tools: RwLock<Vec<ToolSpec>>,
    export_formats: RwLock<Vec<ExportFormat>>,
    calls: AtomicU64,
    faults: AtomicU64,
    loaded_at: std::time::SystemTime,
    epoch_tick: Duration,
    stats: Arc<CallStats>,
}

/// Makes `target` a copy of `source` (empty when none), reusing `target`'s strings.
fn set_context(target: &mut CallContext, source: Option<&CallContext>) {
    let CallContext { conversation_id, user_id, model, request_id } = target;
    match source {
        Some(source) => {
            conversation_id.clone_from(&source.conversation_id);
            user_id.clone_from(&source.user_id);
            model.clone_from(&source.model);
            request_id.clone_from(&source.request_id);
        }
        None => {
            conversation_id.clear();
            user_id.clear();
            model.clear();
            request_id.clear();
        }
    }
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
        let rate = parts.limits.max_calls_per_minute.map(|per_minute| {
            Mutex::new(RateLimit { per_minute, tokens: f64::from(per_minute), refilled: Instant::now() })
        });
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

    /// The optional hooks it implements (lifecycle hooks aside).
    pub fn hooks(&self) -> impl Iterator<Item = Hook> + '_ {
        Hook::ALL.into_iter().filter(|hook| {
            self.implements(*hook) && !matches!(hook, Hook::Init | Hook::Shutdown | Hook::OnEnable | Hook::OnDisable)
        })
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

    /// The current settings, secrets included (for the host; use `redacted_settings` for display).
    pub fn settings(&self) -> serde_json::Value {
        self.current_settings().value.clone()
    }

    /// The current settings with secrets blanked.
    pub fn redacted_settings(&self) -> serde_json::Value {
        self.manifest().settings.redact(&self.current_settings().value)
    }

    fn current_settings(&self) -> Arc<SettingsState> {
        self.inner.settings.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        self.inner.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Validates `settings` against the schema (defaults applied), has a fresh instance's
    /// `init` accept them, then makes them current: every instance is re-initialised with
    /// them before its next call.
    pub async fn update_settings(&self, settings: &serde_json::Value) -> Result<serde_json::Value, SettingsError> {
        let validated = self.manifest().settings.validate(settings).map_err(SettingsError::Invalid)?;
        let json: Arc<str> = validated.to_string().into();
        let instance = self
            .new_instance_making_room(Hook::Init, json.clone(), None)
            .await
            .map_err(|kind| SettingsError::Refused(self.error(Hook::Init, kind)))?;
        let generation = {
            let mut current = self.inner.settings.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            let generation = current.generation + 1;
            *current = Arc::new(SettingsState { generation, value: validated.clone(), json });
            self.inner.settings_generation.store(generation, Ordering::Release);
            generation
        };
        self.release(Instance { settings_generation: generation, ..instance });
        Ok(validated)
    }

    /// Marks the plugin enabled, closes its breaker and calls `on-enable`.
    pub async fn enable(&self) -> Result<(), CallError> {
        self.breaker().reset();
        self.inner.breaker_open.store(false, Ordering::Release);
        self.inner.enabled.store(true, Ordering::Release);
        self.call_optional(Hook::OnEnable, |store, exports, _| {
            Box::pin(async move { exports.lifecycle.call_on_enable(store).await })
        })
        .await
    }

    /// Marks a plugin disabled without calling `on-disable`: for restoring a saved state when
    /// a plugin is loaded (or a new version replaces a disabled one), before it is installed.
    pub fn restore_disabled(&self) {
        self.inner.enabled.store(false, Ordering::Release);
    }

    /// Whether an operator disabled the plugin (its breaker aside).
    pub fn is_disabled_by_operator(&self) -> bool {
        !self.inner.enabled.load(Ordering::Acquire)
    }

    /// Calls `on-disable`, then marks the plugin disabled: later calls fail with
    /// [`CallErrorKind::Disabled`]. Calls already running finish.
    pub async fn disable(&self) -> Result<(), CallError> {
        let result = self
            .call_optional(Hook::OnDisable, |store, exports, _| {
                Box::pin(async move { exports.lifecycle.call_on_disable(store).await })
            })
            .await;
        self.inner.enabled.store(false, Ordering::Release);
        result
    }

    /// Calls `shutdown` and drops the warm instances. The plugin stays usable (a new call
    /// starts a fresh instance), so the caller should stop routing calls to it first.
    pub async fn shutdown(&self) -> Result<(), CallError> {
        let result = self
            .call_optional(Hook::Shutdown, |store, exports, _| {
                Box::pin(async move { exports.lifecycle.call_shutdown(store).await })
            })
            .await;
        self.idle().clear();
        result
    }

    async fn call_optional<'c>(
        &self,
        hook: Hook,
        call: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            &'a Exports,
            Scope<'a, 'c>,
        ) -> BoxFuture<'a, wasmtime::Result<()>>
        + Send
        + 'c,
    ) -> Result<(), CallError> {
        if !self.implements(hook) {
            return Ok(());
        }
        self.invoke_unchecked(hook, None, call).await
    }

    /// The plugin's health: its own report when it implements `health`, otherwise one the
    /// host derives from its state. A disabled or failed plugin is reported as such
    /// without being called.
    pub async fn health(&self) -> HealthReport {
        let status = self.status();
        if status.breaker.state == crate::breaker::BreakerState::Open {
            let last = status.breaker.last_fault.map(|fault| fault.error).unwrap_or_default();
            return HealthReport {
                status: HealthStatus::Unhealthy,
                message: format!("disabled by its circuit breaker; last fault: {last}"),
                details: serde_json::json!({"faults": status.faults}),
            };
        }
        if !status.enabled {
            return HealthReport {
                status: HealthStatus::Unhealthy,
                message: "disabled".into(),
                details: serde_json::json!({}),
            };
        }
        if !self.implements(Hook::Health) {
            return HealthReport {
                status: HealthStatus::Healthy,
                message: "loaded (the plugin reports no health of its own)".into(),
                details: serde_json::json!({"calls": status.calls, "faults": status.faults}),
            };
        }
        let result = self
            .invoke(Hook::Health, None, |store, exports, _| {
                Box::pin(async move { exports.lifecycle.call_health(store).await })
            })
            .await;
        match result {
            Ok(report) => report.into(),
            Err(error) => HealthReport {
                status: HealthStatus::Unhealthy,
                message: error.to_string(),
                details: serde_json::json!({"code": error.kind.code()}),
            },
        }
    }

    /// Runs the plugin's self-tests.
    pub async fn self_test(&self) -> Result<Vec<SelfTestResult>, CallError> {
        let results = self
            .invoke(Hook::SelfTest, None, |store, exports, _| {
                Box::pin(async move { exports.lifecycle.call_self_test(store).await })
            })
            .await?;
        Ok(results.into_iter().map(Into::into).collect())
    }

    /// `filters.before-prompt`.
    pub async fn before_prompt(&self, context: &CallContext, prompt: &str) -> Result<FilterOutcome, CallError> {
        self.before_prompt_with(context, &AbiContext::new(context), prompt).await
    }

    /// `filters.before-prompt` with the context already converted (a chain converts it once).
    pub(crate) async fn before_prompt_with(
        &self,
        context: &CallContext,
        abi_context: &AbiContext,
        prompt: &str,
    ) -> Result<FilterOutcome, CallError> {
        let wctx = &abi_context.0;
        let outcome = self
            .invoke(Hook::BeforePrompt, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_before_prompt(store, wctx, prompt).await })
            })
            .await?;
        self.check_filter_output(Hook::BeforePrompt, outcome.into())
    }

    /// `filters.after-response`.
    pub async fn after_response(&self, context: &CallContext, response: &str) -> Result<FilterOutcome, CallError> {
        self.after_response_with(context, &AbiContext::new(context), response).await
    }

    /// `filters.after-response` with the context already converted.
    pub(crate) async fn after_response_with(
        &self,
        context: &CallContext,
        abi_context: &AbiContext,
        response: &str,
    ) -> Result<FilterOutcome, CallError> {
        let wctx = &abi_context.0;
        let outcome = self
            .invoke(Hook::AfterResponse, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_after_response(store, wctx, response).await })
            })
            .await?;
        self.check_filter_output(Hook::AfterResponse, outcome.into())
    }

    /// `filters.stream-chunk`.
    pub async fn stream_chunk(&self, context: &CallContext, chunk: &str) -> Result<String, CallError> {
        let wctx = wit::CallContext::from(context);
        let text = self
            .invoke(Hook::StreamChunk, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_stream_chunk(store, &wctx, chunk).await })
            })
            .await?;
        self.check_size(Hook::StreamChunk, text.len())?;
        Ok(text)
    }

    /// `filters.before-request`.
    pub async fn before_request(
        &self,
        context: &CallContext,
        request: HttpRequest,
    ) -> Result<RequestOutcome, CallError> {
        let wctx = wit::CallContext::from(context);
        let request = wit::HttpRequest::from(request);
        let outcome = self
            .invoke(Hook::BeforeRequest, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_before_request(store, &wctx, &request).await })
            })
            .await?;
        Ok(outcome.into())
    }

    /// `filters.after-request`.
    pub async fn after_request(
        &self,
        context: &CallContext,
        request: HttpRequest,
        response: HttpResponse,
    ) -> Result<ResponseOutcome, CallError> {
        let wctx = wit::CallContext::from(context);
        let (request, response) = (wit::HttpRequest::from(request), wit::HttpResponse::from(response));
        let outcome = self
            .invoke(Hook::AfterRequest, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_after_request(store, &wctx, &request, &response).await })
            })
            .await?;
        Ok(outcome.into())
    }

    /// `events.on-event`.
    pub async fn on_event(&self, context: &CallContext, event: Event) -> Result<(), CallError> {
        self.on_event_with(context, &AbiContext::new(context), &AbiEvent::new(event)).await
    }

    /// `events.on-event` with the context and event already converted (a delivery to
    /// many plugins converts them once).
    pub(crate) async fn on_event_with(
        &self,
        context: &CallContext,
        abi_context: &AbiContext,
        event: &AbiEvent,
    ) -> Result<(), CallError> {
        let (wctx, event) = (&abi_context.0, &event.0);
        self.invoke(Hook::Events, Some(context), |store, exports, _| {
            Box::pin(async move { exports.events()?.call_on_event(store, wctx, event).await })
        })
        .await
    }

    /// `events.message-will-be-posted`.
    pub async fn message_will_be_posted(
        &self,
        context: &CallContext,
        message: Message,
    ) -> Result<FilterOutcome, CallError> {
        self.message_will_be_posted_with(context, &AbiContext::new(context), message).await
    }

    /// `events.message-will-be-posted` with the context already converted.
    pub(crate) async fn message_will_be_posted_with(
        &self,
        context: &CallContext,
        abi_context: &AbiContext,
        message: Message,
    ) -> Result<FilterOutcome, CallError> {
        let wctx = &abi_context.0;
        let message = wit::Message::from(message);
        let outcome = self
            .invoke(Hook::MessageWillBePosted, Some(context), |store, exports, _| {
                Box::pin(async move { exports.events()?.call_message_will_be_posted(store, wctx, &message).await })
            })
            .await?;
        self.check_filter_output(Hook::MessageWillBePosted, outcome.into())
    }

    /// The plugin's tools, as listed when it loaded.
    pub fn tools(&self) -> Vec<ToolSpec> {
        self.inner.tools.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// `tools.call-tool`. A tool's own error is [`CallErrorKind::Plugin`].
    pub async fn call_tool(
        &self,
        context: &CallContext,
        name: &str,
        arguments: serde_json::Value,
    ) -> Result<String, CallError> {
        let wctx = wit::CallContext::from(context);
        let arguments = arguments.to_string();
        let result = self
            .invoke(Hook::Tools, Some(context), |store, exports, _| {
                Box::pin(async move { exports.tools()?.call_call_tool(store, &wctx, name, &arguments).await })
            })
            .await?;
        let text = result.map_err(|message| self.error(Hook::Tools, CallErrorKind::Plugin { message }))?;
        self.check_size(Hook::Tools, text.len())?;
        Ok(text)
    }

    /// Seed 002's runner: `/run <plugin> <input>` calls the plugin's first tool with
    /// `{"input": <input>}`.
    pub async fn run_with_input(&self, context: &CallContext, input: &str) -> Result<String, CallError> {
        let Some(tool) = self.tools().into_iter().next() else {
            return Err(self.error(Hook::Tools, CallErrorKind::NotImplemented));
        };
        self.call_tool(context, &tool.name, serde_json::json!({ "input": input })).await
    }

    /// `provider.list-models`.
    pub async fn list_models(&self) -> Result<Vec<ModelInfo>, CallError> {
        let models = self
            .invoke(Hook::Provider, None, |store, exports, _| {
                Box::pin(async move { exports.provider()?.call_list_models(store).await })
            })
            .await?;
        Ok(models.into_iter().map(Into::into).collect())
    }

    /// `provider.complete`: streams chunks into `sink` as the plugin emits them. When the
    /// receiver is dropped, the plugin is told the client went away.
    pub async fn complete(
        &self,
        request: CompletionRequest,
        sink: tokio::sync::mpsc::Sender<CompletionChunk>,
    ) -> Result<Completion, CallError> {
        let request = wit::CompletionRequest::from(request);
        let result = self
            .invoke_with_sink(Hook::Provider, Some(sink), |store, exports, _| {
                Box::pin(async move { exports.provider()?.call_complete(store, &request).await })
            })
            .await?;
        let completion = result.map_err(|message| self.error(Hook::Provider, CallErrorKind::Plugin { message }))?;
        self.check_size(Hook::Provider, completion.content.len())?;
        Ok(completion.into())
    }

    /// The export formats, as listed when the plugin loaded.
    pub fn export_formats(&self) -> Vec<ExportFormat> {
        self.inner.export_formats.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// `exporter.export-conversation`.
    pub async fn export(
        &self,
        format: &str,
        conversation: Conversation,
        messages: Vec<Message>,
    ) -> Result<ExportFile, CallError> {
        let conversation = wit::Conversation::from(conversation);
        let messages: Vec<wit::Message> = messages.into_iter().map(Into::into).collect();
        let result = self
            .invoke(Hook::Exporter, None, |store, exports, _| {
                Box::pin(async move {
                    exports.exporter()?.call_export_conversation(store, format, &conversation, &messages).await
                })
            })
            .await?;
        let file = result.map_err(|message| self.error(Hook::Exporter, CallErrorKind::Plugin { message }))?;
        self.check_size(Hook::Exporter, file.data.len())?;
        Ok(file.into())
    }

    /// `http-handler.handle`.
    pub async fn handle_http(&self, context: &CallContext, request: HttpRequest) -> Result<HttpResponse, CallError> {
        let wctx = wit::CallContext::from(context);
        let request = wit::HttpRequest::from(request);
        let response = self
            .invoke(Hook::Http, Some(context), |store, exports, _| {
                Box::pin(async move { exports.http()?.call_handle(store, &wctx, &request).await })
            })
            .await?;
        self.check_size(Hook::Http, response.body.len())?;
        if !(100..=599).contains(&response.status) {
            let message = format!("status {} is not an HTTP status", response.status);
            return Err(self.fault(Hook::Http, CallErrorKind::InvalidOutput { message }));
        }
        Ok(response.into())
    }

    /// `commands.run-command`.
    pub async fn run_command(&self, context: &CallContext, name: &str, arguments: &str) -> Result<String, CallError> {
        let wctx = wit::CallContext::from(context);
        let result = self
            .invoke(Hook::Commands, Some(context), |store, exports, _| {
                Box::pin(async move { exports.commands()?.call_run_command(store, &wctx, name, arguments).await })
            })
            .await?;
        let text = result.map_err(|message| self.error(Hook::Commands, CallErrorKind::Plugin { message }))?;
        self.check_size(Hook::Commands, text.len())?;
        Ok(text)
    }

    /// `scheduler.run-task`.
    pub async fn run_task(&self, name: &str, scheduled_at_ms: u64) -> Result<(), CallError> {
        let result = self
            .invoke(Hook::Scheduled, None, |store, exports, _| {
                Box::pin(async move { exports.scheduler()?.call_run_task(store, name, scheduled_at_ms).await })
            })
            .await?;
        result.map_err(|message| self.error(Hook::Scheduled, CallErrorKind::Plugin { message }))
    }

    /// Every error of a call is made here, and counted as
    /// `plugboard_plugin_errors_total` (by plugin, hook and error code).
    pub(crate) fn error(&self, hook: Hook, kind: CallErrorKind) -> CallError {
        metrics::counter!("plugboard_plugin_errors_total", "plugin" => self.id().to_string(), "hook" => hook.as_str(), "code" => kind.code())
            .increment(1);
        CallError { plugin: self.id().clone(), hook, kind }
    }

    fn check_size(&self, hook: Hook, size: usize) -> Result<(), CallError> {
        let limit = self.inner.shared.max_output_bytes;
        if size > limit {
            return Err(self.fault(hook, CallErrorKind::OutputTooLarge { size, limit }));
        }
        Ok(())
    }

    fn check_filter_output(&self, hook: Hook, outcome: FilterOutcome) -> Result<FilterOutcome, CallError> {
        if let FilterOutcome::Rewrite(text) | FilterOutcome::Reject(text) = &outcome {
            self.check_size(hook, text.len())?;
        }
        Ok(outcome)
    }

    /// Records a fault found after the call returned (an oversized or invalid result).
    fn fault(&self, hook: Hook, kind: CallErrorKind) -> CallError {
        let error = self.error(hook, kind);
        self.record_fault(&error);
        error
    }

    fn record_fault(&self, error: &CallError) {
        self.inner.faults.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(plugin = %self.id(), hook = %error.hook, code = error.kind.code(), "{error}");
        let opened = self.breaker().record_fault(error.to_string());
        if opened {
            self.inner.breaker_open.store(true, Ordering::Release);
        }
        let Some(runtime) = self.inner.shared.runtime.upgrade() else { return };
        runtime.emit(RuntimeEvent::Fault {
            plugin: self.id().clone(),
            version: self.version().to_string(),
            error: error.to_string(),
        });
        if opened {
            tracing::error!(plugin = %self.id(), "circuit breaker opened: the plugin is disabled until an operator re-enables it");
            runtime.emit(RuntimeEvent::BreakerOpened { plugin: self.id().clone(), last_error: error.to_string() });
        }
    }

    async fn invoke<'c, R: Send>(
        &self,
        hook: Hook,
        context: Option<&CallContext>,
        call: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            &'a Exports,
            Scope<'a, 'c>,
        ) -> BoxFuture<'a, wasmtime::Result<R>>
        + Send
        + 'c,
    ) -> Result<R, CallError> {
        if !self.implements(hook) {
            return Err(self.error(hook, CallErrorKind::NotImplemented));
        }
        self.invoke_unchecked(hook, context, call).await
    }

    async fn invoke_unchecked<'c, R: Send>(
        &self,
        hook: Hook,
        context: Option<&CallContext>,
        call: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            &'a Exports,
            Scope<'a, 'c>,
        ) -> BoxFuture<'a, wasmtime::Result<R>>
        + Send
        + 'c,
    ) -> Result<R, CallError> {
        self.run(hook, context, None, true, call).await
    }

    /// A call the host makes for itself (listing tools at load): not charged to the
    /// plugin's rate limit.
    async fn invoke_internal<'c, R: Send>(
        &self,
        hook: Hook,
        call: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            &'a Exports,
            Scope<'a, 'c>,
        ) -> BoxFuture<'a, wasmtime::Result<R>>
        + Send
        + 'c,
    ) -> Result<R, CallError> {
        self.run(hook, None, None, false, call).await
    }

    async fn invoke_with_sink<'c, R: Send>(
        &self,
        hook: Hook,
        sink: Option<ChunkSender>,
        call: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            &'a Exports,
            Scope<'a, 'c>,
        ) -> BoxFuture<'a, wasmtime::Result<R>>
        + Send
        + 'c,
    ) -> Result<R, CallError> {
        if !self.implements(hook) {
            return Err(self.error(hook, CallErrorKind::NotImplemented));
        }
        self.run(hook, None, sink, true, call).await
    }

    /// The one call path, counted and timed in the plugin's call statistics
    /// ([`crate::Runtime::call_stats`]).
    async fn run<'c, R: Send>(
        &self,
        hook: Hook,
        context: Option<&CallContext>,
        sink: Option<ChunkSender>,
        charge: bool,
        call: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            &'a Exports,
            Scope<'a, 'c>,
        ) -> BoxFuture<'a, wasmtime::Result<R>>
        + Send
        + 'c,
    ) -> Result<R, CallError> {
        let started = Instant::now();
        let result = self.run_unmeasured(hook, context, sink, charge, call).await;
        self.inner.stats.record(hook, started.elapsed());
        result
    }

    /// Gatekeeping, an instance, the deadline, fault handling.
    async fn run_unmeasured<'c, R: Send>(
        &self,
        hook: Hook,
        context: Option<&CallContext>,
        sink: Option<ChunkSender>,
        charge: bool,
        call: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            &'a Exports,
            Scope<'a, 'c>,
        ) -> BoxFuture<'a, wasmtime::Result<R>>
        + Send
        + 'c,
    ) -> Result<R, CallError> {
        let lifecycle = matches!(hook, Hook::OnEnable | Hook::OnDisable | Hook::Shutdown);
        if !lifecycle {
            if !self.inner.enabled.load(Ordering::Acquire) {
                return Err(self.error(hook, CallErrorKind::Disabled));
            }
            if self.inner.breaker_open.load(Ordering::Acquire) {
                let mut breaker = self.breaker();
                let status = breaker.status();
                let kind = CallErrorKind::BreakerOpen {
                    faults: status.recent_faults,
                    window: breaker.window(),
                    last_error: status.last_fault.map(|fault| fault.error).unwrap_or_default(),
                };
                return Err(self.error(hook, kind));
            }
        }
        if let Some(rate) = self.inner.rate.as_ref().filter(|_| charge && !lifecycle) {
            let mut rate = rate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !rate.try_take() {
                return Err(self.error(hook, CallErrorKind::RateLimited { per_minute: rate.per_minute }));
            }
        }
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let timeout = self.inner.limits.timeout;
        let started = Instant::now();
        let _permit = match self.inner.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => match tokio::time::timeout(timeout, self.inner.permits.acquire()).await {
                Ok(Ok(permit)) => permit,
                _ => return Err(self.error(hook, CallErrorKind::Busy)),
            },
        };

        let generation = self.inner.settings_generation.load(Ordering::Acquire);
        let mut instance = match self.take_idle(generation) {
            Some(instance) => instance,
            // Boxed: the cold path's future (instantiation, `init`) is several times the
            // size of a warm call's, and every call's future would otherwise carry it.
            None => match Box::pin(self.new_start(hook)).await {
                Ok(instance) => instance,
                Err(kind) => {
                    let error = self.error(hook, kind);
                    if error.kind.is_fault() {
                        self.record_fault(&error);
                    }
                    return Err(error);
                }
            },
        };
        // The deadline counts from the start of the call, waiting and instantiation included.
        let deadline = started + timeout;
        {
            let state = instance.store.data_mut();
            state.deadline = deadline;
            // The call's context goes with it: host services act for its user (chat data
            // is limited to theirs) and a call to another plugin's tool passes it on.
            // Copied into the instance's own strings, which keep their capacity.
            set_context(&mut state.context, context);
            state.sink = sink;
            state.streamed_bytes = 0;
            state.stderr.clear_tail();
        }
        // Count the deadline's epochs from now, not from when the instance last ran (an
        // idle instance would otherwise hit its epoch check at once and yield needlessly).
        instance.store.set_epoch_deadline(1);
        // The epoch callback stops wasm at the deadline; this backstop also stops a call
        // stuck in a host service (every service already honours the deadline).
        let backstop = tokio::time::Instant::from_std(deadline + self.inner.epoch_tick * 4);
        let Instance { store, exports, .. } = &mut instance;
        let outcome = tokio::time::timeout_at(backstop, call(store, exports, PhantomData)).await;
        let result = match outcome {
            Ok(Ok(value)) => {
                instance.store.data_mut().sink = None;
                self.release_with(instance, generation);
                return Ok(value);
            }
            Ok(Err(error)) => self.classify(&error, &instance.store),
            Err(_) => CallErrorKind::Deadline { timeout },
        };
        let error = self.error(hook, result);
        self.record_fault(&error);
        Err(error)
    }

    /// A fresh instance with the current settings. When every pooling-allocator slot is
    /// taken, the warm instances of all plugins are dropped to make room, and it tries once more.
    async fn new_start(&self, hook: Hook) -> Result<Instance, CallErrorKind> {
        let settings = self.current_settings();
        self.new_instance_making_room(hook, settings.json.clone(), Some(settings.generation)).await
    }

    async fn new_instance_making_room(
        &self,
        hook: Hook,
        settings_json: Arc<str>,
        generation: Option<u64>,
    ) -> Result<Instance, CallErrorKind> {
        match self.new_instance(hook, settings_json.clone(), generation).await {
            Err(CallErrorKind::Busy) => {
                if let Some(runtime) = self.inner.shared.runtime.upgrade() {
                    runtime.drop_idle_instances();
                }
                self.new_instance(hook, settings_json, generation).await
            }
            result => result,
        }
    }

    /// Drops the warm instances, freeing their slots.
    pub(crate) fn drop_idle(&self) {
        self.idle().clear();
    }

    fn take_idle(&self, generation: u64) -> Option<Instance> {
        let mut idle = self.idle();
        while let Some(instance) = idle.pop() {
            if instance.settings_generation == generation {
                return Some(instance);
            }
            // Stale settings: drop it; a fresh instance is initialised with the new ones.
        }
        None
    }

    fn release(&self, instance: Instance) {
        let current = self.inner.settings_generation.load(Ordering::Acquire);
        self.release_with(instance, current);
    }

    /// Returns `instance` to the pool if it belongs to settings generation `current`
    /// (settings that changed during the call make it stale; a later call drops it).
    fn release_with(&self, instance: Instance, current: u64) {
        let mut idle = self.idle();
        if instance.settings_generation == current && idle.len() < self.inner.max_idle {
            idle.push(instance);
        }
    }

    /// A fresh instance, initialised with `settings_json`. `generation` is the settings
    /// generation it belongs to; `None` for a trial instance.
    async fn new_instance(
        &self,
        hook: Hook,
        settings_json: Arc<str>,
        generation: Option<u64>,
    ) -> Result<Instance, CallErrorKind> {
        let inner = &self.inner;
        let timeout = inner.limits.timeout;
        let state = HostState::new(inner.shared.clone(), inner.limits.memory_bytes, settings_json.clone());
        let mut store = Store::new(inner.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|context| {
            if Instant::now() >= context.data().deadline {
                Err(DeadlineExceeded.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.data_mut().deadline = Instant::now() + timeout;
        let backstop = timeout + inner.epoch_tick * 4;
        let start = async {
            let instance = inner.pre.instantiate_async(&mut store).await?;
            let exports = inner.indices.load(&mut store, &instance)?;
            let init = exports.lifecycle.call_init(&mut store, &settings_json).await?;
            wasmtime::Result::Ok((exports, init))
        };
        let (exports, init) = match tokio::time::timeout(backstop, start).await {
            Ok(Ok(started)) => started,
            Ok(Err(error)) => {
                return Err(match self.classify(&error, &store) {
                    CallErrorKind::Trap { message } if hook != Hook::Init => CallErrorKind::Instantiate { message },
                    kind => kind,
                });
            }
            Err(_) => return Err(CallErrorKind::Deadline { timeout }),
        };
        if let Err(message) = init {
            return Err(CallErrorKind::InitRefused { message });
        }
        Ok(Instance { store, exports, settings_generation: generation.unwrap_or(u64::MAX) })
    }

    fn classify(&self, error: &wasmtime::Error, store: &Store<HostState>) -> CallErrorKind {
        // Every pooling-allocator slot is taken: the host is busy, the plugin did nothing wrong.
        if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
            return CallErrorKind::Busy;
        }
        if error.downcast_ref::<DeadlineExceeded>().is_some() {
            return CallErrorKind::Deadline { timeout: self.inner.limits.timeout };
        }
        if error.downcast_ref::<MemoryLimitExceeded>().is_some() {
            return CallErrorKind::MemoryLimit { limit_bytes: self.inner.limits.memory_bytes };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::StackOverflow) => CallErrorKind::StackOverflow,
            Some(Trap::Interrupt) => CallErrorKind::Deadline { timeout: self.inner.limits.timeout },
            Some(Trap::UnreachableCodeReached) => match store.data().stderr.panic_message() {
                Some(message) => CallErrorKind::Panic { message },
                None => CallErrorKind::Trap { message: "executed an `unreachable` instruction".into() },
            },
            Some(trap) => CallErrorKind::Trap { message: trap.to_string() },
            None => CallErrorKind::Trap { message: format!("{error:#}") },
        }
    }

    /// Loads the tool and export-format lists (called once, at load).
    pub(crate) async fn load_listings(&self) -> Result<(), CallError> {
        if self.implements(Hook::Tools) {
            let specs = self
                .invoke_internal(Hook::Tools, |store, exports, _| {
                    Box::pin(async move { exports.tools()?.call_list_tools(store).await })
                })
                .await?;
            let mut tools = Vec::new();
            for spec in specs {
                let spec = crate::abi::tool_spec(spec)
                    .map_err(|message| self.fault(Hook::Tools, CallErrorKind::InvalidOutput { message }))?;
                tools.push(spec);
            }
            *self.inner.tools.write().unwrap_or_else(std::sync::PoisonError::into_inner) = tools;
        }
        if self.implements(Hook::Exporter) {
            let formats = self
                .invoke_internal(Hook::Exporter, |store, exports, _| {
                    Box::pin(async move { exports.exporter()?.call_list_formats(store).await })
                })
                .await?;
            *self.inner.export_formats.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                formats.into_iter().map(Into::into).collect();
        }
        Ok(())
    }

    /// Starts the first instance (proving the component instantiates and accepts its
    /// settings) and asks it which hooks it implements.
    pub(crate) async fn start(&self) -> Result<BTreeSet<Hook>, CallError> {
        let mut instance = self.new_start(Hook::Init).await.map_err(|kind| self.error(Hook::Init, kind))?;
        instance.store.data_mut().deadline = Instant::now() + self.inner.limits.timeout;
        let Instance { store, exports, .. } = &mut instance;
        let declared = exports
            .lifecycle
            .call_implemented_hooks(&mut *store)
            .await
            .map_err(|error| self.error(Hook::Init, self.classify(&error, store)))?;
        self.release(instance);
        Ok(declared.into_iter().map(crate::abi::hook).collect())
    }

    /// Sets the hooks the host may call (after `start` asked the component).
    pub(crate) fn set_hooks(&self, hooks: &BTreeSet<Hook>) {
        self.inner.hooks.store(mask(hooks), Ordering::Relaxed);
    }
}

/// Why new settings were not taken.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// They break the schema; every violation is listed.
    #[error("invalid settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SettingsViolation>),
    /// The plugin's `init` refused them (or failed).
    #[error(transparent)]
    Refused(CallError),
}
