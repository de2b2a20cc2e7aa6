//! The web interface: plain JavaScript modules, HTML and CSS embedded in the binary at
//! compile time (no build step, nothing fetched at run time), served at `/` and `/ui/*`;
//! and the interactive API reference at `/api/docs`, made the same way.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Every file of the interface: name, media type, contents.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../ui/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../ui/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../ui/api.js")),
    ("auth.js", "text/javascript; charset=utf-8", include_bytes!("../ui/auth.js")),
    ("chat.js", "text/javascript; charset=utf-8", include_bytes!("../ui/chat.js")),
    ("approvals.js", "text/javascript; charset=utf-8", include_bytes!("../ui/approvals.js")),
    ("conversations.js", "text/javascript; charset=utf-8", include_bytes!("../ui/conversations.js")),
    ("live.js", "text/javascript; charset=utf-8", include_bytes!("../ui/live.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_bytes!("../ui/dom.js")),
    ("plugin-frames.js", "text/javascript; charset=utf-8", include_bytes!("../ui/plugin-frames.js")),
    ("plugins-admin.js", "text/javascript; charset=utf-8", include_bytes!("../ui/plugins-admin.js")),
    ("users-admin.js", "text/javascript; charset=utf-8", include_bytes!("../ui/users-admin.js")),
    ("mcp-admin.js", "text/javascript; charset=utf-8", include_bytes!("../ui/mcp-admin.js")),
    ("settings-form.js", "text/javascript; charset=utf-8", include_bytes!("../ui/settings-form.js")),
    ("state.js", "text/javascript; charset=utf-8", include_bytes!("../ui/state.js")),
    ("theme.js", "text/javascript; charset=utf-8", include_bytes!("../ui/theme.js")),
    ("markdown.js", "text/javascript; charset=utf-8", include_bytes!("../ui/markdown.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../ui/style.css")),
    ("icon.svg", "image/svg+xml", include_bytes!("../ui/icon.svg")),
    ("api-docs.html", "text/html; charset=utf-8", include_bytes!("../ui/api-docs.html")),
    ("api-docs.js", "text/javascript; charset=utf-8", include_bytes!("../ui/api-docs.js")),
    ("api-docs.css", "text/css; charset=utf-8", include_bytes!("../ui/api-docs.css")),
];

/// The page's own policy: its scripts and styles only, no inline script, no framing by
/// other sites.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn file(name: &str) -> Response {
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, media_type, bytes)) => {
            let mut response = (StatusCode::OK, *bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
            // Files change with the binary; revalidate so an upgrade is seen at once.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            response
        }
        None => {
            crate::error::ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no file `{name}`")).into_response()
        }
    }
}

/// `GET /`: the studio.
pub(crate) async fn index() -> Response {
    file("index.html")
}

/// `GET /favicon.ico`: browsers ask for it whatever the page says.
pub(crate) async fn favicon() -> Response {
    file("icon.svg")
}

/// The interactive API reference
///
/// A page that reads `/api/openapi.json` and lets you try each operation with your session.
/// Everything it needs is embedded in the server: it works offline.
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "reference",
    operation_id = "api_reference",
    security(),
    responses((status = 200, description = "The page", body = String, content_type = "text/html"))
)]
pub(crate) async fn api_reference() -> Response {
    file("api-docs.html")
}

/// `GET /ui/{file}`.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    file(&name)
}
