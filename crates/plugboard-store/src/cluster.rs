//! [`ClusterStore`]: what servers sharing one database need of it beyond the data itself:
//! whether the database is current enough to serve (a load balancer's readiness probe),
//! and rate limits counted once for every server (a keyed GCRA, one atomic step per unit).

use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;

use crate::StoreError;

/// A rate of units per key: `per_minute` on average, up to `burst` at once after a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Units a minute on average.
    pub per_minute: NonZeroU32,
    /// Units that may be taken at once when the key has been idle.
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// Microseconds between two units at the average rate (GCRA's emission interval).
    pub(crate) fn interval_us(self) -> i64 {
        60_000_000 / i64::from(self.per_minute.get())
    }

    /// How far ahead of now a key's theoretical arrival time may be after a unit is taken.
    pub(crate) fn tolerance_us(self) -> i64 {
        self.interval_us().saturating_mul(i64::from(self.burst.get()))
    }
}

/// The outcome of [`ClusterStore::take_rate`] when the unit was refused: how long until one
/// is free.
pub type RetryAfter = Duration;

/// What a server asks of its database beyond the data: readiness, and shared rate limits.
#[async_trait]
pub trait ClusterStore: Send + Sync + std::fmt::Debug {
    /// `Ok` when the database answers a trivial query and its applied schema is exactly the
    /// one this build migrates to; [`StoreError::NotReady`] saying what is wrong otherwise
    /// (or the query's error).
    async fn ready(&self) -> Result<(), StoreError>;

    /// Takes one unit of `key` under `limit`, atomically whatever other servers take at
    /// once: `Ok(Ok(()))` when taken, `Ok(Err(wait))` when none is free for `wait`. Times
    /// come from the store's clock, so the servers' clocks must agree (as for sessions).
    async fn take_rate(&self, key: &str, limit: RateLimit) -> Result<Result<(), RetryAfter>, StoreError>;

    /// Removes the rate states that are back to their full burst (the same as having none);
    /// returns how many.
    async fn purge_rates(&self) -> Result<u64, StoreError>;
}

/// The theoretical arrival time a refused key has, as the wait before a unit is free.
pub(crate) fn retry_after(tat_us: Option<i64>, now_us: i64, limit: RateLimit) -> Duration {
    // A row that is gone meanwhile (pruned) means a unit is free now; wait one interval
    // at most rather than nothing, so a caller does not spin.
    let wait_us = match tat_us {
        Some(tat_us) => tat_us.saturating_add(limit.interval_us()).saturating_sub(now_us + limit.tolerance_us()),
        None => limit.interval_us(),
    };
    Duration::from_micros(u64::try_from(wait_us.max(1)).unwrap_or(1))
}
