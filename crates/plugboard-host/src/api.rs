//! The types a caller of the host uses: the system's vocabulary from `plugboard-types`
//! (re-exported here, so hook signatures read in one place), and [`Hook`], the hooks a
//! plugin can implement. The bindings of each supported ABI version convert to and from
//! these (see `abi`), so callers never see generated bindings.

use serde::{Deserialize, Serialize};

pub use plugboard_types::{
    Account, CallContext, Completion, CompletionChunk, CompletionMessage, CompletionRequest, Conversation,
    ConversationId, Event, ExportFile, ExportFormat, File, FileInfo, FilterOutcome, FinishReason, HealthReport,
    HealthStatus, HttpRequest, HttpResponse, Message, MessageId, ModelInfo, RequestOutcome, ResponseOutcome, Role,
    SelfTestResult, ToolCall, ToolSpec, Usage, User, UserId,
};

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
