//! Outbound HTTP for plugins: a real client, reached only through the manifest's
//! `allowed_hosts`, with a timeout and caps on request and response sizes. Redirects are
//! not followed (a redirect could lead off the allowed list); the plugin sees them.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use plugboard_manifest::{NetworkPolicy, PluginId};

use crate::api::{HttpRequest, HttpResponse};
use crate::config::HttpConfig;
use crate::services::{ServiceError, ServiceErrorKind};

/// Headers a plugin may not set: the client manages them.
const MANAGED_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

/// The TLS settings of every outbound HTTP client (plugins' requests, model providers,
/// plugin indexes): ring as the crypto provider, chosen here rather than left to a
/// process-wide default, and the Mozilla root certificates compiled in. For
/// `reqwest::ClientBuilder::use_preconfigured_tls`.
pub fn tls_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot configure TLS: {error}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[derive(Debug)]
pub(crate) struct OutboundHttp {
    client: reqwest::Client,
    config: HttpConfig,
}

impl OutboundHttp {
    pub(crate) fn new(config: HttpConfig) -> Result<OutboundHttp, String> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config()?)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("plugboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(OutboundHttp { client, config })
    }

    /// Sends `request` for `plugin` if `policy` allows its URL, within `remaining` (the
    /// plugin call's deadline) and the configured timeout.
    pub(crate) async fn fetch(
        &self,
        plugin: &PluginId,
        policy: &NetworkPolicy,
        request: HttpRequest,
        remaining: Duration,
    ) -> Result<HttpResponse, ServiceError> {
        let url = url::Url::parse(&request.uri).map_err(|error| {
            ServiceError::new(
                ServiceErrorKind::InvalidInput,
                format!("`{}` is not an absolute URL: {error}", request.uri),
            )
        })?;
        if !policy.allows(&url) {
            let host = url.host_str().unwrap_or_default();
            let allowed: Vec<String> = policy.allowed_hosts.iter().map(ToString::to_string).collect();
            let message = match url.port_or_known_default() {
                Some(port) if policy.only_port_refused(&url) => format!(
                    "plugin `{plugin}` may not reach `{host}` on port {port} ({}): allowed hosts are [{}], and an entry without a port allows only port 80 (http) or 443 (https); add `{host}:{port}` (or `{host}:*`) to `[network] allowed_hosts` in plugin.toml",
                    url.scheme(),
                    allowed.join(", ")
                ),
                _ => format!(
                    "plugin `{plugin}` may not reach `{host}` ({}): allowed hosts are [{}]; add it to `[network] allowed_hosts` in plugin.toml",
                    url.scheme(),
                    allowed.join(", ")
                ),
            };
            return Err(ServiceError::new(ServiceErrorKind::PermissionDenied, message));
        }
        if request.body.len() > self.config.max_request_bytes {
            return Err(ServiceError::new(
                ServiceErrorKind::LimitExceeded,
                format!(
                    "the request body of {} bytes exceeds the {} byte limit",
                    request.body.len(),
                    self.config.max_request_bytes
                ),
            ));
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            ServiceError::new(ServiceErrorKind::InvalidInput, format!("`{}` is not an HTTP method", request.method))
        })?;
        let mut builder = self.client.request(method, url.clone());
        for (name, value) in &request.headers {
            if MANAGED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                continue;
            }
            builder = builder.header(name, value);
        }
        let timeout = self.config.timeout.min(remaining);
        let exchange = async {
            let response = builder.body(request.body).send().await.map_err(|error| transport_error(&url, &error))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
                .collect();
            let mut body = Vec::new();
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|error| transport_error(&url, &error))?;
                if body.len() + chunk.len() > self.config.max_response_bytes {
                    return Err(ServiceError::new(
                        ServiceErrorKind::LimitExceeded,
                        format!("the response from `{url}` exceeds the {} byte limit", self.config.max_response_bytes),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse { status, headers, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::new(
                ServiceErrorKind::Timeout,
                format!("`{url}` did not answer within {} ms", timeout.as_millis()),
            )),
        }
    }
}

fn transport_error(url: &url::Url, error: &reqwest::Error) -> ServiceError {
    // The source chain says why (connection refused, DNS, TLS); reqwest's own text does not.
    let mut message = format!("request to `{url}` failed");
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ServiceError::new(ServiceErrorKind::Unavailable, message)
}
