//! The OpenAI chat-completions wire format, typed once for both sides: the
//! OpenAI-compatible client (`plugboard-openai`) sends [`ChatCompletionRequest`] and reads
//! [`ChatCompletionChunk`]s, and the `/v1` server reads the same request and writes
//! [`ChatCompletion`] and chunks. Reading is lenient where real peers differ (content as a
//! string, an array of parts or null; `developer` as a system role; missing optional
//! fields), writing follows OpenAI's own shape.
//!
//! Written here rather than taken from `async-openai`: its types are shaped for a client
//! (builders, strict enums that refuse the looser bodies servers and clients send), and
//! both sides need only this subset.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::completion::{CompletionMessage, CompletionRequest, FinishReason, ToolCall, ToolSpec, Usage};

/// Who wrote a message, as the protocol spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Instructions.
    System,
    /// Instructions, in OpenAI's newer spelling; read as [`ChatRole::System`].
    Developer,
    /// A person.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
}

impl From<crate::Role> for ChatRole {
    fn from(role: crate::Role) -> ChatRole {
        match role {
            crate::Role::System => ChatRole::System,
            crate::Role::User => ChatRole::User,
            crate::Role::Assistant => ChatRole::Assistant,
            crate::Role::Tool => ChatRole::Tool,
        }
    }
}

impl From<ChatRole> for crate::Role {
    fn from(role: ChatRole) -> crate::Role {
        match role {
            ChatRole::System | ChatRole::Developer => crate::Role::System,
            ChatRole::User => crate::Role::User,
            ChatRole::Assistant => crate::Role::Assistant,
            ChatRole::Tool => crate::Role::Tool,
        }
    }
}

/// A message's content: text, or parts of which the text ones count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Content parts (`{"type": "text", "text": ...}` and others, which carry no text).
    Parts(Vec<ContentPart>),
}

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    /// `text`, `image_url`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The text of a text part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl MessageContent {
    /// The text: the string, or the text parts joined.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(text) => text.clone(),
            MessageContent::Parts(parts) => parts.iter().filter_map(|part| part.text.as_deref()).collect(),
        }
    }
}

/// A function a tool call names, with its JSON arguments as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    #[serde(default)]
    pub name: String,
    /// JSON arguments, as text.
    #[serde(default)]
    pub arguments: String,
}

/// A tool call in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireToolCall {
    /// Call id.
    #[serde(default)]
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// What is called.
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".to_owned()
}

impl From<&ToolCall> for WireToolCall {
    fn from(call: &ToolCall) -> WireToolCall {
        WireToolCall {
            id: call.id.clone(),
            kind: function_kind(),
            function: FunctionCall { name: call.name.clone(), arguments: call.arguments.clone() },
        }
    }
}

impl From<WireToolCall> for ToolCall {
    fn from(call: WireToolCall) -> ToolCall {
        let arguments = if call.function.arguments.is_empty() { "{}".to_owned() } else { call.function.arguments };
        ToolCall { id: call.id, name: call.function.name, arguments }
    }
}

/// One message of a request, or the message of a finished choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: ChatRole,
    /// Its content; `null` or absent for an assistant message with only tool calls.
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// An assistant message's tool calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall>,
    /// For a tool message, the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl From<&CompletionMessage> for ChatMessage {
    fn from(message: &CompletionMessage) -> ChatMessage {
        ChatMessage {
            role: message.role.into(),
            content: Some(MessageContent::Text(message.content.clone())),
            tool_calls: message.tool_calls.iter().map(WireToolCall::from).collect(),
            tool_call_id: (!message.tool_call_id.is_empty()).then(|| message.tool_call_id.clone()),
        }
    }
}

impl From<ChatMessage> for CompletionMessage {
    fn from(message: ChatMessage) -> CompletionMessage {
        CompletionMessage {
            role: message.role.into(),
            content: message.content.as_ref().map(MessageContent::text).unwrap_or_default(),
            tool_calls: message.tool_calls.into_iter().map(ToolCall::from).collect(),
            tool_call_id: message.tool_call_id.unwrap_or_default(),
        }
    }
}

/// A function a tool offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    /// Its name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// JSON Schema of its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatTool {
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function.
    pub function: FunctionDefinition,
}

impl From<&ToolSpec> for ChatTool {
    fn from(tool: &ToolSpec) -> ChatTool {
        ChatTool {
            kind: function_kind(),
            function: FunctionDefinition {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: Some(tool.parameters.clone()),
            },
        }
    }
}

impl From<ChatTool> for ToolSpec {
    fn from(tool: ChatTool) -> ToolSpec {
        ToolSpec {
            name: tool.function.name,
            description: tool.function.description,
            parameters: tool.function.parameters.unwrap_or_else(|| serde_json::json!({"type": "object"})),
        }
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with the token counts.
    #[serde(default)]
    pub include_usage: bool,
}

/// `POST /chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ChatTool>,
    /// Answer as server-sent chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Token limit (older name).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "max_tokens")]
    pub max_tokens: Option<u32>,
    /// Token limit (newer name; wins over `max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "max_completion_tokens")]
    pub max_completion_tokens: Option<u32>,
    /// Plugboard's extension: `true` runs Plugboard's own tools (plugins', MCP servers')
    /// on the server, beside the client's tools. Other servers ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugboard_tools: Option<bool>,
}

/// A token limit named `field`: past `u32::MAX` an error naming the field and its value,
/// never a number cut down to fit.
fn token_limit<'de, D: serde::Deserializer<'de>>(deserializer: D, field: &str) -> Result<Option<u32>, D::Error> {
    let Some(value) = Option::<u64>::deserialize(deserializer)? else { return Ok(None) };
    u32::try_from(value)
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("`{field}` is {value}; it may be at most {}", u32::MAX)))
}

fn max_tokens<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    token_limit(deserializer, "max_tokens")
}

fn max_completion_tokens<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    token_limit(deserializer, "max_completion_tokens")
}

impl ChatCompletionRequest {
    /// The streamed request for `request`, asking for the token counts.
    pub fn streamed(request: &CompletionRequest) -> ChatCompletionRequest {
        ChatCompletionRequest {
            model: request.model.clone(),
            messages: request.messages.iter().map(ChatMessage::from).collect(),
            tools: request.tools.iter().map(ChatTool::from).collect(),
            stream: Some(true),
            stream_options: Some(StreamOptions { include_usage: true }),
            temperature: request.temperature,
            top_p: request.top_p,
            max_tokens: request.max_tokens,
            max_completion_tokens: None,
            plugboard_tools: None,
        }
    }

    /// Whether the answer is to be streamed.
    pub fn is_streamed(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// The completion request it asks for.
    pub fn into_completion_request(self) -> CompletionRequest {
        CompletionRequest {
            model: self.model,
            messages: self.messages.into_iter().map(CompletionMessage::from).collect(),
            tools: self.tools.into_iter().map(ToolSpec::from).collect(),
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
        }
    }
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: u32,
    /// Both.
    #[serde(default)]
    pub total_tokens: u32,
}

impl From<Usage> for WireUsage {
    fn from(usage: Usage) -> WireUsage {
        WireUsage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.prompt_tokens + usage.completion_tokens,
        }
    }
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Usage {
        Usage { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens }
    }
}

/// The protocol's name for why a completion ended.
pub fn finish_reason_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

/// A finished choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Its index.
    pub index: u32,
    /// The reply.
    pub message: ChatMessage,
    /// Why it ended.
    pub finish_reason: Option<String>,
}

/// A finished `chat.completion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// Completion id.
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// The choices (Plugboard makes one).
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

/// A piece of a tool call in a streamed delta.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which call of the reply it belongs to.
    #[serde(default)]
    pub index: u32,
    /// Call id (in the call's first piece).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function` (in the call's first piece).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// More of the name and arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
}

/// More of a tool call's name and arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionDelta {
    /// More of the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// More of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// What one chunk adds to the reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// `assistant`, in the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ChatRole>,
    /// More text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// More of the tool calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_empty")]
    pub tool_calls: Vec<ToolCallDelta>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A streamed choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Its index.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Delta,
    /// Why it ended, in the last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// A `chat.completion.chunk`, or (read from a server that fails mid-stream) an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// Completion id, the same in every chunk.
    #[serde(default)]
    pub id: String,
    /// `chat.completion.chunk`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The choices (none in the usage chunk).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub choices: Vec<ChunkChoice>,
    /// Token counts, in the last chunk when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
    /// An error the server sent instead of a chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// An error, as the protocol shapes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// For people.
    #[serde(default)]
    pub message: String,
    /// `invalid_request_error` or `server_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// A machine-readable code (a string from Plugboard; other servers send other things).
    #[serde(default)]
    pub code: Value,
}

/// An error body, `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorDetail,
}

/// A model of `GET /models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelObject {
    /// Model id.
    pub id: String,
    /// `model`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// Who serves it.
    #[serde(default)]
    pub owned_by: String,
}

/// `GET /models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelList {
    /// `list`.
    #[serde(default)]
    pub object: String,
    /// The models.
    pub data: Vec<ModelObject>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{ChatCompletionChunk, ChatCompletionRequest, ChatMessage};
    use crate::{CompletionMessage, Role};

    #[test]
    fn requests_read_content_parts_and_the_developer_role() {
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "image_url"}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}]},
            ],
            "max_tokens": 5, "max_completion_tokens": 7,
        }))
        .unwrap();
        let request = request.into_completion_request();
        assert_eq!(request.max_tokens, Some(7));
        assert_eq!(request.messages[0].role, Role::System);
        assert_eq!(request.messages[1].content, "hi there");
        assert_eq!(request.messages[2].tool_calls[0].arguments, "{}");
    }

    #[test]
    fn a_message_round_trips_through_the_wire() {
        let message = CompletionMessage {
            role: Role::Tool,
            content: "42".into(),
            tool_calls: Vec::new(),
            tool_call_id: "c1".into(),
        };
        let wire = serde_json::to_value(ChatMessage::from(&message)).unwrap();
        assert_eq!(wire, json!({"role": "tool", "content": "42", "tool_call_id": "c1"}));
        let back: ChatMessage = serde_json::from_value(wire).unwrap();
        assert_eq!(CompletionMessage::from(back), message);
    }

    #[test]
    fn chunks_tolerate_nulls_and_carry_errors() {
        let chunk: ChatCompletionChunk = serde_json::from_value(json!({
            "choices": [{"delta": {"content": null, "tool_calls": null}, "finish_reason": null}], "usage": null
        }))
        .unwrap();
        assert_eq!(chunk.choices[0].delta.content, None);
        let error: ChatCompletionChunk =
            serde_json::from_value(json!({"error": {"message": "boom", "type": "server_error", "code": 5}})).unwrap();
        assert_eq!(error.error.unwrap().message, "boom");
    }
}
