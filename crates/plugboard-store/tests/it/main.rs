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

mod attachments;
mod cas;
mod cluster;
mod conversations;
mod copy;
mod faults;
mod kv;
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

use plugboard_store::{
    AnyStore, Conversation, DatabaseLocation, Durability, MessageStatus, NewMessage, Role, SqliteStore, User,
};
use plugboard_types::ManualClock;
use sqlx::Connection;
use tempfile::TempDir;

/// The server the PostgreSQL half of the suite creates its databases on.
const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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
    _postgres: Option<PostgresDatabase>,
}

impl TestDb {
    /// A database file in a new temporary directory.
    pub(crate) fn sqlite() -> TestDb {
        let (dir, path) = temp_db_path();
        TestDb { location: DatabaseLocation::Sqlite(path), _sqlite_dir: Some(dir), _postgres: None }
    }

    /// A new database on the test PostgreSQL server.
    pub(crate) async fn postgres() -> TestDb {
        let database = PostgresDatabase::create().await;
        TestDb {
            location: DatabaseLocation::Postgres(database.url.clone()),
            _sqlite_dir: None,
            _postgres: Some(database),
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
            DatabaseLocation::Postgres(url) => {
                let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut connection).await.unwrap();
                connection.close().await.unwrap();
            }
        }
    }
}

/// A database created for one test on the test PostgreSQL server, dropped (with whatever
/// connections are still open to it) when this is dropped, also when the test panics.
struct PostgresDatabase {
    server: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    async fn create() -> PostgresDatabase {
        let server = std::env::var("PLUGBOARD_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.to_owned());
        let mut connected = sqlx::PgConnection::connect(&server).await;
        let options: sqlx::postgres::PgConnectOptions =
            server.parse().expect("PLUGBOARD_TEST_POSTGRES is a postgres:// URL");
        if connected.is_err() && ["127.0.0.1", "localhost"].contains(&options.get_host()) {
            // Nothing answers on this machine: start a server there, once for all the tests.
            let port = options.get_port();
            let started = tokio::task::spawn_blocking(move || start_postgres(port)).await.unwrap();
            if let Err(why) = started {
                panic!("no PostgreSQL server answers at {server}, and `.ci/postgres` could not start one: {why}");
            }
            connected = sqlx::PgConnection::connect(&server).await;
        }
        let mut connection = match connected {
            Ok(connection) => connection,
            Err(error) => panic!(
                "no PostgreSQL server answers at {server} ({error}); the store's tests run against PostgreSQL too: \
                 run `.ci/postgres` (it installs PostgreSQL from Debian's packages when missing and starts it on \
                 127.0.0.1:5432), or set PLUGBOARD_TEST_POSTGRES to the URL of a server where this user may create \
                 databases"
            ),
        };
        let name = format!("plugboard_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .expect("create a test database");
        connection.close().await.unwrap();
        let url = with_database(&server, &name);
        PostgresDatabase { server, name, url }
    }
}

/// Runs `.ci/postgres` (install if missing, start on 127.0.0.1:`port`) once per test run;
/// every caller gets its outcome.
fn start_postgres(port: u16) -> Result<(), String> {
    static STARTED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    STARTED
        .get_or_init(|| {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/postgres");
            let output = std::process::Command::new("bash")
                .arg(&script)
                .env("POSTGRES_PORT", port.to_string())
                .output()
                .map_err(|error| format!("cannot run {}: {error}", script.display()))?;
            match output.status.success() {
                true => Ok(()),
                false => Err(format!(
                    "{} failed ({}): {}",
                    script.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
            }
        })
        .clone()
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // On a thread of its own: the test's runtime may be gone (or be the one blocked).
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let mut connection = sqlx::PgConnection::connect(&server).await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut connection).await?;
                connection.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}: {dropped:?}", self.name);
        }
    }
}

/// `server` (a PostgreSQL URL) with its database replaced by `database`.
fn with_database(server: &str, database: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, ""), |(base, query)| (base, query));
    let after_scheme = base.find("://").map_or(0, |index| index + 3);
    let authority_end = base[after_scheme..].find('/').map_or(base.len(), |index| after_scheme + index);
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    format!("{}/{database}{query}", &base[..authority_end])
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
