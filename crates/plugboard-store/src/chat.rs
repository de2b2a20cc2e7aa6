//! The chat server's data behind the [`ChatStore`] trait: users, browser sessions, API
//! tokens, conversations, messages, attachments and plugin traces.
//!
//! Ids are UUIDv7 strings (hyphenated) and timestamps are milliseconds since the Unix
//! epoch; the store sets both. Secrets never reach the store in the clear: callers pass
//! password hashes and the SHA-256 of session and API tokens.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// A user of the chat server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The user id.
    pub id: String,
    /// The name as the user chose it (unique regardless of case).
    pub username: String,
    /// Whether the user administers the server (the first user ever created does).
    pub is_admin: bool,
    /// When the user was created.
    pub created_at_ms: i64,
    /// When an administrator disabled the user (who then cannot sign in or use a token);
    /// `None` = active.
    pub disabled_at_ms: Option<i64>,
}

impl User {
    /// Whether the user may sign in and act: not disabled.
    pub fn is_active(&self) -> bool {
        self.disabled_at_ms.is_none()
    }
}

/// What happened to an account, waiting for a server to tell the plugins
/// ([`ChatStore::take_account_events`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountChange {
    /// The user was created (signed up, or created by an administrator).
    UserCreated,
    /// An administrator disabled the user.
    UserDisabled,
    /// An administrator enabled the user again.
    UserEnabled,
    /// The user was deleted with everything of theirs.
    UserDeleted,
}

impl AccountChange {
    /// Its name, as stored and as plugins know it.
    pub fn name(self) -> &'static str {
        match self {
            AccountChange::UserCreated => "user-created",
            AccountChange::UserDisabled => "user-disabled",
            AccountChange::UserEnabled => "user-enabled",
            AccountChange::UserDeleted => "user-deleted",
        }
    }

    /// The change named `name`.
    pub fn from_name(name: &str) -> Option<AccountChange> {
        [
            AccountChange::UserCreated,
            AccountChange::UserDisabled,
            AccountChange::UserEnabled,
            AccountChange::UserDeleted,
        ]
        .into_iter()
        .find(|change| change.name() == name)
    }
}

/// An account change not yet told to the plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountEvent {
    /// What happened.
    pub change: AccountChange,
    /// The user's id.
    pub user_id: String,
    /// The user's name at the time.
    pub username: String,
    /// When it happened.
    pub at_ms: i64,
}

/// What [`ChatStore::delete_user`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserDeletion {
    /// The user and everything of theirs are gone; this was the user.
    Deleted(User),
    /// Nothing: the user is the last active administrator.
    LastAdmin(User),
}

/// A signed-in session of a user, for them to see and end (the token is never stored,
/// only its hash, which is not shown either).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The session's number, to end it by.
    pub id: i64,
    /// When it was signed in.
    pub created_at_ms: i64,
    /// When it ends unless ended before.
    pub expires_at_ms: i64,
    /// Whether it is the session that asked.
    pub current: bool,
}

/// An API token of a user (the token itself is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// The token's id, to list and delete it by.
    pub id: String,
    /// The user the token acts for.
    pub user_id: String,
    /// The name the user gave it.
    pub name: String,
    /// When it was created.
    pub created_at_ms: i64,
    /// When it was last used to authenticate; `None` = never.
    pub last_used_at_ms: Option<i64>,
}

/// A conversation of a user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    /// The conversation id.
    pub id: String,
    /// Its owner.
    pub user_id: String,
    /// Its title.
    pub title: String,
    /// Per-conversation plugin choice (JSON, e.g. `{"filters": [...], "tools": [...]}`);
    /// `None` = the global set.
    pub plugins: Option<serde_json::Value>,
    /// When it was created.
    pub created_at_ms: i64,
    /// The last activity: its creation, or the newest message added to it.
    pub updated_at_ms: i64,
}

/// Who speaks in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The user.
    User,
    /// The model (or a plugin answering in its place).
    Assistant,
    /// The result of a tool call.
    Tool,
}

/// How far a message got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Written in full.
    Complete,
    /// Being generated now.
    Streaming,
    /// Generation stopped before the end (the client went away, an error, a crash).
    Partial,
}

/// A message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// The message id.
    pub id: String,
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// Who speaks.
    pub role: Role,
    /// `"user"`, `"assistant"`, or a plugin id (a reply or tool result from a plugin).
    pub author: String,
    /// The text.
    pub content: String,
    /// For tool calls/results: the structured data (JSON), e.g. `{"tool_calls": [...]}` or
    /// `{"tool_call_id": "...", "name": "..."}`.
    pub data: Option<serde_json::Value>,
    /// How far it got.
    pub status: MessageStatus,
    /// When it was added: never earlier than the conversation's previous message.
    pub created_at_ms: i64,
    /// When the user last edited it; `None` = never.
    pub edited_at_ms: Option<i64>,
    /// When it was deleted; `None` = it is part of the conversation.
    pub deleted_at_ms: Option<i64>,
}

/// A message to add with [`ChatStore::add_message`]; the store sets its id and times.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// The conversation to add it to.
    pub conversation_id: String,
    /// Who speaks.
    pub role: Role,
    /// `"user"`, `"assistant"`, or a plugin id.
    pub author: String,
    /// The text.
    pub content: String,
    /// Structured data of tool calls and results (JSON).
    pub data: Option<serde_json::Value>,
    /// `Streaming` for a reply being generated, else `Complete`.
    pub status: MessageStatus,
}

/// A file attached to a conversation (its bytes come with [`ChatStore::attachment`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// The attachment id.
    pub id: String,
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// The message it was sent with, if any.
    pub message_id: Option<String>,
    /// The file name as uploaded.
    pub file_name: String,
    /// Its media type, e.g. `image/png`.
    pub media_type: String,
    /// Its length in bytes.
    pub size: u64,
    /// When it was added.
    pub created_at_ms: i64,
}

/// The plugin trace of one chat turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceRecord {
    /// The message the turn produced.
    pub message_id: String,
    /// The conversation of that message.
    pub conversation_id: String,
    /// When the trace was recorded.
    pub created_at_ms: i64,
    /// The plugin trace of one chat turn, JSON as the chat engine wrote it.
    pub trace: serde_json::Value,
}

/// A page of conversations, newest activity first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationPage {
    /// The conversations of this page.
    pub conversations: Vec<Conversation>,
    /// Pass back as `after` to get the next page; `None` = last page.
    pub next: Option<String>,
}

/// The chat server's persistent data.
///
/// Lookups of something absent return `Ok(None)`. Creating something under a parent that
/// does not exist (a message in a deleted conversation) is [`StoreError::NotFound`].
#[async_trait]
pub trait ChatStore: Send + Sync + std::fmt::Debug {
    /// Creates a user, recording a `user-created` account event. The first user ever
    /// created is admin, decided atomically with the insert, so two concurrent first
    /// sign-ups cannot both be admin.
    /// [`StoreError::Conflict`] (`what: "username"`) when the name is taken, regardless of
    /// case.
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User, StoreError>;

    /// Creates the first user (an admin) only when there is no user yet, atomically: of any
    /// number of concurrent calls on an empty store exactly one creates a user. `Ok(None)`
    /// when a user already exists. [`StoreError::Conflict`] as for [`ChatStore::create_user`].
    async fn create_first_user(&self, username: &str, password_hash: &str) -> Result<Option<User>, StoreError>;

    /// The user with this id.
    async fn user(&self, id: &str) -> Result<Option<User>, StoreError>;

    /// The user and their password hash, for login (the name is matched regardless of case).
    async fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>, StoreError>;

    /// Every user's name, as stored (for comparing a new name with them all).
    async fn usernames(&self) -> Result<Vec<String>, StoreError>;

    /// Every user, oldest first.
    async fn users(&self) -> Result<Vec<User>, StoreError>;

    /// Makes `user_id` an administrator or not, in one statement that never leaves the
    /// server without an active one: taking the role from the last active administrator
    /// changes nothing. `None` when there is no such user; else the user as they are now.
    async fn set_admin(&self, user_id: &str, is_admin: bool) -> Result<Option<User>, StoreError>;

    /// Disables `user_id` (ending their sessions; their API tokens stop working until they
    /// are enabled again) or enables them, recording an account event, in one transaction
    /// that never disables the last active administrator (that changes nothing). `None`
    /// when there is no such user; else the user as they are now.
    async fn set_disabled(&self, user_id: &str, disabled: bool) -> Result<Option<User>, StoreError>;

    /// Deletes `user_id` with their sessions, API tokens, conversations, messages,
    /// attachments and traces, recording a `user-deleted` account event, in one
    /// transaction; never the last active administrator. `None` when there is no such user.
    async fn delete_user(&self, user_id: &str) -> Result<Option<UserDeletion>, StoreError>;

    /// Takes (and removes) up to `limit` of the oldest account events, oldest first: each
    /// is taken once, whichever server asks.
    async fn take_account_events(&self, limit: usize) -> Result<Vec<AccountEvent>, StoreError>;

    /// How many users there are.
    async fn count_users(&self) -> Result<u64, StoreError>;

    /// Starts a browser session of the user, live until `expires_at_ms` (`token_hash` =
    /// SHA-256 hex of the cookie value, computed by the caller). Also removes every session
    /// that has expired.
    async fn create_session(&self, user_id: &str, token_hash: &str, expires_at_ms: i64) -> Result<(), StoreError>;

    /// The user of a live session (`expires_at_ms > now`), or `None`.
    async fn session_user(&self, token_hash: &str) -> Result<Option<User>, StoreError>;

    /// Ends a session (nothing happens if there is none).
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;

    /// The live sessions of `user_id`, newest first; `current` marks the one whose token
    /// hash is `current`.
    async fn sessions(&self, user_id: &str, current: Option<&str>) -> Result<Vec<SessionInfo>, StoreError>;

    /// Ends session `id` of `user_id`; returns whether there was one.
    async fn end_session(&self, user_id: &str, id: i64) -> Result<bool, StoreError>;

    /// Sets the password hash of `user_id` and ends every session of theirs except the one
    /// whose token hash is `keep_session` (the one that asked), in one transaction;
    /// returns whether the user exists.
    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Creates an API token of the user (`token_hash` computed by the caller, as for
    /// sessions).
    async fn create_api_token(&self, user_id: &str, name: &str, token_hash: &str) -> Result<ApiToken, StoreError>;

    /// The token's user, updating the token's `last_used_at_ms`.
    async fn api_token_user(&self, token_hash: &str) -> Result<Option<User>, StoreError>;

    /// The user's API tokens, oldest first.
    async fn list_api_tokens(&self, user_id: &str) -> Result<Vec<ApiToken>, StoreError>;

    /// Returns whether a token with this id belonged to the user and was deleted.
    async fn delete_api_token(&self, user_id: &str, token_id: &str) -> Result<bool, StoreError>;

    /// Creates an empty conversation of the user.
    async fn create_conversation(&self, user_id: &str, title: &str) -> Result<Conversation, StoreError>;

    /// The conversation with this id.
    async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError>;

    /// The user's conversations, most recently updated first (ties by id), at most `limit`
    /// (at least 1, else [`StoreError::InvalidInput`]). `after` is a
    /// [`next`](ConversationPage::next) cursor from a previous page (a cursor that is not
    /// is [`StoreError::InvalidInput`]); `search` keeps the conversations whose title
    /// contains it, regardless of case. Pass the same `search` with each page.
    async fn list_conversations(
        &self,
        user_id: &str,
        search: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ConversationPage, StoreError>;

    /// Renames a conversation; returns the updated conversation, `None` if absent. Not an
    /// activity: `updated_at_ms` stays.
    async fn rename_conversation(&self, id: &str, title: &str) -> Result<Option<Conversation>, StoreError>;

    /// Sets (or with `None` clears) the conversation's plugin choice; returns the updated
    /// conversation, `None` if absent. `updated_at_ms` stays.
    async fn set_conversation_plugins(
        &self,
        id: &str,
        plugins: Option<&serde_json::Value>,
    ) -> Result<Option<Conversation>, StoreError>;

    /// Deletes it with its messages, attachments and traces (one transaction); returns what
    /// was deleted.
    async fn delete_conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError>;

    /// Appends a message and bumps the conversation's `updated_at_ms` (one transaction).
    /// [`StoreError::NotFound`] when the conversation does not exist.
    async fn add_message(&self, message: &NewMessage) -> Result<Message, StoreError>;

    /// The message with this id, deleted or not.
    async fn message(&self, id: &str) -> Result<Option<Message>, StoreError>;

    /// Non-deleted messages of a conversation, oldest first (by `created_at_ms`, then in the
    /// order they were added).
    async fn list_messages(&self, conversation_id: &str) -> Result<Vec<Message>, StoreError>;

    /// Replaces content, data and status of a message being generated (streaming →
    /// complete/partial), and marks it touched now (a reply still `streaming` is written at
    /// least every few seconds, as its liveness heartbeat); does not set `edited_at_ms`.
    /// `None` if absent.
    async fn finish_message(
        &self,
        id: &str,
        content: &str,
        data: Option<&serde_json::Value>,
        status: MessageStatus,
    ) -> Result<Option<Message>, StoreError>;

    /// A user's edit: new content, `edited_at_ms` = now. `None` if absent or deleted.
    async fn edit_message(&self, id: &str, content: &str) -> Result<Option<Message>, StoreError>;

    /// Soft delete (`deleted_at_ms` = now); returns the message as it was before deletion,
    /// `None` if absent or already deleted.
    async fn delete_message(&self, id: &str) -> Result<Option<Message>, StoreError>;

    /// Every message still `streaming` that nobody has written (its text, or a heartbeat
    /// with the same text, through [`ChatStore::finish_message`]) for `stale_after` becomes
    /// `partial`: the server streaming it died mid-reply. Returns them, as stored now. A server
    /// streaming a reply writes its row more often than the limit, so with several servers
    /// on one database a sweep never cuts off another's live stream; one server alone on
    /// its database may pass zero at start-up, since no reply of its is live then.
    async fn mark_stale_streaming_messages(&self, stale_after: Duration) -> Result<Vec<Message>, StoreError>;

    /// Stores a file of the conversation, optionally tied to one of its messages.
    /// [`StoreError::NotFound`] when the conversation, or the message in that conversation,
    /// does not exist.
    async fn add_attachment(
        &self,
        conversation_id: &str,
        message_id: Option<&str>,
        file_name: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Attachment, StoreError>;

    /// The attachment and its bytes.
    async fn attachment(&self, id: &str) -> Result<Option<(Attachment, Vec<u8>)>, StoreError>;

    /// The conversation's attachments (without their bytes), oldest first.
    async fn list_attachments(&self, conversation_id: &str) -> Result<Vec<Attachment>, StoreError>;

    /// Deletes an attachment; returns what was deleted, `None` if absent.
    async fn delete_attachment(&self, id: &str) -> Result<Option<Attachment>, StoreError>;

    /// Records the plugin trace of the turn that produced `message_id` (`trace_json`, a
    /// JSON document as text: the engine writes it as the turn goes), replacing any
    /// earlier trace of that message. [`StoreError::NotFound`] when the message does not
    /// exist in that conversation; [`StoreError::Invalid`] when `trace_json` is not JSON.
    async fn add_trace(&self, message_id: &str, conversation_id: &str, trace_json: &str) -> Result<(), StoreError>;

    /// The trace of the turn that produced `message_id`.
    async fn trace(&self, message_id: &str) -> Result<Option<TraceRecord>, StoreError>;

    /// Every trace of a conversation, oldest first (the audit timeline).
    async fn conversation_traces(&self, conversation_id: &str) -> Result<Vec<TraceRecord>, StoreError>;
}
