//! The plugins of `plugins/`, built for `wasm32-wasip2` by this crate's build script and
//! assembled into installed-style folders, for tests and benchmarks.

use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/paths.rs"));

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
