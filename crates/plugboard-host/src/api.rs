//! The host's own types for everything that crosses the plugin boundary. They mirror the
//! WIT records of every supported ABI version, so callers never see generated bindings
//! and a new ABI version only adds conversions (see `abi`).

use serde::{Deserialize, Serialize};

/// A hook the host can call on a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    /// `lifecycle.init` (always present).
    Init,
    /// `lifecycle.shutdown`.
    Shutdown,
    /// `lifecycle.on-enable`.
    OnEnable,
    /// `lifecycle.on-disable`.
    OnDisable,
    /// `lifecycle.health`.
    Health,
    /// `lifecycle.self-test`.
    SelfTest,
    /// `filters.before-prompt`.
    BeforePrompt,
    /// `filters.after-response`.
    AfterResponse,
    /// `filters.stream-chunk`.
    StreamChunk,
    /// `filters.before-request`.
    BeforeRequest,
    /// `filters.after-request`.
    AfterRequest,
    /// `events.on-event`.
    Events,
    /// `events.message-will-be-posted`.
    MessageWillBePosted,
    /// `tools.*`.
    Tools,
    /// `provider.*`.
    Provider,
    /// `exporter.*`.
    Exporter,
    /// `http-handler.handle`.
    Http,
    /// `commands.run-command`.
    Commands,
    /// `scheduler.run-task`.
    Scheduled,
}

impl Hook {
    /// Every hook, in declaration order.
    pub const ALL: [Hook; 19] = [
        Hook::Init,
        Hook::Shutdown,
        Hook::OnEnable,
        Hook::OnDisable,
        Hook::Health,
        Hook::SelfTest,
        Hook::BeforePrompt,
        Hook::AfterResponse,
        Hook::StreamChunk,
        Hook::BeforeRequest,
        Hook::AfterRequest,
        Hook::Events,
        Hook::MessageWillBePosted,
        Hook::Tools,
        Hook::Provider,
        Hook::Exporter,
        Hook::Http,
        Hook::Commands,
        Hook::Scheduled,
    ];

    /// The hook's bit in a hook set.
    pub(crate) fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The hook's name as the WIT spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Init => "init",
            Hook::Shutdown => "shutdown",
            Hook::OnEnable => "on-enable",
            Hook::OnDisable => "on-disable",
            Hook::Health => "health",
            Hook::SelfTest => "self-test",
            Hook::BeforePrompt => "before-prompt",
            Hook::AfterResponse => "after-response",
            Hook::StreamChunk => "stream-chunk",
            Hook::BeforeRequest => "before-request",
            Hook::AfterRequest => "after-request",
            Hook::Events => "events",
            Hook::MessageWillBePosted => "message-will-be-posted",
            Hook::Tools => "tools",
            Hook::Provider => "provider",
            Hook::Exporter => "exporter",
            Hook::Http => "http",
            Hook::Commands => "commands",
            Hook::Scheduled => "scheduled",
        }
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a hook call comes from; empty fields do not apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallContext {
    /// The conversation the call is about.
    pub conversation_id: String,
    /// The authenticated user, verified by the host.
    pub user_id: String,
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
    pub id: String,
    /// Its conversation.
    pub conversation_id: String,
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
    pub id: String,
    /// Title.
    pub title: String,
    /// Owner.
    pub user_id: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// A user as plugins see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: String,
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
    pub conversation_id: String,
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

/// An HTTP request (incoming to a plugin route, outgoing from a plugin, or an API request
/// seen by a request filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// Path (incoming) or absolute URL (outgoing).
    pub uri: String,
    /// Lower-case header names with values.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// An HTTP response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// What a request-level filter decided about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Pass it on unchanged.
    Keep,
    /// Pass this one on instead.
    Rewrite(HttpRequest),
    /// Answer with this response.
    Respond(HttpResponse),
}

/// What a request-level filter decided about a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// Unchanged.
    Keep,
    /// Replaced.
    Rewrite(HttpResponse),
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
        }
    }
}

/// A file attachment, without its contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Id.
    pub id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// File name.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// A tool a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Name, unique in the plugin.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// A model a provider serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Id within the provider.
    pub id: String,
    /// Name for the picker.
    pub display_name: String,
    /// Context window in tokens, 0 when unknown.
    pub context_length: u32,
    /// Whether it can call tools.
    pub supports_tools: bool,
}

/// A tool call requested by a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// JSON arguments.
    pub arguments: String,
}

/// One message of a completion request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionMessage {
    /// Role.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Tool calls of an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message, the call it answers.
    pub tool_call_id: String,
}

/// A completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// Model id.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<CompletionMessage>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Token limit.
    pub max_tokens: Option<u32>,
}

/// A piece of a streamed completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletionChunk {
    /// More text.
    Delta(String),
    /// A tool call.
    ToolCall(ToolCall),
}

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Finished.
    Stop,
    /// Hit the token limit.
    Length,
    /// Waits for tool results.
    ToolCalls,
    /// The client went away.
    Cancelled,
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
}

/// A finished completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// The reply text.
    pub content: String,
    /// Tool calls asked for.
    pub tool_calls: Vec<ToolCall>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Token counts.
    pub usage: Usage,
    /// Things the provider did that the turn's trace should show (for example, old turns
    /// left out so the conversation fits the context).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
}

/// An export format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFormat {
    /// Id within the plugin.
    pub id: String,
    /// Menu label.
    pub display_name: String,
    /// Media type.
    pub media_type: String,
    /// Extension without the dot.
    pub extension: String,
}

/// An exported file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFile {
    /// Suggested name.
    pub file_name: String,
    /// Media type.
    pub media_type: String,
    /// Contents.
    pub data: Vec<u8>,
}

/// Health a plugin reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Working.
    Healthy,
    /// Working with reduced function.
    Degraded,
    /// Not working.
    Unhealthy,
}

/// A plugin's report on its own health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Overall state.
    pub status: HealthStatus,
    /// Explanation.
    pub message: String,
    /// Extra details (a JSON object).
    pub details: serde_json::Value,
}

/// One self-test result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTestResult {
    /// Test name.
    pub name: String,
    /// Passed or not.
    pub passed: bool,
    /// Details.
    pub message: String,
}
