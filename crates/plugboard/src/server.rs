//! The HTTP server: the first endpoints of the plugin management API (listing, details,
//! health, execute), with JSON errors that carry a stable `code`.

use std::net::SocketAddr;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use plugboard_host::{CallError, CallErrorKind, Plugin};
use plugboard_manifest::PluginId;
use plugboard_registry::Registry;
use serde::Deserialize;
use serde_json::{Value, json};

/// An API error: status, stable code, human message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> ApiError {
        let status = match error.kind {
            CallErrorKind::NotImplemented => StatusCode::NOT_FOUND,
            CallErrorKind::Plugin { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            CallErrorKind::Disabled | CallErrorKind::BreakerOpen { .. } | CallErrorKind::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            CallErrorKind::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, error.kind.code(), error.to_string())
    }
}

/// The application's routes.
pub(crate) fn router(registry: Registry) -> Router {
    Router::new()
        .route("/api/plugins", get(list_plugins))
        .route("/api/plugins/health", get(health))
        .route("/api/plugins/execute", post(execute))
        .route("/api/plugins/{id}", get(plugin_details))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .with_state(registry)
}

/// Serves until Ctrl-C or SIGTERM, then shuts every plugin down.
pub(crate) async fn serve(registry: Registry, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(registry.clone())).with_graceful_shutdown(shutdown_signal()).await?;
    registry.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutting down");
}

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
    })
}

/// Every installed plugin: the loaded ones with their tools and status, the others with
/// their state and error.
async fn list_plugins(State(registry): State<Registry>) -> Json<Value> {
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

async fn plugin_details(State(registry): State<Registry>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let plugin = find(&registry, &id)?;
    let mut details = summary(&plugin);
    details["manifest"] = json!(plugin.manifest());
    details["settings"] = plugin.redacted_settings();
    Ok(Json(details))
}

async fn health(State(registry): State<Registry>) -> Json<Value> {
    let mut plugins = serde_json::Map::new();
    for plugin in registry.runtime().plugins() {
        plugins.insert(plugin.id().to_string(), json!(plugin.health().await));
    }
    Json(json!({"plugins": plugins}))
}

/// Both request shapes of the seeds: `{"plugin", "data"}` (runs the first tool with
/// `{"input": data}`) and `{"plugin_id", "method", "kwargs"}` (calls tool `method`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ExecuteRequest {
    Runner {
        plugin: String,
        data: Value,
    },
    Method {
        plugin_id: String,
        method: String,
        #[serde(default)]
        args: Vec<Value>,
        #[serde(default)]
        kwargs: serde_json::Map<String, Value>,
    },
}

async fn execute(State(registry): State<Registry>, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let request: ExecuteRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send {\"plugin\": <id>, \"data\": <input>} or {\"plugin_id\": <id>, \"method\": <tool>, \"kwargs\": {...}}",
        )
    })?;
    let context = plugboard_host::api::CallContext::default();
    let (plugin, result) = match request {
        ExecuteRequest::Runner { plugin, data } => {
            let plugin = find(&registry, &plugin)?;
            let input = match data {
                Value::String(text) => text,
                other => other.to_string(),
            };
            let result = plugin.run_with_input(&context, &input).await?;
            (plugin, result)
        }
        ExecuteRequest::Method { plugin_id, method, args, kwargs } => {
            let plugin = find(&registry, &plugin_id)?;
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
