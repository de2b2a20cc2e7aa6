//! Account events for plugins: users created, disabled, enabled and deleted. The store
//! records each change with it (`ChatStore::take_account_events`), so a change made by
//! `plugboard user ...` on a stopped server, or by another server on the same database,
//! reaches the plugins too; the relay takes them in order and fires them like any event.

use std::time::Duration;

use plugboard_store::{AccountChange, AccountEvent};
use plugboard_types::{Account, Event};

use super::{ChatEngine, context};

/// How often the relay looks for changes made outside this server.
const POLL: Duration = Duration::from_secs(2);

/// Events taken from the store at once.
const BATCH: usize = 100;

impl ChatEngine {
    /// Starts relaying account events to the plugins, until the engine is dropped: at
    /// once, on each [`ChatEngine::account_changed`], and every 2 seconds for changes made
    /// by other processes. Call once, in the process that serves.
    pub fn start_account_relay(&self) {
        let weak = self.downgrade();
        let changed = self.inner.account_changes.clone();
        tokio::spawn(async move {
            loop {
                let Some(engine) = weak.upgrade() else { return };
                if let Err(error) = engine.relay_account_events().await {
                    tracing::warn!("cannot tell the plugins of account changes: {error}");
                }
                drop(engine);
                let _ = tokio::time::timeout(POLL, changed.notified()).await;
            }
        });
    }

    /// Wakes the relay: an account changed in the store.
    pub fn account_changed(&self) {
        self.inner.account_changes.notify_one();
    }

    /// Fires the account events waiting in the store, oldest first; how many there were.
    pub async fn relay_account_events(&self) -> Result<usize, plugboard_store::StoreError> {
        let mut relayed = 0;
        loop {
            let events = self.inner.store.take_account_events(BATCH).await?;
            let taken = events.len();
            for event in events {
                self.fire(context(&event.user_id, ""), plugin_event(event));
            }
            relayed += taken;
            if taken < BATCH {
                return Ok(relayed);
            }
        }
    }
}

fn plugin_event(event: AccountEvent) -> Event {
    let account = Account { id: event.user_id.into(), username: event.username };
    match event.change {
        AccountChange::UserCreated => Event::UserCreated(account),
        AccountChange::UserDisabled => Event::UserDisabled(account),
        AccountChange::UserEnabled => Event::UserEnabled(account),
        AccountChange::UserDeleted => Event::UserDeleted(account),
    }
}
