//! Conversations, messages, users and files as plugins and the chat core see them, the
//! context of a hook call, the events plugins hear of, and what a text filter decides.

use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, MessageId, UserId};

/// Where a hook call comes from; empty fields do not apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallContext {
    /// The conversation the call is about.
    pub conversation_id: ConversationId,
    /// The authenticated user, verified by the host.
    pub user_id: UserId,
    /// The model of the turn, `provider/model`.
    pub model: String,
    /// Ties the calls of one turn or request together.
    pub request_id: String,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// A person.
    User,
    /// The model, or a plugin answering in its place.
    Assistant,
    /// A tool result.
    Tool,
}

/// A message as plugins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Stored id, empty before storage.
    pub id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Role.
    pub role: Role,
    /// `user:<id>`, `assistant` or `plugin:<id>`.
    pub author: String,
    /// Text.
    pub content: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// A conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Id.
    pub id: ConversationId,
    /// Title.
    pub title: String,
    /// Owner.
    pub user_id: UserId,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// A user as plugins see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Display name.
    pub display_name: String,
    /// Administrator or not.
    pub is_admin: bool,
}

/// A stored file attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Id.
    pub id: String,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// File name.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Contents.
    pub data: Vec<u8>,
}

/// What a filter decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "text", rename_all = "lowercase")]
pub enum FilterOutcome {
    /// Unchanged.
    Keep,
    /// Replaced by this text.
    Rewrite(String),
    /// Refused, with a reason for the user.
    Reject(String),
}

/// A server event delivered to plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "kebab-case")]
pub enum Event {
    /// A conversation was created.
    ConversationStarted(Conversation),
    /// A conversation was deleted.
    ConversationEnded(Conversation),
    /// A user's message was stored.
    MessageReceived(Message),
    /// A reply was stored and sent.
    MessageSent(Message),
    /// A message was edited.
    MessageEdited(Message),
    /// A message was deleted.
    MessageDeleted(Message),
    /// A plugin was loaded.
    PluginLoaded(String),
    /// A plugin was unloaded.
    PluginUnloaded(String),
    /// A plugin was enabled.
    PluginEnabled(String),
    /// A plugin was disabled.
    PluginDisabled(String),
    /// A file was attached to a conversation.
    FileAttached(FileInfo),
    /// A file attachment was deleted.
    FileDeleted(FileInfo),
    /// A plugin failed to load or reload.
    PluginFailed {
        /// Its id (or folder name).
        plugin: String,
        /// What went wrong.
        error: String,
    },
    /// A user was created.
    UserCreated(Account),
    /// An administrator disabled a user.
    UserDisabled(Account),
    /// An administrator enabled a user again.
    UserEnabled(Account),
    /// A user was deleted with everything of theirs.
    UserDeleted(Account),
}

impl Event {
    /// Its name in a manifest's `events` list (the WIT case name).
    pub fn name(&self) -> &'static str {
        match self {
            Event::ConversationStarted(_) => "conversation-started",
            Event::ConversationEnded(_) => "conversation-ended",
            Event::MessageReceived(_) => "message-received",
            Event::MessageSent(_) => "message-sent",
            Event::MessageEdited(_) => "message-edited",
            Event::MessageDeleted(_) => "message-deleted",
            Event::FileAttached(_) => "file-attached",
            Event::FileDeleted(_) => "file-deleted",
            Event::PluginLoaded(_) => "plugin-loaded",
            Event::PluginUnloaded(_) => "plugin-unloaded",
            Event::PluginEnabled(_) => "plugin-enabled",
            Event::PluginDisabled(_) => "plugin-disabled",
            Event::PluginFailed { .. } => "plugin-failed",
            Event::UserCreated(_) => "user-created",
            Event::UserDisabled(_) => "user-disabled",
            Event::UserEnabled(_) => "user-enabled",
            Event::UserDeleted(_) => "user-deleted",
        }
    }

    /// Whether it is an account event (`account-events.account-event` in the ABI).
    pub fn is_account_event(&self) -> bool {
        matches!(self, Event::UserCreated(_) | Event::UserDisabled(_) | Event::UserEnabled(_) | Event::UserDeleted(_))
    }
}

/// A user, as an account event found them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The user's id.
    pub id: UserId,
    /// The user's name.
    pub username: String,
}

/// A file attachment, without its contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Id.
    pub id: String,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// File name.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
}
