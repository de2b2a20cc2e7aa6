//! Package signatures: an ed25519 signature over a listing of every file in the package
//! (path, size and SHA-256 of each), kept in the package's `SIGNATURE` file as JSON.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{PackageError, PublicKey, SigningKey};

const FORMAT: &str = "plugboard-signature-v1";

/// The `SIGNATURE` file: who signed, and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// Always `plugboard-signature-v1`.
    pub format: String,
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signer's public key, base64.
    pub public_key: String,
    /// The name on the signer's key, for people; not trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The signature, base64.
    pub signature: String,
}

impl SignatureFile {
    pub(crate) fn sign(files: &BTreeMap<String, Vec<u8>>, key: &SigningKey) -> SignatureFile {
        let public = key.public();
        SignatureFile {
            format: FORMAT.to_owned(),
            algorithm: "ed25519".to_owned(),
            public_key: public.to_base64(),
            signer: public.name().map(str::to_owned),
            signature: BASE64.encode(key.sign(&signed_message(files))),
        }
    }

    pub(crate) fn parse(bytes: &[u8]) -> Result<SignatureFile, PackageError> {
        serde_json::from_slice(bytes)
            .map_err(|error| PackageError::invalid(format!("its SIGNATURE file is not a Plugboard signature: {error}")))
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// The key the signature claims, checked only by [`SignatureFile::check`].
    pub fn claimed_key(&self) -> Result<PublicKey, String> {
        PublicKey::from_base64(&self.public_key, self.signer.clone())
    }

    /// Checks the signature over `files`; returns the signer's key.
    pub(crate) fn check(&self, files: &BTreeMap<String, Vec<u8>>) -> Result<PublicKey, String> {
        if self.format != FORMAT || self.algorithm != "ed25519" {
            return Err(format!(
                "unknown signature format `{}` / `{}` (expected {FORMAT} / ed25519)",
                self.format, self.algorithm
            ));
        }
        let key = self.claimed_key()?;
        let signature =
            BASE64.decode(self.signature.trim()).map_err(|error| format!("the signature is not base64: {error}"))?;
        key.verify(&signed_message(files), &signature)?;
        Ok(key)
    }
}

/// What is signed: a header line, then one line per file in path order:
/// `<sha256 hex> <size> <path>`.
pub(crate) fn signed_message(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut message = format!("{FORMAT}\n").into_bytes();
    for (path, bytes) in files {
        message
            .extend_from_slice(format!("{} {} {path}\n", hex::encode(Sha256::digest(bytes)), bytes.len()).as_bytes());
    }
    message
}
