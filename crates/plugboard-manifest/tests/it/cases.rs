//! Data-driven manifest cases: every folder under `tests/cases/` holds a `plugin.toml`
//! and either `expected-error.txt` (the exact error text) or `expected.json` (the parsed
//! manifest). Run with `BLESS=1` to write the expected files after a deliberate change,
//! then read the diff.

use std::path::{Path, PathBuf};

use plugboard_manifest::parse_manifest;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

#[test]
fn every_case_matches_its_expectation() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut names: Vec<_> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 20, "expected the full set of cases, found {}", names.len());
    let mut failures = Vec::new();
    for name in &names {
        let dir = cases_dir().join(name);
        let text = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
        let shown_path = Path::new(name).join("plugin.toml");
        let (actual, expected_file) = match parse_manifest(&text, &shown_path) {
            Ok(manifest) => {
                let json = serde_json::to_string_pretty(&manifest).unwrap();
                (json + "\n", dir.join("expected.json"))
            }
            Err(error) => (error.to_string() + "\n", dir.join("expected-error.txt")),
        };
        if bless {
            let _ = std::fs::remove_file(dir.join("expected.json"));
            let _ = std::fs::remove_file(dir.join("expected-error.txt"));
            std::fs::write(&expected_file, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_file) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!("{name}: expected\n{expected}\ngot\n{actual}")),
            Err(_) => failures.push(format!(
                "{name}: no {} (the case parsed the other way); got\n{actual}",
                expected_file.file_name().unwrap().to_string_lossy()
            )),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), names.len(), failures.join("\n\n"));
}
