//! The trust store over HTTP, for administrators: the public keys whose package
//! signatures installs accept. Keys live as `.pub` files in the trusted keys folder, the
//! same one `plugboard plugin trust` writes, and every install reads the folder again, so
//! a key trusted here or on the command line applies to the next install at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plugboard_package::{PackageError, PublicKey, TrustStore};
use plugboard_registry::RegistryError;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, schemas};

/// A key to trust.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrustKey {
    /// The text of the public key file (`.pub`), as `plugboard plugin keygen` writes it:
    /// `plugboard-ed25519 <base64 key> <name>`.
    #[schema(example = "plugboard-ed25519 Q2hhbmdlIG1lIHRvIGEgcmVhbCBrZXkgb2YgMzIgYnl0ZXM= Team")]
    key: String,
}

/// The trust store as its folder holds it now.
fn current(state: &AppState) -> Result<TrustStore, ApiError> {
    state.packages.install.trust.reload().map_err(package_error)
}

fn package_error(error: PackageError) -> ApiError {
    if let PackageError::Io { .. } = &error {
        tracing::error!("trusted keys: {error}");
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io_error", error.to_string());
    }
    ApiError::from(RegistryError::Package(error))
}

fn describe(key: &PublicKey) -> Value {
    json!({"fingerprint": key.fingerprint(), "name": key.name(), "key": key.to_file_text().trim_end()})
}

/// The trusted keys
///
/// The public keys whose signatures package installs accept, from the trusted keys folder
/// (also changed by `plugboard plugin trust`), and the install policy.
#[utoipa::path(
    get,
    path = "/api/trusted-keys",
    tag = "plugin-management",
    operation_id = "list_trusted_keys",
    responses(
        (status = 200, description = "The keys", body = schemas::TrustedKeys),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn list(State(state): State<AppState>, AdminUser(_): AdminUser) -> Result<Json<Value>, ApiError> {
    let store = current(&state)?;
    Ok(Json(json!({
        "folder": store.folder(),
        "policy": state.packages.install.policy,
        "keys": store.keys().iter().map(describe).collect::<Vec<_>>(),
    })))
}

/// Trusts a public key
///
/// Saves the key in the trusted keys folder as `<fingerprint>.pub`, and in the database, so
/// every server sharing it trusts the key too; the next install accepts packages it
/// signed, without a restart.
#[utoipa::path(
    post,
    path = "/api/trusted-keys",
    tag = "plugin-management",
    operation_id = "trust_key",
    request_body = TrustKey,
    responses(
        (status = 201, description = "The key, now trusted", body = schemas::TrustedKey),
        (status = 400, description = "Not the JSON expected (`invalid_json`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 409, description = "The server has no trusted keys folder (`no_trust_folder`)", body = schemas::ApiError),
        (status = 422, description = "Not a public key (`bad_key`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn trust(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    ApiJson(body): ApiJson<TrustKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = PublicKey::parse(&body.key, std::path::Path::new("the request's `key`")).map_err(package_error)?;
    let mut store = current(&state)?;
    if store.folder().is_none() {
        return Err(no_folder());
    }
    store.trust(key.clone()).map_err(package_error)?;
    // Kept in the database too: every server sharing it trusts the key.
    state.store.save_trusted_key(&key.fingerprint(), key.to_file_text().trim_end()).await?;
    tracing::info!(fingerprint = %key.fingerprint(), "trusted a package signing key");
    Ok((StatusCode::CREATED, Json(json!({"key": describe(&key)}))))
}

/// Stops trusting a key
///
/// Deletes the key's file from the trusted keys folder, on every server sharing the
/// database; the next install refuses packages only it signed (under the `require`
/// policy).
#[utoipa::path(
    delete,
    path = "/api/trusted-keys/{fingerprint}",
    tag = "plugin-management",
    operation_id = "untrust_key",
    params(("fingerprint" = String, Path, description = "The key's fingerprint (16 hex digits)")),
    responses(
        (status = 204, description = "Not trusted any more"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No trusted key has that fingerprint (`not_found`)", body = schemas::ApiError),
        (status = 409, description = "The server has no trusted keys folder (`no_trust_folder`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn untrust(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(fingerprint): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut store = current(&state)?;
    if store.folder().is_none() {
        return Err(no_folder());
    }
    let in_folder = store.untrust(&fingerprint).map_err(package_error)?;
    let in_database = state.store.remove_trusted_key(&fingerprint).await?;
    if !in_folder && !in_database {
        return Err(ApiError::not_found("trusted key", &fingerprint));
    }
    tracing::info!(%fingerprint, "stopped trusting a package signing key");
    Ok(StatusCode::NO_CONTENT)
}

fn no_folder() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "no_trust_folder",
        "this server has no trusted keys folder; set `[packages] trusted_keys_dir` (by default the data folder's `trusted-keys/`)",
    )
}
