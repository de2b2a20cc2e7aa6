//! Discovery: the plugin folders of each configured directory, and the bundled plugins
//! the binary embeds, read into candidates ready to load.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugboard_host::{LoadError, PluginSource};
use plugboard_manifest::{MANIFEST_FILE_NAME, parse_manifest};
use sha2::{Digest, Sha256};

/// Where a plugin comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// Embedded in the binary.
    Bundled,
    /// A folder on disk holding `plugin.toml`.
    Folder(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Bundled => f.write_str("bundled"),
            Origin::Folder(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A bundled plugin: its manifest text and component, embedded in the binary.
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    /// Folder name, for messages.
    pub name: &'static str,
    /// `plugin.toml`.
    pub manifest: &'static str,
    /// `plugin.wasm`.
    pub wasm: &'static [u8],
    /// Its `ui/` and `docs/` files, by `/`-separated path inside the plugin folder.
    pub files: &'static [(&'static str, &'static [u8])],
}

/// A plugin read from its origin, ready to load.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it came from.
    pub origin: Origin,
    /// Manifest and component.
    pub source: PluginSource,
    /// SHA-256 of the manifest text and the component: a change on disk changes it.
    pub digest: String,
}

impl Candidate {
    /// Reads a bundled plugin.
    pub fn bundled(bundled: &Bundled) -> Result<Candidate, LoadError> {
        let path = Path::new("<bundled>").join(bundled.name).join(MANIFEST_FILE_NAME);
        let manifest = parse_manifest(bundled.manifest, &path)?;
        let digest = digest(bundled.manifest.as_bytes(), bundled.wasm);
        let source = PluginSource { manifest, wasm: Arc::from(bundled.wasm), component_path: path };
        Ok(Candidate { origin: Origin::Bundled, source, digest })
    }

    /// Reads a plugin folder: `plugin.toml` and the files it names.
    pub fn from_folder(folder: &Path) -> Result<Candidate, LoadError> {
        let source = PluginSource::from_dir(folder)?;
        let manifest_path = folder.join(MANIFEST_FILE_NAME);
        let text = std::fs::read(&manifest_path).map_err(|source| LoadError::Read {
            plugin: folder_name(folder),
            path: manifest_path,
            source,
        })?;
        let digest = digest(&text, &source.wasm);
        Ok(Candidate { origin: Origin::Folder(folder.to_path_buf()), source, digest })
    }
}

fn digest(manifest: &[u8], wasm: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update((manifest.len() as u64).to_le_bytes());
    hasher.update(manifest);
    hasher.update(wasm);
    hex::encode(hasher.finalize())
}

/// A folder's name, which stands for the plugin when its manifest cannot be read.
pub(crate) fn folder_name(folder: &Path) -> String {
    folder.file_name().map_or_else(|| folder.display().to_string(), |name| name.to_string_lossy().into_owned())
}

/// The plugin folders (sub-folders holding `plugin.toml`) of `directory`, sorted.
pub fn plugin_folders(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(directory)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.join(MANIFEST_FILE_NAME).is_file())
        .collect();
    folders.sort();
    Ok(folders)
}
