//! What servers sharing one database need of it: readiness (the schema is the one this build
//! runs with) and rate limits counted once for every server, exact under concurrent takers.

use std::num::NonZeroU32;
use std::time::Duration;

use plugboard_store::{LoginKey, LoginPolicy, RateLimit, Store, StoreError};

use crate::TestDb;

fn limit(per_minute: u32, burst: u32) -> RateLimit {
    RateLimit { per_minute: NonZeroU32::new(per_minute).unwrap(), burst: NonZeroU32::new(burst).unwrap() }
}

async fn a_migrated_database_is_ready_and_one_behind_or_ahead_is_not(db: TestDb) {
    let store = db.open().await;
    store.ready().await.unwrap();
    db.tamper("UPDATE _sqlx_migrations SET version = 999 WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
        .await;
    let error = store.ready().await.unwrap_err();
    assert!(matches!(error, StoreError::SchemaNotCurrent { applied: 999, .. }), "{error:?}");
    assert!(error.to_string().contains("upgrade this server"), "{error}");
    db.tamper("DELETE FROM _sqlx_migrations WHERE version = 999").await;
    let error = store.ready().await.unwrap_err();
    let StoreError::SchemaNotCurrent { applied, expected } = error else { panic!("{error:?}") };
    assert!(applied < expected, "{applied} < {expected}");
}

async fn a_burst_is_taken_then_units_come_back_at_the_rate(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    let per_minute_60 = limit(60, 3);
    for _ in 0..3 {
        assert_eq!(store.take_rate("alice", per_minute_60).await.unwrap(), Ok(()));
    }
    let wait = store.take_rate("alice", per_minute_60).await.unwrap().unwrap_err();
    assert_eq!(wait, Duration::from_secs(1), "one unit a second");
    // Another key has its own burst.
    assert_eq!(store.take_rate("bob", per_minute_60).await.unwrap(), Ok(()));
    clock.advance(Duration::from_millis(999));
    assert_eq!(store.take_rate("alice", per_minute_60).await.unwrap(), Err(Duration::from_millis(1)));
    clock.advance(Duration::from_millis(1));
    assert_eq!(store.take_rate("alice", per_minute_60).await.unwrap(), Ok(()));
    assert!(store.take_rate("alice", per_minute_60).await.unwrap().is_err());

    // A key is pruned once it is back to its full burst (bob, a second after his one
    // unit), not while it is short of it (alice).
    assert_eq!(store.purge_rates().await.unwrap(), 1);
    clock.advance(Duration::from_secs(3));
    assert_eq!(store.purge_rates().await.unwrap(), 1);
    for _ in 0..3 {
        assert_eq!(store.take_rate("alice", per_minute_60).await.unwrap(), Ok(()));
    }
}

/// Two servers (two stores on one database), each with many takers at once on one key, get
/// the limit in total: never more, and (the clock standing still) never less.
async fn concurrent_takers_on_two_stores_get_the_limit_in_total(db: TestDb) {
    let (first, clock) = db.open_with_clock().await;
    let second = db.open().await.with_clock(std::sync::Arc::new(clock.clone()));
    let limit = limit(30, 30);
    let mut takers = tokio::task::JoinSet::new();
    for taker in 0..80 {
        let store = if taker % 2 == 0 { first.clone() } else { second.clone() };
        takers.spawn(async move { store.take_rate("alice/calculator", limit).await.unwrap().is_ok() });
    }
    let mut taken = 0;
    while let Some(outcome) = takers.join_next().await {
        taken += usize::from(outcome.unwrap());
    }
    assert_eq!(taken, 30);
}

const POLICY: LoginPolicy = LoginPolicy {
    first_block: Duration::from_secs(30),
    max_block: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(3600),
};

/// The keys of a login of `account` from `address`: 5 failures per account, 20 per address.
fn login(account: &str, address: &str) -> [LoginKey; 2] {
    [
        LoginKey { key: format!("account:{account}"), allowed: 5 },
        LoginKey { key: format!("address:{address}"), allowed: 20 },
    ]
}

async fn attempt(store: &dyn Store, account: &str, address: &str) -> Result<(), Duration> {
    store.login_attempt(&login(account, address), POLICY).await.unwrap()
}

async fn failed_logins_block_at_the_limit_doubling_then_are_forgotten(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    for _ in 0..5 {
        assert_eq!(attempt(&*store, "alice", "192.0.2.1").await, Ok(()));
    }
    // The fifth reached the limit: the account is blocked from everywhere, for 30 s.
    assert_eq!(attempt(&*store, "alice", "198.51.100.7").await, Err(Duration::from_secs(30)));
    assert_eq!(attempt(&*store, "bob", "198.51.100.7").await, Ok(()), "other accounts are not blocked");
    clock.advance(Duration::from_secs(29));
    assert_eq!(attempt(&*store, "alice", "192.0.2.1").await, Err(Duration::from_secs(1)));
    clock.advance(Duration::from_secs(1));
    // The next failure blocks again, twice as long.
    assert_eq!(attempt(&*store, "alice", "192.0.2.1").await, Ok(()));
    assert_eq!(attempt(&*store, "alice", "192.0.2.1").await, Err(Duration::from_secs(60)));

    // Nothing is forgotten while blocked or within the hour; both are after a quiet hour.
    assert_eq!(store.purge_login_failures(POLICY).await.unwrap(), 0);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(store.purge_login_failures(POLICY).await.unwrap(), 4, "alice, bob and their two addresses");
    for _ in 0..4 {
        assert_eq!(attempt(&*store, "alice", "192.0.2.1").await, Ok(()));
    }
    assert_eq!(attempt(&*store, "alice", "192.0.2.1").await, Ok(()), "counting started again from zero");
    assert!(attempt(&*store, "alice", "192.0.2.1").await.is_err());
}

async fn a_successful_login_clears_the_account_and_takes_one_back_from_the_address(db: TestDb) {
    let (store, _clock) = db.open_with_clock().await;
    for _ in 0..4 {
        assert_eq!(attempt(&*store, "alice", "192.0.2.1").await, Ok(()));
    }
    store.login_succeeded("account:alice", Some("address:192.0.2.1")).await.unwrap();
    for _ in 0..4 {
        assert_eq!(attempt(&*store, "alice", "192.0.2.1").await, Ok(()));
    }
    assert_eq!(attempt(&*store, "alice", "192.0.2.1").await, Ok(()), "the account's count started again");
    assert!(attempt(&*store, "alice", "192.0.2.1").await.is_err());
    // The address has 8 failures (4 + 4 + 1, one taken back; the refused one did not
    // count): the 12th more is its 20th, which blocks it.
    for index in 0..12 {
        assert_eq!(attempt(&*store, &format!("user-{index}"), "192.0.2.1").await, Ok(()));
    }
    assert_eq!(attempt(&*store, "carol", "192.0.2.1").await, Err(Duration::from_secs(30)));
    assert_eq!(attempt(&*store, "carol", "198.51.100.7").await, Ok(()));
    // A success with no address (none known) clears only the account.
    store.login_succeeded("account:carol", None).await.unwrap();
}

/// Two servers (two stores on one database), each with many attempts at once on one
/// account, let through exactly the limit before the account is blocked: every attempt
/// counts in the same step as its check.
async fn concurrent_attempts_on_two_stores_get_the_limit_in_total(db: TestDb) {
    let (first, clock) = db.open_with_clock().await;
    let second = db.open().await.with_clock(std::sync::Arc::new(clock.clone()));
    let mut attempts = tokio::task::JoinSet::new();
    for index in 0..40 {
        let store = if index % 2 == 0 { first.clone() } else { second.clone() };
        // Addresses of their own, so only the account's limit applies.
        let keys = login("alice", &format!("192.0.2.{index}"));
        attempts.spawn(async move { store.login_attempt(&keys, POLICY).await.unwrap().is_ok() });
    }
    let mut let_through = 0;
    while let Some(outcome) = attempts.join_next().await {
        let_through += usize::from(outcome.unwrap());
    }
    assert_eq!(let_through, 5);
}

crate::backends!(
    a_migrated_database_is_ready_and_one_behind_or_ahead_is_not,
    a_burst_is_taken_then_units_come_back_at_the_rate,
    concurrent_takers_on_two_stores_get_the_limit_in_total,
    failed_logins_block_at_the_limit_doubling_then_are_forgotten,
    a_successful_login_clears_the_account_and_takes_one_back_from_the_address,
    concurrent_attempts_on_two_stores_get_the_limit_in_total,
);
