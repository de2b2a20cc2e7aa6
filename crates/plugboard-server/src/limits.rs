//! Per-user rate limits on what users make plugins do (`/api/plugins/execute`, plugin
//! routes), on top of each plugin's own limit: one user cannot use up a plugin for
//! everyone. Refusals are 429 with `Retry-After`.

use std::num::NonZeroU32;

use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// The limiter, keyed by user and plugin.
#[derive(Debug)]
pub struct UserLimits {
    per_minute: u32,
    limiter: Option<DefaultKeyedRateLimiter<(String, String)>>,
}

impl UserLimits {
    /// `per_minute` calls per user and plugin (bursts up to that many); 0 turns it off.
    pub fn new(per_minute: u32) -> UserLimits {
        let limiter = NonZeroU32::new(per_minute).map(|rate| RateLimiter::keyed(Quota::per_minute(rate)));
        UserLimits { per_minute, limiter }
    }

    /// Takes one call of `user` to `plugin`, or says when to try again.
    pub(crate) fn check(&self, user: &str, plugin: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter.check_key(&(user.to_owned(), plugin.to_owned())).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
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
