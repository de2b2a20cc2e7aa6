//! The lifecycle hooks (enable, disable, shutdown, health, self-test) and the steps the
//! runtime takes once when it loads a plugin (start the first instance, ask which hooks it
//! implements, list its tools and export formats).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Instant;

use wasmtime::Store;

use super::call::{BoxFuture, Scope};
use super::exports::Exports;
use super::pool::Instance;
use super::{Plugin, mask};
use crate::api::{HealthReport, HealthStatus, Hook, SelfTestResult};
use crate::error::{CallError, CallErrorKind};
use crate::state::HostState;

impl Plugin {
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
            .map_err(|error| self.error(Hook::Init, self.classify(&error, store, self.inner.limits.timeout)))?;
        self.release(instance);
        Ok(declared.into_iter().map(crate::abi::hook).collect())
    }

    /// Sets the hooks the host may call (after `start` asked the component).
    pub(crate) fn set_hooks(&self, hooks: &BTreeSet<Hook>) {
        self.inner.hooks.store(mask(hooks), Ordering::Relaxed);
    }
}
