//! The warm instance pool: instances that finished a call normally wait here for the
//! next one, tagged with the settings generation they were initialised with; a fresh
//! instance is made (and `init` called) when none is warm, making room in the
//! pooling allocator when every slot is taken.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use wasmtime::{Store, UpdateDeadline};

use super::Plugin;
use super::exports::Exports;
use crate::api::Hook;
use crate::error::CallErrorKind;
use crate::state::{DeadlineExceeded, HostState};

pub(super) struct Instance {
    pub(super) store: Store<HostState>,
    pub(super) exports: Exports,
    pub(super) settings_generation: u64,
}

impl Plugin {
    pub(super) fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        self.inner.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh instance with the current settings. When every pooling-allocator slot is
    /// taken, the warm instances of all plugins are dropped to make room, and it tries once more.
    pub(super) async fn new_start(&self, hook: Hook) -> Result<Instance, CallErrorKind> {
        let settings = self.current_settings();
        self.new_instance_making_room(hook, settings.json.clone(), Some(settings.generation)).await
    }

    pub(super) async fn new_instance_making_room(
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

    pub(super) fn take_idle(&self, generation: u64) -> Option<Instance> {
        let mut idle = self.idle();
        while let Some(instance) = idle.pop() {
            if instance.settings_generation == generation {
                return Some(instance);
            }
            // Stale settings: drop it; a fresh instance is initialised with the new ones.
        }
        None
    }

    pub(super) fn release(&self, instance: Instance) {
        let current = self.inner.settings_generation.load(Ordering::Acquire);
        self.release_with(instance, current);
    }

    /// Returns `instance` to the pool if it belongs to settings generation `current`
    /// (settings that changed during the call make it stale; a later call drops it) and
    /// its memory is not nearly full (a fresh instance serves the next call instead).
    pub(super) fn release_with(&self, instance: Instance, current: u64) {
        if instance.store.data().limiter.nearly_full() {
            tracing::debug!(plugin = %self.inner.shared.manifest.id, "retiring an instance whose memory is nearly full");
            return;
        }
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
                return Err(match self.classify(&error, &store, timeout) {
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
}
