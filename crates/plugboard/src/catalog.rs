//! Finding and loading plugins: the bundled ones embedded in the binary, then every
//! plugin folder of the configured directories (a later one with the same id replaces
//! the bundled one, so a development copy wins). A plugin that fails is logged and skipped.

use std::path::{Path, PathBuf};

use plugboard_host::{PluginSource, Runtime};
use plugboard_manifest::{MANIFEST_FILE_NAME, parse_manifest};

/// Loads every plugin; returns how many failed.
pub(crate) async fn load_all(runtime: &Runtime, directories: &[PathBuf]) -> usize {
    let mut failures = 0;
    for bundled in plugboard_plugins::BUNDLED {
        let path = Path::new("<bundled>").join(bundled.name).join(MANIFEST_FILE_NAME);
        let source = match parse_manifest(bundled.manifest, &path) {
            Ok(manifest) => PluginSource { manifest, wasm: bundled.wasm.into(), component_path: path },
            Err(error) => {
                tracing::error!("{error}");
                failures += 1;
                continue;
            }
        };
        if let Err(error) = runtime.load(source, None).await {
            tracing::error!("{error}");
            failures += 1;
        }
    }
    for directory in directories {
        let entries = match std::fs::read_dir(directory) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!("cannot read plugin directory {}: {error}", directory.display());
                failures += 1;
                continue;
            }
        };
        let mut folders: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.join(MANIFEST_FILE_NAME).is_file())
            .collect();
        folders.sort();
        for folder in folders {
            if let Err(error) = runtime.load_dir(&folder, None).await {
                tracing::error!("{error}");
                failures += 1;
            }
        }
    }
    failures
}
