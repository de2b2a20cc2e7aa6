//! [`SqliteStore`]: the [`PluginStore`] (here) and the [`ChatStore`](crate::ChatStore)
//! (in `sqlite/chat.rs`) in a SQLite database (a file in WAL mode, or a private in-memory
//! database), through sqlx with runtime-checked queries.
//!
//! A file database has one writing connection, on a thread of its own (`sqlite/writer.rs`),
//! through which every write goes, and a pool of read-only connections beside it (WAL lets
//! them read while it writes). A private in-memory database has one connection for both.
//!
//! Compare-and-set is one conditional statement per case, never a read followed by a
//! write, so it stays atomic whatever else writes: SQLite runs each statement under its
//! single write lock, and a connection waits (busy timeout) for that lock when another
//! process holds it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use plugboard_types::{Clock, SystemClock};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use crate::{
    FAULT_HISTORY_LIMIT, FaultEntry, McpSecretsChange, PluginRecord, PluginStore, SettingsChange, StoreError,
    StoredKey, StoredMcpServer, StoredPackage,
};

use crate::rows::{
    expires_at_ms, is_live, parse_fault, parse_plugin_record, plugin_record_columns, prefix_upper_bound, query_error,
    sql_limit,
};

mod approvals;
mod chat;
mod cluster;
mod files;
mod mcp;
mod shared;
mod tasks;
mod writer;

use writer::Writer;

/// The schema, embedded at build time from `migrations/` (see `build.rs`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Reading connections of a file database, beside its one writer: a few let reads go on
/// in parallel without tying up many of sqlx's per-connection worker threads.
const FILE_POOL_CONNECTIONS: u32 = 4;

/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What errors name as the path of an in-memory database.
const IN_MEMORY_PATH: &str = ":memory:";

/// How a committed write is kept on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// SQLite's `synchronous = NORMAL` in WAL mode: a committed write survives Plugboard
    /// crashing or being killed; an operating-system crash or a power loss may lose the
    /// last commits before it (the database stays consistent).
    #[default]
    Normal,
    /// `synchronous = FULL`: each commit waits until it is on disk, so it survives a power
    /// loss too; writes are slower.
    Full,
}

/// The [`PluginStore`] and the [`ChatStore`](crate::ChatStore) in SQLite (so a
/// [`Store`](crate::Store)). Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads (and, in memory, writes too).
    pool: SqlitePool,
    /// Writes of a file database; `None` in memory.
    writer: Option<Arc<Writer>>,
    /// Where the times it stores come from.
    clock: Arc<dyn Clock>,
}

impl SqliteStore {
    /// The store with its times taken from `clock` (a test's, to move time forward).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> SqliteStore {
        SqliteStore { clock, ..self }
    }

    /// Milliseconds since the Unix epoch, by the store's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Opens the database file at `path` with [`Durability::Normal`]; see
    /// [`SqliteStore::open_with`].
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, Durability::Normal).await
    }

    /// Opens the database file at `path`, creating it and its parent directory if needed
    /// (private to the user: folder `0700`, files `0600` on Unix), with a WAL journal,
    /// `durability`, foreign keys on and a 5 s busy timeout, and brings its schema up to
    /// date.
    pub async fn open_with(path: &Path, durability: Durability) -> Result<SqliteStore, StoreError> {
        files::make_private(path).map_err(|error| StoreError::Open { path: path.to_owned(), source: error.into() })?;
        let synchronous = match durability {
            Durability::Normal => SqliteSynchronous::Normal,
            Durability::Full => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // What is deleted or replaced is zeroed in the pages being written anyway, so a
            // copy of the file does not keep a secret that was replaced by its encrypted
            // form, nor a deleted message, at no cost in I/O.
            .pragma("secure_delete", "FAST");
        // The writing connection opens first (so a path that cannot be opened fails here)
        // and brings the schema up to date before any reader opens.
        let mut connection = options.connect().await.map_err(|error| open_error(path, error))?;
        if let Err(error) = MIGRATOR.run(&mut connection).await {
            let _ = connection.close().await;
            return Err(migrate_error(path, error));
        }
        let writer = Writer::start(connection)
            .map_err(|error| StoreError::Open { path: path.to_owned(), source: error.into() })?;
        // `query_only`: a write that missed the writer fails at once instead of contending
        // with it for the lock.
        let pool = SqlitePoolOptions::new()
            .max_connections(FILE_POOL_CONNECTIONS)
            .connect_with(options.pragma("query_only", "ON"))
            .await;
        let writer = Arc::new(writer);
        let pool = match pool {
            Ok(pool) => pool,
            Err(error) => {
                writer.close().await;
                return Err(open_error(path, error));
            }
        };
        tracing::debug!(path = %path.display(), "opened the plugin store");
        Ok(SqliteStore { pool, writer: Some(writer), clock: Arc::new(SystemClock) })
    }

    /// Opens a private in-memory database (one connection, never recycled, so its data
    /// lives as long as the store), for the command-line runner and tests.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let path = Path::new(IN_MEMORY_PATH);
        let options = SqliteConnectOptions::new().in_memory(true).foreign_keys(true).busy_timeout(BUSY_TIMEOUT);
        // Closing the only connection would drop the database: keep it for good.
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|error| open_error(path, error))?;
        if let Err(error) = MIGRATOR.run(&pool).await {
            pool.close().await;
            return Err(migrate_error(path, error));
        }
        Ok(SqliteStore { pool, writer: None, clock: Arc::new(SystemClock) })
    }

    /// The read-only connections (the only connection, in memory), for the copy into
    /// PostgreSQL (`copy.rs`), which reads every table in one snapshot.
    pub(crate) fn read_pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection, waiting for queries in flight and queued writes. A file
    /// database is checkpointed, and its `-wal` file removed, when its last connection (the
    /// writer, closed last) closes. Any use of the store (or a clone of it) afterwards fails.
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
    }

    /// Runs `job` with the writing connection: on the writer thread after the writes queued
    /// before it (where it runs to its end even if the caller stops waiting), or on the
    /// in-memory database's connection. Its statements own their values (`'static`) so that
    /// it can take them along.
    async fn write<T: Send + 'static>(
        &self,
        job: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, sqlx::Error>> + Send + 'static,
    ) -> Result<T, sqlx::Error> {
        match &self.writer {
            Some(writer) => writer.run(job).await?,
            None => {
                let mut connection = self.pool.acquire().await?;
                job(&mut connection).await
            }
        }
    }

    /// Runs one statement on the writing connection ([`SqliteStore::write`]).
    async fn write_execute(&self, query: OwnedQuery) -> Result<SqliteQueryResult, sqlx::Error> {
        self.write(move |connection| Box::pin(query.execute(connection))).await
    }

    /// Runs one statement on the writing connection; the first row it returns, if any.
    async fn write_optional(&self, query: OwnedQuery) -> Result<Option<SqliteRow>, sqlx::Error> {
        self.write(move |connection| Box::pin(query.fetch_optional(connection))).await
    }

    /// Runs `statements`, in order, as one transaction on the writing connection.
    async fn write_transaction(&self, statements: Vec<OwnedQuery>) -> Result<(), sqlx::Error> {
        self.write(move |connection| {
            Box::pin(async move {
                let mut transaction = connection.begin().await?;
                for statement in statements {
                    statement.execute(&mut *transaction).await?;
                }
                transaction.commit().await
            })
        })
        .await
    }
}

/// A statement that owns its values, so that a write job can take it along.
type OwnedQuery = sqlx::query::Query<'static, Sqlite, SqliteArguments<'static>>;

/// Why the schema of the database at `path` could not be brought up to date.
fn migrate_error(path: &Path, error: MigrateError) -> StoreError {
    let supported = MIGRATOR.iter().map(|migration| migration.version).max().unwrap_or(0);
    match error {
        // sqlx refuses a database with a migration it does not know; a version beyond ours
        // means a newer Plugboard has been here.
        MigrateError::VersionMissing(found) if found > supported => {
            StoreError::NewerSchema { path: path.to_owned(), found, supported }
        }
        error => StoreError::Migrate { path: path.to_owned(), source: error.into() },
    }
}

/// Why the database at `path` could not be opened: a file that is not (or no longer) a
/// SQLite database gets its own error, since checking the directory will not help.
fn open_error(path: &Path, error: sqlx::Error) -> StoreError {
    // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), with any extended code.
    let not_a_database = error
        .as_database_error()
        .and_then(|error| error.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xFF, 11 | 26));
    let path = path.to_owned();
    if not_a_database {
        StoreError::NotADatabase { path, source: error.into() }
    } else {
        StoreError::Open { path, source: error.into() }
    }
}

#[async_trait]
impl PluginStore for SqliteStore {
    async fn packages(&self) -> Result<Vec<StoredPackage>, StoreError> {
        self.read_packages().await
    }

    async fn package_bytes(&self, plugin: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_package_bytes(plugin).await
    }

    async fn save_package(&self, package: &StoredPackage, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_package(package, bytes).await
    }

    async fn remove_package(&self, plugin: &str) -> Result<bool, StoreError> {
        self.mark_package_removed(plugin).await
    }

    async fn trusted_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.read_trusted_keys().await
    }

    async fn save_trusted_key(&self, fingerprint: &str, key_text: &str) -> Result<(), StoreError> {
        self.write_trusted_key(fingerprint, key_text).await
    }

    async fn remove_trusted_key(&self, fingerprint: &str) -> Result<bool, StoreError> {
        self.mark_key_removed(fingerprint).await
    }

    async fn mcp_servers(&self) -> Result<Vec<StoredMcpServer>, StoreError> {
        self.read_mcp_servers().await
    }

    async fn mcp_server(&self, name: &str) -> Result<Option<StoredMcpServer>, StoreError> {
        self.read_mcp_server(name).await
    }

    async fn add_mcp_server(&self, server: &StoredMcpServer) -> Result<bool, StoreError> {
        self.insert_mcp_server(server).await
    }

    async fn replace_mcp_server(&self, server: &StoredMcpServer) -> Result<bool, StoreError> {
        self.update_mcp_server(server).await
    }

    async fn remove_mcp_server(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_mcp_server(name).await
    }

    async fn replace_mcp_secrets(&self, changes: &[McpSecretsChange]) -> Result<bool, StoreError> {
        self.swap_mcp_secrets(changes).await
    }

    async fn plugin_records(&self) -> Result<Vec<PluginRecord>, StoreError> {
        const OPERATION: &str = "read the plugin records";
        let rows = sqlx::query(concat!("SELECT ", plugin_record_columns!(), " FROM plugin_state ORDER BY plugin"))
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| parse_plugin_record(row, OPERATION)).collect()
    }

    async fn plugin_record(&self, plugin: &str) -> Result<Option<PluginRecord>, StoreError> {
        const OPERATION: &str = "read the plugin record";
        let row = sqlx::query(concat!("SELECT ", plugin_record_columns!(), " FROM plugin_state WHERE plugin = ?1"))
            .bind(plugin)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, Some(plugin)))?;
        row.map(|row| parse_plugin_record(&row, OPERATION)).transpose()
    }

    async fn save_plugin_record(&self, record: &PluginRecord) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO plugin_state (plugin, enabled, disabled_reason, settings, fail_mode, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (plugin) DO UPDATE SET
                 enabled = excluded.enabled,
                 disabled_reason = excluded.disabled_reason,
                 settings = excluded.settings,
                 fail_mode = excluded.fail_mode,
                 updated_at_ms = excluded.updated_at_ms",
        )
        .bind(record.plugin.clone())
        .bind(record.enabled)
        .bind(record.disabled_reason.clone())
        .bind(record.settings.as_ref().map(serde_json::Value::to_string))
        .bind(record.fail_mode.clone())
        .bind(record.updated_at_ms);
        self.write_execute(query).await.map_err(query_error("save the plugin record", Some(&record.plugin)))?;
        Ok(())
    }

    async fn replace_settings(&self, changes: &[SettingsChange]) -> Result<bool, StoreError> {
        const OPERATION: &str = "replace the plugin settings";
        let changes = changes.to_vec();
        let now = self.now_ms();
        let outcome = self
            .write(move |connection| {
                Box::pin(async move {
                    // IMMEDIATE: the write lock is taken before the first read, so no other
                    // process can save between the comparison and the update.
                    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
                    for change in &changes {
                        let row = sqlx::query("SELECT settings FROM plugin_state WHERE plugin = ?1")
                            .bind(change.plugin.as_str())
                            .fetch_optional(&mut *transaction)
                            .await?;
                        let Some(row) = row else { return Ok(Err(None)) };
                        let stored: Option<String> = row.try_get("settings")?;
                        let stored: Option<serde_json::Value> = match stored.map(|text| serde_json::from_str(&text)) {
                            None => None,
                            Some(Ok(value)) => Some(value),
                            Some(Err(error)) => return Ok(Err(Some((change.plugin.clone(), error.to_string())))),
                        };
                        if stored != change.expected {
                            return Ok(Err(None));
                        }
                        sqlx::query("UPDATE plugin_state SET settings = ?2, updated_at_ms = ?3 WHERE plugin = ?1")
                            .bind(change.plugin.as_str())
                            .bind(change.new.as_ref().map(serde_json::Value::to_string))
                            .bind(now)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    transaction.commit().await?;
                    // The settings replaced are usually secrets in their old form: with the
                    // journal copied into the file and emptied, the zeroed pages replace
                    // them in the file at once, not at some later checkpoint. (Best effort:
                    // a reader in the way only delays it.)
                    if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut *connection).await {
                        tracing::debug!("checkpoint after replacing plugin settings: {error}");
                    }
                    Ok(Ok(()))
                })
            })
            .await
            .map_err(query_error(OPERATION, None))?;
        match outcome {
            Ok(()) => Ok(true),
            Err(None) => Ok(false),
            Err(Some((plugin, error))) => {
                Err(StoreError::Corrupt { plugin, what: "settings", message: format!("not JSON ({error})") })
            }
        }
    }

    async fn record_fault(&self, fault: &FaultEntry) -> Result<(), StoreError> {
        let insert = sqlx::query("INSERT INTO plugin_faults (plugin, version, at_ms, error) VALUES (?1, ?2, ?3, ?4)")
            .bind(fault.plugin.clone())
            .bind(fault.version.clone())
            .bind(fault.at_ms)
            .bind(fault.error.clone());
        // Same order as `faults`: everything after the newest FAULT_HISTORY_LIMIT goes.
        let trim = sqlx::query(
            "DELETE FROM plugin_faults WHERE id IN (
                 SELECT id FROM plugin_faults WHERE plugin = ?1
                 ORDER BY at_ms DESC, id DESC LIMIT -1 OFFSET ?2
             )",
        )
        .bind(fault.plugin.clone())
        .bind(sql_limit(FAULT_HISTORY_LIMIT));
        self.write_transaction(vec![insert, trim]).await.map_err(query_error("record the fault", Some(&fault.plugin)))
    }

    async fn faults(&self, plugin: &str, limit: usize) -> Result<Vec<FaultEntry>, StoreError> {
        let error = || query_error("read the faults", Some(plugin));
        let rows = sqlx::query(
            "SELECT plugin, version, at_ms, error FROM plugin_faults WHERE plugin = ?1
             ORDER BY at_ms DESC, id DESC LIMIT ?2",
        )
        .bind(plugin)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(error())?;
        rows.iter().map(parse_fault).collect::<Result<_, _>>().map_err(error())
    }

    async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let error = || query_error("read a key-value entry", Some(plugin));
        let row = sqlx::query(
            "SELECT value FROM plugin_kv
             WHERE plugin = ?1 AND key = ?2 AND (expires_at_ms IS NULL OR expires_at_ms > ?3)",
        )
        .bind(plugin)
        .bind(key)
        .bind(self.now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(error())?;
        row.map(|row| row.try_get("value")).transpose().map_err(error())
    }

    async fn kv_set(&self, plugin: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO plugin_kv (plugin, key, value, expires_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, expires_at_ms = excluded.expires_at_ms",
        )
        .bind(plugin.to_owned())
        .bind(key.to_owned())
        .bind(value.to_vec())
        .bind(expires_at_ms(self.now_ms(), ttl));
        self.write_execute(query).await.map_err(query_error("write a key-value entry", Some(plugin)))?;
        Ok(())
    }

    async fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        let error = || query_error("delete a key-value entry", Some(plugin));
        // An expired entry is removed too, but reported as not having existed.
        let now = self.now_ms();
        let query = sqlx::query("DELETE FROM plugin_kv WHERE plugin = ?1 AND key = ?2 RETURNING expires_at_ms")
            .bind(plugin.to_owned())
            .bind(key.to_owned());
        let row = self.write_optional(query).await.map_err(error())?;
        let Some(row) = row else { return Ok(false) };
        let expires_at_ms: Option<i64> = row.try_get("expires_at_ms").map_err(error())?;
        Ok(is_live(expires_at_ms, now))
    }

    async fn kv_list(&self, plugin: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let error = || query_error("list key-value entries", Some(plugin));
        let upper_bound = prefix_upper_bound(prefix);
        let sql = if upper_bound.is_some() {
            "SELECT key FROM plugin_kv
             WHERE plugin = ?1 AND key >= ?2 AND key < ?5 AND (expires_at_ms IS NULL OR expires_at_ms > ?3)
             ORDER BY key LIMIT ?4"
        } else {
            "SELECT key FROM plugin_kv
             WHERE plugin = ?1 AND key >= ?2 AND (expires_at_ms IS NULL OR expires_at_ms > ?3)
             ORDER BY key LIMIT ?4"
        };
        let mut query = sqlx::query(sql).bind(plugin).bind(prefix).bind(self.now_ms()).bind(sql_limit(limit));
        if let Some(upper_bound) = upper_bound {
            query = query.bind(upper_bound);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(error())?;
        rows.iter().map(|row| row.try_get("key")).collect::<Result<_, _>>().map_err(error())
    }

    async fn kv_compare_and_set(
        &self,
        plugin: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let error = || query_error("compare-and-set a key-value entry", Some(plugin));
        let now = self.now_ms();
        // Each case is one statement whose condition is the comparison, so no other
        // connection can write between the compare and the set.
        let query = match (expected, new) {
            // Absent and stays absent: nothing to write, only to check.
            (None, None) => {
                let row = sqlx::query(
                    "SELECT EXISTS (SELECT 1 FROM plugin_kv
                     WHERE plugin = ?1 AND key = ?2 AND (expires_at_ms IS NULL OR expires_at_ms > ?3)) AS live",
                )
                .bind(plugin)
                .bind(key)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(error())?;
                let live: bool = row.try_get("live").map_err(error())?;
                return Ok(!live);
            }
            // Create: insert, or replace an expired entry, but never a live one.
            (None, Some(new)) => sqlx::query(
                "INSERT INTO plugin_kv (plugin, key, value, expires_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (plugin, key) DO UPDATE
                     SET value = excluded.value, expires_at_ms = excluded.expires_at_ms
                     WHERE plugin_kv.expires_at_ms IS NOT NULL AND plugin_kv.expires_at_ms <= ?5",
            )
            .bind(plugin.to_owned())
            .bind(key.to_owned())
            .bind(new.to_vec())
            .bind(expires_at_ms(now, ttl))
            .bind(now),
            (Some(expected), Some(new)) => sqlx::query(
                "UPDATE plugin_kv SET value = ?3, expires_at_ms = ?4
                 WHERE plugin = ?1 AND key = ?2 AND value = ?5 AND (expires_at_ms IS NULL OR expires_at_ms > ?6)",
            )
            .bind(plugin.to_owned())
            .bind(key.to_owned())
            .bind(new.to_vec())
            .bind(expires_at_ms(now, ttl))
            .bind(expected.to_vec())
            .bind(now),
            (Some(expected), None) => sqlx::query(
                "DELETE FROM plugin_kv
                 WHERE plugin = ?1 AND key = ?2 AND value = ?3 AND (expires_at_ms IS NULL OR expires_at_ms > ?4)",
            )
            .bind(plugin.to_owned())
            .bind(key.to_owned())
            .bind(expected.to_vec())
            .bind(now),
        };
        let result = self.write_execute(query).await.map_err(error())?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let query = sqlx::query("DELETE FROM plugin_kv WHERE expires_at_ms <= ?1").bind(self.now_ms());
        let result = self.write_execute(query).await.map_err(query_error("purge expired key-value entries", None))?;
        Ok(result.rows_affected())
    }

    async fn delete_plugin_data(&self, plugin: &str) -> Result<(), StoreError> {
        let statements = [
            "DELETE FROM plugin_state WHERE plugin = ?1",
            "DELETE FROM plugin_faults WHERE plugin = ?1",
            "DELETE FROM plugin_kv WHERE plugin = ?1",
            "DELETE FROM task_state WHERE plugin = ?1",
            "DELETE FROM task_runs WHERE plugin = ?1",
        ]
        .map(|statement| sqlx::query(statement).bind(plugin.to_owned()));
        self.write_transaction(statements.into()).await.map_err(query_error("delete the plugin's data", Some(plugin)))
    }
}
