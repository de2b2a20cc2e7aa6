//! Every error of the API in its one JSON shape: an answer of 400 or more that is not JSON
//! (axum's own rejections of a bad query string or path, a body over its limit, a method
//! the path does not take) becomes an [`ApiError`] with a stable code for its status and
//! the original text as its message. A plugin's own answers (on its routes, marked by their
//! sandbox `Content-Security-Policy`) are as the plugin chooses; the server's answers on those
//! routes, such as a method the route does not take, are JSON like any other.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The largest non-JSON error body kept as the message.
const MAX_TEXT: usize = 4096;

/// Turns a non-JSON error answer into the API's JSON error shape.
pub(crate) async fn ensure_json(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if status.as_u16() < 400
        || is_json(response.headers().get(header::CONTENT_TYPE))
        || is_plugins_own(response.headers().get(header::CONTENT_SECURITY_POLICY))
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_TEXT)
        .await
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .filter(|text| !text.is_empty());
    let message = text.unwrap_or_else(|| match status {
        StatusCode::METHOD_NOT_ALLOWED => format!("`{path}` does not take {method}"),
        _ => status.canonical_reason().unwrap_or("the request failed").to_owned(),
    });
    let mut json = ApiError::new(status, code(status, &message), message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = parts.headers.get(&name) {
            json.headers_mut().insert(name, value.clone());
        }
    }
    json
}

/// An answer a plugin made itself: `plugin_http` serves every one in a sandbox (and no
/// other answer of the server is sandboxed).
fn is_plugins_own(policy: Option<&HeaderValue>) -> bool {
    policy.and_then(|value| value.to_str().ok()).is_some_and(|value| value.starts_with("sandbox"))
}

fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type.and_then(|value| value.to_str().ok()).is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
    })
}

/// The stable code of an error answer of `status` (with axum's `text`).
fn code(status: StatusCode, text: &str) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST if text.starts_with("Failed to deserialize query string") => "invalid_query",
        StatusCode::BAD_REQUEST if text.starts_with("Invalid URL") || text.starts_with("Invalid UTF-8") => {
            "invalid_path"
        }
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::GATEWAY_TIMEOUT => "timeout",
        status if status.is_server_error() => "internal",
        _ => "http_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plugins_own_answers_are_left_alone() {
        assert!(is_plugins_own(Some(&HeaderValue::from_static("sandbox allow-scripts; default-src 'none'"))));
        assert!(!is_plugins_own(Some(&HeaderValue::from_static("default-src 'self'"))));
        assert!(!is_plugins_own(None));
    }

    #[test]
    fn json_is_known_by_its_media_type() {
        assert!(is_json(Some(&HeaderValue::from_static("application/json"))));
        assert!(is_json(Some(&HeaderValue::from_static("application/problem+json; charset=utf-8"))));
        assert!(!is_json(Some(&HeaderValue::from_static("text/plain; charset=utf-8"))));
        assert!(!is_json(None));
    }
}
