//! The server key's files in the data folder: `secret.key` (the key that seals), and
//! during and after a rotation `secret.key.new` (the next key, written before any secret
//! is sealed with it) and `secret.key.old` (the key before, kept until the next rotation).
//! Each holds the key as 64 hexadecimal characters and a newline, and is readable by its
//! owner only: it is created with mode `0600` (never widened afterwards), and one that
//! others can read is refused rather than quietly fixed, since its key may have been seen
//! (the operator makes it private and decides whether to rotate).
//!
//! `PLUGBOARD_SECRET_KEY` (the key as 64 hexadecimal characters) replaces the files: with
//! it set, none is read or made.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{KeySource, SecretError, SecretKey, SecretKeys};

/// The key that seals, in the data folder.
pub const KEY_FILE: &str = "secret.key";
/// The key before the last rotation, which still opens.
pub const OLD_KEY_FILE: &str = "secret.key.old";
/// A rotation's new key, before it replaces `secret.key`.
pub const NEW_KEY_FILE: &str = "secret.key.new";
/// The environment variable that gives the key instead of the key file.
pub const SECRET_KEY_ENV: &str = "PLUGBOARD_SECRET_KEY";

/// Why the server key cannot be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing a key file failed.
    #[error("cannot {action} the server key file {}: {source}", path.display())]
    Io {
        /// "read", "create", "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A key file others can read.
    #[error(
        "the server key file {} can be read by other users (mode {mode:03o}); make it private with `chmod 600 {}` and start again (if others may have read it, then also run `plugboard secrets rotate-key`)",
        path.display(), path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file that holds no key.
    #[error(
        "the server key file {} does not hold a key (64 hexadecimal characters); put back the copy saved with the database (if no secret was ever saved under it, remove the file and a new key is made)",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// `PLUGBOARD_SECRET_KEY` (or the variable named) is not a key.
    #[error(
        "{variable} must be the server key as 64 hexadecimal characters (32 bytes), such as the output of `openssl rand -hex 32`; it has {length} characters{}",
        if *length == 64 { ", not all hexadecimal" } else { "" }
    )]
    Environment {
        /// The variable.
        variable: String,
        /// How long its value is (the value itself is never shown).
        length: usize,
    },
    /// No key could be made.
    #[error(transparent)]
    Random(#[from] SecretError),
}

/// The keys read from a folder's key files.
pub(super) struct ReadKeys {
    pub(super) current: SecretKey,
    pub(super) older: Vec<SecretKey>,
}

impl SecretKeys {
    /// The server keys of the data folder `folder`: from `environment` (the value of
    /// `PLUGBOARD_SECRET_KEY`) when it is set, else from the folder's key files, making
    /// `secret.key` with a new key when there is none (first start).
    pub fn for_data_folder(folder: &Path, environment: Option<&str>) -> Result<SecretKeys, KeyFileError> {
        if let Some(value) = environment {
            return SecretKeys::from_environment(SECRET_KEY_ENV, value);
        }
        if let Some(read) = read_keys(folder)? {
            return Ok(SecretKeys::with_source(read.current, read.older, KeySource::Folder(folder.to_owned())));
        }
        let key = SecretKey::generate()?;
        let path = folder.join(KEY_FILE);
        match create_key_file(&path, &key) {
            Ok(()) => {
                tracing::info!(file = %path.display(), key = key.id(), "made the server key that encrypts secret plugin settings; back it up with the database");
                Ok(SecretKeys::with_source(key, Vec::new(), KeySource::Folder(folder.to_owned())))
            }
            // Another process made it first: use theirs.
            Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                let read = read_keys(folder)?.ok_or(KeyFileError::Malformed { path })?;
                Ok(SecretKeys::with_source(read.current, read.older, KeySource::Folder(folder.to_owned())))
            }
            Err(error) => Err(error),
        }
    }

    /// The key ring of a key given in environment variable `variable` (its `value`).
    pub fn from_environment(variable: &str, value: &str) -> Result<SecretKeys, KeyFileError> {
        let key = parse_environment(variable, value)?;
        Ok(SecretKeys::with_source(key, Vec::new(), KeySource::Environment))
    }

    /// Whether the keys come from the environment rather than key files.
    pub fn from_environment_variable(&self) -> bool {
        matches!(self.source, KeySource::Environment)
    }

    /// Adds `key` to the keys that open (not seal).
    pub fn add_older(&self, key: SecretKey) {
        let mut ring = self.ring.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if ring.current != key && !ring.older.contains(&key) {
            ring.older.push(key);
        }
    }
}

/// A key given in environment variable `variable`.
pub fn parse_environment(variable: &str, value: &str) -> Result<SecretKey, KeyFileError> {
    SecretKey::parse_hex(value)
        .ok_or_else(|| KeyFileError::Environment { variable: variable.to_owned(), length: value.trim().len() })
}

/// The keys of `folder`'s key files; `None` when it has no `secret.key`.
pub(super) fn read_keys(folder: &Path) -> Result<Option<ReadKeys>, KeyFileError> {
    let Some(current) = read_key_file(&folder.join(KEY_FILE))? else { return Ok(None) };
    let mut older = Vec::new();
    for name in [OLD_KEY_FILE, NEW_KEY_FILE] {
        if let Some(key) = read_key_file(&folder.join(name))? {
            older.push(key);
        }
    }
    Ok(Some(ReadKeys { current, older }))
}

/// The key in the file at `path`; `None` when there is no such file.
fn read_key_file(path: &Path) -> Result<Option<SecretKey>, KeyFileError> {
    let io = |source| KeyFileError::Io { action: "read", path: path.to_owned(), source };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(error)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions { path: path.to_owned(), mode });
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    let text = std::fs::read_to_string(path).map_err(io)?;
    SecretKey::parse_hex(&text).map(Some).ok_or_else(|| KeyFileError::Malformed { path: path.to_owned() })
}

/// Creates the key file at `path` holding `key`, readable by its owner only from its
/// creation; fails if it exists.
fn create_key_file(path: &Path, key: &SecretKey) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io { action: "create", path: path.to_owned(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(format!("{}\n", key.to_hex()).as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Writes `key` to the key file at `path` atomically: a private temporary file beside it,
/// flushed to disk, renamed over it, the folder flushed too. A crash leaves the old file
/// or the new one, never a part.
pub fn write_key_file(path: &Path, key: &SecretKey) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io { action: "write", path: path.to_owned(), source };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    // A temporary file left by a crash holds nothing anyone relies on.
    match std::fs::remove_file(&temporary) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(io(error)),
        _ => {}
    }
    create_key_file(&temporary, key)?;
    std::fs::rename(&temporary, path).map_err(io)?;
    sync_folder(path).map_err(io)
}

/// Flushes the folder holding `path`, so a rename in it survives a power loss.
pub(super) fn sync_folder(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(folder) = path.parent().filter(|folder| !folder.as_os_str().is_empty()) {
        std::fs::File::open(folder)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn the_first_start_makes_a_private_key_file_and_the_next_reads_it() {
        let folder = tempfile::tempdir().unwrap();
        let made = SecretKeys::for_data_folder(folder.path(), None).unwrap();
        let path = folder.path().join(KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", made.current().to_hex()));
        let again = SecretKeys::for_data_folder(folder.path(), None).unwrap();
        assert_eq!(again.current(), made.current());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let folder = tempfile::tempdir().unwrap();
        SecretKeys::for_data_folder(folder.path(), None).unwrap();
        let path = folder.path().join(KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = SecretKeys::for_data_folder(folder.path(), None).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("mode 644"), "{message}");
        assert!(message.contains(&format!("chmod 600 {}", path.display())), "{message}");
    }

    #[test]
    fn the_environment_key_replaces_the_files_and_a_bad_one_is_explained() {
        let folder = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let keys = SecretKeys::for_data_folder(folder.path(), Some(&key.to_hex())).unwrap();
        assert_eq!(keys.current(), key);
        assert!(keys.from_environment_variable());
        assert!(!folder.path().join(KEY_FILE).exists());

        let error = SecretKeys::for_data_folder(folder.path(), Some("c2VjcmV0")).unwrap_err().to_string();
        assert!(
            error.starts_with("PLUGBOARD_SECRET_KEY must be the server key as 64 hexadecimal characters"),
            "{error}"
        );
        assert!(error.contains("it has 8 characters") && !error.contains("c2VjcmV0"), "{error}");
    }

    #[test]
    fn a_key_file_without_a_key_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        create_key_file(&folder.path().join(KEY_FILE), &SecretKey::generate().unwrap()).unwrap();
        std::fs::write(folder.path().join(KEY_FILE), "not a key\n").unwrap();
        let error = SecretKeys::for_data_folder(folder.path(), None).unwrap_err().to_string();
        assert!(error.contains("does not hold a key"), "{error}");
    }
}
