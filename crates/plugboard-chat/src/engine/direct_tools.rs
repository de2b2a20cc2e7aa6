//! The tools the model is offered, listed and called directly as a user, outside any chat
//! turn: for clients that call tools themselves (the server's MCP endpoint, `plugboard
//! mcp`). The same tool sources, names and policies as a turn's tool calls, so what a
//! person can reach this way is exactly what the model can reach for them.

use std::sync::Arc;

use plugboard_types::CallContext;
use serde_json::Value;

use super::ChatEngine;
use crate::choice::PluginChoice;
use crate::policy::ToolPolicies;
use crate::tools::{OfferedTool, ToolPolicy, ToolSource};

/// Why a direct tool call did not give a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolCallError {
    /// No source offers a tool of that name (or its plugin is disabled or unloaded).
    #[error("no tool `{name}` is offered; list the tools to see their names")]
    UnknownTool {
        /// The name asked for.
        name: String,
    },
    /// The tool's policy is `deny`.
    #[error("tool `{name}` is not allowed here: its policy is `deny`; an administrator can change it")]
    Denied {
        /// The tool's name.
        name: String,
    },
    /// The tool ran and failed (or its source could not run it): its message, as the
    /// model would see it.
    #[error("{message}")]
    Failed {
        /// Who offers the tool (a plugin id, or `mcp:<server>`).
        offered_by: String,
        /// What went wrong.
        message: String,
    },
}

impl ChatEngine {
    /// Every tool offered to the model in a conversation that switches nothing off, with
    /// its policy as the administrators set it (read now): the plugin tools first, then
    /// the other sources'. Tools whose policy is `deny` are left out.
    pub async fn offered_tools(&self) -> Vec<(OfferedTool, ToolPolicy)> {
        let policies = self.current_policies().await;
        let choice = PluginChoice::default();
        self.sources_and_tools()
            .into_iter()
            .filter_map(|(_, tool)| {
                let policy = policies.decide(&tool, &choice).policy;
                (policy != ToolPolicy::Deny).then_some((tool, policy))
            })
            .collect()
    }

    /// The tool offered under `tool_name` (the name the model sees), whatever its policy;
    /// [`ChatEngine::call_tool_as`] applies the policy.
    pub fn offered_tool(&self, tool_name: &str) -> Option<OfferedTool> {
        self.sources_and_tools().into_iter().map(|(_, tool)| tool).find(|tool| tool.spec.name == tool_name)
    }

    /// Calls the offered tool named `tool_name` (the name the model sees, such as
    /// `calculator__calculate`) as `user_id` with JSON `arguments`, through the same path
    /// as a chat turn's tool call (the plugin's permissions, deadline, circuit breaker and
    /// own rate limit apply) unless its policy is `deny`. The caller has authenticated the
    /// user and applies its own per-user limits; `ask` is the caller's to honour (an MCP
    /// client asks its person itself).
    pub async fn call_tool_as(
        &self,
        user_id: &str,
        tool_name: &str,
        arguments: Value,
    ) -> Result<String, ToolCallError> {
        let Some((source, tool)) = self.sources_and_tools().into_iter().find(|(_, tool)| tool.spec.name == tool_name)
        else {
            return Err(ToolCallError::UnknownTool { name: tool_name.to_owned() });
        };
        // Read now, not from the cache: a `deny` set a moment ago on another server holds,
        // and a call whose policy cannot be known does not run.
        let policies = self.load_tool_policies().await.map_err(|error| ToolCallError::Failed {
            offered_by: tool.source.clone(),
            message: format!("the tool policies cannot be read ({error}); try again"),
        })?;
        if policies.decide(&tool, &PluginChoice::default()).policy == ToolPolicy::Deny {
            return Err(ToolCallError::Denied { name: tool_name.to_owned() });
        }
        let context = CallContext { user_id: user_id.into(), ..CallContext::default() };
        source
            .call(&tool, &context, arguments)
            .await
            .map_err(|message| ToolCallError::Failed { offered_by: tool.source.clone(), message })
    }

    fn sources_and_tools(&self) -> Vec<(Arc<dyn ToolSource>, OfferedTool)> {
        let choice = PluginChoice::default();
        self.inner
            .tools
            .iter()
            .flat_map(|source| source.tools(&choice).into_iter().map(|tool| (source.clone(), tool)))
            .collect()
    }

    /// The administrators' policies read now, for a list (so a change another server made
    /// counts at once); the last ones read when the store cannot answer, as a call checks
    /// again.
    async fn current_policies(&self) -> Arc<ToolPolicies> {
        match self.load_tool_policies().await {
            Ok(policies) => policies,
            Err(error) => {
                tracing::warn!("cannot read the tool policies; the last ones read apply: {error}");
                self.cached_tool_policies()
            }
        }
    }
}
