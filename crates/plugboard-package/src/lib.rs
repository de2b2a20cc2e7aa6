//! Plugboard plugin packages.
//!
//! A package is one file, `<id>-<version>.plugboard`: a gzip-compressed tar archive of a
//! plugin folder (`plugin.toml`, the component, `ui/`, `docs/`, README, LICENSE) plus a
//! `SIGNATURE` file once signed. [`Package::pack`] makes one from a folder,
//! [`Package::read`] reads one safely (links, escaping paths and oversized content are
//! refused before anything is written), [`Package::sign`] signs it with an ed25519
//! [`SigningKey`], and [`Package::verify`] checks the signature against a [`TrustStore`]
//! under an install [`Policy`]. An [`Index`] is a JSON catalogue of packages.
//!
//! This crate knows nothing of WebAssembly: whether the component matches its manifest is
//! checked by the registry when it installs a package.

mod archive;
mod error;
mod index;
mod keys;
mod signature;
#[cfg(feature = "test-support")]
pub mod testing;
mod trust;

pub use archive::{Limits, PACKAGE_EXTENSION, Package, SIGNATURE_FILE, sha256_hex};
pub use error::PackageError;
pub use index::{Index, IndexEntry, IndexSigner};
pub use keys::{PublicKey, SigningKey};
pub use signature::SignatureFile;
pub use trust::{Policy, TrustStore, Verification};
