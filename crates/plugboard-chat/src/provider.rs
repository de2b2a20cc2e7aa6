//! The seam to the models: a [`Provider`] lists models and streams completions; the
//! [`Models`] registry merges every provider into one list with stable ids
//! `<provider>/<model>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use plugboard_host::api::{Completion, CompletionChunk, CompletionRequest, ModelInfo};
use serde::Serialize;
use tokio::sync::mpsc;

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

/// A model of the merged list.
#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    /// `<provider>/<model>`.
    pub id: String,
    /// The provider.
    pub provider: String,
    /// What the provider says about it (its `id` is the provider's own model id).
    pub info: ModelInfo,
}

/// What [`Models::overview`] reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelOverview {
    /// Every model now offered.
    pub models: Vec<ModelEntry>,
    /// The model used when a request names none, if set.
    pub default: Option<String>,
    /// Providers that offer nothing now, and why.
    pub problems: Vec<ProviderProblem>,
}

/// A provider that offers no models now.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderProblem {
    /// The provider.
    pub provider: String,
    /// A stable code ([`ProviderError::code`]).
    pub code: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

/// Every provider, by id: the configured ones, and the loaded plugins that implement the
/// provider hook (looked up at each use, so plugins come and go with the registry).
#[derive(Debug, Clone, Default)]
pub struct Models {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    default_model: Option<String>,
    plugins: Option<plugboard_registry::Registry>,
}

/// A plugin implementing the provider hook, as a [`Provider`] (its id is the plugin id).
#[derive(Debug, Clone)]
pub struct PluginProvider {
    plugin: plugboard_host::Plugin,
}

impl PluginProvider {
    /// The provider of `plugin`.
    pub fn new(plugin: plugboard_host::Plugin) -> PluginProvider {
        PluginProvider { plugin }
    }
}

#[async_trait]
impl Provider for PluginProvider {
    fn id(&self) -> &str {
        self.plugin.id().as_str()
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, ProviderError> {
        self.plugin.list_models().await.map_err(|error| ProviderError::Plugin(error.to_string()))
    }

    async fn complete(
        &self,
        request: CompletionRequest,
        sink: mpsc::Sender<CompletionChunk>,
    ) -> Result<Completion, ProviderError> {
        self.plugin.complete(request, sink).await.map_err(|error| ProviderError::Plugin(error.to_string()))
    }
}

impl Models {
    /// No providers.
    pub fn new() -> Models {
        Models::default()
    }

    /// Adds (or replaces) a provider.
    pub fn add(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.id().to_owned(), provider);
    }

    /// Offers the models of the registry's enabled provider plugins too.
    pub fn with_plugins(&mut self, registry: plugboard_registry::Registry) {
        self.plugins = Some(registry);
    }

    /// Every provider now: the configured ones, then the enabled provider plugins.
    fn providers(&self) -> BTreeMap<String, Arc<dyn Provider>> {
        let mut providers = self.providers.clone();
        if let Some(registry) = &self.plugins {
            for plugin in registry.runtime().plugins() {
                if plugin.implements(plugboard_host::Hook::Provider) && plugin.is_enabled() {
                    let provider: Arc<dyn Provider> = Arc::new(PluginProvider::new(plugin));
                    providers.entry(provider.id().to_owned()).or_insert(provider);
                }
            }
        }
        providers
    }

    /// The model used when a request names none (`<provider>/<model>`).
    pub fn set_default(&mut self, model: Option<String>) {
        self.default_model = model;
    }

    /// Every model of every provider; a provider that fails is logged and skipped.
    pub async fn list(&self) -> Vec<ModelEntry> {
        self.overview().await.models
    }

    /// Every model of every provider, the default model, and why each provider that
    /// offers nothing does not (still downloading, unreachable…), for people to act on.
    pub async fn overview(&self) -> ModelOverview {
        let mut overview = ModelOverview { default: self.default_model.clone(), ..ModelOverview::default() };
        for (id, provider) in &self.providers() {
            match provider.models().await {
                Ok(models) => overview.models.extend(models.into_iter().map(|info| ModelEntry {
                    id: format!("{id}/{}", info.id),
                    provider: id.clone(),
                    info,
                })),
                Err(error) => {
                    tracing::debug!(provider = %id, "cannot list models: {error}");
                    overview.problems.push(ProviderProblem {
                        provider: id.clone(),
                        code: error.code(),
                        message: error.to_string(),
                    });
                }
            }
        }
        overview
    }

    /// The provider and provider-local model id for `model` (`<provider>/<model>`), or the
    /// default model (else the first model listed) when `None`.
    pub async fn resolve(&self, model: Option<&str>) -> Result<(Arc<dyn Provider>, String), ProviderError> {
        let wanted = match model.or(self.default_model.as_deref()) {
            Some(model) => model.to_owned(),
            None => {
                let overview = self.overview().await;
                match overview.models.into_iter().next() {
                    Some(first) => first.id,
                    None if overview.problems.is_empty() => {
                        return Err(ProviderError::NoModel(
                            "no model provider is configured or reachable; configure an OpenAI-compatible server (models.openai.base_url) or a local model (--model <file.gguf>) and try again".into(),
                        ));
                    }
                    None => {
                        let problems: Vec<String> =
                            overview.problems.into_iter().map(|problem| problem.message).collect();
                        return Err(ProviderError::NoModel(problems.join("; ")));
                    }
                }
            }
        };
        let unknown = || async {
            ProviderError::UnknownModel {
                model: wanted.clone(),
                available: self.list().await.into_iter().map(|entry| entry.id).collect(),
            }
        };
        let Some((provider_id, local)) = wanted.split_once('/') else { return Err(unknown().await) };
        match self.providers().get(provider_id) {
            Some(provider) => Ok((provider.clone(), local.to_owned())),
            None => Err(unknown().await),
        }
    }
}
