//! [`PluginChoice`]: which of the globally enabled plugins a conversation switches off,
//! read by the turn (filters) and by the tool sources (tools), and the tool policies the
//! conversation narrows (read by `policy.rs`).

use std::collections::{BTreeMap, BTreeSet};

use plugboard_store::Conversation;
use serde::{Deserialize, Serialize};

use crate::tools::ToolPolicy;

/// Which of the globally enabled plugins a conversation switches off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginChoice {
    /// Plugins whose filters do not run in this conversation.
    #[serde(default)]
    pub disabled_filters: BTreeSet<String>,
    /// Plugins whose tools are not offered in this conversation.
    #[serde(default)]
    pub disabled_tools: BTreeSet<String>,
    /// Tools (by the name the model sees, or a whole source such as `plugin:calculator`)
    /// that wait for approval (`ask`) or never run (`deny`) in this conversation. A
    /// conversation can only narrow: the stricter of this and the administrator's policy
    /// applies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_policies: BTreeMap<String, ToolPolicy>,
}

impl PluginChoice {
    /// The conversation's choice (the global set when it has none).
    pub fn of(conversation: &Conversation) -> PluginChoice {
        conversation.plugins.clone().and_then(|value| serde_json::from_value(value).ok()).unwrap_or_default()
    }
}
