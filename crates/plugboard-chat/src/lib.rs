//! Plugboard's chat core: the [`ChatEngine`] that runs a chat turn through the plugin
//! pipeline and keeps both sides, and the plugin trace, in the store; the model list
//! ([`Models`]) over every [`Provider`]; and the seams it sees the rest through: the
//! plugins as a `PluginSet` (implemented by the registry), tools as [`ToolSource`]s,
//! changing providers as a [`ProviderSource`]. It never sees the registry itself.

mod choice;
mod convert;
mod engine;
mod error;
mod live;
mod policy;
mod provider;
mod services;
mod stateless;
mod text;
mod tools;
pub mod trace;

pub use choice::PluginChoice;
pub use convert::{api_conversation, api_file_info, api_message};
pub use engine::ToolCallError;
pub use engine::{ApprovalAnswer, ApprovalError, ToolPolicyOverview};
pub use engine::{ChatEngine, EngineConfig, STREAMING_STALE_AFTER, TurnEvent, TurnRequest, WeakEngine};
pub use error::{ChatError, Refused};
pub use live::LiveEvent;
pub use plugboard_types::{Provider, ProviderError};
pub use policy::{PolicyDecision, PolicyOrigin, ToolPolicies, parse_policy, policy_name, source_key};
pub use provider::{
    ModelEntry, ModelOverview, Models, PluginProvider, PluginProviders, ProviderProblem, ProviderSource,
};
pub use services::{ModelsAi, SharedModels, StoreChat};
pub use stateless::{ServerTools, StatelessOutcome};
pub use text::{check_text, without_nul};
pub use tools::{OfferedTool, PluginTools, ToolPolicy, ToolSource};
