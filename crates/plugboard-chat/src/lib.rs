//! Plugboard's chat core: the [`Provider`] seam to models (with the OpenAI-compatible
//! provider) and the [`ChatEngine`] that runs a chat turn through the plugin pipeline and
//! keeps both sides, and the plugin trace, in the store.

mod engine;
mod openai;
mod provider;
mod services;
mod stateless;
pub mod trace;

pub use engine::{
    ChatEngine, EngineConfig, PipelineError, PluginChoice, TurnEvent, TurnRequest, api_conversation, api_message,
};
pub use openai::{OpenAiConfig, OpenAiProvider};
pub use provider::{ModelEntry, ModelOverview, Models, PluginProvider, Provider, ProviderError, ProviderProblem};
pub use services::{ModelsAi, SharedModels, StoreChat};
pub use stateless::StatelessOutcome;
