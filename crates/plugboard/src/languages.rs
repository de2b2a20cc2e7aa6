//! Plugins in Python, JavaScript and TypeScript beside Rust: which language a plugin
//! folder is written in, and, for the first three, the SDK, the ABI's WIT files and the
//! pinned build and test tools (componentize-py and pytest from PyPI; componentize-js and
//! esbuild from npm), fetched on first use into a cache folder that every plugin shares.
//!
//! The SDKs and the WIT files are embedded in this binary (see `build.rs`) and written
//! out once per version, so a plugin builds with the SDK of the Plugboard that runs it.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The languages a plugin can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Language {
    /// Rust, built with cargo for wasm32-wasip2 (the SDK is `plugboard-sdk`).
    Rust,
    /// Python 3, built with componentize-py (the SDK is `plugboard_sdk`).
    Python,
    /// JavaScript (ES modules), built with componentize-js (the SDK is `@plugboard/sdk`).
    Javascript,
    /// TypeScript, bundled with esbuild, then built as JavaScript.
    Typescript,
}

/// The file each language's build starts from, in the order `detect` looks for them.
const ENTRY_FILES: [(&str, Language); 4] = [
    ("Cargo.toml", Language::Rust),
    ("plugin.py", Language::Python),
    ("src/plugin.ts", Language::Typescript),
    ("src/plugin.js", Language::Javascript),
];

/// The module componentize-py builds: the SDK's glue, which imports the author's
/// `plugin.py` and exports every interface of the `plugin` world.
const PYTHON_ENTRY_MODULE: &str = "plugboard_sdk.guest";

impl Language {
    /// Its name on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Javascript => "javascript",
            Language::Typescript => "typescript",
        }
    }

    /// The language of the plugin in `folder`, told by the file its build starts from.
    pub(crate) fn detect(folder: &Path) -> anyhow::Result<Language> {
        ENTRY_FILES.iter().find(|(file, _)| folder.join(file).is_file()).map(|(_, language)| *language).with_context(
            || {
                format!(
                    "{} holds no plugin source: a Rust plugin has Cargo.toml, a Python one plugin.py, a TypeScript one src/plugin.ts and a JavaScript one src/plugin.js (`plugboard plugin new <name> --lang ...` writes one)",
                    folder.display()
                )
            },
        )
    }

    /// The template files of `plugin new` for this language (not Rust's, which
    /// `authoring` keeps itself), as paths inside the new folder with their contents.
    pub(crate) fn template(self) -> Vec<(String, &'static [u8])> {
        let prefix = format!("{}/", self.name());
        embedded::TEMPLATE_FILES
            .iter()
            .filter_map(|(path, bytes)| path.strip_prefix(&prefix).map(|relative| (relative, *bytes)))
            .map(|(relative, bytes)| {
                let relative = relative.strip_suffix(".tmpl").unwrap_or(relative);
                let relative = match relative.rsplit_once('/') {
                    Some((folder, "gitignore")) => format!("{folder}/.gitignore"),
                    None if relative == "gitignore" => ".gitignore".to_owned(),
                    _ => relative.to_owned(),
                };
                (relative, bytes)
            })
            .collect()
    }
}

/// Where the tools and SDKs are kept: `$PLUGBOARD_TOOLS_DIR`, else
/// `$XDG_CACHE_HOME/plugboard/tools`, else `~/.cache/plugboard/tools`.
pub(crate) fn tools_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PLUGBOARD_TOOLS_DIR").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("plugboard").join("tools")
}

/// Where `plugin test` keeps compiled components between runs: `$PLUGBOARD_CACHE_DIR`
/// when set (as for the server), else beside the tools. A Python or JavaScript component
/// takes tens of seconds to compile the first time.
pub(crate) fn compiled_cache() -> PathBuf {
    std::env::var_os("PLUGBOARD_CACHE_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| tools_root().join("compiled"), PathBuf::from)
}

/// The embedded SDKs and WIT files, written out under the tools folder (once per
/// version of them).
pub(crate) struct Sdk {
    root: PathBuf,
}

impl Sdk {
    /// Writes the embedded files out unless this version of them is already there.
    pub(crate) fn unpack() -> anyhow::Result<Sdk> {
        let mut digest = Vec::new();
        for (path, bytes) in embedded::SDK_FILES {
            digest.extend_from_slice(path.as_bytes());
            digest.push(0);
            digest.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            digest.extend_from_slice(bytes);
        }
        let hash = plugboard_package::sha256_hex(&digest);
        let tools = tools_root();
        let root = tools.join(format!("sdk-{}", &hash[..16]));
        if root.join(".complete").is_file() {
            return Ok(Sdk { root });
        }
        std::fs::create_dir_all(&tools)
            .with_context(|| format!("cannot create the tools folder {}", tools.display()))?;
        let staging = tempfile::tempdir_in(&tools)
            .with_context(|| format!("cannot write in the tools folder {}", tools.display()))?;
        for (path, bytes) in embedded::SDK_FILES {
            let target = staging.path().join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&target, bytes).with_context(|| format!("cannot write {}", target.display()))?;
        }
        std::fs::write(staging.path().join(".complete"), "")?;
        let staged = staging.keep();
        // Another build may have unpacked the same files meanwhile: either copy will do.
        if std::fs::rename(&staged, &root).is_err() {
            std::fs::remove_dir_all(&staged).ok();
            anyhow::ensure!(root.join(".complete").is_file(), "cannot unpack the plugin SDK into {}", root.display());
        }
        Ok(Sdk { root })
    }

    /// The ABI's WIT folder (`plugboard:plugin@0.1.0`).
    pub(crate) fn wit(&self) -> PathBuf {
        self.root.join("wit/v0.1.0")
    }

    /// The Python SDK: the folder holding the `plugboard_sdk` package.
    pub(crate) fn python(&self) -> PathBuf {
        self.root.join("python")
    }

    /// The JavaScript and TypeScript SDK (`@plugboard/sdk`) with its build driver.
    pub(crate) fn js(&self) -> PathBuf {
        self.root.join("js")
    }
}

/// A tool folder installed once under an exclusive lock, so builds started at the same
/// time neither install twice nor use a half-installed folder.
fn installed(name: &str, pins: &[u8], install: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<PathBuf> {
    let tools = tools_root();
    std::fs::create_dir_all(&tools).with_context(|| format!("cannot create the tools folder {}", tools.display()))?;
    let key = &plugboard_package::sha256_hex(pins)[..12];
    let folder = tools.join(format!("{name}-{key}"));
    let lock_path = tools.join(format!("{name}-{key}.lock"));
    let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
    let ready = folder.join(".ready");
    if !ready.is_file() {
        if folder.exists() {
            // What an interrupted install left.
            std::fs::remove_dir_all(&folder).with_context(|| format!("cannot remove {}", folder.display()))?;
        }
        std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
        install(&folder)?;
        std::fs::write(&ready, "")?;
    }
    Ok(folder)
}

/// Runs a tool with its output shown on stderr (stdout carries the command's result).
fn run_shown(command: &mut Command, what: &str, fix: &str) -> anyhow::Result<()> {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| format!("cannot run {what}: {fix}"))?;
    if !status.success() {
        bail!("{what} failed ({status}; its output is above)");
    }
    Ok(())
}

/// The pinned requirement lines of a pip requirements file, for messages.
fn pins(requirements: &str) -> String {
    requirements
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Python tools: a virtual environment with componentize-py and pytest at the
/// versions the SDK pins (`sdk/python/toolchain/requirements.txt`).
pub(crate) struct PythonTools {
    venv: PathBuf,
}

impl PythonTools {
    /// The environment, made with the `python3` on the PATH (or `$PLUGBOARD_PYTHON`) and
    /// filled from PyPI on first use.
    pub(crate) fn ensure(sdk: &Sdk) -> anyhow::Result<PythonTools> {
        let requirements = sdk.python().join("toolchain/requirements.txt");
        let pinned = std::fs::read(&requirements).with_context(|| format!("cannot read {}", requirements.display()))?;
        let python = std::env::var_os("PLUGBOARD_PYTHON").unwrap_or_else(|| "python3".into());
        let venv = installed("python", &pinned, |folder| {
            eprintln!(
                "installing the Python plugin tools ({}) from PyPI into {} (first use; later builds reuse them)",
                pins(&String::from_utf8_lossy(&pinned)),
                folder.display()
            );
            let fix = "Python plugins need Python 3.11 or newer as `python3` on the PATH (or set PLUGBOARD_PYTHON)";
            run_shown(Command::new(&python).arg("-m").arg("venv").arg(folder), "python3 -m venv", fix)?;
            run_shown(
                Command::new(folder.join("bin/python"))
                    .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-r"])
                    .arg(&requirements),
                "pip install",
                "the virtual environment has no pip",
            )
        })?;
        Ok(PythonTools { venv })
    }

    fn python(&self) -> Command {
        Command::new(self.venv.join("bin/python"))
    }

    /// Checks the syntax of the plugin's Python files (not its tests): a mistake is shown
    /// as `file:line:column: message` with the line, before a minute of componentizing.
    pub(crate) fn check_syntax(&self, folder: &Path) -> anyhow::Result<()> {
        let mut files = Vec::new();
        python_files(folder, folder, &mut files);
        if files.is_empty() {
            return Ok(());
        }
        let output = self
            .python()
            .arg("-c")
            .arg(CHECK_SYNTAX)
            .args(&files)
            .current_dir(folder)
            .stdin(Stdio::null())
            .output()
            .context("cannot run the environment's python")?;
        if !output.status.success() {
            bail!("{}", String::from_utf8_lossy(&output.stderr).trim_end());
        }
        Ok(())
    }

    /// componentize-py over the SDK's glue and the plugin's `plugin.py`, for world
    /// `world` of the WIT folder `wit`, to `out`.
    pub(crate) fn componentize(
        &self,
        sdk: &Sdk,
        (wit, world): (&Path, &str),
        folder: &Path,
        out: &Path,
    ) -> anyhow::Result<std::process::Output> {
        Command::new(self.venv.join("bin/componentize-py"))
            .arg("-d")
            .arg(wit)
            .args(["-w", world, "componentize", PYTHON_ENTRY_MODULE, "-p"])
            .arg(folder)
            .arg("-p")
            .arg(sdk.python())
            .arg("-o")
            .arg(out)
            .current_dir(folder)
            // Without Rust's backtrace, its report of a Python error is the error.
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .output()
            .context("cannot run componentize-py")
    }

    /// pytest in the plugin folder, the SDK importable; its output is returned whole.
    pub(crate) fn unit_tests(&self, sdk: &Sdk, folder: &Path) -> anyhow::Result<std::process::Output> {
        let path = std::env::join_paths([folder.to_path_buf(), sdk.python()])?;
        self.python()
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .env("PYTHONPATH", path)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(folder)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run pytest")
    }
}

/// Reports every syntax error of the files given, as `file:line:column: message`.
const CHECK_SYNTAX: &str = r#"
import ast, sys
failed = False
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as source:
            ast.parse(source.read(), path)
    except SyntaxError as error:
        failed = True
        print(f"{error.filename}:{error.lineno}:{error.offset}: {error.msg}", file=sys.stderr)
        if error.text:
            print("    " + error.text.rstrip(), file=sys.stderr)
sys.exit(1 if failed else 0)
"#;

/// The plugin's own Python files, relative to `folder`: not tests, hidden folders or
/// virtual environments.
fn python_files(folder: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || matches!(name.as_str(), "tests" | "test" | "__pycache__" | "venv" | "node_modules")
        {
            continue;
        }
        if path.is_dir() {
            python_files(folder, &path, files);
        } else if name.ends_with(".py")
            && let Ok(relative) = path.strip_prefix(folder)
        {
            files.push(relative.to_path_buf());
        }
    }
}

/// The JavaScript and TypeScript tools: componentize-js and esbuild at the versions the
/// SDK pins (`sdk/js/toolchain/package.json` and its lock file), installed with `npm ci`.
pub(crate) struct JsTools {
    folder: PathBuf,
}

impl JsTools {
    /// The tools, installed from npm on first use with the `npm` on the PATH.
    pub(crate) fn ensure(sdk: &Sdk) -> anyhow::Result<JsTools> {
        let toolchain = sdk.js().join("toolchain");
        let manifest = std::fs::read(toolchain.join("package.json"))
            .with_context(|| format!("cannot read {}", toolchain.join("package.json").display()))?;
        let lock = std::fs::read(toolchain.join("package-lock.json"))
            .with_context(|| format!("cannot read {}", toolchain.join("package-lock.json").display()))?;
        let mut pinned = manifest.clone();
        pinned.extend_from_slice(&lock);
        let node_version = node_version()?;
        let folder = installed("js", &pinned, |folder| {
            let names: serde_json::Value = serde_json::from_slice(&manifest).unwrap_or_default();
            let listed = names["dependencies"]
                .as_object()
                .into_iter()
                .chain(names["devDependencies"].as_object())
                .flatten()
                .map(|(name, version)| format!("{name} {}", version.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ");
            eprintln!(
                "installing the JavaScript plugin tools ({listed}) from npm into {} with Node.js {node_version} (first use; later builds reuse them)",
                folder.display()
            );
            std::fs::File::create(folder.join("package.json"))?.write_all(&manifest)?;
            std::fs::File::create(folder.join("package-lock.json"))?.write_all(&lock)?;
            run_shown(
                Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(folder),
                "npm ci",
                "JavaScript and TypeScript plugins need Node.js 20 or newer with npm on the PATH",
            )
        })?;
        Ok(JsTools { folder })
    }

    /// `node <driver> <verb> --plugin <folder> --tools <node_modules> [args]`.
    fn driver(&self, sdk: &Sdk, verb: &str, folder: &Path) -> Command {
        let mut command = Command::new("node");
        command
            .arg(sdk.js().join("tools/plugboard-js.mjs"))
            .arg(verb)
            .arg("--plugin")
            .arg(folder)
            .arg("--tools")
            .arg(&self.folder)
            .current_dir(folder)
            .stdin(Stdio::null());
        command
    }

    /// Bundles the plugin with the SDK and componentizes it for world `world` of the WIT
    /// folder `wit`, which imports the host interfaces `imports`, to `out`.
    pub(crate) fn componentize(
        &self,
        sdk: &Sdk,
        (wit, world): (&Path, &str),
        imports: &[&str],
        folder: &Path,
        out: &Path,
    ) -> anyhow::Result<std::process::Output> {
        self.driver(sdk, "build", folder)
            .arg("--wit")
            .arg(wit)
            .args(["--world", world, "--imports", &imports.join(",")])
            .arg("--out")
            .arg(out)
            .output()
            .context("cannot run node")
    }

    /// The plugin's tests under node's test runner; their output is returned whole.
    pub(crate) fn unit_tests(&self, sdk: &Sdk, folder: &Path) -> anyhow::Result<std::process::Output> {
        self.driver(sdk, "test", folder).stderr(Stdio::inherit()).output().context("cannot run node")
    }
}

/// The version of the `node` on the PATH; an error saying what to install when it is
/// missing or older than 20.
fn node_version() -> anyhow::Result<String> {
    let fix = "JavaScript and TypeScript plugins need Node.js 20 or newer with npm on the PATH (https://nodejs.org, or your system's `nodejs` and `npm` packages)";
    let output = Command::new("node").arg("--version").output().with_context(|| format!("cannot run node: {fix}"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().trim_start_matches('v').to_owned();
    let major: u32 = version.split('.').next().and_then(|major| major.parse().ok()).unwrap_or(0);
    if !output.status.success() || major < 20 {
        bail!("found Node.js `{version}`: {fix}");
    }
    Ok(version)
}

/// The host interfaces a component of `manifest` imports: `log`, `settings` and
/// `completion-sink` always, each other one only when the manifest grants a permission
/// that uses it. A Python or JavaScript component built for this world has no import
/// for what it may not do (the SDK answers such calls with the host's own refusal), and
/// the host sees no ungranted import to warn about.
pub(crate) fn granted_imports(manifest: &plugboard_manifest::Manifest) -> Vec<&'static str> {
    let mut imports = vec!["log", "settings", "completion-sink"];
    for permission in plugboard_manifest::Permission::ALL {
        let interface = permission.host_interface();
        if manifest.grants(permission) && !imports.contains(&interface) {
            imports.push(interface);
        }
    }
    if !manifest.dependencies.is_empty() {
        imports.push("plugins");
    }
    imports
}

/// The name of the world `granted_wit` adds.
pub(crate) const GRANTED_WORLD: &str = "granted";

/// A copy of the SDK's WIT folder with one more world, `granted`: the `plugin` world's
/// exports with only `imports` among its imports.
pub(crate) fn granted_wit(sdk: &Sdk, imports: &[&str]) -> anyhow::Result<tempfile::TempDir> {
    let copy = tempfile::tempdir().context("cannot make a temporary folder")?;
    let mut exports = Vec::new();
    for entry in std::fs::read_dir(sdk.wit()).with_context(|| format!("cannot read {}", sdk.wit().display()))? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if path.file_name().is_some_and(|name| name == "world.wit") {
            exports.extend(text.lines().map(str::trim).filter(|line| line.starts_with("export ")).map(str::to_owned));
        }
        std::fs::write(copy.path().join(path.file_name().unwrap_or_default()), text)?;
    }
    anyhow::ensure!(!exports.is_empty(), "the SDK's world.wit exports nothing");
    let mut world = String::from("package plugboard:plugin@0.1.0;\n\n");
    world.push_str("/// The `plugin` world with only the host services this plugin's manifest grants.\n");
    world.push_str(&format!("world {GRANTED_WORLD} {{\n"));
    for import in imports {
        world.push_str(&format!("    import {import};\n"));
    }
    for export in &exports {
        world.push_str(&format!("    {export}\n"));
    }
    world.push_str("}\n");
    std::fs::write(copy.path().join("granted.wit"), world)?;
    Ok(copy)
}
