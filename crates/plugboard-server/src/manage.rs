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

use crate::AppState;
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiJson};

pub(crate) fn plugin_id(id: &str) -> Result<PluginId, ApiError> {
    PluginId::parse(id).map_err(|error| ApiError::bad_request("invalid_plugin_id", error.to_string()))
}

async fn entry(state: &AppState, id: &PluginId) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"plugin": state.registry.describe(id).await?})))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoadRequest {
    /// A plugin folder on the server (holding plugin.toml and the component).
    path: PathBuf,
}

/// `POST /api/plugins/load`: loads the plugin in a folder on the server.
pub(crate) async fn load(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    ApiJson(request): ApiJson<LoadRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let plugin = state.registry.load_folder(&request.path).await?;
    Ok((StatusCode::CREATED, entry(&state, plugin.id()).await?))
}

#[derive(Debug, Deserialize)]
pub(crate) struct UnloadQuery {
    #[serde(default)]
    cascade: bool,
}

/// `POST /api/plugins/{id}/unload[?cascade=true]`.
pub(crate) async fn unload(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
    Query(query): Query<UnloadQuery>,
) -> Result<Json<Value>, ApiError> {
    let unloaded = state.registry.unload(&plugin_id(&id)?, query.cascade).await?;
    Ok(Json(json!({"unloaded": unloaded})))
}

/// `POST /api/plugins/{id}/reload`.
pub(crate) async fn reload(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    state.registry.reload(&id).await?;
    entry(&state, &id).await
}

/// `POST /api/plugins/{id}/enable`.
pub(crate) async fn enable(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    state.registry.enable(&id).await?;
    entry(&state, &id).await
}

/// `POST /api/plugins/{id}/disable`.
pub(crate) async fn disable(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    state.registry.disable(&id).await?;
    entry(&state, &id).await
}

/// `GET /api/plugins/{id}/config`: settings with defaults, secrets as `null`, and the schema.
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

/// `PUT /api/plugins/{id}/config`: every violation listed by path when invalid (422).
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

/// `GET /api/plugins/{id}/faults`: the newest faults, kept across restarts.
pub(crate) async fn faults(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"faults": state.registry.faults(&plugin_id(&id)?, 100).await?})))
}

/// `GET /api/plugins/events`: plugin events as server-sent events, named by their type.
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

/// `POST /api/plugins/{id}/self-test`: runs the plugin's own self-test hook.
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
