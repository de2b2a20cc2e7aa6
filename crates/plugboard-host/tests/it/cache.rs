//! The compiled-component cache survives restarts, is mapped rather than copied, and
//! shrugs off corrupted files.

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
    // Its compiled code is the cache file's pages, mapped (shared with every other loader
    // of the file), not a copy in the process's own memory.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(maps.contains(files[0].to_str().unwrap()), "the cache file is mapped:\n{maps}");
    // Its checksum is kept beside it: a file whose bytes disagree is compiled again.
    let checksum = files[0].with_file_name(format!("{name}.sha256"));
    assert_eq!(std::fs::read_to_string(&checksum).unwrap().len(), 64, "hex SHA-256");

    // A corrupted file is ignored and replaced. (Changed in place, as here, a file must not
    // be while a runtime has it mapped: those are dropped first.)
    drop(calculator);
    drop(second);
    drop(first);
    std::fs::write(&files[0], b"garbage").unwrap();
    let third = runtime_with(config);
    let calculator = third.load_dir(&plugin_dir("calculator"), None).await.unwrap();
    assert_eq!(
        calculator.call_tool(&context(), "calculate", serde_json::json!({"expression": "2*2"})).await.unwrap(),
        "4"
    );
    assert!(std::fs::read(&files[0]).unwrap().len() > 1000, "rewritten with the compiled component");

    // A file without its checksum (as an earlier Plugboard wrote them) is compiled again.
    std::fs::remove_file(&checksum).unwrap();
    let fourth = runtime_with(RuntimeConfig { cache_dir: Some(dir.path().to_owned()), ..test_config() });
    let calculator = fourth.load_dir(&plugin_dir("calculator"), None).await.unwrap();
    assert_eq!(
        calculator.call_tool(&context(), "calculate", serde_json::json!({"expression": "5*5"})).await.unwrap(),
        "25"
    );
    assert!(checksum.is_file(), "written again with its checksum");
}
