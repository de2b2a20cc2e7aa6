//! The [`ClusterStore`] of [`PgStore`]: readiness from the migrations table, and rate
//! limits whose one step is one conditional upsert, atomic across every server sharing
//! the database (READ COMMITTED re-checks the update's condition on the row as the other
//! transaction left it).

use async_trait::async_trait;
use sqlx::Row;

use super::{MIGRATOR, PgStore};
use crate::cluster::retry_after;
use crate::rows::query_error;
use crate::{ClusterStore, RateLimit, RetryAfter, StoreError};

#[async_trait]
impl ClusterStore for PgStore {
    async fn ready(&self) -> Result<(), StoreError> {
        const OPERATION: &str = "read the applied migrations";
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        let applied: i64 = row.try_get("version").map_err(query_error(OPERATION, None))?;
        let expected = MIGRATOR.iter().map(|migration| migration.version).max().unwrap_or(0);
        if applied == expected { Ok(()) } else { Err(StoreError::SchemaNotCurrent { applied, expected }) }
    }

    async fn take_rate(&self, key: &str, limit: RateLimit) -> Result<Result<(), RetryAfter>, StoreError> {
        const OPERATION: &str = "take a unit of a rate limit";
        let now_us = self.now_ms().saturating_mul(1000);
        let taken = sqlx::query(
            "INSERT INTO rate_limits (key, tat_us) VALUES ($1, $2 + $3)
             ON CONFLICT (key) DO UPDATE SET tat_us = GREATEST(rate_limits.tat_us, $2) + $3
             WHERE GREATEST(rate_limits.tat_us, $2) + $3 - $2 <= $4
             RETURNING tat_us",
        )
        .bind(key)
        .bind(now_us)
        .bind(limit.interval_us())
        .bind(limit.tolerance_us())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        if taken.is_some() {
            return Ok(Ok(()));
        }
        // Refused: only the wait is left to tell, so a read after the step is enough (a
        // unit taken meanwhile by another server makes it a little short, never wrong).
        let row = sqlx::query("SELECT tat_us FROM rate_limits WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        let tat_us =
            row.map(|row| row.try_get::<i64, _>("tat_us")).transpose().map_err(query_error(OPERATION, None))?;
        Ok(Err(retry_after(tat_us, now_us, limit)))
    }

    async fn purge_rates(&self) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM rate_limits WHERE tat_us <= $1")
            .bind(self.now_ms().saturating_mul(1000))
            .execute(&self.pool)
            .await
            .map_err(query_error("purge rate limit states", None))?;
        Ok(result.rows_affected())
    }
}
