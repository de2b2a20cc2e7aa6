//! Completions: the request a model provider gets, the pieces it streams, the finished
//! completion, and the tools and models it knows of.

use serde::{Deserialize, Serialize};

use crate::chat::Role;

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
