//! What servers sharing one database need of it: readiness (the schema is the one this build
//! runs with) and rate limits counted once for every server, exact under concurrent takers.

use std::num::NonZeroU32;
use std::time::Duration;

use plugboard_store::{RateLimit, StoreError};

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

crate::backends!(
    a_migrated_database_is_ready_and_one_behind_or_ahead_is_not,
    a_burst_is_taken_then_units_come_back_at_the_rate,
    concurrent_takers_on_two_stores_get_the_limit_in_total,
);
