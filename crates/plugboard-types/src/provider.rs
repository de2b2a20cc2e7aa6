//! The seam to the models: a [`Provider`] lists models and streams completions. The
//! embedded model, the OpenAI-compatible client and provider plugins implement it; the
//! chat core merges them into one model list.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::completion::{Completion, CompletionChunk, CompletionRequest, ModelInfo};

/// Why a provider could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The model server could not be reached.
    #[error("cannot reach the model server at {url}: {message}; check that it runs and the base URL is right")]
    Unreachable {
        /// Where.
        url: String,
        /// Why.
        message: String,
    },
    /// The model server answered with an error.
    #[error("the model server answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The model server's answer did not follow the protocol.
    #[error("the model server sent something unexpected: {0}")]
    Protocol(String),
    /// It took too long.
    #[error("the model did not answer within {seconds} s")]
    Timeout {
        /// The limit.
        seconds: u64,
    },
    /// No such model.
    #[error("no model `{model}`; available: {}", .available.join(", "))]
    UnknownModel {
        /// Asked for.
        model: String,
        /// What there is.
        available: Vec<String>,
    },
    /// No model is configured or reachable at all.
    #[error("no model is available: {0}")]
    NoModel(String),
    /// The provider is a plugin and its call failed (the call error, as text).
    #[error("{0}")]
    Plugin(String),
    /// The model is serving as many requests as it can; try again shortly.
    #[error("{0}")]
    Busy(String),
    /// The conversation does not fit the model's context.
    #[error("{0}")]
    ContextLength(String),
    /// The model failed while generating.
    #[error("{0}")]
    Failed(String),
}

impl ProviderError {
    /// Every code [`ProviderError::code`] gives, for the API's documentation.
    pub const CODES: [&'static str; 10] = [
        "model_unreachable",
        "model_error",
        "model_protocol",
        "model_timeout",
        "unknown_model",
        "no_model",
        "model_plugin_failed",
        "model_busy",
        "context_length_exceeded",
        "model_failed",
    ];

    /// A stable code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Unreachable { .. } => "model_unreachable",
            ProviderError::Status { .. } => "model_error",
            ProviderError::Protocol(_) => "model_protocol",
            ProviderError::Timeout { .. } => "model_timeout",
            ProviderError::UnknownModel { .. } => "unknown_model",
            ProviderError::NoModel(_) => "no_model",
            ProviderError::Plugin(_) => "model_plugin_failed",
            ProviderError::Busy(_) => "model_busy",
            ProviderError::ContextLength(_) => "context_length_exceeded",
            ProviderError::Failed(_) => "model_failed",
        }
    }
}

/// Something that serves models.
#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The provider's id, the first part of its models' ids (`openai`, `local`, a plugin id).
    fn id(&self) -> &str;
    /// Its models.
    async fn models(&self) -> Result<Vec<ModelInfo>, ProviderError>;
    /// Streams a completion: text and tool calls go to `sink` as they come, and the
    /// finished completion is returned. Dropping the future cancels generation; a closed
    /// `sink` should stop it too.
    async fn complete(
        &self,
        request: CompletionRequest,
        sink: mpsc::Sender<CompletionChunk>,
    ) -> Result<Completion, ProviderError>;
}
