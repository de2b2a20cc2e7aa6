//! ed25519 signing keys and their one-line text files.
//!
//! A public key file holds `plugboard-ed25519 <base64 key> <name>`; a secret key file
//! `plugboard-ed25519-secret <base64 seed> <name>`. The name (the author, say) is free
//! text shown beside the key's fingerprint, never trusted on its own.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;
use sha2::{Digest as _, Sha256};

use crate::PackageError;

const PUBLIC_TAG: &str = "plugboard-ed25519";
const SECRET_TAG: &str = "plugboard-ed25519-secret";

/// A public key that verifies package signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
    name: Option<String>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("fingerprint", &self.fingerprint()).field("name", &self.name).finish()
    }
}

impl PublicKey {
    /// The key from its 32 bytes, base64-encoded.
    pub fn from_base64(encoded: &str, name: Option<String>) -> Result<PublicKey, String> {
        let bytes = BASE64.decode(encoded.trim()).map_err(|error| format!("the key is not base64: {error}"))?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|bytes: Vec<u8>| format!("an ed25519 key has 32 bytes, not {}", bytes.len()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|error| format!("not a valid ed25519 public key: {error}"))?;
        Ok(PublicKey { key, name })
    }

    /// Parses the text of a public key file.
    pub fn parse(text: &str, path: &Path) -> Result<PublicKey, PackageError> {
        let bad = |reason: String| PackageError::BadKey { path: path.to_path_buf(), reason };
        let (tag, key, name) =
            split_key_line(text).ok_or_else(|| bad(format!("expected `{PUBLIC_TAG} <key> <name>`")))?;
        if tag == SECRET_TAG {
            return Err(bad("this is a secret key; give the `.pub` file".to_owned()));
        }
        if tag != PUBLIC_TAG {
            return Err(bad(format!("expected a line starting with `{PUBLIC_TAG}`, found `{tag}`")));
        }
        PublicKey::from_base64(key, name).map_err(bad)
    }

    /// Reads a public key file.
    pub fn read(path: &Path) -> Result<PublicKey, PackageError> {
        let text = std::fs::read_to_string(path).map_err(PackageError::io("cannot read the key file", path))?;
        PublicKey::parse(&text, path)
    }

    /// The key's 32 bytes, base64-encoded.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.key.as_bytes())
    }

    /// A short, stable name for the key: the first 16 hex digits of its SHA-256.
    pub fn fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(self.key.as_bytes())[..8])
    }

    /// The name written beside the key, when it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The public key file's text.
    pub fn to_file_text(&self) -> String {
        key_line(PUBLIC_TAG, &self.to_base64(), self.name.as_deref())
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), String> {
        let signature = ed25519_dalek::Signature::from_slice(signature)
            .map_err(|_| format!("an ed25519 signature has 64 bytes, not {}", signature.len()))?;
        self.key.verify_strict(message, &signature).map_err(|_| "the signature does not match the files".to_owned())
    }
}

/// A secret signing key with its public half.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    name: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("SigningKey").field("public", &self.public()).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key from the operating system's random generator.
    pub fn generate(name: Option<String>) -> Result<SigningKey, PackageError> {
        let mut seed = [0_u8; 32];
        getrandom::fill(&mut seed).map_err(|error| PackageError::BadKey {
            path: "<new key>".into(),
            reason: format!("the operating system gave no random bytes: {error}"),
        })?;
        Ok(SigningKey { key: ed25519_dalek::SigningKey::from_bytes(&seed), name })
    }

    /// Parses the text of a secret key file.
    pub fn parse(text: &str, path: &Path) -> Result<SigningKey, PackageError> {
        let bad = |reason: String| PackageError::BadKey { path: path.to_path_buf(), reason };
        let (tag, seed, name) =
            split_key_line(text).ok_or_else(|| bad(format!("expected `{SECRET_TAG} <key> <name>`")))?;
        if tag == PUBLIC_TAG {
            return Err(bad("this is a public key; signing needs the secret key file".to_owned()));
        }
        if tag != SECRET_TAG {
            return Err(bad(format!("expected a line starting with `{SECRET_TAG}`, found `{tag}`")));
        }
        let seed = BASE64.decode(seed).map_err(|error| bad(format!("the key is not base64: {error}")))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|seed: Vec<u8>| bad(format!("an ed25519 seed has 32 bytes, not {}", seed.len())))?;
        Ok(SigningKey { key: ed25519_dalek::SigningKey::from_bytes(&seed), name })
    }

    /// Reads a secret key file.
    pub fn read(path: &Path) -> Result<SigningKey, PackageError> {
        let text = std::fs::read_to_string(path).map_err(PackageError::io("cannot read the key file", path))?;
        SigningKey::parse(&text, path)
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey { key: self.key.verifying_key(), name: self.name.clone() }
    }

    /// The secret key file's text (keep it private).
    pub fn to_file_text(&self) -> String {
        key_line(SECRET_TAG, &BASE64.encode(self.key.to_bytes()), self.name.as_deref())
    }

    /// Writes `<stem>.key` (readable by its owner only) and `<stem>.pub`, refusing to
    /// overwrite either. Returns both paths.
    pub fn write_pair(&self, stem: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf), PackageError> {
        let secret = stem.with_extension("key");
        let public = stem.with_extension("pub");
        for path in [&secret, &public] {
            if path.exists() {
                return Err(PackageError::BadKey {
                    path: path.clone(),
                    reason: "the file exists already; choose another name or remove it".to_owned(),
                });
            }
        }
        write_private(&secret, self.to_file_text().as_bytes())?;
        std::fs::write(&public, self.public().to_file_text())
            .map_err(PackageError::io("cannot write the public key", &public))?;
        Ok((secret, public))
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).to_bytes().to_vec()
    }
}

fn split_key_line(text: &str) -> Option<(&str, &str, Option<String>)> {
    let line = text.lines().map(str::trim).find(|line| !line.is_empty() && !line.starts_with('#'))?;
    let mut parts = line.splitn(3, char::is_whitespace);
    let tag = parts.next()?;
    let key = parts.next()?;
    let name = parts.next().map(str::trim).filter(|name| !name.is_empty()).map(str::to_owned);
    Some((tag, key, name))
}

fn key_line(tag: &str, key: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{tag} {key} {name}\n"),
        None => format!("{tag} {key}\n"),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(PackageError::io("cannot create the secret key", path))?;
    file.write_all(bytes).map_err(PackageError::io("cannot write the secret key", path))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    std::fs::write(path, bytes).map_err(PackageError::io("cannot write the secret key", path))
}
