//! The local model as the chat core's `local` provider.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use plugboard_types::{Completion, CompletionChunk, CompletionRequest, ModelInfo};
use plugboard_types::{Provider, ProviderError};
use tokio::sync::mpsc;

use crate::error::LocalError;
use crate::generate::Sampling;
use crate::model::LocalModel;

/// Where the local model is.
#[derive(Debug, Clone)]
pub enum LocalState {
    /// Being downloaded or loaded; the text says what is happening, for people.
    Preparing(String),
    /// Loaded and answering.
    Ready(LocalModel),
    /// Cannot be had; the text says why and what to do.
    Unavailable(String),
}

/// The `local` provider: one embedded model, or a clear account of why there is none yet.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    state: Arc<RwLock<LocalState>>,
}

impl LocalProvider {
    /// A provider in `state`.
    pub fn new(state: LocalState) -> LocalProvider {
        LocalProvider { state: Arc::new(RwLock::new(state)) }
    }

    /// Moves to `state` (a download finished, a load failed…).
    pub fn set(&self, state: LocalState) {
        *self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
    }

    /// Where it is now.
    pub fn state(&self) -> LocalState {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn ready(&self) -> Result<LocalModel, ProviderError> {
        match self.state() {
            LocalState::Ready(model) => Ok(model),
            LocalState::Preparing(what) => Err(ProviderError::NoModel(format!(
                "the local model is not ready yet ({what}); try again when it is, or pick another model"
            ))),
            LocalState::Unavailable(why) => Err(ProviderError::NoModel(why)),
        }
    }
}

/// The model's entry in the model list.
pub(crate) fn model_info(model: &LocalModel) -> ModelInfo {
    let summary = model.summary();
    ModelInfo {
        id: summary.name.clone(),
        display_name: format!("{} (local)", summary.name),
        context_length: summary.context_length as u32,
        supports_tools: summary.supports_tools,
    }
}

impl From<LocalError> for ProviderError {
    fn from(error: LocalError) -> ProviderError {
        match error {
            LocalError::Busy { .. } => ProviderError::Busy(error.to_string()),
            LocalError::ContextOverflow { .. } => ProviderError::ContextLength(error.to_string()),
            _ => ProviderError::Failed(error.to_string()),
        }
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn id(&self) -> &str {
        "local"
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, ProviderError> {
        Ok(vec![model_info(&self.ready()?)])
    }

    async fn complete(
        &self,
        request: CompletionRequest,
        sink: mpsc::Sender<CompletionChunk>,
    ) -> Result<Completion, ProviderError> {
        let model = self.ready()?;
        if request.model != model.summary().name {
            return Err(ProviderError::UnknownModel {
                model: format!("local/{}", request.model),
                available: vec![format!("local/{}", model.summary().name)],
            });
        }
        let mut sampling = Sampling::default();
        if let Some(temperature) = request.temperature {
            sampling.temperature = f64::from(temperature);
        }
        if let Some(top_p) = request.top_p {
            sampling.top_p = f64::from(top_p);
        }
        if let Some(max_tokens) = request.max_tokens {
            sampling.max_tokens = max_tokens as usize;
        }
        let generation = model.generate(&request.messages, &request.tools, sampling, sink).await?;
        let mut notices = Vec::new();
        if generation.trimmed_messages > 0 {
            notices.push(format!(
                "left out the {} oldest messages so the conversation fits the model's context of {} tokens",
                generation.trimmed_messages,
                model.summary().context_length
            ));
        }
        if !request.tools.is_empty() && !model.summary().supports_tools {
            notices.push(format!("the model {} has no tool calling; tools were not offered", model.summary().name));
        }
        Ok(Completion {
            content: generation.text,
            tool_calls: generation.tool_calls,
            finish_reason: generation.finish_reason,
            usage: generation.usage,
            notices,
        })
    }
}
