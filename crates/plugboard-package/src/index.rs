//! The plugin index: a JSON catalogue of packages (id, version, what it does, the
//! permissions it asks for, where to get it, its SHA-256 and signer). An index is a file
//! or a URL; package locations in it are relative to the index or absolute URLs.
//!
//! ```json
//! { "format": "plugboard-index-v1", "name": "Team plugins",
//!   "plugins": [ { "id": "calculator", "name": "Calculator", "version": "0.1.0",
//!                  "description": "…", "permissions": [], "url": "calculator-0.1.0.plugboard",
//!                  "sha256": "…", "size": 81234,
//!                  "signer": { "fingerprint": "…", "name": "Team" } } ] }
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Limits, Package, PackageError, sha256_hex};

const FORMAT: &str = "plugboard-index-v1";

/// A plugin index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Always `plugboard-index-v1`.
    pub format: String,
    /// A name for people.
    #[serde(default)]
    pub name: String,
    /// The packages, any number of versions per plugin.
    pub plugins: Vec<IndexEntry>,
}

/// One package in an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    /// The plugin id.
    pub id: plugboard_manifest::PluginId,
    /// Its display name.
    pub name: String,
    /// The package's version.
    pub version: semver::Version,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Its category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Its tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Its authors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// The permissions its manifest asks for.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Where the package is: relative to the index, or an absolute URL.
    pub url: String,
    /// SHA-256 of the package file, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Who signed it, as the index's author saw it (the install checks the package's own
    /// signature against the trust store; this is for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<IndexSigner>,
}

/// The signer of an indexed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSigner {
    /// The key's fingerprint.
    pub fingerprint: String,
    /// The name on the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Index {
    /// Parses an index; `source_name` (its path or URL) names it in errors.
    pub fn parse(bytes: &[u8], source_name: &str) -> Result<Index, PackageError> {
        let bad = |reason: String| PackageError::BadIndex { source_name: source_name.to_owned(), reason };
        let index: Index = serde_json::from_slice(bytes).map_err(|error| bad(error.to_string()))?;
        if index.format != FORMAT {
            return Err(bad(format!("unknown format `{}`; expected `{FORMAT}`", index.format)));
        }
        for (position, entry) in index.plugins.iter().enumerate() {
            let at = format!("plugins[{position}] ({} {})", entry.id, entry.version);
            if entry.sha256.len() != 64 || !entry.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!("{at}: `sha256` must be 64 hex digits")));
            }
            if entry.url.trim().is_empty() {
                return Err(bad(format!("{at}: `url` is empty")));
            }
        }
        Ok(index)
    }

    /// An index of the `.plugboard` packages in `folder`, with paths relative to it (to
    /// be written as `index.json` beside them). Every package is read and checked.
    pub fn build(folder: &Path, name: &str) -> Result<Index, PackageError> {
        let mut paths: Vec<_> = std::fs::read_dir(folder)
            .map_err(PackageError::io("cannot read the package folder", folder))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == crate::PACKAGE_EXTENSION))
            .collect();
        paths.sort();
        let mut plugins = Vec::new();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(PackageError::io("cannot read the package", &path))?;
            let package = Package::read(&bytes, &Limits::default())?;
            plugins.push(IndexEntry::describe(
                &package,
                &bytes,
                &path.file_name().unwrap_or_default().to_string_lossy(),
            ));
        }
        plugins.sort_by(|a, b| a.id.cmp(&b.id).then(b.version.cmp(&a.version)));
        Ok(Index { format: FORMAT.to_owned(), name: name.to_owned(), plugins })
    }

    /// The newest version of `id`, or the given version.
    pub fn find(&self, id: &str, version: Option<&semver::Version>) -> Option<&IndexEntry> {
        self.plugins
            .iter()
            .filter(|entry| entry.id.as_str() == id && version.is_none_or(|version| entry.version == *version))
            .max_by(|a, b| a.version.cmp(&b.version))
    }

    /// The newest entry of each plugin, by id.
    pub fn latest(&self) -> Vec<&IndexEntry> {
        let mut latest: std::collections::BTreeMap<&str, &IndexEntry> = Default::default();
        for entry in &self.plugins {
            let slot = latest.entry(entry.id.as_str()).or_insert(entry);
            if entry.version > slot.version {
                *slot = entry;
            }
        }
        latest.into_values().collect()
    }
}

impl IndexEntry {
    /// The entry for a package file at `url`.
    pub fn describe(package: &Package, bytes: &[u8], url: &str) -> IndexEntry {
        let manifest = package.manifest();
        let signer = package
            .signature()
            .and_then(|signature| signature.claimed_key().ok())
            .map(|key| IndexSigner { fingerprint: key.fingerprint(), name: key.name().map(str::to_owned) });
        IndexEntry {
            id: manifest.id.clone(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            description: manifest.description.clone(),
            category: manifest.category.clone(),
            tags: manifest.tags.clone(),
            authors: manifest.authors.clone(),
            permissions: manifest.permissions.iter().map(|p| p.as_str().to_owned()).collect(),
            url: url.to_owned(),
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
            signer,
        }
    }

    /// Checks downloaded package bytes against the entry's checksum.
    pub fn check(&self, bytes: &[u8]) -> Result<(), PackageError> {
        let actual = sha256_hex(bytes);
        if !actual.eq_ignore_ascii_case(&self.sha256) {
            return Err(PackageError::ChecksumMismatch {
                package: format!("{} {}", self.id, self.version),
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}
