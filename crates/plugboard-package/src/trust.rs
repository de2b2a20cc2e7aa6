//! The trust store (the public keys whose signatures are accepted) and the install
//! policy that decides what happens to unsigned or untrusted packages.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Package, PackageError, PublicKey};

/// What an install requires of a package's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Signed by a trusted key, or refused. The default.
    #[default]
    Require,
    /// Unsigned packages and untrusted keys are installed with a warning; a signature
    /// that does not verify is still refused (the files were changed).
    Warn,
    /// Signatures are not checked.
    Off,
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(value: &str) -> Result<Policy, String> {
        match value {
            "require" => Ok(Policy::Require),
            "warn" => Ok(Policy::Warn),
            "off" => Ok(Policy::Off),
            other => Err(format!("unknown install policy `{other}`; use require, warn or off")),
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Policy::Require => "require",
            Policy::Warn => "warn",
            Policy::Off => "off",
        })
    }
}

/// The outcome of a signature check that let the package through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The fingerprint of the key that signed, when the signature verified.
    pub signer_fingerprint: Option<String>,
    /// The name on that key (from the trust store when trusted).
    pub signer: Option<String>,
    /// Whether that key is in the trust store.
    pub trusted: bool,
    /// What the policy let through, for the operator to read.
    pub warnings: Vec<String>,
}

/// Public keys whose signatures are accepted: `.pub` files in a folder, plus any given
/// one by one.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    keys: Vec<PublicKey>,
    folder: Option<PathBuf>,
}

impl TrustStore {
    /// An empty trust store.
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// The keys in `folder`'s `.pub` files (a missing folder is an empty store). A file
    /// that is not a key is an error naming it.
    pub fn from_folder(folder: &Path) -> Result<TrustStore, PackageError> {
        let mut store = TrustStore { keys: Vec::new(), folder: Some(folder.to_path_buf()) };
        let entries = match std::fs::read_dir(folder) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(error) => return Err(PackageError::io("cannot read the trusted keys folder", folder)(error)),
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "pub"))
            .collect();
        paths.sort();
        for path in paths {
            store.keys.push(PublicKey::read(&path)?);
        }
        Ok(store)
    }

    /// Adds a key.
    pub fn add(&mut self, key: PublicKey) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The folder the store was read from.
    pub fn folder(&self) -> Option<&Path> {
        self.folder.as_deref()
    }

    /// Copies `key` into the store's folder as `<fingerprint>.pub` (keeping its name)
    /// and adds it. Returns the file written.
    pub fn trust(&mut self, key: PublicKey) -> Result<PathBuf, PackageError> {
        let folder = self.folder.clone().ok_or_else(|| PackageError::BadKey {
            path: PathBuf::from("<trust store>"),
            reason: "this trust store has no folder to save keys in".to_owned(),
        })?;
        std::fs::create_dir_all(&folder).map_err(PackageError::io("cannot create the trusted keys folder", &folder))?;
        let path = folder.join(format!("{}.pub", key.fingerprint()));
        std::fs::write(&path, key.to_file_text()).map_err(PackageError::io("cannot write the trusted key", &path))?;
        self.add(key);
        Ok(path)
    }

    /// The store as its folder holds it now (keys trusted or removed by another process
    /// since it was read); a store without a folder is returned as it is.
    pub fn reload(&self) -> Result<TrustStore, PackageError> {
        match &self.folder {
            Some(folder) => TrustStore::from_folder(folder),
            None => Ok(self.clone()),
        }
    }

    /// Stops trusting the key with `fingerprint`: deletes every `.pub` file of the store's
    /// folder that holds it. Returns whether it was trusted.
    pub fn untrust(&mut self, fingerprint: &str) -> Result<bool, PackageError> {
        let before = self.keys.len();
        self.keys.retain(|key| key.fingerprint() != fingerprint);
        let Some(folder) = &self.folder else { return Ok(before != self.keys.len()) };
        let entries = match std::fs::read_dir(folder) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(before != self.keys.len()),
            Err(error) => return Err(PackageError::io("cannot read the trusted keys folder", folder)(error)),
        };
        let mut removed = before != self.keys.len();
        for path in entries.filter_map(|entry| entry.ok().map(|entry| entry.path())) {
            let is_key = path.extension().is_some_and(|ext| ext == "pub");
            if is_key && PublicKey::read(&path).is_ok_and(|key| key.fingerprint() == fingerprint) {
                std::fs::remove_file(&path).map_err(PackageError::io("cannot remove the trusted key", &path))?;
                removed = true;
            }
        }
        Ok(removed)
    }

    fn find(&self, key: &PublicKey) -> Option<&PublicKey> {
        self.keys.iter().find(|trusted| trusted.to_base64() == key.to_base64())
    }
}

impl Package {
    /// Checks the package's signature against `trust` under `policy`. A signature that
    /// does not verify is refused under `require` and `warn`; an unsigned package or an
    /// untrusted key is refused under `require` and a warning under `warn`.
    pub fn verify(&self, trust: &TrustStore, policy: Policy) -> Result<Verification, PackageError> {
        let package = self.label();
        if policy == Policy::Off {
            return Ok(Verification {
                warnings: vec!["signatures are not checked (install policy `off`)".to_owned()],
                ..Verification::default()
            });
        }
        let Some(signature) = &self.signature else {
            return match policy {
                Policy::Require => Err(PackageError::Unsigned { package }),
                _ => Ok(Verification {
                    warnings: vec![format!("{package} is not signed; installed anyway (install policy `warn`)")],
                    ..Verification::default()
                }),
            };
        };
        let key = signature
            .check(&self.files)
            .map_err(|reason| PackageError::BadSignature { package: package.clone(), reason })?;
        if let Some(trusted) = trust.find(&key) {
            return Ok(Verification {
                signer_fingerprint: Some(key.fingerprint()),
                signer: trusted.name().or(key.name()).map(str::to_owned),
                trusted: true,
                warnings: Vec::new(),
            });
        }
        let signer = key.name().map(str::to_owned);
        match policy {
            Policy::Require => Err(PackageError::UntrustedKey { package, fingerprint: key.fingerprint(), signer }),
            _ => Ok(Verification {
                warnings: vec![format!(
                    "{package} is signed by the untrusted key {}; installed anyway (install policy `warn`)",
                    key.fingerprint()
                )],
                signer_fingerprint: Some(key.fingerprint()),
                signer,
                trusted: false,
            }),
        }
    }
}
