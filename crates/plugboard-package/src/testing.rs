//! Archives with arbitrary entries, for tests of what [`crate::Package::read`] refuses:
//! links, paths that escape, devices, duplicates. Not for making real packages.

use std::io::Write as _;

/// One archive entry, written as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawEntry {
    /// A regular file.
    File {
        /// Its path, unchecked.
        path: String,
        /// Its content.
        bytes: Vec<u8>,
    },
    /// A symbolic link.
    Symlink {
        /// Its path.
        path: String,
        /// What it points to.
        target: String,
    },
    /// A hard link.
    HardLink {
        /// Its path.
        path: String,
        /// What it points to.
        target: String,
    },
    /// A named pipe.
    Fifo {
        /// Its path.
        path: String,
    },
}

impl RawEntry {
    /// The entry's path.
    pub fn path(&self) -> &str {
        match self {
            RawEntry::File { path, .. }
            | RawEntry::Symlink { path, .. }
            | RawEntry::HardLink { path, .. }
            | RawEntry::Fifo { path } => path,
        }
    }
}

/// The entries of a package, signature last (as [`crate::Package::to_bytes`] writes them).
pub fn entries_of(package: &crate::Package) -> Vec<RawEntry> {
    let mut entries: Vec<RawEntry> =
        package.files().map(|(path, bytes)| RawEntry::File { path: path.to_owned(), bytes: bytes.to_vec() }).collect();
    if let Some(signature) = package.signature() {
        entries.push(RawEntry::File { path: crate::SIGNATURE_FILE.to_owned(), bytes: signature.to_bytes() });
    }
    entries
}

/// A gzip-compressed tar of `entries`, with names written byte for byte (no checks).
pub fn raw_archive(entries: &[RawEntry]) -> Vec<u8> {
    let mut tar = Vec::new();
    for entry in entries {
        let mut header = tar::Header::new_old();
        let (kind, link, data): (tar::EntryType, Option<&str>, &[u8]) = match entry {
            RawEntry::File { bytes, .. } => (tar::EntryType::Regular, None, bytes),
            RawEntry::Symlink { target, .. } => (tar::EntryType::Symlink, Some(target), &[]),
            RawEntry::HardLink { target, .. } => (tar::EntryType::Link, Some(target), &[]),
            RawEntry::Fifo { .. } => (tar::EntryType::Fifo, None, &[]),
        };
        let name = entry.path().as_bytes();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(link) = link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&tar).unwrap_or_default();
    encoder.finish().unwrap_or_default()
}
