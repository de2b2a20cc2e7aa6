//! Cross-site request forgery: a state-changing request (`POST`, `PUT`, `PATCH`,
//! `DELETE`) that the session cookie would authenticate is served only when it comes from
//! a page of the server's own origin.
//!
//! A browser attaches the cookie (`SameSite=Lax`) to requests from every page of the same
//! site, which includes other ports of the same host and sibling subdomains, and a "simple"
//! request (a form, or `fetch` without a body or with a text body) needs no permission
//! from the server. So the cookie alone proves nothing about who asked. What does: the
//! `Origin` header browsers send with every such request, or, from browsers that leave it
//! out, `Sec-Fetch-Site` or the `Referer`. A request with none of them comes from a program
//! (curl, a script), which no web page can make a browser send, and passes.
//!
//! The server's own origin is `public_url` when it is configured (a server behind a proxy
//! sees its own address in `Host`, not the one people browse to), otherwise the `Host`
//! the request was sent to; `allowed_origins` adds others. Requests authenticated with an
//! `Authorization: Bearer` token are not affected: a page cannot make a browser send one.
//! Sign-up and login are checked too (without a cookie): a foreign page must not sign a
//! person into an account of its choosing.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{SESSION_COOKIE, cookie_value};
use crate::error::ApiError;
use crate::{AppState, ServerConfig};

/// Whether the request may change state: refused with 403 when it comes from a page of
/// another origin.
pub(crate) async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Err(error) = allowed(request.method(), request.uri().path(), request.headers(), &state.config) {
        return error.into_response();
    }
    next.run(request).await
}

fn allowed(method: &Method, path: &str, headers: &HeaderMap, config: &ServerConfig) -> Result<(), ApiError> {
    let changes_state = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let by_cookie = !headers.contains_key(header::AUTHORIZATION) && cookie_value(headers, SESSION_COOKIE).is_some();
    let signs_in = path.starts_with("/api/auth/");
    if !changes_state || !(by_cookie || signs_in) {
        return Ok(());
    }
    let from = match headers.get(header::ORIGIN).map(|value| value.to_str().unwrap_or("")) {
        Some(origin) => Some(origin.to_owned()),
        None => match headers.get("sec-fetch-site").and_then(|value| value.to_str().ok()) {
            // The browser says the page is ours, or no page asked (typed in, a bookmark).
            Some("same-origin" | "none") => return Ok(()),
            Some(site) => Some(format!("a page of another origin (Sec-Fetch-Site: {site})")),
            None => headers
                .get(header::REFERER)
                .map(|referer| referer.to_str().ok().and_then(origin_of).unwrap_or_else(|| "null".to_owned())),
        },
    };
    let Some(from) = from else { return Ok(()) };
    if own_origins(headers, config).iter().any(|own| same_origin(own, &from)) {
        return Ok(());
    }
    tracing::warn!(method = %method, path, from = %from, "refused a cross-origin request authenticated by the session cookie");
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_origin",
        format!(
            "this request came from {} and this server accepts changes made with its session cookie only from its own pages; \
             if people reach Plugboard at another address (behind a proxy), set `public_url` to it, or add the origin to \
             `allowed_origins`; programs should authenticate with an API token",
            if from.starts_with("a page") { from } else { format!("a page of `{from}`") }
        ),
    ))
}

/// The origins the server's own pages have.
fn own_origins(headers: &HeaderMap, config: &ServerConfig) -> Vec<String> {
    let mut own: Vec<String> = config.allowed_origins.clone();
    match &config.public_url {
        Some(url) => own.extend(origin_of(url.as_str())),
        None => {
            if let Some(host) = headers.get(header::HOST).and_then(|host| host.to_str().ok()) {
                // The scheme is unknown here (TLS may end at a proxy); one port serves one.
                own.push(format!("http://{host}"));
                own.push(format!("https://{host}"));
            }
        }
    }
    own
}

/// `scheme://host[:port]` of `url`, the port left out when it is the scheme's default.
fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

fn same_origin(own: &str, from: &str) -> bool {
    match (origin_of(own), origin_of(from)) {
        (Some(own), Some(from)) => own == from,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    const COOKIE: (&str, &str) = ("cookie", "plugboard_session=abc");
    const HOST: (&str, &str) = ("host", "127.0.0.1:8080");

    fn post(pairs: &[(&'static str, &'static str)]) -> Result<(), ApiError> {
        allowed(&Method::POST, "/api/conversations", &headers(pairs), &ServerConfig::default())
    }

    #[test]
    fn a_cookie_request_from_another_origin_is_refused() {
        assert!(post(&[COOKIE, HOST, ("origin", "http://127.0.0.1:9999")]).is_err());
        assert!(post(&[COOKIE, HOST, ("origin", "http://evil.example")]).is_err());
        assert!(post(&[COOKIE, HOST, ("origin", "null")]).is_err());
        assert!(post(&[COOKIE, HOST, ("sec-fetch-site", "same-site")]).is_err());
        assert!(post(&[COOKIE, HOST, ("sec-fetch-site", "cross-site")]).is_err());
        assert!(post(&[COOKIE, HOST, ("referer", "http://127.0.0.1:9999/attack.html")]).is_err());
        assert!(post(&[COOKIE, HOST, ("referer", "not a url")]).is_err());
    }

    #[test]
    fn the_servers_own_pages_programs_and_tokens_pass() {
        assert!(post(&[COOKIE, HOST, ("origin", "http://127.0.0.1:8080")]).is_ok());
        assert!(post(&[COOKIE, HOST, ("sec-fetch-site", "same-origin")]).is_ok());
        assert!(post(&[COOKIE, HOST, ("referer", "http://127.0.0.1:8080/")]).is_ok());
        // curl: no Origin, no Sec-Fetch-Site, no Referer.
        assert!(post(&[COOKIE, HOST]).is_ok());
        // A Bearer token is never sent by a page on its own.
        assert!(post(&[COOKIE, HOST, ("authorization", "Bearer x"), ("origin", "http://evil.example")]).is_ok());
        // Reading is not changing.
        let foreign = headers(&[COOKIE, HOST, ("origin", "http://evil.example")]);
        assert!(allowed(&Method::GET, "/api/me", &foreign, &ServerConfig::default()).is_ok());
    }

    #[test]
    fn sign_in_from_another_origin_is_refused_without_a_cookie() {
        let login = |origin| {
            allowed(&Method::POST, "/api/auth/login", &headers(&[HOST, ("origin", origin)]), &ServerConfig::default())
        };
        assert!(login("http://evil.example").is_err());
        assert!(login("http://127.0.0.1:8080").is_ok());
    }

    #[test]
    fn behind_a_proxy_the_public_url_and_allowed_origins_count() {
        let config = ServerConfig {
            public_url: url::Url::parse("https://chat.example.org/").ok(),
            allowed_origins: vec!["https://admin.example.org".into()],
            ..ServerConfig::default()
        };
        let check = |origin: &'static str| {
            let headers = headers(&[COOKIE, ("host", "10.0.0.5:8080"), ("origin", origin)]);
            allowed(&Method::DELETE, "/api/conversations/x", &headers, &config)
        };
        assert!(check("https://chat.example.org").is_ok());
        assert!(check("https://chat.example.org:443").is_ok());
        assert!(check("https://admin.example.org").is_ok());
        assert!(check("http://10.0.0.5:8080").is_err(), "with public_url set, Host no longer counts");
        assert!(check("https://evil.example.org").is_err());
    }
}
