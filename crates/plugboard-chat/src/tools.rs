//! [`ToolSource`], the seam between the chat core and whatever offers tools to the model:
//! the enabled plugins' tools ([`PluginTools`]) today, and any other source (MCP servers)
//! behind the same trait. The model sees each tool under a name unique across sources.

use std::sync::Arc;

use async_trait::async_trait;
use plugboard_host::{Hook, PluginSet};
use plugboard_types::{CallContext, ToolSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::choice::PluginChoice;

/// Whether a tool call runs at once, waits for a person's approval, or is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolPolicy {
    /// Runs at once.
    #[default]
    Auto,
    /// Waits for the person whose turn it is to approve it.
    Ask,
    /// Never runs; the model is told so.
    Deny,
}

/// A tool offered to the model.
#[derive(Debug, Clone)]
pub struct OfferedTool {
    /// What the model sees: the name unique across every source, the description and the
    /// arguments' schema.
    pub spec: ToolSpec,
    /// Who offers it (a plugin id), for the trace and the events.
    pub source: String,
    /// Its name within its source.
    pub tool: String,
    /// Its policy unless an administrator set one: `auto` for plugin tools, `ask` for
    /// tools of MCP servers.
    pub default_policy: ToolPolicy,
}

/// Something that offers tools to the model.
#[async_trait]
pub trait ToolSource: Send + Sync + std::fmt::Debug {
    /// The tools offered in a conversation with `choice`.
    fn tools(&self, choice: &PluginChoice) -> Vec<OfferedTool>;
    /// Calls `tool` (one this source offered) with JSON `arguments`; the result, or the
    /// error as text for the model.
    async fn call(&self, tool: &OfferedTool, context: &CallContext, arguments: Value) -> Result<String, String>;
}

/// The tools of the enabled plugins that implement the tools hook, named
/// `<plugin>__<tool>` (dashes as underscores), less those a conversation switched off.
#[derive(Debug, Clone)]
pub struct PluginTools {
    plugins: Arc<dyn PluginSet>,
}

impl PluginTools {
    /// The tools of `plugins`.
    pub fn new(plugins: Arc<dyn PluginSet>) -> PluginTools {
        PluginTools { plugins }
    }
}

#[async_trait]
impl ToolSource for PluginTools {
    fn tools(&self, choice: &PluginChoice) -> Vec<OfferedTool> {
        let mut tools = Vec::new();
        for plugin in self.plugins.plugins() {
            if !plugin.implements(Hook::Tools)
                || !plugin.is_enabled()
                || choice.disabled_tools.contains(plugin.id().as_str())
            {
                continue;
            }
            for tool in plugin.tools() {
                let name = format!("{}__{}", plugin.id().as_str().replace('-', "_"), tool.name);
                tools.push(OfferedTool {
                    tool: tool.name.clone(),
                    spec: ToolSpec { name, ..tool },
                    source: plugin.id().to_string(),
                    default_policy: ToolPolicy::Auto,
                });
            }
        }
        tools
    }

    async fn call(&self, tool: &OfferedTool, context: &CallContext, arguments: Value) -> Result<String, String> {
        let plugin = self
            .plugins
            .plugins()
            .into_iter()
            .find(|plugin| plugin.id().as_str() == tool.source)
            .ok_or_else(|| format!("plugin `{}` is no longer loaded", tool.source))?;
        plugin.call_tool(context, &tool.tool, arguments).await.map_err(|error| error.to_string())
    }
}
