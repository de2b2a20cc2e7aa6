//! Integration tests of `plugboard-store` through its public API: one suite, run against
//! both backends. A test written as `async fn name(db: TestDb)` and listed in its module's
//! `backends!` runs twice, as `module::sqlite::name` (a database file in a temporary
//! directory) and `module::postgres::name` (a database of its own, created on the
//! PostgreSQL server at `PLUGBOARD_TEST_POSTGRES`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`, and dropped when the test ends, even when
//! it fails). Tests of what only SQLite has (files, their permissions and format, in-memory
//! databases) are plain `#[tokio::test]`s.
//!
//! When no PostgreSQL server answers there and it is on this machine, the first PostgreSQL
//! test runs `.ci/postgres` (which installs PostgreSQL from Debian's packages when missing
//! and starts it on that port), so `cargo test` arranges it itself; if that cannot be done, the PostgreSQL
//! half fails saying why. It is never skipped.

#![allow(clippy::unwrap_used, reason = "test helpers may unwrap like the tests they serve")]

/// Runs each listed test (an `async fn(TestDb)` of the module) against both backends.
macro_rules! backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(crate::TestDb::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(crate::TestDb::postgres().await).await
                }
            )*
        }
    };
}
pub(crate) use backends;

mod approvals;
mod attachments;
mod cas;
mod cluster;
mod conversations;
mod copy;
mod faults;
mod kv;
mod mcp_servers;
mod messages;
mod nul_text;
mod open;
mod records;
mod shared;
mod tasks;
mod traces;
mod users;

use std::path::PathBuf;
use std::sync::Arc;

use plugboard_store::testing::TestDatabase;
use plugboard_store::{
    AnyStore, Conversation, DatabaseLocation, Durability, MessageStatus, NewMessage, Role, SqliteStore, User,
};
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

/// A fresh, empty database of one backend, for one test; every store opened on it sees the
/// same data (as servers sharing a database do). It is removed when dropped.
pub(crate) struct TestDb {
    location: DatabaseLocation,
    _sqlite_dir: Option<TempDir>,
    postgres: Option<TestDatabase>,
}

impl TestDb {
    /// A database file in a new temporary directory.
    pub(crate) fn sqlite() -> TestDb {
        let (dir, path) = temp_db_path();
        TestDb { location: DatabaseLocation::Sqlite(path), _sqlite_dir: Some(dir), postgres: None }
    }

    /// A new database on the test PostgreSQL server.
    pub(crate) async fn postgres() -> TestDb {
        let database = TestDatabase::create().await;
        TestDb {
            location: DatabaseLocation::Postgres(database.url().to_owned()),
            _sqlite_dir: None,
            postgres: Some(database),
        }
    }

    /// Whether this is the PostgreSQL half.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.location, DatabaseLocation::Postgres(_))
    }

    /// A store on this database (another one on each call).
    pub(crate) async fn open(&self) -> AnyStore {
        AnyStore::open(&self.location, Durability::Normal).await.expect("open the store")
    }

    /// A store on this database whose time moves only when the test says.
    pub(crate) async fn open_with_clock(&self) -> (AnyStore, ManualClock) {
        let clock = ManualClock::new();
        (self.open().await.with_clock(Arc::new(clock.clone())), clock)
    }

    /// Runs raw SQL on the database, as another program (or an older bug) might have.
    pub(crate) async fn tamper(&self, sql: &str) {
        match &self.location {
            DatabaseLocation::Sqlite(path) => open::tamper(path, sql).await,
            DatabaseLocation::Postgres(_) => {
                self.postgres.as_ref().expect("a PostgreSQL database").execute(sql).await;
            }
        }
    }
}

/// Milliseconds since the Unix epoch, as the store counts them.
fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// A user (the admin: the first) and a conversation of theirs.
async fn user_and_conversation(store: &AnyStore) -> (User, Conversation) {
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
