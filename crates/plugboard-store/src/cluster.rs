//! [`ClusterStore`]: what servers sharing one database need of it beyond the data itself:
//! whether the database is current enough to serve (a load balancer's readiness probe),
//! rate limits counted once for every server (a keyed GCRA, one atomic step per unit), and
//! failed-login counts kept once for every server ([`LoginPolicy`] decides; the store
//! keeps the counts and takes each attempt's step atomically).

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

    /// Takes a login attempt counted under `keys` (an account's and an address's, say),
    /// atomically whatever other servers take at once: `Ok(Err(wait))` when one of them is
    /// blocked for `wait` (nothing is counted), otherwise `Ok(Ok(()))` with a failure
    /// counted on each key at once ([`LoginPolicy::attempt`]), until
    /// [`ClusterStore::login_succeeded`] takes it back. Times come from the store's clock.
    async fn login_attempt(&self, keys: &[LoginKey], policy: LoginPolicy)
    -> Result<Result<(), RetryAfter>, StoreError>;

    /// The attempt counted under `account_key` and `address_key` had the right password:
    /// clears the account's failures and takes one back from the address's.
    async fn login_succeeded(&self, account_key: &str, address_key: Option<&str>) -> Result<(), StoreError>;

    /// Removes the failed-login counts that `policy` has forgotten
    /// ([`LoginPolicy::forgotten`]); returns how many.
    async fn purge_login_failures(&self, policy: LoginPolicy) -> Result<u64, StoreError>;
}

/// How failed logins block: the same rules whether a server counts them in memory or in
/// the database, decided here alone.
///
/// A key (an account, an address) counts its failures; an attempt counts as one at once.
/// The failure that reaches the key's allowance, and every further one, blocks the key for
/// `first_block`, twice as long each time up to `max_block`; a key with no failure for
/// `forget_after` starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// The first block.
    pub first_block: Duration,
    /// The longest block.
    pub max_block: Duration,
    /// A key with no failure for this long starts again from zero.
    pub forget_after: Duration,
}

/// One key a login attempt is counted under, with the failures it is allowed before it is
/// blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginKey {
    /// What is counted, as text (`account:<folded name>`, `address:<network>`).
    pub key: String,
    /// Failures it may have before it is blocked.
    pub allowed: u32,
}

/// The failed logins of one key; the default is a key with none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginFailures {
    /// Failures counted (attempts not yet found right included).
    pub count: u32,
    /// When the last one was counted, milliseconds since the Unix epoch.
    pub last_ms: i64,
    /// Until when the key is blocked (in the past when it is not).
    pub blocked_until_ms: i64,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl LoginPolicy {
    /// How long to wait, at `now_ms`, before an attempt on keys with these `failures` is
    /// let through: `None` when none of them is blocked.
    pub fn refusal(&self, now_ms: i64, failures: &[LoginFailures]) -> Option<RetryAfter> {
        let wait_ms = failures.iter().map(|failures| failures.blocked_until_ms.saturating_sub(now_ms)).max()?;
        (wait_ms > 0).then(|| Duration::from_millis(u64::try_from(wait_ms).unwrap_or(u64::MAX)))
    }

    /// `failures` with one more, at `now_ms`, for a key that is `allowed` that many: the
    /// count starts again after `forget_after` without failure, and from `allowed` on each
    /// failure blocks the key, twice as long as the one before up to `max_block`.
    pub fn fail(&self, failures: LoginFailures, allowed: u32, now_ms: i64) -> LoginFailures {
        let mut next = failures;
        if now_ms.saturating_sub(next.last_ms) >= millis(self.forget_after) {
            next.count = 0;
        }
        next.count = next.count.saturating_add(1);
        next.last_ms = now_ms;
        if next.count >= allowed {
            let doublings = (next.count - allowed).min(20);
            let block = self.first_block.saturating_mul(1 << doublings).min(self.max_block);
            next.blocked_until_ms = now_ms.saturating_add(millis(block));
        }
        next
    }

    /// One login attempt at `now_ms` on keys with these `allowed` failures and `current`
    /// ones (in the same order): `Err(wait)` while any is blocked, else every key's
    /// failures with the attempt counted ([`LoginPolicy::fail`]).
    pub fn attempt(&self, now_ms: i64, current: &[(u32, LoginFailures)]) -> Result<Vec<LoginFailures>, RetryAfter> {
        let failures: Vec<LoginFailures> = current.iter().map(|(_, failures)| *failures).collect();
        if let Some(wait) = self.refusal(now_ms, &failures) {
            return Err(wait);
        }
        Ok(current.iter().map(|(allowed, failures)| self.fail(*failures, *allowed, now_ms)).collect())
    }

    /// Whether `failures` are forgotten at `now_ms` (no failure for `forget_after` and not
    /// blocked): the same as having none, so they may be dropped.
    pub fn forgotten(&self, failures: &LoginFailures, now_ms: i64) -> bool {
        failures.last_ms <= now_ms.saturating_sub(millis(self.forget_after)) && failures.blocked_until_ms <= now_ms
    }

    /// The last time of a failure that [`LoginPolicy::forgotten`] drops at `now_ms`.
    pub(crate) fn forgotten_before_ms(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(millis(self.forget_after))
    }
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
