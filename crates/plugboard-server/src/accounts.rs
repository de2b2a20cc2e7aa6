//! Account administration under one set of rules (username and password checks,
//! look-alike names, argon2 hashes, never the last active administrator), for the API's
//! `/api/users` and for `plugboard user …` on a data folder, with or without a server
//! running on it. Changes that plugins hear of are recorded by the store with the change;
//! a running server relays them.

use plugboard_store::{Store, User, UserDeletion};

use crate::auth::{blocking, hash_password};
use crate::credentials;
use crate::error::ApiError;

/// Why an account change was refused: the API's error, whose message says what to do.
pub type AccountError = ApiError;

/// Creates an account (an administrator when `admin`), checked as a sign-up is.
pub async fn create_user(store: &dyn Store, username: &str, password: &str, admin: bool) -> Result<User, AccountError> {
    let name = credentials::check_username(username)?;
    credentials::check_password(password)?;
    credentials::check_name_is_free(&name, &store.usernames().await?)?;
    let hash = hash_off_thread(password).await?;
    let user = store.create_user(&name, &hash).await.map_err(insert_error)?;
    match admin && !user.is_admin {
        true => Ok(store.set_admin(&user.id, true).await?.unwrap_or(user)),
        false => Ok(user),
    }
}

/// Sets `username`'s password (checked as any new password) and signs them out everywhere.
pub async fn reset_password(store: &dyn Store, username: &str, password: &str) -> Result<User, AccountError> {
    let user = find(store, username).await?;
    set_password_of(store, &user, password).await?;
    Ok(user)
}

/// Sets `user`'s password and ends every session of theirs.
pub(crate) async fn set_password_of(store: &dyn Store, user: &User, password: &str) -> Result<(), AccountError> {
    credentials::check_password(password)?;
    let hash = hash_off_thread(password).await?;
    match store.set_password(&user.id, &hash, None).await? {
        true => Ok(()),
        false => Err(ApiError::not_found("user", &user.username)),
    }
}

/// Gives or takes the administrator role; the last active administrator keeps it.
pub async fn set_admin(store: &dyn Store, username: &str, admin: bool) -> Result<User, AccountError> {
    let user = find(store, username).await?;
    set_admin_of(store, &user, admin).await
}

/// Gives `user` the administrator role or takes it; the last active administrator keeps it.
pub(crate) async fn set_admin_of(store: &dyn Store, user: &User, admin: bool) -> Result<User, AccountError> {
    let Some(now) = store.set_admin(&user.id, admin).await? else {
        return Err(ApiError::not_found("user", &user.username));
    };
    if now.is_admin != admin {
        return Err(last_admin(&now));
    }
    Ok(now)
}

/// Disables `username` (signing them out; their API tokens stop working) or enables them;
/// the last active administrator cannot be disabled.
pub async fn set_disabled(store: &dyn Store, username: &str, disabled: bool) -> Result<User, AccountError> {
    let user = find(store, username).await?;
    set_disabled_of(store, &user, disabled).await
}

/// Disables or enables `user`; the last active administrator cannot be disabled.
pub(crate) async fn set_disabled_of(store: &dyn Store, user: &User, disabled: bool) -> Result<User, AccountError> {
    let Some(now) = store.set_disabled(&user.id, disabled).await? else {
        return Err(ApiError::not_found("user", &user.username));
    };
    if now.is_active() == disabled {
        return Err(last_admin(&now));
    }
    Ok(now)
}

/// Deletes `username` with their conversations, files, sessions and API tokens; never the
/// last active administrator.
pub async fn delete_user(store: &dyn Store, username: &str) -> Result<User, AccountError> {
    let user = find(store, username).await?;
    delete_user_of(store, &user).await
}

/// Deletes `user` and everything of theirs; never the last active administrator.
pub(crate) async fn delete_user_of(store: &dyn Store, user: &User) -> Result<User, AccountError> {
    match store.delete_user(&user.id).await? {
        Some(UserDeletion::Deleted(user)) => Ok(user),
        Some(UserDeletion::LastAdmin(user)) => Err(last_admin(&user)),
        None => Err(ApiError::not_found("user", &user.username)),
    }
}

/// 409 `last_admin`: `user` is the last administrator and keeps the role.
pub(crate) fn last_admin(user: &User) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "last_admin",
        format!(
            "`{}` is the last active administrator; make someone else one (or enable a disabled one) first",
            user.username
        ),
    )
}

/// The error of inserting a user: a name taken meanwhile is `username_taken`.
pub(crate) fn insert_error(error: plugboard_store::StoreError) -> ApiError {
    match error {
        plugboard_store::StoreError::Conflict { .. } => credentials::username_taken(),
        other => other.into(),
    }
}

/// The argon2 hash of `password`, computed off the async threads (it takes tens of ms).
pub(crate) async fn hash_off_thread(password: &str) -> Result<String, AccountError> {
    let password = password.to_owned();
    blocking(move || hash_password(&password)).await?
}

async fn find(store: &dyn Store, username: &str) -> Result<User, AccountError> {
    let name = credentials::normalize_username(username);
    match store.user_by_name(&name).await? {
        Some((user, _)) => Ok(user),
        None => Err(ApiError::not_found("user", username)),
    }
}
