//! Plugboard's vocabulary: the types every layer speaks, from the plugin host to the HTTP
//! API: messages, conversations and users as plugins see them ([`chat`]), completions and
//! their stream pieces ([`completion`]), call contexts, events and filter outcomes, the
//! [`Provider`] trait every model source implements, id newtypes ([`ids`]), and the typed
//! OpenAI chat-completions wire format ([`openai`]) shared by the OpenAI-compatible client
//! and the `/v1` server.
//!
//! Architecture Invariant: this crate is a leaf. It depends on serde and tokio's channels,
//! never on wasmtime, a database, or an HTTP stack, so a model crate can speak it without
//! pulling in the plugin host.

pub mod chat;
pub mod clock;
pub mod completion;
pub mod http;
pub mod ids;
pub mod openai;
pub mod plugin;
pub mod provider;

pub use chat::{Account, CallContext, Conversation, Event, File, FileInfo, FilterOutcome, Message, Role, User};
pub use clock::{Clock, ManualClock, SystemClock};
pub use completion::{
    Completion, CompletionChunk, CompletionMessage, CompletionRequest, FinishReason, ModelInfo, ToolCall, ToolSpec,
    Usage,
};
pub use http::{HttpRequest, HttpResponse, RequestOutcome, ResponseOutcome};
pub use ids::{ConversationId, MessageId, UserId};
pub use plugin::{ExportFile, ExportFormat, HealthReport, HealthStatus, SelfTestResult};
pub use provider::{Provider, ProviderError};
