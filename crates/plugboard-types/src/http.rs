//! HTTP requests and responses as plugins see them: a plugin route's request and answer,
//! a plugin's outgoing request, and what a request filter decides.

use serde::{Deserialize, Serialize};

/// An HTTP request (incoming to a plugin route, outgoing from a plugin, or an API request
/// seen by a request filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// Path (incoming) or absolute URL (outgoing).
    pub uri: String,
    /// Lower-case header names with values.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// An HTTP response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// What a request-level filter decided about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Pass it on unchanged.
    Keep,
    /// Pass this one on instead.
    Rewrite(HttpRequest),
    /// Answer with this response.
    Respond(HttpResponse),
}

/// What a request-level filter decided about a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// Unchanged.
    Keep,
    /// Replaced.
    Rewrite(HttpResponse),
}
