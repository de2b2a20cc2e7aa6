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
    /// The model used when a request names none: the configured default, else the first
    /// model listed by a configured provider (never a provider plugin's unless configured).
    pub default: Option<String>,
    /// Why `default` is `None`, for people to act on.
    pub no_default_reason: Option<String>,
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
        let mut overview = ModelOverview::default();
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
        match self.default_model.clone() {
            Some(model) => overview.default = Some(model),
            None => {
                let configured = |provider: &str| self.providers.contains_key(provider);
                let first = overview.models.iter().find(|entry| configured(&entry.provider));
                overview.default = first.map(|entry| entry.id.clone());
                if overview.default.is_none() {
                    let problems: Vec<&ProviderProblem> =
                        overview.problems.iter().filter(|problem| configured(&problem.provider)).collect();
                    overview.no_default_reason = Some(no_default_reason(&problems));
                }
            }
        }
        overview
    }

    /// The first model a configured provider lists, or why there is none. Provider
    /// plugins are not asked: a request that names no model never goes to a plugin the
    /// operator did not make the default.
    async fn first_configured_model(&self) -> Result<String, String> {
        let mut problems = Vec::new();
        for (id, provider) in &self.providers {
            match provider.models().await {
                Ok(models) => {
                    if let Some(first) = models.into_iter().next() {
                        return Ok(format!("{id}/{}", first.id));
                    }
                }
                Err(error) => problems.push(ProviderProblem {
                    provider: id.clone(),
                    code: error.code(),
                    message: error.to_string(),
                }),
            }
        }
        Err(no_default_reason(&problems.iter().collect::<Vec<_>>()))
    }

    /// The provider and provider-local model id for `model` (`<provider>/<model>`), or the
    /// default model when `None`: the configured default, else the first model a
    /// configured provider lists (a provider plugin only when it is the configured default).
    pub async fn resolve(&self, model: Option<&str>) -> Result<(Arc<dyn Provider>, String), ProviderError> {
        let wanted = match model.or(self.default_model.as_deref()) {
            Some(model) => model.to_owned(),
            None => self.first_configured_model().await.map_err(ProviderError::NoModel)?,
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

/// Why there is no default model, given the configured providers' problems.
fn no_default_reason(problems: &[&ProviderProblem]) -> String {
    if problems.is_empty() {
        return "no default model is configured and no configured model server offers one; set one with --default-model <provider/model> (or `[models] default`), configure an OpenAI-compatible server (models.openai.base_url) or a local model (--model <file.gguf>); a provider plugin's models are used only when a request names them or one is the default".to_owned();
    }
    let problems: Vec<String> = problems.iter().map(|problem| problem.message.clone()).collect();
    format!("no configured model server offers a model now: {}", problems.join("; "))
}
