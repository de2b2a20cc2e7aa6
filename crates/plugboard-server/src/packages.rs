//! Plugin packages over HTTP, for administrators: install by upload (the package file as
//! the request body) or from the plugin index (`{"id", "version"}`), uninstall, and the
//! catalogue of what is installed, discovered and offered by the index.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use plugboard_registry::{Catalogue, InstallOptions};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{AdminUser, AuthUser};
use crate::error::ApiError;
use crate::manage::plugin_id;

/// How the server installs packages.
#[derive(Debug, Clone, Default)]
pub struct PackagesConfig {
    /// Trust store, policy (`require` by default) and size limits for uploads and index installs.
    pub install: InstallOptions,
    /// The plugin index, when one is configured.
    pub catalogue: Option<Catalogue>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InstallQuery {
    /// Install even when a newer version is installed.
    #[serde(default)]
    force: bool,
}

/// What to install from the index.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FromIndex {
    id: String,
    version: Option<semver::Version>,
}

/// `POST /api/plugins/install[?force=true]`: the body is a package file
/// (`application/octet-stream`), or `{"id", "version"?}` (`application/json`) to install
/// from the plugin index. 201 with what was installed and the plugin's entry.
pub(crate) async fn install(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(query): Query<InstallQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut options = state.packages.install.clone();
    options.force = query.force;
    let limit = usize::try_from(options.limits.max_archive_bytes).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit.saturating_add(1)).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "package_too_large",
            format!("the package is larger than the limit of {limit} bytes; make it smaller or raise `[packages] max_package_mb`"),
        )
    })?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let installed = if json {
        let request: FromIndex = serde_json::from_slice(&bytes).map_err(|error| {
            ApiError::bad_request(
                "invalid_json",
                format!(
                    "expected {{\"id\": \"<plugin>\", \"version\": \"<optional>\"}} to install from the index: {error}"
                ),
            )
        })?;
        let catalogue = state.packages.catalogue.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_plugin_index",
                "no plugin index is configured; set `[packages] index` or PLUGBOARD_PLUGIN_INDEX, or upload a package file",
            )
        })?;
        state
            .registry
            .install_from_index(catalogue, &request.id, request.version.as_ref(), &options, &|_, _| {})
            .await?
    } else {
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "empty_body",
                "send the package file (`<id>-<version>.plugboard`) as the request body",
            ));
        }
        state.registry.install_package(&bytes, &options).await?
    };
    let plugin = state.registry.describe(&installed.plugin).await?;
    Ok((StatusCode::CREATED, Json(json!({"installed": installed, "plugin": plugin}))))
}

/// `POST /api/plugins/{id}/uninstall`: removes a plugin installed from a package.
pub(crate) async fn uninstall(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = plugin_id(&id)?;
    state.registry.uninstall(&id).await?;
    // A bundled plugin with the same id may have come back.
    let now = state.registry.describe(&id).await.ok();
    Ok(Json(json!({"uninstalled": id, "plugin": now})))
}

/// `GET /api/plugins/available`: every plugin known here (bundled, in a plugin folder,
/// installed from a package) and every plugin the index offers, merged by id, with the
/// installed and offered versions side by side and whether an update is offered. An index
/// that cannot be read is reported beside the list, which still has the local plugins.
pub(crate) async fn available(State(state): State<AppState>, AuthUser(_): AuthUser) -> Json<Value> {
    let registry = &state.registry;
    let mut plugins: BTreeMap<String, Value> = BTreeMap::new();
    for entry in registry.list().await {
        let manifest = registry.plugin(&entry.id).map(|plugin| plugin.manifest().clone());
        let permissions: Vec<&str> =
            manifest.iter().flat_map(|manifest| manifest.permissions.iter().map(|p| p.as_str())).collect();
        let record = registry.install_record(&entry.id);
        plugins.insert(
            entry.id.to_string(),
            json!({
                "id": entry.id,
                "name": entry.name,
                "description": entry.description,
                "permissions": permissions,
                "installed": {
                    "version": entry.version,
                    "state": entry.state,
                    "origin": entry.origin,
                    "package": record,
                },
                "available": null,
                "update_available": false,
            }),
        );
    }
    let mut index_info = Value::Null;
    if let Some(catalogue) = &state.packages.catalogue {
        match catalogue.index().await {
            Ok(index) => {
                index_info = json!({"location": catalogue.location(), "name": index.name, "error": null});
                for offered in index.latest() {
                    let item = plugins.entry(offered.id.to_string()).or_insert_with(|| {
                        json!({
                            "id": offered.id,
                            "name": offered.name,
                            "description": offered.description,
                            "permissions": offered.permissions,
                            "installed": null,
                            "update_available": false,
                        })
                    });
                    let newer = item["installed"]["version"]
                        .as_str()
                        .and_then(|version| semver::Version::parse(version).ok())
                        .is_some_and(|installed| offered.version > installed);
                    item["update_available"] = json!(newer);
                    item["available"] = json!(offered);
                    if item["installed"].is_null() {
                        item["permissions"] = json!(offered.permissions);
                    }
                }
            }
            Err(error) => {
                index_info = json!({"location": catalogue.location(), "name": null, "error": error.to_string()});
            }
        }
    }
    Json(json!({
        "index": index_info,
        "policy": state.packages.install.policy,
        "plugins": plugins.into_values().collect::<Vec<_>>(),
        "broken_folders": registry.broken_folders(),
    }))
}
