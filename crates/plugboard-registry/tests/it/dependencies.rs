//! Dependency resolution: the data-driven cases of `tests/dependencies/` (one folder per
//! case: manifests and the expected outcome; `BLESS=1` rewrites the expectations), and the
//! same rules applied to real plugins at start, load and unload.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plugboard_host::api::CallContext;
use plugboard_manifest::{Manifest, PluginId, parse_manifest};
use plugboard_registry::{PluginState, RegistryError, resolve};

use crate::{Setup, check_expected, id, ids, stop};

fn render_case(case: &Path) -> String {
    let mut manifests: BTreeMap<PluginId, Manifest> = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(case).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    for file in files.iter().filter(|file| file.extension().is_some_and(|ext| ext == "toml")) {
        let text = std::fs::read_to_string(file).unwrap();
        let manifest = parse_manifest(&text, file).unwrap_or_else(|error| panic!("{error}"));
        manifests.insert(manifest.id.clone(), manifest);
    }
    let candidates = manifests.iter().map(|(id, manifest)| (id.clone(), manifest)).collect();
    let resolution = resolve(&candidates, &BTreeMap::new());
    let mut out = String::new();
    for id in &resolution.order {
        writeln!(out, "load {id}").unwrap();
    }
    for (id, error) in &resolution.refused {
        writeln!(out, "refuse {id}: {error}").unwrap();
    }
    out
}

#[test]
fn dependency_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dependencies");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|entry| entry.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 8, "the dependency cases are missing from {}", root.display());
    let mut failures = Vec::new();
    for case in cases {
        let actual = render_case(&case);
        check_expected(&case, &actual, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_plugin_whose_dependency_is_missing_stays_unloaded_and_the_others_load() {
    let setup = Setup::with(&["host-probe", "example-tagger"]);
    let registry = setup.open(setup.config()).await;
    let report = registry.start().await;

    assert_eq!(ids(&report.loaded), ["example-tagger"]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "host-probe");
    assert!(report.failed[0].1.contains("needs `calculator` ^0.1, which is not installed"), "{}", report.failed[0].1);
    let entry = registry.entry(&id("host-probe")).unwrap();
    assert_eq!(entry.state, PluginState::Failed);
    assert!(registry.plugin(&id("host-probe")).is_none());
    stop(registry).await;
}

#[tokio::test]
async fn an_unsatisfied_range_names_the_version_found() {
    let setup = Setup::with(&["host-probe", "calculator"]);
    setup.edit_manifest("calculator", |text| text.replace("version = \"0.1.0\"", "version = \"1.4.0\""));
    let registry = setup.start().await;

    let entry = registry.entry(&id("host-probe")).unwrap();
    assert_eq!(entry.state, PluginState::Failed);
    let error = entry.error.unwrap();
    assert!(error.contains("needs `calculator` ^0.1, but version 1.4.0 is installed"), "{error}");
    stop(registry).await;
}

#[tokio::test]
async fn dependencies_load_first_and_unloading_one_is_refused_unless_cascading() {
    let setup = Setup::with(&["host-probe", "calculator"]);
    let registry = setup.open(setup.config()).await;
    let report = registry.start().await;
    assert_eq!(ids(&report.loaded), ["calculator", "host-probe"]);
    let probe = registry.plugin(&id("host-probe")).unwrap();
    let called = probe
        .call_tool(
            &CallContext::default(),
            "call_tool",
            serde_json::json!({"plugin": "calculator", "tool": "calculate", "arguments": {"expression": "1+2"}}),
        )
        .await
        .unwrap();
    assert!(called.contains('3'), "{called}");

    let refused = registry.unload(&id("calculator"), false).await.unwrap_err();
    assert!(matches!(refused, RegistryError::HasDependents { .. }), "{refused}");
    assert_eq!(
        refused.to_string(),
        "plugin `calculator` is needed by `host-probe`; unload them first, or unload with cascade to unload them too"
    );
    assert!(registry.plugin(&id("calculator")).is_some(), "a refused unload changes nothing");

    let unloaded = registry.unload(&id("calculator"), true).await.unwrap();
    assert_eq!(ids(&unloaded), ["host-probe", "calculator"]);
    assert!(registry.runtime().plugin_ids().is_empty());
    assert_eq!(registry.entry(&id("calculator")).unwrap().state, PluginState::Unloaded);

    // Loading the dependent before its dependency is refused; in order, both load.
    let refused = registry.load(&id("host-probe")).await.unwrap_err();
    assert!(refused.to_string().contains("needs `calculator`"), "{refused}");
    registry.load(&id("calculator")).await.unwrap();
    registry.load(&id("host-probe")).await.unwrap();
    assert_eq!(registry.entry(&id("host-probe")).unwrap().state, PluginState::Enabled);
    stop(registry).await;
}
