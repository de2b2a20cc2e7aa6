//! `plugboard mcp`: Plugboard's tools as an MCP server on standard input and output, for
//! MCP clients that start a command (desktop assistants, editors). It opens the same data
//! folder, database and plugins as `serve` (beside a running server or alone) and serves
//! as one user, named or given by an API token; no HTTP port is opened, and logs go to
//! standard error, since standard output is the protocol's.

use anyhow::Context;
use plugboard_server::mcp::{FixedCaller, serve_stdio};
use plugboard_server::{McpServersConfig, ServerConfig};

use crate::config::FileConfig;
use crate::plugins::PluginOptions;

/// `plugboard mcp`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct McpOptions {
    /// Serve as this user (a username of the data folder's database). Takes precedence
    /// over a token.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Serve as the user of this API token (created with POST /api/tokens or on the
    /// account page); checked again at every call, so revoking it stops the tools.
    #[arg(long, env = "PLUGBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Also offer the tools of the MCP servers Plugboard uses (off: only the plugins').
    #[arg(long, env = "PLUGBOARD_MCP_EXPOSE_MCP_SERVERS")]
    mcp_expose_mcp_servers: bool,
    #[command(flatten)]
    plugins: PluginOptions,
}

/// Serves until the client closes standard input (or Ctrl-C, SIGTERM).
pub(crate) async fn run(options: McpOptions) -> anyhow::Result<()> {
    let file = FileConfig::load(options.plugins.config.as_deref())?;
    let opened = options.plugins.open_beside_a_server(&file).await?;
    let expose_mcp_servers = options.mcp_expose_mcp_servers || file.mcp_expose_mcp_servers == Some(true);
    let server_config = ServerConfig { mcp_expose_mcp_servers: expose_mcp_servers, ..ServerConfig::default() };
    let mut app =
        opened.app.server_config(server_config).user_calls_per_minute(file.user_calls_per_minute.unwrap_or(120));
    if expose_mcp_servers {
        // The MCP servers as `serve` runs them: the file's and those added through the API.
        let working_folder = std::fs::canonicalize(&opened.data_dir).unwrap_or_else(|_| opened.data_dir.clone());
        app = app.mcp_servers(McpServersConfig { servers: file.mcp_servers.clone(), working_folder });
    }
    let state = app.build().await.context("starting the plugin runtime")?;
    let store = state.store.as_ref();
    let (caller, user) = match (&options.user, &options.token) {
        (Some(name), _) => FixedCaller::by_name(store, name).await,
        (None, Some(token)) => FixedCaller::by_token(store, token).await,
        (None, None) => anyhow::bail!(
            "say whom to serve as: `--user NAME`, or `--token TOKEN` (or PLUGBOARD_TOKEN) with an API token of theirs"
        ),
    }
    .context("cannot serve MCP")?;
    // MCP servers' processes are started only when their tools are offered here.
    let report = if expose_mcp_servers { state.start_plugins().await } else { state.registry.start().await };
    // A client lists the tools once it connects: every plugin's, compiled first.
    state.registry.compiles_finished().await;
    tracing::info!(user = %user.username, loaded = report.loaded.len(), failed = report.failed.len(), "serving MCP on standard input and output");
    let (registry, mcp_servers) = (state.registry.clone(), state.mcp.clone());
    let served = serve_stdio(state, caller, crate::shutdown_signal()).await;
    registry.shutdown().await;
    mcp_servers.shutdown().await;
    served
}
