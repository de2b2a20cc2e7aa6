//! The model list: [`Models`] merges every [`Provider`] into one list with stable ids
//! `<provider>/<model>`: the configured ones, and those a [`ProviderSource`] offers now
//! (the enabled provider plugins, through [`PluginProviders`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use plugboard_host::{Hook, PluginSet};
use plugboard_types::{Completion, CompletionChunk, CompletionRequest, ModelInfo, Provider, ProviderError};
use serde::Serialize;
use tokio::sync::mpsc;

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

/// Providers that come and go: asked at each use of the model list.
pub trait ProviderSource: Send + Sync + std::fmt::Debug {
    /// The providers offered now.
    fn providers(&self) -> Vec<Arc<dyn Provider>>;
}

/// The enabled plugins that implement the provider hook, as providers.
#[derive(Debug, Clone)]
pub struct PluginProviders {
    plugins: Arc<dyn PluginSet>,
}

impl PluginProviders {
    /// The provider plugins of `plugins`. The model list sits behind the plugins' own `ai`
    /// service, so give it a set that does not keep the runtime alive
    /// (`Runtime::weak_plugins`).
    pub fn new(plugins: Arc<dyn PluginSet>) -> PluginProviders {
        PluginProviders { plugins }
    }
}

impl ProviderSource for PluginProviders {
    fn providers(&self) -> Vec<Arc<dyn Provider>> {
        self.plugins
            .plugins()
            .into_iter()
            .filter(|plugin| plugin.implements(Hook::Provider) && plugin.is_enabled())
            .map(|plugin| Arc::new(PluginProvider::new(plugin)) as Arc<dyn Provider>)
            .collect()
    }
}

/// Every provider, by id: the configured ones, then those of the [`ProviderSource`]
/// (looked up at each use, so provider plugins come and go with the registry).
#[derive(Debug, Clone, Default)]
pub struct Models {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    default_model: Option<String>,
    source: Option<Arc<dyn ProviderSource>>,
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

    /// Offers the providers of `source` too (a configured provider wins over one of the
    /// source with the same id).
    pub fn with_source(&mut self, source: Arc<dyn ProviderSource>) {
        self.source = Some(source);
    }

    /// Every provider now: the configured ones, then the source's.
    fn providers(&self) -> BTreeMap<String, Arc<dyn Provider>> {
        let mut providers = self.providers.clone();
        for provider in self.source.iter().flat_map(|source| source.providers()) {
            providers.entry(provider.id().to_owned()).or_insert(provider);
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
