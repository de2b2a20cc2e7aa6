//! Integration tests of `plugboard-store` through its public API, against real SQLite
//! database files in temporary directories.

#![allow(clippy::unwrap_used, reason = "test helpers may unwrap like the tests they serve")]

mod attachments;
mod cas;
mod conversations;
mod faults;
mod kv;
mod messages;
mod open;
mod records;
mod tasks;
mod traces;
mod users;

use std::path::PathBuf;

use plugboard_store::{ChatStore, Conversation, MessageStatus, NewMessage, Role, SqliteStore, User};
use plugboard_types::ManualClock;
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

/// A store in a fresh database file whose time moves only when the test says.
async fn open_temp_store_with_clock() -> (TempDir, SqliteStore, ManualClock) {
    let (dir, store) = open_temp_store().await;
    let clock = ManualClock::new();
    (dir, store.with_clock(std::sync::Arc::new(clock.clone())), clock)
}

/// Milliseconds since the Unix epoch, as the store counts them.
fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// A user (the admin: the first) and a conversation of theirs.
async fn user_and_conversation(store: &SqliteStore) -> (User, Conversation) {
    let user = store.create_user("alice", "hash-of-alice").await.unwrap();
    let conversation = store.create_conversation(&user.id, "First chat").await.unwrap();
    (user, conversation)
}

/// A complete message in `conversation_id`.
fn new_message(conversation_id: &str, role: Role, content: &str) -> NewMessage {
    NewMessage {
        conversation_id: conversation_id.to_owned(),
        role,
        author: if role == Role::User { "user" } else { "assistant" }.to_owned(),
        content: content.to_owned(),
        data: None,
        status: MessageStatus::Complete,
    }
}
