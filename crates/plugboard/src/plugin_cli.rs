//! `plugboard plugin …`: operators' commands over the data folder (list, info, enable,
//! disable, run, install, uninstall, trust) and authors' commands over a plugin folder
//! (new, build, test, package, keygen, sign, verify, index). None needs a server.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use plugboard_package::PublicKey;
use plugboard_registry::{Catalogue, Installed};

use crate::authoring;
use crate::config::FileConfig;
use crate::languages::Language;
use crate::plugins::PluginOptions;

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Lists the plugins found, with their version, hooks and permissions.
    List {
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Shows one plugin: manifest, state, permissions, hooks, tools, commands, routes,
    /// settings (secrets hidden), and where it was installed from.
    Info {
        /// The plugin id.
        plugin: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Enables a plugin (kept across restarts). A server running on the same data folder
    /// applies it within a few seconds.
    Enable {
        /// The plugin id.
        plugin: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Disables a plugin (kept across restarts); see `enable`.
    Disable {
        /// The plugin id.
        plugin: String,
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
    /// Runs a scheduled task of a plugin once, now, and prints how it went; the run is
    /// recorded in the task's history like a manual run from the web UI. No server needed.
    RunTask {
        /// The plugin id.
        plugin: String,
        /// The task's name, as in its `[[schedules]]` entry.
        task: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Makes a new plugin folder (a tool, a slash command, a setting, a self-test and unit
    /// tests) that builds, tests and packages as it is, in Rust, Python, JavaScript or
    /// TypeScript.
    New {
        /// The plugin id, such as `my-plugin`; also the folder's name.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum, default_value = "rust")]
        lang: Language,
        /// Where to create the folder. Default: the current folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// For a Rust plugin, the plugin SDK (`crates/plugboard-sdk` of a Plugboard
        /// checkout). Default: where it was when this binary was built. Python and
        /// JavaScript plugins use the SDK embedded in plugboard.
        #[arg(long)]
        sdk: Option<PathBuf>,
        /// The author written into the manifest.
        #[arg(long)]
        author: Option<String>,
    },
    /// Builds the plugin in a folder into the component its manifest names (`plugin.wasm`):
    /// Rust with cargo for wasm32-wasip2, Python with componentize-py, JavaScript and
    /// TypeScript with esbuild and componentize-js (those tools are fetched from PyPI or npm
    /// on first use, at pinned versions, into `~/.cache/plugboard/tools` or
    /// `$PLUGBOARD_TOOLS_DIR`).
    Build {
        /// The plugin folder. Default: the current folder.
        #[arg(long, default_value = ".")]
        path: PathBuf,
    },
    /// Tests the plugin in a folder: its unit tests (cargo test, pytest or node's test
    /// runner, against the SDK's fake host), a build, then loading it into a sandbox,
    /// checking the component against the manifest, and running its health check and
    /// self-test.
    Test {
        /// The plugin folder. Default: the current folder.
        #[arg(long, default_value = ".")]
        path: PathBuf,
    },
    /// Packs the plugin in a folder (manifest, component, ui/, docs/, README, LICENSE)
    /// into `<id>-<version>.plugboard`, signed when a key is given.
    Package {
        /// The plugin folder. Default: the current folder.
        #[arg(long, default_value = ".")]
        path: PathBuf,
        /// The package file to write. Default: `<id>-<version>.plugboard` here.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// A secret key (from `plugin keygen`) to sign it with.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Makes an ed25519 key pair for signing packages: `<name>.key` (secret) and
    /// `<name>.pub` (for operators' trust stores).
    Keygen {
        /// The files' path without extension, such as `release` or `keys/release`.
        name: PathBuf,
        /// A name for people, written beside the public key, such as "Ada <ada@example.org>".
        #[arg(long)]
        signer: Option<String>,
    },
    /// Signs a package file with a secret key (replacing any signature it had).
    Sign {
        /// The package file.
        package: PathBuf,
        /// The secret key file (`.key`).
        #[arg(long)]
        key: PathBuf,
        /// Write the signed package here instead of replacing the file.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Checks a package's signature against the trust store (and keys given here).
    /// Fails unless the package is signed by a trusted key.
    Verify {
        /// The package file.
        package: PathBuf,
        /// A public key (`.pub`) to trust for this check, in addition to the trust store.
        #[arg(long = "key")]
        keys: Vec<PathBuf>,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Adds a public key to the trust store: packages it signed install under the
    /// `require` policy, on a running server too from its next install. With `--list`,
    /// shows the trusted keys.
    Trust {
        /// The public key file (`.pub`).
        #[arg(required_unless_present = "list")]
        key: Option<PathBuf>,
        /// List the trusted keys instead.
        #[arg(long)]
        list: bool,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Installs a plugin package from a file, or a plugin by id from the plugin index:
    /// checks it (signature per the install policy, the component against its manifest,
    /// no downgrade unless --force), unpacks it into the data folder's `plugins/` and
    /// loads it. A running server picks it up when it next starts, or at once with `--dev`;
    /// upload to a running server through the web UI or the API instead.
    Install {
        /// A `.plugboard` file, or a plugin id to fetch from the index.
        package: String,
        /// The version to fetch from the index. Default: the newest.
        #[arg(long)]
        version: Option<semver::Version>,
        /// Install even when a newer version is installed.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Uninstalls a plugin installed from a package: unloads it and deletes its folder
    /// (its saved settings are kept). A bundled plugin with the same id comes back.
    Uninstall {
        /// The plugin id.
        plugin: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Writes `index.json` in a folder of `.plugboard` packages: a plugin index to serve
    /// or share (point `--plugin-index` at it).
    Index {
        /// The folder of packages.
        folder: PathBuf,
        /// A name for the index.
        #[arg(long, default_value = "Plugboard plugins")]
        name: String,
    },
}

#[allow(clippy::too_many_lines, reason = "one arm per command, each short")]
pub(crate) async fn run(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::List { plugins } => list(&plugins).await,
        PluginCommand::Info { plugin, plugins } => info(&plugin, &plugins).await,
        PluginCommand::Enable { plugin, plugins } => set_enabled(&plugin, &plugins, true).await,
        PluginCommand::Disable { plugin, plugins } => set_enabled(&plugin, &plugins, false).await,
        PluginCommand::Run { plugin, input, plugins } => run_tool(&plugin, &input.join(" "), &plugins).await,
        PluginCommand::RunTask { plugin, task, plugins } => run_task(&plugin, &task, &plugins).await,
        PluginCommand::New { name, lang, dir, sdk, author } => {
            let folder = authoring::new_plugin(&name, &dir, lang, sdk.as_deref(), author.as_deref())?;
            println!(
                "created {}\nnext: cd {} && plugboard plugin test && plugboard plugin package",
                folder.display(),
                folder.display()
            );
            Ok(())
        }
        PluginCommand::Build { path } => {
            let wasm = authoring::build(&path)?;
            let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or_default();
            println!("built {} ({} KiB)", wasm.display(), size.div_ceil(1024));
            Ok(())
        }
        PluginCommand::Test { path } => {
            print!("{}", authoring::test(&path).await?);
            println!("ok");
            Ok(())
        }
        PluginCommand::Package { path, out, key } => {
            let (written, package) = authoring::package(&path, out.as_deref(), key.as_deref())?;
            println!("{}", authoring::describe(&written, &package)?);
            Ok(())
        }
        PluginCommand::Keygen { name, signer } => {
            println!("{}", authoring::keygen(&name, signer)?);
            Ok(())
        }
        PluginCommand::Sign { package, key, out } => {
            let written = authoring::sign(&package, &key, out.as_deref())?;
            println!("{}", authoring::describe(&written, &authoring::read_package(&written)?)?);
            Ok(())
        }
        PluginCommand::Verify { package, keys, plugins } => {
            let file = FileConfig::load(plugins.config.as_deref())?;
            let settings = plugins.package_settings(&file, &plugins.data_dir(&file))?;
            println!("{}", authoring::verify(&package, settings.install.trust, &keys)?);
            Ok(())
        }
        PluginCommand::Trust { key, list, plugins } => trust(key.as_deref(), list, &plugins).await,
        PluginCommand::Install { package, version, force, plugins } => {
            install(&package, version.as_ref(), force, &plugins).await
        }
        PluginCommand::Uninstall { plugin, plugins } => {
            let registry = open_started(&plugins).await?;
            let id = plugboard_manifest::PluginId::parse(&plugin)?;
            let result = registry.uninstall(&id).await;
            registry.shutdown().await;
            println!("uninstalled {id} (removed {})", result?.display());
            Ok(())
        }
        PluginCommand::Index { folder, name } => {
            let (path, index) = authoring::index(&folder, &name)?;
            let count = index.plugins.len();
            println!("wrote {} ({count} package{})", path.display(), if count == 1 { "" } else { "s" });
            Ok(())
        }
    }
}

async fn open_started(plugins: &PluginOptions) -> anyhow::Result<plugboard_registry::Registry> {
    let registry = plugins.open(&FileConfig::load(plugins.config.as_deref())?).await?.registry().await?;
    registry.start().await;
    Ok(registry)
}

async fn trust(key: Option<&Path>, list: bool, plugins: &PluginOptions) -> anyhow::Result<()> {
    let file = FileConfig::load(plugins.config.as_deref())?;
    let data_dir = plugins.data_dir(&file);
    let mut store = plugins.package_settings(&file, &data_dir)?.install.trust;
    if list {
        let folder = store.folder().map(|f| f.display().to_string()).unwrap_or_default();
        if store.keys().is_empty() {
            println!("no trusted keys in {folder}; add one with `plugboard plugin trust <key.pub>`");
        }
        for key in store.keys() {
            println!("{} {}", key.fingerprint(), key.name().unwrap_or(""));
        }
        return Ok(());
    }
    let Some(key) = key else { anyhow::bail!("give the public key file to trust") };
    let key = PublicKey::read(key)?;
    let fingerprint = key.fingerprint();
    let text = key.to_file_text();
    let path = store.trust(key)?;
    // Kept in the database too, as the API does: every server sharing it trusts the key.
    let database = plugins.open_store(&file, &data_dir).await?;
    let saved = database.save_trusted_key(&fingerprint, text.trim_end()).await;
    database.close().await;
    saved?;
    println!(
        "trusted key {fingerprint} (saved as {}; a server running on this data folder, or sharing its database, accepts it from its next install)",
        path.display()
    );
    Ok(())
}

async fn install(
    package: &str,
    version: Option<&semver::Version>,
    force: bool,
    plugins: &PluginOptions,
) -> anyhow::Result<()> {
    let file = FileConfig::load(plugins.config.as_deref())?;
    // A file is read before anything is opened, so a wrong path fails at once.
    let path = Path::new(package);
    let from_file = path.is_file() || package.ends_with(&format!(".{}", plugboard_package::PACKAGE_EXTENSION));
    let bytes = if from_file {
        anyhow::ensure!(version.is_none(), "--version picks a version from the index; a file has its own");
        Some(std::fs::read(path).with_context(|| format!("cannot read the package {}", path.display()))?)
    } else {
        None
    };
    let opened = plugins.open(&file).await?;
    let mut options = opened.packages.install.clone();
    let index = opened.packages.index.clone();
    let registry = opened.registry().await?;
    registry.start().await;
    options.force = force;
    let result: anyhow::Result<Installed> = async {
        if let Some(bytes) = bytes {
            let bar = ProgressBar::new_spinner();
            bar.set_message(format!("installing {package}"));
            let installed = registry.install_package(&bytes, &options).await;
            bar.finish_and_clear();
            Ok(installed?)
        } else {
            let location = index.context(
                "no plugin index is configured: give a package file, or set --plugin-index / PLUGBOARD_PLUGIN_INDEX / [packages] index",
            )?;
            let catalogue = Catalogue::new(&location)?;
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(format!("downloading {package}"));
            let progress = {
                let bar = bar.clone();
                move |done: u64, total: Option<u64>| {
                    bar.set_length(total.unwrap_or(done));
                    bar.set_position(done);
                }
            };
            let installed = registry.install_from_index(&catalogue, package, version, &options, &progress).await;
            bar.finish_and_clear();
            Ok(installed?)
        }
    }
    .await;
    registry.shutdown().await;
    let installed = result?;
    for warning in &installed.verification.warnings {
        eprintln!("warning: {warning}");
    }
    let signer = match (&installed.verification.signer_fingerprint, installed.verification.trusted) {
        (Some(fingerprint), true) => format!("signed by trusted key {fingerprint}"),
        (Some(fingerprint), false) => format!("signed by untrusted key {fingerprint}"),
        (None, _) => "unsigned".to_owned(),
    };
    let replaced = installed.replaced.as_ref().map(|v| format!(", replacing {v}")).unwrap_or_default();
    println!(
        "installed {} {} into {} ({signer}{replaced})",
        installed.plugin,
        installed.version,
        installed.folder.display()
    );
    Ok(())
}

/// `plugin list`.
async fn list(plugins: &PluginOptions) -> anyhow::Result<()> {
    let registry = plugins.open(&FileConfig::load(plugins.config.as_deref())?).await?.registry().await?;
    let report = registry.start().await;
    let mut out = String::new();
    for entry in registry.list().await {
        let manifest = registry.plugin(&entry.id).map(|plugin| plugin.manifest().clone());
        let hooks: Vec<String> = registry
            .plugin(&entry.id)
            .map(|plugin| plugin.hooks().map(|h| h.to_string()).collect())
            .unwrap_or_default();
        let permissions: Vec<&str> = manifest.iter().flat_map(|m| m.permissions.iter().map(|p| p.as_str())).collect();
        let state = serde_json::to_value(entry.state)?;
        out.push_str(&format!(
            "{} {} [{}] ({})\n  {}\n  hooks: {}\n  permissions: {}\n",
            entry.id,
            entry.version,
            state.as_str().unwrap_or_default(),
            entry.origin,
            entry.description,
            if hooks.is_empty() { "none".to_owned() } else { hooks.join(", ") },
            if permissions.is_empty() { "none".to_owned() } else { permissions.join(", ") }
        ));
        if let Some(error) = entry.error.or(entry.disabled_reason) {
            out.push_str(&format!("  problem: {error}\n"));
        }
    }
    print!("{out}");
    registry.shutdown().await;
    let failures = report.failed.len();
    anyhow::ensure!(failures == 0, "{failures} plugin(s) failed to load (see the log above)");
    Ok(())
}

/// `plugin info`: everything known about one plugin, as JSON.
async fn info(plugin: &str, plugins: &PluginOptions) -> anyhow::Result<()> {
    let registry = open_started(plugins).await?;
    let id = plugboard_manifest::PluginId::parse(plugin)?;
    let entry = registry.list().await.into_iter().find(|entry| entry.id == id);
    let result = match (entry, registry.plugin(&id)) {
        (Some(entry), loaded) => {
            let manifest = loaded.as_ref().map(|plugin| plugin.manifest().clone());
            let info = serde_json::json!({
                "entry": entry,
                "manifest": manifest,
                "hooks": loaded.as_ref().map(|plugin| plugin.hooks().map(|hook| hook.as_str()).collect::<Vec<_>>()),
                "tools": loaded.as_ref().map(|plugin| plugin.tools()),
                "settings": registry.settings(&id).await.ok(),
                "tasks": registry.tasks(&id).await.ok(),
                "installed_from_package": registry.install_record(&id),
            });
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(())
        }
        (None, _) => {
            let known: Vec<String> = registry.list().await.into_iter().map(|entry| entry.id.to_string()).collect();
            Err(anyhow::anyhow!("no plugin `{id}`; known: {}", known.join(", ")))
        }
    };
    registry.shutdown().await;
    result
}

/// `plugin run`: the plugin's first tool with the input, in-process.
async fn run_tool(plugin: &str, input: &str, plugins: &PluginOptions) -> anyhow::Result<()> {
    let registry = open_started(plugins).await?;
    let id = plugboard_manifest::PluginId::parse(plugin)?;
    let found = registry.plugin(&id).with_context(|| {
        let known: Vec<String> = registry.runtime().plugin_ids().iter().map(ToString::to_string).collect();
        format!("no plugin `{id}` is loaded; available: {}", known.join(", "))
    })?;
    let output = found.run_with_input(&Default::default(), input).await;
    registry.shutdown().await;
    println!("{}", output?);
    Ok(())
}

/// `plugin run-task`: one run of a scheduled task, in-process, recorded in the store.
async fn run_task(plugin: &str, task: &str, plugins: &PluginOptions) -> anyhow::Result<()> {
    let registry = open_started(plugins).await?;
    let id = plugboard_manifest::PluginId::parse(plugin)?;
    let run = registry.run_task_now(&id, task).await;
    registry.shutdown().await;
    let run = run?;
    let outcome = serde_json::to_value(run.outcome)?;
    let outcome = outcome.as_str().unwrap_or("unknown");
    match &run.error {
        None => println!("{id}/{task}: {outcome} in {} ms", run.duration_ms),
        Some(error) => anyhow::bail!("{id}/{task}: {outcome} after {} ms: {error}", run.duration_ms),
    }
    Ok(())
}

/// `plugin enable` / `plugin disable`: the choice saved in the store, as the API makes it;
/// a server running on the same data folder follows the store and applies it.
async fn set_enabled(plugin: &str, plugins: &PluginOptions, enable: bool) -> anyhow::Result<()> {
    let registry = open_started(plugins).await?;
    let id = plugboard_manifest::PluginId::parse(plugin)?;
    let result = if enable { registry.enable(&id).await } else { registry.disable(&id).await };
    registry.shutdown().await;
    result?;
    let done = if enable { "enabled" } else { "disabled" };
    println!("{id} {done} (a server running on this data folder applies it within a few seconds)");
    Ok(())
}
