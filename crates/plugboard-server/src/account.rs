//! A person's own account: changing their password (which ends their other sessions),
//! and seeing and ending their sessions.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{AuthUser, SESSION_COOKIE, blocking, cookie_value, hash_password, token_hash, verify_password};
use crate::error::{ApiError, ApiJson};
use crate::{AppState, credentials, schemas};

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PasswordChange {
    /// The password now, to show it is really the person.
    current_password: String,
    /// The new one: at least 8 characters, not only spaces, not a common password.
    new_password: String,
}

/// Changes the caller's password and ends every other session of theirs
///
/// The session that asks stays signed in; every other one (another browser, a stolen
/// cookie) is signed out. API tokens are kept: revoke them with `DELETE /api/tokens/{id}`.
#[utoipa::path(
    post,
    path = "/api/me/password",
    tag = "auth",
    operation_id = "change_password",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; other sessions ended"),
        (status = 400, description = "The new password is too weak (`weak_password`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "The current password is wrong (`wrong_password`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    credentials::check_password(&change.new_password)?;
    let Some((_, stored_hash)) = state.store.user_by_name(&user.username).await? else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "session_expired", "your account is gone; sign in again"));
    };
    let current = change.current_password;
    if !blocking(move || verify_password(&current, &stored_hash)).await? {
        tracing::warn!(user = %user.username, "a password change gave a wrong current password");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "the current password is not right; type it again (or ask an administrator to reset it)",
        ));
    }
    let new = change.new_password;
    let hash = blocking(move || hash_password(&new)).await??;
    // The session that asked stays (none when a token asked: then every session ends).
    let keep = current_session(&headers);
    if !state.store.set_password(&user.id, &hash, keep.as_deref()).await? {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "session_expired", "your account is gone; sign in again"));
    }
    tracing::info!(user = %user.username, "changed their password; their other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

/// The session the request came with (none when a token signed it in).
fn current_session(headers: &HeaderMap) -> Option<String> {
    if headers.contains_key(axum::http::header::AUTHORIZATION) {
        return None;
    }
    cookie_value(headers, SESSION_COOKIE).map(token_hash)
}

/// The caller's signed-in sessions, newest first; `current` marks the one asking
#[utoipa::path(
    get,
    path = "/api/me/sessions",
    tag = "auth",
    operation_id = "list_sessions",
    responses(
        (status = 200, description = "The sessions", body = schemas::SessionList),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    )
)]
pub(crate) async fn sessions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let sessions = state.store.sessions(&user.id, current_session(&headers).as_deref()).await?;
    Ok(axum::Json(serde_json::json!({"sessions": sessions})))
}

/// Ends one of the caller's sessions (signs that browser or device out)
#[utoipa::path(
    delete,
    path = "/api/me/sessions/{id}",
    tag = "auth",
    operation_id = "end_session",
    params(("id" = i64, Path, description = "The session's id, from the list")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such session of the caller's (`not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn end_session(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state.store.end_session(&user.id, id).await? {
        return Err(ApiError::not_found("session", &id.to_string()));
    }
    Ok(StatusCode::NO_CONTENT)
}
