//! The tools the model is offered, listed and called directly as a user, outside any chat
//! turn: for clients that call tools themselves (the server's MCP endpoint, `plugboard
//! mcp`). The same tool sources, names and policies as a turn's tool calls, so what a
//! person can reach this way is exactly what the model can reach for them.

use std::sync::Arc;

use plugboard_types::CallContext;
use serde_json::Value;

use super::ChatEngine;
use crate::choice::PluginChoice;
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
    #[error("tool `{name}` is denied by its policy; an administrator can change it")]
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
    /// its policy: the plugin tools first, then the other sources'. Tools whose policy is
    /// `deny` are left out.
    pub fn offered_tools(&self) -> Vec<(OfferedTool, ToolPolicy)> {
        self.sources_and_tools()
            .into_iter()
            .filter_map(|(_, tool)| {
                let policy = self.direct_policy(&tool);
                (policy != ToolPolicy::Deny).then_some((tool, policy))
            })
            .collect()
    }

    /// Calls the offered tool named `tool_name` (the name the model sees, such as
    /// `calculator__calculate`) as `user_id` with JSON `arguments`, through the same path
    /// as a chat turn's tool call (the plugin's permissions, deadline, circuit breaker and
    /// own rate limit apply). The caller has authenticated the user and applies its own
    /// per-user limits.
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
        // Read now, not from the cache: a `deny` set a moment ago on another server holds.
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

    /// The policy a listed tool has, from the policies as last read (a call reads them
    /// again).
    fn direct_policy(&self, tool: &OfferedTool) -> ToolPolicy {
        self.tool_policy(tool, &PluginChoice::default())
    }
}
