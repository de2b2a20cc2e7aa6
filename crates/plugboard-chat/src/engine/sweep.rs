//! Replies cut off by a server that died: a reply being streamed is written at least every
//! few seconds (`turn.rs`, [`HEARTBEAT_INTERVAL`](super::turn::HEARTBEAT_INTERVAL)), so a
//! `streaming` row nobody wrote for [`STREAMING_STALE_AFTER`] belongs to a server that was
//! killed or lost its database, and is marked `partial`. Every server sweeps, so such rows
//! are closed even when the server that wrote them never comes back, and no server's sweep
//! cuts off another's live stream.

use std::time::Duration;

use plugboard_store::Message;

use super::ChatEngine;
use crate::live::LiveEvent;

/// How long a `streaming` reply may go unwritten before any server marks it `partial`:
/// six heartbeats, so a busy database or a paused process does not cut off a live stream.
pub const STREAMING_STALE_AFTER: Duration = Duration::from_secs(30);

/// How often each server sweeps.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

impl ChatEngine {
    /// Tells the owners' open pages that these replies, cut off, are now `partial` (as an
    /// edit: their status changed), so no page shows them streaming for ever.
    async fn tell_owners_of_cut_off(&self, marked: Vec<Message>) {
        for message in marked {
            match self.inner.store.conversation(&message.conversation_id).await {
                Ok(Some(conversation)) => self.publish(&conversation.user_id, LiveEvent::MessageEdited { message }),
                Ok(None) => {}
                Err(error) => tracing::debug!("cannot tell the owner of a cut-off reply: {error}"),
            }
        }
    }

    /// Starts marking stale `streaming` replies `partial`, at once and every 10 seconds,
    /// until the engine is dropped. Call once, in the process that serves.
    pub fn start_stale_reply_sweep(&self) {
        let weak = self.downgrade();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(engine) = weak.upgrade() else { return };
                match engine.inner.store.mark_stale_streaming_messages(STREAMING_STALE_AFTER).await {
                    Ok(marked) if marked.is_empty() => {}
                    Ok(marked) => {
                        tracing::warn!(
                            "{} replies were cut off when the server streaming them stopped; they are kept, marked \
                             partial",
                            marked.len()
                        );
                        engine.tell_owners_of_cut_off(marked).await;
                    }
                    Err(error) => tracing::warn!("cannot mark cut-off replies partial: {error}"),
                }
            }
        });
    }
}
