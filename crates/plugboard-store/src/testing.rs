//! For tests of crates above the store (feature `testing`): a PostgreSQL database of a
//! test's own, created on the test server and dropped afterwards.
//!
//! The server is `PLUGBOARD_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, a user that may create databases). When
//! nothing answers there and the host is this machine, `.ci/postgres` is run once per test
//! process: it installs PostgreSQL from Debian's packages when missing and starts it on
//! that port.

use std::path::PathBuf;
use std::sync::OnceLock;

use sqlx::Connection;

/// The test server when `PLUGBOARD_TEST_POSTGRES` names none.
pub const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for one test, dropped (with whatever connections are still open to
/// it) when this is dropped, also when the test panics.
#[derive(Debug)]
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database on the test server (starting one first if needed).
    ///
    /// # Panics
    /// When no server answers and none can be started, or the database cannot be created:
    /// the message says what to run or set.
    pub async fn create() -> TestDatabase {
        let server = std::env::var("PLUGBOARD_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.to_owned());
        let options: sqlx::postgres::PgConnectOptions =
            server.parse().unwrap_or_else(|error| panic!("PLUGBOARD_TEST_POSTGRES is not a postgres:// URL: {error}"));
        let mut connected = sqlx::PgConnection::connect(&server).await;
        if connected.is_err() && ["127.0.0.1", "localhost"].contains(&options.get_host()) {
            let port = options.get_port();
            let started = tokio::task::spawn_blocking(move || start_postgres(port))
                .await
                .unwrap_or_else(|error| Err(error.to_string()));
            if let Err(why) = started {
                panic!("no PostgreSQL server answers at {server}, and `.ci/postgres` could not start one: {why}");
            }
            connected = sqlx::PgConnection::connect(&server).await;
        }
        let mut connection = connected.unwrap_or_else(|error| {
            panic!(
                "no PostgreSQL server answers at {server} ({error}): run `.ci/postgres` (it installs PostgreSQL \
                 from Debian's packages when missing and starts it on 127.0.0.1:5432), or set \
                 PLUGBOARD_TEST_POSTGRES to the URL of a server where this user may create databases"
            )
        });
        let name = format!("plugboard_test_{}", uuid::Uuid::now_v7().simple());
        if let Err(error) = sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut connection).await {
            panic!("cannot create a test database on {server}: {error}");
        }
        let _ = connection.close().await;
        let url = with_database(&server, &name);
        TestDatabase { server, name, url }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `sql` (one or more statements) in the database, for a test that plays a part
    /// the product does not, such as cutting servers' connections.
    ///
    /// # Panics
    /// When the database cannot be reached or the SQL fails.
    pub async fn execute(&self, sql: &str) {
        let mut connection = sqlx::PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|error| panic!("cannot connect to the test database: {error}"));
        if let Err(error) = sqlx::raw_sql(sql).execute(&mut connection).await {
            panic!("`{sql}` failed: {error}");
        }
        let _ = connection.close().await;
    }
}

impl Drop for TestDatabase {
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

/// Runs `.ci/postgres` (install if missing, start on 127.0.0.1:`port`) once per process;
/// every caller gets its outcome.
fn start_postgres(port: u16) -> Result<(), String> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/postgres");
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

/// `server` (a PostgreSQL URL) with its database replaced by `database`.
fn with_database(server: &str, database: &str) -> String {
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let after_scheme = base.find("://").map_or(0, |index| index + 3);
    let authority_end = base[after_scheme..].find('/').map_or(base.len(), |index| after_scheme + index);
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    format!("{}/{database}{query}", &base[..authority_end])
}
