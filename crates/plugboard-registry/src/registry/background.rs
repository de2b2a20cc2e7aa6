//! The registry's background tasks, started with it and stopped when it is dropped: the
//! event dispatcher (faults recorded, an opened breaker remembered, lifecycle events
//! delivered to other plugins) and the sweeper of expired key-value entries.

use std::sync::Weak;

use plugboard_host::api::{CallContext, Event};
use plugboard_host::{Plugin, RuntimeEvent, deliver_event};
use plugboard_store::FaultEntry;
use tokio::sync::broadcast;

use super::{Inner, now_ms, save_record};

/// How often expired key-value entries are deleted (reads already ignore them).
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Follows the runtime's events: records faults, remembers an opened circuit breaker,
/// and tells plugins that implement the event hook about other plugins' lifecycle.
pub(super) async fn dispatch_events(registry: Weak<Inner>, mut events: broadcast::Receiver<RuntimeEvent>) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!("the plugin event dispatcher fell behind and skipped {missed} events");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(inner) = registry.upgrade() else { return };
        let (subject, plugin_event) = match event {
            RuntimeEvent::Fault { plugin, version, error } => {
                // The error may quote the plugin (a panic's message): no NUL is stored.
                let error = plugboard_store::without_nul(error);
                let fault = FaultEntry { plugin: plugin.to_string(), version, at_ms: now_ms(), error };
                if let Err(error) = inner.store.record_fault(&fault).await {
                    tracing::error!(plugin = %plugin, "cannot record the fault: {error}");
                }
                continue;
            }
            RuntimeEvent::BreakerOpened { plugin, last_error } => {
                let reason = format!("its circuit breaker opened after repeated faults; the last: {last_error}");
                let saved = save_record(inner.store.as_ref(), &plugin, false, |record| {
                    record.enabled = false;
                    record.disabled_reason = Some(reason);
                })
                .await;
                if let Err(error) = saved {
                    tracing::error!(plugin = %plugin, "cannot remember that the breaker opened: {error}");
                }
                (plugin.to_string(), Event::PluginDisabled(plugin.to_string()))
            }
            RuntimeEvent::Loaded { plugin, .. } => (plugin.to_string(), Event::PluginLoaded(plugin.to_string())),
            RuntimeEvent::Unloaded { plugin } => (plugin.to_string(), Event::PluginUnloaded(plugin.to_string())),
            RuntimeEvent::Enabled { plugin } => (plugin.to_string(), Event::PluginEnabled(plugin.to_string())),
            RuntimeEvent::Disabled { plugin, .. } => (plugin.to_string(), Event::PluginDisabled(plugin.to_string())),
            RuntimeEvent::Failed { plugin, error } => (plugin.clone(), Event::PluginFailed { plugin, error }),
            RuntimeEvent::SettingsChanged { .. } => continue,
        };
        // The plugin an event is about learns of it through its own lifecycle hooks.
        let others: Vec<Plugin> =
            inner.runtime.plugins().into_iter().filter(|plugin| plugin.id().as_str() != subject).collect();
        drop(inner);
        deliver_event(&others, &CallContext::default(), &plugin_event).await;
    }
}

/// Deletes expired key-value entries now and then, so the database does not grow with
/// data no reader can see.
pub(super) async fn purge_expired(registry: Weak<Inner>) {
    let mut ticks = tokio::time::interval(PURGE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = registry.upgrade() else { return };
        match inner.store.purge_expired().await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!("deleted {purged} expired key-value entries"),
            Err(error) => tracing::warn!("cannot delete expired key-value entries: {error}"),
        }
    }
}
