//! Configuration: command-line flags, then `PLUGBOARD_*` environment variables (clap reads
//! both, flags first), then the TOML file (`--config`, or `plugboard.toml` in the current
//! directory when it exists), then built-in defaults. Every setting has a default, so the
//! server runs with no configuration at all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// The configuration file, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) data_dir: Option<PathBuf>,
    /// The database: a SQLite file's path (or `sqlite://PATH`), or `postgres://...`.
    pub(crate) database_url: Option<String>,
    pub(crate) plugins_dirs: Option<Vec<PathBuf>>,
    pub(crate) enabled_plugins: Option<Vec<String>>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) dev: Option<bool>,
    pub(crate) signup: Option<plugboard_server::SignupPolicy>,
    pub(crate) max_upload_mb: Option<u64>,
    /// Calls per minute one user may make to one plugin (execute, plugin routes); 0 = no limit.
    pub(crate) user_calls_per_minute: Option<u32>,
    /// Chat turns per minute one user may start (`/api/chat*`, `/v1/chat/completions`);
    /// 0 = no limit.
    pub(crate) chat_turns_per_minute: Option<u32>,
    /// The longest deadline a scheduled task may declare, such as `"10m"` (the default).
    pub(crate) max_task_deadline: Option<String>,
    /// The address people reach the server at, behind a proxy.
    pub(crate) public_url: Option<url::Url>,
    /// This server's name among several sharing a database.
    pub(crate) node_name: Option<String>,
    /// Further origins whose pages may change state with the session cookie.
    pub(crate) allowed_origins: Option<Vec<String>>,
    /// Each commit waits until it is on disk (SQLite `synchronous = FULL`), so it survives
    /// a power loss too.
    pub(crate) durable_writes: Option<bool>,
    /// A request's head must arrive within this, such as `"10s"` (the default).
    pub(crate) header_timeout: Option<String>,
    /// A request's whole body must arrive within this after its head (default `"60s"`).
    pub(crate) body_timeout: Option<String>,
    /// A kept-alive connection with no request in flight is closed after this (default `"60s"`).
    pub(crate) idle_timeout: Option<String>,
    /// Connections served at once; more wait to be accepted (default 512).
    pub(crate) max_connections: Option<usize>,
    /// At shutdown, requests in flight get this long to finish (default `"10s"`).
    pub(crate) shutdown_grace: Option<String>,
    /// `/mcp` and `plugboard mcp` also offer the tools of the MCP servers Plugboard uses.
    pub(crate) mcp_expose_mcp_servers: Option<bool>,
    /// How long a tool call whose policy is `ask` waits for the person (default `"5m"`).
    pub(crate) approval_timeout: Option<String>,
    #[serde(default)]
    pub(crate) models: ModelsConfig,
    #[serde(default)]
    pub(crate) packages: PackagesConfig,
    /// `[[mcp_servers]]`: MCP servers whose tools the model is offered, fixed (the API
    /// shows them but neither changes nor removes them), checked when the file is read.
    #[serde(default)]
    pub(crate) mcp_servers: Vec<plugboard_mcp::McpServerConfig>,
}

/// `[packages]`: installing plugin packages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackagesConfig {
    /// What a package's signature must be: `require` (default), `warn` or `off`.
    pub(crate) policy: Option<plugboard_package::Policy>,
    /// The plugin index: a file path or an http(s) URL of an `index.json`.
    pub(crate) index: Option<String>,
    /// The folder of trusted public keys. Default: the data folder's `trusted-keys/`.
    pub(crate) trusted_keys_dir: Option<PathBuf>,
    /// The largest package accepted, in MiB. Default: 64.
    pub(crate) max_package_mb: Option<u64>,
}

/// `[models]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelsConfig {
    /// `provider/model` used when a request names none.
    pub(crate) default: Option<String>,
    /// Sent first in every conversation.
    pub(crate) system_prompt: Option<String>,
    /// `[models.openai]`: an OpenAI-compatible server.
    pub(crate) openai: Option<OpenAiFileConfig>,
    /// `[models.local]`: the embedded local model.
    #[serde(default)]
    pub(crate) local: LocalFileConfig,
}

/// `[models.local]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LocalFileConfig {
    /// A GGUF file to run.
    pub(crate) path: Option<PathBuf>,
    /// The hub repository of the model downloaded on first use.
    pub(crate) repo: Option<String>,
    /// Its file.
    pub(crate) file: Option<String>,
    /// Download it when missing (default: when no other model server is configured).
    pub(crate) auto_download: Option<bool>,
    /// Where downloaded models are kept.
    pub(crate) models_dir: Option<PathBuf>,
    /// Replies generated at the same time.
    pub(crate) max_concurrent: Option<usize>,
    /// Requests that may wait for a free slot.
    pub(crate) max_queued: Option<usize>,
    /// Upper bound of the context, in tokens.
    pub(crate) context: Option<usize>,
    /// Threads each forward pass is split between (default: one per core).
    pub(crate) threads: Option<usize>,
    /// Memory for finished replies' KV caches, continued by the next turn (0: none).
    pub(crate) prefix_cache_mb: Option<usize>,
    /// Streamed text is sent at most this often; faster tokens go together (0: each alone).
    pub(crate) stream_interval_ms: Option<u64>,
}

/// `[models.openai]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpenAiFileConfig {
    pub(crate) base_url: Option<String>,
    pub(crate) api_key: Option<String>,
}

impl FileConfig {
    /// Reads `explicit`, or `plugboard.toml` in the current directory when present.
    pub(crate) fn load(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
        let default = Path::new("plugboard.toml");
        let path = match explicit {
            Some(path) => path,
            None if default.is_file() => default,
            None => return Ok(FileConfig::default()),
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        let config: FileConfig = toml::from_str(&text).map_err(|error| {
            anyhow::anyhow!(
                "{}: {}; see the configuration section of README.md for the settings",
                path.display(),
                error.to_string().trim_end()
            )
        })?;
        check_mcp_servers(&config.mcp_servers).map_err(|problem| anyhow::anyhow!("{}: {problem}", path.display()))?;
        Ok(config)
    }
}

/// Every `[[mcp_servers]]` entry valid and named once; else the first problem, naming the
/// entry (its name and place) and the field.
fn check_mcp_servers(servers: &[plugboard_mcp::McpServerConfig]) -> Result<(), String> {
    for (index, server) in servers.iter().enumerate() {
        let entry = format!("[[mcp_servers]] entry {} (`{}`)", index + 1, server.name);
        server.validate().map_err(|error| format!("{entry}: `{}` {}", error.field, error.problem))?;
        if let Some(first) = servers[..index].iter().position(|earlier| earlier.name == server.name) {
            return Err(format!(
                "{entry}: `name` is taken by entry {}; give each MCP server a name of its own",
                first + 1
            ));
        }
    }
    Ok(())
}

/// How long a tool call whose policy is `ask` waits for its approval: the flag (or
/// `PLUGBOARD_APPROVAL_TIMEOUT`), then the file's `approval_timeout`, then 5 minutes.
pub(crate) fn approval_timeout(flag: Option<Duration>, file: &FileConfig) -> anyhow::Result<Duration> {
    let timeout = match (flag, &file.approval_timeout) {
        (Some(flag), _) => flag,
        (None, Some(text)) => parse_duration(text).map_err(|error| {
            anyhow::anyhow!(
                "`approval_timeout = \"{text}\"` in the configuration file is not a duration ({error}); use one such \
                 as \"5m\""
            )
        })?,
        (None, None) => plugboard_chat::EngineConfig::default().approval_timeout,
    };
    if timeout.is_zero() {
        anyhow::bail!(
            "the approval timeout is 0: every tool call that asks would be denied at once; give a duration such as 5m \
             (a flag, `PLUGBOARD_APPROVAL_TIMEOUT` or the configuration file), or set the tools' policy to `deny`"
        );
    }
    Ok(timeout)
}

/// A duration as `humantime` reads it (`30s`, `1m 30s`), or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    match text.trim().parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(text),
    }
}

/// The connection limits of `serve`: flags and `PLUGBOARD_*`, then the file, then the
/// defaults of [`plugboard_server::ConnectionLimits`].
#[derive(Debug, clap::Args)]
pub(crate) struct ConnectionOptions {
    /// A request's head must arrive within this (such as 10s) from the connection's start
    /// or the first byte of the next request. Default: 10s.
    #[arg(long, env = "PLUGBOARD_HEADER_TIMEOUT", value_parser = parse_duration)]
    header_timeout: Option<Duration>,
    /// A request's whole body must arrive within this after its head, or it is answered
    /// 408. Default: 60s.
    #[arg(long, env = "PLUGBOARD_BODY_TIMEOUT", value_parser = parse_duration)]
    body_timeout: Option<Duration>,
    /// A kept-alive connection with no request in flight is closed after this. Default: 60s.
    #[arg(long, env = "PLUGBOARD_IDLE_TIMEOUT", value_parser = parse_duration)]
    idle_timeout: Option<Duration>,
    /// Connections served at once; more wait to be accepted until one ends. Default: 512.
    #[arg(long, env = "PLUGBOARD_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// At shutdown (SIGTERM or Ctrl-C), new connections are refused at once and requests in
    /// flight (chat turns and streams too) get this long to finish (seconds, or such as
    /// 1m); a turn still running then is stopped and its reply kept as partial. Default: 10s.
    #[arg(long, env = "PLUGBOARD_SHUTDOWN_GRACE", value_parser = parse_duration)]
    shutdown_grace: Option<Duration>,
}

impl ConnectionOptions {
    /// The limits these options and `file` give, checked.
    pub(crate) fn limits(&self, file: &FileConfig) -> anyhow::Result<plugboard_server::ConnectionLimits> {
        let defaults = plugboard_server::ConnectionLimits::default();
        let duration = |flag: Option<Duration>, key: &str, text: &Option<String>, default: Duration| {
            if let Some(flag) = flag {
                return Ok(flag);
            }
            match text {
                Some(text) => parse_duration(text).map_err(|error| {
                    anyhow::anyhow!(
                        "`{key} = \"{text}\"` in the configuration file is not a duration ({error}); use one such as \"30s\""
                    )
                }),
                None => Ok(default),
            }
        };
        let limits = plugboard_server::ConnectionLimits {
            header_timeout: duration(
                self.header_timeout,
                "header_timeout",
                &file.header_timeout,
                defaults.header_timeout,
            )?,
            body_timeout: duration(self.body_timeout, "body_timeout", &file.body_timeout, defaults.body_timeout)?,
            idle_timeout: duration(self.idle_timeout, "idle_timeout", &file.idle_timeout, defaults.idle_timeout)?,
            max_connections: self.max_connections.or(file.max_connections).unwrap_or(defaults.max_connections),
            shutdown_grace: duration(
                self.shutdown_grace,
                "shutdown_grace",
                &file.shutdown_grace,
                defaults.shutdown_grace,
            )?,
        };
        limits
            .check()
            .map_err(|problem| anyhow::anyhow!("{problem} (a flag, `PLUGBOARD_*` or the configuration file)"))?;
        Ok(limits)
    }
}
