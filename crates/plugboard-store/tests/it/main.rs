//! Integration tests of `plugboard-store` through its public API, against real SQLite
//! database files in temporary directories.

#![allow(clippy::unwrap_used, reason = "test helpers may unwrap like the tests they serve")]

mod cas;
mod faults;
mod kv;
mod open;
mod records;

use std::path::PathBuf;

use plugboard_store::SqliteStore;
use tempfile::TempDir;

/// A temporary directory and the path of a database file inside it (not yet created).
fn temp_db_path() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("plugboard.db");
    (dir, path)
}

/// A store in a fresh database file; keep the directory alive as long as the store.
async fn open_temp_store() -> (TempDir, SqliteStore) {
    let (dir, path) = temp_db_path();
    let store = SqliteStore::open(&path).await.expect("open the store");
    (dir, store)
}
