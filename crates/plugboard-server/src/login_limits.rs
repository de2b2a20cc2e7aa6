//! Limits on failed logins, per account and per client address, against password guessing.
//!
//! Each account (its case-folded name, whether it exists or not) and each client address
//! (the TCP peer; for IPv6 its /64 network) counts its failed logins (an attempt counts as failed from its start until
//! its password is found right). A few are free; the one that reaches the limit,
//! and every further one, blocks that key for a while, twice as long each time up to a
//! ceiling; while blocked, logins of the key get 429 with `Retry-After` without their
//! password being checked. Nothing blocks for ever: a block ends after at most
//! [`LoginLimits::max_block`], and a key with no failure for [`LoginLimits::forget_after`]
//! starts again from zero. A successful login clears its account's count (not its
//! address's, or one's own account would wipe the count of guesses at others').
//!
//! The counts are in memory: per server process, and gone when it restarts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use plugboard_types::{Clock, SystemClock};

use crate::error::ApiError;

/// Keys kept before the forgotten ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// What is counted: an account or a client address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// The failures of one key.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: i64,
    blocked_until_ms: i64,
}

/// The failed-login counts of the server.
#[derive(Debug)]
pub struct LoginLimits {
    /// Failures an account may have before it is blocked.
    pub account_failures: u32,
    /// Failures an address may have before it is blocked (higher: many people may share one).
    pub address_failures: u32,
    /// The first block.
    pub first_block: Duration,
    /// The longest block.
    pub max_block: Duration,
    /// A key with no failure for this long starts again from zero.
    pub forget_after: Duration,
    clock: Arc<dyn Clock>,
    failures: Mutex<HashMap<Key, Failures>>,
}

impl Default for LoginLimits {
    /// 5 failures per account and 20 per address, then blocks of 30 s doubling up to 15
    /// minutes; forgotten after an hour without failure.
    fn default() -> Self {
        LoginLimits::with_clock(Arc::new(SystemClock))
    }
}

/// What an address is counted under: an IPv4 address itself, an IPv6 address by its /64
/// network (one host usually has a whole /64 to pick addresses from).
fn network(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(v6.to_bits() & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl LoginLimits {
    /// The default limits, timed by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> LoginLimits {
        LoginLimits {
            account_failures: 5,
            address_failures: 20,
            first_block: Duration::from_secs(30),
            max_block: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, address: Option<IpAddr>) -> impl Iterator<Item = Key> {
        std::iter::once(Key::Account(account.to_owned())).chain(address.map(|address| Key::Address(network(address))))
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The refusal while `account` or `address` is blocked.
    fn refusal(
        &self,
        table: &HashMap<Key, Failures>,
        now: i64,
        account: &str,
        address: Option<IpAddr>,
    ) -> Option<ApiError> {
        let wait_ms = Self::keys(account, address)
            .filter_map(|key| table.get(&key))
            .map(|failures| failures.blocked_until_ms - now)
            .max()
            .unwrap_or(0);
        if wait_ms <= 0 {
            return None;
        }
        let seconds = u64::try_from(wait_ms).unwrap_or(0).div_ceil(1000).max(1);
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed logins for this account or from this address; try again in {seconds} s"),
        );
        error.retry_after = Some(seconds);
        Some(error)
    }

    /// Whether a login of `account` (case-folded) from `address` may be tried now, without
    /// counting it: a 429 `too_many_attempts` with `Retry-After` while either is blocked.
    pub fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let table = self.table();
        self.refusal(&table, self.clock.now_ms(), account, address).map_or(Ok(()), Err)
    }

    /// Takes a login attempt of `account` from `address`: refused while either is blocked,
    /// otherwise counted as a failure at once (in the same step, so guesses sent in
    /// parallel cannot all pass before the first is found wrong) until
    /// [`LoginLimits::succeeded`] takes it back.
    pub fn attempt(&self, account: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let now = self.clock.now_ms();
        let forget_ms = millis(self.forget_after);
        let mut table = self.table();
        if let Some(refusal) = self.refusal(&table, now, account, address) {
            return Err(refusal);
        }
        if table.len() > SWEEP_ABOVE {
            table.retain(|_, failures| now - failures.last_ms < forget_ms || failures.blocked_until_ms > now);
        }
        for key in Self::keys(account, address) {
            let allowed = match key {
                Key::Account(_) => self.account_failures,
                Key::Address(_) => self.address_failures,
            };
            let entry = table.entry(key).or_insert(Failures { count: 0, last_ms: now, blocked_until_ms: 0 });
            if now - entry.last_ms >= forget_ms {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last_ms = now;
            if entry.count >= allowed {
                let doublings = (entry.count - allowed).min(20);
                let block = self.first_block.saturating_mul(1 << doublings).min(self.max_block);
                entry.blocked_until_ms = now.saturating_add(millis(block));
            }
        }
        Ok(())
    }

    /// The attempt of `account` from `address` had the right password: clears the
    /// account's count and takes the attempt back from the address's.
    pub fn succeeded(&self, account: &str, address: Option<IpAddr>) {
        let mut table = self.table();
        table.remove(&Key::Account(account.to_owned()));
        if let Some(entry) = address.and_then(|address| table.get_mut(&Key::Address(network(address)))) {
            entry.count = entry.count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use plugboard_types::ManualClock;

    use super::*;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    const ELSEWHERE: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));

    fn limits() -> (ManualClock, LoginLimits) {
        let clock = ManualClock::new();
        (clock.clone(), LoginLimits::with_clock(Arc::new(clock)))
    }

    fn fail(limits: &LoginLimits, account: &str, address: Option<IpAddr>) {
        limits.attempt(account, address).expect("not blocked");
    }

    fn succeed(limits: &LoginLimits, account: &str, address: Option<IpAddr>) {
        limits.attempt(account, address).expect("not blocked");
        limits.succeeded(account, address);
    }

    fn retry_after(limits: &LoginLimits, account: &str, address: Option<IpAddr>) -> Option<u64> {
        limits.check(account, address).err().map(|error| {
            assert_eq!((error.status, error.code), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"));
            error.retry_after.expect("a 429 says when to try again")
        })
    }

    #[test]
    fn a_few_failures_are_free_then_the_account_is_blocked_for_a_while() {
        let (clock, limits) = limits();
        for _ in 0..4 {
            fail(&limits, "alice", HOME);
            assert_eq!(retry_after(&limits, "alice", HOME), None);
        }
        fail(&limits, "alice", HOME);
        assert_eq!(retry_after(&limits, "alice", HOME), Some(30));
        // The account is blocked from everywhere; other accounts are not.
        assert_eq!(retry_after(&limits, "alice", ELSEWHERE), Some(30));
        assert_eq!(retry_after(&limits, "bob", ELSEWHERE), None);
        clock.advance(Duration::from_secs(29));
        assert_eq!(retry_after(&limits, "alice", HOME), Some(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(retry_after(&limits, "alice", HOME), None);
    }

    #[test]
    fn blocks_grow_up_to_a_ceiling_and_never_last_for_ever() {
        let (clock, limits) = limits();
        for _ in 0..4 {
            fail(&limits, "alice", ELSEWHERE);
        }
        let mut blocks = Vec::new();
        for _ in 0..10 {
            fail(&limits, "alice", ELSEWHERE);
            let wait = retry_after(&limits, "alice", HOME).unwrap();
            blocks.push(wait);
            clock.advance(Duration::from_secs(wait));
            assert_eq!(retry_after(&limits, "alice", HOME), None, "each block ends");
        }
        assert_eq!(blocks, [30, 60, 120, 240, 480, 900, 900, 900, 900, 900]);
    }

    #[test]
    fn a_successful_login_clears_the_account_but_not_the_address() {
        let (_clock, limits) = limits();
        for _ in 0..4 {
            fail(&limits, "alice", HOME);
        }
        succeed(&limits, "alice", HOME);
        fail(&limits, "alice", HOME);
        assert_eq!(retry_after(&limits, "alice", HOME), None, "the count started again");

        for index in 0..14 {
            fail(&limits, &format!("user-{index}"), HOME);
        }
        // 19 failures from HOME: the success took back only its own attempt.
        assert_eq!(retry_after(&limits, "carol", HOME), None);
        fail(&limits, "carol", HOME);
        assert_eq!(retry_after(&limits, "someone-new", HOME), Some(30));
        assert_eq!(retry_after(&limits, "someone-new", ELSEWHERE), None);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_hour() {
        let (clock, limits) = limits();
        for _ in 0..4 {
            fail(&limits, "alice", HOME);
        }
        clock.advance(Duration::from_secs(3600));
        fail(&limits, "alice", HOME);
        assert_eq!(retry_after(&limits, "alice", HOME), None, "the old failures no longer count");
        // Even after long blocks, a quiet hour starts from the first block again.
        for _ in 0..10 {
            if let Some(wait) = retry_after(&limits, "alice", HOME) {
                clock.advance(Duration::from_secs(wait));
            }
            fail(&limits, "alice", HOME);
        }
        assert_eq!(retry_after(&limits, "alice", HOME), Some(900));
        clock.advance(Duration::from_secs(900 + 3600));
        for _ in 0..4 {
            fail(&limits, "alice", HOME);
        }
        assert_eq!(retry_after(&limits, "alice", HOME), None);
        fail(&limits, "alice", HOME);
        assert_eq!(retry_after(&limits, "alice", HOME), Some(30));
    }

    #[test]
    fn attempts_count_before_their_verdict_so_parallel_guesses_cannot_slip_through() {
        let (_clock, limits) = limits();
        // Five guesses in flight at once, none answered yet: the sixth is refused.
        for _ in 0..5 {
            limits.attempt("alice", HOME).unwrap();
        }
        let refused = limits.attempt("alice", ELSEWHERE).unwrap_err();
        assert_eq!((refused.status, refused.retry_after), (StatusCode::TOO_MANY_REQUESTS, Some(30)));
        // One of them had the right password: the account is free again.
        limits.succeeded("alice", HOME);
        assert_eq!(retry_after(&limits, "alice", ELSEWHERE), None);
        fail(&limits, "alice", ELSEWHERE);
    }

    #[test]
    fn ipv6_addresses_count_by_their_network() {
        let (_clock, limits) = limits();
        let host = |last: u16| Some(IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last)));
        for index in 0..20 {
            fail(&limits, &format!("user-{index}"), host(index + 1));
        }
        // Another address of the same /64 is blocked; one of another /64 is not.
        assert_eq!(retry_after(&limits, "someone", host(999)), Some(30));
        let elsewhere = Some(IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1)));
        assert_eq!(retry_after(&limits, "someone", elsewhere), None);
    }

    #[test]
    fn a_successful_login_from_ipv6_takes_its_attempt_back_from_its_network() {
        let (_clock, limits) = limits();
        let host = |last: u16| Some(IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last)));
        for index in 0..18 {
            fail(&limits, &format!("user-{index}"), host(index + 1));
        }
        // An attempt from another address of the network had the right password: it is
        // taken back, so the next failure is the 19th, not the 20th that blocks.
        succeed(&limits, "alice", host(500));
        fail(&limits, "mallory", host(501));
        assert_eq!(retry_after(&limits, "someone", host(999)), None);
    }
}
