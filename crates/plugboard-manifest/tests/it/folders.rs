//! Reading a manifest from a plugin folder: the files it names must exist inside it.

use plugboard_manifest::read_manifest;

const MINIMAL: &str = r#"
id = "folder-check"
name = "Folder check"
version = "1.0.0"
description = "Checks files"
abi = "0.1"
icon = "icon.svg"

[[ui]]
mount = "sidebar"
entry = "ui/index.html"
title = "Panel"
"#;

#[test]
fn missing_component_icon_and_ui_files_are_each_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plugin.toml"), MINIMAL).unwrap();
    let error = read_manifest(dir.path()).unwrap_err();
    let text = error.to_string();
    assert_eq!(error.errors.len(), 3, "{text}");
    assert!(text.contains("field `component`: file `plugin.wasm` does not exist"), "{text}");
    assert!(text.contains("field `icon`: file `icon.svg` does not exist"), "{text}");
    assert!(text.contains("field `ui`: file `ui/index.html` does not exist"), "{text}");
    assert!(error.errors.iter().all(|e| e.plugin == "folder-check"));
}

#[test]
fn a_complete_folder_reads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plugin.toml"), MINIMAL).unwrap();
    std::fs::write(dir.path().join("plugin.wasm"), b"\0asm").unwrap();
    std::fs::write(dir.path().join("icon.svg"), b"<svg/>").unwrap();
    std::fs::create_dir(dir.path().join("ui")).unwrap();
    std::fs::write(dir.path().join("ui/index.html"), b"<p>hi</p>").unwrap();
    let manifest = read_manifest(dir.path()).unwrap();
    assert_eq!(manifest.id.as_str(), "folder-check");
}

#[test]
fn a_folder_without_manifest_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let error = read_manifest(dir.path()).unwrap_err();
    assert!(error.to_string().contains("cannot read the manifest"), "{error}");
}
