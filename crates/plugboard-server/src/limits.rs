//! Per-user rate limits on what users make plugins do (`/api/plugins/execute`, plugin
//! routes, `/run`), on top of each plugin's own limit: one user cannot use up a plugin for
//! everyone. Refusals are 429 with `Retry-After`. The limiter keeps a state per user and
//! plugin; states that are back to fresh are pruned as checks go by, so memory follows the
//! users active in the last minute, not every user ever seen.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

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

/// The limiters: plugin calls keyed by user and plugin, chat turns keyed by user.
#[derive(Debug)]
pub struct UserLimits {
    per_minute: u32,
    limiter: Option<Keyed<DefaultClock>>,
    turns_per_minute: u32,
    turns: Option<Keyed<DefaultClock>>,
}

impl UserLimits {
    /// `per_minute` calls per user and plugin (bursts up to that many); 0 turns it off.
    /// Chat turns are not limited until [`UserLimits::with_chat_turns`].
    pub fn new(per_minute: u32) -> UserLimits {
        let limiter = NonZeroU32::new(per_minute).map(|rate| Keyed::new(rate, DefaultClock::default()));
        UserLimits { per_minute, limiter, turns_per_minute: 0, turns: None }
    }

    /// Also limits each user to `per_minute` chat turns (`/api/chat`, `/api/chat/stream`,
    /// `/v1/chat/completions`; bursts up to that many); 0 turns it off.
    pub fn with_chat_turns(self, per_minute: u32) -> UserLimits {
        let turns = NonZeroU32::new(per_minute).map(|rate| Keyed::new(rate, DefaultClock::default()));
        UserLimits { turns_per_minute: per_minute, turns, ..self }
    }

    /// Takes one chat turn of `user`, or says when to try again.
    pub(crate) fn check_turn(&self, user: &str) -> Result<(), ApiError> {
        let Some(turns) = &self.turns else { return Ok(()) };
        turns.check((user.to_owned(), String::new())).map_err(|wait| {
            let seconds = wait.as_secs().max(1);
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
    pub(crate) fn check(&self, user: &str, plugin: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter.check((user.to_owned(), plugin.to_owned())).map_err(|wait| {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "you may call plugin `{plugin}` {} times a minute; try again in {} s",
                    self.per_minute,
                    wait.as_secs().max(1)
                ),
            );
            error.retry_after = Some(wait.as_secs().max(1));
            error
        })
    }
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
