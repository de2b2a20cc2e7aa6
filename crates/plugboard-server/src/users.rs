//! Administering accounts: the list of users, and the administrator role (never taken
//! from the last administrator).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, schemas};

/// Every user, oldest first
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "auth",
    operation_id = "list_users",
    responses(
        (status = 200, description = "The users", body = schemas::UserList),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn list(State(state): State<AppState>, AdminUser(_): AdminUser) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"users": state.store.users().await?})))
}

/// The administrator role to give or take.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Role {
    /// `true` to make the user an administrator, `false` to take the role away.
    admin: bool,
}

/// Makes a user an administrator, or takes the role away (never from the last one)
#[utoipa::path(
    put,
    path = "/api/users/{id}/admin",
    tag = "auth",
    operation_id = "set_user_admin",
    params(("id" = String, Path, description = "The user's id")),
    request_body = Role,
    responses(
        (status = 200, description = "The user as they are now", body = schemas::UserResponse),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such user (`not_found`)", body = schemas::ApiError),
        (status = 409, description = "The last administrator keeps the role (`last_admin`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn set_admin(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    Path(id): Path<String>,
    ApiJson(role): ApiJson<Role>,
) -> Result<Json<Value>, ApiError> {
    let Some(user) = state.store.set_admin(&id, role.admin).await? else {
        return Err(ApiError::not_found("user", &id));
    };
    if user.is_admin != role.admin {
        return Err(crate::accounts::last_admin(&user));
    }
    tracing::info!(by = %by.username, user = %user.username, admin = role.admin, "changed the administrator role");
    Ok(Json(json!({"user": user})))
}
