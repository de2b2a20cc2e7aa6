//! The plugins' key-value stores: get, set, delete, list (prefixes, byte order, limits),
//! expiry and purging, and that plugins never see each other's keys.

use std::time::Duration;

use crate::TestDb;

const HOUR: Option<Duration> = Some(Duration::from_secs(3600));
/// A zero TTL stores an entry that is already expired: expiry is `expires_at <= now`.
const EXPIRED: Option<Duration> = Some(Duration::ZERO);

async fn set_get_overwrite_and_delete(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.kv_get("p", "k").await.unwrap(), None);

    store.kv_set("p", "k", b"one", None).await.unwrap();
    assert_eq!(store.kv_get("p", "k").await.unwrap(), Some(b"one".to_vec()));
    store.kv_set("p", "k", b"two", None).await.unwrap();
    assert_eq!(store.kv_get("p", "k").await.unwrap(), Some(b"two".to_vec()));

    assert!(store.kv_delete("p", "k").await.unwrap());
    assert_eq!(store.kv_get("p", "k").await.unwrap(), None);
    assert!(!store.kv_delete("p", "k").await.unwrap());
}

async fn values_are_bytes_including_empty_and_non_utf8(db: TestDb) {
    let store = db.open().await;
    let binary = [0u8, 255, 0, 0xC3, 0x28, 0];
    store.kv_set("p", "binary", &binary, None).await.unwrap();
    store.kv_set("p", "empty", b"", None).await.unwrap();
    assert_eq!(store.kv_get("p", "binary").await.unwrap(), Some(binary.to_vec()));
    assert_eq!(store.kv_get("p", "empty").await.unwrap(), Some(Vec::new()));
    assert!(store.kv_delete("p", "empty").await.unwrap());
}

async fn plugins_never_see_each_others_keys(db: TestDb) {
    let store = db.open().await;
    store.kv_set("alpha", "shared-name", b"alpha's", None).await.unwrap();
    store.kv_set("beta", "shared-name", b"beta's", None).await.unwrap();

    assert_eq!(store.kv_get("alpha", "shared-name").await.unwrap(), Some(b"alpha's".to_vec()));
    assert_eq!(store.kv_list("beta", "", 10).await.unwrap(), ["shared-name"]);
    assert!(store.kv_delete("beta", "shared-name").await.unwrap());
    assert_eq!(store.kv_get("alpha", "shared-name").await.unwrap(), Some(b"alpha's".to_vec()));
    assert_eq!(store.kv_get("beta", "shared-name").await.unwrap(), None);
    assert!(!store.kv_compare_and_set("gamma", "shared-name", Some(b"alpha's"), None, None).await.unwrap());
}

async fn list_treats_like_and_glob_wildcards_in_prefixes_literally(db: TestDb) {
    let store = db.open().await;
    for key in ["a%b", "a%c", "axb", "a_", "a_1", "ab1", "a*", "a*b", "a?", "a[1]", "A%b"] {
        store.kv_set("p", key, b"", None).await.unwrap();
    }
    assert_eq!(store.kv_list("p", "a%", 10).await.unwrap(), ["a%b", "a%c"]);
    assert_eq!(store.kv_list("p", "a_", 10).await.unwrap(), ["a_", "a_1"]);
    assert_eq!(store.kv_list("p", "a*", 10).await.unwrap(), ["a*", "a*b"]);
    assert_eq!(store.kv_list("p", "a?", 10).await.unwrap(), ["a?"]);
    assert_eq!(store.kv_list("p", "a[", 10).await.unwrap(), ["a[1]"]);
    // Case-sensitive, unlike LIKE.
    assert_eq!(store.kv_list("p", "A", 10).await.unwrap(), ["A%b"]);
    assert_eq!(store.kv_list("p", "a%bc", 10).await.unwrap(), Vec::<String>::new());
}

async fn list_is_in_byte_order_and_stops_at_the_limit(db: TestDb) {
    let store = db.open().await;
    let keys = ["z", "\u{10FFFF}", "a", "é", "B", "Z", "a\u{0}", "ab", "\u{FFFF}"];
    for key in keys {
        store.kv_set("p", key, b"", None).await.unwrap();
    }
    let mut by_bytes = keys.map(str::to_owned).to_vec();
    by_bytes.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(by_bytes, ["B", "Z", "a", "a\u{0}", "ab", "z", "é", "\u{FFFF}", "\u{10FFFF}"]);

    assert_eq!(store.kv_list("p", "", 100).await.unwrap(), by_bytes);
    assert_eq!(store.kv_list("p", "", 3).await.unwrap(), by_bytes[..3]);
    assert_eq!(store.kv_list("p", "", 0).await.unwrap(), Vec::<String>::new());
    assert_eq!(store.kv_list("p", "a", 100).await.unwrap(), ["a", "a\u{0}", "ab"]);
    assert_eq!(store.kv_list("p", "a", 2).await.unwrap(), ["a", "a\u{0}"]);
}

async fn list_prefixes_ending_in_the_highest_characters(db: TestDb) {
    let store = db.open().await;
    for key in
        ["a\u{D7FF}", "a\u{D7FF}x", "a\u{E000}", "\u{10FFFE}z", "\u{10FFFF}", "\u{10FFFF}a", "\u{10FFFF}\u{10FFFF}"]
    {
        store.kv_set("p", key, b"", None).await.unwrap();
    }
    // The next character after U+D7FF is U+E000 (surrogates are not characters).
    assert_eq!(store.kv_list("p", "a\u{D7FF}", 10).await.unwrap(), ["a\u{D7FF}", "a\u{D7FF}x"]);
    // A prefix of the highest character has no upper bound.
    assert_eq!(
        store.kv_list("p", "\u{10FFFF}", 10).await.unwrap(),
        ["\u{10FFFF}", "\u{10FFFF}a", "\u{10FFFF}\u{10FFFF}"]
    );
    assert_eq!(store.kv_list("p", "\u{10FFFF}\u{10FFFF}", 10).await.unwrap(), ["\u{10FFFF}\u{10FFFF}"]);
}

async fn expired_entries_are_absent_everywhere(db: TestDb) {
    let store = db.open().await;
    store.kv_set("p", "expired", b"old", EXPIRED).await.unwrap();
    store.kv_set("p", "live", b"new", HOUR).await.unwrap();

    assert_eq!(store.kv_get("p", "expired").await.unwrap(), None);
    assert_eq!(store.kv_get("p", "live").await.unwrap(), Some(b"new".to_vec()));
    assert_eq!(store.kv_list("p", "", 10).await.unwrap(), ["live"]);
    assert!(!store.kv_delete("p", "expired").await.unwrap());
    assert!(store.kv_delete("p", "live").await.unwrap());
}

async fn setting_an_expired_key_again_revives_it_without_the_old_ttl(db: TestDb) {
    let store = db.open().await;
    store.kv_set("p", "k", b"old", EXPIRED).await.unwrap();
    store.kv_set("p", "k", b"new", None).await.unwrap();
    assert_eq!(store.kv_get("p", "k").await.unwrap(), Some(b"new".to_vec()));
}

async fn an_entry_with_a_short_ttl_expires(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    store.kv_set("p", "k", b"v", Some(Duration::from_millis(2))).await.unwrap();
    clock.advance(Duration::from_millis(1));
    assert_eq!(store.kv_get("p", "k").await.unwrap(), Some(b"v".to_vec()), "not expired yet");
    clock.advance(Duration::from_millis(1));
    assert_eq!(store.kv_get("p", "k").await.unwrap(), None);
    assert_eq!(store.kv_list("p", "", 10).await.unwrap(), Vec::<String>::new());
}

async fn purge_expired_removes_only_expired_entries_of_every_plugin(db: TestDb) {
    let store = db.open().await;
    store.kv_set("alpha", "expired", b"", EXPIRED).await.unwrap();
    store.kv_set("beta", "expired", b"", EXPIRED).await.unwrap();
    store.kv_set("alpha", "forever", b"", None).await.unwrap();
    store.kv_set("beta", "an-hour", b"", HOUR).await.unwrap();

    assert_eq!(store.purge_expired().await.unwrap(), 2);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    assert_eq!(store.kv_list("alpha", "", 10).await.unwrap(), ["forever"]);
    assert_eq!(store.kv_list("beta", "", 10).await.unwrap(), ["an-hour"]);
}

crate::backends!(
    set_get_overwrite_and_delete,
    values_are_bytes_including_empty_and_non_utf8,
    plugins_never_see_each_others_keys,
    list_treats_like_and_glob_wildcards_in_prefixes_literally,
    list_is_in_byte_order_and_stops_at_the_limit,
    list_prefixes_ending_in_the_highest_characters,
    expired_entries_are_absent_everywhere,
    setting_an_expired_key_again_revives_it_without_the_old_ttl,
    an_entry_with_a_short_ttl_expires,
    purge_expired_removes_only_expired_entries_of_every_plugin,
);
