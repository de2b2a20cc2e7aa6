//! Which policy a tool call meets: the administrators' ([`ToolPolicies`], kept in the
//! store by key: a tool's name as the model sees it, or a whole source such as
//! `plugin:calculator` or `mcp:files`, the tool's own entry winning), else the tool's
//! default; then a conversation may narrow it ([`PluginChoice::tool_policies`]), never
//! widen it: the stricter of the two applies.

use std::collections::HashMap;

use plugboard_store::ToolPolicyEntry;
use serde::Serialize;

use crate::choice::PluginChoice;
use crate::tools::{OfferedTool, ToolPolicy};

/// The key of all of a tool's source's tools: `plugin:<id>` for a plugin's, the source as
/// it is for the others (`mcp:<server>`).
pub fn source_key(tool: &OfferedTool) -> String {
    if tool.source.contains(':') { tool.source.clone() } else { format!("plugin:{}", tool.source) }
}

/// Parses a policy's name.
pub fn parse_policy(name: &str) -> Option<ToolPolicy> {
    match name {
        "auto" => Some(ToolPolicy::Auto),
        "ask" => Some(ToolPolicy::Ask),
        "deny" => Some(ToolPolicy::Deny),
        _ => None,
    }
}

/// A policy's name.
pub fn policy_name(policy: ToolPolicy) -> &'static str {
    match policy {
        ToolPolicy::Auto => "auto",
        ToolPolicy::Ask => "ask",
        ToolPolicy::Deny => "deny",
    }
}

/// Who decided a tool's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyOrigin {
    /// The tool's default (plugin tools `auto`, MCP servers' tools `ask`).
    Default,
    /// An administrator, for this key.
    Administrator {
        /// The key set: the tool's name or its source's.
        key: String,
    },
    /// The conversation, for this key.
    Conversation {
        /// The key set: the tool's name or its source's.
        key: String,
    },
}

/// The policy a tool call meets and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDecision {
    /// What applies.
    pub policy: ToolPolicy,
    /// Who decided it.
    pub origin: PolicyOrigin,
}

impl PolicyDecision {
    /// Which policy decided, for the person and the trace.
    pub fn reason(&self) -> String {
        let policy = policy_name(self.policy);
        match &self.origin {
            PolicyOrigin::Default => format!("the tool's default policy is {policy}"),
            PolicyOrigin::Administrator { key } => format!("an administrator set `{key}` to {policy}"),
            PolicyOrigin::Conversation { key } => format!("this conversation sets `{key}` to {policy}"),
        }
    }
}

/// The policies administrators set, by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolPolicies {
    by_key: HashMap<String, ToolPolicy>,
}

impl ToolPolicies {
    /// The policies of the store's entries; an entry whose policy is not one this build
    /// knows counts as `deny`, the safe side.
    pub fn from_entries(entries: &[ToolPolicyEntry]) -> ToolPolicies {
        let by_key = entries
            .iter()
            .map(|entry| (entry.key.clone(), parse_policy(&entry.policy).unwrap_or(ToolPolicy::Deny)))
            .collect();
        ToolPolicies { by_key }
    }

    /// What an administrator set for `key`.
    pub fn get(&self, key: &str) -> Option<ToolPolicy> {
        self.by_key.get(key).copied()
    }

    /// The administrators' policy of `tool` (its own entry, else its source's, else its
    /// default).
    pub fn administered(&self, tool: &OfferedTool) -> PolicyDecision {
        for key in [tool.spec.name.clone(), source_key(tool)] {
            if let Some(policy) = self.get(&key) {
                return PolicyDecision { policy, origin: PolicyOrigin::Administrator { key } };
            }
        }
        PolicyDecision { policy: tool.default_policy, origin: PolicyOrigin::Default }
    }

    /// The policy of `tool` in a conversation with `choice`: the stricter of the
    /// administrators' and the conversation's (which only narrows; an `auto` there counts
    /// for nothing).
    pub fn decide(&self, tool: &OfferedTool, choice: &PluginChoice) -> PolicyDecision {
        let mut decision = self.administered(tool);
        for key in [tool.spec.name.clone(), source_key(tool)] {
            if let Some(&policy) = choice.tool_policies.get(&key)
                && policy > decision.policy
            {
                decision = PolicyDecision { policy, origin: PolicyOrigin::Conversation { key } };
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use plugboard_types::ToolSpec;

    use super::*;

    fn tool(name: &str, source: &str, default_policy: ToolPolicy) -> OfferedTool {
        OfferedTool {
            spec: ToolSpec { name: name.to_owned(), description: String::new(), parameters: serde_json::json!({}) },
            source: source.to_owned(),
            tool: name.rsplit("__").next().unwrap_or(name).to_owned(),
            default_policy,
        }
    }

    fn policies(entries: &[(&str, &str)]) -> ToolPolicies {
        let entries: Vec<ToolPolicyEntry> = entries
            .iter()
            .map(|(key, policy)| ToolPolicyEntry {
                key: (*key).to_owned(),
                policy: (*policy).to_owned(),
                updated_at_ms: 0,
            })
            .collect();
        ToolPolicies::from_entries(&entries)
    }

    fn narrowing(entries: &[(&str, ToolPolicy)]) -> PluginChoice {
        PluginChoice {
            tool_policies: entries.iter().map(|(key, policy)| ((*key).to_owned(), *policy)).collect(),
            ..PluginChoice::default()
        }
    }

    #[test]
    fn the_tools_own_entry_wins_over_its_sources_and_both_over_the_default() {
        let calculate = tool("calculator__calculate", "calculator", ToolPolicy::Auto);
        let read = tool("mcp_files__read", "mcp:files", ToolPolicy::Ask);
        let none = PluginChoice::default();
        assert_eq!(ToolPolicies::default().decide(&calculate, &none).policy, ToolPolicy::Auto);
        assert_eq!(ToolPolicies::default().decide(&read, &none).policy, ToolPolicy::Ask);
        let set = policies(&[("plugin:calculator", "deny"), ("calculator__calculate", "ask"), ("mcp:files", "auto")]);
        let decision = set.decide(&calculate, &none);
        assert_eq!(decision.policy, ToolPolicy::Ask);
        assert_eq!(decision.reason(), "an administrator set `calculator__calculate` to ask");
        assert_eq!(set.decide(&read, &none).policy, ToolPolicy::Auto);
        assert_eq!(
            set.decide(&tool("calculator__other", "calculator", ToolPolicy::Auto), &none).policy,
            ToolPolicy::Deny
        );
    }

    #[test]
    fn a_conversation_narrows_but_never_widens() {
        let calculate = tool("calculator__calculate", "calculator", ToolPolicy::Auto);
        let set = policies(&[("calculator__calculate", "deny")]);
        let widening = narrowing(&[("calculator__calculate", ToolPolicy::Auto)]);
        assert_eq!(set.decide(&calculate, &widening).policy, ToolPolicy::Deny);
        let asking = narrowing(&[("plugin:calculator", ToolPolicy::Ask)]);
        assert_eq!(set.decide(&calculate, &asking).policy, ToolPolicy::Deny);
        let decision = ToolPolicies::default().decide(&calculate, &asking);
        assert_eq!(decision.policy, ToolPolicy::Ask);
        assert_eq!(decision.reason(), "this conversation sets `plugin:calculator` to ask");
        let denying = narrowing(&[("calculator__calculate", ToolPolicy::Deny)]);
        assert_eq!(policies(&[("plugin:calculator", "ask")]).decide(&calculate, &denying).policy, ToolPolicy::Deny);
    }

    #[test]
    fn an_unknown_stored_policy_counts_as_deny() {
        let calculate = tool("calculator__calculate", "calculator", ToolPolicy::Auto);
        assert_eq!(
            policies(&[("calculator__calculate", "later")]).decide(&calculate, &PluginChoice::default()).policy,
            ToolPolicy::Deny
        );
    }
}
