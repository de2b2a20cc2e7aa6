//! The [`TaskStore`] in SQLite: each claim is one conditional statement on `task_state`
//! (never a read followed by a write), so it stays atomic whatever else writes.

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use crate::rows::{
    TASK_STATE_COLUMNS as STATE_COLUMNS, outcome_name, query_error, read_task_run as read_run,
    read_task_state as read_state, sql_limit, trigger_name,
};
use crate::{Claim, StoreError, TASK_RUN_HISTORY_LIMIT, TaskRun, TaskState, TaskStore};

#[async_trait]
impl TaskStore for SqliteStore {
    async fn task_states(&self, plugin: &str) -> Result<Vec<TaskState>, StoreError> {
        let error = || query_error("read the task states", Some(plugin));
        let rows = sqlx::query(&format!("SELECT {STATE_COLUMNS} FROM task_state WHERE plugin = ?1 ORDER BY task"))
            .bind(plugin)
            .fetch_all(&self.pool)
            .await
            .map_err(error())?;
        rows.iter().map(read_state).collect::<Result<_, _>>().map_err(error())
    }

    async fn prepare_task(
        &self,
        plugin: &str,
        task: &str,
        schedule: &str,
        first_due_ms: i64,
    ) -> Result<TaskState, StoreError> {
        let (plugin_owned, task, schedule) = (plugin.to_owned(), task.to_owned(), schedule.to_owned());
        let row = self
            .write(move |connection| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO task_state (plugin, task, schedule, next_due_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (plugin, task) DO UPDATE
                             SET schedule = excluded.schedule, next_due_ms = excluded.next_due_ms
                             WHERE task_state.schedule <> excluded.schedule",
                    )
                    .bind(&plugin_owned)
                    .bind(&task)
                    .bind(&schedule)
                    .bind(first_due_ms)
                    .execute(&mut *connection)
                    .await?;
                    sqlx::query(&format!("SELECT {STATE_COLUMNS} FROM task_state WHERE plugin = ?1 AND task = ?2"))
                        .bind(&plugin_owned)
                        .bind(&task)
                        .fetch_one(&mut *connection)
                        .await
                })
            })
            .await
            .map_err(query_error("prepare a scheduled task", Some(plugin)))?;
        read_state(&row).map_err(query_error("prepare a scheduled task", Some(plugin)))
    }

    async fn claim_due_run(
        &self,
        plugin: &str,
        task: &str,
        due_ms: i64,
        next_due_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError> {
        let error = || query_error("claim a due task run", Some(plugin));
        let now = self.now_ms();
        let lease_until_ms = now.saturating_add(lease_ms);
        // Free when no lease is held, or the one held has ended (its server died mid-run).
        let query = sqlx::query(
            "UPDATE task_state SET
                 next_due_ms = ?4,
                 last_due_ms = CASE WHEN running_until_ms IS NULL OR running_until_ms <= ?5
                                    THEN ?3 ELSE last_due_ms END,
                 running_until_ms = CASE WHEN running_until_ms IS NULL OR running_until_ms <= ?5
                                         THEN ?6 ELSE running_until_ms END
             WHERE plugin = ?1 AND task = ?2 AND next_due_ms = ?3
             RETURNING last_due_ms, running_until_ms",
        )
        .bind(plugin.to_owned())
        .bind(task.to_owned())
        .bind(due_ms)
        .bind(next_due_ms)
        .bind(now)
        .bind(lease_until_ms);
        let Some(row) = self.write_optional(query).await.map_err(error())? else { return Ok(Claim::Taken) };
        let last_due_ms: Option<i64> = row.try_get("last_due_ms").map_err(error())?;
        let running_until_ms: Option<i64> = row.try_get("running_until_ms").map_err(error())?;
        if last_due_ms == Some(due_ms) && running_until_ms == Some(lease_until_ms) {
            Ok(Claim::Run { lease_until_ms })
        } else {
            Ok(Claim::Skipped)
        }
    }

    async fn skip_due_run(&self, plugin: &str, task: &str, due_ms: i64, next_due_ms: i64) -> Result<bool, StoreError> {
        let query =
            sqlx::query("UPDATE task_state SET next_due_ms = ?4 WHERE plugin = ?1 AND task = ?2 AND next_due_ms = ?3")
                .bind(plugin.to_owned())
                .bind(task.to_owned())
                .bind(due_ms)
                .bind(next_due_ms);
        let result = self.write_execute(query).await.map_err(query_error("skip a missed task run", Some(plugin)))?;
        Ok(result.rows_affected() == 1)
    }

    async fn claim_manual_run(&self, plugin: &str, task: &str, lease_ms: i64) -> Result<Option<i64>, StoreError> {
        let now = self.now_ms();
        let lease_until_ms = now.saturating_add(lease_ms);
        let query = sqlx::query(
            "UPDATE task_state SET running_until_ms = ?4
             WHERE plugin = ?1 AND task = ?2 AND (running_until_ms IS NULL OR running_until_ms <= ?3)",
        )
        .bind(plugin.to_owned())
        .bind(task.to_owned())
        .bind(now)
        .bind(lease_until_ms);
        let result = self.write_execute(query).await.map_err(query_error("claim a task run", Some(plugin)))?;
        Ok((result.rows_affected() == 1).then_some(lease_until_ms))
    }

    async fn record_task_run(&self, run: &TaskRun, lease_until_ms: Option<i64>) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO task_runs
                 (plugin, task, trigger, scheduled_at_ms, started_at_ms, duration_ms, outcome, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(run.plugin.clone())
        .bind(run.task.clone())
        .bind(trigger_name(run.trigger))
        .bind(run.scheduled_at_ms)
        .bind(run.started_at_ms)
        .bind(run.duration_ms)
        .bind(outcome_name(run.outcome))
        .bind(run.error.clone());
        // Same order as `task_runs`: everything after the newest TASK_RUN_HISTORY_LIMIT goes.
        let trim = sqlx::query(
            "DELETE FROM task_runs WHERE id IN (
                 SELECT id FROM task_runs WHERE plugin = ?1 AND task = ?2
                 ORDER BY started_at_ms DESC, id DESC LIMIT -1 OFFSET ?3
             )",
        )
        .bind(run.plugin.clone())
        .bind(run.task.clone())
        .bind(sql_limit(TASK_RUN_HISTORY_LIMIT));
        let mut statements = vec![insert, trim];
        if let Some(lease_until_ms) = lease_until_ms {
            statements.push(
                sqlx::query(
                    "UPDATE task_state SET running_until_ms = NULL
                     WHERE plugin = ?1 AND task = ?2 AND running_until_ms = ?3",
                )
                .bind(run.plugin.clone())
                .bind(run.task.clone())
                .bind(lease_until_ms),
            );
        }
        self.write_transaction(statements).await.map_err(query_error("record a task run", Some(&run.plugin)))
    }

    async fn task_runs(&self, plugin: &str, task: &str, limit: usize) -> Result<Vec<TaskRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT plugin, task, trigger, scheduled_at_ms, started_at_ms, duration_ms, outcome, error
             FROM task_runs WHERE plugin = ?1 AND task = ?2
             ORDER BY started_at_ms DESC, id DESC LIMIT ?3",
        )
        .bind(plugin)
        .bind(task)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("read the task runs", Some(plugin)))?;
        rows.iter().map(read_run).collect()
    }
}
