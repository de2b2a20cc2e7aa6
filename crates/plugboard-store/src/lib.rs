//! Plugboard's persistent state behind three traits: [`PluginStore`] (the plugin registry's
//! records, the plugins' fault history and their private key-value stores), [`TaskStore`]
//! (scheduled tasks: their due times, claims and runs; every plugin store is one) and
//! [`ChatStore`] (the chat server's users, sessions, API tokens, conversations, messages,
//! attachments and plugin traces), with [`ClusterStore`] beside them (readiness, rate limits
//! and failed-login counts shared by servers). [`Store`] is all of them, for callers that hold one
//! `Arc<dyn Store>` (it upcasts to `Arc<dyn PluginStore>` or `Arc<dyn ChatStore>`).
//!
//! Architecture Invariant: this is the only crate that talks SQL, and no sqlx type appears
//! in its public API. [`SqliteStore`] is the SQLite implementation and [`PgStore`] the
//! PostgreSQL one, with the same semantics (one test suite runs against both);
//! [`AnyStore::open`] opens whichever a [`DatabaseLocation`] names, and [`copy_database`]
//! moves a SQLite installation into PostgreSQL.
//!
//! The store stores; it does not judge. Plugin ids, key sizes, settings against their
//! schema, fail modes, usernames, titles and message contents are validated by the callers
//! (the registry, the host and the chat server) before they get here; no text they store
//! holds U+0000 ([`without_nul`]).

#![deny(missing_docs)]

mod approvals;
mod chat;
mod cluster;
mod copy;
mod error;
mod mcp;
mod open;
mod postgres;
mod rows;
mod shared;
mod sqlite;
mod tasks;
#[cfg(feature = "testing")]
pub mod testing;
mod text;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

pub use approvals::{ApprovalDecision, ApprovalStatus, ApprovalStore, NewToolApproval, ToolApproval, ToolPolicyEntry};
pub use chat::{
    AccountChange, AccountEvent, ApiToken, Attachment, ChatStore, Conversation, ConversationPage, Message,
    MessageStatus, NewMessage, Role, SessionInfo, TraceRecord, User, UserDeletion,
};
pub use cluster::{ClusterStore, LoginFailures, LoginKey, LoginPolicy, RateLimit, RetryAfter};
pub use copy::{
    COPIED_TABLES, CopiedTable, CopyOptions, CopyProgress, CopyReport, DEFAULT_BATCH_ROWS, NOT_COPIED_TABLES,
    TableCopy, copy_database,
};
pub use error::StoreError;
pub use mcp::{McpSecretsChange, StoredMcpServer};
pub use open::{AnyStore, DatabaseLocation};
pub use postgres::PgStore;
pub use shared::{MAX_MESSAGE_BYTES, Notice, Notifications, StoredKey, StoredPackage, Topic};
pub use sqlite::{Durability, SqliteStore};
pub use tasks::{Claim, RunOutcome, RunTrigger, TASK_RUN_HISTORY_LIMIT, TaskRun, TaskState, TaskStore};
pub use text::without_nul;

/// How many faults [`PluginStore::record_fault`] keeps per plugin; older ones are dropped.
pub const FAULT_HISTORY_LIMIT: usize = 100;

/// Persisted state of one plugin (the registry writes it; keyed by plugin id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginRecord {
    /// The plugin id.
    pub plugin: String,
    /// Whether the operator wants it enabled.
    pub enabled: bool,
    /// Why it is disabled when the host disabled it (its circuit breaker), for display.
    pub disabled_reason: Option<String>,
    /// The settings the operator saved (as given, defaults not applied); `None` = never set.
    pub settings: Option<serde_json::Value>,
    /// Operator override of the filter failure mode: `Some("open")` / `Some("closed")` / `None`.
    pub fail_mode: Option<String>,
    /// Last change, milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
}

/// A change of one plugin's saved settings, made only while they are still `expected`
/// ([`PluginStore::replace_settings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsChange {
    /// The plugin id; its record must exist.
    pub plugin: String,
    /// The settings as the caller read them.
    pub expected: Option<serde_json::Value>,
    /// The settings to save instead.
    pub new: Option<serde_json::Value>,
}

/// One recorded plugin fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultEntry {
    /// The plugin id.
    pub plugin: String,
    /// The plugin version that faulted.
    pub version: String,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// What went wrong, as shown to the operator.
    pub error: String,
}

/// The persistent state of the plugin registry.
///
/// Every method names the plugin it is about, and implementations keep plugins apart: one
/// plugin's records, faults and keys are never visible through another's id.
///
/// Key-value entries may expire: an entry whose expiry is at or before the current time
/// behaves as absent everywhere (get, list, the return of delete, compare-and-set) whether
/// or not [`purge_expired`](PluginStore::purge_expired) has removed it yet.
#[async_trait]
pub trait PluginStore: TaskStore + Send + Sync + std::fmt::Debug {
    /// Every plugin record, ordered by plugin id.
    async fn plugin_records(&self) -> Result<Vec<PluginRecord>, StoreError>;

    /// The record of `plugin`, if one was saved.
    async fn plugin_record(&self, plugin: &str) -> Result<Option<PluginRecord>, StoreError>;

    /// Saves the record, replacing any earlier record of the same plugin.
    async fn save_plugin_record(&self, record: &PluginRecord) -> Result<(), StoreError>;

    /// Replaces the saved settings of several plugins at once (re-encrypting their secrets
    /// under a new key, say), in one transaction: either every change is made, or, when a
    /// record is missing or its settings are no longer the `expected` ones (another
    /// process saved meanwhile), none is and this returns `false`. Nothing else in the
    /// records changes but `updated_at_ms`.
    async fn replace_settings(&self, changes: &[SettingsChange]) -> Result<bool, StoreError>;

    /// Appends a fault, keeping only the newest [`FAULT_HISTORY_LIMIT`] per plugin.
    async fn record_fault(&self, fault: &FaultEntry) -> Result<(), StoreError>;

    /// The faults of `plugin`, newest first (by `at_ms`, then by recording order), at most
    /// `limit`.
    async fn faults(&self, plugin: &str, limit: usize) -> Result<Vec<FaultEntry>, StoreError>;

    /// The live value of `key` in the store of `plugin`.
    async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key`, replacing any value; it expires after `ttl` when given
    /// (a zero `ttl` stores an entry that is already expired).
    async fn kv_set(&self, plugin: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError>;

    /// Removes `key`; returns whether a live entry existed.
    async fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError>;

    /// Live keys starting with `prefix`, in byte order, at most `limit`.
    async fn kv_list(&self, plugin: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError>;

    /// Atomically: if the live value of `key` equals `expected` (`None` = absent), sets it
    /// to `new` (`None` = deletes it) with `ttl`; returns whether it did.
    async fn kv_compare_and_set(
        &self,
        plugin: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;

    /// Removes expired key-value entries of every plugin; returns how many.
    async fn purge_expired(&self) -> Result<u64, StoreError>;

    /// Forgets everything about `plugin` (record, faults, key-value entries, scheduled
    /// tasks and their runs), for uninstall.
    async fn delete_plugin_data(&self, plugin: &str) -> Result<(), StoreError>;

    /// Every installed package the store knows, removed ones included, by plugin id.
    async fn packages(&self) -> Result<Vec<StoredPackage>, StoreError>;

    /// The package file of `plugin`, unless it was removed (or never saved).
    async fn package_bytes(&self, plugin: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Saves `package` (not removed) with its file's `bytes`, replacing what `plugin` had.
    async fn save_package(&self, package: &StoredPackage, bytes: &[u8]) -> Result<(), StoreError>;

    /// Marks the package of `plugin` removed and drops its bytes; returns whether one was
    /// there and not removed yet.
    async fn remove_package(&self, plugin: &str) -> Result<bool, StoreError>;

    /// Every trusted key the store knows, removed ones included, by fingerprint.
    async fn trusted_keys(&self) -> Result<Vec<StoredKey>, StoreError>;

    /// Trusts the key (`fingerprint`, its file's `key_text`), again if it was removed.
    async fn save_trusted_key(&self, fingerprint: &str, key_text: &str) -> Result<(), StoreError>;

    /// Marks the key removed; returns whether it was trusted.
    async fn remove_trusted_key(&self, fingerprint: &str) -> Result<bool, StoreError>;

    /// Every MCP server added through the API, by name.
    async fn mcp_servers(&self) -> Result<Vec<StoredMcpServer>, StoreError>;

    /// The MCP server `name`, if one was added.
    async fn mcp_server(&self, name: &str) -> Result<Option<StoredMcpServer>, StoreError>;

    /// Adds `server` (its times set by the store) unless a server of its name is there;
    /// returns whether it did.
    async fn add_mcp_server(&self, server: &StoredMcpServer) -> Result<bool, StoreError>;

    /// Replaces the configuration and secrets of the server named `server.name`; returns
    /// whether one was there.
    async fn replace_mcp_server(&self, server: &StoredMcpServer) -> Result<bool, StoreError>;

    /// Removes the MCP server `name`; returns whether it was there.
    async fn remove_mcp_server(&self, name: &str) -> Result<bool, StoreError>;

    /// Replaces the sealed secrets of several MCP servers at once (re-encrypted under a
    /// new key), in one transaction: either every change is made, or, when a server is
    /// gone or its secrets are no longer the `expected` ones, none is and this returns
    /// `false`.
    async fn replace_mcp_secrets(&self, changes: &[McpSecretsChange]) -> Result<bool, StoreError>;

    /// Whether other servers may share this database (and so [`PluginStore::listen`] and
    /// [`PluginStore::publish`] reach them).
    fn is_shared(&self) -> bool {
        false
    }

    /// The changes committed to the database from now on, by any server, as they happen;
    /// `None` when the backend cannot notify (a SQLite file: readers poll instead).
    async fn listen(&self) -> Result<Option<Box<dyn Notifications>>, StoreError> {
        Ok(None)
    }

    /// Sends `message` (at most [`MAX_MESSAGE_BYTES`]) to every server listening on the
    /// database, this one included; does nothing where [`PluginStore::listen`] gives `None`.
    async fn publish(&self, message: &str) -> Result<(), StoreError> {
        let _ = message;
        Ok(())
    }
}

/// All of Plugboard's persistent state: the plugin registry's and the chat server's (with
/// its tool policies and approvals, [`ApprovalStore`]), and what servers sharing the
/// database need of it ([`ClusterStore`]). Every type that is a [`PluginStore`], a
/// [`ChatStore`], an [`ApprovalStore`] and a [`ClusterStore`] is a `Store`.
pub trait Store: PluginStore + ChatStore + ApprovalStore + ClusterStore {}

impl<T: PluginStore + ChatStore + ApprovalStore + ClusterStore + ?Sized> Store for T {}
