//! Secret settings at rest: encrypted in the database file under the server key while the
//! plugin gets them in clear; plain secrets of an older database encrypted at start; a
//! secret under a key the server does not have fails its plugin with what to do, and is
//! kept; rotation re-encrypts every secret, and a running registry follows it.

use std::path::Path;
use std::sync::Arc;

use plugboard_registry::secrets::{self, KEY_FILE, OLD_KEY_FILE, SecretKey, sealed_key_id};
use plugboard_store::{PluginRecord, PluginStore, SqliteStore};
use serde_json::json;

use crate::{Setup, id, stop};

const API_KEY: &str = "sk-live-4242-do-not-leak";

/// `example-tagger` with two secret settings.
fn setup_with_secrets() -> Setup {
    let setup = Setup::with(&["example-tagger"]);
    setup.edit_manifest("example-tagger", |text| {
        format!(
            "{text}\n[settings.properties.api_key]\ntype = \"string\"\nformat = \"password\"\n\n\
             [settings.properties.webhook_secret]\ntype = \"string\"\nwriteOnly = true\n"
        )
    });
    setup
}

/// Every byte of the database: the file and its journal files.
fn database_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(mut more) = std::fs::read(&path) {
            bytes.append(&mut more);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

async fn saved_settings(db: &Path) -> serde_json::Value {
    let store = SqliteStore::open(db).await.unwrap();
    let record = store.plugin_record("example-tagger").await.unwrap().unwrap();
    store.close().await;
    record.settings.unwrap()
}

/// Starts a registry over its own store, which is closed (its journal checkpointed into
/// the file) once `check` has looked at the registry.
async fn with_registry<F: AsyncFnOnce(&plugboard_registry::Registry)>(setup: &Setup, check: F) {
    let store = SqliteStore::open(&setup.db_path()).await.unwrap();
    let registry = setup.open_on(Arc::new(store.clone()), setup.config()).await;
    registry.start().await;
    check(&registry).await;
    stop(registry).await;
    store.close().await;
}

#[tokio::test]
async fn a_secret_is_encrypted_in_the_database_file_and_the_plugin_gets_it() {
    let setup = setup_with_secrets();
    let plugin_id = id("example-tagger");
    with_registry(&setup, async |registry| {
        registry.update_settings(&plugin_id, &json!({"tag": "t", "api_key": API_KEY})).await.unwrap();
        assert_eq!(registry.plugin(&plugin_id).unwrap().settings()["api_key"], API_KEY);
    })
    .await;

    let bytes = database_bytes(&setup.db_path());
    assert!(contains(&bytes, "example-tagger"), "the check reads the right file");
    assert!(!contains(&bytes, API_KEY), "the secret is in the database file in clear");
    let saved = saved_settings(&setup.db_path()).await;
    assert_eq!(saved["tag"], "t", "other settings stay plain");
    assert_eq!(sealed_key_id(&saved["api_key"]), Some(setup.secret_keys().current().id()), "{saved}");
    assert!(!setup.data.path().join(format!("{}.tmp", KEY_FILE)).exists());

    // The next start opens it for the plugin.
    with_registry(&setup, async |registry| {
        assert_eq!(registry.plugin(&plugin_id).unwrap().settings()["api_key"], API_KEY);
        assert_eq!(registry.settings(&plugin_id).await.unwrap()["api_key"], serde_json::Value::Null);
    })
    .await;
}

#[tokio::test]
async fn plain_secrets_of_an_older_database_are_encrypted_at_start() {
    let setup = setup_with_secrets();
    let store = SqliteStore::open(&setup.db_path()).await.unwrap();
    let record = PluginRecord {
        plugin: "example-tagger".to_owned(),
        enabled: true,
        disabled_reason: None,
        settings: Some(json!({"tag": "old", "api_key": API_KEY})),
        fail_mode: None,
        updated_at_ms: 1,
    };
    store.save_plugin_record(&record).await.unwrap();
    store.close().await;
    assert!(contains(&database_bytes(&setup.db_path()), API_KEY), "as an older version left it");

    let plugin_id = id("example-tagger");
    with_registry(&setup, async |registry| {
        assert_eq!(registry.plugin(&plugin_id).unwrap().settings()["api_key"], API_KEY);
    })
    .await;
    let saved = saved_settings(&setup.db_path()).await;
    assert!(secrets::is_sealed(&saved["api_key"]), "{saved}");
    assert_eq!(saved["tag"], "old");
    assert!(!contains(&database_bytes(&setup.db_path()), API_KEY), "the plain secret is still in the file");
}

#[tokio::test]
async fn a_secret_under_a_key_the_server_lacks_fails_its_plugin_with_what_to_do_and_is_kept() {
    let setup = setup_with_secrets();
    let plugin_id = id("example-tagger");
    with_registry(&setup, async |registry| {
        registry.update_settings(&plugin_id, &json!({"api_key": API_KEY})).await.unwrap();
    })
    .await;
    let key_file = setup.data.path().join(KEY_FILE);
    let original = std::fs::read(&key_file).unwrap();
    let saved = saved_settings(&setup.db_path()).await;

    // The key file is replaced by another key (lost, and a new one made).
    std::fs::remove_file(&key_file).unwrap();
    let registry = setup.start().await;
    assert!(registry.plugin(&plugin_id).is_none());
    let entry = registry.list().await.into_iter().find(|entry| entry.id == plugin_id).unwrap();
    let error = entry.error.unwrap();
    assert!(error.contains("cannot decrypt secret setting `api_key` of plugin `example-tagger`"), "{error}");
    assert!(error.contains(&format!("put the `{KEY_FILE}` saved with this database back")), "{error}");
    assert!(error.contains("PLUGBOARD_SECRET_KEY") && error.contains("enter the secret again"), "{error}");
    // Shown unset, and nothing lost.
    assert_eq!(registry.settings(&plugin_id).await.unwrap()["api_key"], serde_json::Value::Null);
    assert_eq!(registry.store().plugin_record("example-tagger").await.unwrap().unwrap().settings, Some(saved));
    stop(registry).await;

    // With the key back, the plugin has its secret again.
    std::fs::write(&key_file, &original).unwrap();
    let registry = setup.start().await;
    assert_eq!(registry.plugin(&plugin_id).unwrap().settings()["api_key"], API_KEY);
    stop(registry).await;

    // Entering the secret again under another key loads the plugin with it.
    std::fs::remove_file(&key_file).unwrap();
    let registry = setup.start().await;
    assert!(registry.plugin(&plugin_id).is_none());
    registry.update_settings(&plugin_id, &json!({"api_key": "sk-new"})).await.unwrap();
    assert_eq!(registry.plugin(&plugin_id).unwrap().settings()["api_key"], "sk-new");
    stop(registry).await;
}

#[tokio::test]
async fn rotating_the_key_re_encrypts_every_secret_and_a_running_registry_follows() {
    let setup = setup_with_secrets();
    let plugin_id = id("example-tagger");
    let old = setup.secret_keys().current();
    let registry = setup.start().await;
    registry.update_settings(&plugin_id, &json!({"api_key": API_KEY, "webhook_secret": "whs"})).await.unwrap();

    // Rotated by another process while this registry runs.
    let store = SqliteStore::open(&setup.db_path()).await.unwrap();
    let rotated = secrets::rotate_key_files(&store, setup.data.path()).await.unwrap();
    store.close().await;
    assert_eq!((rotated.secrets, &rotated.old), (2, &old));
    let new = setup.secret_keys().current();
    assert_eq!(new, rotated.new);
    assert_ne!(new, old);
    assert_eq!(
        SecretKey::parse_hex(&std::fs::read_to_string(setup.data.path().join(OLD_KEY_FILE)).unwrap()),
        Some(old)
    );
    let saved = saved_settings(&setup.db_path()).await;
    assert_eq!(sealed_key_id(&saved["api_key"]), Some(new.id()));
    assert_eq!(sealed_key_id(&saved["webhook_secret"]), Some(new.id()));

    // The running registry meets the new key, reads the key files again and seals with it.
    registry.update_settings(&plugin_id, &json!({"tag": "after"})).await.unwrap();
    assert_eq!(registry.plugin(&plugin_id).unwrap().settings()["api_key"], API_KEY);
    let saved = saved_settings(&setup.db_path()).await;
    assert_eq!(sealed_key_id(&saved["api_key"]), Some(new.id()));
    stop(registry).await;

    // A secret that does not open stops a rotation before anything changes.
    let store = SqliteStore::open(&setup.db_path()).await.unwrap();
    let mut broken = store.plugin_record("example-tagger").await.unwrap().unwrap();
    broken.settings.as_mut().unwrap()["api_key"] =
        SecretKey::generate().unwrap().seal("example-tagger", "api_key", &json!("lost")).unwrap();
    store.save_plugin_record(&broken).await.unwrap();
    let error = secrets::rotate_key_files(&store, setup.data.path()).await.unwrap_err().to_string();
    assert!(
        error.starts_with(
            "nothing was re-encrypted, because secret setting `api_key` of plugin `example-tagger` cannot be decrypted"
        ),
        "{error}"
    );
    assert_eq!(store.plugin_record("example-tagger").await.unwrap().unwrap().settings, broken.settings);
    store.close().await;
}

/// MCP servers' secrets (kept sealed for `mcp:<name>` by the server) are re-encrypted with
/// the plugins' in the same rotation.
#[tokio::test]
async fn rotating_the_key_re_encrypts_the_mcp_servers_secrets_too() {
    let setup = setup_with_secrets();
    let old = setup.secret_keys();
    let store = SqliteStore::open(&setup.db_path()).await.unwrap();
    let sealed = old.seal("mcp:files", "env.TOKEN", &json!(API_KEY)).unwrap();
    let server = plugboard_store::StoredMcpServer {
        name: "files".to_owned(),
        config: json!({"name": "files", "transport": "stdio", "command": "x", "env": {"TOKEN": "(secret)"}}),
        secrets: json!({ "env.TOKEN": sealed }),
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    assert!(store.add_mcp_server(&server).await.unwrap());

    let rotated = secrets::rotate_key_files(&store, setup.data.path()).await.unwrap();
    assert_eq!(rotated.secrets, 1);
    let stored = store.mcp_server("files").await.unwrap().unwrap();
    assert_eq!(sealed_key_id(&stored.secrets["env.TOKEN"]), Some(rotated.new.id()));
    let keys = setup.secret_keys();
    assert_eq!(keys.open("mcp:files", "env.TOKEN", &stored.secrets["env.TOKEN"]).unwrap(), json!(API_KEY));
    assert_eq!(stored.config, server.config, "the configuration stays as it was");

    // One that does not open stops the rotation, naming it.
    let mut broken = stored.clone();
    broken.secrets["env.TOKEN"] = SecretKey::generate().unwrap().seal("mcp:files", "env.TOKEN", &json!("x")).unwrap();
    store.replace_mcp_server(&broken).await.unwrap();
    let error = secrets::rotate_key_files(&store, setup.data.path()).await.unwrap_err().to_string();
    assert!(error.contains("secret setting `env.TOKEN` of plugin `mcp:files` cannot be decrypted"), "{error}");
    store.close().await;
}
