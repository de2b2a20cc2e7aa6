//! Messages answered instead of the model: `/help`, `/run <plugin> <input>` (the
//! plugin's first tool), the slash commands plugins declare, and `/mcp <server> <tool>
//! <arguments>` (a tool of an MCP server). They are recognised before the prompt filters,
//! which prepare text for the model, and skip them.

use std::sync::Arc;
use std::time::Instant;

use plugboard_host::{Hook, Plugin};
use plugboard_types::CallContext;
use serde_json::{Value, json};

use crate::error::ChatError;
use crate::policy::policy_name;
use crate::text::without_nul;
use crate::tools::{OfferedTool, ToolPolicy, ToolSource};
use crate::trace::Trace;

/// The prefix of an MCP server's tool source, `mcp:<server>`.
const MCP_SOURCE: &str = "mcp:";

/// An MCP server's tool the conversation offers, with its source.
pub(crate) type SourcedTool = (Arc<dyn ToolSource>, OfferedTool);

/// A message a plugin answers instead of the model.
pub(crate) enum DirectCommand {
    /// `/help`: the commands there are (answered by Plugboard itself).
    Help(String),
    /// `/run <plugin> <input>`: the plugin's first tool with `{"input": ...}`.
    Run { plugin: Plugin, input: String },
    /// `/<name> <arguments>`: a slash command a plugin declares.
    Slash { plugin: Plugin, name: String, arguments: String },
    /// `/mcp <server> <tool> <arguments>`: a tool of an MCP server, with a JSON object.
    Tool { source: Arc<dyn ToolSource>, tool: OfferedTool, arguments: Value },
}

fn plugins_with_tools(plugins: &[Plugin]) -> Vec<String> {
    plugins
        .iter()
        .filter(|plugin| plugin.implements(Hook::Tools) && plugin.is_enabled())
        .map(|plugin| plugin.id().to_string())
        .collect()
}

/// Recognises `/run <plugin> <input>` (an unknown plugin is an error naming the ones with
/// tools), `/mcp` over the MCP servers' `tools` the conversation offers, and the enabled
/// plugins' slash commands; anything else is for the model.
pub(crate) fn find_command(
    plugins: &[Plugin],
    tools: &[SourcedTool],
    text: &str,
) -> Result<Option<DirectCommand>, ChatError> {
    let Some(command) = text.trim().strip_prefix('/') else { return Ok(None) };
    let (name, rest) = command.split_once(char::is_whitespace).unwrap_or((command, ""));
    if name == "help" {
        return Ok(Some(DirectCommand::Help(help_text(plugins))));
    }
    if name == "mcp" {
        return find_mcp_tool(tools, rest).map(Some);
    }
    if name == "run" {
        let rest = rest.trim();
        let (plugin_id, input) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let plugin = plugins.iter().find(|plugin| plugin.id().as_str() == plugin_id).ok_or_else(|| {
            ChatError::UnknownPlugin { plugin: plugin_id.to_owned(), available: plugins_with_tools(plugins) }
        })?;
        return Ok(Some(DirectCommand::Run { plugin: plugin.clone(), input: input.trim().to_owned() }));
    }
    let plugin = plugins.iter().find(|plugin| {
        plugin.is_enabled()
            && plugin.implements(Hook::Commands)
            && plugin.manifest().commands.iter().any(|command| command.name == name)
    });
    Ok(plugin.map(|plugin| DirectCommand::Slash {
        plugin: plugin.clone(),
        name: name.to_owned(),
        arguments: rest.trim().to_owned(),
    }))
}

/// The MCP servers' tools offered here, by server: `server: tool, tool`.
fn mcp_tool_list(tools: &[SourcedTool]) -> String {
    let mut servers: Vec<(&str, Vec<&str>)> = Vec::new();
    for (_, tool) in tools {
        let Some(server) = tool.source.strip_prefix(MCP_SOURCE) else { continue };
        match servers.iter_mut().find(|(name, _)| *name == server) {
            Some((_, names)) => names.push(&tool.tool),
            None => servers.push((server, vec![&tool.tool])),
        }
    }
    if servers.is_empty() {
        return "no MCP server offers tools in this conversation".to_owned();
    }
    servers.iter().map(|(server, names)| format!("{server}: {}", names.join(", "))).collect::<Vec<_>>().join("\n")
}

/// `/mcp [<server> <tool> [<JSON arguments>]]`: the tool, or the list of them.
fn find_mcp_tool(tools: &[SourcedTool], rest: &str) -> Result<DirectCommand, ChatError> {
    const USAGE: &str = "usage: /mcp <server> <tool> {\"argument\": \"value\"}";
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(DirectCommand::Help(format!("MCP tools ({USAGE}):\n{}", mcp_tool_list(tools))));
    }
    let (server, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (tool_name, arguments) = rest.trim().split_once(char::is_whitespace).unwrap_or((rest.trim(), ""));
    let source = format!("{MCP_SOURCE}{server}");
    let Some((source_of_tool, tool)) =
        tools.iter().find(|(_, tool)| tool.source == source && (tool.tool == tool_name || tool_name.is_empty()))
    else {
        return Err(ChatError::InvalidInput(format!(
            "no MCP tool `{tool_name}` of server `{server}` is offered in this conversation; {USAGE}; offered:\n{}",
            mcp_tool_list(tools)
        )));
    };
    if tool_name.is_empty() {
        return Err(ChatError::InvalidInput(format!("name the tool of `{server}` to call; {USAGE}")));
    }
    let arguments = match arguments.trim() {
        "" => json!({}),
        text => serde_json::from_str(text).map_err(|error| {
            ChatError::InvalidInput(format!(
                "the arguments of `/mcp {server} {tool_name}` are not JSON ({error}); {USAGE}"
            ))
        })?,
    };
    if !arguments.is_object() {
        return Err(ChatError::InvalidInput(format!("the arguments must be a JSON object; {USAGE}")));
    }
    Ok(DirectCommand::Tool { source: source_of_tool.clone(), tool: tool.clone(), arguments })
}

/// Runs a recognised command, recording it in `trace`; returns the reply's author and text.
/// `policy` is the tool's, for `/mcp`: typing the command is the person's own approval, so
/// only `deny` stops it.
pub(crate) async fn run_command(
    command: DirectCommand,
    context: &CallContext,
    policy: ToolPolicy,
    trace: &mut Trace,
) -> Result<(String, String), ChatError> {
    let started = Instant::now();
    let (plugin, name, input) = match &command {
        DirectCommand::Help(text) => return Ok(("plugboard".to_owned(), text.clone())),
        DirectCommand::Tool { source, tool, arguments } => {
            let reply = run_mcp_tool(source.as_ref(), tool, arguments, context, policy, trace, started).await;
            return Ok((tool.source.clone(), reply));
        }
        DirectCommand::Run { plugin, input } => (plugin, "run", input.as_str()),
        DirectCommand::Slash { plugin, name, arguments } => (plugin, name.as_str(), arguments.as_str()),
    };
    let reply = match &command {
        DirectCommand::Slash { .. } => plugin.run_command(context, name, input).await,
        _ => plugin.run_with_input(context, input).await,
    }?;
    trace.push(json!({"stage": "command", "plugin": plugin.id(), "command": name, "input": input,
                      "result": reply, "elapsed_us": started.elapsed().as_micros() as u64}));
    Ok((format!("plugin:{}", plugin.id()), reply))
}

/// Runs `/mcp`'s tool unless its policy is `deny`; the reply (the result, or what went
/// wrong), recorded in `trace`.
async fn run_mcp_tool(
    source: &dyn ToolSource,
    tool: &OfferedTool,
    arguments: &Value,
    context: &CallContext,
    policy: ToolPolicy,
    trace: &mut Trace,
    started: Instant,
) -> String {
    let (reply, is_error) = if policy == ToolPolicy::Deny {
        (format!("the tool `{}` is not allowed here (policy {})", tool.spec.name, policy_name(policy)), true)
    } else {
        match source.call(tool, context, arguments.clone()).await {
            Ok(text) => (without_nul(text), false),
            Err(error) => (format!("the tool answered with an error: {}", without_nul(error)), true),
        }
    };
    trace.push(json!({"stage": "command", "plugin": tool.source, "command": "mcp", "tool": tool.tool,
                      "arguments": arguments, "policy": policy_name(policy), "result": reply,
                      "is_error": is_error, "elapsed_us": started.elapsed().as_micros() as u64}));
    reply
}

/// What `/help` answers: `/run`, then every enabled plugin's slash commands.
fn help_text(plugins: &[Plugin]) -> String {
    let with_tools = plugins_with_tools(plugins);
    let mut lines = vec![
        "Commands (answered by plugins, not the model):".to_owned(),
        format!(
            "/run <plugin> <input> — runs a plugin's tool directly (plugins with tools: {})",
            if with_tools.is_empty() { "none".to_owned() } else { with_tools.join(", ") }
        ),
        "/mcp <server> <tool> <JSON arguments> — runs an MCP server's tool directly; /mcp lists them".to_owned(),
    ];
    for plugin in plugins.iter().filter(|plugin| plugin.is_enabled() && plugin.implements(Hook::Commands)) {
        for command in &plugin.manifest().commands {
            let usage = if command.usage.is_empty() { format!("/{}", command.name) } else { command.usage.clone() };
            lines.push(format!("{usage} — {} ({})", command.description, plugin.id()));
        }
    }
    lines.push("/help — this list".to_owned());
    lines.join("\n")
}
