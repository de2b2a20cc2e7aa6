//! Users and authentication: sign-up and login with argon2 password hashes, a session
//! cookie for browsers, Bearer API tokens for programs. Session and API tokens are random
//! 256-bit values; only their SHA-256 is stored.

use std::net::SocketAddr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use plugboard_store::User;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::credentials;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, SignupPolicy, accounts, schemas};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "plugboard_session";

/// An authenticated user (by session cookie or Bearer token).
#[derive(Debug, Clone)]
pub struct AuthUser(pub User);

/// An authenticated admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub User);

fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "sign in first: log in for a session cookie, or send `Authorization: Bearer <API token>`",
    )
}

/// SHA-256 (hex) of a token, as stored.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token with `prefix`.
pub(crate) fn new_token(prefix: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| {
        tracing::error!("no randomness for a token: {error}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server cannot make a token right now")
    })?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The caller as the request middleware resolved it, kept in the request's extensions so
/// the handler's [`AuthUser`] does not look the token up a second time.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedCaller(Result<User, (StatusCode, &'static str, String)>);

impl ResolvedCaller {
    /// Looks the caller of `headers` up once; [`AuthUser`] answers from the result.
    pub(crate) async fn resolve(headers: &HeaderMap, state: &AppState) -> ResolvedCaller {
        ResolvedCaller(
            caller(headers, state).await.map(|AuthUser(user)| user).map_err(|e| (e.status, e.code, e.message)),
        )
    }

    /// The verified user's id, when the request authenticated.
    pub(crate) fn user_id(&self) -> Option<&str> {
        self.0.as_ref().ok().map(|user| user.id.as_str())
    }

    fn to_result(&self) -> Result<AuthUser, ApiError> {
        match &self.0 {
            Ok(user) => Ok(AuthUser(user.clone())),
            Err((status, code, message)) => Err(ApiError::new(*status, code, message.clone())),
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AuthUser, ApiError> {
        match parts.extensions.get::<ResolvedCaller>() {
            Some(resolved) => resolved.to_result(),
            None => caller(&parts.headers, state).await,
        }
    }
}

/// The token of an `Authorization` value of the `Bearer` scheme, in any case.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// The user of the session cookie or Bearer token of `headers`.
async fn caller(headers: &HeaderMap, state: &AppState) -> Result<AuthUser, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        // The scheme's name is case-insensitive (RFC 7235): `bearer` and `BEARER` are `Bearer`.
        let token = value.to_str().ok().and_then(bearer_token).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the Authorization header must be `Bearer <API token>`",
            )
        })?;
        return match state.store.api_token_user(&token_hash(token.trim())).await? {
            Some(user) if !user.is_active() => Err(account_disabled()),
            Some(user) => Ok(AuthUser(user)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "this API token is unknown or was revoked; create a new one",
            )),
        };
    }
    let Some(session) = cookie_value(headers, SESSION_COOKIE) else { return Err(unauthenticated()) };
    match state.store.session_user(&token_hash(session)).await? {
        Some(user) if !user.is_active() => Err(account_disabled()),
        Some(user) => Ok(AuthUser(user)),
        None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "session_expired", "your session has ended; log in again")),
    }
}

/// 403 `account_disabled`: an administrator disabled this account.
fn account_disabled() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "account_disabled",
        "this account is disabled; ask an administrator to enable it",
    )
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AdminUser, ApiError> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if !user.is_admin {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "admin_only", "only an administrator can do this"));
        }
        Ok(AdminUser(user))
    }
}

/// Sign-up and login input.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Credentials {
    /// 2 to 40 letters, digits, `-`, `_` or `.`, taken in Unicode NFKC; unique regardless
    /// of case.
    #[schema(example = "alice")]
    username: String,
    /// At least 8 characters, not all whitespace, and not one of the most common
    /// passwords.
    #[schema(example = "correct horse battery")]
    password: String,
}

pub(crate) fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt_bytes = [0u8; 16];
    let salt =
        getrandom::fill(&mut salt_bytes).ok().and_then(|()| SaltString::encode_b64(&salt_bytes).ok()).ok_or_else(
            || ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no randomness for a password salt"),
        )?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string()).map_err(|error| {
        tracing::error!("password hashing failed: {error}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server could not store the password")
    })
}

pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Argon2 takes tens of milliseconds of CPU on purpose: run it off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "password check failed"))
}

/// A hash checked when the username does not exist, so a wrong name costs what a wrong
/// password does and answers do not tell which names exist.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such user, no such password").unwrap_or_default()).clone()
}

/// Starts a session for `user`: the response sets the cookie.
async fn session_response(state: &AppState, user: User, status: StatusCode) -> Result<Response, ApiError> {
    let token = new_token("")?;
    let lifetime_ms = i64::from(state.config.session_days) * 24 * 3600 * 1000;
    state.store.create_session(&user.id, &token_hash(&token), crate::now_ms() + lifetime_ms).await?;
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", lifetime_ms / 1000);
    let mut response = (status, Json(json!({"user": user}))).into_response();
    let value = HeaderValue::from_str(&cookie)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "cannot set the session cookie"))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// Creates an account and signs it in
///
/// The first account administers the server; later sign-ups follow the server's sign-up
/// policy. The response sets the session cookie.
#[utoipa::path(
    post,
    path = "/api/auth/signup",
    tag = "auth",
    operation_id = "signup",
    security(),
    request_body = Credentials,
    responses(
        (status = 201, description = "Signed up and in", body = schemas::UserResponse,
         headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 400, description = "`invalid_username`, `weak_password` or `invalid_json`", body = schemas::ApiError),
        (status = 403, description = "Sign-up is closed (`signup_closed`)", body = schemas::ApiError),
        (status = 409, description = "The name is taken (`username_taken`) or looks like one that is \
         (`username_confusable`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn signup(
    State(state): State<AppState>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let username = credentials::check_username(&credentials.username)?;
    credentials::check_password(&credentials.password)?;
    let closed = state.config.signup == SignupPolicy::Closed;
    let signup_closed = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "signup_closed",
            "sign-up is closed on this server; ask an administrator for an account",
        )
    };
    // A cheap early refusal; the atomic insert below is what decides.
    if closed && state.store.count_users().await? > 0 {
        return Err(signup_closed());
    }
    if !closed {
        // Best effort before the insert: two look-alikes signing up at the same moment can
        // both pass; the store still refuses the same name twice.
        credentials::check_name_is_free(&username, &state.store.usernames().await?)?;
    }
    let hash = accounts::hash_off_thread(&credentials.password).await?;
    let created = if closed {
        // Only the very first account, decided atomically by the store: of concurrent
        // sign-ups on a new server exactly one gets in.
        state.store.create_first_user(&username, &hash).await
    } else {
        state.store.create_user(&username, &hash).await.map(Some)
    };
    let user = created.map_err(accounts::insert_error)?.ok_or_else(signup_closed)?;
    tracing::info!(user = %user.username, admin = user.is_admin, "user signed up");
    state.engine.account_changed();
    session_response(&state, user, StatusCode::CREATED).await
}

/// Signs in with a name and password
///
/// The response sets the session cookie.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    operation_id = "login",
    security(),
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = schemas::UserResponse,
         headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 401, description = "Wrong name or password (`invalid_credentials`)", body = schemas::ApiError),
        (status = 429, description = "Too many failed logins for this account or from this address \
         (`too_many_attempts`); try again after `Retry-After` seconds", body = schemas::ApiError,
         headers(("retry-after" = u64, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let address = peer.map(|Extension(ConnectInfo(peer))| peer.ip().to_canonical());
    let account = account_key(&credentials.username);
    state.logins.attempt(&account, address).await?;
    let name = credentials::normalize_username(&credentials.username);
    // No stored name holds U+0000 (and PostgreSQL refuses to look one up): unknown.
    let mut found = None;
    if !name.contains('\0') {
        found = state.store.user_by_name(&name).await?;
        if found.is_none() && name != credentials.username.trim() {
            // A name stored before names were normalised.
            found = state.store.user_by_name(credentials.username.trim()).await?;
        }
    }
    let hash = found.as_ref().map(|(_, hash)| hash.clone());
    let password = credentials.password.clone();
    let matches = blocking(move || verify_password(&password, &hash.unwrap_or_else(dummy_hash))).await?;
    match found {
        Some((user, _)) if matches && !user.is_active() => {
            tracing::warn!(username = ?name, "login to a disabled account");
            Err(account_disabled())
        }
        Some((user, _)) if matches => {
            state.logins.succeeded(&account, address).await;
            session_response(&state, user, StatusCode::OK).await
        }
        _ => {
            let shown = address.map_or_else(|| "unknown".to_owned(), |address| address.to_string());
            tracing::warn!(username = ?name, address = %shown, "failed login");
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong username or password"))
        }
    }
}

/// The name under which failed logins of `username` are counted.
fn account_key(username: &str) -> String {
    credentials::normalize_username(username).chars().flat_map(char::to_lowercase).collect()
}

/// Signs out: ends the session of the cookie sent
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    operation_id = "logout",
    security(),
    responses((status = 204, description = "Signed out; the cookie is cleared")),
)]
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(session) = cookie_value(&headers, SESSION_COOKIE) {
        state.store.delete_session(&token_hash(session)).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("plugboard_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(response)
}

/// The signed-in user, or null
///
/// Never an error for a missing or ended session: a page asks this first, signed in or not.
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "auth",
    operation_id = "session",
    security((), ("session_cookie" = []), ("bearer_token" = [])),
    responses((status = 200, description = "The user, `null` when signed out", body = schemas::SessionResponse)),
)]
pub(crate) async fn session(user: Result<AuthUser, ApiError>) -> Result<Json<Value>, ApiError> {
    match user {
        Ok(AuthUser(user)) => Ok(Json(json!({"user": user}))),
        Err(error) if error.status == StatusCode::UNAUTHORIZED => Ok(Json(json!({"user": null}))),
        Err(error) => Err(error),
    }
}

/// The signed-in user
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "auth",
    operation_id = "me",
    responses(
        (status = 200, description = "The user", body = schemas::UserResponse),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    )
)]
pub(crate) async fn me(AuthUser(user): AuthUser) -> Json<Value> {
    Json(json!({"user": user}))
}

/// A new API token.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewToken {
    /// What it is for: 1 to 80 characters.
    #[schema(example = "my script")]
    name: String,
}

/// Creates an API token
///
/// The token is in this answer only; the server keeps just its hash. Send it as
/// `Authorization: Bearer <token>`.
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "auth",
    operation_id = "create_token",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token", body = schemas::NewTokenResponse),
        (status = 400, description = "`invalid_name`, `invalid_text` (the name holds U+0000) or `invalid_json`", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    )
)]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(request): ApiJson<NewToken>,
) -> Result<Response, ApiError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::bad_request("invalid_name", "give the token a name of 1 to 80 characters"));
    }
    plugboard_chat::check_text("name", name)?;
    let token = new_token("pb_")?;
    let record = state.store.create_api_token(&user.id, name, &token_hash(&token)).await?;
    Ok((StatusCode::CREATED, Json(json!({"token": token, "api_token": record}))).into_response())
}

/// The caller's API tokens (never the tokens themselves)
#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "auth",
    operation_id = "list_tokens",
    responses(
        (status = 200, description = "The tokens", body = schemas::TokenList),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    )
)]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"tokens": state.store.list_api_tokens(&user.id).await?})))
}

/// Revokes an API token
#[utoipa::path(
    delete,
    path = "/api/tokens/{id}",
    tag = "auth",
    operation_id = "delete_token",
    params(("id" = String, Path, description = "The token's id (not the token)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such token of the caller's", body = schemas::ApiError),
    )
)]
pub(crate) async fn delete_token(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_api_token(&user.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("API token", &id))
    }
}
