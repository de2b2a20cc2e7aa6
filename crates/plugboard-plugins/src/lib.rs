//! The bundled plugins of `plugins/`, built for `wasm32-wasip2` by this crate's build
//! script and embedded: the server loads them with no files on disk. The test fixtures
//! are `plugboard-test-plugins`, a separate crate the product does not build.

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

/// Where the bundled plugins are assembled as folders, and their names.
pub mod assembled {
    include!(concat!(env!("OUT_DIR"), "/paths.rs"));
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
