//! Builds one set of the plugins of `plugins/` for `wasm32-wasip2` and assembles each into
//! an installed-style folder (`plugin.toml`, `plugin.wasm`, `ui/`, `docs/`, `README.md`):
//! for `plugboard-plugins` the bundled plugins (`plugins/*`), with the table that embeds
//! them in the binary; for `plugboard-test-plugins`, whose manifest points its build
//! script here, the test fixtures (`plugins/testing/*`). The product's build never
//! compiles the fixtures.
//!
//! The plugins are their own Cargo workspace, built by a nested cargo with its own
//! target directory (the outer build holds a lock on the outer one), shared by both sets.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let fixtures = std::env::var("CARGO_PKG_NAME").is_ok_and(|name| name == "plugboard-test-plugins");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..").canonicalize().expect("the workspace root exists");
    let plugins = root.join("plugins");
    let source_root = if fixtures { plugins.join("testing") } else { plugins.clone() };
    let sources = plugin_folders(&source_root);
    for watched in ["crates/plugboard-sdk", "wit", "plugins/Cargo.toml", "plugins/Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    for source in &sources {
        println!("cargo:rerun-if-changed={}", source.display());
    }

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // <target>/<profile>/build/<package>-<hash>/out: keep the plugin build beside the
    // outer target directory so it survives changes to this build script's hash.
    let target_dir = out_dir.ancestors().nth(4).unwrap_or(&out_dir).join("plugboard-plugins");

    ensure_wasm_target();
    build_plugins(&plugins, &target_dir, &sources);

    let release = target_dir.join(WASM_TARGET).join("release");
    let assembled = target_dir.join(if fixtures { "assembled/testing" } else { "assembled/bundled" });
    let mut names = Vec::new();
    let mut embedded =
        String::from("/// The bundled plugins, embedded in the binary.\npub const BUNDLED: &[BundledPlugin] = &[\n");
    for source in &sources {
        let name = assemble(source, &release, &assembled);
        let folder = assembled.join(&name);
        let mut files = String::new();
        for relative in files_under(&folder, &["ui", "docs"]) {
            files.push_str(&format!(
                "({relative:?}, include_bytes!({:?})), ",
                folder.join(&relative).display().to_string()
            ));
        }
        embedded.push_str(&format!(
            "    BundledPlugin {{ name: {name:?}, manifest: include_str!({:?}), wasm: include_bytes!({:?}), files: &[{files}] }},\n",
            folder.join("plugin.toml").display().to_string(),
            folder.join("plugin.wasm").display().to_string(),
        ));
        names.push(name);
    }
    embedded.push_str("];\n");
    names.sort();

    let generated = format!(
        "/// Folder holding the assembled plugins of this set (one folder per plugin).\n\
         pub const PLUGINS_DIR: &str = {assembled:?};\n\
         /// The assembled plugins of this set, by folder name.\n\
         pub const NAMES: &[&str] = &{names:?};\n",
        assembled = assembled.display().to_string(),
    );
    std::fs::write(out_dir.join("paths.rs"), generated).expect("OUT_DIR is writable");
    if !fixtures {
        std::fs::write(out_dir.join("bundled.rs"), embedded).expect("OUT_DIR is writable");
    }
}

/// Installs the wasm target through rustup when the toolchain lacks it (rustup adds the
/// targets of `rust-toolchain.toml` only when it installs the toolchain itself).
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let installed = sysroot.is_some_and(|sysroot| sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir());
    if installed {
        return;
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", WASM_TARGET]);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    let status = rustup.stdout(Stdio::from(std::io::stderr())).status();
    match status {
        Ok(status) if status.success() => {}
        other => panic!(
            "the {WASM_TARGET} target is missing and `rustup target add {WASM_TARGET}` failed ({other:?}); install it by hand"
        ),
    }
}

/// Builds the packages of `sources` in the plugins' workspace.
fn build_plugins(plugins: &Path, target_dir: &Path, sources: &[PathBuf]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(plugins)
        .args(["build", "--release", "--locked", "--target", WASM_TARGET, "--target-dir"])
        .arg(target_dir);
    for source in sources {
        command.args(["--package", &package_name(source)]);
    }
    command
        // Cargo reads build script stdout as directives: send the child's output to stderr.
        .stdout(Stdio::from(std::io::stderr()));
    // The outer build's settings (clippy's wrapper, host RUSTFLAGS, profile overrides) are
    // not meant for the plugins; keep only what locates cargo's home and its jobserver.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let keep = matches!(key.as_ref(), "CARGO_HOME" | "CARGO_MAKEFLAGS")
            || key.starts_with("CARGO_NET_")
            || key.starts_with("CARGO_REGISTRIES_")
            || key.starts_with("CARGO_HTTP_");
        if (key.starts_with("CARGO_") && !keep)
            || key.starts_with("RUSTC_")
            || key == "RUSTFLAGS"
            || key == "RUSTDOCFLAGS"
        {
            command.env_remove(key.as_ref());
        }
    }
    let status = command.status().expect("cargo can be started");
    assert!(status.success(), "building the plugins in {} failed (see the output above)", plugins.display());
}

fn plugin_folders(root: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", root.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.join("plugin.toml").is_file() && path.join("Cargo.toml").is_file())
        .collect();
    folders.sort();
    folders
}

/// Copies one plugin into `<destination_root>/<folder name>/` and returns the folder name.
fn assemble(source: &Path, release: &Path, destination_root: &Path) -> String {
    let name = source.file_name().expect("a plugin folder has a name").to_string_lossy().into_owned();
    let package = package_name(source);
    let wasm = release.join(format!("{}.wasm", package.replace('-', "_")));
    let destination = destination_root.join(&name);
    let _ = std::fs::remove_dir_all(&destination);
    std::fs::create_dir_all(&destination).expect("the assembly folder is writable");
    std::fs::copy(&wasm, destination.join("plugin.wasm"))
        .unwrap_or_else(|error| panic!("cannot copy {}: {error}", wasm.display()));
    std::fs::copy(source.join("plugin.toml"), destination.join("plugin.toml")).expect("plugin.toml copies");
    if source.join("README.md").is_file() {
        std::fs::copy(source.join("README.md"), destination.join("README.md")).expect("README.md copies");
    }
    for folder in ["ui", "docs"] {
        copy_tree(&source.join(folder), &destination.join(folder));
    }
    name
}

/// The package name in a plugin's `Cargo.toml`.
fn package_name(source: &Path) -> String {
    let cargo_toml = std::fs::read_to_string(source.join("Cargo.toml")).expect("Cargo.toml is readable");
    cargo_toml
        .lines()
        .find_map(|line| line.trim().strip_prefix("name = \"").and_then(|rest| rest.strip_suffix('"')))
        .unwrap_or_else(|| panic!("{}/Cargo.toml has no package name", source.display()))
        .to_owned()
}

/// Files under `folders` of `root`, as `/`-separated paths relative to `root`, sorted.
fn files_under(root: &Path, folders: &[&str]) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(relative) = path.strip_prefix(root) {
                let parts: Vec<String> =
                    relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                out.push(parts.join("/"));
            }
        }
    }
    let mut out = Vec::new();
    for folder in folders {
        walk(root, &root.join(folder), &mut out);
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else { return };
    std::fs::create_dir_all(to).expect("the assembly folder is writable");
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("plugin files copy");
        }
    }
}
