//! The `plugboard` binary: a thin shell that parses the command line, opens the store and
//! the plugin registry, and serves (or runs one plugin call for `plugin run`).

#![allow(clippy::print_stdout, reason = "the command line prints its results on stdout")]

mod authoring;
mod config;
mod db_cli;
mod languages;
mod mcp_call;
mod mcp_cli;
mod models;
mod plugin_cli;
mod plugins;
mod secrets_cli;
mod user_cli;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{ConnectionOptions, FileConfig};
use models::{LocalOptions, ModelDirOptions};
use plugboard_chat::EngineConfig;
use plugboard_openai::{OpenAiConfig, OpenAiProvider};
use plugboard_server::{ServerConfig, SignupPolicy};
use plugboard_types::Provider;
use plugins::PluginOptions;

#[derive(Debug, Parser)]
#[command(name = "plugboard", version, about = "A self-hosted, plugin-first AI chat server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server.
    Serve {
        /// Address to listen on. Default: 127.0.0.1:8080.
        #[arg(long, env = "PLUGBOARD_ADDR")]
        addr: Option<SocketAddr>,
        /// Development mode: watch the plugin directories and reload a plugin when its
        /// files change (after `cargo build`; nothing is rebuilt).
        #[arg(long, env = "PLUGBOARD_DEV")]
        dev: bool,
        /// Who may sign up after the first user (the admin): `open` or `closed`. Default: open.
        #[arg(long, env = "PLUGBOARD_SIGNUP")]
        signup: Option<SignupPolicy>,
        /// An OpenAI-compatible server's base URL, such as http://127.0.0.1:11434/v1.
        #[arg(long, env = "PLUGBOARD_OPENAI_BASE_URL")]
        openai_base_url: Option<String>,
        /// Its API key (a secret: never logged or shown).
        #[arg(long, env = "PLUGBOARD_OPENAI_API_KEY", hide_env_values = true)]
        openai_api_key: Option<String>,
        /// The model used when a request names none, `provider/model`.
        #[arg(long, env = "PLUGBOARD_DEFAULT_MODEL")]
        default_model: Option<String>,
        /// The address people reach the server at when it is behind a proxy, such as
        /// https://chat.example.org: its pages may change state with the session cookie.
        #[arg(long, env = "PLUGBOARD_PUBLIC_URL")]
        public_url: Option<url::Url>,
        /// This server's name among several sharing a PostgreSQL database, shown with its
        /// plugin events (default: a generated one).
        #[arg(long, env = "PLUGBOARD_NODE_NAME")]
        node_name: Option<String>,
        /// `/mcp` also offers the tools of the MCP servers Plugboard uses (off: only the
        /// plugins' tools).
        #[arg(long, env = "PLUGBOARD_MCP_EXPOSE_MCP_SERVERS")]
        mcp_expose_mcp_servers: bool,
        /// How long a tool call whose policy is `ask` waits for the person's approval
        /// (seconds, or such as 5m); undecided by then, it is denied. Default: 5m.
        #[arg(long, env = "PLUGBOARD_APPROVAL_TIMEOUT", value_parser = config::parse_duration)]
        approval_timeout: Option<Duration>,
        #[command(flatten)]
        plugins: PluginOptions,
        #[command(flatten)]
        local: Box<LocalOptions>,
        #[command(flatten)]
        connections: Box<ConnectionOptions>,
    },
    /// Serves Plugboard's tools to an MCP client on standard input and output, as one
    /// user (`--user NAME` or `--token TOKEN`), over the same data folder as `serve`.
    Mcp(Box<mcp_cli::McpOptions>),
    /// Works with plugins.
    Plugin {
        #[command(subcommand)]
        command: plugin_cli::PluginCommand,
    },
    /// Works with accounts on the data folder (with or without a server running on it).
    User {
        #[command(subcommand)]
        command: user_cli::UserCommand,
    },
    /// Works with the server key that encrypts secret plugin settings in the data folder.
    Secrets {
        #[command(subcommand)]
        command: secrets_cli::SecretsCommand,
    },
    /// Works with the database: copies a SQLite installation into PostgreSQL.
    Db {
        #[command(subcommand)]
        command: db_cli::DbCommand,
    },
    /// Reaches an MCP server as the chat server would (its URL, or a command after `--`),
    /// and lists its tools or calls one (`--tool NAME --arguments JSON`), printing what the
    /// model would be given.
    McpCall(mcp_call::McpCallArgs),
    /// Works with local models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Prints a completion script for a shell, for example
    /// `plugboard completions bash > ~/.local/share/bash-completion/completions/plugboard`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Downloads a GGUF model from the Hugging Face hub into the model cache (resuming an
    /// interrupted download, checking the hub's SHA-256) and prints its path.
    Pull {
        /// The hub repository, such as HuggingFaceTB/SmolLM2-360M-Instruct-GGUF.
        repo: String,
        /// The GGUF file in it, such as smollm2-360m-instruct-q8_0.gguf.
        file: String,
        #[command(flatten)]
        dirs: ModelDirOptions,
    },
    /// Lists the models in the cache, with the id each has in the `local` provider.
    List {
        #[command(flatten)]
        dirs: ModelDirOptions,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The server logs what it does; one-shot commands print their result and only warn.
    let default_log = match cli.command {
        Command::Serve { .. } => "info,cranelift=warn,wasmtime=warn",
        _ => "warn,cranelift=warn,wasmtime=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PLUGBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            addr,
            dev,
            signup,
            openai_base_url,
            openai_api_key,
            default_model,
            public_url,
            node_name,
            mcp_expose_mcp_servers,
            approval_timeout,
            plugins,
            local,
            connections,
        } => {
            let file = FileConfig::load(plugins.config.as_deref())?;
            let opened = plugins.open(&file).await?;
            let packages = plugboard_server::PackagesConfig {
                catalogue: opened.packages.index.as_deref().map(plugboard_registry::Catalogue::new).transpose()?,
                install: opened.packages.install,
            };
            let mcp = plugboard_server::McpServersConfig {
                servers: file.mcp_servers.clone(),
                working_folder: std::fs::canonicalize(&opened.data_dir).unwrap_or_else(|_| opened.data_dir.clone()),
            };
            let mut app = opened.app.packages(packages).mcp_servers(mcp);
            let openai_file = file.models.openai.as_ref();
            let remote =
                if let Some(base_url) = openai_base_url.or_else(|| openai_file.and_then(|o| o.base_url.clone())) {
                    let mut config = OpenAiConfig::new("openai", base_url);
                    config.api_key = openai_api_key.or_else(|| openai_file.and_then(|o| o.api_key.clone()));
                    let tls = plugboard_host::tls_config().map_err(anyhow::Error::msg)?;
                    app = app.provider(Arc::new(OpenAiProvider::new(config, tls)?));
                    true
                } else if let Some(ollama) = local_ollama().await {
                    app = app.provider(ollama);
                    true
                } else {
                    false
                };
            // The embedded model: the default when no other model server is there
            // (downloaded on first start), else only when a file is configured.
            let (local, local_model) = models::start_local(&local, &file, &opened.data_dir, remote);
            let default_model = default_model.or(file.models.default.clone());
            let mut engine_config = EngineConfig::default();
            if let Some(prompt) = file.models.system_prompt.clone() {
                engine_config.system_prompt = prompt;
            }
            engine_config.approval_timeout = config::approval_timeout(approval_timeout, &file)?;
            let server_config = ServerConfig {
                signup: signup.or(file.signup).unwrap_or_default(),
                max_upload_bytes: file
                    .max_upload_mb
                    .map_or(10 << 20, |mb| usize::try_from(mb << 20).unwrap_or(usize::MAX)),
                public_url: public_url.or(file.public_url.clone()),
                allowed_origins: file.allowed_origins.clone().unwrap_or_default(),
                connections: connections.limits(&file)?,
                mcp_expose_mcp_servers: mcp_expose_mcp_servers || file.mcp_expose_mcp_servers == Some(true),
                ..ServerConfig::default()
            };
            let server_config = match node_name.or(file.node_name.clone()) {
                Some(node_name) => ServerConfig { node_name, ..server_config },
                None => server_config,
            };
            let state = app
                .provider(Arc::new(local))
                .default_model(default_model.or(if remote { None } else { local_model }))
                .engine_config(engine_config)
                .server_config(server_config)
                .user_calls_per_minute(file.user_calls_per_minute.unwrap_or(120))
                .chat_turns_per_minute(file.chat_turns_per_minute.unwrap_or(60))
                .build()
                .await
                .context("starting the plugin runtime")?;
            let report = state.start_plugins().await;
            // Compiled versions no plugin here uses any more would stay for ever.
            state.registry.prune_compiled_cache().await;
            tracing::info!(loaded = report.loaded.len(), failed = report.failed.len(), "plugins started");
            let _watch = if dev || file.dev == Some(true) {
                Some(state.registry.watch(Duration::from_millis(300))?)
            } else {
                None
            };
            let addr = addr.or(file.addr).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            plugboard_server::serve(listener, state, shutdown_signal()).await
        }
        Command::Mcp(options) => mcp_cli::run(*options).await,
        Command::Plugin { command } => plugin_cli::run(command).await,
        Command::User { command } => user_cli::run(command).await,
        Command::Secrets { command } => secrets_cli::run(command).await,
        Command::Db { command } => db_cli::run(command).await,
        Command::McpCall(args) => mcp_call::run(args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "plugboard",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Model { command: ModelCommand::Pull { repo, file, dirs } } => {
            let path = models::pull(&dirs, &repo, &file).await?;
            println!("{}", path.display());
            Ok(())
        }
        Command::Model { command: ModelCommand::List { dirs } } => {
            print!("{}", models::list(&dirs)?);
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutting down");
}

/// Where Ollama listens by default.
const OLLAMA_URL: &str = "http://127.0.0.1:11434/v1";

/// Ollama at its default address (or `PLUGBOARD_OLLAMA_URL`), when it answers (checked
/// once, briefly, at start-up).
async fn local_ollama() -> Option<Arc<dyn Provider>> {
    let url = std::env::var("PLUGBOARD_OLLAMA_URL").unwrap_or_else(|_| OLLAMA_URL.to_owned());
    let mut config = OpenAiConfig::new("ollama", url.clone());
    config.attempts = 1;
    let provider = OpenAiProvider::new(config, plugboard_host::tls_config().ok()?).ok()?;
    let found = tokio::time::timeout(Duration::from_secs(2), provider.models()).await;
    match found {
        Ok(Ok(models)) => {
            tracing::info!(models = models.len(), "found Ollama at {url}; its models are offered");
            Some(Arc::new(provider))
        }
        _ => None,
    }
}
