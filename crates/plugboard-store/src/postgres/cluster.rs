//! The [`ClusterStore`] of [`PgStore`]: readiness from the migrations table, rate limits
//! whose one step is one conditional upsert, atomic across every server sharing the
//! database (READ COMMITTED re-checks the update's condition on the row as the other
//! transaction left it), and failed-login counts whose step locks the rows of its keys
//! (`FOR UPDATE`, in key order so that two attempts never wait on each other in a circle)
//! for the read, the decision and the write.

use async_trait::async_trait;
use sqlx::Row;

use super::{MIGRATOR, PgStore};
use crate::cluster::retry_after;
use crate::rows::query_error;
use crate::{ClusterStore, LoginFailures, LoginKey, LoginPolicy, RateLimit, RetryAfter, StoreError};

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

    async fn login_attempt(
        &self,
        keys: &[LoginKey],
        policy: LoginPolicy,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let now_ms = self.now_ms();
        // Rows locked in key order (and `login_succeeded` touches `account:` before
        // `address:`, the same order), so concurrent attempts queue rather than deadlock.
        let mut sorted: Vec<&LoginKey> = keys.iter().collect();
        sorted.sort_by(|one, other| one.key.cmp(&other.key));
        sorted.dedup_by(|one, other| one.key == other.key);
        let outcome: Result<Result<(), RetryAfter>, sqlx::Error> = async {
            let mut transaction = self.pool.begin().await?;
            let mut current = Vec::with_capacity(sorted.len());
            for key in &sorted {
                // A row to lock, also for a key seen for the first time (the default
                // failures: none); a refusal rolls it back.
                sqlx::query(
                    "INSERT INTO login_failures (key, count, last_ms, blocked_until_ms) VALUES ($1, 0, 0, 0)
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key.key.as_str())
                .execute(&mut *transaction)
                .await?;
                let row = sqlx::query(
                    "SELECT count, last_ms, blocked_until_ms FROM login_failures WHERE key = $1 FOR UPDATE",
                )
                .bind(key.key.as_str())
                .fetch_one(&mut *transaction)
                .await?;
                current.push((key.allowed, read_failures(&row)?));
            }
            let next = match policy.attempt(now_ms, &current) {
                Ok(next) => next,
                Err(wait) => {
                    transaction.rollback().await?;
                    return Ok(Err(wait));
                }
            };
            for (key, failures) in sorted.iter().zip(next) {
                sqlx::query("UPDATE login_failures SET count = $2, last_ms = $3, blocked_until_ms = $4 WHERE key = $1")
                    .bind(key.key.as_str())
                    .bind(i64::from(failures.count))
                    .bind(failures.last_ms)
                    .bind(failures.blocked_until_ms)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await?;
            Ok(Ok(()))
        }
        .await;
        outcome.map_err(query_error("count a login attempt", None))
    }

    async fn login_succeeded(&self, account_key: &str, address_key: Option<&str>) -> Result<(), StoreError> {
        let outcome: Result<(), sqlx::Error> = async {
            let mut transaction = self.pool.begin().await?;
            sqlx::query("DELETE FROM login_failures WHERE key = $1")
                .bind(account_key)
                .execute(&mut *transaction)
                .await?;
            if let Some(address_key) = address_key {
                sqlx::query("UPDATE login_failures SET count = GREATEST(count - 1, 0) WHERE key = $1")
                    .bind(address_key)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await
        }
        .await;
        outcome.map_err(query_error("take back a login attempt", None))
    }

    async fn purge_login_failures(&self, policy: LoginPolicy) -> Result<u64, StoreError> {
        let now_ms = self.now_ms();
        let result = sqlx::query("DELETE FROM login_failures WHERE last_ms <= $1 AND blocked_until_ms <= $2")
            .bind(policy.forgotten_before_ms(now_ms))
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(query_error("purge forgotten failed logins", None))?;
        Ok(result.rows_affected())
    }
}

/// The failures of a `login_failures` row.
fn read_failures(row: &sqlx::postgres::PgRow) -> Result<LoginFailures, sqlx::Error> {
    Ok(LoginFailures {
        count: u32::try_from(row.try_get::<i64, _>("count")?.max(0)).unwrap_or(u32::MAX),
        last_ms: row.try_get("last_ms")?,
        blocked_until_ms: row.try_get("blocked_until_ms")?,
    })
}
