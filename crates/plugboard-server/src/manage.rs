//! Plugin management for administrators: load, unload (with cascade), reload, enable,
//! disable, settings (validated, secrets never returned), fault history and a live stream
//! of plugin events. Every change goes through the registry, one at a time.

use std::convert::Infallible;
use std::path::PathBuf;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _};
use plugboard_manifest::PluginId;
use plugboard_registry::RegistryError;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, schemas};

pub(crate) fn plugin_id(id: &str) -> Result<PluginId, ApiError> {
    PluginId::parse(id).map_err(|error| ApiError::bad_request("invalid_plugin_id", error.to_string()))
}

async fn entry(state: &AppState, id: &PluginId) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"plugin": state.registry.describe(id).await?})))
}

/// A plugin folder to load.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LoadRequest {
    /// A plugin folder on the server (holding plugin.toml and the component).
    #[schema(value_type = String, example = "/srv/plugboard/plugins/word-stats")]
    path: PathBuf,
}

/// Loads the plugin in a folder on the server
#[utoipa::path(
    post,
    path = "/api/plugins/load",
    tag = "plugin-management",
    operation_id = "load_plugin",
    request_body = LoadRequest,
    responses(
        (status = 201, description = "Loaded", body = schemas::PluginEntry),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 409, description = "It is loaded already, or conflicts with a loaded plugin", body = schemas::ApiError),
        (status = 422, description = "It cannot be loaded: manifest, component or dependencies", body = schemas::ApiError),
    )
)]
pub(crate) async fn load(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    ApiJson(request): ApiJson<LoadRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let plugin = state.registry.load_folder(&request.path).await?;
    Ok((StatusCode::CREATED, entry(&state, plugin.id()).await?))
}

/// How to unload.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UnloadQuery {
    /// Unload the plugins that depend on it too (first); without it, they make the unload fail.
    #[serde(default)]
    cascade: bool,
}

/// Unloads a plugin (and with `cascade`, its dependents first)
#[utoipa::path(
    post,
    path = "/api/plugins/{id}/unload",
    tag = "plugin-management",
    operation_id = "unload_plugin",
    params(("id" = String, Path, description = "The plugin's id"), UnloadQuery),
    responses(
        (status = 200, description = "The plugins unloaded", body = schemas::Unloaded),
        (status = 400, description = "Not a plugin id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin", body = schemas::ApiError),
        (status = 409, description = "Loaded plugins depend on it; unload them or use `cascade`", body = schemas::ApiError),
    )
)]
pub(crate) async fn unload(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
    Query(query): Query<UnloadQuery>,
) -> Result<Json<Value>, ApiError> {
    let unloaded = state.registry.unload(&plugin_id(&id)?, query.cascade).await?;
    Ok(Json(json!({"unloaded": unloaded})))
}

/// Reloads a plugin from its folder
///
/// The new version replaces the running one atomically, keeping its settings and state;
/// if it cannot load, the running version stays.
#[utoipa::path(
    post,
    path = "/api/plugins/{id}/reload",
    tag = "plugin-management",
    operation_id = "reload_plugin",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "Reloaded", body = schemas::PluginEntry),
        (status = 400, description = "Not a plugin id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin", body = schemas::ApiError),
        (status = 422, description = "The new version cannot be loaded; the old one runs on", body = schemas::ApiError),
    )
)]
pub(crate) async fn reload(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    state.registry.reload(&id).await?;
    entry(&state, &id).await
}

/// Enables a plugin (and closes its circuit breaker)
#[utoipa::path(
    post,
    path = "/api/plugins/{id}/enable",
    tag = "plugin-management",
    operation_id = "enable_plugin",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "Enabled", body = schemas::PluginEntry),
        (status = 400, description = "Not a plugin id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin", body = schemas::ApiError),
    )
)]
pub(crate) async fn enable(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    state.registry.enable(&id).await?;
    entry(&state, &id).await
}

/// Disables a plugin: it stays loaded but is not called
#[utoipa::path(
    post,
    path = "/api/plugins/{id}/disable",
    tag = "plugin-management",
    operation_id = "disable_plugin",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "Disabled", body = schemas::PluginEntry),
        (status = 400, description = "Not a plugin id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin", body = schemas::ApiError),
    )
)]
pub(crate) async fn disable(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    state.registry.disable(&id).await?;
    entry(&state, &id).await
}

/// A plugin's settings (defaults filled in, secrets `null`) and their JSON Schema
#[utoipa::path(
    get,
    path = "/api/plugins/{id}/config",
    tag = "plugin-management",
    operation_id = "get_plugin_config",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "The settings and schema", body = schemas::PluginConfig),
        (status = 400, description = "Not a plugin id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin", body = schemas::ApiError),
    )
)]
pub(crate) async fn get_config(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    let settings = state.registry.settings(&id).await?;
    let schema = state.registry.plugin(&id).map(|plugin| plugin.manifest().settings.as_json().clone());
    Ok(Json(json!({"settings": settings, "schema": schema})))
}

/// Replaces a plugin's settings
///
/// Checked against the plugin's schema; secrets left out keep their value. When invalid,
/// the error lists every violation by path and the settings in force stay.
#[utoipa::path(
    put,
    path = "/api/plugins/{id}/config",
    tag = "plugin-management",
    operation_id = "put_plugin_config",
    params(("id" = String, Path, description = "The plugin's id")),
    request_body(content = Object, description = "The settings, as the plugin's schema describes them"),
    responses(
        (status = 200, description = "The settings now in force", body = schemas::PluginSettings),
        (status = 400, description = "Not a plugin id, or not JSON", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin", body = schemas::ApiError),
        (status = 422, description = "Invalid (`invalid_settings`, with `violations`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn put_config(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
    ApiJson(settings): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    match state.registry.update_settings(&id, &settings).await {
        Ok(in_force) => Ok(Json(json!({"settings": in_force}))),
        Err(RegistryError::InvalidSettings { plugin, violations }) => {
            let error = RegistryError::InvalidSettings { plugin, violations: violations.clone() };
            let mut api = ApiError::from(error);
            api.violations = Some(violations.iter().map(|v| json!({"path": v.path, "message": v.message})).collect());
            Err(api)
        }
        Err(other) => Err(other.into()),
    }
}

/// A plugin's newest faults (traps, timeouts, memory), kept across restarts
#[utoipa::path(
    get,
    path = "/api/plugins/{id}/faults",
    tag = "plugin-management",
    operation_id = "plugin_faults",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "The faults, newest first", body = schemas::FaultList),
        (status = 400, description = "Not a plugin id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin", body = schemas::ApiError),
    )
)]
pub(crate) async fn faults(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"faults": state.registry.faults(&plugin_id(&id)?, 100).await?})))
}

/// Plugin events as they happen, as server-sent events named by their type
///
/// Loaded, unloaded, enabled, disabled, failed, settings changed, fault, breaker opened.
/// The stream does not end by itself.
#[utoipa::path(
    get,
    path = "/api/plugins/events",
    tag = "plugin-management",
    operation_id = "plugin_events",
    responses(
        (status = 200, description = "The events", body = String, content_type = "text/event-stream"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = tokio_stream::wrappers::BroadcastStream::new(state.registry.subscribe());
    let stream = events.filter_map(|event| async move {
        let event = event.ok()?;
        let value = serde_json::to_value(&event).ok()?;
        let name = value["type"].as_str().unwrap_or("event").to_owned();
        Some(Ok(SseEvent::default().event(name).data(value.to_string())))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Runs a plugin's own self-test hook
#[utoipa::path(
    post,
    path = "/api/plugins/{id}/self-test",
    tag = "plugin-management",
    operation_id = "plugin_self_test",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "The checks and whether all passed", body = schemas::SelfTestReport),
        (status = 400, description = "Not a plugin id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin is loaded, or it has no self-test", body = schemas::ApiError),
    )
)]
pub(crate) async fn self_test(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    let plugin = state.registry.plugin(&id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "plugin_not_found", format!("no plugin `{id}` is loaded"))
    })?;
    let results = plugin.self_test().await?;
    let passed = results.iter().all(|result| result.passed);
    Ok(Json(json!({"plugin": id, "passed": passed, "results": results})))
}
