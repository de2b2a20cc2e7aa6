//! Opening databases: creating files and directories, WAL, errors that name the path,
//! databases from a newer Plugboard, corrupt stored data and in-memory databases.

use std::path::Path;

use plugboard_store::{PluginRecord, PluginStore, SqliteStore, StoreError};

use crate::{open_temp_store, temp_db_path};

/// Runs raw SQL on a database file, as another program (or an older bug) might have.
pub(crate) async fn tamper(path: &Path, sql: &str) {
    use sqlx::Connection;
    let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query(sql).execute(&mut connection).await.unwrap();
    connection.close().await.unwrap();
}

fn expect_open_error(result: Result<SqliteStore, StoreError>, path: &Path) -> String {
    let error = result.expect_err("opening should fail");
    let message = error.to_string();
    match error {
        StoreError::Open { path: error_path, .. } => assert_eq!(error_path, path),
        other => panic!("expected an Open error, got {other:?}"),
    }
    assert!(message.contains(&path.display().to_string()), "{message}");
    message
}

#[tokio::test]
async fn open_creates_missing_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("nested").join("plugboard.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.kv_set("p", "k", b"v", None).await.unwrap();
    assert!(path.is_file());
}

#[tokio::test]
async fn open_inside_a_file_fails_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let path = file.join("plugboard.db");

    let message = expect_open_error(SqliteStore::open(&path).await, &path);
    assert!(message.starts_with("cannot open the database at "), "{message}");
    assert!(message.contains("writable"), "{message}");
}

#[tokio::test]
async fn open_a_directory_fails_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    expect_open_error(SqliteStore::open(dir.path()).await, dir.path());
}

#[tokio::test]
async fn open_a_file_that_is_not_a_database_says_so_naming_the_path() {
    let (_dir, path) = temp_db_path();
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let error = SqliteStore::open(&path).await.expect_err("a text file is not a database");
    assert!(matches!(&error, StoreError::NotADatabase { path: error_path, .. } if *error_path == path), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()) && message.contains("move it aside"), "{message}");
}

#[tokio::test]
async fn the_journal_is_a_write_ahead_log() {
    let (dir, store) = open_temp_store().await;
    store.kv_set("p", "k", b"v", None).await.unwrap();
    assert!(dir.path().join("plugboard.db-wal").is_file(), "no -wal file beside the database");
}

#[tokio::test]
async fn a_database_from_a_newer_plugboard_is_refused_with_a_clear_message() {
    let (_dir, path) = temp_db_path();
    SqliteStore::open(&path).await.unwrap().close().await;
    tamper(
        &path,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', TRUE, x'00', 0)",
    )
    .await;

    let error = SqliteStore::open(&path).await.expect_err("a newer schema must be refused");
    let message = error.to_string();
    match error {
        StoreError::NewerSchema { path: error_path, found, supported } => {
            assert_eq!((error_path.as_path(), found, supported), (path.as_path(), 9999, 10));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(message.contains("newer Plugboard") && message.contains("upgrade Plugboard"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[tokio::test]
async fn stored_settings_that_are_not_json_are_reported_as_corrupt() {
    let (_dir, path) = temp_db_path();
    let store = SqliteStore::open(&path).await.unwrap();
    let record = PluginRecord {
        plugin: "tagger".to_owned(),
        enabled: true,
        disabled_reason: None,
        settings: None,
        fail_mode: None,
        updated_at_ms: 0,
    };
    store.save_plugin_record(&record).await.unwrap();
    tamper(&path, "UPDATE plugin_state SET settings = '{not json' WHERE plugin = 'tagger'").await;

    let error = store.plugin_record("tagger").await.expect_err("settings are not JSON");
    assert!(matches!(&error, StoreError::Corrupt { plugin, what: "settings", .. } if plugin == "tagger"), "{error:?}");
    assert!(error.to_string().contains("`tagger`"), "{error}");
    assert!(matches!(store.plugin_records().await, Err(StoreError::Corrupt { .. })));

    // Saving the record again repairs it.
    store.save_plugin_record(&record).await.unwrap();
    assert_eq!(store.plugin_record("tagger").await.unwrap(), Some(record));
}

#[tokio::test]
async fn a_closed_store_fails_with_a_query_error_naming_the_plugin() {
    let (_dir, store) = open_temp_store().await;
    store.close().await;
    let error = store.kv_get("tagger", "k").await.expect_err("the store is closed");
    assert!(matches!(&error, StoreError::Query { plugin: Some(plugin), .. } if plugin == "tagger"), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("cannot read a key-value entry of plugin `tagger`: "), "{message}");
}

#[tokio::test]
async fn a_closed_store_refuses_writes_too_and_loses_none_made_before() {
    let (dir, store) = open_temp_store().await;
    store.kv_set("tagger", "kept", b"v", None).await.unwrap();
    store.close().await;
    let error = store.kv_set("tagger", "k", b"v", None).await.expect_err("the store is closed");
    assert!(matches!(&error, StoreError::Query { plugin: Some(plugin), .. } if plugin == "tagger"), "{error:?}");
    assert!(error.to_string().starts_with("cannot write a key-value entry of plugin `tagger`: "), "{error}");
    // The last connection to close checkpointed the journal into the database file.
    assert!(!dir.path().join("plugboard.db-wal").exists(), "the -wal file outlived the store");
    let reopened = SqliteStore::open(&dir.path().join("plugboard.db")).await.unwrap();
    assert_eq!(reopened.kv_get("tagger", "kept").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test]
async fn writes_from_many_tasks_at_once_all_land_and_are_read_back_at_once() {
    let (_dir, store) = open_temp_store().await;
    let store = std::sync::Arc::new(store);
    let tasks: Vec<_> = (0..64)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for write in 0..8 {
                    let key = format!("{task}-{write}");
                    store.kv_set("p", &key, key.as_bytes(), None).await.unwrap();
                    // A read right after a write sees it, though another connection reads.
                    assert_eq!(store.kv_get("p", &key).await.unwrap(), Some(key.into_bytes()));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.kv_list("p", "", 1000).await.unwrap().len(), 64 * 8);
}

#[tokio::test]
async fn in_memory_stores_work_and_are_private() {
    let first = SqliteStore::open_in_memory().await.unwrap();
    let second = SqliteStore::open_in_memory().await.unwrap();
    first.kv_set("p", "k", b"v", None).await.unwrap();
    assert!(first.kv_compare_and_set("p", "k", Some(b"v"), Some(b"w"), None).await.unwrap());
    assert_eq!(first.kv_get("p", "k").await.unwrap(), Some(b"w".to_vec()));
    assert_eq!(second.kv_get("p", "k").await.unwrap(), None);
    // A clone shares the database.
    assert_eq!(first.clone().kv_get("p", "k").await.unwrap(), Some(b"w".to_vec()));
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/plugboard.db");
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let store = plugboard_store::SqliteStore::open(&path).await.unwrap();
    plugboard_store::ChatStore::create_user(&store, "alice", "hash").await.unwrap();
    assert_eq!(mode(path.parent().unwrap()), 0o700, "a new data folder");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&path.with_file_name("plugboard.db-wal")), 0o600, "SQLite copies the main file's mode");
    store.close().await;

    // A database an earlier version left readable by everyone is made private when opened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = plugboard_store::SqliteStore::open_with(&path, plugboard_store::Durability::Full).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    let found = plugboard_store::ChatStore::user_by_name(&store, "alice").await.unwrap();
    assert_eq!(found.map(|(user, _)| user.username), Some("alice".to_owned()));
    store.close().await;
}
