//! Scheduled tasks: where each plugin task stands ([`TaskState`]), the claim of a due run,
//! and the newest runs of each task ([`TaskRun`]).
//!
//! A due run is claimed by moving the task's next due time on from the due time the
//! claimer saw, in one conditional write: however many servers share the database, one
//! claim wins each due time, and a restart cannot run a due time again. While a run is
//! under way the task holds a lease (until its deadline and a margin); a due time that
//! comes while the lease holds is claimed as skipped, so runs of one task never overlap,
//! and a server that dies mid-run frees the task when its lease ends.

use async_trait::async_trait;
use serde::Serialize;

use crate::StoreError;

/// How many runs [`TaskStore::record_task_run`] keeps per task; older ones are dropped.
pub const TASK_RUN_HISTORY_LIMIT: usize = 100;

/// Where one task stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskState {
    /// The plugin id.
    pub plugin: String,
    /// The task's name.
    pub task: String,
    /// The schedule in words; a different one means the schedule changed.
    pub schedule: String,
    /// When it is next due, milliseconds since the Unix epoch.
    pub next_due_ms: i64,
    /// The due time of the last run claimed on schedule.
    pub last_due_ms: Option<i64>,
    /// When the lease of the run under way ends; `None` when none is.
    pub running_until_ms: Option<i64>,
}

/// What [`TaskStore::claim_due_run`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This caller runs the due time; release the lease (ending at this time) with
    /// [`TaskStore::record_task_run`].
    Run {
        /// When the lease ends.
        lease_until_ms: i64,
    },
    /// The due time is taken, but a run is still under way: record it as skipped.
    Skipped,
    /// Someone else claimed the due time (or the next due time moved): do nothing.
    Taken,
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunTrigger {
    /// Its due time came.
    Schedule,
    /// A due time missed while the task could not run, made up for (`catch_up`).
    CatchUp,
    /// An operator ran it.
    Manual,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// The task returned success.
    Ok,
    /// The task returned an error, or the call failed.
    Error,
    /// The task ran past its deadline and was stopped.
    Deadline,
    /// It was due while the previous run was still under way, so it did not run.
    Skipped,
}

impl RunOutcome {
    /// Whether the task ran (every outcome but [`RunOutcome::Skipped`]).
    pub fn is_run(self) -> bool {
        self != RunOutcome::Skipped
    }
}

/// One run of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRun {
    /// The plugin id.
    pub plugin: String,
    /// The task's name.
    pub task: String,
    /// Why it ran.
    pub trigger: RunTrigger,
    /// The due time it ran for (for a manual run, when it was asked for).
    pub scheduled_at_ms: i64,
    /// When it started (for a skipped run, when it was skipped).
    pub started_at_ms: i64,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The error, for [`RunOutcome::Error`] and [`RunOutcome::Deadline`].
    pub error: Option<String>,
}

/// The persistent state of scheduled tasks. Every method names the plugin it is about;
/// one plugin's tasks are never visible through another's id.
#[async_trait]
pub trait TaskStore: Send + Sync + std::fmt::Debug {
    /// The state of every task of `plugin` that has one, ordered by task name.
    async fn task_states(&self, plugin: &str) -> Result<Vec<TaskState>, StoreError>;

    /// Makes sure `task` has a state for `schedule` and returns it. A task without one gets
    /// `first_due_ms` as its next due time; a task whose schedule changed does too (its
    /// history and any run under way are kept); otherwise the stored state is returned as
    /// it is.
    async fn prepare_task(
        &self,
        plugin: &str,
        task: &str,
        schedule: &str,
        first_due_ms: i64,
    ) -> Result<TaskState, StoreError>;

    /// Claims the run due at `due_ms`, if the task's next due time is still `due_ms`, and
    /// moves that on to `next_due_ms`. When no run is under way, the claim takes the lease
    /// until `lease_ms` from now; when one is, the due time is claimed as skipped.
    async fn claim_due_run(
        &self,
        plugin: &str,
        task: &str,
        due_ms: i64,
        next_due_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError>;

    /// Moves the next due time from `due_ms` on to `next_due_ms` without running it (a due
    /// time missed while the task could not run, not to be made up for); returns whether
    /// the next due time was still `due_ms`.
    async fn skip_due_run(&self, plugin: &str, task: &str, due_ms: i64, next_due_ms: i64) -> Result<bool, StoreError>;

    /// Takes the lease for an operator's run, until `lease_ms` from now, unless a run is
    /// under way. `None`: one is (or the task has no state; call
    /// [`prepare_task`](TaskStore::prepare_task) first).
    async fn claim_manual_run(&self, plugin: &str, task: &str, lease_ms: i64) -> Result<Option<i64>, StoreError>;

    /// Records a run, keeping the newest [`TASK_RUN_HISTORY_LIMIT`] of the task, and
    /// releases the lease ending at `lease_until_ms` if the task still holds that one.
    async fn record_task_run(&self, run: &TaskRun, lease_until_ms: Option<i64>) -> Result<(), StoreError>;

    /// The runs of `task`, newest first, at most `limit`.
    async fn task_runs(&self, plugin: &str, task: &str, limit: usize) -> Result<Vec<TaskRun>, StoreError>;
}
