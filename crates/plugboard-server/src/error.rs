//! The API's one error type: an HTTP status, a stable machine-readable `code` and a message
//! for people, sent as `{"error": {"code", "message"}}`. Internal details are logged, not
//! sent.
//!
//! [`chat_status`] is the one table from a turn's or a plugin call's error ([`ChatError`],
//! which wraps the host's `CallError` and the models' `ProviderError`) to an HTTP status:
//! `/api/chat`, `/api/plugins/execute`, plugin routes, exports and the OpenAI-compatible
//! `/v1` all answer the same error with the same status and code.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use plugboard_chat::{ChatError, ProviderError};
use plugboard_host::{CallError, CallErrorKind};
use plugboard_registry::RegistryError;
use plugboard_store::StoreError;
use serde_json::json;

/// The status of each error a turn or a plugin call can end with.
pub fn chat_status(error: &ChatError) -> StatusCode {
    match error {
        ChatError::EmptyMessage
        | ChatError::InvalidText { .. }
        | ChatError::InvalidInput(_)
        | ChatError::UnknownPlugin { .. } => StatusCode::BAD_REQUEST,
        ChatError::MessageTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ChatError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ChatError::Model(error) => match error {
            // As OpenAI answers it (its clients raise `NotFoundError`), on every endpoint.
            ProviderError::UnknownModel { .. } => StatusCode::NOT_FOUND,
            ProviderError::ContextLength(_) => StatusCode::BAD_REQUEST,
            ProviderError::NoModel(_) | ProviderError::Unreachable { .. } | ProviderError::Busy(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProviderError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProviderError::Status { .. }
            | ProviderError::Protocol(_)
            | ProviderError::Plugin(_)
            | ProviderError::Failed(_) => StatusCode::BAD_GATEWAY,
        },
        ChatError::Plugin(error) => match error.kind {
            CallErrorKind::NotImplemented => StatusCode::NOT_FOUND,
            CallErrorKind::Plugin { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            CallErrorKind::Disabled | CallErrorKind::BreakerOpen { .. } | CallErrorKind::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            CallErrorKind::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            CallErrorKind::Deadline { .. } => StatusCode::GATEWAY_TIMEOUT,
            CallErrorKind::MemoryLimit { .. }
            | CallErrorKind::StackOverflow
            | CallErrorKind::Panic { .. }
            | CallErrorKind::Trap { .. }
            | CallErrorKind::OutputTooLarge { .. }
            | CallErrorKind::InvalidOutput { .. }
            | CallErrorKind::Instantiate { .. }
            | CallErrorKind::InitRefused { .. } => StatusCode::BAD_GATEWAY,
        },
        // The client is gone; nobody reads this status.
        ChatError::Cancelled => StatusCode::BAD_REQUEST,
        ChatError::Storage | ChatError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// For 429 and 503 of a plugin call: when to try again, in seconds.
fn chat_retry_after(error: &ChatError) -> Option<u64> {
    match error {
        // The bucket refills continuously: one call's worth takes 60 / rate seconds.
        ChatError::Plugin(CallError { kind: CallErrorKind::RateLimited { per_minute }, .. }) => {
            Some(60_u64.div_ceil(u64::from((*per_minute).max(1))))
        }
        ChatError::Plugin(CallError { kind: CallErrorKind::Busy, .. }) => Some(1),
        _ => None,
    }
}

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// For people: what went wrong and what to do.
    pub message: String,
    /// For invalid settings: every violation, `{"path", "message"}`.
    pub violations: Option<Vec<serde_json::Value>>,
    /// For 429 and 503: when to try again, in seconds (the `Retry-After` header).
    pub retry_after: Option<u64>,
}

/// Refuses a body that does not say it is JSON (`Content-Type: application/json` or a
/// `+json` type): a web page may send a form or `text/plain` body to any server without
/// asking it first, but not a JSON one, so this also keeps such pages out.
pub(crate) fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let media_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media_type == "application/json" || (media_type.starts_with("application/") && media_type.ends_with("+json")) {
        return Ok(());
    }
    let found = if media_type.is_empty() { "no Content-Type".to_owned() } else { format!("`{media_type}`") };
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_json",
        format!("the body must be JSON sent with `Content-Type: application/json`; this one has {found}"),
    ))
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), violations: None, retry_after: None }
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for a thing that does not exist, or that the caller may not see.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no {what} `{id}`"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(violations) = self.violations {
            error["violations"] = json!(violations);
        }
        let mut response = (self.status, Json(json!({"error": error}))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string()),
            StoreError::InvalidInput { .. } => ApiError::bad_request("invalid_input", error.to_string()),
            StoreError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            other => {
                tracing::error!("storage: {other}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage",
                    "the server could not read or write its database",
                )
            }
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> ApiError {
        ApiError {
            retry_after: chat_retry_after(&error),
            ..ApiError::new(chat_status(&error), error.code(), error.to_string())
        }
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> ApiError {
        ApiError::from(ChatError::Plugin(error))
    }
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> ApiError {
        ApiError::from(ChatError::Model(error))
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> ApiError {
        let status = match &error {
            RegistryError::UnknownPlugin { .. } | RegistryError::UnknownTask { .. } => StatusCode::NOT_FOUND,
            RegistryError::Store(store) => {
                tracing::error!("storage: {store}");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage",
                    "the server could not read or write its database",
                );
            }
            RegistryError::Package(plugboard_package::PackageError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            RegistryError::Package(plugboard_package::PackageError::BadIndex { .. }) => StatusCode::BAD_GATEWAY,
            RegistryError::InstallFolder { .. } | RegistryError::SecretNotSealed { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            RegistryError::Package(_) | RegistryError::ManifestMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            RegistryError::InvalidSettings { .. }
            | RegistryError::Load(_)
            | RegistryError::Dependency(_)
            | RegistryError::Hook(_)
            | RegistryError::IdChanged { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::CONFLICT,
        };
        ApiError::new(status, error.code(), error.to_string())
    }
}

/// A JSON request body, with a JSON error instead of axum's plain-text rejection: 400
/// `invalid_json` saying what is wrong and where, whether the body is not JSON or JSON of
/// the wrong shape (axum answers 422 for the second; the API keeps 422 for a plugin's
/// refusal), 415 `invalid_json` for another media type, 413 `body_too_large` over the
/// body limit.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is over this endpoint's limit: {}", rejection.body_text()),
            )),
            Err(rejection @ JsonRejection::JsonDataError(_)) => {
                Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", rejection.body_text()))
            }
            Err(rejection) => Err(ApiError::new(rejection.status(), "invalid_json", rejection.body_text())),
        }
    }
}
