//! The services the host gives plugins, as traits the embedding server implements: the
//! key-value store, chat data and the model. The host checks permissions before calling
//! them; implementations only do the work.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use plugboard_manifest::PluginId;
use serde::Serialize;

use crate::api::{Completion, CompletionRequest, Conversation, File, Message, User};

/// The kind of a service failure, as plugins see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceErrorKind {
    /// The plugin lacks the permission.
    PermissionDenied,
    /// No such thing.
    NotFound,
    /// A malformed argument.
    InvalidInput,
    /// A size, rate or quota limit.
    LimitExceeded,
    /// Not available here.
    Unavailable,
    /// Took too long.
    Timeout,
    /// Anything else.
    Internal,
}

/// A failure of a host service, returned to the plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    /// What kind of failure.
    pub kind: ServiceErrorKind,
    /// A message naming the permission, limit or thing involved.
    pub message: String,
}

impl ServiceError {
    /// A failure of `kind`.
    pub fn new(kind: ServiceErrorKind, message: impl Into<String>) -> ServiceError {
        ServiceError { kind, message: message.into() }
    }

    /// The service is not provided by this host.
    pub fn unavailable(service: &str) -> ServiceError {
        ServiceError::new(
            ServiceErrorKind::Unavailable,
            format!("{service} is not available in this host (the plugin runs without a chat server)"),
        )
    }
}

/// The plugins' key-value stores. Every call names the plugin: implementations keep each
/// plugin's keys apart.
#[async_trait]
pub trait KvStore: Send + Sync + std::fmt::Debug {
    /// The value of `key`, unless absent or expired.
    async fn get(&self, plugin: &PluginId, key: &str) -> Result<Option<Vec<u8>>, ServiceError>;
    /// Stores a value, expiring after `ttl` when given.
    async fn set(
        &self,
        plugin: &PluginId,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), ServiceError>;
    /// Removes a key; returns whether it existed.
    async fn delete(&self, plugin: &PluginId, key: &str) -> Result<bool, ServiceError>;
    /// Keys with `prefix`, in byte order, at most `limit`.
    async fn list_keys(&self, plugin: &PluginId, prefix: &str, limit: usize) -> Result<Vec<String>, ServiceError>;
    /// Atomically sets `key` to `new` (or deletes it for `None`) if its value is `expected`.
    async fn compare_and_set(
        &self,
        plugin: &PluginId,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, ServiceError>;
}

type Entry = (Vec<u8>, Option<Instant>);

/// A key-value store in memory, for hosts without a database (the command-line runner,
/// tests). The server uses its database instead.
#[derive(Debug, Default)]
pub struct MemoryKvStore {
    entries: Mutex<BTreeMap<(PluginId, String), Entry>>,
}

impl MemoryKvStore {
    /// An empty store.
    pub fn new() -> MemoryKvStore {
        MemoryKvStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(PluginId, String), Entry>> {
        // A panic while holding the lock cannot leave a half-written entry behind (every
        // write is a single insert or remove), so a poisoned lock is still consistent.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn live(entry: &Entry, now: Instant) -> bool {
    entry.1.is_none_or(|expires| expires > now)
}

#[async_trait]
impl KvStore for MemoryKvStore {
    async fn get(&self, plugin: &PluginId, key: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        let now = Instant::now();
        let entries = self.lock();
        Ok(entries.get(&(plugin.clone(), key.to_owned())).filter(|e| live(e, now)).map(|e| e.0.clone()))
    }

    async fn set(
        &self,
        plugin: &PluginId,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), ServiceError> {
        let expires = ttl.map(|ttl| Instant::now() + ttl);
        self.lock().insert((plugin.clone(), key.to_owned()), (value, expires));
        Ok(())
    }

    async fn delete(&self, plugin: &PluginId, key: &str) -> Result<bool, ServiceError> {
        let now = Instant::now();
        Ok(self.lock().remove(&(plugin.clone(), key.to_owned())).is_some_and(|e| live(&e, now)))
    }

    async fn list_keys(&self, plugin: &PluginId, prefix: &str, limit: usize) -> Result<Vec<String>, ServiceError> {
        let now = Instant::now();
        let entries = self.lock();
        Ok(entries
            .range((plugin.clone(), prefix.to_owned())..)
            .take_while(|((owner, key), _)| owner == plugin && key.starts_with(prefix))
            .filter(|(_, entry)| live(entry, now))
            .map(|((_, key), _)| key.clone())
            .take(limit)
            .collect())
    }

    async fn compare_and_set(
        &self,
        plugin: &PluginId,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, ServiceError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let slot = (plugin.clone(), key.to_owned());
        let current = entries.get(&slot).filter(|e| live(e, now)).map(|e| &e.0);
        if current != expected.as_ref() {
            return Ok(false);
        }
        match new {
            Some(value) => {
                entries.insert(slot, (value, ttl.map(|ttl| now + ttl)));
            }
            None => {
                entries.remove(&slot);
            }
        }
        Ok(true)
    }
}

/// Conversations, messages, users and files of the chat server. The default methods
/// answer "unavailable", for hosts without a chat server.
///
/// `user` is the user the plugin's call acts for (from its call context), `None` for work
/// no user started (scheduled tasks, webhooks). When it is set, implementations must
/// treat other users' conversations, messages and files as absent.
#[async_trait]
pub trait ChatService: Send + Sync + std::fmt::Debug {
    /// A conversation.
    async fn get_conversation(&self, user: Option<&str>, id: &str) -> Result<Conversation, ServiceError> {
        let _ = (user, id);
        Err(ServiceError::unavailable("chat"))
    }
    /// Creates a conversation for `user_id`.
    async fn create_conversation(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        user_id: &str,
        title: &str,
    ) -> Result<Conversation, ServiceError> {
        let _ = (plugin, user, user_id, title);
        Err(ServiceError::unavailable("chat"))
    }
    /// The newest `limit` messages, oldest first.
    async fn list_messages(
        &self,
        user: Option<&str>,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<Message>, ServiceError> {
        let _ = (user, conversation_id, limit);
        Err(ServiceError::unavailable("chat"))
    }
    /// Posts a message authored by `plugin`.
    async fn post_message(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        conversation_id: &str,
        content: &str,
    ) -> Result<Message, ServiceError> {
        let _ = (plugin, user, conversation_id, content);
        Err(ServiceError::unavailable("chat"))
    }
    /// Edits a message.
    async fn edit_message(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        message_id: &str,
        content: &str,
    ) -> Result<Message, ServiceError> {
        let _ = (plugin, user, message_id, content);
        Err(ServiceError::unavailable("chat"))
    }
    /// Deletes a message.
    async fn delete_message(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        message_id: &str,
    ) -> Result<(), ServiceError> {
        let _ = (plugin, user, message_id);
        Err(ServiceError::unavailable("chat"))
    }
    /// A user.
    async fn get_user(&self, id: &str) -> Result<User, ServiceError> {
        let _ = id;
        Err(ServiceError::unavailable("chat"))
    }
    /// A file attachment.
    async fn read_file(&self, user: Option<&str>, id: &str) -> Result<File, ServiceError> {
        let _ = (user, id);
        Err(ServiceError::unavailable("chat"))
    }
    /// Attaches a file; returns its id.
    async fn write_file(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        conversation_id: &str,
        name: &str,
        media_type: &str,
        data: Vec<u8>,
    ) -> Result<String, ServiceError> {
        let _ = (plugin, user, conversation_id, name, media_type, data);
        Err(ServiceError::unavailable("chat"))
    }
}

/// A chat service for hosts without a chat server: every call is "unavailable".
#[derive(Debug, Default)]
pub struct NoChat;

impl ChatService for NoChat {}

/// The language model plugins may ask (permission `ai`).
#[async_trait]
pub trait AiService: Send + Sync + std::fmt::Debug {
    /// Runs a completion to the end on behalf of `plugin`.
    async fn complete(&self, plugin: &PluginId, request: CompletionRequest) -> Result<Completion, ServiceError>;
}

/// An AI service for hosts without a model: every call is "unavailable".
#[derive(Debug, Default)]
pub struct NoAi;

#[async_trait]
impl AiService for NoAi {
    async fn complete(&self, _plugin: &PluginId, _request: CompletionRequest) -> Result<Completion, ServiceError> {
        Err(ServiceError::unavailable("the model"))
    }
}

/// Everything the host gives plugins, supplied by the embedding server.
#[derive(Debug, Clone)]
pub struct Services {
    /// The key-value store.
    pub kv: Arc<dyn KvStore>,
    /// Chat data.
    pub chat: Arc<dyn ChatService>,
    /// The model.
    pub ai: Arc<dyn AiService>,
}

impl Default for Services {
    /// An in-memory key-value store, no chat server, no model.
    fn default() -> Self {
        Services { kv: Arc::new(MemoryKvStore::new()), chat: Arc::new(NoChat), ai: Arc::new(NoAi) }
    }
}
