//! What servers sharing a database see alike: installed packages and trusted keys, kept
//! with a row left by a removal, and (PostgreSQL only) notifications of their changes.

use std::time::Duration;

use plugboard_store::{Notice, StoredPackage, Topic};

use crate::TestDb;

fn package(plugin: &str, sha256: &str) -> StoredPackage {
    StoredPackage {
        plugin: plugin.to_owned(),
        version: "1.2.0".to_owned(),
        sha256: sha256.to_owned(),
        signer_fingerprint: Some("0123456789abcdef".to_owned()),
        signer: Some("Team".to_owned()),
        trusted: true,
        removed: false,
        updated_at_ms: 0,
    }
}

async fn a_package_is_kept_whole_and_its_removal_leaves_a_row(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.packages().await.unwrap(), vec![]);
    let bytes: Vec<u8> = (0..=255).cycle().take(70_000).collect();
    store.save_package(&package("tagger", "aa"), &bytes).await.unwrap();
    let listed = store.packages().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].plugin, "tagger");
    assert_eq!(listed[0].sha256, "aa");
    assert_eq!(listed[0].signer.as_deref(), Some("Team"));
    assert!(listed[0].trusted && !listed[0].removed);
    assert_eq!(store.package_bytes("tagger").await.unwrap(), Some(bytes.clone()));

    // A newer package replaces it.
    store
        .save_package(&StoredPackage { version: "1.3.0".to_owned(), ..package("tagger", "bb") }, b"newer")
        .await
        .unwrap();
    let listed = store.packages().await.unwrap();
    assert_eq!((listed[0].version.as_str(), listed[0].sha256.as_str()), ("1.3.0", "bb"));
    assert_eq!(store.package_bytes("tagger").await.unwrap(), Some(b"newer".to_vec()));

    // Removing keeps the row, marked, without the bytes; only once.
    assert!(store.remove_package("tagger").await.unwrap());
    assert!(!store.remove_package("tagger").await.unwrap());
    assert!(!store.remove_package("never-installed").await.unwrap());
    let listed = store.packages().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].removed);
    assert_eq!(store.package_bytes("tagger").await.unwrap(), None);

    // Installing it again brings it back.
    store.save_package(&package("tagger", "cc"), b"again").await.unwrap();
    assert!(!store.packages().await.unwrap()[0].removed);
    assert_eq!(store.package_bytes("tagger").await.unwrap(), Some(b"again".to_vec()));
}

async fn a_trusted_key_is_kept_and_its_removal_leaves_a_row(db: TestDb) {
    let store = db.open().await;
    store.save_trusted_key("00aa", "plugboard-ed25519 AAAA Team").await.unwrap();
    store.save_trusted_key("00bb", "plugboard-ed25519 BBBB Friend").await.unwrap();
    let keys = store.trusted_keys().await.unwrap();
    let listed: Vec<(&str, &str, bool)> =
        keys.iter().map(|key| (key.fingerprint.as_str(), key.key_text.as_str(), key.removed)).collect();
    assert_eq!(
        listed,
        [("00aa", "plugboard-ed25519 AAAA Team", false), ("00bb", "plugboard-ed25519 BBBB Friend", false)]
    );
    assert!(store.remove_trusted_key("00aa").await.unwrap());
    assert!(!store.remove_trusted_key("00aa").await.unwrap());
    assert!(!store.remove_trusted_key("00cc").await.unwrap());
    let keys = store.trusted_keys().await.unwrap();
    assert!(keys[0].removed && !keys[1].removed);
    store.save_trusted_key("00aa", "plugboard-ed25519 AAAA Team").await.unwrap();
    assert!(!store.trusted_keys().await.unwrap()[0].removed);
}

async fn only_a_shared_database_notifies(db: TestDb) {
    let store = db.open().await;
    let listener = store.listen().await.unwrap();
    assert_eq!(listener.is_some(), store.is_shared());
    // Publishing without listeners is no error either way.
    store.publish("hello").await.unwrap();
}

crate::backends!(
    a_package_is_kept_whole_and_its_removal_leaves_a_row,
    a_trusted_key_is_kept_and_its_removal_leaves_a_row,
    only_a_shared_database_notifies,
);

/// Waits for the next notice, at most 10 s.
async fn next(listener: &mut Box<dyn plugboard_store::Notifications>) -> Notice {
    tokio::time::timeout(Duration::from_secs(10), listener.next()).await.expect("a notice within 10 s").unwrap()
}

/// Another server's changes reach a listener when they commit, named by topic; published
/// messages reach every listener, the publisher's own included; a message too long for a
/// notification is refused with the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_tells_listeners_of_each_committed_change() {
    let db = TestDb::postgres().await;
    let here = db.open().await;
    let there = db.open().await;
    let mut listener = here.listen().await.unwrap().expect("PostgreSQL notifies");

    there
        .save_plugin_record(&plugboard_store::PluginRecord {
            plugin: "tagger".to_owned(),
            enabled: false,
            disabled_reason: None,
            settings: None,
            fail_mode: None,
            updated_at_ms: 1,
        })
        .await
        .unwrap();
    assert_eq!(next(&mut listener).await, Notice::Changed(Topic::Plugins));
    there.save_package(&package("tagger", "aa"), b"bytes").await.unwrap();
    assert_eq!(next(&mut listener).await, Notice::Changed(Topic::Packages));
    there.save_trusted_key("00aa", "plugboard-ed25519 AAAA Team").await.unwrap();
    assert_eq!(next(&mut listener).await, Notice::Changed(Topic::TrustedKeys));
    there.publish(r#"{"kind":"test"}"#).await.unwrap();
    assert_eq!(next(&mut listener).await, Notice::Message(r#"{"kind":"test"}"#.to_owned()));
    here.publish("mine").await.unwrap();
    assert_eq!(next(&mut listener).await, Notice::Message("mine".to_owned()));

    let too_long = "x".repeat(plugboard_store::MAX_MESSAGE_BYTES + 1);
    let error = here.publish(&too_long).await.unwrap_err().to_string();
    assert!(error.contains("more than the 7900 a notification carries"), "{error}");
}
