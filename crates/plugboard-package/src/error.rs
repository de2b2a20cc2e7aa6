//! Why a package, key or index was refused: one variant per reason, each with a stable
//! code for the API and a message that says what was wrong and what to do.

use std::path::PathBuf;

/// A refused package, key, signature or index.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The archive, or what it unpacks to, is over a limit.
    #[error(
        "the package is too large: {what} is {size} bytes, over the limit of {limit} bytes; make it smaller or raise the limit"
    )]
    TooLarge {
        /// What was measured.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An entry's path is absolute or climbs out of the package folder.
    #[error("the package entry `{path}` escapes the plugin folder; a package holds only relative paths inside it")]
    PathEscapes {
        /// The entry's path as written in the archive.
        path: String,
    },
    /// An entry is a symbolic or hard link.
    #[error("the package entry `{path}` is a link (to `{target}`); a package holds only regular files")]
    Link {
        /// The link's path.
        path: String,
        /// What it points to.
        target: String,
    },
    /// Not a package at all, or one missing what every package has.
    #[error("not a valid plugin package: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The package's `plugin.toml` is invalid.
    #[error(transparent)]
    Manifest(#[from] plugboard_manifest::InvalidManifest),
    /// The package has no signature and the policy requires one.
    #[error(
        "the package `{package}` is not signed; sign it with `plugboard plugin sign`, or install with the `warn` or `off` policy to accept unsigned packages"
    )]
    Unsigned {
        /// The plugin id and version.
        package: String,
    },
    /// The signature does not verify: the content changed after signing, or it is not a
    /// signature at all.
    #[error(
        "the package `{package}` has a bad signature: {reason}; the files were changed after signing or the signature is corrupt — get the package again from its author"
    )]
    BadSignature {
        /// The plugin id and version.
        package: String,
        /// What failed.
        reason: String,
    },
    /// The signature is good but its key is not in the trust store.
    #[error("the package `{package}` is signed by an untrusted key {fingerprint}{}; if you trust its author, add their public key with `plugboard plugin trust <key.pub>`", signer.as_deref().map(|name| format!(" ({name})")).unwrap_or_default())]
    UntrustedKey {
        /// The plugin id and version.
        package: String,
        /// The key's fingerprint.
        fingerprint: String,
        /// The name the key carries, when it has one.
        signer: Option<String>,
    },
    /// A downloaded package does not have the checksum its index gives.
    #[error(
        "the package `{package}` does not match its index entry: SHA-256 {actual}, the index says {expected}; the download is corrupt or the index is stale"
    )]
    ChecksumMismatch {
        /// The plugin id and version.
        package: String,
        /// The index's checksum.
        expected: String,
        /// The package's.
        actual: String,
    },
    /// A key file could not be read.
    #[error("`{}` is not a Plugboard key file: {reason}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The index is not a valid catalogue.
    #[error("the plugin index {source_name} is invalid: {reason}")]
    BadIndex {
        /// Where the index came from.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing files failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl PackageError {
    /// A stable code naming the reason, for API errors and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            PackageError::TooLarge { .. } => "package_too_large",
            PackageError::PathEscapes { .. } => "package_path_escapes",
            PackageError::Link { .. } => "package_link",
            PackageError::Invalid { .. } => "package_invalid",
            PackageError::Manifest(_) => "package_invalid_manifest",
            PackageError::Unsigned { .. } => "package_unsigned",
            PackageError::BadSignature { .. } => "package_bad_signature",
            PackageError::UntrustedKey { .. } => "package_untrusted_key",
            PackageError::ChecksumMismatch { .. } => "package_checksum_mismatch",
            PackageError::BadKey { .. } => "bad_key",
            PackageError::BadIndex { .. } => "bad_index",
            PackageError::Io { .. } => "io_error",
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> PackageError {
        PackageError::Invalid { reason: reason.into() }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PackageError {
        let path = path.into();
        move |source| PackageError::Io { action, path, source }
    }
}
