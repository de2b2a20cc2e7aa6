//! The plugin author's commands: `plugin new`, `build`, `test`, `package`, `keygen`,
//! `sign`, `verify` and `index`. They work on a plugin folder (a `plugin.toml` beside a
//! Rust crate, a Python `plugin.py` or a JavaScript/TypeScript `src/plugin.*`), with no
//! server. `languages` finds each language's tools.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use plugboard_manifest::{MANIFEST_FILE_NAME, Manifest, PluginId, parse_manifest};
use plugboard_package::{Index, Package, Policy, PublicKey, SigningKey, TrustStore};

use crate::languages::{self, JsTools, Language, PythonTools, Sdk};

/// Where the SDK's source was when this binary was built; `plugin new` points new
/// plugins at it unless told otherwise.
const BUILT_SDK_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugboard-sdk");

/// `plugin new <name>`: a plugin folder that builds, tests and packages as it is.
pub(crate) fn new_plugin(
    name: &str,
    parent: &Path,
    language: Language,
    sdk: Option<&Path>,
    author: Option<&str>,
) -> anyhow::Result<PathBuf> {
    let id = PluginId::parse(name).map_err(|error| {
        anyhow::anyhow!(
            "`{name}` cannot be a plugin id: {error}; use lowercase letters, digits and dashes, such as `my-plugin`"
        )
    })?;
    let folder = parent.join(id.as_str());
    if folder.exists() {
        bail!("{} exists already; choose another name or remove it", folder.display());
    }
    if language != Language::Rust && sdk.is_some() {
        bail!("`--sdk` names the Rust SDK; a {} plugin builds with the SDK embedded in plugboard", language.name());
    }
    let title: String = id
        .as_str()
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_uppercase().chain(chars).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let fill = |template: &str| {
        template
            .replace("{{id}}", id.as_str())
            .replace("{{crate}}", &id.as_str().replace('-', "_"))
            .replace("{{title}}", &title)
            .replace("{{author}}", author.unwrap_or("Your Name"))
    };
    if language != Language::Rust {
        let template = language.template();
        if template.is_empty() {
            bail!("this plugboard was built without the {} template", language.name());
        }
        for (relative, template) in template {
            let text = std::str::from_utf8(template).context("a template file is not UTF-8")?;
            write_new(&folder.join(relative), &fill(text))?;
        }
        return Ok(folder);
    }
    let sdk = rust_sdk(sdk)?;
    let fill = |template: &str| fill(template).replace("{{sdk}}", &sdk.display().to_string().replace('\\', "/"));
    let files: [(&str, &str); 8] = [
        ("Cargo.toml", include_str!("scaffold/Cargo.toml.tmpl")),
        (MANIFEST_FILE_NAME, include_str!("scaffold/plugin.toml.tmpl")),
        ("src/lib.rs", include_str!("scaffold/lib.rs.tmpl")),
        ("README.md", include_str!("scaffold/README.md.tmpl")),
        ("docs/usage.md", include_str!("scaffold/usage.md.tmpl")),
        ("rust-toolchain.toml", include_str!("scaffold/rust-toolchain.toml.tmpl")),
        (".gitignore", include_str!("scaffold/gitignore.tmpl")),
        ("ui/.keep", ""),
    ];
    for (relative, template) in files {
        write_new(&folder.join(relative), &fill(template))?;
    }
    std::fs::remove_file(folder.join("ui/.keep")).ok();
    std::fs::remove_dir(folder.join("ui")).ok();
    Ok(folder)
}

/// The Rust SDK a new Rust plugin depends on by path: `sdk`, else where it was when this
/// binary was built.
fn rust_sdk(sdk: Option<&Path>) -> anyhow::Result<PathBuf> {
    let sdk = sdk.map_or_else(|| Path::new(BUILT_SDK_PATH).to_path_buf(), Path::to_path_buf);
    sdk.canonicalize().ok().filter(|path| path.join("Cargo.toml").is_file()).with_context(|| {
        format!(
            "the plugin SDK is not at {}; pass `--sdk <path to crates/plugboard-sdk>` from a Plugboard checkout",
            sdk.display()
        )
    })
}

/// Writes a file of a new plugin, making its folder.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The manifest of the plugin folder, without requiring the component to exist yet.
fn folder_manifest(folder: &Path) -> anyhow::Result<Manifest> {
    let path = folder.join(MANIFEST_FILE_NAME);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}; run this in a plugin folder or pass --path", path.display()))?;
    Ok(parse_manifest(&text, &path)?)
}

/// `folder` as an absolute path.
fn absolute(folder: &Path) -> anyhow::Result<PathBuf> {
    folder.canonicalize().with_context(|| format!("cannot find the plugin folder {}", folder.display()))
}

/// Cargo: the one running this build when there is one, else the one on the PATH.
fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// `plugin build`: builds the folder's plugin in its language and writes the component
/// where the manifest says (`plugin.wasm`). Returns that path. The tools' own progress,
/// warnings and errors go to the user's terminal (stderr).
pub(crate) fn build(folder: &Path) -> anyhow::Result<PathBuf> {
    let manifest = folder_manifest(folder)?;
    // The tools run inside the folder and are given paths in it.
    let folder = &absolute(folder)?;
    let target = folder.join(&manifest.component);
    match Language::detect(folder)? {
        Language::Rust => build_rust(folder, &manifest, &target)?,
        language => build_componentized(folder, &manifest, language, &target)?,
    }
    Ok(target)
}

/// Compiles the folder's crate for `wasm32-wasip2` (release) and copies the component to
/// `target`.
fn build_rust(folder: &Path, manifest: &Manifest, target: &Path) -> anyhow::Result<()> {
    eprintln!("building {} {} for wasm32-wasip2 (cargo build --release)", manifest.id, manifest.version);
    // Cargo writes its progress and the rendered diagnostics to stderr, which the user
    // sees as it happens; stdout carries the JSON messages that name the built file.
    let mut child = cargo()
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json-render-diagnostics"])
        .current_dir(folder)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot run cargo; is the Rust toolchain installed?")?;
    let own_manifest = folder.join("Cargo.toml").canonicalize().ok();
    let mut artifact: Option<PathBuf> = None;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            let ours =
                message["manifest_path"].as_str().and_then(|path| Path::new(path).canonicalize().ok()) == own_manifest;
            let wasm = message["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|file| file.as_str())
                .find(|file| file.ends_with(".wasm"));
            if let (true, Some(wasm)) = (ours, wasm) {
                artifact = Some(PathBuf::from(wasm));
            }
        }
    }
    let status = child.wait().context("cargo did not finish")?;
    if !status.success() {
        bail!("the build of {} failed (cargo's output is above)", manifest.id);
    }
    let artifact = artifact.with_context(|| {
        format!("cargo built no .wasm for {}; its Cargo.toml needs `[lib] crate-type = [\"cdylib\"]`", manifest.id)
    })?;
    std::fs::copy(&artifact, target)
        .with_context(|| format!("cannot copy {} to {}", artifact.display(), target.display()))?;
    Ok(())
}

/// Builds a Python, JavaScript or TypeScript plugin with the SDK's pinned tools
/// (installed on first use): the component is written beside `target` and renamed over
/// it only when the build succeeded.
fn build_componentized(folder: &Path, manifest: &Manifest, language: Language, target: &Path) -> anyhow::Result<()> {
    let sdk = Sdk::unpack()?;
    let partial = target.with_extension("wasm.partial");
    let imports = languages::granted_imports(manifest);
    let wit = languages::granted_wit(&sdk, &imports)?;
    let world = (wit.path(), languages::GRANTED_WORLD);
    let (tool, output) = match language {
        Language::Python => {
            let tools = PythonTools::ensure(&sdk)?;
            tools.check_syntax(folder).with_context(|| format!("{} has a syntax error", manifest.id))?;
            let bar = spinner(format!(
                "building {} {} with componentize-py (host services: {})",
                manifest.id,
                manifest.version,
                imports.join(", ")
            ));
            let output = tools.componentize(&sdk, world, folder, &partial);
            bar.finish_and_clear();
            ("componentize-py", output?)
        }
        _ => {
            let tools = JsTools::ensure(&sdk)?;
            let bar = spinner(format!(
                "building {} {} with esbuild and componentize-js (host services: {})",
                manifest.id,
                manifest.version,
                imports.join(", ")
            ));
            let output = tools.componentize(&sdk, world, &imports, folder, &partial);
            bar.finish_and_clear();
            ("componentize-js", output?)
        }
    };
    // The tool's own report (timings, warnings such as a call of the global `fetch`, or
    // the errors), shown once it finished.
    eprint!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() || !partial.is_file() {
        std::fs::remove_file(&partial).ok();
        bail!("the build of {} failed ({tool}'s output is above)", manifest.id);
    }
    std::fs::rename(&partial, target)
        .with_context(|| format!("cannot move {} to {}", partial.display(), target.display()))?;
    Ok(())
}

/// `plugin test`: the plugin's own unit tests (`cargo test`, pytest, or node's test
/// runner, against the SDK's fake host), a build, then the plugin loaded into a sandbox
/// like the server's: its component checked against its manifest, started with its
/// default settings, its health asked and its self-test run. Returns the report; an
/// error when anything failed.
pub(crate) async fn test(folder: &Path) -> anyhow::Result<String> {
    let manifest = folder_manifest(folder)?;
    let folder = &absolute(folder)?;
    let language = Language::detect(folder)?;
    let mut report = String::new();
    report.push_str(&format!("unit tests: {}\n", unit_tests(folder, &manifest, language)?));
    let wasm = build(folder)?;
    report.push_str(&format!("built: {}\n", wasm.display()));

    let bar = spinner(format!("loading {} in a sandbox", manifest.id));
    let sandbox = tempfile::tempdir().context("cannot make a temporary folder")?;
    let registry = sandbox_registry(sandbox.path()).await?;
    let result = async {
        let package = Package::pack(folder)?;
        registry.check_package(&package).await?;
        let plugin = registry.load_folder(folder).await?;
        let hooks: Vec<&str> = plugin.hooks().map(|hook| hook.as_str()).collect();
        report.push_str(&format!("loaded: {} {} (hooks: {})\n", plugin.id(), plugin.version(), hooks.join(", ")));
        let health = plugin.health().await;
        report.push_str(&format!("health: {}\n", serde_json::to_string(&health)?));
        let mut failures = 0;
        if plugin.implements(plugboard_host::api::Hook::SelfTest) {
            for case in plugin.self_test().await? {
                failures += usize::from(!case.passed);
                report.push_str(&format!(
                    "self-test {}: {} ({})\n",
                    if case.passed { "passed" } else { "FAILED" },
                    case.name,
                    case.message
                ));
            }
        } else {
            report.push_str("self-test: none (implement the self-test hook to check the plugin in place)\n");
        }
        anyhow::ensure!(failures == 0, "{failures} self-test case(s) of {} failed:\n{report}", manifest.id);
        Ok(())
    }
    .await;
    registry.shutdown().await;
    bar.finish_and_clear();
    result.map(|()| report)
}

/// Runs the plugin's unit tests in its language; returns their summary. The tools'
/// progress goes to the user as it comes; the tests' own output is shown whole when they
/// fail.
fn unit_tests(folder: &Path, manifest: &Manifest, language: Language) -> anyhow::Result<String> {
    eprintln!("testing {} {} natively ({} unit tests)", manifest.id, manifest.version, language.name());
    let (tool, output) = match language {
        Language::Rust => (
            "cargo",
            cargo()
                .args(["test"])
                .current_dir(folder)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .context("cannot run cargo; is the Rust toolchain installed?")?,
        ),
        Language::Python => {
            let sdk = Sdk::unpack()?;
            ("pytest", PythonTools::ensure(&sdk)?.unit_tests(&sdk, folder)?)
        }
        Language::Javascript | Language::Typescript => {
            let sdk = Sdk::unpack()?;
            ("node's test runner", JsTools::ensure(&sdk)?.unit_tests(&sdk, folder)?)
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        eprint!("{stdout}");
        bail!("the unit tests of {} failed ({tool}'s output is above)", manifest.id);
    }
    let summary = test_summary(language, &stdout);
    Ok(if summary.is_empty() { "none".to_owned() } else { summary })
}

/// The lines of a test run's output that count its tests.
fn test_summary(language: Language, output: &str) -> String {
    let mut lines = output.lines().map(str::trim);
    let summary: Vec<&str> = match language {
        Language::Rust => lines.filter(|line| line.starts_with("test result:")).collect(),
        // pytest -q ends with `5 passed in 0.02s` (or `no tests ran`).
        Language::Python => lines.rfind(|line| !line.is_empty()).into_iter().collect(),
        // node's test runner counts with `# tests 5`, `# pass 5`, ... (`ℹ` in a terminal).
        Language::Javascript | Language::Typescript => lines
            .filter_map(|line| line.strip_prefix("# ").or_else(|| line.strip_prefix("ℹ ")))
            .filter(|line| ["tests ", "pass ", "fail "].iter().any(|count| line.starts_with(count)))
            .collect(),
    };
    summary.join("; ")
}

/// A registry with no plugins over a throw-away database, for `plugin test`.
async fn sandbox_registry(data: &Path) -> anyhow::Result<plugboard_registry::Registry> {
    let store: Arc<dyn plugboard_store::Store> =
        Arc::new(plugboard_store::SqliteStore::open(&data.join("plugboard.db")).await?);
    let services = plugboard_host::Services {
        kv: Arc::new(plugboard_registry::StoreKv::new(store.clone())),
        ..plugboard_host::Services::default()
    };
    // Compiled components are kept between runs: a Python or JavaScript plugin's first
    // compile takes tens of seconds.
    let config =
        plugboard_host::RuntimeConfig { cache_dir: Some(crate::languages::compiled_cache()), ..Default::default() };
    let runtime = plugboard_host::Runtime::new(config, services).context("starting the plugin runtime")?;
    Ok(plugboard_registry::Registry::new(runtime, store, plugboard_registry::RegistryConfig::default()))
}

/// `plugin package`: the folder's package written to `out` (default
/// `<id>-<version>.plugboard` in the current folder), signed when a key is given.
pub(crate) fn package(folder: &Path, out: Option<&Path>, key: Option<&Path>) -> anyhow::Result<(PathBuf, Package)> {
    let bar = spinner(format!("packing {}", folder.display()));
    let mut package = Package::pack(folder)?;
    if let Some(key) = key {
        package.sign(&SigningKey::read(key)?);
    }
    let bytes = package.to_bytes()?;
    let path = out.map_or_else(|| PathBuf::from(package.file_name()), Path::to_path_buf);
    std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    bar.finish_and_clear();
    Ok((path, package))
}

/// One line describing a package file.
pub(crate) fn describe(path: &Path, package: &Package) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let signer = match package.signature().map(|signature| signature.claimed_key()) {
        Some(Ok(key)) => {
            format!("signed by {}{}", key.fingerprint(), key.name().map(|n| format!(" ({n})")).unwrap_or_default())
        }
        Some(Err(error)) => format!("with an unreadable signature: {error}"),
        None => "unsigned".to_owned(),
    };
    Ok(format!(
        "{}: {} {}, {} files, {} bytes, sha256 {}, {signer}",
        path.display(),
        package.manifest().id,
        package.manifest().version,
        package.files().count(),
        bytes.len(),
        plugboard_package::sha256_hex(&bytes)
    ))
}

/// Reads a package file with the default limits.
pub(crate) fn read_package(path: &Path) -> anyhow::Result<Package> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the package {}", path.display()))?;
    Package::read(&bytes, &plugboard_package::Limits::default()).with_context(|| format!("{}", path.display()))
}

/// `plugin sign`: signs the package file in place (or into `out`).
pub(crate) fn sign(path: &Path, key: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let mut package = read_package(path)?;
    package.sign(&SigningKey::read(key)?);
    let target = out.unwrap_or(path).to_path_buf();
    let temporary = target.with_extension("plugboard-signing");
    std::fs::write(&temporary, package.to_bytes()?).with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, &target).with_context(|| format!("cannot write {}", target.display()))?;
    Ok(target)
}

/// `plugin verify`: the signature against the trust store and `extra` keys.
pub(crate) fn verify(path: &Path, mut trust: TrustStore, extra: &[PathBuf]) -> anyhow::Result<String> {
    for key in extra {
        trust.add(PublicKey::read(key)?);
    }
    let package = read_package(path)?;
    let verification = package.verify(&trust, Policy::Require)?;
    Ok(format!(
        "{}: good signature by trusted key {}{}",
        package.label(),
        verification.signer_fingerprint.unwrap_or_default(),
        verification.signer.map(|name| format!(" ({name})")).unwrap_or_default()
    ))
}

/// `plugin keygen`: a new key pair at `<stem>.key` and `<stem>.pub`.
pub(crate) fn keygen(stem: &Path, name: Option<String>) -> anyhow::Result<String> {
    let key = SigningKey::generate(name)?;
    let (secret, public) = key.write_pair(stem)?;
    Ok(format!(
        "key {}\n  secret: {} (keep it private; sign with `plugboard plugin sign <package> --key {}`)\n  public: {} (give it to operators: `plugboard plugin trust {}`)",
        key.public().fingerprint(),
        secret.display(),
        secret.display(),
        public.display(),
        public.display()
    ))
}

/// `plugin index`: writes `<folder>/index.json` listing the packages in it.
pub(crate) fn index(folder: &Path, name: &str) -> anyhow::Result<(PathBuf, Index)> {
    let index = Index::build(folder, name)?;
    let path = folder.join("index.json");
    let mut text = serde_json::to_vec_pretty(&index)?;
    text.push(b'\n');
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok((path, index))
}

#[cfg(test)]
mod tests {
    use plugboard_manifest::{Permission, parse_manifest};

    /// The plugin folder `plugin new` writes for `id`, in a temporary folder.
    fn scaffold(id: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let parent = tempfile::tempdir().unwrap();
        let folder = super::new_plugin(id, parent.path(), super::Language::Rust, None, Some("Ada")).unwrap();
        (parent, folder)
    }

    #[test]
    fn the_template_manifest_names_real_permissions_and_lists_them_all() {
        let (_parent, folder) = scaffold("perm-check");
        let path = folder.join("plugin.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let manifest = parse_manifest(&text, &path).unwrap();
        assert!(manifest.grants(Permission::Kv), "the template keeps its counts in kv");
        assert!(!manifest.grants(Permission::Network), "the template needs no network");

        // The comment above `permissions` lists every permission by its real name
        // (`network`, not `http`), so an author can copy from it.
        let listed: Vec<&str> = text
            .split_once("All permissions:")
            .and_then(|(_, rest)| rest.split_once("\npermissions ="))
            .map(|(list, _)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        let real: Vec<&str> = Permission::ALL.iter().map(|permission| permission.as_str()).collect();
        assert_eq!(listed, real, "{text}");
        assert!(!text.contains("`http`"), "{text}");
    }
}
