//! What several servers sharing one database must see alike beyond the plugin records:
//! installed packages ([`StoredPackage`], kept whole), trusted keys ([`StoredKey`]), and
//! how a server hears of changes the others made ([`Notifications`]).
//!
//! A removal is a row marked `removed`, not a deleted row: a server that still holds the
//! removed files learns to remove them, while files the database never recorded (installed
//! before packages were kept here, or a key put in a folder by hand) are left alone.

use async_trait::async_trait;
use serde::Serialize;

use crate::StoreError;

/// An installed plugin package as the store keeps it (its bytes apart, read with
/// [`PluginStore::package_bytes`](crate::PluginStore::package_bytes)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredPackage {
    /// The plugin id.
    pub plugin: String,
    /// The version installed.
    pub version: String,
    /// SHA-256 of the package file, lowercase hex.
    pub sha256: String,
    /// The fingerprint of the key that signed it, as the installing server verified.
    pub signer_fingerprint: Option<String>,
    /// The name on that key.
    pub signer: Option<String>,
    /// Whether that key was trusted when it was installed.
    pub trusted: bool,
    /// Whether the plugin was uninstalled (then the store keeps no bytes).
    pub removed: bool,
    /// Last change, milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
}

/// A public key whose package signatures installs accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredKey {
    /// The key's fingerprint.
    pub fingerprint: String,
    /// The public key file's text.
    pub key_text: String,
    /// Whether the key was removed from the trusted keys.
    pub removed: bool,
    /// Last change, milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
}

/// What changed, as a notification names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Plugin records: enabled state, settings, failure mode, an opened breaker.
    Plugins,
    /// Installed packages.
    Packages,
    /// Trusted keys.
    TrustedKeys,
    /// MCP servers added through the API.
    McpServers,
}

/// One thing a [`Notifications`] stream tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Another (or this) server committed a change of `Topic`.
    Changed(Topic),
    /// A message published with [`PluginStore::publish`](crate::PluginStore::publish) by
    /// a server sharing the database (this one included).
    Message(String),
    /// The connection was lost and made again: notifications may have been missed
    /// meanwhile, so everything followed must be read again.
    Resync,
}

/// The changes other servers make to a shared database, as they are committed.
#[async_trait]
pub trait Notifications: Send {
    /// Waits for the next notice. An error means the database could not be reached; the
    /// next call tries again (and its first notice after a reconnection is
    /// [`Notice::Resync`]).
    async fn next(&mut self) -> Result<Notice, StoreError>;
}

/// The longest message [`PluginStore::publish`](crate::PluginStore::publish) takes, in
/// bytes (PostgreSQL's limit on a notification's payload is 8000).
pub const MAX_MESSAGE_BYTES: usize = 7900;

/// The topic's name in notifications.
pub(crate) fn topic_name(topic: Topic) -> &'static str {
    match topic {
        Topic::Plugins => "plugins",
        Topic::Packages => "packages",
        Topic::TrustedKeys => "trusted_keys",
        Topic::McpServers => "mcp_servers",
    }
}

/// The topic a notification names, if it is one.
pub(crate) fn parse_topic(name: &str) -> Option<Topic> {
    [Topic::Plugins, Topic::Packages, Topic::TrustedKeys, Topic::McpServers]
        .into_iter()
        .find(|topic| topic_name(*topic) == name)
}

/// The columns [`read_package`] reads.
pub(crate) const PACKAGE_COLUMNS: &str =
    "plugin, version, sha256, signer_fingerprint, signer, trusted, removed, updated_at_ms";

/// The columns [`read_key`] reads.
pub(crate) const KEY_COLUMNS: &str = "fingerprint, key_text, removed, updated_at_ms";

/// Reads a `plugin_packages` row of [`PACKAGE_COLUMNS`].
pub(crate) fn read_package(row: &impl crate::rows::StoreRow) -> Result<StoredPackage, sqlx::Error> {
    Ok(StoredPackage {
        plugin: row.get("plugin")?,
        version: row.get("version")?,
        sha256: row.get("sha256")?,
        signer_fingerprint: row.get("signer_fingerprint")?,
        signer: row.get("signer")?,
        trusted: row.get("trusted")?,
        removed: row.get("removed")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}

/// Reads a `trusted_keys` row of [`KEY_COLUMNS`].
pub(crate) fn read_key(row: &impl crate::rows::StoreRow) -> Result<StoredKey, sqlx::Error> {
    Ok(StoredKey {
        fingerprint: row.get("fingerprint")?,
        key_text: row.get("key_text")?,
        removed: row.get("removed")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}
