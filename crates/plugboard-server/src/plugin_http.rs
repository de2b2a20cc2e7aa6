//! What plugins serve over HTTP: their declared routes at `/api/plugins/{id}/http/…`
//! (the caller authenticated by the host, credentials stripped, the body capped) and the
//! files of their web UI at `/api/plugins/{id}/ui/…`, both answered as sandboxed content
//! so nothing a plugin sends runs with the page's origin.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plugboard_manifest::RouteAuth;
use plugboard_types::{CallContext, HttpRequest};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::manage::plugin_id;
use crate::{AppState, schemas};

/// Largest request body passed to a plugin route.
const MAX_ROUTE_BODY: usize = 1 << 20;

/// Headers a plugin never sees: the caller's credentials.
const CREDENTIALS: &[&str] = &["cookie", "authorization", "proxy-authorization"];

/// Whatever a plugin answers is sandboxed: no script runs with the server's origin.
const SANDBOX: &str =
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

fn not_found(what: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", what)
}

/// Whether `pattern` (`/conversations/{id}`) matches `path`.
fn matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(want, got)| (want.starts_with('{') && want.ends_with('}') && !got.is_empty()) || want == got)
}

/// A route a plugin declares
///
/// Answered by the plugin's HTTP handler when its manifest declares this method and path;
/// each loaded plugin's routes are listed under its own tag, at the path they are served
/// at. `path` may hold slashes. Routes with `auth = "none"` are open (webhooks);
/// the others need sign-in. The cookie and `Authorization` headers are not passed on, and
/// the answer is served with `Content-Security-Policy: sandbox`.
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/api/plugins/{id}/http/{path}",
    tag = "plugin-routes",
    operation_id = "plugin_route",
    security((), ("session_cookie" = []), ("bearer_token" = [])),
    params(
        ("id" = String, Path, description = "The plugin's id"),
        ("path" = String, Path, allow_reserved, description = "The route's path below the plugin, e.g. `github`"),
    ),
    request_body(content(("*/*")), description = "Passed to the plugin as it is (at most 1 MiB)"),
    responses(
        (status = "default", description = "The plugin's answer"),
        // No body schemas: the plugin may answer these statuses itself, with its own body.
        (status = 401, description = "Not signed in: an `ApiError`, or the plugin's own answer"),
        (status = 404, description = "No such plugin is loaded, or it declares no such route (`route_not_found`): \
                                      an `ApiError`, or the plugin's own answer"),
        (status = 413, description = "The body is over 1 MiB (`body_too_large`): an `ApiError`, or the plugin's \
                                      own answer"),
        (status = 429, description = "Too many calls to this plugin; see `Retry-After`: an `ApiError`, or the \
                                      plugin's own answer"),
    )
)]
pub(crate) async fn route(
    State(state): State<AppState>,
    Path((id, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    user: Result<AuthUser, ApiError>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = plugin_id(&id)?;
    let plugin = state.registry.plugin(&id).ok_or_else(|| not_found(format!("no plugin `{id}` is loaded")))?;
    let path = format!("/{path}");
    let declared = plugin
        .manifest()
        .routes
        .iter()
        .find(|route| route.method == method.as_str() && matches(&route.path, &path))
        .ok_or_else(|| {
            not_found(format!("plugin `{id}` declares no route {method} {path}; its manifest's [[routes]] lists them"))
        })?;
    let user_id = match (declared.auth, user) {
        (RouteAuth::User, Ok(AuthUser(user))) => user.id,
        (RouteAuth::User, Err(error)) => return Err(error),
        (RouteAuth::None, _) => String::new(),
    };
    // Anonymous webhook calls share one allowance per plugin.
    state.limits.check(if user_id.is_empty() { "anonymous" } else { &user_id }, id.as_str()).await?;
    if body.len() > MAX_ROUTE_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is {} bytes; plugin routes take at most {MAX_ROUTE_BODY}", body.len()),
        ));
    }
    let headers = headers
        .iter()
        .filter(|(name, _)| !CREDENTIALS.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let uri = match query {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let request = HttpRequest { method: method.as_str().to_owned(), uri, headers, body: body.to_vec() };
    let context = CallContext { user_id: user_id.into(), ..CallContext::default() };
    let answer = plugin.handle_http(&context, request).await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::builder().status(status);
    for (name, value) in &answer.headers {
        let Ok(name) = HeaderName::try_from(name.as_str()) else { continue };
        // A plugin cannot set cookies on the server's origin or change how it is framed.
        if name == header::SET_COOKIE || name == header::CONTENT_SECURITY_POLICY {
            continue;
        }
        if let Ok(value) = HeaderValue::try_from(value.as_str()) {
            response = response.header(name, value);
        }
    }
    let mut response = response.body(Body::from(answer.body)).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "plugin_error",
            format!("the plugin's response is not valid HTTP: {error}"),
        )
    })?;
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(SANDBOX));
    Ok(response)
}

/// A file of a plugin's `ui/` folder, served sandboxed
#[utoipa::path(
    get,
    path = "/api/plugins/{id}/ui/{path}",
    tag = "plugin-routes",
    operation_id = "plugin_ui_file",
    params(
        ("id" = String, Path, description = "The plugin's id"),
        ("path" = String, Path, allow_reserved, description = "The file's path in `ui/`, e.g. `widget.html`"),
    ),
    responses(
        (status = 200, description = "The file", content(("application/octet-stream"))),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such file (`file_not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn ui_file(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = plugin_id(&id)?;
    let file = format!("ui/{path}");
    let bytes = state.registry.plugin_file(&id, &file).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "file_not_found", format!("plugin `{id}` has no {file}"))
    })?;
    let media_type = match file.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, media_type),
            (header::CONTENT_SECURITY_POLICY, SANDBOX),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response())
}

/// The Markdown files of a plugin's `docs/` folder
///
/// Each is listed by its path inside `docs/` (`setup.md`, `guides/webhooks.md`), the path
/// `GET /api/plugins/{id}/docs/{path}` serves it at.
#[utoipa::path(
    get,
    path = "/api/plugins/{id}/docs",
    tag = "plugin-routes",
    operation_id = "plugin_docs",
    params(("id" = String, Path, description = "The plugin's id")),
    responses(
        (status = 200, description = "The files", body = schemas::DocList),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such plugin is loaded (`plugin_not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn docs(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let id = plugin_id(&id)?;
    if state.registry.plugin(&id).is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "plugin_not_found", format!("no plugin `{id}` is loaded")));
    }
    // Each as its path in `docs/`: the path to fetch it by, and to resolve its links from.
    let files: Vec<String> = state
        .registry
        .plugin_files(&id, "docs")
        .into_iter()
        .filter(|file| file.ends_with(".md"))
        .filter_map(|file| file.strip_prefix("docs/").map(str::to_owned))
        .collect();
    Ok(axum::Json(serde_json::json!({"docs": files})))
}

/// One Markdown file of a plugin's `docs/` folder, as text
///
/// The web UI renders it with the same renderer as chat messages (text nodes only, so a
/// plugin's docs cannot inject markup).
#[utoipa::path(
    get,
    path = "/api/plugins/{id}/docs/{path}",
    tag = "plugin-routes",
    operation_id = "plugin_doc_file",
    params(
        ("id" = String, Path, description = "The plugin's id"),
        ("path" = String, Path, allow_reserved, description = "The file's path in `docs/`, e.g. `usage.md`"),
    ),
    responses(
        (status = 200, description = "The Markdown", body = String, content_type = "text/markdown"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such file (`file_not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn doc_file(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = plugin_id(&id)?;
    let file = format!("docs/{path}");
    let bytes = state.registry.plugin_file(&id, &file).filter(|_| file.ends_with(".md")).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "file_not_found", format!("plugin `{id}` has no {file}"))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/markdown; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, SANDBOX),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn route_patterns_match_whole_segments() {
        assert!(matches("/conversations/{id}", "/conversations/abc"));
        assert!(!matches("/conversations/{id}", "/conversations/"));
        assert!(!matches("/conversations/{id}", "/conversations/abc/more"));
        assert!(matches("/webhook", "/webhook"));
        assert!(!matches("/webhook", "/other"));
    }
}
