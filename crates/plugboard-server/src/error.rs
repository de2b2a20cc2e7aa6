//! The API's one error type: an HTTP status, a stable machine-readable `code` and a message
//! for people, sent as `{"error": {"code", "message"}}`. Internal details are logged, not
//! sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use plugboard_host::{CallError, CallErrorKind};
use plugboard_registry::RegistryError;
use plugboard_store::StoreError;
use serde_json::json;

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

impl From<CallError> for ApiError {
    fn from(error: CallError) -> ApiError {
        let status = match error.kind {
            CallErrorKind::NotImplemented => StatusCode::NOT_FOUND,
            CallErrorKind::Plugin { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            CallErrorKind::Disabled | CallErrorKind::BreakerOpen { .. } | CallErrorKind::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            CallErrorKind::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_GATEWAY,
        };
        let retry_after = match &error.kind {
            // The bucket refills continuously: one call's worth takes 60 / rate seconds.
            CallErrorKind::RateLimited { per_minute } => Some(60_u64.div_ceil(u64::from((*per_minute).max(1)))),
            CallErrorKind::Busy => Some(1),
            _ => None,
        };
        ApiError { retry_after, ..ApiError::new(status, error.kind.code(), error.to_string()) }
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> ApiError {
        let status = match &error {
            RegistryError::UnknownPlugin { .. } => StatusCode::NOT_FOUND,
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
            RegistryError::InstallFolder { .. } => StatusCode::INTERNAL_SERVER_ERROR,
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

/// A JSON request body, with a JSON error (`invalid_json`, saying what is wrong and where)
/// instead of axum's plain-text rejection.
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
            Err(rejection) => Err(ApiError::new(rejection.status(), "invalid_json", rejection.body_text())),
        }
    }
}
