//! Scheduled tasks of a plugin, for operators: their schedules and state, their run
//! history, and "run now".

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::manage::plugin_id;
use crate::{AppState, schemas};

/// How many runs `GET .../runs` returns when not told.
const DEFAULT_RUNS: usize = 20;

/// The plugin's scheduled tasks: schedule, next run, last run and whether one is under way
#[utoipa::path(
    get,
    path = "/api/plugins/{id}/tasks",
    tag = "plugin-management",
    operation_id = "plugin_tasks",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "Its tasks", body = schemas::TaskList),
        (status = 400, description = "Not a plugin id (`invalid_plugin_id`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin (`plugin_not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    let tasks = state.registry.tasks(&id).await?;
    Ok(Json(json!({"plugin": id, "tasks": tasks})))
}

/// How many runs to list.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
pub(crate) struct RunsQuery {
    /// At most this many, newest first (default 20, at most 100: the history kept).
    limit: Option<usize>,
}

/// The newest runs of one task, newest first (the newest 100 are kept)
#[utoipa::path(
    get,
    path = "/api/plugins/{id}/tasks/{task}/runs",
    tag = "plugin-management",
    operation_id = "plugin_task_runs",
    params(
        ("id" = String, Path, description = "The plugin's id"),
        ("task" = String, Path, description = "The task's name, as in its `[[schedules]]` entry"),
        RunsQuery,
    ),
    responses(
        (status = 200, description = "Its runs", body = schemas::TaskRunList),
        (status = 400, description = "Not a plugin id (`invalid_plugin_id`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin or task (`plugin_not_found`, `task_not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn runs(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path((id, task)): Path<(String, String)>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    let limit = query.limit.unwrap_or(DEFAULT_RUNS).min(plugboard_store::TASK_RUN_HISTORY_LIMIT);
    let runs = state.registry.task_runs(&id, &task, limit).await?;
    Ok(Json(json!({"plugin": id, "task": task, "runs": runs})))
}

/// Runs a scheduled task now, outside its schedule, and answers when it has finished
///
/// The run goes through the plugin's normal call path (its deadline, memory ceiling and
/// circuit breaker) and is recorded in the task's history as a `manual` run. A run that
/// fails is still a `200` whose `outcome` is `error` or `deadline`.
#[utoipa::path(
    post,
    path = "/api/plugins/{id}/tasks/{task}/run",
    tag = "plugin-management",
    operation_id = "plugin_task_run",
    params(
        ("id" = String, Path, description = "The plugin's id"),
        ("task" = String, Path, description = "The task's name, as in its `[[schedules]]` entry"),
    ),
    responses(
        (status = 200, description = "The run, finished", body = schemas::TaskRunResult),
        (status = 400, description = "Not a plugin id (`invalid_plugin_id`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin or task (`plugin_not_found`, `task_not_found`)", body = schemas::ApiError),
        (status = 409, description = "The plugin is not loaded or disabled, or the task is running now (`plugin_not_loaded`, `plugin_disabled`, `task_running`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn run_now(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path((id, task)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    let run = state.registry.run_task_now(&id, &task).await?;
    Ok(Json(json!({"run": run})))
}
