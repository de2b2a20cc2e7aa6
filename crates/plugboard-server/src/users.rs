//! Administering accounts: the list of users, creating one (the only way in when sign-up
//! is closed), resetting a password, the administrator role, disabling and deleting,
//! under `accounts.rs`'s rules (never the last active administrator). An administrator
//! cannot disable or delete their own account here: another administrator, or
//! `plugboard user`, can.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use plugboard_store::User;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, accounts, schemas};

/// The user `id`, or 404.
async fn user(state: &AppState, id: &str) -> Result<User, ApiError> {
    state.store.user(id).await?.ok_or_else(|| ApiError::not_found("user", id))
}

/// 409 `own_account`: an administrator may not lock themselves out this way.
fn not_own_account(by: &User, user: &User, doing: &str) -> Result<(), ApiError> {
    if by.id == user.id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "own_account",
            format!("you cannot {doing} your own account; another administrator can"),
        ));
    }
    Ok(())
}

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
        (status = 409, description = "The last active administrator keeps the role (`last_admin`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn set_admin(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    Path(id): Path<String>,
    ApiJson(role): ApiJson<Role>,
) -> Result<Json<Value>, ApiError> {
    let user = accounts::set_admin_of(&*state.store, &user(&state, &id).await?, role.admin).await?;
    tracing::info!(by = %by.username, user = %user.username, admin = role.admin, "changed the administrator role");
    Ok(Json(json!({"user": user})))
}

/// A new account, made by an administrator.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewUser {
    /// 2 to 40 letters, digits, `-`, `_` or `.`, taken in Unicode NFKC; unique regardless
    /// of case and not a look-alike of an existing name.
    #[schema(example = "bob")]
    username: String,
    /// At least 8 characters, not all whitespace, and not one of the most common passwords.
    #[schema(example = "correct horse battery")]
    password: String,
    /// Whether the user administers the server; `false` when absent.
    #[serde(default)]
    admin: bool,
}

/// Creates a user (whatever the sign-up policy)
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "auth",
    operation_id = "create_user",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = schemas::UserResponse),
        (status = 400, description = "A bad name (`invalid_username`) or password (`weak_password`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 409, description = "The name is taken (`username_taken`) or looks like one that is \
         (`username_confusable`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let user = accounts::create_user(&*state.store, &new.username, &new.password, new.admin).await?;
    tracing::info!(by = %by.username, user = %user.username, admin = user.is_admin, "created a user");
    state.engine.account_changed();
    Ok((StatusCode::CREATED, Json(json!({"user": user}))).into_response())
}

/// A new password, set by an administrator.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewPassword {
    /// At least 8 characters, not all whitespace, and not one of the most common passwords.
    #[schema(example = "correct horse battery")]
    password: String,
}

/// Sets a user's password and signs them out everywhere
#[utoipa::path(
    put,
    path = "/api/users/{id}/password",
    tag = "auth",
    operation_id = "reset_user_password",
    params(("id" = String, Path, description = "The user's id")),
    request_body = NewPassword,
    responses(
        (status = 200, description = "Set; every session of the user ended", body = schemas::UserResponse),
        (status = 400, description = "A weak password (`weak_password`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such user (`not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    Path(id): Path<String>,
    ApiJson(new): ApiJson<NewPassword>,
) -> Result<Json<Value>, ApiError> {
    let user = user(&state, &id).await?;
    accounts::set_password_of(&*state.store, &user, &new.password).await?;
    tracing::info!(by = %by.username, user = %user.username, "reset a password");
    Ok(Json(json!({"user": user})))
}

/// Whether to disable the user.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Disabled {
    /// `true` to disable the user (they are signed out, and cannot sign in or use their
    /// API tokens), `false` to enable them again.
    disabled: bool,
}

/// Disables a user, or enables them again (never the last active administrator)
#[utoipa::path(
    put,
    path = "/api/users/{id}/disabled",
    tag = "auth",
    operation_id = "set_user_disabled",
    params(("id" = String, Path, description = "The user's id")),
    request_body = Disabled,
    responses(
        (status = 200, description = "The user as they are now", body = schemas::UserResponse),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such user (`not_found`)", body = schemas::ApiError),
        (status = 409, description = "The last active administrator stays (`last_admin`), or it is the \
         caller's own account (`own_account`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn set_disabled(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    Path(id): Path<String>,
    ApiJson(disabled): ApiJson<Disabled>,
) -> Result<Json<Value>, ApiError> {
    let user = user(&state, &id).await?;
    not_own_account(&by, &user, "disable")?;
    let user = accounts::set_disabled_of(&*state.store, &user, disabled.disabled).await?;
    tracing::info!(by = %by.username, user = %user.username, disabled = disabled.disabled, "disabled or enabled a user");
    state.engine.account_changed();
    Ok(Json(json!({"user": user})))
}

/// Deletes a user with their conversations, files, sessions and API tokens
///
/// Plugins get a `user-deleted` account event.
#[utoipa::path(
    delete,
    path = "/api/users/{id}",
    tag = "auth",
    operation_id = "delete_user",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such user (`not_found`)", body = schemas::ApiError),
        (status = 409, description = "The last active administrator stays (`last_admin`), or it is the \
         caller's own account (`own_account`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = user(&state, &id).await?;
    not_own_account(&by, &user, "delete")?;
    let user = accounts::delete_user_of(&*state.store, &user).await?;
    tracing::info!(by = %by.username, user = %user.username, "deleted a user");
    state.engine.account_changed();
    Ok(StatusCode::NO_CONTENT)
}
