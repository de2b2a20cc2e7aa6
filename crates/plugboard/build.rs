//! Embeds what `plugin new`, `build` and `test` need for Python, JavaScript and
//! TypeScript plugins, so the binary works without a Plugboard checkout: the ABI's WIT
//! files, the two SDKs with their build drivers and pinned tool lists, and the
//! templates. `$OUT_DIR/embedded.rs` holds one `(path, bytes)` table per tree.

use std::path::{Path, PathBuf};

/// `(table name, folder, path prefix inside the table)`: every file below each folder,
/// except caches and installed packages.
const TREES: &[(&str, &str, &str)] = &[
    ("SDK_FILES", "../../wit/v0.1.0", "wit/v0.1.0"),
    ("SDK_FILES", "../../sdk/python", "python"),
    ("SDK_FILES", "../../sdk/js", "js"),
    ("TEMPLATE_FILES", "src/scaffold/python", "python"),
    ("TEMPLATE_FILES", "src/scaffold/javascript", "javascript"),
    ("TEMPLATE_FILES", "src/scaffold/typescript", "typescript"),
];

/// Names never embedded: installed packages, caches, build outputs.
const SKIPPED: &[&str] = &["node_modules", "__pycache__", ".pytest_cache", "dist", "target", "plugin.wasm"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut tables: Vec<(&str, Vec<(String, PathBuf)>)> = Vec::new();
    for (table, folder, prefix) in TREES {
        let root = manifest_dir.join(folder);
        println!("cargo:rerun-if-changed={}", root.display());
        let mut files = Vec::new();
        if root.is_dir() {
            collect(&root, &root, prefix, &mut files);
        }
        files.sort();
        match tables.iter_mut().find(|(name, _)| name == table) {
            Some((_, entries)) => entries.extend(files),
            None => tables.push((table, files)),
        }
    }
    let mut code = String::new();
    for (table, files) in &tables {
        code.push_str(&format!("pub(crate) static {table}: &[(&str, &[u8])] = &[\n"));
        for (name, path) in files {
            code.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
        }
        code.push_str("];\n");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    std::fs::write(out, code).expect("cannot write embedded.rs");
}

fn collect(root: &Path, folder: &Path, prefix: &str, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name != ".gitignore" || SKIPPED.contains(&name.as_str()) {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, prefix, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative = relative.to_string_lossy().replace('\\', "/");
            let absolute = path.canonicalize().unwrap_or(path);
            files.push((format!("{prefix}/{relative}"), absolute));
        }
    }
}
