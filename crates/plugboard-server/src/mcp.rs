//! Plugboard as a Model Context Protocol server: the tools the chat engine offers the
//! model (the plugins' tools, and MCP servers' tools when the operator opts in), listed
//! and called by MCP clients as the person whose API token they send. Served over
//! streamable HTTP at `/mcp` ([`route`]: rmcp's `StreamableHttpService` with its session
//! manager, behind a Bearer-token check of its own) and over standard input and output
//! by `plugboard mcp` ([`serve_stdio`]).
//!
//! A call goes the way a chat turn's tool call goes (`ChatEngine::call_tool_as`: the
//! plugin's permissions, deadline, breaker and own limit), after the per-user limit
//! `/api/plugins/execute` applies; a tool whose policy (as administrators set it,
//! `ChatEngine::tool_policy`'s) is `deny` is neither listed nor callable. Every call is
//! logged and counted in `plugboard_mcp_server_calls_total`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodRouter};
use plugboard_chat::{OfferedTool, ToolCallError};
use plugboard_store::{Store, User};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig as McpServerInfo, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;

use crate::auth::{AuthUser, token_hash};
use crate::error::ApiError;
use crate::{AppState, DEFAULT_BODY_LIMIT};

/// What the server tells clients it offers, at initialisation.
const INSTRUCTIONS: &str = "Plugboard's tools: the tools of the plugins installed on this Plugboard server \
(each runs sandboxed, as the person whose API token was sent), under the names a chat model sees them by, \
`<plugin>__<tool>`. List them for their descriptions and argument schemas. A tool that fails answers with \
an error result whose text says why.";

/// Who calls: the user of each HTTP request's token, or the one user `plugboard mcp` runs as.
#[derive(Debug, Clone)]
enum Caller {
    /// `/mcp`: the user the Bearer token of each request names (put there by `authenticate`).
    PerRequest,
    /// `plugboard mcp`: one user for the whole session, checked again at each call.
    Fixed(FixedCaller),
}

/// The user `plugboard mcp` serves, and how they were named.
#[derive(Debug, Clone)]
pub struct FixedCaller {
    user_id: String,
    /// The hash of the API token it was started with, which must stay valid.
    token_hash: Option<String>,
}

/// The user a `/mcp` request authenticated as.
#[derive(Debug, Clone)]
struct McpUser(User);

/// One MCP session's handler.
#[derive(Debug, Clone)]
struct PlugboardTools {
    state: AppState,
    caller: Caller,
}

impl PlugboardTools {
    /// The tools this server exposes: those the engine offers (not `deny`), less the MCP
    /// servers' unless the operator opted in.
    async fn exposed_tools(&self) -> Vec<OfferedTool> {
        let offered = self.state.engine.offered_tools().await;
        offered.into_iter().map(|(tool, _policy)| tool).filter(|tool| self.exposes(tool)).collect()
    }

    /// Whether `tool`'s source is exposed here: the MCP servers' only when the operator
    /// opted in.
    fn exposes(&self, tool: &OfferedTool) -> bool {
        self.state.config.mcp_expose_mcp_servers || !tool.source.starts_with(plugboard_mcp::SOURCE_PREFIX)
    }

    /// The user this call runs as, checked now.
    async fn user(&self, context: &RequestContext<RoleServer>) -> Result<User, ErrorData> {
        match &self.caller {
            Caller::PerRequest => context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<McpUser>())
                .map(|McpUser(user)| user.clone())
                .ok_or_else(|| ErrorData::internal_error("the request carries no authenticated user", None)),
            Caller::Fixed(fixed) => {
                let user = match &fixed.token_hash {
                    Some(hash) => self.state.store.api_token_user(hash).await,
                    None => self.state.store.user(&fixed.user_id).await,
                }
                .map_err(|error| {
                    tracing::error!("cannot read the MCP caller's account: {error}");
                    ErrorData::internal_error("the server cannot read the account right now", None)
                })?;
                match user {
                    Some(user) if user.id == fixed.user_id && user.is_active() => Ok(user),
                    Some(user) if user.id == fixed.user_id => Err(ErrorData::invalid_request(
                        "this account is disabled; ask an administrator to enable it",
                        None,
                    )),
                    _ => Err(ErrorData::invalid_request(
                        "the account or API token this server was started with no longer exists; start it again",
                        None,
                    )),
                }
            }
        }
    }
}

/// The MCP form of an offered tool: its name, description and argument schema as the
/// model sees them (a schema that is not an object is offered as taking any object).
fn mcp_tool(tool: &OfferedTool) -> Tool {
    let schema = match &tool.spec.parameters {
        Value::Object(schema) => schema.clone(),
        _ => serde_json::Map::from_iter([("type".to_owned(), Value::String("object".to_owned()))]),
    };
    Tool::new(tool.spec.name.clone(), tool.spec.description.clone(), Arc::new(schema))
}

/// Counts and logs one call.
fn record(user: &str, tool: &str, outcome: &'static str, started: Instant) {
    metrics::counter!("plugboard_mcp_server_calls_total", "tool" => tool.to_owned(), "outcome" => outcome).increment(1);
    tracing::info!(user, tool, outcome, elapsed_ms = started.elapsed().as_millis() as u64, "MCP tool call");
}

impl ServerHandler for PlugboardTools {
    fn get_info(&self) -> McpServerInfo {
        McpServerInfo::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("plugboard", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.user(&context).await?;
        Ok(ListToolsResult::with_all_items(self.exposed_tools().await.iter().map(mcp_tool).collect()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let user = self.user(&context).await?;
        let name = request.name.as_ref();
        // Its policy is applied by the call itself (the policies read once per call).
        let Some(tool) = self.state.engine.offered_tool(name).filter(|tool| self.exposes(tool)) else {
            // The name is the client's: not a label of its own.
            record(&user.username, "", "unknown_tool", started);
            return Err(ErrorData::invalid_params(
                format!("no tool `{name}` is offered here; call tools/list for the names"),
                None,
            ));
        };
        if let Err(limited) = self.state.limits.check(&user.id, &tool.source).await {
            record(&user.username, name, "rate_limited", started);
            return Ok(CallToolResult::error(vec![ContentBlock::text(limited.message)]).into());
        }
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let (result, outcome) = match self.state.engine.call_tool_as(&user.id, name, arguments).await {
            Ok(text) => (CallToolResult::success(vec![ContentBlock::text(text)]), "ok"),
            Err(ToolCallError::Failed { message, .. }) => {
                (CallToolResult::error(vec![ContentBlock::text(message)]), "tool_error")
            }
            // Not callable, as if not offered: an administrator denies it.
            Err(error @ ToolCallError::Denied { .. }) => {
                record(&user.username, name, "denied", started);
                return Err(ErrorData::invalid_params(error.to_string(), None));
            }
            // It went away (unloaded, disabled) since it was looked up.
            Err(error @ ToolCallError::UnknownTool { .. }) => {
                record(&user.username, name, "unknown_tool", started);
                return Err(ErrorData::invalid_params(error.to_string(), None));
            }
        };
        record(&user.username, name, outcome, started);
        Ok(result.into())
    }
}

/// `/mcp`: MCP over streamable HTTP (sessions with `Mcp-Session-Id`, `DELETE` to end one,
/// `GET` for the server's stream), each request authenticated by its Bearer API token.
pub(crate) fn route(state: &AppState) -> MethodRouter<AppState> {
    let handler = PlugboardTools { state: state.clone(), caller: Caller::PerRequest };
    // Bodies are limited as the API's are. rmcp's own Host check is for servers without
    // authentication on a loopback address (DNS rebinding); every request here carries an
    // API token, which a page of another site cannot make a browser send.
    let config =
        StreamableHttpServerConfig::default().disable_allowed_hosts().with_max_request_body_bytes(DEFAULT_BODY_LIMIT);
    // When the router is dropped (the server stopped), the sessions end with it: their
    // tasks hold the app's state.
    let sessions_end = config.cancellation_token.clone().drop_guard();
    let manager = Arc::new(LocalSessionManager::default());
    let owners = Arc::new(SessionOwners { manager: manager.clone(), owners: Mutex::default() });
    let service = StreamableHttpService::new(
        move || {
            let _ = &sessions_end;
            Ok(handler.clone())
        },
        manager,
        config,
    );
    routing::any_service(service).layer(axum::middleware::from_fn_with_state((state.clone(), owners), authenticate))
}

/// The user whose request made each session: a session is its maker's, and for anyone
/// else it does not exist (404, as an unknown session), so nobody can read another's
/// stream or end another's session with its id.
#[derive(Debug)]
struct SessionOwners {
    manager: Arc<LocalSessionManager>,
    owners: Mutex<HashMap<String, String>>,
}

/// Past this many remembered sessions, those rmcp has ended (expired) are forgotten.
const PRUNE_OWNERS_OVER: usize = 256;

impl SessionOwners {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.owners.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `user` may use session `id` (one this server does not know is left to rmcp).
    fn allows(&self, id: &str, user: &str) -> bool {
        self.lock().get(id).is_none_or(|owner| owner == user)
    }

    async fn made(&self, id: String, user: String) {
        let remembered = {
            let mut owners = self.lock();
            owners.insert(id, user);
            owners.len()
        };
        if remembered > PRUNE_OWNERS_OVER && remembered.is_power_of_two() {
            let live: Vec<String> = self.manager.sessions.read().await.keys().map(|id| id.to_string()).collect();
            self.lock().retain(|id, _| live.contains(id));
        }
    }

    fn ended(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// Lets through requests with a valid API token (Bearer), with their user attached; the
/// others get 401 (403 for a disabled account) with `WWW-Authenticate: Bearer`, before
/// any MCP processing. A session cookie is not enough: MCP clients are programs. A
/// request from a web page (with `Origin`) must come from an origin the server trusts.
async fn authenticate(
    State((state, owners)): State<(AppState, Arc<SessionOwners>)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if !parts.headers.contains_key(header::AUTHORIZATION) {
        return refused(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send `Authorization: Bearer <API token>`; create a token with POST /api/tokens or on your account page",
        ));
    }
    let user = match AuthUser::from_request_parts(&mut parts, &state).await {
        Ok(AuthUser(user)) => user,
        Err(error) => return refused(error),
    };
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(origin, &state.config) {
            tracing::warn!(origin, "refused an MCP request from a page of another origin");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                format!(
                    "MCP requests from pages of `{origin}` are refused; add the origin to `allowed_origins` \
                     if that page is an MCP client you trust"
                ),
            )
            .into_response();
        }
    }
    let session = parts.headers.get("mcp-session-id").and_then(|id| id.to_str().ok()).map(str::to_owned);
    if let Some(id) = &session
        && !owners.allows(id, &user.id)
    {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such MCP session; start a new one")
            .into_response();
    }
    let (user_id, ends) = (user.id.clone(), parts.method == Method::DELETE);
    parts.extensions.insert(McpUser(user));
    let response = next.run(Request::from_parts(parts, body)).await;
    match session {
        Some(id) if ends && response.status().is_success() => owners.ended(&id),
        Some(_) => {}
        None => {
            if let Some(made) = response.headers().get("mcp-session-id").and_then(|id| id.to_str().ok()) {
                owners.made(made.to_owned(), user_id).await;
            }
        }
    }
    response
}

/// Whether a page of `origin` may send MCP requests (the transport's rule against DNS
/// rebinding): the server's own public origin, an origin of `allowed_origins`, or a page
/// on this machine (`localhost`, a loopback address). Programs send no `Origin` at all.
fn origin_allowed(origin: &str, config: &crate::ServerConfig) -> bool {
    let Ok(url) = url::Url::parse(origin) else { return false };
    let serialized = url.origin().ascii_serialization();
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    let configured = |allowed: &str| {
        url::Url::parse(allowed).is_ok_and(|allowed| allowed.origin().ascii_serialization() == serialized)
    };
    loopback
        || config.public_url.as_ref().is_some_and(|public| public.origin().ascii_serialization() == serialized)
        || config.allowed_origins.iter().any(|allowed| configured(allowed))
}

fn refused(error: ApiError) -> Response {
    let challenge = match error.code {
        "invalid_token" => r#"Bearer realm="plugboard", error="invalid_token""#,
        _ => r#"Bearer realm="plugboard""#,
    };
    let mut response = error.into_response();
    if response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    response
}

/// Why `plugboard mcp` cannot serve as the user it was given.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// No account has that name.
    #[error("no user `{0}`; see `plugboard user list`, or create one with `plugboard user create`")]
    UnknownUser(String),
    /// The token is unknown or was revoked.
    #[error("this API token is unknown or was revoked; create a new one (POST /api/tokens or the account page)")]
    UnknownToken,
    /// The account is disabled.
    #[error("user `{0}` is disabled; enable it with `plugboard user enable {0}`")]
    Disabled(String),
    /// The database could not say.
    #[error("cannot read the accounts: {0}")]
    Store(#[from] plugboard_store::StoreError),
}

impl FixedCaller {
    /// The user named `username`, which must exist and be active.
    pub async fn by_name(store: &dyn Store, username: &str) -> Result<(FixedCaller, User), CallerError> {
        let Some((user, _)) = store.user_by_name(username).await? else {
            return Err(CallerError::UnknownUser(username.to_owned()));
        };
        if !user.is_active() {
            return Err(CallerError::Disabled(user.username));
        }
        Ok((FixedCaller { user_id: user.id.clone(), token_hash: None }, user))
    }

    /// The user of API token `token`, which must be valid (and stay so) and the user active.
    pub async fn by_token(store: &dyn Store, token: &str) -> Result<(FixedCaller, User), CallerError> {
        let hash = token_hash(token.trim());
        let Some(user) = store.api_token_user(&hash).await? else { return Err(CallerError::UnknownToken) };
        if !user.is_active() {
            return Err(CallerError::Disabled(user.username));
        }
        Ok((FixedCaller { user_id: user.id.clone(), token_hash: Some(hash) }, user))
    }
}

/// Serves MCP on standard input and output as `caller` until the client closes them (or
/// `stop` completes). Nothing else may write to standard output meanwhile.
pub async fn serve_stdio(
    state: AppState,
    caller: FixedCaller,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let handler = PlugboardTools { state, caller: Caller::Fixed(caller) };
    tokio::pin!(stop);
    let running = tokio::select! {
        running = handler.serve(rmcp::transport::io::stdio_pipes()) => running?,
        () = &mut stop => return Ok(()),
    };
    let token = running.cancellation_token();
    tokio::select! {
        ended = running.waiting() => {
            ended?;
        }
        () = &mut stop => token.cancel(),
    }
    Ok(())
}
