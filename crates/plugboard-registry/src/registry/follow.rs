//! Following the store: changes another process made to the saved plugin state (the
//! `plugboard plugin enable|disable` commands on the same data folder while a server runs,
//! or another server sharing the database) are applied here through the normal lifecycle
//! operations, and so are the packages another server installed.
//!
//! [`StoreFollower`] is the reusable step: it reads the plugin records, and applies those
//! that changed since it last looked with [`Registry::apply_stored_record`]. Here a task
//! calls it every two seconds (one small query when nothing changed), and at once when a
//! shared database notifies of a change.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use plugboard_manifest::{FailMode, PluginId};
use plugboard_store::{Notice, Notifications, PluginRecord, Topic};
use serde::Serialize;

use super::{Inner, Persist, Registry, lifecycle::parse_fail_mode, lock};
use crate::error::RegistryError;

/// How often the registry looks for changes another process saved.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);

/// What applying a saved record changed in the running registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "change", content = "to")]
pub enum StoredChange {
    /// The plugin was enabled.
    Enabled,
    /// The plugin was disabled.
    Disabled,
    /// Its filters' failure mode changed.
    FailMode(FailMode),
    /// Its settings changed.
    Settings,
}

/// Applies the plugin records that changed in the store since it last looked.
#[derive(Debug, Default)]
pub struct StoreFollower {
    /// The records as last seen; `None` before the first look.
    seen: Option<BTreeMap<String, PluginRecord>>,
}

impl StoreFollower {
    /// A follower that has not looked yet: its first [`StoreFollower::follow`] only takes
    /// note of the store's state, which the registry applied when it started.
    pub fn new() -> StoreFollower {
        StoreFollower::default()
    }

    /// Reads every plugin record and applies each one that changed since the last call
    /// (a failure is logged, and tried again when the record changes again). Returns what
    /// changed, by plugin.
    pub async fn follow(&mut self, registry: &Registry) -> Result<Vec<(PluginId, StoredChange)>, RegistryError> {
        let records = registry.inner.store.plugin_records().await?;
        let current: BTreeMap<String, PluginRecord> =
            records.into_iter().map(|record| (record.plugin.clone(), record)).collect();
        let Some(seen) = self.seen.replace(current.clone()) else { return Ok(Vec::new()) };
        let mut applied = Vec::new();
        for (plugin, record) in &current {
            if seen.get(plugin) == Some(record) {
                continue;
            }
            match registry.apply_stored_record(record, seen.get(plugin)).await {
                Ok(changes) => {
                    let Ok(id) = PluginId::parse(plugin) else { continue };
                    applied.extend(changes.into_iter().map(|change| (id.clone(), change)));
                }
                Err(error) => tracing::warn!(plugin = %plugin, "cannot apply the saved plugin state: {error}"),
            }
        }
        Ok(applied)
    }
}

impl Registry {
    /// Brings a plugin in line with its saved `record`, through the lifecycle operations:
    /// enables or disables it, applies the failure-mode override and the settings.
    /// `previous` is the record as last applied, if any: a record that turns `enabled` on
    /// again also closes an opened circuit breaker, and loads an installed plugin that is
    /// not loaded here (unloaded, or failed), as enabling does. Only what differs is done;
    /// otherwise a plugin that is not loaded here is left alone. Returns what changed.
    pub async fn apply_stored_record(
        &self,
        record: &PluginRecord,
        previous: Option<&PluginRecord>,
    ) -> Result<Vec<StoredChange>, RegistryError> {
        let Ok(id) = PluginId::parse(&record.plugin) else { return Ok(Vec::new()) };
        let enabled_again = previous.is_some_and(|previous| !previous.enabled);
        let Some(plugin) = self.inner.runtime.plugin(&id) else {
            let installed = lock(&self.inner.known).contains_key(&id);
            if record.enabled && enabled_again && installed {
                self.set_enabled(&id, Persist::Apply).await?;
                tracing::info!(plugin = %id, "loaded and enabled, as another process saved");
                return Ok(vec![StoredChange::Enabled]);
            }
            return Ok(Vec::new());
        };
        let mut changes = Vec::new();
        if let Some(mode) = record.fail_mode.as_deref().and_then(parse_fail_mode)
            && (mode == FailMode::Closed) != plugin.fails_closed()
        {
            plugin.set_fail_mode(mode);
            changes.push(StoredChange::FailMode(mode));
        }
        let saved = self.open_secrets(&id, record.settings.clone())?;
        if let Some(saved) = &saved
            && let Ok(wanted) = plugin.manifest().settings.validate(saved)
            && wanted != plugin.settings()
        {
            self.change_settings(&id, saved, Persist::Apply).await?;
            changes.push(StoredChange::Settings);
        }
        // An opened breaker is no operator's choice: it is undone only by a record that
        // turns `enabled` on again, never by one saved before the breaker's record was.
        if record.enabled && !plugin.is_enabled() && (plugin.is_disabled_by_operator() || enabled_again) {
            self.set_enabled(&id, Persist::Apply).await?;
            changes.push(StoredChange::Enabled);
        } else if !record.enabled && plugin.is_enabled() {
            self.set_disabled(&id, Persist::Apply).await?;
            changes.push(StoredChange::Disabled);
        }
        if !changes.is_empty() {
            tracing::info!(plugin = %id, ?changes, "applied the plugin state saved by another process");
        }
        Ok(changes)
    }
}

/// How long to wait before listening again after the database refused.
const LISTEN_RETRY: Duration = Duration::from_secs(2);

/// Follows the store while the registry lives: every [`FOLLOW_INTERVAL`], and, where
/// several servers share the database, at once when it notifies of a change (after a lost
/// connection, everything is read again: what was notified meanwhile is gone).
pub(super) async fn follow_store(registry: Weak<Inner>) {
    let mut follower = StoreFollower::new();
    let mut ticks = tokio::time::interval(FOLLOW_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listener: Option<Box<dyn Notifications>> = None;
    let mut listen_after = tokio::time::Instant::now();
    loop {
        // What woke us: `None` is the clock.
        let notice = match listener.as_mut() {
            Some(notifications) => tokio::select! {
                _ = ticks.tick() => None,
                notice = notifications.next() => match notice {
                    Ok(notice) => Some(notice),
                    Err(error) => {
                        tracing::warn!("lost the database's notifications, listening again shortly: {error}");
                        listener = None;
                        listen_after = tokio::time::Instant::now() + LISTEN_RETRY;
                        continue;
                    }
                },
            },
            None => {
                ticks.tick().await;
                None
            }
        };
        let Some(inner) = registry.upgrade() else { return };
        let registry = Registry { inner };
        let shared = registry.store().is_shared();
        let mut notice = notice;
        if shared && listener.is_none() && tokio::time::Instant::now() >= listen_after {
            match registry.store().listen().await {
                Ok(notifications) => {
                    listener = notifications;
                    // Whatever happened before we listened is read as after a lost connection.
                    notice = Some(Notice::Resync);
                }
                Err(error) => {
                    tracing::warn!(
                        "cannot listen for the database's notifications, reading it every {FOLLOW_INTERVAL:?}: {error}"
                    );
                    listen_after = tokio::time::Instant::now() + LISTEN_RETRY;
                }
            }
        }
        let (records, packages) = match &notice {
            None => (true, shared),
            Some(Notice::Changed(Topic::Plugins)) => (true, false),
            Some(Notice::Changed(Topic::Packages)) => (false, true),
            Some(Notice::Resync) => (true, true),
            Some(Notice::Changed(Topic::TrustedKeys | Topic::McpServers) | Notice::Message(_)) => (false, false),
        };
        // Packages first: a plugin installed elsewhere may come with its saved state.
        if packages && let Err(error) = registry.sync_packages().await {
            tracing::warn!("cannot read the packages kept in the database: {error}");
        }
        if records && let Err(error) = follower.follow(&registry).await {
            tracing::warn!("cannot read the saved plugin state: {error}");
        }
        if let Some(notice) = notice
            && !matches!(notice, Notice::Changed(Topic::Plugins | Topic::Packages))
        {
            // Nobody listening is no error.
            let _ = registry.inner.notices.send(notice);
        }
    }
}
