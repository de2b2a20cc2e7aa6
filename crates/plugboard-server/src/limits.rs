//! Per-user rate limits on what users make plugins do (`/api/plugins/execute`, plugin
//! routes, `/run`), on top of each plugin's own limit: one user cannot use up a plugin for
//! everyone; and on chat turns. Refusals are 429 with `Retry-After`.
//!
//! Where they are counted depends on who else serves: a server alone on its database
//! (SQLite) counts in memory with `governor`, states back to fresh pruned as checks go by,
//! so memory follows the users active in the last minute and a check costs no write.
//! Servers sharing a database (PostgreSQL) count in it (`ClusterStore::take_rate`, one
//! atomic statement per check, the same GCRA with the same burst), so a user behind a load
//! balancer gets the limit once, not once per server; its rows back to fresh are purged
//! every minute. When the database cannot count, the check lets the request through (and
//! logs it): the limit protects plugins from one user, not the server from its database.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use plugboard_store::{RateLimit, Store};

use crate::error::ApiError;

/// How often the rate states back to fresh are purged from a shared database.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Checks between two prunings of the states that are back to fresh.
const PRUNE_EVERY: u64 = 1024;

type Key = (String, String);

/// A keyed limiter over the clock `C` (the system's, or a test's).
struct Keyed<C: Clock> {
    limiter: RateLimiter<Key, DefaultKeyedStateStore<Key>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    checks: AtomicU64,
}

impl<C: Clock> std::fmt::Debug for Keyed<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed").field("keys", &self.limiter.len()).finish_non_exhaustive()
    }
}

impl<C: Clock + Clone> Keyed<C> {
    fn new(rate: NonZeroU32, clock: C) -> Keyed<C> {
        let limiter = RateLimiter::new(Quota::per_minute(rate), DefaultKeyedStateStore::default(), clock.clone());
        Keyed { limiter, clock, checks: AtomicU64::new(0) }
    }

    /// Takes one call for `key`, or says how long to wait.
    fn check(&self, key: Key) -> Result<(), std::time::Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&key).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Where the counts are.
#[derive(Debug)]
enum Counter {
    /// In this process: plugin calls keyed by user and plugin, chat turns keyed by user.
    Memory { calls: Option<Box<Keyed<DefaultClock>>>, turns: Option<Box<Keyed<DefaultClock>>> },
    /// In the database every server shares.
    Store(Arc<dyn Store>),
}

/// The per-user limits: plugin calls per user and plugin, chat turns per user.
#[derive(Debug)]
pub struct UserLimits {
    per_minute: u32,
    turns_per_minute: u32,
    counter: Counter,
}

impl UserLimits {
    /// `per_minute` calls per user and plugin (bursts up to that many); 0 turns it off.
    /// Chat turns are not limited until [`UserLimits::with_chat_turns`]. Counted in memory
    /// until [`UserLimits::shared_through`].
    pub fn new(per_minute: u32) -> UserLimits {
        let calls = NonZeroU32::new(per_minute).map(|rate| Box::new(Keyed::new(rate, DefaultClock::default())));
        UserLimits { per_minute, turns_per_minute: 0, counter: Counter::Memory { calls, turns: None } }
    }

    /// Also limits each user to `per_minute` chat turns (`/api/chat`, `/api/chat/stream`,
    /// `/v1/chat/completions`; bursts up to that many); 0 turns it off.
    pub fn with_chat_turns(self, per_minute: u32) -> UserLimits {
        let counter = match self.counter {
            Counter::Memory { calls, .. } => Counter::Memory {
                calls,
                turns: NonZeroU32::new(per_minute).map(|rate| Box::new(Keyed::new(rate, DefaultClock::default()))),
            },
            store => store,
        };
        UserLimits { turns_per_minute: per_minute, counter, ..self }
    }

    /// Counts in `store`, which other servers share, instead of in memory: the limits hold
    /// for all of them together.
    pub fn shared_through(self, store: Arc<dyn Store>) -> UserLimits {
        UserLimits { counter: Counter::Store(store), ..self }
    }

    /// Takes one chat turn of `user`, or says when to try again.
    pub(crate) async fn check_turn(&self, user: &str) -> Result<(), ApiError> {
        let taken = match &self.counter {
            Counter::Memory { turns: None, .. } => return Ok(()),
            Counter::Memory { turns: Some(turns), .. } => turns.check((user.to_owned(), String::new())),
            Counter::Store(store) => take(store.as_ref(), &format!("turns/{user}"), self.turns_per_minute).await,
        };
        taken.map_err(|wait| {
            let seconds = whole_seconds(wait);
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("you may start {} chat turns a minute; try again in {seconds} s", self.turns_per_minute),
            );
            error.retry_after = Some(seconds);
            error
        })
    }

    /// Takes one call of `user` to `plugin`, or says when to try again.
    pub(crate) async fn check(&self, user: &str, plugin: &str) -> Result<(), ApiError> {
        let taken = match &self.counter {
            Counter::Memory { calls: None, .. } => return Ok(()),
            Counter::Memory { calls: Some(calls), .. } => calls.check((user.to_owned(), plugin.to_owned())),
            Counter::Store(store) => take(store.as_ref(), &format!("calls/{user}/{plugin}"), self.per_minute).await,
        };
        taken.map_err(|wait| {
            let seconds = whole_seconds(wait);
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("you may call plugin `{plugin}` {} times a minute; try again in {seconds} s", self.per_minute),
            );
            error.retry_after = Some(seconds);
            error
        })
    }

    /// Purges the shared database's rate states that are back to fresh, every minute, until
    /// the limits are dropped; nothing to do when counting in memory.
    pub(crate) fn start_purging(self: &Arc<Self>) {
        if !matches!(self.counter, Counter::Store(_)) {
            return;
        }
        let limits: Weak<UserLimits> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PURGE_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(limits) = limits.upgrade() else { return };
                if let Counter::Store(store) = &limits.counter
                    && let Err(error) = store.purge_rates().await
                {
                    tracing::warn!("cannot purge the rate limit states: {error}");
                }
            }
        });
    }
}

/// Takes one unit of `key` at `per_minute` (bursts up to that many) in the shared store;
/// 0 is no limit. A store that cannot count lets the request through.
async fn take(store: &dyn Store, key: &str, per_minute: u32) -> Result<(), Duration> {
    let Some(rate) = NonZeroU32::new(per_minute) else { return Ok(()) };
    match store.take_rate(key, RateLimit { per_minute: rate, burst: rate }).await {
        Ok(taken) => taken,
        Err(error) => {
            tracing::warn!("cannot count a rate limit in the database, so the request goes through: {error}");
            Ok(())
        }
    }
}

/// A wait as whole seconds for `Retry-After`, at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs().max(1)
}

impl Default for UserLimits {
    fn default() -> UserLimits {
        UserLimits::new(120)
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::{Keyed, PRUNE_EVERY};

    #[test]
    fn users_idle_for_a_minute_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let limits = Keyed::new(NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN), clock.clone());
        for user in 0..PRUNE_EVERY - 1 {
            assert!(limits.check((format!("user-{user}"), "calculator".into())).is_ok());
        }
        assert_eq!(limits.limiter.len(), PRUNE_EVERY as usize - 1, "every active user has a state");
        clock.advance(Duration::from_secs(61));
        // The next check prunes: only its own user is left.
        assert!(limits.check(("newcomer".into(), "calculator".into())).is_ok());
        assert_eq!(limits.limiter.len(), 1);
    }

    #[test]
    fn a_user_at_the_limit_waits_and_is_not_pruned() {
        let clock = FakeRelativeClock::default();
        let limits = Keyed::new(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN), clock.clone());
        let key = || ("alice".to_owned(), "calculator".to_owned());
        assert!(limits.check(key()).is_ok());
        assert!(limits.check(key()).is_ok());
        let wait = limits.check(key()).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30), "{wait:?}");
        limits.limiter.retain_recent();
        assert_eq!(limits.limiter.len(), 1, "a limited user keeps their state");
        clock.advance(wait);
        assert!(limits.check(key()).is_ok());
    }
}
