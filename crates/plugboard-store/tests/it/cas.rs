//! Compare-and-set: every combination of expected and new value, on absent, live and
//! expired entries, and atomicity under concurrent writers on several connections.

use std::time::Duration;

use plugboard_store::AnyStore;

use crate::TestDb;

const EXPIRED: Option<Duration> = Some(Duration::ZERO);

async fn value(store: &AnyStore, key: &str) -> Option<Vec<u8>> {
    store.kv_get("p", key).await.unwrap()
}

async fn expected_absent_new_value_creates_only_when_absent(db: TestDb) {
    let store = db.open().await;
    assert!(store.kv_compare_and_set("p", "k", None, Some(b"first"), None).await.unwrap());
    assert_eq!(value(&store, "k").await, Some(b"first".to_vec()));

    assert!(!store.kv_compare_and_set("p", "k", None, Some(b"second"), None).await.unwrap());
    assert_eq!(value(&store, "k").await, Some(b"first".to_vec()));

    // An empty value is present, not absent.
    store.kv_set("p", "empty", b"", None).await.unwrap();
    assert!(!store.kv_compare_and_set("p", "empty", None, Some(b"x"), None).await.unwrap());
}

async fn expected_absent_new_value_replaces_an_expired_entry(db: TestDb) {
    let store = db.open().await;
    store.kv_set("p", "k", b"stale", EXPIRED).await.unwrap();
    assert!(store.kv_compare_and_set("p", "k", None, Some(b"fresh"), None).await.unwrap());
    // The new entry has the new (absent) ttl, not the expired one.
    assert_eq!(value(&store, "k").await, Some(b"fresh".to_vec()));
}

async fn expected_absent_new_absent_reports_whether_the_key_is_absent(db: TestDb) {
    let store = db.open().await;
    assert!(store.kv_compare_and_set("p", "missing", None, None, None).await.unwrap());

    store.kv_set("p", "live", b"v", None).await.unwrap();
    assert!(!store.kv_compare_and_set("p", "live", None, None, None).await.unwrap());
    assert_eq!(value(&store, "live").await, Some(b"v".to_vec()));

    store.kv_set("p", "expired", b"v", EXPIRED).await.unwrap();
    assert!(store.kv_compare_and_set("p", "expired", None, None, None).await.unwrap());
}

async fn expected_value_new_value_replaces_only_a_matching_live_value(db: TestDb) {
    let store = db.open().await;
    assert!(!store.kv_compare_and_set("p", "k", Some(b"a"), Some(b"b"), None).await.unwrap());
    assert_eq!(value(&store, "k").await, None);

    store.kv_set("p", "k", b"a", None).await.unwrap();
    assert!(!store.kv_compare_and_set("p", "k", Some(b"other"), Some(b"b"), None).await.unwrap());
    assert!(!store.kv_compare_and_set("p", "k", Some(b""), Some(b"b"), None).await.unwrap());
    assert_eq!(value(&store, "k").await, Some(b"a".to_vec()));

    assert!(store.kv_compare_and_set("p", "k", Some(b"a"), Some(b"b"), None).await.unwrap());
    assert_eq!(value(&store, "k").await, Some(b"b".to_vec()));

    // The ttl given is the new entry's.
    assert!(store.kv_compare_and_set("p", "k", Some(b"b"), Some(b"c"), EXPIRED).await.unwrap());
    assert_eq!(value(&store, "k").await, None);

    // A matching value that has expired is absent, so it does not match.
    store.kv_set("p", "expired", b"a", EXPIRED).await.unwrap();
    assert!(!store.kv_compare_and_set("p", "expired", Some(b"a"), Some(b"b"), None).await.unwrap());
    assert_eq!(value(&store, "expired").await, None);
}

async fn expected_value_new_absent_deletes_only_a_matching_live_value(db: TestDb) {
    let store = db.open().await;
    assert!(!store.kv_compare_and_set("p", "k", Some(b"a"), None, None).await.unwrap());

    store.kv_set("p", "k", b"a", None).await.unwrap();
    assert!(!store.kv_compare_and_set("p", "k", Some(b"b"), None, None).await.unwrap());
    assert_eq!(value(&store, "k").await, Some(b"a".to_vec()));
    assert!(store.kv_compare_and_set("p", "k", Some(b"a"), None, None).await.unwrap());
    assert_eq!(value(&store, "k").await, None);
    assert_eq!(store.kv_list("p", "", 10).await.unwrap(), Vec::<String>::new());

    store.kv_set("p", "expired", b"a", EXPIRED).await.unwrap();
    assert!(!store.kv_compare_and_set("p", "expired", Some(b"a"), None, None).await.unwrap());

    store.kv_set("p", "empty", b"", None).await.unwrap();
    assert!(store.kv_compare_and_set("p", "empty", Some(b""), None, None).await.unwrap());
    assert_eq!(value(&store, "empty").await, None);
}

/// 8 tasks × 50 increments of one counter by read, compare-and-set, retry on conflict.
/// A lost update (two writers both succeeding from the same value) leaves less than 400.
async fn concurrent_compare_and_set_increments_lose_no_update(db: TestDb) {
    const TASKS: u64 = 8;
    const INCREMENTS: u64 = 50;
    let store = db.open().await;

    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    loop {
                        let current = store.kv_get("p", "counter").await.unwrap();
                        let count: u64 = match &current {
                            Some(bytes) => std::str::from_utf8(bytes).unwrap().parse().unwrap(),
                            None => 0,
                        };
                        let next = (count + 1).to_string();
                        if store
                            .kv_compare_and_set("p", "counter", current.as_deref(), Some(next.as_bytes()), None)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    assert_eq!(value(&store, "counter").await, Some((TASKS * INCREMENTS).to_string().into_bytes()));
}

crate::backends!(
    concurrent_compare_and_set_increments_lose_no_update,
    expected_absent_new_value_creates_only_when_absent,
    expected_absent_new_value_replaces_an_expired_entry,
    expected_absent_new_absent_reports_whether_the_key_is_absent,
    expected_value_new_value_replaces_only_a_matching_live_value,
    expected_value_new_absent_deletes_only_a_matching_live_value,
);
