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
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AdminUser, AuthUser};
use crate::error::ApiError;
use crate::manage::plugin_id;
use crate::{AppState, schemas};

/// How the server installs packages.
#[derive(Debug, Clone, Default)]
pub struct PackagesConfig {
    /// Trust store, policy (`require` by default) and size limits for uploads and index installs.
    pub install: InstallOptions,
    /// The plugin index, when one is configured.
    pub catalogue: Option<Catalogue>,
}

/// How to install.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InstallQuery {
    /// Install even when a newer version is installed.
    #[serde(default)]
    force: bool,
}

/// What to install from the index.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FromIndex {
    /// The plugin's id.
    #[schema(example = "word-stats")]
    id: String,
    /// A version the index offers; its newest when absent.
    #[schema(value_type = Option<String>)]
    version: Option<semver::Version>,
}

/// Installs a plugin package, uploaded or from the plugin index
///
/// The body is a package file (`application/octet-stream`), or `{"id", "version"?}`
/// (`application/json`) to install from the plugin index. The package's signature is
/// checked against the server's trust store and install policy.
#[utoipa::path(
    post,
    path = "/api/plugins/install",
    tag = "plugin-management",
    operation_id = "install_plugin",
    params(InstallQuery),
    request_body(description = "A package file, or what to install from the index",
                 content((FromIndex = "application/json"), ("application/octet-stream"))),
    responses(
        (status = 201, description = "What was installed, and the plugin's entry", body = schemas::Installed),
        (status = 400, description = "No body (`empty_body`), or not the JSON expected (`invalid_json`)",
         body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 409, description = "No plugin index is configured (`no_plugin_index`), or a newer version is \
                                      installed (use `force`)", body = schemas::ApiError),
        (status = 413, description = "Over the package size limit (`package_too_large`)", body = schemas::ApiError),
        (status = 422, description = "Not a valid or trusted package, or it cannot be loaded", body = schemas::ApiError),
        (status = 502, description = "The plugin index cannot be read", body = schemas::ApiError),
    )
)]
pub(crate) async fn install(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(query): Query<InstallQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut options = state.packages.install.clone();
    options.force = query.force;
    // Keys trusted since the server started (`POST /api/trusted-keys`, `plugboard plugin
    // trust`) count at once.
    options.trust = options.trust.reload().map_err(plugboard_registry::RegistryError::from)?;
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

/// Removes a plugin installed from a package
///
/// A bundled plugin with the same id may come back in its place: the answer has the
/// plugin's entry now, if any.
#[utoipa::path(
    post,
    path = "/api/plugins/{id}/uninstall",
    tag = "plugin-management",
    operation_id = "uninstall_plugin",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "Uninstalled", body = schemas::Uninstalled),
        (status = 400, description = "Not a plugin id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such plugin", body = schemas::ApiError),
        (status = 409, description = "Not installed from a package, or loaded plugins depend on it",
         body = schemas::ApiError),
    )
)]
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

/// Every plugin known here and every plugin the index offers, with updates
///
/// Bundled plugins, those in a plugin folder and those installed from a package, merged
/// by id with what the plugin index offers: the installed and offered versions side by
/// side and whether an update is offered. An index that cannot be read is reported beside
/// the list, which still has the local plugins.
#[utoipa::path(
    get,
    path = "/api/plugins/available",
    tag = "plugins",
    operation_id = "available_plugins",
    responses(
        (status = 200, description = "The plugins", body = schemas::AvailablePlugins),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    )
)]
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
