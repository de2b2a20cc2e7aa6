//! Request middleware: every API request (`/api/…`, `/v1/…` and `/mcp`) passes through the
//! `before-request` hook of each enabled plugin that implements it, in filter order
//! (priority, then plugin id), after authentication; every response of such a request
//! passes through the `after-request` hooks. The static web interface (`/`, `/ui/…`,
//! `/favicon.ico`) and `/metrics` do not: the UI's files carry no data, and monitoring
//! must keep working while a broken middleware plugin refuses everything else.
//!
//! What a plugin sees is a copy made for it: the method, the path with the query (values
//! of credential-like parameters masked), the headers without credentials, plus
//! `x-plugboard-client-ip` (the TCP peer, set by the host, never taken from the client),
//! and the verified user's id in the call context. Never a body. What it may change is
//! narrow, so it cannot raise its own privileges: it may add headers of new names (not
//! credentials, not hop-by-hop, not the body's `content-*`, nothing `x-plugboard-`), or
//! refuse with a status from 400 to 499; every other change is ignored and logged. A
//! failing call is skipped (fail open) or refuses with 503 (fail closed), per plugin, as
//! for text filters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use plugboard_host::{Hook, Plugin, filter_order};
use plugboard_types::{CallContext, HttpRequest, HttpResponse, RequestOutcome, ResponseOutcome};
use serde_json::json;

use crate::AppState;
use crate::auth::ResolvedCaller;

/// The header that tells a plugin the TCP peer's address.
pub(crate) const CLIENT_IP_HEADER: &str = "x-plugboard-client-ip";

/// Longest refusal message passed on to the client, in bytes.
const MAX_MESSAGE: usize = 1024;

/// Whether requests to `path` pass through the middleware: the API, not the web
/// interface's files and not `/metrics`.
fn is_api_path(path: &str) -> bool {
    ["/api", "/v1", "/mcp"]
        .iter()
        .any(|prefix| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// Whether a header or query parameter named `name` (lower case) may carry a credential.
/// A plugin never sees these.
pub(crate) fn is_credential(name: &str) -> bool {
    const PARTS: &[&str] = &["authorization", "cookie", "token", "secret", "password", "session", "api-key", "apikey"];
    PARTS.iter().any(|part| name.contains(part)) || name.ends_with("-key") || name.ends_with("_key")
}

/// Whether a plugin may add a header named `name` (lower case) to a request or response:
/// not a credential, not one that frames the message or its body, not one the host owns.
fn may_add(name: &str, to_response: bool) -> bool {
    const HOP_BY_HOP: &[&str] = &[
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
    ];
    // A response header that would redirect the client, or let another origin read the
    // API with the user's cookies.
    const RESPONSE_ONLY: &[&str] = &["location", "refresh", "clear-site-data"];
    !(is_credential(name)
        || name.starts_with("x-plugboard-")
        || name.starts_with("content-")
        || HOP_BY_HOP.contains(&name)
        || (to_response && (RESPONSE_ONLY.contains(&name) || name.starts_with("access-control-"))))
}

/// A new id for each request that passes through the middleware, tying its calls together.
fn next_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("request-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The plugins that see this request: `(before-request, after-request)`, each in filter
/// order; `None` when no enabled plugin implements either hook (the common case, kept to
/// one look at the plugin list).
fn chains(state: &AppState) -> Option<(Vec<Plugin>, Vec<Plugin>)> {
    let plugins = state.registry.runtime().plugins();
    let wanted = |plugin: &Plugin| {
        (plugin.implements(Hook::BeforeRequest) || plugin.implements(Hook::AfterRequest)) && plugin.is_enabled()
    };
    if !plugins.iter().any(wanted) {
        return None;
    }
    Some((filter_order(&plugins, Hook::BeforeRequest), filter_order(&plugins, Hook::AfterRequest)))
}

/// The middleware itself (`axum::middleware::from_fn_with_state`).
pub(crate) async fn run(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !is_api_path(request.uri().path()) {
        return next.run(request).await;
    }
    let Some((before, after)) = chains(&state) else { return next.run(request).await };
    let (mut parts, body) = request.into_parts();
    let caller = ResolvedCaller::resolve(&parts.headers, &state).await;
    let context = CallContext {
        user_id: caller.user_id().unwrap_or_default().into(),
        request_id: next_request_id(),
        ..CallContext::default()
    };
    parts.extensions.insert(caller);
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| *peer);
    let mut view = request_view(&parts, peer);

    let mut refusal = None;
    for plugin in &before {
        match plugin.before_request(&context, view.clone()).await {
            Ok(RequestOutcome::Keep) => {}
            Ok(RequestOutcome::Rewrite(changed)) => add_request_headers(plugin, &mut view, &mut parts.headers, changed),
            Ok(RequestOutcome::Respond(answer)) if (400..=499).contains(&answer.status) => {
                refusal = Some(refused(plugin, answer));
                break;
            }
            Ok(RequestOutcome::Respond(answer)) => {
                let error = format!(
                    "answered with status {}; a request filter may refuse only with a status from 400 to 499",
                    answer.status
                );
                if let Some(response) = failed(plugin, Hook::BeforeRequest, &error) {
                    refusal = Some(response);
                    break;
                }
            }
            Err(error) => {
                if let Some(response) = failed(plugin, Hook::BeforeRequest, &error.kind.to_string()) {
                    refusal = Some(response);
                    break;
                }
            }
        }
    }
    let mut response = match refusal {
        Some(response) => response,
        None => next.run(Request::from_parts(parts, body)).await,
    };
    for plugin in &after {
        let seen = response_view(&response);
        match plugin.after_request(&context, view.clone(), seen.clone()).await {
            Ok(ResponseOutcome::Keep) => {}
            Ok(ResponseOutcome::Rewrite(changed)) => {
                let added =
                    added_headers(plugin, Hook::AfterRequest, &seen.headers, response.headers(), changed.headers);
                response.headers_mut().extend(added);
                if changed.status != seen.status || !changed.body.is_empty() {
                    tracing::warn!(plugin = %plugin.id(), "after-request changed the status or body; ignored: a response filter may only add headers");
                }
            }
            Err(error) => {
                if let Some(refusal) = failed(plugin, Hook::AfterRequest, &error.kind.to_string()) {
                    response = refusal;
                }
            }
        }
    }
    response
}

/// The request as a plugin sees it: no body, no credentials.
fn request_view(parts: &axum::http::request::Parts, peer: Option<SocketAddr>) -> HttpRequest {
    let path = parts.uri.path();
    let uri = match parts.uri.query() {
        Some(query) => format!("{path}?{}", masked_query(query)),
        None => path.to_owned(),
    };
    let mut headers = visible_headers(&parts.headers);
    if let Some(peer) = peer {
        headers.push((CLIENT_IP_HEADER.to_owned(), peer.ip().to_canonical().to_string()));
    }
    HttpRequest { method: parts.method.as_str().to_owned(), uri, headers, body: Vec::new() }
}

/// `headers` without credentials (`set-cookie` among them), host-owned names or values
/// that are not text.
fn visible_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !is_credential(name.as_str()) && !name.as_str().starts_with("x-plugboard-"))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect()
}

/// `query` with the values of credential-like parameters replaced by `[redacted]`.
fn masked_query(query: &str) -> std::borrow::Cow<'_, str> {
    let secret = |pair: &&str| pair.split_once('=').is_some_and(|(name, _)| is_credential(&name.to_ascii_lowercase()));
    if !query.split('&').any(|pair| secret(&pair)) {
        return std::borrow::Cow::Borrowed(query);
    }
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if secret(&pair) => format!("{name}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect();
    std::borrow::Cow::Owned(masked.join("&"))
}

/// The response as a plugin sees it: the status and headers (no `set-cookie`, no
/// credentials), never the body.
fn response_view(response: &Response) -> HttpResponse {
    HttpResponse { status: response.status().as_u16(), headers: visible_headers(response.headers()), body: Vec::new() }
}

/// Applies what a `before-request` rewrite may change: headers of new names, passed on
/// to the handler and shown to the plugins after it.
fn add_request_headers(plugin: &Plugin, view: &mut HttpRequest, headers: &mut HeaderMap, changed: HttpRequest) {
    if changed.method != view.method || changed.uri != view.uri || !changed.body.is_empty() {
        tracing::warn!(plugin = %plugin.id(), "before-request changed the method, path or body; ignored: a request filter may only add headers");
    }
    let added = added_headers(plugin, Hook::BeforeRequest, &view.headers, headers, changed.headers);
    for (name, value) in &added {
        if let Ok(text) = value.to_str() {
            view.headers.push((name.as_str().to_owned(), text.to_owned()));
        }
    }
    headers.extend(added);
}

/// The headers of `returned` a plugin may add: of a name neither in what it was shown
/// (`shown`) nor in the real message (`present`), and allowed by [`may_add`]. Changed or
/// removed headers and refused additions are logged and ignored.
fn added_headers(
    plugin: &Plugin,
    hook: Hook,
    shown: &[(String, String)],
    present: &HeaderMap,
    returned: Vec<(String, String)>,
) -> Vec<(HeaderName, HeaderValue)> {
    let to_response = hook == Hook::AfterRequest;
    let mut added = Vec::new();
    let mut ignored = Vec::new();
    for (name, value) in returned {
        let name = name.to_ascii_lowercase();
        if shown.iter().any(|(shown_name, _)| *shown_name == name) {
            if !shown.iter().any(|(shown_name, shown_value)| *shown_name == name && *shown_value == value) {
                ignored.push(format!("{name} (changed)"));
            }
            continue;
        }
        if present.contains_key(name.as_str()) || !may_add(&name, to_response) {
            ignored.push(format!("{name} (not allowed)"));
            continue;
        }
        match (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            (Ok(name), Ok(value)) => added.push((name, value)),
            _ => ignored.push(format!("{name} (not a valid header)")),
        }
    }
    if !ignored.is_empty() {
        tracing::warn!(plugin = %plugin.id(), hook = hook.as_str(), "ignored header changes: {}; a plugin may only add headers of new names", ignored.join(", "));
    }
    added
}

/// The answer to a request a plugin refused: its status, its text as the message of the
/// server's JSON error, and the headers it may add.
fn refused(plugin: &Plugin, answer: HttpResponse) -> Response {
    metrics::counter!("plugboard_requests_refused_total", "plugin" => plugin.id().to_string(), "reason" => "refused")
        .increment(1);
    let text = String::from_utf8_lossy(&answer.body);
    let mut message = text.trim();
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message = &message[..end];
    }
    let message = if message.is_empty() { format!("refused by plugin `{}`", plugin.id()) } else { message.to_owned() };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::FORBIDDEN);
    let body = json!({"error": {"code": "refused_by_plugin", "message": message, "plugin": plugin.id()}});
    let mut response = (status, Json(body)).into_response();
    let added = added_headers(plugin, Hook::AfterRequest, &[], response.headers(), answer.headers);
    response.headers_mut().extend(added);
    response
}

/// A failed call of `plugin`: logged; `None` to go on (fail open), or the 503 that
/// refuses the request (fail closed).
fn failed(plugin: &Plugin, hook: Hook, error: &str) -> Option<Response> {
    if !plugin.fails_closed() {
        tracing::warn!(plugin = %plugin.id(), hook = hook.as_str(), "skipped (fails open): {error}");
        return None;
    }
    tracing::warn!(plugin = %plugin.id(), hook = hook.as_str(), "refused the request (fails closed): {error}");
    metrics::counter!("plugboard_requests_refused_total", "plugin" => plugin.id().to_string(), "reason" => "failed")
        .increment(1);
    let message = format!(
        "the request filter `{}` failed and is configured to fail closed ({error}); an administrator can see its faults in the plugin list",
        plugin.id()
    );
    let body = json!({"error": {"code": "request_filter_failed", "message": message, "plugin": plugin.id()}});
    Some((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_api_passes_through() {
        for path in ["/api", "/api/me", "/v1/models", "/api/plugins/x/http/y"] {
            assert!(is_api_path(path), "{path}");
        }
        for path in ["/", "/ui/app.js", "/favicon.ico", "/metrics", "/apix", "/v10/models"] {
            assert!(!is_api_path(path), "{path}");
        }
    }

    #[test]
    fn credentials_are_recognised_and_cannot_be_added() {
        for name in ["cookie", "authorization", "proxy-authorization", "x-api-key", "x-auth-token", "x-csrf-token"] {
            assert!(is_credential(name), "{name}");
            assert!(!may_add(name, false), "{name}");
        }
        for name in ["host", "content-length", "transfer-encoding", "x-plugboard-client-ip", "x-forwarded-for"] {
            assert!(!may_add(name, false), "{name}");
        }
        assert!(!may_add("set-cookie", true) && !may_add("access-control-allow-origin", true));
        assert!(may_add("x-request-tag", false) && may_add("x-request-tag", true));
        assert!(!is_credential("accept") && !is_credential("user-agent"));
    }

    #[test]
    fn credential_query_parameters_are_masked() {
        assert_eq!(masked_query("a=1&b=2"), "a=1&b=2");
        assert_eq!(
            masked_query("page=2&access_token=abc&API_KEY=x"),
            "page=2&access_token=[redacted]&API_KEY=[redacted]"
        );
    }
}
