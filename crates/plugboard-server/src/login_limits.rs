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
//! The rules are [`LoginPolicy`]'s (in `plugboard-store`), whichever counts: a server alone
//! on its database (SQLite) counts in memory, per process and gone when it restarts;
//! servers sharing a database (PostgreSQL) count in it (`ClusterStore::login_attempt`, the
//! check and the count in one transaction), so guesses spread over the servers behind a
//! load balancer meet the limit once, not once per server. When the database cannot count,
//! the login is let through to the password check (and logged), as the per-user rate
//! limits do: the password is still checked, and refusing every login while the database
//! is unreachable would lock everyone out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::http::StatusCode;
use plugboard_store::{LoginFailures, LoginKey, LoginPolicy, RetryAfter, Store};
use plugboard_types::{Clock, SystemClock};

use crate::error::ApiError;

/// Keys kept in memory before the forgotten ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// How often the forgotten counts are purged from a shared database.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Where the counts are.
#[derive(Debug)]
enum Counter {
    /// In this process, by key.
    Memory(Mutex<HashMap<String, LoginFailures>>),
    /// In the database every server shares.
    Store(Arc<dyn Store>),
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
    counter: Counter,
}

impl Default for LoginLimits {
    /// 5 failures per account and 20 per address, then blocks of 30 s doubling up to 15
    /// minutes; forgotten after an hour without failure. Counted in memory.
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

/// The key an account (case-folded) is counted under.
fn account_key(account: &str) -> String {
    format!("account:{account}")
}

/// The key an address is counted under.
fn address_key(address: IpAddr) -> String {
    format!("address:{}", network(address))
}

impl LoginLimits {
    /// The default limits, timed by `clock` (when counting in memory; the store has its
    /// own).
    pub fn with_clock(clock: Arc<dyn Clock>) -> LoginLimits {
        LoginLimits {
            account_failures: 5,
            address_failures: 20,
            first_block: Duration::from_secs(30),
            max_block: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
            clock,
            counter: Counter::Memory(Mutex::new(HashMap::new())),
        }
    }

    /// Counts in `store`, which other servers share, instead of in memory: the limits hold
    /// for all of them together.
    pub fn shared_through(self, store: Arc<dyn Store>) -> LoginLimits {
        LoginLimits { counter: Counter::Store(store), ..self }
    }

    fn policy(&self) -> LoginPolicy {
        LoginPolicy { first_block: self.first_block, max_block: self.max_block, forget_after: self.forget_after }
    }

    /// The keys a login of `account` from `address` counts under, with their allowances.
    fn keys(&self, account: &str, address: Option<IpAddr>) -> Vec<LoginKey> {
        std::iter::once(LoginKey { key: account_key(account), allowed: self.account_failures })
            .chain(address.map(|address| LoginKey { key: address_key(address), allowed: self.address_failures }))
            .collect()
    }

    fn table(
        counts: &Mutex<HashMap<String, LoginFailures>>,
    ) -> std::sync::MutexGuard<'_, HashMap<String, LoginFailures>> {
        counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a login attempt of `account` (case-folded) from `address`: a 429
    /// `too_many_attempts` with `Retry-After` while either is blocked, otherwise counted as
    /// a failure at once (in the same step, so guesses sent in parallel cannot all pass
    /// before the first is found wrong) until [`LoginLimits::succeeded`] takes it back.
    pub async fn attempt(&self, account: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let keys = self.keys(account, address);
        let policy = self.policy();
        let taken = match &self.counter {
            Counter::Memory(counts) => {
                let now = self.clock.now_ms();
                let mut table = Self::table(counts);
                let current: Vec<(u32, LoginFailures)> =
                    keys.iter().map(|key| (key.allowed, table.get(&key.key).copied().unwrap_or_default())).collect();
                policy.attempt(now, &current).map(|next| {
                    if table.len() > SWEEP_ABOVE {
                        table.retain(|_, failures| !policy.forgotten(failures, now));
                    }
                    for (key, failures) in keys.into_iter().zip(next) {
                        table.insert(key.key, failures);
                    }
                })
            }
            Counter::Store(store) => match store.login_attempt(&keys, policy).await {
                Ok(taken) => taken,
                Err(error) => {
                    // As for the per-user rate limits: the password is still checked.
                    tracing::warn!("cannot count a login attempt in the database, so it is checked uncounted: {error}");
                    Ok(())
                }
            },
        };
        taken.map_err(refusal)
    }

    /// The attempt of `account` from `address` had the right password: clears the
    /// account's count and takes the attempt back from the address's.
    pub async fn succeeded(&self, account: &str, address: Option<IpAddr>) {
        let account = account_key(account);
        let address = address.map(address_key);
        match &self.counter {
            Counter::Memory(counts) => {
                let mut table = Self::table(counts);
                table.remove(&account);
                if let Some(entry) = address.and_then(|address| table.get_mut(&address)) {
                    entry.count = entry.count.saturating_sub(1);
                }
            }
            Counter::Store(store) => {
                if let Err(error) = store.login_succeeded(&account, address.as_deref()).await {
                    tracing::warn!("cannot clear the failed logins of a successful login in the database: {error}");
                }
            }
        }
    }

    /// Whether a login of `account` from `address` would be refused now, without counting
    /// it (in memory only).
    #[cfg(test)]
    fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Counter::Memory(counts) = &self.counter else { return Ok(()) };
        let table = Self::table(counts);
        let failures: Vec<LoginFailures> =
            self.keys(account, address).iter().filter_map(|key| table.get(&key.key).copied()).collect();
        self.policy().refusal(self.clock.now_ms(), &failures).map_or(Ok(()), |wait| Err(refusal(wait)))
    }

    /// Purges the shared database's forgotten counts, every minute, until the limits are
    /// dropped; nothing to do when counting in memory (swept as attempts come).
    pub(crate) fn start_purging(self: &Arc<Self>) {
        if !matches!(self.counter, Counter::Store(_)) {
            return;
        }
        let limits: Weak<LoginLimits> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PURGE_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(limits) = limits.upgrade() else { return };
                if let Counter::Store(store) = &limits.counter
                    && let Err(error) = store.purge_login_failures(limits.policy()).await
                {
                    tracing::warn!("cannot purge the forgotten failed-login counts: {error}");
                }
            }
        });
    }
}

/// The 429 of a login refused for `wait`.
fn refusal(wait: RetryAfter) -> ApiError {
    let seconds = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).div_ceil(1000).max(1);
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many failed logins for this account or from this address; try again in {seconds} s"),
    );
    error.retry_after = Some(seconds);
    error
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use futures_util::FutureExt;
    use plugboard_types::ManualClock;

    use super::*;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    const ELSEWHERE: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));

    fn limits() -> (ManualClock, LoginLimits) {
        let clock = ManualClock::new();
        (clock.clone(), LoginLimits::with_clock(Arc::new(clock)))
    }

    /// [`LoginLimits::attempt`] in memory, which has nothing to wait for.
    fn attempt(limits: &LoginLimits, account: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        limits.attempt(account, address).now_or_never().expect("counting in memory does not wait")
    }

    /// [`LoginLimits::succeeded`] in memory.
    fn succeeded(limits: &LoginLimits, account: &str, address: Option<IpAddr>) {
        limits.succeeded(account, address).now_or_never().expect("counting in memory does not wait");
    }

    fn fail(limits: &LoginLimits, account: &str, address: Option<IpAddr>) {
        attempt(limits, account, address).expect("not blocked");
    }

    fn succeed(limits: &LoginLimits, account: &str, address: Option<IpAddr>) {
        attempt(limits, account, address).expect("not blocked");
        succeeded(limits, account, address);
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
            attempt(&limits, "alice", HOME).unwrap();
        }
        let refused = attempt(&limits, "alice", ELSEWHERE).unwrap_err();
        assert_eq!((refused.status, refused.retry_after), (StatusCode::TOO_MANY_REQUESTS, Some(30)));
        // One of them had the right password: the account is free again.
        succeeded(&limits, "alice", HOME);
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
