//! The package archive: a gzip-compressed tar of the plugin folder's files, read entry by
//! entry so that nothing unsafe (links, paths out of the folder, oversized content) is
//! ever written, and written deterministically so the same files make the same bytes.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use plugboard_manifest::{MANIFEST_FILE_NAME, Manifest, parse_manifest};
use sha2::{Digest as _, Sha256};

use crate::PackageError;
use crate::signature::{self, SignatureFile};

/// The file in a package that holds its signature.
pub const SIGNATURE_FILE: &str = "SIGNATURE";
/// The extension of package files: `<id>-<version>.plugboard`.
pub const PACKAGE_EXTENSION: &str = "plugboard";

/// What a package may weigh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The archive as uploaded or downloaded.
    pub max_archive_bytes: u64,
    /// All its files unpacked.
    pub max_unpacked_bytes: u64,
    /// How many files it holds.
    pub max_files: usize,
}

impl Default for Limits {
    /// 64 MiB packed, 256 MiB unpacked, 4096 files.
    fn default() -> Limits {
        Limits { max_archive_bytes: 64 << 20, max_unpacked_bytes: 256 << 20, max_files: 4096 }
    }
}

/// A plugin package: its manifest, its files and its signature, checked as far as the
/// archive alone allows (see [`Package::verify`] for the signature).
#[derive(Debug, Clone)]
pub struct Package {
    manifest: Manifest,
    /// Every file but the signature, by its path inside the package (`/`-separated).
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    pub(crate) signature: Option<SignatureFile>,
}

impl Package {
    /// Packs a plugin folder: `plugin.toml`, the component, the icon, every file under
    /// `ui/` and `docs/`, and the README, LICENSE and CHANGELOG files. Hidden files are
    /// left out; a link anywhere in what is packed is refused.
    pub fn pack(folder: &Path) -> Result<Package, PackageError> {
        let manifest = plugboard_manifest::read_manifest(folder)?;
        let mut wanted: Vec<PathBuf> = vec![PathBuf::from(MANIFEST_FILE_NAME), manifest.component.clone()];
        wanted.extend(manifest.icon.clone());
        wanted.extend(manifest.ui.iter().map(|ui| ui.entry.clone()));
        let top = std::fs::read_dir(folder).map_err(PackageError::io("cannot read the plugin folder", folder))?;
        for entry in top {
            let entry = entry.map_err(PackageError::io("cannot read the plugin folder", folder))?;
            let name = entry.file_name().to_string_lossy().to_uppercase();
            if ["README", "LICENSE", "LICENCE", "CHANGELOG", "NOTICE"].iter().any(|prefix| name.starts_with(prefix)) {
                wanted.push(PathBuf::from(entry.file_name()));
            }
        }
        for sub in ["ui", "docs"] {
            collect_files(folder, Path::new(sub), &mut wanted)?;
        }
        let mut files = BTreeMap::new();
        for relative in wanted {
            let path = folder.join(&relative);
            let metadata =
                std::fs::symlink_metadata(&path).map_err(PackageError::io("cannot read the plugin file", &path))?;
            if metadata.file_type().is_symlink() {
                let target = std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default();
                return Err(PackageError::Link { path: slash_path(&relative), target });
            }
            if !metadata.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(PackageError::io("cannot read the plugin file", &path))?;
            files.insert(slash_path(&relative), bytes);
        }
        Ok(Package { manifest, files, signature: None })
    }

    /// Reads a package archive within `limits`, refusing links, absolute paths, paths
    /// with `..`, anything but regular files and folders, duplicate entries, and a package
    /// without a valid manifest or the files it names. A package whose files all sit in
    /// one top folder (as zipping a folder makes) is read as if they did not.
    pub fn read(bytes: &[u8], limits: &Limits) -> Result<Package, PackageError> {
        let size = bytes.len() as u64;
        if size > limits.max_archive_bytes {
            return Err(PackageError::TooLarge { what: "the archive", size, limit: limits.max_archive_bytes });
        }
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            return Err(PackageError::invalid(
                "it is not gzip-compressed; make packages with `plugboard plugin package`",
            ));
        }
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        let mut entries_read = BTreeMap::<String, Vec<u8>>::new();
        let mut unpacked: u64 = 0;
        let entries =
            archive.entries().map_err(|error| PackageError::invalid(format!("not a tar archive: {error}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|error| PackageError::invalid(format!("a damaged archive entry: {error}")))?;
            let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                return Err(PackageError::Link { path: raw_path, target: target.unwrap_or_default() });
            }
            let Some(path) = clean_path(&raw_path) else {
                return Err(PackageError::PathEscapes { path: raw_path });
            };
            if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                continue;
            }
            if !kind.is_file() {
                return Err(PackageError::invalid(format!(
                    "the entry `{raw_path}` is not a regular file; a package holds only files and folders"
                )));
            }
            if entries_read.len() >= limits.max_files {
                return Err(PackageError::TooLarge {
                    what: "the number of files",
                    size: entries_read.len() as u64 + 1,
                    limit: limits.max_files as u64,
                });
            }
            let budget = limits.max_unpacked_bytes - unpacked;
            let mut content = Vec::new();
            (&mut entry)
                .take(budget + 1)
                .read_to_end(&mut content)
                .map_err(|error| PackageError::invalid(format!("cannot read `{raw_path}`: {error}")))?;
            unpacked += content.len() as u64;
            if unpacked > limits.max_unpacked_bytes {
                return Err(PackageError::TooLarge {
                    what: "the unpacked content",
                    size: unpacked.max(limits.max_unpacked_bytes + 1),
                    limit: limits.max_unpacked_bytes,
                });
            }
            if entries_read.insert(path.clone(), content).is_some() {
                return Err(PackageError::invalid(format!("the archive holds `{path}` twice")));
            }
        }
        let entries_read = strip_common_folder(entries_read);
        let mut files = entries_read;
        let signature = match files.remove(SIGNATURE_FILE) {
            Some(bytes) => Some(SignatureFile::parse(&bytes)?),
            None => None,
        };
        let manifest_bytes = files.get(MANIFEST_FILE_NAME).ok_or_else(|| {
            PackageError::invalid(format!("it has no `{MANIFEST_FILE_NAME}` at its top; every plugin needs one"))
        })?;
        let text = std::str::from_utf8(manifest_bytes)
            .map_err(|_| PackageError::invalid(format!("`{MANIFEST_FILE_NAME}` is not UTF-8 text")))?;
        let manifest = parse_manifest(text, Path::new(MANIFEST_FILE_NAME))?;
        let mut named: Vec<(&str, &Path)> = vec![("component", &manifest.component)];
        named.extend(manifest.icon.as_deref().map(|icon| ("icon", icon)));
        named.extend(manifest.ui.iter().map(|ui| ("ui entry", ui.entry.as_path())));
        for (what, path) in named {
            if !files.contains_key(&slash_path(path)) {
                return Err(PackageError::invalid(format!(
                    "the manifest names the {what} `{}` but the package does not hold it; pack the plugin folder with `plugboard plugin package`",
                    path.display()
                )));
            }
        }
        Ok(Package { manifest, files, signature })
    }

    /// The archive's bytes: files in path order, signature last, with fixed modes and
    /// times, so packing the same files twice gives the same bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PackageError> {
        let io = |error: std::io::Error| PackageError::invalid(format!("cannot write the archive: {error}"));
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Deterministic);
        let signature = self.signature.as_ref().map(SignatureFile::to_bytes);
        let all = self.files.iter().map(|(path, bytes)| (path.as_str(), bytes.as_slice()));
        for (path, bytes) in all.chain(signature.as_deref().map(|bytes| (SIGNATURE_FILE, bytes))) {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, bytes).map_err(io)?;
        }
        builder.into_inner().map_err(io)?.finish().map_err(io)
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `<id> <version>`, as messages name a package.
    pub fn label(&self) -> String {
        format!("{} {}", self.manifest.id, self.manifest.version)
    }

    /// The conventional file name, `<id>-<version>.plugboard`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.{PACKAGE_EXTENSION}", self.manifest.id, self.manifest.version)
    }

    /// The text of `plugin.toml`.
    pub fn manifest_text(&self) -> &[u8] {
        self.files.get(MANIFEST_FILE_NAME).map_or(&[], Vec::as_slice)
    }

    /// The compiled component.
    pub fn component(&self) -> &[u8] {
        self.files.get(&slash_path(&self.manifest.component)).map_or(&[], Vec::as_slice)
    }

    /// Every file but the signature, by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
    }

    /// The signature file, when the package is signed.
    pub fn signature(&self) -> Option<&SignatureFile> {
        self.signature.as_ref()
    }

    /// SHA-256 over the listing of every file but the signature (path, size and
    /// SHA-256 of each): what a signature signs.
    pub fn content_digest(&self) -> String {
        hex::encode(Sha256::digest(signature::signed_message(&self.files)))
    }

    /// Signs the package's files, replacing any signature it had.
    pub fn sign(&mut self, key: &crate::SigningKey) {
        self.signature = Some(SignatureFile::sign(&self.files, key));
    }

    /// Writes the package's files (signature included) into `folder`, which must not
    /// exist yet.
    pub fn extract(&self, folder: &Path) -> Result<(), PackageError> {
        std::fs::create_dir(folder).map_err(PackageError::io("cannot create the plugin folder", folder))?;
        let signature = self.signature.as_ref().map(SignatureFile::to_bytes);
        let all = self.files.iter().map(|(path, bytes)| (path.as_str(), bytes.as_slice()));
        for (relative, bytes) in all.chain(signature.as_deref().map(|bytes| (SIGNATURE_FILE, bytes))) {
            let path = folder.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(PackageError::io("cannot create the folder", parent))?;
            }
            std::fs::write(&path, bytes).map_err(PackageError::io("cannot write the plugin file", &path))?;
        }
        Ok(())
    }
}

/// SHA-256 of bytes, in hex: the checksum an index gives for a package file.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The entry path with `./` parts removed, or `None` when it is absolute, climbs with
/// `..`, or is not plain text.
fn clean_path(raw: &str) -> Option<String> {
    if raw.contains('\\') || raw.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Files that all sit under one top folder, without it (a zipped folder), unless the
/// manifest is at the top already.
fn strip_common_folder(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    if files.contains_key(MANIFEST_FILE_NAME) {
        return files;
    }
    let top = |path: &str| path.split_once('/').map(|(top, _)| top.to_owned());
    let Some(first) = files.keys().next().and_then(|path| top(path)) else { return files };
    if !files.keys().all(|path| top(path).as_deref() == Some(first.as_str())) {
        return files;
    }
    files.into_iter().map(|(path, bytes)| (path[first.len() + 1..].to_owned(), bytes)).collect()
}

fn collect_files(root: &Path, relative: &Path, out: &mut Vec<PathBuf>) -> Result<(), PackageError> {
    let folder = root.join(relative);
    let Ok(entries) = std::fs::read_dir(&folder) else { return Ok(()) };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let child = relative.join(entry.file_name());
        let kind = entry.file_type().map_err(PackageError::io("cannot read", entry.path()))?;
        if kind.is_dir() {
            collect_files(root, &child, out)?;
        } else {
            out.push(child);
        }
    }
    Ok(())
}

fn slash_path(path: &Path) -> String {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}
