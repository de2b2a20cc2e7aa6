//! The plugin endpoints: listing, details, health and `execute` (both request shapes of
//! the seeds' APIs). Any signed-in user may read and execute; changing plugins is for
//! administrators (the management endpoints).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plugboard_host::Plugin;
use plugboard_manifest::PluginId;
use plugboard_registry::{PluginState, Registry};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::{AppState, schemas};

fn summary(plugin: &Plugin) -> Value {
    let manifest = plugin.manifest();
    json!({
        "id": manifest.id,
        "name": manifest.name,
        "version": manifest.version,
        "description": manifest.description,
        "status": plugin.status(),
        "permissions": manifest.permissions,
        "tools": plugin.tools(),
        "commands": manifest.commands,
        "schedules": manifest.schedules,
        "hooks": plugin.hooks().map(|hook| hook.as_str()).collect::<Vec<_>>(),
        "ui": manifest.ui.iter().map(|mount| json!({
            "mount": mount.mount,
            "entry": mount.entry.to_string_lossy().replace('\\', "/"),
            "title": mount.title,
        })).collect::<Vec<_>>(),
    })
}

/// Every installed plugin
///
/// The loaded ones with their tools, commands, hooks, UI and status; the others with
/// their state and error.
#[utoipa::path(
    get,
    path = "/api/plugins",
    tag = "plugins",
    operation_id = "list_plugins",
    responses((status = 200, description = "The plugins", body = schemas::PluginList), (status = 401, description = "Not signed in", body = schemas::ApiError))
)]
pub(crate) async fn list_plugins(State(state): State<AppState>, AuthUser(_user): AuthUser) -> Json<Value> {
    let registry = &state.registry;
    let mut plugins = Vec::new();
    for entry in registry.list().await {
        let mut item = match registry.plugin(&entry.id) {
            Some(plugin) => summary(&plugin),
            None => {
                json!({"id": entry.id, "name": entry.name, "version": entry.version, "description": entry.description})
            }
        };
        item["state"] = json!(entry.state);
        item["origin"] = json!(entry.origin);
        item["error"] = json!(entry.error);
        item["disabled_reason"] = json!(entry.disabled_reason);
        item["dependencies"] = json!(entry.dependencies);
        item["dependents"] = json!(entry.dependents);
        plugins.push(item);
    }
    Json(json!({"plugins": plugins, "broken_folders": registry.broken_folders()}))
}

fn find(registry: &Registry, id: &str) -> Result<Plugin, ApiError> {
    let id = PluginId::parse(id)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "invalid_plugin_id", error.to_string()))?;
    registry
        .plugin(&id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "plugin_not_found", format!("no plugin `{id}` is loaded")))
}

/// A loaded plugin: its summary, state, manifest, settings (secrets left out) and scheduled tasks
///
/// A plugin still compiling (its first load on this machine) is shown too, with `state`
/// `compiling` and what its files say; it has no status, tools or settings until it loads.
#[utoipa::path(
    get,
    path = "/api/plugins/{id}",
    tag = "plugins",
    operation_id = "plugin_details",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "The plugin", body = Object),
        (status = 400, description = "Not a plugin id (`invalid_plugin_id`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such plugin is loaded or compiling (`plugin_not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn plugin_details(
    State(state): State<AppState>,
    AuthUser(_user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let plugin = match find(&state.registry, &id) {
        Ok(plugin) => plugin,
        Err(not_loaded) => return compiling_details(&state.registry, &id).ok_or(not_loaded).map(Json),
    };
    let mut details = summary(&plugin);
    if let Some(entry) = state.registry.entry(plugin.id()) {
        details["state"] = json!(entry.state);
        details["error"] = json!(entry.error);
    }
    details["manifest"] = json!(plugin.manifest());
    details["settings"] = plugin.redacted_settings();
    details["tasks"] = json!(state.registry.tasks(plugin.id()).await?);
    Ok(Json(details))
}

/// What is known of plugin `id` while it waits for its compile: its files' description.
fn compiling_details(registry: &Registry, id: &str) -> Option<Value> {
    let id = PluginId::parse(id).ok()?;
    let entry = registry.entry(&id).filter(|entry| entry.state == PluginState::Compiling)?;
    Some(json!({
        "id": entry.id,
        "name": entry.name,
        "version": entry.version,
        "description": entry.description,
        "state": entry.state,
        "origin": entry.origin,
        "dependencies": entry.dependencies,
    }))
}

/// The health each loaded plugin reports
#[utoipa::path(
    get,
    path = "/api/plugins/health",
    tag = "plugins",
    operation_id = "plugin_health",
    responses((status = 200, description = "Health by plugin id", body = schemas::PluginHealth), (status = 401, description = "Not signed in", body = schemas::ApiError))
)]
pub(crate) async fn health(State(state): State<AppState>, AuthUser(_user): AuthUser) -> Json<Value> {
    let registry = &state.registry;
    let mut plugins = serde_json::Map::new();
    for plugin in registry.runtime().plugins() {
        plugins.insert(plugin.id().to_string(), json!(plugin.health().await));
    }
    Json(json!({"plugins": plugins}))
}

/// Both request shapes of the seeds: `{"plugin", "data"}` (runs the first tool with
/// `{"input": data}`) and `{"plugin_id", "method", "kwargs"}` (calls tool `method`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
enum ExecuteRequest {
    /// Runs the plugin's first tool with `{"input": data}`.
    Runner {
        /// The plugin's id.
        plugin: String,
        /// The input: a string, or JSON passed as its text.
        data: Value,
    },
    /// Calls the plugin's tool `method` with `kwargs`.
    Method {
        /// The plugin's id.
        plugin_id: String,
        /// The tool's name.
        method: String,
        /// Not supported: tools take named arguments.
        #[serde(default)]
        args: Vec<Value>,
        /// The tool's arguments.
        #[serde(default)]
        #[schema(value_type = Object)]
        kwargs: serde_json::Map<String, Value>,
    },
}

/// Runs a plugin's tool
///
/// Counts toward the caller's rate limit for the plugin.
#[utoipa::path(
    post,
    path = "/api/plugins/execute",
    tag = "plugins",
    operation_id = "execute_plugin",
    request_body(content = ExecuteRequest,
                 example = json!({"plugin_id": "calculator", "method": "calculate", "kwargs": {"expression": "6*7"}})),
    responses(
        (status = 200, description = "What the tool returned", body = schemas::ExecuteResult),
        (status = 400, description = "Neither request shape (`invalid_request`), or not a plugin id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such plugin (`plugin_not_found`) or tool (`unknown_method`)", body = schemas::ApiError),
        (status = 415, description = "A body that is not sent as `application/json` (`invalid_json`)", body = schemas::ApiError),
        (status = 422, description = "The tool failed", body = schemas::ApiError),
        (status = 429, description = "Rate limited; see `Retry-After`", body = schemas::ApiError),
        (status = 503, description = "The plugin is disabled, busy or its circuit breaker is open", body = schemas::ApiError),
    )
)]
pub(crate) async fn execute(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    crate::error::require_json(&headers)?;
    let registry = &state.registry;
    let request: ExecuteRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send {\"plugin\": <id>, \"data\": <input>} or {\"plugin_id\": <id>, \"method\": <tool>, \"kwargs\": {...}}",
        )
    })?;
    let context = plugboard_types::CallContext { user_id: user.id.as_str().into(), ..Default::default() };
    let (plugin, result) = match request {
        ExecuteRequest::Runner { plugin, data } => {
            let plugin = find(registry, &plugin)?;
            state.limits.check(&user.id, plugin.id().as_str()).await?;
            let input = match data {
                Value::String(text) => text,
                other => other.to_string(),
            };
            let result = plugin.run_with_input(&context, &input).await?;
            (plugin, result)
        }
        ExecuteRequest::Method { plugin_id, method, args, kwargs } => {
            let plugin = find(registry, &plugin_id)?;
            state.limits.check(&user.id, plugin.id().as_str()).await?;
            if !args.is_empty() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "tools take named arguments: put them in `kwargs`",
                ));
            }
            if !plugin.tools().iter().any(|tool| tool.name == method) {
                let known: Vec<String> = plugin.tools().into_iter().map(|tool| tool.name).collect();
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_method",
                    format!("plugin `{}` has no tool `{method}`; its tools: {}", plugin.id(), known.join(", ")),
                ));
            }
            let result = plugin.call_tool(&context, &method, Value::Object(kwargs)).await?;
            (plugin, result)
        }
    };
    Ok(Json(json!({"plugin": plugin.id(), "status": "success", "result": result})))
}
