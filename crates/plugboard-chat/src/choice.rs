//! [`PluginChoice`]: which of the globally enabled plugins a conversation switches off,
//! read by the turn (filters) and by the tool sources (tools).

use std::collections::BTreeSet;

use plugboard_store::Conversation;
use serde::{Deserialize, Serialize};

/// Which of the globally enabled plugins a conversation switches off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginChoice {
    /// Plugins whose filters do not run in this conversation.
    #[serde(default)]
    pub disabled_filters: BTreeSet<String>,
    /// Plugins whose tools are not offered in this conversation.
    #[serde(default)]
    pub disabled_tools: BTreeSet<String>,
}

impl PluginChoice {
    /// The conversation's choice (the global set when it has none).
    pub fn of(conversation: &Conversation) -> PluginChoice {
        conversation.plugins.clone().and_then(|value| serde_json::from_value(value).ok()).unwrap_or_default()
    }
}
