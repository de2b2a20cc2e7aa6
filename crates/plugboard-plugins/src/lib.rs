//! The plugins of `plugins/`, built for `wasm32-wasip2` by this crate's build script: the
//! bundled ones embedded (the server loads them with no files on disk), and the folders of
//! all of them, bundled and test fixtures, for tests and benchmarks.

use std::path::PathBuf;

/// A plugin shipped inside the Plugboard binary.
#[derive(Debug, Clone, Copy)]
pub struct BundledPlugin {
    /// Its folder name in `plugins/` (also its id).
    pub name: &'static str,
    /// Its `plugin.toml`.
    pub manifest: &'static str,
    /// Its compiled component.
    pub wasm: &'static [u8],
    /// Its `ui/` and `docs/` files, by `/`-separated path inside the plugin folder.
    pub files: &'static [(&'static str, &'static [u8])],
}

include!(concat!(env!("OUT_DIR"), "/paths.rs"));
include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The assembled folder of plugin `name` (bundled or test fixture).
///
/// # Panics
/// When no plugin of that name was built: a typo in a test.
pub fn plugin_dir(name: &str) -> PathBuf {
    [BUNDLED_PLUGINS_DIR, TEST_PLUGINS_DIR]
        .iter()
        .map(|root| PathBuf::from(root).join(name))
        .find(|dir| dir.join("plugin.toml").is_file())
        .unwrap_or_else(|| panic!("no plugin `{name}` was built; known: {ALL_PLUGINS:?}"))
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
