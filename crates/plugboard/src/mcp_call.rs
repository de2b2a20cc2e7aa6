//! `plugboard mcp-call`: reaches an MCP server the way the chat server does (the same
//! client, `plugboard-mcp`), lists its tools or calls one, and prints what the model would
//! be given. For trying a server before adding it, and for conformance harnesses that
//! start a client command with the server's URL last.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use plugboard_chat::{PluginChoice, ToolSource};
use plugboard_mcp::{McpServerConfig, McpServers, ServerState, Transport};
use plugboard_types::CallContext;

/// The name the server gets here (it shows in errors only).
const NAME: &str = "server";

/// What `plugboard mcp-call` takes.
#[derive(Debug, clap::Args)]
pub(crate) struct McpCallArgs {
    /// The tool to call, by the server's own name for it; without it the server's tools
    /// are listed.
    #[arg(long)]
    tool: Option<String>,
    /// The call's arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    arguments: String,
    /// A header sent to an HTTP server, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// An environment variable of a stdio server, `NAME=value` (repeatable); the child
    /// gets these alone, nothing of this process's environment.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Seconds to wait for the server to answer, and for the call.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// The server: its MCP endpoint (`http://` or `https://`), or a command and its
    /// arguments that speak MCP on standard input and output (after `--`).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    server: Vec<String>,
}

/// Runs `plugboard mcp-call`.
pub(crate) async fn run(args: McpCallArgs) -> anyhow::Result<()> {
    let config = config(&args)?;
    config.validate().map_err(|error| anyhow::anyhow!("{error}"))?;
    let arguments: serde_json::Value = serde_json::from_str(&args.arguments)
        .with_context(|| format!("--arguments is not JSON: {}", args.arguments))?;
    if !arguments.is_object() {
        bail!("--arguments must be a JSON object, such as '{{\"a\": 1}}'");
    }
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let servers = McpServers::new(cwd);
    servers.apply(vec![config]).await;
    let outcome = talk(&servers, &args, arguments).await;
    servers.shutdown().await;
    outcome
}

/// Waits for the server, then lists or calls.
async fn talk(servers: &McpServers, args: &McpCallArgs, arguments: serde_json::Value) -> anyhow::Result<()> {
    let deadline = Duration::from_secs(args.timeout);
    tokio::time::timeout(deadline, ready(servers))
        .await
        .map_err(|_| anyhow::anyhow!("the MCP server did not answer within {} s", args.timeout))??;
    let source = servers.tool_source();
    let offered = source.tools(&PluginChoice::default());
    let Some(wanted) = &args.tool else {
        let status = servers.status(NAME).context("the server is gone")?;
        if let Some(info) = &status.server_info {
            println!("{info}");
        }
        for tool in status.tools {
            println!("{}\t{}", tool.name, tool.description.lines().next().unwrap_or_default());
        }
        return Ok(());
    };
    let Some(tool) = offered.iter().find(|tool| &tool.tool == wanted) else {
        let names: Vec<&str> = offered.iter().map(|tool| tool.tool.as_str()).collect();
        bail!("the server has no tool `{wanted}`; its tools: {}", names.join(", "));
    };
    match source.call(tool, &CallContext::default(), arguments).await {
        Ok(text) => {
            println!("{text}");
            Ok(())
        }
        Err(text) => bail!("the tool answered with an error: {text}"),
    }
}

/// Until the server is ready; its error if it failed first.
async fn ready(servers: &McpServers) -> anyhow::Result<()> {
    let mut changes = servers.changes();
    loop {
        if let Some(status) = servers.status(NAME) {
            match status.state {
                ServerState::Ready => return Ok(()),
                ServerState::Failed => {
                    bail!("cannot reach the MCP server: {}", status.last_error.unwrap_or_default())
                }
                ServerState::Starting | ServerState::Disabled => {}
            }
        }
        changes.changed().await.context("the MCP client stopped")?;
    }
}

/// The configuration the arguments describe.
fn config(args: &McpCallArgs) -> anyhow::Result<McpServerConfig> {
    let (first, rest) = args.server.split_first().context("give the server's URL or its command")?;
    let transport = if rest.is_empty() && (first.starts_with("http://") || first.starts_with("https://")) {
        if !args.env.is_empty() {
            bail!("--env is for a server started as a command; an HTTP server takes --header");
        }
        let mut headers = BTreeMap::new();
        for header in &args.headers {
            let (name, value) =
                header.split_once(':').with_context(|| format!("--header `{header}` is not `Name: value`"))?;
            headers.insert(name.trim().to_owned(), value.trim().to_owned());
        }
        Transport::Http { url: first.clone(), headers }
    } else {
        if !args.headers.is_empty() {
            bail!("--header is for an HTTP server; a server started as a command takes --env");
        }
        let mut env = BTreeMap::new();
        for variable in &args.env {
            let (name, value) =
                variable.split_once('=').with_context(|| format!("--env `{variable}` is not `NAME=value`"))?;
            env.insert(name.to_owned(), value.to_owned());
        }
        Transport::Stdio { command: first.clone(), args: rest.to_vec(), env, cwd: None }
    };
    Ok(McpServerConfig {
        name: NAME.to_owned(),
        transport,
        enabled: true,
        timeout_secs: args.timeout.max(1),
        max_result_bytes: plugboard_mcp::config::DEFAULT_MAX_RESULT_BYTES,
    })
}
