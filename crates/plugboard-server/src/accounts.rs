//! Account administration outside HTTP, for `plugboard user …` on a stopped server's data
//! folder: the same rules as the API (username and password checks, look-alike names,
//! argon2 hashes, never the last administrator).

use plugboard_store::{Store, User};

use crate::auth::hash_password;
use crate::credentials;
use crate::error::ApiError;

/// Why an account change was refused: the API's error, whose message says what to do.
pub type AccountError = ApiError;

/// Creates an account (an administrator when `admin`), checked as a sign-up is.
pub async fn create_user(store: &dyn Store, username: &str, password: &str, admin: bool) -> Result<User, AccountError> {
    let name = credentials::check_username(username)?;
    credentials::check_password(password)?;
    credentials::check_name_is_free(&name, &store.usernames().await?)?;
    let hash = hash_password(password)?;
    let user = store.create_user(&name, &hash).await.map_err(|error| match error {
        plugboard_store::StoreError::Conflict { .. } => credentials::username_taken(),
        other => other.into(),
    })?;
    match admin && !user.is_admin {
        true => Ok(store.set_admin(&user.id, true).await?.unwrap_or(user)),
        false => Ok(user),
    }
}

/// Sets `username`'s password (checked as any new password) and signs them out everywhere.
pub async fn reset_password(store: &dyn Store, username: &str, password: &str) -> Result<User, AccountError> {
    credentials::check_password(password)?;
    let user = find(store, username).await?;
    let hash = hash_password(password)?;
    store.set_password(&user.id, &hash, None).await?;
    Ok(user)
}

/// Gives or takes the administrator role; the last administrator keeps it.
pub async fn set_admin(store: &dyn Store, username: &str, admin: bool) -> Result<User, AccountError> {
    let user = find(store, username).await?;
    let now = store.set_admin(&user.id, admin).await?.unwrap_or(user);
    if now.is_admin != admin {
        return Err(last_admin(&now));
    }
    Ok(now)
}

/// 409 `last_admin`: `user` is the last administrator and keeps the role.
pub(crate) fn last_admin(user: &User) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "last_admin",
        format!("`{}` is the last administrator; make someone else one first", user.username),
    )
}

async fn find(store: &dyn Store, username: &str) -> Result<User, AccountError> {
    let name = credentials::normalize_username(username);
    match store.user_by_name(&name).await? {
        Some((user, _)) => Ok(user),
        None => Err(ApiError::not_found("user", username)),
    }
}
