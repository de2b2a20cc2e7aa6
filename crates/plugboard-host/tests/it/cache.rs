//! The compiled-component cache survives restarts and shrugs off corrupted files.

use plugboard_host::{RuntimeConfig, Services};
use plugboard_test_plugins::plugin_dir;

use super::{context, runtime_with, test_config};

fn cwasm_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

#[tokio::test]
async fn compiled_components_are_cached_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig { cache_dir: Some(dir.path().to_owned()), ..test_config() };
    let first = runtime_with(config.clone());
    first.load_dir(&plugin_dir("calculator"), None).await.unwrap();
    let files = cwasm_files(dir.path());
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(name.len(), 64 + 1 + 16 + ".cwasm".len(), "sha-256 of the component, engine hash: {name}");
    let written = std::fs::metadata(&files[0]).unwrap().modified().unwrap();

    // A restart reads the cache instead of compiling again.
    let second = plugboard_host::Runtime::new(config.clone(), Services::default()).unwrap();
    let calculator = second.load_dir(&plugin_dir("calculator"), None).await.unwrap();
    assert_eq!(
        calculator.call_tool(&context(), "calculate", serde_json::json!({"expression": "3*3"})).await.unwrap(),
        "9"
    );
    assert_eq!(std::fs::metadata(&files[0]).unwrap().modified().unwrap(), written, "not rewritten");

    // A corrupted file is ignored and replaced.
    std::fs::write(&files[0], b"garbage").unwrap();
    let third = runtime_with(config);
    let calculator = third.load_dir(&plugin_dir("calculator"), None).await.unwrap();
    assert_eq!(
        calculator.call_tool(&context(), "calculate", serde_json::json!({"expression": "2*2"})).await.unwrap(),
        "4"
    );
    assert!(std::fs::read(&files[0]).unwrap().len() > 1000, "rewritten with the compiled component");
}
