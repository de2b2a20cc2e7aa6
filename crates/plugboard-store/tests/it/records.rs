//! Plugin records: upsert, read back, ordering, and surviving a restart.

use plugboard_store::{FaultEntry, PluginRecord, SettingsChange};
use serde_json::json;

use crate::TestDb;

fn record(plugin: &str) -> PluginRecord {
    PluginRecord {
        plugin: plugin.to_owned(),
        enabled: true,
        disabled_reason: None,
        settings: None,
        fail_mode: None,
        updated_at_ms: 1_700_000_000_000,
    }
}

async fn a_plugin_without_a_record_has_none(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.plugin_record("nobody").await.unwrap(), None);
    assert_eq!(store.plugin_records().await.unwrap(), vec![]);
}

async fn saving_a_record_again_replaces_it(db: TestDb) {
    let store = db.open().await;
    store.save_plugin_record(&record("tagger")).await.unwrap();

    let replaced = PluginRecord {
        enabled: false,
        disabled_reason: Some("8 faults in 60 s".to_owned()),
        settings: Some(json!({"tag": "x", "nested": {"list": [1, 2.5, null, "s"]}})),
        fail_mode: Some("closed".to_owned()),
        updated_at_ms: 1_700_000_000_500,
        ..record("tagger")
    };
    store.save_plugin_record(&replaced).await.unwrap();
    assert_eq!(store.plugin_record("tagger").await.unwrap(), Some(replaced.clone()));
    assert_eq!(store.plugin_records().await.unwrap(), vec![replaced]);

    // Back to nothing: optional fields are cleared, not kept from the earlier record.
    store.save_plugin_record(&record("tagger")).await.unwrap();
    assert_eq!(store.plugin_record("tagger").await.unwrap(), Some(record("tagger")));
}

async fn settings_of_any_json_kind_round_trip(db: TestDb) {
    let store = db.open().await;
    for (index, settings) in [json!(null), json!(0), json!("text"), json!([]), json!({})].into_iter().enumerate() {
        let saved = PluginRecord { settings: Some(settings), ..record(&format!("p{index}")) };
        store.save_plugin_record(&saved).await.unwrap();
        assert_eq!(store.plugin_record(&saved.plugin).await.unwrap(), Some(saved));
    }
}

async fn records_are_listed_by_plugin_id(db: TestDb) {
    let store = db.open().await;
    for plugin in ["word-stats", "calculator", "pii-redactor", "a"] {
        store.save_plugin_record(&record(plugin)).await.unwrap();
    }
    let plugins: Vec<String> = store.plugin_records().await.unwrap().into_iter().map(|r| r.plugin).collect();
    assert_eq!(plugins, ["a", "calculator", "pii-redactor", "word-stats"]);
}

async fn records_survive_closing_and_reopening_the_file(db: TestDb) {
    let saved = PluginRecord {
        enabled: false,
        settings: Some(json!({"threshold": 3})),
        fail_mode: Some("open".to_owned()),
        ..record("pii-redactor")
    };
    let store = db.open().await;
    store.save_plugin_record(&saved).await.unwrap();
    store.kv_set("pii-redactor", "k", b"v", None).await.unwrap();
    store.close().await;

    let reopened = db.open().await;
    assert_eq!(reopened.plugin_records().await.unwrap(), vec![saved]);
    assert_eq!(reopened.kv_get("pii-redactor", "k").await.unwrap(), Some(b"v".to_vec()));
}

async fn delete_plugin_data_forgets_record_faults_and_keys_of_that_plugin_only(db: TestDb) {
    let store = db.open().await;
    for plugin in ["gone", "kept"] {
        store.save_plugin_record(&record(plugin)).await.unwrap();
        let fault =
            FaultEntry { plugin: plugin.to_owned(), version: "1.0.0".to_owned(), at_ms: 1, error: "trap".to_owned() };
        store.record_fault(&fault).await.unwrap();
        store.kv_set(plugin, "key", b"value", None).await.unwrap();
    }

    store.delete_plugin_data("gone").await.unwrap();

    assert_eq!(store.plugin_record("gone").await.unwrap(), None);
    assert_eq!(store.faults("gone", 10).await.unwrap(), vec![]);
    assert_eq!(store.kv_get("gone", "key").await.unwrap(), None);
    assert!(store.plugin_record("kept").await.unwrap().is_some());
    assert_eq!(store.faults("kept", 10).await.unwrap().len(), 1);
    assert_eq!(store.kv_get("kept", "key").await.unwrap(), Some(b"value".to_vec()));

    // Forgetting a plugin the store never heard of is not an error.
    store.delete_plugin_data("never-installed").await.unwrap();
}

async fn settings_are_replaced_together_or_not_at_all(db: TestDb) {
    let store = db.open().await;
    let one = PluginRecord { settings: Some(json!({"key": "a"})), ..record("one") };
    let two = PluginRecord { settings: None, ..record("two") };
    store.save_plugin_record(&one).await.unwrap();
    store.save_plugin_record(&two).await.unwrap();
    let change = |plugin: &str, expected: Option<serde_json::Value>, new: serde_json::Value| SettingsChange {
        plugin: plugin.to_owned(),
        expected,
        new: Some(new),
    };

    // `two` is not as expected: nothing changes, `one` included.
    let stale = [change("one", one.settings.clone(), json!({"key": "b"})), change("two", Some(json!({})), json!({}))];
    assert!(!store.replace_settings(&stale).await.unwrap());
    assert_eq!(store.plugin_record("one").await.unwrap(), Some(one.clone()));
    // Nor for a plugin without a record.
    let missing = [change("one", one.settings.clone(), json!({"key": "b"})), change("three", None, json!({}))];
    assert!(!store.replace_settings(&missing).await.unwrap());
    assert_eq!(store.plugin_record("one").await.unwrap(), Some(one.clone()));

    let current = [change("one", one.settings.clone(), json!({"key": "b"})), change("two", None, json!({"x": 1}))];
    assert!(store.replace_settings(&current).await.unwrap());
    let saved = store.plugin_record("one").await.unwrap().unwrap();
    assert_eq!((saved.settings, saved.enabled), (Some(json!({"key": "b"})), true));
    assert_eq!(store.plugin_record("two").await.unwrap().unwrap().settings, Some(json!({"x": 1})));
}

crate::backends!(
    records_survive_closing_and_reopening_the_file,
    a_plugin_without_a_record_has_none,
    saving_a_record_again_replaces_it,
    settings_of_any_json_kind_round_trip,
    records_are_listed_by_plugin_id,
    delete_plugin_data_forgets_record_faults_and_keys_of_that_plugin_only,
    settings_are_replaced_together_or_not_at_all,
);
