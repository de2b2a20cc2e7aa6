//! Plugboard's HTTP server (axum): users and auth, conversations, chat turns as JSON and
//! server-sent events, models, and the plugin endpoints. [`router`] builds the app over an
//! [`AppState`]; [`serve`] runs it until shutdown, then unloads the plugins.

mod auth;
mod chat;
mod conversations;
mod error;
mod limits;
mod manage;
mod openai;
mod packages;
mod plugin_http;
mod plugins;
mod prometheus;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{any, delete, get, patch, post};
use plugboard_chat::ChatEngine;
use plugboard_registry::Registry;
use plugboard_store::Store;
use serde::Deserialize;

pub use auth::{AdminUser, AuthUser, SESSION_COOKIE};
pub use error::{ApiError, ApiJson};
pub use limits::UserLimits;
pub use packages::PackagesConfig;

/// Who may sign up once the first user (the admin) exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SignupPolicy {
    /// Anyone who can reach the server.
    #[default]
    Open,
    /// Nobody: the admin creates accounts.
    Closed,
}

impl std::str::FromStr for SignupPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<SignupPolicy, String> {
        match text {
            "open" => Ok(SignupPolicy::Open),
            "closed" => Ok(SignupPolicy::Closed),
            other => Err(format!("`{other}` is not a sign-up policy; use `open` or `closed`")),
        }
    }
}

/// The server's own settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Sign-ups after the first.
    pub signup: SignupPolicy,
    /// Largest attachment, in bytes.
    pub max_upload_bytes: usize,
    /// How long a login lasts.
    pub session_days: u32,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookies: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { signup: SignupPolicy::Open, max_upload_bytes: 10 << 20, session_days: 30, secure_cookies: false }
    }
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The plugins.
    pub registry: Registry,
    /// The database.
    pub store: Arc<dyn Store>,
    /// The chat core.
    pub engine: ChatEngine,
    /// The server's settings.
    pub config: Arc<ServerConfig>,
    /// Per-user rate limits on plugin execution and routes.
    pub limits: Arc<UserLimits>,
    /// How packages are installed (trust store, policy, limits, index).
    pub packages: Arc<PackagesConfig>,
}

pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let upload_limit = state.config.max_upload_bytes + 1024;
    prometheus::install();
    Router::new()
        .route("/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/favicon.ico", get(ui::favicon))
        .route("/api/auth/signup", post(auth::signup))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/session", get(auth::session))
        .route("/api/tokens", get(auth::list_tokens).post(auth::create_token))
        .route("/api/tokens/{id}", delete(auth::delete_token))
        .route("/api/conversations", get(conversations::list).post(conversations::create))
        .route(
            "/api/conversations/{id}",
            get(conversations::get).patch(conversations::update).delete(conversations::delete),
        )
        .route("/api/conversations/{id}/messages", get(conversations::messages))
        .route("/api/conversations/{id}/audit", get(conversations::audit))
        .route("/api/conversations/{id}/export", get(conversations::export))
        .route("/api/exports", get(conversations::export_formats))
        .route(
            "/api/conversations/{id}/attachments",
            get(conversations::attachments).post(conversations::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/attachments/{id}", get(conversations::download).delete(conversations::delete_attachment))
        .route("/api/messages/{id}", patch(conversations::edit_message).delete(conversations::delete_message))
        .route("/api/messages/{id}/trace", get(conversations::trace))
        .route("/api/chat", post(chat::chat))
        .route("/api/chat/stream", post(chat::chat_stream))
        .route("/api/models", get(chat::models))
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/api/plugins", get(plugins::list_plugins))
        .route("/api/plugins/health", get(plugins::health))
        .route("/metrics", get(prometheus::metrics))
        .route("/api/plugins/execute", post(plugins::execute))
        .route("/api/plugins/events", get(manage::events))
        .route("/api/plugins/load", post(manage::load))
        .route("/api/plugins/install", post(packages::install))
        .route("/api/plugins/available", get(packages::available))
        .route("/api/plugins/{id}/uninstall", post(packages::uninstall))
        .route("/api/plugins/{id}", get(plugins::plugin_details))
        .route("/api/plugins/{id}/unload", post(manage::unload))
        .route("/api/plugins/{id}/reload", post(manage::reload))
        .route("/api/plugins/{id}/enable", post(manage::enable))
        .route("/api/plugins/{id}/disable", post(manage::disable))
        .route("/api/plugins/{id}/config", get(manage::get_config).put(manage::put_config))
        .route("/api/plugins/{id}/faults", get(manage::faults))
        .route("/api/plugins/{id}/self-test", post(manage::self_test))
        .route("/api/plugins/{id}/http/{*path}", any(plugin_http::route))
        .route("/api/plugins/{id}/ui/{*path}", get(plugin_http::ui_file))
        .route("/api/plugins/{id}/docs", get(plugin_http::docs))
        .route("/api/plugins/{id}/docs/{*path}", get(plugin_http::doc_file))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes; streams in progress finish, then
/// every plugin is unloaded (its shutdown hook called).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let registry = state.registry.clone();
    // Streamed replies are many small writes: without TCP_NODELAY, Nagle's algorithm and
    // delayed ACKs hold each one back by tens of milliseconds.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {error}");
        }
    });
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await?;
    registry.shutdown().await;
    Ok(())
}
