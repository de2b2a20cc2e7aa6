//! [`PgStore`]: the [`PluginStore`] (here), the [`ChatStore`](crate::ChatStore) (in
//! `postgres/chat.rs`) and the [`TaskStore`](crate::TaskStore) (in `postgres/tasks.rs`) in
//! a PostgreSQL database, through a sqlx connection pool, with the schema of
//! `migrations-postgres/` (numbered and meaning as `migrations/` does for SQLite).
//!
//! The semantics are SQLite's, which the one test suite checks on both. Where SQLite gets
//! atomicity from its single writer, PostgreSQL gets it from the statement itself or from a
//! lock, never from retrying a serialisation failure (the default isolation, READ
//! COMMITTED, re-checks an UPDATE's or DELETE's condition on the row as another
//! transaction left it):
//! - compare-and-set and task claims are one conditional statement each;
//! - every change that counts administrators, or that must find no user at all (the first
//!   user), takes the `users` table in SHARE ROW EXCLUSIVE mode first (readers go on;
//!   those changes queue);
//! - trimming a history (faults, task runs) holds a transaction-scoped advisory lock on the
//!   plugin, so two trims never delete the same rows in opposite orders;
//! - replacing settings reads them `FOR UPDATE`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plugboard_types::{Clock, SystemClock};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};

use crate::rows::{
    expires_at_ms, is_live, parse_fault, parse_plugin_record, plugin_record_columns, prefix_upper_bound, query_error,
    sql_limit,
};
use crate::{
    FAULT_HISTORY_LIMIT, FaultEntry, McpSecretsChange, Notifications, PluginRecord, PluginStore, SettingsChange,
    StoreError, StoredKey, StoredMcpServer, StoredPackage,
};

mod approvals;
mod chat;
mod cluster;
mod mcp;
mod shared;
mod tasks;

/// The schema, embedded at build time from `migrations-postgres/` (see `build.rs`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations-postgres");

/// Connections per store (per server process).
const POOL_CONNECTIONS: u32 = 10;

/// How long an operation waits for a free connection, or for a server to answer a connect.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The [`PluginStore`] and the [`ChatStore`](crate::ChatStore) in PostgreSQL (so a
/// [`Store`](crate::Store)). Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Where the times it stores come from.
    clock: Arc<dyn Clock>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// with libpq's parameters, such as `?sslmode=require`) and brings its schema up to
    /// date. The database must exist; the schema is created in it.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let server = redact_password(url);
        let options = PgConnectOptions::from_str(url)
            .map_err(|error| StoreError::Connect { server: server.clone(), source: error.into() })?;
        // One connection first: a server that is down or refuses says why at once, where
        // the pool would retry until its timeout and report only that.
        let first = PgConnection::connect_with(&options)
            .await
            .map_err(|error| StoreError::Connect { server: server.clone(), source: error.into() })?;
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|error| StoreError::Connect { server: server.clone(), source: error.into() })?;
        // Several servers starting at once each try to migrate: sqlx takes an advisory
        // lock around it, so one applies the migrations and the others find them applied.
        if let Err(error) = MIGRATOR.run(&pool).await {
            pool.close().await;
            return Err(migrate_error(&server, error));
        }
        tracing::debug!(server = %server, "opened the PostgreSQL store");
        Ok(PgStore { pool, clock: Arc::new(SystemClock) })
    }

    /// The store with its times taken from `clock` (a test's, to move time forward).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> PgStore {
        PgStore { clock, ..self }
    }

    /// Milliseconds since the Unix epoch, by the store's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The connection pool, for the copy from SQLite (`copy.rs`).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection, waiting for queries in flight. Any use of the store (or a
    /// clone of it) afterwards fails.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `url` with its password, if any, replaced by `***`, for messages and logs.
pub(crate) fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Why the schema of the database at `server` could not be brought up to date.
fn migrate_error(server: &str, error: MigrateError) -> StoreError {
    let supported = MIGRATOR.iter().map(|migration| migration.version).max().unwrap_or(0);
    match error {
        MigrateError::VersionMissing(found) if found > supported => {
            StoreError::ServerNewerSchema { server: server.to_owned(), found, supported }
        }
        error => StoreError::ServerMigrate { server: server.to_owned(), source: error.into() },
    }
}

/// Takes the transaction-scoped advisory lock of `plugin`'s histories (faults, task runs).
async fn lock_plugin_history(connection: &mut sqlx::PgConnection, plugin: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(plugin).execute(connection).await?;
    Ok(())
}

#[async_trait]
impl PluginStore for PgStore {
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

    fn is_shared(&self) -> bool {
        true
    }

    async fn listen(&self) -> Result<Option<Box<dyn Notifications>>, StoreError> {
        Ok(Some(Box::new(self.listener().await?)))
    }

    async fn publish(&self, message: &str) -> Result<(), StoreError> {
        self.notify(message).await
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
        let row = sqlx::query(concat!("SELECT ", plugin_record_columns!(), " FROM plugin_state WHERE plugin = $1"))
            .bind(plugin)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, Some(plugin)))?;
        row.map(|row| parse_plugin_record(&row, OPERATION)).transpose()
    }

    async fn save_plugin_record(&self, record: &PluginRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO plugin_state (plugin, enabled, disabled_reason, settings, fail_mode, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (plugin) DO UPDATE SET
                 enabled = excluded.enabled,
                 disabled_reason = excluded.disabled_reason,
                 settings = excluded.settings,
                 fail_mode = excluded.fail_mode,
                 updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&record.plugin)
        .bind(record.enabled)
        .bind(&record.disabled_reason)
        .bind(record.settings.as_ref().map(serde_json::Value::to_string))
        .bind(&record.fail_mode)
        .bind(record.updated_at_ms)
        .execute(&self.pool)
        .await
        .map_err(query_error("save the plugin record", Some(&record.plugin)))?;
        Ok(())
    }

    async fn replace_settings(&self, changes: &[SettingsChange]) -> Result<bool, StoreError> {
        const OPERATION: &str = "replace the plugin settings";
        let now = self.now_ms();
        let mut transaction = self.pool.begin().await.map_err(query_error(OPERATION, None))?;
        for change in changes {
            let error = || query_error(OPERATION, Some(&change.plugin));
            // FOR UPDATE: no one saves this record between the comparison and the update.
            let row = sqlx::query("SELECT settings FROM plugin_state WHERE plugin = $1 FOR UPDATE")
                .bind(&change.plugin)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(error())?;
            // Returning drops the transaction, which rolls it back.
            let Some(row) = row else { return Ok(false) };
            let stored: Option<String> = row.try_get("settings").map_err(error())?;
            let stored =
                stored.map(|text| serde_json::from_str::<serde_json::Value>(&text)).transpose().map_err(|error| {
                    StoreError::Corrupt {
                        plugin: change.plugin.clone(),
                        what: "settings",
                        message: format!("not JSON ({error})"),
                    }
                })?;
            if stored != change.expected {
                return Ok(false);
            }
            sqlx::query("UPDATE plugin_state SET settings = $2, updated_at_ms = $3 WHERE plugin = $1")
                .bind(&change.plugin)
                .bind(change.new.as_ref().map(serde_json::Value::to_string))
                .bind(now)
                .execute(&mut *transaction)
                .await
                .map_err(error())?;
        }
        transaction.commit().await.map_err(query_error(OPERATION, None))?;
        Ok(true)
    }

    async fn record_fault(&self, fault: &FaultEntry) -> Result<(), StoreError> {
        let error = || query_error("record the fault", Some(&fault.plugin));
        let mut transaction = self.pool.begin().await.map_err(error())?;
        lock_plugin_history(&mut transaction, &fault.plugin).await.map_err(error())?;
        sqlx::query("INSERT INTO plugin_faults (plugin, version, at_ms, error) VALUES ($1, $2, $3, $4)")
            .bind(&fault.plugin)
            .bind(&fault.version)
            .bind(fault.at_ms)
            .bind(&fault.error)
            .execute(&mut *transaction)
            .await
            .map_err(error())?;
        // Same order as `faults`: everything after the newest FAULT_HISTORY_LIMIT goes.
        sqlx::query(
            "DELETE FROM plugin_faults WHERE id IN (
                 SELECT id FROM plugin_faults WHERE plugin = $1
                 ORDER BY at_ms DESC, id DESC OFFSET $2
             )",
        )
        .bind(&fault.plugin)
        .bind(sql_limit(FAULT_HISTORY_LIMIT))
        .execute(&mut *transaction)
        .await
        .map_err(error())?;
        transaction.commit().await.map_err(error())
    }

    async fn faults(&self, plugin: &str, limit: usize) -> Result<Vec<FaultEntry>, StoreError> {
        let error = || query_error("read the faults", Some(plugin));
        let rows = sqlx::query(
            "SELECT plugin, version, at_ms, error FROM plugin_faults WHERE plugin = $1
             ORDER BY at_ms DESC, id DESC LIMIT $2",
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
             WHERE plugin = $1 AND key = $2 AND (expires_at_ms IS NULL OR expires_at_ms > $3)",
        )
        .bind(plugin)
        .bind(key.as_bytes())
        .bind(self.now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(error())?;
        row.map(|row| row.try_get("value")).transpose().map_err(error())
    }

    async fn kv_set(&self, plugin: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO plugin_kv (plugin, key, value, expires_at_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, expires_at_ms = excluded.expires_at_ms",
        )
        .bind(plugin)
        .bind(key.as_bytes())
        .bind(value)
        .bind(expires_at_ms(self.now_ms(), ttl))
        .execute(&self.pool)
        .await
        .map_err(query_error("write a key-value entry", Some(plugin)))?;
        Ok(())
    }

    async fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        let error = || query_error("delete a key-value entry", Some(plugin));
        // An expired entry is removed too, but reported as not having existed.
        let now = self.now_ms();
        let row = sqlx::query("DELETE FROM plugin_kv WHERE plugin = $1 AND key = $2 RETURNING expires_at_ms")
            .bind(plugin)
            .bind(key.as_bytes())
            .fetch_optional(&self.pool)
            .await
            .map_err(error())?;
        let Some(row) = row else { return Ok(false) };
        let expires_at_ms: Option<i64> = row.try_get("expires_at_ms").map_err(error())?;
        Ok(is_live(expires_at_ms, now))
    }

    async fn kv_list(&self, plugin: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let error = || query_error("list key-value entries", Some(plugin));
        let upper_bound = prefix_upper_bound(prefix);
        let sql = if upper_bound.is_some() {
            "SELECT key FROM plugin_kv
             WHERE plugin = $1 AND key >= $2 AND key < $5 AND (expires_at_ms IS NULL OR expires_at_ms > $3)
             ORDER BY key LIMIT $4"
        } else {
            "SELECT key FROM plugin_kv
             WHERE plugin = $1 AND key >= $2 AND (expires_at_ms IS NULL OR expires_at_ms > $3)
             ORDER BY key LIMIT $4"
        };
        let mut query =
            sqlx::query(sql).bind(plugin).bind(prefix.as_bytes()).bind(self.now_ms()).bind(sql_limit(limit));
        if let Some(upper_bound) = &upper_bound {
            query = query.bind(upper_bound.as_bytes());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(error())?;
        rows.iter()
            .map(|row| {
                let key: Vec<u8> = row.try_get("key").map_err(error())?;
                // Only the store writes keys, from strings.
                String::from_utf8(key).map_err(|key| StoreError::Corrupt {
                    plugin: plugin.to_owned(),
                    what: "key-value keys",
                    message: format!("a key is not UTF-8 ({key})"),
                })
            })
            .collect()
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
        // Each case is one statement whose condition is the comparison. Under READ
        // COMMITTED an UPDATE or DELETE that meets a row another transaction changed
        // waits for it and checks its condition again on the new row; an INSERT ... ON
        // CONFLICT either inserts or checks the update's condition on the row that won.
        let query = match (expected, new) {
            (None, None) => {
                let row = sqlx::query(
                    "SELECT EXISTS (SELECT 1 FROM plugin_kv
                     WHERE plugin = $1 AND key = $2 AND (expires_at_ms IS NULL OR expires_at_ms > $3)) AS live",
                )
                .bind(plugin)
                .bind(key.as_bytes())
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(error())?;
                let live: bool = row.try_get("live").map_err(error())?;
                return Ok(!live);
            }
            (None, Some(new)) => sqlx::query(
                "INSERT INTO plugin_kv (plugin, key, value, expires_at_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (plugin, key) DO UPDATE
                     SET value = excluded.value, expires_at_ms = excluded.expires_at_ms
                     WHERE plugin_kv.expires_at_ms IS NOT NULL AND plugin_kv.expires_at_ms <= $5",
            )
            .bind(plugin)
            .bind(key.as_bytes())
            .bind(new)
            .bind(expires_at_ms(now, ttl))
            .bind(now),
            (Some(expected), Some(new)) => sqlx::query(
                "UPDATE plugin_kv SET value = $3, expires_at_ms = $4
                 WHERE plugin = $1 AND key = $2 AND value = $5 AND (expires_at_ms IS NULL OR expires_at_ms > $6)",
            )
            .bind(plugin)
            .bind(key.as_bytes())
            .bind(new)
            .bind(expires_at_ms(now, ttl))
            .bind(expected)
            .bind(now),
            (Some(expected), None) => sqlx::query(
                "DELETE FROM plugin_kv
                 WHERE plugin = $1 AND key = $2 AND value = $3 AND (expires_at_ms IS NULL OR expires_at_ms > $4)",
            )
            .bind(plugin)
            .bind(key.as_bytes())
            .bind(expected)
            .bind(now),
        };
        let result = query.execute(&self.pool).await.map_err(error())?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM plugin_kv WHERE expires_at_ms <= $1")
            .bind(self.now_ms())
            .execute(&self.pool)
            .await
            .map_err(query_error("purge expired key-value entries", None))?;
        Ok(result.rows_affected())
    }

    async fn delete_plugin_data(&self, plugin: &str) -> Result<(), StoreError> {
        let error = || query_error("delete the plugin's data", Some(plugin));
        let mut transaction = self.pool.begin().await.map_err(error())?;
        for statement in [
            "DELETE FROM plugin_state WHERE plugin = $1",
            "DELETE FROM plugin_faults WHERE plugin = $1",
            "DELETE FROM plugin_kv WHERE plugin = $1",
            "DELETE FROM task_state WHERE plugin = $1",
            "DELETE FROM task_runs WHERE plugin = $1",
        ] {
            sqlx::query(statement).bind(plugin).execute(&mut *transaction).await.map_err(error())?;
        }
        transaction.commit().await.map_err(error())
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(redact_password("postgres://u:secret@h:5432/db?x=1"), "postgres://u:***@h:5432/db?x=1");
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_password("postgres://h/db"), "postgres://h/db");
    }
}
