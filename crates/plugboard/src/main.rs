//! The `plugboard` binary: a thin shell that parses the command line, starts the plugin
//! runtime and serves (or runs one plugin call for `plugin run`).

#![allow(clippy::print_stdout, reason = "the command line prints its results on stdout")]

mod catalog;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use plugboard_host::{Runtime, RuntimeConfig, Services};

#[derive(Debug, Parser)]
#[command(name = "plugboard", version, about = "A self-hosted, plugin-first AI chat server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where plugins come from, shared by every command.
#[derive(Debug, clap::Args)]
struct PluginOptions {
    /// Extra plugin directories, comma-separated; each sub-folder holding a plugin.toml is
    /// a plugin. The bundled plugins are always available.
    #[arg(long, env = "PLUGINS_DIRS", value_delimiter = ',')]
    plugins_dirs: Vec<PathBuf>,
    /// Where compiled plugins are cached between runs.
    #[arg(long, env = "PLUGBOARD_CACHE_DIR", default_value = "plugboard-data/cache")]
    cache_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PLUGBOARD_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Works with plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Lists the plugins found, with their version, hooks and permissions.
    List {
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Runs a plugin's first tool with `{"input": <input>}` and prints the result, like
    /// `/run <plugin> <input>` in chat. No server needed.
    Run {
        /// The plugin id.
        plugin: String,
        /// The input, as one string (quote it, or pass several words).
        #[arg(required = true, num_args = 1..)]
        input: Vec<String>,
        #[command(flatten)]
        plugins: PluginOptions,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PLUGBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,cranelift=warn,wasmtime=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
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

fn start_runtime(options: &PluginOptions) -> anyhow::Result<Runtime> {
    let config = RuntimeConfig { cache_dir: Some(options.cache_dir.clone()), ..RuntimeConfig::default() };
    Runtime::new(config, Services::default()).context("starting the plugin runtime")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { addr, plugins } => {
            let runtime = start_runtime(&plugins)?;
            catalog::load_all(&runtime, &plugins.plugins_dirs).await;
            server::serve(runtime, addr).await
        }
        Command::Plugin { command: PluginCommand::List { plugins } } => {
            let runtime = start_runtime(&plugins)?;
            let failures = catalog::load_all(&runtime, &plugins.plugins_dirs).await;
            let mut out = String::new();
            for plugin in runtime.plugins() {
                let manifest = plugin.manifest();
                let hooks: Vec<String> = plugin.hooks().map(|h| h.to_string()).collect();
                let permissions: Vec<&str> = manifest.permissions.iter().map(|p| p.as_str()).collect();
                out.push_str(&format!(
                    "{} {}\n  {}\n  hooks: {}\n  permissions: {}\n",
                    manifest.id,
                    manifest.version,
                    manifest.description,
                    hooks.join(", "),
                    if permissions.is_empty() { "none".to_owned() } else { permissions.join(", ") }
                ));
            }
            print!("{out}");
            anyhow::ensure!(failures == 0, "{failures} plugin(s) failed to load (see the log above)");
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Run { plugin, input, plugins } } => {
            let runtime = start_runtime(&plugins)?;
            catalog::load_all(&runtime, &plugins.plugins_dirs).await;
            let id = plugboard_manifest::PluginId::parse(&plugin)?;
            let plugin = runtime.plugin(&id).with_context(|| {
                let known: Vec<String> = runtime.plugin_ids().iter().map(ToString::to_string).collect();
                format!("no plugin `{id}` is loaded; available: {}", known.join(", "))
            })?;
            let output = plugin.run_with_input(&Default::default(), &input.join(" ")).await?;
            println!("{output}");
            Ok(())
        }
    }
}
