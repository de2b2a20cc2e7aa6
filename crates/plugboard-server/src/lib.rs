//! Plugboard's HTTP server (axum): users and auth, conversations, chat turns as JSON and
//! server-sent events, models, the plugin endpoints, and the API's OpenAPI document and
//! reference. [`router`] builds the app over an [`AppState`] from the one list of
//! operations, `operations`; [`serve`] runs it until shutdown, then unloads the plugins.

mod account;
pub mod accounts;
mod app;
mod approvals;
mod auth;
mod chat;
mod cluster;
mod connections;
mod conversations;
mod credentials;
mod disposition;
mod error;
mod health;
mod json_errors;
mod limits;
mod live;
mod login_limits;
mod manage;
pub mod mcp;
mod mcp_servers;
mod middleware;
mod openai;
mod openapi;
mod origin;
mod packages;
mod plugin_http;
mod plugins;
mod prometheus;
mod schemas;
mod tasks;
mod trusted_keys;
mod ui;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodRouter};
use plugboard_chat::ChatEngine;
use plugboard_registry::Registry;
use plugboard_store::Store;
use serde::Deserialize;

pub use app::AppBuilder;
pub use auth::{AdminUser, AuthUser, SESSION_COOKIE};
pub use connections::ConnectionLimits;
pub use error::{ApiError, ApiJson, chat_status};
pub use health::Readiness;
pub use limits::UserLimits;
pub use login_limits::LoginLimits;
pub use mcp_servers::{McpAdmin, McpServersConfig};
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
    /// The address people reach the server at, when it is not the one it sees in `Host`
    /// (behind a proxy): its origin is the server's own for the cross-site check.
    pub public_url: Option<url::Url>,
    /// Further origins whose pages may change state with the session cookie.
    pub allowed_origins: Vec<String>,
    /// Timeouts of slow clients and the cap on connections.
    pub connections: ConnectionLimits,
    /// This server's name among several sharing a database (in the cluster's plugin
    /// events); a generated one unless the operator names it.
    pub node_name: String,
    /// Whether `/mcp` and `plugboard mcp` also offer the tools of the MCP servers Plugboard
    /// uses (off: only the plugins' tools).
    pub mcp_expose_mcp_servers: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            signup: SignupPolicy::Open,
            max_upload_bytes: 10 << 20,
            session_days: 30,
            secure_cookies: false,
            public_url: None,
            allowed_origins: Vec::new(),
            connections: ConnectionLimits::default(),
            node_name: cluster::generated_node_name(),
            mcp_expose_mcp_servers: false,
        }
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
    /// Failed-login counts, per account and client address.
    pub logins: Arc<LoginLimits>,
    /// How packages are installed (trust store, policy, limits, index).
    pub packages: Arc<PackagesConfig>,
    /// What `/readyz` reports besides the database: plugins loaded, shutdown begun.
    pub readiness: Arc<Readiness>,
    /// The MCP servers (the configuration file's and those added through the API) and
    /// the running set whose tools the engine offers.
    pub mcp: McpAdmin,
}

impl AppState {
    /// Starts the registry (loads the enabled plugins) and then marks the server's plugins
    /// started for `/readyz`; starts the MCP servers (they connect in the background).
    /// Plugins not in the compiled cache are left to compile in the background
    /// ([`Registry::start_without_waiting_for_compiles`]), so the server can serve at once;
    /// `/readyz` answers 503 until they are done ([`Registry::compiles_finished`]).
    pub async fn start_plugins(&self) -> plugboard_registry::StartReport {
        let report = self.registry.start_without_waiting_for_compiles().await;
        self.readiness.mark_plugins_started();
        if let Err(error) = self.mcp.sync().await {
            tracing::warn!("cannot read the MCP servers added through the API; only the file's start: {error}");
        }
        report
    }
}

pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The largest body an operation takes unless it says otherwise: axum's default.
const DEFAULT_BODY_LIMIT: usize = 2 << 20;

/// The largest body of a sign-up or a login: a username and a password in JSON.
const CREDENTIALS_BODY_LIMIT: usize = 16 << 10;

/// The largest body of a chat turn or a message edit: a message of at most 64 KiB even if
/// JSON escapes every byte of it (`\u00XX`, six bytes), and the other fields. Far below the
/// default, so connections that stall mid-body hold little memory until the body timeout.
const MESSAGE_BODY_LIMIT: usize = 512 << 10;

/// One operation of the HTTP API: a method, a path in axum's syntax, and its handler.
pub(crate) struct Operation {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    handler: MethodRouter<AppState>,
    /// A request announcing a longer body is refused before any of it is read, with the
    /// code; `None` for a handler that reads and limits its body itself.
    claimed_limit: Option<(usize, &'static str)>,
}

impl Operation {
    fn new(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Operation {
        Operation { method, path, handler, claimed_limit: Some((DEFAULT_BODY_LIMIT, "body_too_large")) }
    }

    fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Operation {
        Operation::new(Method::GET, path, routing::get(handler))
    }

    fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Operation {
        Operation::new(Method::POST, path, routing::post(handler))
    }

    fn put<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Operation {
        Operation::new(Method::PUT, path, routing::put(handler))
    }

    fn patch<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Operation {
        Operation::new(Method::PATCH, path, routing::patch(handler))
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Operation {
        Operation::new(Method::DELETE, path, routing::delete(handler))
    }

    /// Takes bodies up to `bytes` instead of axum's default 2 MiB; a longer one is refused
    /// with `code`.
    fn body_limit(self, bytes: usize, code: &'static str) -> Operation {
        let handler = self.handler.layer(DefaultBodyLimit::max(bytes));
        Operation { handler, claimed_limit: Some((bytes, code)), ..self }
    }

    /// Reads its body itself, with a limit of its own (a package upload).
    fn own_body_limit(self) -> Operation {
        Operation { claimed_limit: None, ..self }
    }
}

/// Refuses at once, with 413, a request whose `Content-Length` is over `limit`: waiting for
/// a body that will be refused anyway would hold the connection for nothing.
async fn refuse_claimed_over(
    (limit, code): (usize, &'static str),
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let claimed = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match claimed {
        Some(claimed) if claimed > limit as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code,
            format!("the body announces {claimed} bytes; this endpoint takes at most {limit}"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// Every operation of the API, one line each: the one list of what the server answers.
/// `router` serves exactly these, and the OpenAPI document lists exactly these: to add an
/// endpoint, add its line here, put `#[utoipa::path]` on the handler and name it in
/// `openapi::ApiDoc`. One left out of `ApiDoc` shows in the document as undocumented, which
/// the tests refuse.
pub(crate) fn operations(upload_limit: usize) -> Vec<Operation> {
    vec![
        Operation::get("/api/openapi.json", openapi::document),
        Operation::get("/api/docs", ui::api_reference),
        // Anyone may send these: a small limit keeps a crowd of them from holding memory.
        Operation::post("/api/auth/signup", auth::signup).body_limit(CREDENTIALS_BODY_LIMIT, "body_too_large"),
        Operation::post("/api/auth/login", auth::login).body_limit(CREDENTIALS_BODY_LIMIT, "body_too_large"),
        Operation::post("/api/auth/logout", auth::logout),
        Operation::get("/api/me", auth::me),
        Operation::post("/api/me/password", account::change_password),
        Operation::get("/api/me/sessions", account::sessions),
        Operation::delete("/api/me/sessions/{id}", account::end_session),
        Operation::get("/api/users", users::list),
        Operation::post("/api/users", users::create),
        Operation::delete("/api/users/{id}", users::delete),
        Operation::put("/api/users/{id}/admin", users::set_admin),
        Operation::put("/api/users/{id}/password", users::reset_password),
        Operation::put("/api/users/{id}/disabled", users::set_disabled),
        Operation::get("/api/session", auth::session),
        Operation::get("/api/tokens", auth::list_tokens),
        Operation::post("/api/tokens", auth::create_token),
        Operation::delete("/api/tokens/{id}", auth::delete_token),
        Operation::get("/api/conversations", conversations::list),
        Operation::post("/api/conversations", conversations::create),
        Operation::get("/api/conversations/{id}", conversations::get),
        Operation::patch("/api/conversations/{id}", conversations::update),
        Operation::delete("/api/conversations/{id}", conversations::delete),
        Operation::get("/api/conversations/{id}/messages", conversations::messages),
        Operation::get("/api/events", live::events),
        Operation::get("/api/conversations/{id}/audit", conversations::audit),
        Operation::get("/api/conversations/{id}/approvals", approvals::conversation_approvals),
        Operation::post("/api/tool-calls/{id}/approve", approvals::approve),
        Operation::post("/api/tool-calls/{id}/deny", approvals::deny),
        Operation::get("/api/tool-policies", approvals::list_policies),
        Operation::put("/api/tool-policies", approvals::set_policy),
        Operation::delete("/api/tool-policies/{key}", approvals::remove_policy),
        Operation::get("/api/conversations/{id}/export", conversations::export),
        Operation::get("/api/exports", conversations::export_formats),
        Operation::get("/api/conversations/{id}/attachments", conversations::attachments),
        Operation::post("/api/conversations/{id}/attachments", conversations::upload)
            .body_limit(upload_limit, "file_too_large"),
        Operation::get("/api/attachments/{id}", conversations::download),
        Operation::delete("/api/attachments/{id}", conversations::delete_attachment),
        Operation::patch("/api/messages/{id}", conversations::edit_message)
            .body_limit(MESSAGE_BODY_LIMIT, "body_too_large"),
        Operation::delete("/api/messages/{id}", conversations::delete_message),
        Operation::get("/api/messages/{id}/trace", conversations::trace),
        Operation::post("/api/chat", chat::chat).body_limit(MESSAGE_BODY_LIMIT, "body_too_large"),
        Operation::post("/api/chat/stream", chat::chat_stream).body_limit(MESSAGE_BODY_LIMIT, "body_too_large"),
        Operation::get("/api/models", chat::models),
        Operation::get("/v1/models", openai::models),
        Operation::post("/v1/chat/completions", openai::chat_completions),
        Operation::get("/api/plugins", plugins::list_plugins),
        Operation::get("/api/plugins/health", plugins::health),
        Operation::post("/api/plugins/execute", plugins::execute),
        Operation::get("/api/plugins/{id}", plugins::plugin_details),
        Operation::get("/api/plugins/events", manage::events),
        Operation::post("/api/plugins/load", manage::load),
        Operation::post("/api/plugins/install", packages::install).own_body_limit(),
        Operation::get("/api/plugins/available", packages::available),
        Operation::post("/api/plugins/{id}/uninstall", packages::uninstall),
        Operation::get("/api/trusted-keys", trusted_keys::list),
        Operation::post("/api/trusted-keys", trusted_keys::trust),
        Operation::delete("/api/trusted-keys/{fingerprint}", trusted_keys::untrust),
        Operation::post("/api/plugins/{id}/unload", manage::unload),
        Operation::post("/api/plugins/{id}/reload", manage::reload),
        Operation::post("/api/plugins/{id}/enable", manage::enable),
        Operation::post("/api/plugins/{id}/disable", manage::disable),
        Operation::get("/api/plugins/{id}/config", manage::get_config),
        Operation::put("/api/plugins/{id}/config", manage::put_config),
        Operation::get("/api/plugins/{id}/faults", manage::faults),
        Operation::post("/api/plugins/{id}/self-test", manage::self_test),
        Operation::get("/api/plugins/{id}/tasks", tasks::list),
        Operation::get("/api/plugins/{id}/tasks/{task}/runs", tasks::runs),
        Operation::post("/api/plugins/{id}/tasks/{task}/run", tasks::run_now),
        Operation::get("/api/plugins/{id}/ui/{*path}", plugin_http::ui_file),
        Operation::get("/api/plugins/{id}/docs", plugin_http::docs),
        Operation::get("/api/plugins/{id}/docs/{*path}", plugin_http::doc_file),
        Operation::get("/api/mcp/servers", mcp_servers::list),
        Operation::post("/api/mcp/servers", mcp_servers::add),
        Operation::get("/api/mcp/servers/{name}", mcp_servers::get),
        Operation::put("/api/mcp/servers/{name}", mcp_servers::replace),
        Operation::delete("/api/mcp/servers/{name}", mcp_servers::remove),
        Operation::post("/api/mcp/servers/{name}/restart", mcp_servers::restart),
        Operation::get("/api/mcp/tools", mcp_servers::tools),
        Operation::get("/metrics", prometheus::metrics),
        // Probes: no sign-in, no rate limit, outside the plugins' request middleware.
        Operation::get("/healthz", health::healthz),
        Operation::get("/readyz", health::readyz),
        // A plugin's routes, with any of the methods a manifest may declare.
        Operation::get("/api/plugins/{id}/http/{*path}", plugin_http::route),
        Operation::post("/api/plugins/{id}/http/{*path}", plugin_http::route),
        Operation::put("/api/plugins/{id}/http/{*path}", plugin_http::route),
        Operation::patch("/api/plugins/{id}/http/{*path}", plugin_http::route),
        Operation::delete("/api/plugins/{id}/http/{*path}", plugin_http::route),
    ]
}

/// The whole HTTP API: the web interface and every operation of [`operations`].
pub fn router(state: AppState) -> Router {
    let upload_limit = state.config.max_upload_bytes + 1024;
    prometheus::install();
    let mut router = Router::new()
        .route("/", routing::get(ui::index))
        .route("/ui/{file}", routing::get(ui::asset))
        .route("/favicon.ico", routing::get(ui::favicon))
        .route("/mcp", mcp::route(&state));
    // Operations on one path (GET and POST /api/tokens) merge into one method router.
    for operation in operations(upload_limit) {
        let handler = match operation.claimed_limit {
            Some(limit) => operation.handler.layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    refuse_claimed_over(limit, request, next)
                },
            )),
            None => operation.handler,
        };
        router = router.route(operation.path, handler);
    }
    router
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        // Around every route and the fallback; it lets through all but the API itself.
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::run))
        // Outermost: a forged cross-site request is refused before anything sees it.
        .layer(axum::middleware::from_fn_with_state(state.clone(), origin::check))
        // Around all: every error answer is the API's JSON.
        .layer(axum::middleware::from_fn(json_errors::ensure_json))
        .with_state(state)
}

/// How long, after the connections have closed at shutdown, the turns they ran get to
/// store their cut-off replies: a turn stops at once when its client is gone, so this is a
/// few writes to the store.
const TURNS_STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves on `listener` until `shutdown` completes, running the plugins' scheduled tasks
/// meanwhile, within the configuration's [`ConnectionLimits`]. At shutdown, new connections
/// are refused at once and `/readyz` answers 503; requests in flight (chat turns and streams
/// included) get `shutdown_grace` to finish; a turn still running then is stopped and its
/// reply stored as `partial`; then every plugin is unloaded (its shutdown hook called).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = state.config.connections.clone();
    limits.check().map_err(anyhow::Error::msg)?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let registry = state.registry.clone();
    // The plugins' scheduled tasks run while the server serves.
    registry.start_scheduler();
    // Plugins hear of account changes, this server's and those made by `plugboard user`.
    state.engine.start_account_relay();
    // With several servers on the database: events published, trusted keys followed.
    cluster::start(&state).await;
    mcp_servers::follow_cluster(&state);
    // From the shutdown signal on, `/readyz` answers 503 while requests in flight finish.
    let readiness = Arc::clone(&state.readiness);
    let shutdown = async move {
        shutdown.await;
        readiness.mark_shutting_down();
    };
    // Rate states back to fresh, and forgotten failed-login counts, leave a shared database.
    state.limits.start_purging();
    state.logins.start_purging();
    // Replies cut off by a server that died (this one earlier, or another) become partial.
    state.engine.start_stale_reply_sweep();
    let engine = state.engine.clone();
    let mcp = state.mcp.clone();
    connections::serve(listener, router(state), limits, shutdown).await;
    // The connections are closed, so every turn whose client was still there at the end of
    // the grace is stopping: let it store its reply (as `partial`) before the process exits.
    if tokio::time::timeout(TURNS_STOP_WITHIN, engine.turns_finished()).await.is_err() {
        tracing::warn!("chat turns still running {TURNS_STOP_WITHIN:?} after the connections closed are abandoned");
    }
    registry.shutdown().await;
    // MCP servers' processes (and what they started) end with the server.
    mcp.shutdown().await;
    Ok(())
}
