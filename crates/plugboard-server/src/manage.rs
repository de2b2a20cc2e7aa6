//! Plugin management for administrators: load, unload (with cascade), reload, enable,
//! disable, settings (validated, secrets never returned), fault history and a live stream
//! of plugin events. Every change goes through the registry, one at a time.
//!
//! Loading and settings also take the bodies the plugin-system document of the project
//! writes (`{"plugin_id", "config"}` to load, `{"config": {...}}` to configure), beside
//! this API's own; [`settings_body`] says how the two settings bodies are told apart.

use std::convert::Infallible;
use std::path::PathBuf;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _};
use plugboard_manifest::{PluginId, SettingsSchema};
use plugboard_registry::RegistryError;
use plugboard_store::Notice;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, cluster, schemas};

pub(crate) fn plugin_id(id: &str) -> Result<PluginId, ApiError> {
    PluginId::parse(id).map_err(|error| ApiError::bad_request("invalid_plugin_id", error.to_string()))
}

async fn entry(state: &AppState, id: &PluginId) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"plugin": state.registry.describe(id).await?})))
}

/// What to load: a discovered plugin by id (with new settings or its saved ones), or a
/// plugin folder on the server. Exactly one of `plugin_id` and `path`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"plugin_id": "github-webhook", "config": {"secret": "s3cret", "conversation_id": ""}}))]
pub(crate) struct LoadRequest {
    /// A plugin found at start (bundled or in the plugin folders) that is not loaded now.
    #[serde(default)]
    #[schema(example = "github-webhook")]
    plugin_id: Option<String>,
    /// With `plugin_id`: the settings to load it with, as its schema describes them
    /// (secrets left out keep their saved values). Checked before anything loads; without
    /// it, the saved settings are used.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    /// Instead of `plugin_id`: a plugin folder on the server (holding plugin.toml and the
    /// component), loaded with its saved settings.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "/srv/plugboard/plugins/word-stats")]
    path: Option<PathBuf>,
}

/// Loads a discovered plugin by id (optionally with new settings), or the plugin in a folder on the server
///
/// `{"plugin_id": "...", "config": {...}}` loads a plugin found at start that is not loaded
/// (unloaded, or failed), with `config` as its settings: they are checked against its
/// schema first, and invalid ones load nothing, save nothing, and are answered with every
/// violation by path (`invalid_settings`). Valid ones are saved, and put back as they were
/// if the plugin still fails to load. `{"path": "..."}` loads a folder with its saved
/// settings. The answer has the plugin and its settings in force, secrets `null`.
#[utoipa::path(
    post,
    path = "/api/plugins/load",
    tag = "plugin-management",
    operation_id = "load_plugin",
    request_body = LoadRequest,
    responses(
        (status = 201, description = "Loaded: the plugin and its settings, secrets `null`", body = schemas::LoadedPlugin),
        (status = 400, description = "Neither or both of `plugin_id` and `path`, `config` with `path`, an invalid id, or not JSON", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No plugin with that id was found (`plugin_not_found`)", body = schemas::ApiError),
        (status = 409, description = "It is loaded already, or conflicts with a loaded plugin", body = schemas::ApiError),
        (status = 422, description = "Invalid settings (`invalid_settings`, with `violations`), or it cannot be loaded: manifest, component, dependencies, or its `init` refused the settings", body = schemas::ApiError),
    )
)]
pub(crate) async fn load(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    ApiJson(request): ApiJson<LoadRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = match (request.plugin_id, request.path, request.config) {
        (Some(id), None, config) => {
            let id = plugin_id(&id)?;
            let loaded = match &config {
                Some(config) => state.registry.load_with_settings(&id, config).await.map(|_| ()),
                None => state.registry.load(&id).await.map(|_| ()),
            };
            loaded.map_err(|error| match error {
                RegistryError::AlreadyLoaded { plugin, version } => ApiError::new(
                    StatusCode::CONFLICT,
                    "plugin_already_loaded",
                    format!(
                        "plugin `{plugin}` is already loaded (version {version}); change its settings with \
                         PUT /api/plugins/{plugin}/config, or reload it with POST /api/plugins/{plugin}/reload"
                    ),
                ),
                other => settings_error(other),
            })?;
            // A folder is this server's own; an installed plugin loads everywhere.
            cluster::announce(&state, cluster::Operation::Load, &id, false).await;
            id
        }
        (None, Some(path), None) => state.registry.load_folder(&path).await?.id().clone(),
        (None, Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_load_request",
                "`config` goes with `plugin_id`; a folder loads with its saved settings: change them after with \
                 PUT /api/plugins/{id}/config",
            ));
        }
        (Some(_), Some(_), _) => {
            return Err(ApiError::bad_request(
                "invalid_load_request",
                "give either `plugin_id` (a plugin found at start) or `path` (a plugin folder on the server), not both",
            ));
        }
        (None, None, _) => {
            return Err(ApiError::bad_request(
                "invalid_load_request",
                "say what to load: {\"plugin_id\": \"...\", \"config\": {...}} for a plugin found at start \
                 (`config` is optional), or {\"path\": \"...\"} for a plugin folder on the server",
            ));
        }
    };
    let plugin = state.registry.describe(&id).await?;
    let settings = state.registry.settings(&id).await?;
    Ok((StatusCode::CREATED, Json(json!({"plugin": plugin, "settings": settings}))))
}

/// An [`ApiError`] for a registry error, with every violation of invalid settings listed
/// by path (their messages never quote a secret).
fn settings_error(error: RegistryError) -> ApiError {
    match error {
        RegistryError::InvalidSettings { plugin, violations } => {
            let listed = violations.iter().map(|v| json!({"path": v.path, "message": v.message})).collect();
            let mut api = ApiError::from(RegistryError::InvalidSettings { plugin, violations });
            api.violations = Some(listed);
            api
        }
        other => other.into(),
    }
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
    let id = plugin_id(&id)?;
    let unloaded = state.registry.unload(&id, query.cascade).await?;
    cluster::announce(&state, cluster::Operation::Unload, &id, query.cascade).await;
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
    cluster::announce(&state, cluster::Operation::Reload, &id, false).await;
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
    let schema = state.registry.settings_schema(&id)?;
    Ok(Json(json!({"settings": settings, "schema": schema.as_json()})))
}

/// The settings a `PUT /api/plugins/{id}/config` body carries. Two shapes are taken:
/// - the settings themselves, as the plugin's schema describes them (`{"tag": "ops"}`);
/// - the settings wrapped as `{"config": {...}}`.
///
/// A body is the wrapped shape when it is an object whose only key is `config`, whose
/// value is an object, and the plugin's own settings have no top-level property named
/// `config`. For a plugin whose settings do have one, the body is always its settings as
/// they are (so `{"config": {...}}` sets that property, never unwrapped): there, a
/// wrapper could not be told from the plugin's own settings.
fn settings_body(schema: &SettingsSchema, body: Value) -> Value {
    let own_config = schema.as_json().get("properties").and_then(|properties| properties.get("config")).is_some();
    match body {
        Value::Object(mut object)
            if !own_config && object.len() == 1 && object.get("config").is_some_and(Value::is_object) =>
        {
            object.remove("config").unwrap_or_default()
        }
        other => other,
    }
}

/// Replaces a plugin's settings
///
/// Checked against the plugin's schema; secrets left out keep their value. When invalid,
/// the error lists every violation by path and the settings in force stay.
///
/// Two body shapes are taken: the settings themselves (`{"tag": "ops"}`), or wrapped as
/// `{"config": {"tag": "ops"}}`. A body is read as wrapped when it is an object whose only
/// key is `config` with an object as its value, unless the plugin's own settings have a
/// top-level property named `config`: for such a plugin the body is always its settings
/// as they are. The answer never holds a secret's value (`null` instead).
#[utoipa::path(
    put,
    path = "/api/plugins/{id}/config",
    tag = "plugin-management",
    operation_id = "put_plugin_config",
    params(("id" = String, Path, description = "The plugin's id")),
    request_body(content = Object, description = "The settings as the plugin's schema describes them, or \
                 `{\"config\": {...}}` with them inside (unless the plugin has a top-level setting named \
                 `config`)"),
    responses(
        (status = 200, description = "The settings now in force", body = schemas::PluginSettings),
        (status = 400, description = "Not a plugin id, or not JSON", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin", body = schemas::ApiError),
        (status = 409, description = "A saved secret that the settings keep cannot be decrypted with the \
         server's key (`secret_unreadable`): restore the key, or give the secret again", body = schemas::ApiError),
        (status = 422, description = "Invalid (`invalid_settings`, with `violations`)", body = schemas::ApiError),
        (status = 500, description = "A secret could not be encrypted (`secret_not_encrypted`); nothing was saved", body = schemas::ApiError),
    )
)]
pub(crate) async fn put_config(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    let settings = settings_body(&state.registry.settings_schema(&id)?, body);
    let in_force = state.registry.update_settings(&id, &settings).await.map_err(settings_error)?;
    Ok(Json(json!({"settings": in_force})))
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
/// Loaded, unloaded, enabled, disabled, failed, settings changed, fault, breaker opened,
/// each with the `node` (server) it happened on: with several servers sharing a
/// PostgreSQL database, every server's events. The stream does not end by itself.
#[utoipa::path(
    get,
    path = "/api/plugins/events",
    tag = "plugin-management",
    operation_id = "plugin_events",
    responses(
        (status = 200, description = "The events", body = schemas::ServerSentEvent, content_type = "text/event-stream"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // With several servers on the database, every server's events come back through it
    // (this one's included); otherwise they are this server's own.
    let shared = state.store.is_shared();
    let node = state.config.node_name.clone();
    let local = tokio_stream::wrappers::BroadcastStream::new(state.registry.subscribe())
        .filter_map(move |event| {
            let node = node.clone();
            async move { if shared { None } else { cluster::stamped(&event.ok()?, &node) } }
        })
        .boxed();
    let cluster = tokio_stream::wrappers::BroadcastStream::new(state.registry.notices())
        .filter_map(|notice| async move {
            match notice.ok()? {
                Notice::Message(message) => cluster::published_event(&message),
                _ => None,
            }
        })
        .boxed();
    let stream = futures_util::stream::select(local, cluster).map(|value| {
        let name = value["type"].as_str().unwrap_or("event").to_owned();
        Ok(SseEvent::default().event(name).data(value.to_string()))
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
