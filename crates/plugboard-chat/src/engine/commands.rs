//! Messages plugins answer instead of the model: `/help`, `/run <plugin> <input>` (the
//! plugin's first tool) and the slash commands plugins declare. They are recognised
//! before the prompt filters, which prepare text for the model, and skip them.

use std::time::Instant;

use plugboard_host::{Hook, Plugin};
use plugboard_types::CallContext;
use serde_json::json;

use crate::error::ChatError;
use crate::trace::Trace;

/// A message a plugin answers instead of the model.
pub(crate) enum DirectCommand {
    /// `/help`: the commands there are (answered by Plugboard itself).
    Help(String),
    /// `/run <plugin> <input>`: the plugin's first tool with `{"input": ...}`.
    Run { plugin: Plugin, input: String },
    /// `/<name> <arguments>`: a slash command a plugin declares.
    Slash { plugin: Plugin, name: String, arguments: String },
}

fn plugins_with_tools(plugins: &[Plugin]) -> Vec<String> {
    plugins
        .iter()
        .filter(|plugin| plugin.implements(Hook::Tools) && plugin.is_enabled())
        .map(|plugin| plugin.id().to_string())
        .collect()
}

/// Recognises `/run <plugin> <input>` (an unknown plugin is an error naming the ones with
/// tools) and the enabled plugins' slash commands; anything else is for the model.
pub(crate) fn find_command(plugins: &[Plugin], text: &str) -> Result<Option<DirectCommand>, ChatError> {
    let Some(command) = text.trim().strip_prefix('/') else { return Ok(None) };
    let (name, rest) = command.split_once(char::is_whitespace).unwrap_or((command, ""));
    if name == "help" {
        return Ok(Some(DirectCommand::Help(help_text(plugins))));
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

/// Runs a recognised command, recording it in `trace`; returns the reply's author and text.
pub(crate) async fn run_command(
    command: DirectCommand,
    context: &CallContext,
    trace: &mut Trace,
) -> Result<(String, String), ChatError> {
    let started = Instant::now();
    let (plugin, name, input) = match &command {
        DirectCommand::Help(text) => return Ok(("plugboard".to_owned(), text.clone())),
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

/// What `/help` answers: `/run`, then every enabled plugin's slash commands.
fn help_text(plugins: &[Plugin]) -> String {
    let with_tools = plugins_with_tools(plugins);
    let mut lines = vec![
        "Commands (answered by plugins, not the model):".to_owned(),
        format!(
            "/run <plugin> <input> — runs a plugin's tool directly (plugins with tools: {})",
            if with_tools.is_empty() { "none".to_owned() } else { with_tools.join(", ") }
        ),
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
