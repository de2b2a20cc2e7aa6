//! The [`ClusterStore`] of [`SqliteStore`]: readiness from the migrations table, and rate
//! limits and failed-login counts whose one step runs on the single writer (so it is atomic
//! whatever else writes).

use async_trait::async_trait;
use futures_util::FutureExt;
use sqlx::{Connection, Row};

use super::{MIGRATOR, SqliteStore};
use crate::cluster::retry_after;
use crate::rows::query_error;
use crate::{ClusterStore, LoginFailures, LoginKey, LoginPolicy, RateLimit, RetryAfter, StoreError};

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

    async fn login_attempt(
        &self,
        keys: &[LoginKey],
        policy: LoginPolicy,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let now_ms = self.now_ms();
        let keys = keys.to_vec();
        // The read, the decision and the write in one job on the writer, in one
        // transaction begun IMMEDIATE (the write lock taken before the first read, so
        // another process on the file cannot count between them either).
        self.write(move |connection| {
            async move {
                let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
                let mut current = Vec::with_capacity(keys.len());
                for key in &keys {
                    let row = sqlx::query("SELECT count, last_ms, blocked_until_ms FROM login_failures WHERE key = ?1")
                        .bind(key.key.as_str())
                        .fetch_optional(&mut *transaction)
                        .await?;
                    current.push((key.allowed, row.map(|row| read_failures(&row)).transpose()?.unwrap_or_default()));
                }
                let next = match policy.attempt(now_ms, &current) {
                    Ok(next) => next,
                    Err(wait) => {
                        transaction.rollback().await?;
                        return Ok(Err(wait));
                    }
                };
                for (key, failures) in keys.iter().zip(next) {
                    sqlx::query(
                        "INSERT INTO login_failures (key, count, last_ms, blocked_until_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (key) DO UPDATE SET count = excluded.count, last_ms = excluded.last_ms,
                             blocked_until_ms = excluded.blocked_until_ms",
                    )
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
            .boxed()
        })
        .await
        .map_err(query_error("count a login attempt", None))
    }

    async fn login_succeeded(&self, account_key: &str, address_key: Option<&str>) -> Result<(), StoreError> {
        let mut statements =
            vec![sqlx::query("DELETE FROM login_failures WHERE key = ?1").bind(account_key.to_owned())];
        if let Some(address_key) = address_key {
            statements.push(
                sqlx::query("UPDATE login_failures SET count = MAX(count - 1, 0) WHERE key = ?1")
                    .bind(address_key.to_owned()),
            );
        }
        self.write_transaction(statements).await.map_err(query_error("take back a login attempt", None))
    }

    async fn purge_login_failures(&self, policy: LoginPolicy) -> Result<u64, StoreError> {
        let now_ms = self.now_ms();
        let query = sqlx::query("DELETE FROM login_failures WHERE last_ms <= ?1 AND blocked_until_ms <= ?2")
            .bind(policy.forgotten_before_ms(now_ms))
            .bind(now_ms);
        let result = self.write_execute(query).await.map_err(query_error("purge forgotten failed logins", None))?;
        Ok(result.rows_affected())
    }
}

/// The failures of a `login_failures` row.
fn read_failures(row: &sqlx::sqlite::SqliteRow) -> Result<LoginFailures, sqlx::Error> {
    Ok(LoginFailures {
        count: u32::try_from(row.try_get::<i64, _>("count")?.max(0)).unwrap_or(u32::MAX),
        last_ms: row.try_get("last_ms")?,
        blocked_until_ms: row.try_get("blocked_until_ms")?,
    })
}
