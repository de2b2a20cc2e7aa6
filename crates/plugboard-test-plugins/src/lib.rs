//! The plugins tests and benchmarks load, as installed-style folders: the adversarial
//! fixtures of `plugins/testing/` (a loop, a trap, a panic, unbounded memory, a probe of
//! every host service...), built for `wasm32-wasip2` by this crate's build script, and the
//! bundled plugins of `plugboard-plugins`. Only tests and benchmarks depend on this crate.

use std::path::PathBuf;

pub use plugboard_plugins::{BUNDLED, BundledPlugin};

/// Where the test fixtures are assembled as folders, and their names.
pub mod fixtures {
    include!(concat!(env!("OUT_DIR"), "/paths.rs"));
}

/// The assembled folder of plugin `name` (bundled or test fixture).
///
/// # Panics
/// When no plugin of that name was built: a typo in a test.
pub fn plugin_dir(name: &str) -> PathBuf {
    [plugboard_plugins::assembled::PLUGINS_DIR, fixtures::PLUGINS_DIR]
        .iter()
        .map(|root| PathBuf::from(root).join(name))
        .find(|dir| dir.join("plugin.toml").is_file())
        .unwrap_or_else(|| {
            panic!(
                "no plugin `{name}` was built; bundled: {:?}, fixtures: {:?}",
                plugboard_plugins::assembled::NAMES,
                fixtures::NAMES
            )
        })
}

/// Copies a plugin folder (sub-folders such as `ui/` included) to `to`, creating it: how
/// tests and benchmarks make plugin directories of their own from the built plugins.
pub fn copy_plugin_folder(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_plugin_folder(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
