//! The [`ClusterStore`] of [`SqliteStore`]: readiness from the migrations table, and rate
//! limits whose one step runs on the single writer (so it is atomic whatever else writes).

use async_trait::async_trait;
use futures_util::FutureExt;
use sqlx::Row;

use super::{MIGRATOR, SqliteStore};
use crate::cluster::retry_after;
use crate::rows::query_error;
use crate::{ClusterStore, RateLimit, RetryAfter, StoreError};

#[async_trait]
impl ClusterStore for SqliteStore {
    async fn ready(&self) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("read the applied migrations", None))?;
        let applied: i64 = row.try_get("version").map_err(query_error("read the applied migrations", None))?;
        let expected = MIGRATOR.iter().map(|migration| migration.version).max().unwrap_or(0);
        if applied == expected { Ok(()) } else { Err(StoreError::SchemaNotCurrent { applied, expected }) }
    }

    async fn take_rate(&self, key: &str, limit: RateLimit) -> Result<Result<(), RetryAfter>, StoreError> {
        const OPERATION: &str = "take a unit of a rate limit";
        let now_us = self.now_ms().saturating_mul(1000);
        let key = key.to_owned();
        // The step and, when refused, the read of the time that refused it, in one job on
        // the writer: nothing takes a unit between them.
        let taken = self
            .write(move |connection| {
                async move {
                    let taken = sqlx::query(
                        "INSERT INTO rate_limits (key, tat_us) VALUES (?1, ?2 + ?3)
                         ON CONFLICT (key) DO UPDATE SET tat_us = MAX(rate_limits.tat_us, ?2) + ?3
                         WHERE MAX(rate_limits.tat_us, ?2) + ?3 - ?2 <= ?4
                         RETURNING tat_us",
                    )
                    .bind(key.as_str())
                    .bind(now_us)
                    .bind(limit.interval_us())
                    .bind(limit.tolerance_us())
                    .fetch_optional(&mut *connection)
                    .await?;
                    if taken.is_some() {
                        return Ok(Ok(()));
                    }
                    let row = sqlx::query("SELECT tat_us FROM rate_limits WHERE key = ?1")
                        .bind(key.as_str())
                        .fetch_optional(&mut *connection)
                        .await?;
                    let tat_us = row.map(|row| row.try_get::<i64, _>("tat_us")).transpose()?;
                    Ok(Err(retry_after(tat_us, now_us, limit)))
                }
                .boxed()
            })
            .await
            .map_err(query_error(OPERATION, None))?;
        Ok(taken)
    }

    async fn purge_rates(&self) -> Result<u64, StoreError> {
        let now_us = self.now_ms().saturating_mul(1000);
        let query = sqlx::query("DELETE FROM rate_limits WHERE tat_us <= ?1").bind(now_us);
        let result = self.write_execute(query).await.map_err(query_error("purge rate limit states", None))?;
        Ok(result.rows_affected())
    }
}
