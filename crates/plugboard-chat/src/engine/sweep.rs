//! Replies cut off by a server that died: a reply being streamed is written at least every
//! few seconds (`turn.rs`, [`HEARTBEAT_INTERVAL`](super::turn::HEARTBEAT_INTERVAL)), so a
//! `streaming` row nobody wrote for [`STREAMING_STALE_AFTER`] belongs to a server that was
//! killed or lost its database, and is marked `partial`. Every server sweeps, so such rows
//! are closed even when the server that wrote them never comes back, and no server's sweep
//! cuts off another's live stream.

use std::time::Duration;

use super::ChatEngine;

/// How long a `streaming` reply may go unwritten before any server marks it `partial`:
/// six heartbeats, so a busy database or a paused process does not cut off a live stream.
pub const STREAMING_STALE_AFTER: Duration = Duration::from_secs(30);

/// How often each server sweeps.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

impl ChatEngine {
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
                    Ok(0) => {}
                    Ok(marked) => tracing::warn!(
                        "{marked} replies were cut off when the server streaming them stopped; they are kept, marked \
                         partial"
                    ),
                    Err(error) => tracing::warn!("cannot mark cut-off replies partial: {error}"),
                }
            }
        });
    }
}
