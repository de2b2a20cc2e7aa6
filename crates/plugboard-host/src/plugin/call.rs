//! The one call path every hook goes through (`run`): the enabled and breaker checks, the
//! rate limit, a concurrency permit, a warm or fresh instance, the deadline, and fault
//! classification; and where a call's errors are made, counted and recorded against the
//! circuit breaker. The hook methods only say which export to call and check its output.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap};

use super::Plugin;
use super::exports::Exports;
use super::pool::Instance;
use crate::api::{CallContext, FilterOutcome, Hook};
use crate::error::{CallError, CallErrorKind};
use crate::events::RuntimeEvent;
use crate::state::{ChunkSender, DeadlineExceeded, HostState, MemoryLimitExceeded};

pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Ties a call's store borrow `'a` to the caller's borrows `'c` (`'c: 'a` is implied by
/// the type), so hook closures can capture references instead of copying their inputs.
pub(super) type Scope<'a, 'c> = PhantomData<&'a &'c ()>;

/// A plugin's own limit, `per_minute` calls with bursts of as many, refilled continuously:
/// governor's GCRA (the server limits users with the same crate), lock-free.
pub(super) struct RateLimit {
    per_minute: u32,
    limiter: governor::DefaultDirectRateLimiter,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").field("per_minute", &self.per_minute).finish_non_exhaustive()
    }
}

impl RateLimit {
    /// `per_minute` calls a minute; `None` for 0 (no call at all would pass, which the
    /// manifest's validation already refuses).
    pub(super) fn new(per_minute: u32) -> Option<RateLimit> {
        let rate = std::num::NonZeroU32::new(per_minute)?;
        let limiter = governor::RateLimiter::direct(governor::Quota::per_minute(rate));
        Some(RateLimit { per_minute, limiter })
    }

    fn try_take(&self) -> bool {
        self.limiter.check().is_ok()
    }
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

/// What [`Plugin::invoke_with`] adds to a call.
#[derive(Default)]
pub(super) struct CallOptions {
    /// Where streamed pieces go.
    pub(super) sink: Option<ChunkSender>,
    /// The call's deadline instead of the plugin's.
    pub(super) timeout: Option<Duration>,
}

impl Plugin {
    /// Every error of a call is made here, and counted as
    /// `plugboard_plugin_errors_total` (by plugin, hook and error code).
    pub(crate) fn error(&self, hook: Hook, kind: CallErrorKind) -> CallError {
        metrics::counter!("plugboard_plugin_errors_total", "plugin" => self.id().to_string(), "hook" => hook.as_str(), "code" => kind.code())
            .increment(1);
        CallError { plugin: self.id().clone(), hook, kind }
    }

    pub(super) fn check_size(&self, hook: Hook, size: usize) -> Result<(), CallError> {
        let limit = self.inner.shared.max_output_bytes;
        if size > limit {
            return Err(self.fault(hook, CallErrorKind::OutputTooLarge { size, limit }));
        }
        Ok(())
    }

    pub(super) fn check_filter_output(&self, hook: Hook, outcome: FilterOutcome) -> Result<FilterOutcome, CallError> {
        if let FilterOutcome::Rewrite(text) | FilterOutcome::Reject(text) = &outcome {
            self.check_size(hook, text.len())?;
        }
        Ok(outcome)
    }

    /// Records a fault found after the call returned (an oversized or invalid result).
    pub(super) fn fault(&self, hook: Hook, kind: CallErrorKind) -> CallError {
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

    pub(super) async fn invoke<'c, R: Send>(
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

    pub(super) async fn invoke_unchecked<'c, R: Send>(
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
        self.run(hook, context, None, true, None, call).await
    }

    /// A call the host makes for itself (listing tools at load): not charged to the
    /// plugin's rate limit.
    pub(super) async fn invoke_internal<'c, R: Send>(
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
        self.run(hook, None, None, false, None, call).await
    }

    /// A call with a sink for streamed pieces (a provider's completion) or its own
    /// deadline (a scheduled task's).
    pub(super) async fn invoke_with<'c, R: Send>(
        &self,
        hook: Hook,
        options: CallOptions,
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
        self.run(hook, None, options.sink, true, options.timeout, call).await
    }

    /// The one call path, counted and timed in the plugin's call statistics
    /// ([`crate::Runtime::call_stats`]).
    async fn run<'c, R: Send>(
        &self,
        hook: Hook,
        context: Option<&CallContext>,
        sink: Option<ChunkSender>,
        charge: bool,
        timeout: Option<Duration>,
        call: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            &'a Exports,
            Scope<'a, 'c>,
        ) -> BoxFuture<'a, wasmtime::Result<R>>
        + Send
        + 'c,
    ) -> Result<R, CallError> {
        let started = Instant::now();
        let result = self.run_unmeasured(hook, context, sink, charge, timeout, call).await;
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
        timeout: Option<Duration>,
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
        if let Some(rate) = self.inner.rate.as_ref().filter(|_| charge && !lifecycle)
            && !rate.try_take()
        {
            return Err(self.error(hook, CallErrorKind::RateLimited { per_minute: rate.per_minute }));
        }
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let timeout = timeout.unwrap_or(self.inner.limits.timeout);
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
            Ok(Err(error)) => self.classify(&error, &instance.store, timeout),
            Err(_) => CallErrorKind::Deadline { timeout },
        };
        let error = self.error(hook, result);
        self.record_fault(&error);
        Err(error)
    }

    pub(super) fn classify(
        &self,
        error: &wasmtime::Error,
        store: &Store<HostState>,
        timeout: Duration,
    ) -> CallErrorKind {
        // Every pooling-allocator slot is taken: the host is busy, the plugin did nothing wrong.
        if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
            return CallErrorKind::Busy;
        }
        if error.downcast_ref::<DeadlineExceeded>().is_some() {
            return CallErrorKind::Deadline { timeout };
        }
        if error.downcast_ref::<MemoryLimitExceeded>().is_some() {
            return CallErrorKind::MemoryLimit { limit_bytes: self.inner.limits.memory_bytes };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::StackOverflow) => CallErrorKind::StackOverflow,
            Some(Trap::Interrupt) => CallErrorKind::Deadline { timeout },
            Some(Trap::UnreachableCodeReached) => match store.data().stderr.panic_message() {
                Some(message) => CallErrorKind::Panic { message },
                None => CallErrorKind::Trap { message: "executed an `unreachable` instruction".into() },
            },
            Some(trap) => CallErrorKind::Trap { message: trap.to_string() },
            None => CallErrorKind::Trap { message: format!("{error:#}") },
        }
    }
}
