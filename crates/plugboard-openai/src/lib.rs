//! A provider for any server that speaks the OpenAI chat-completions protocol (OpenAI,
//! Ollama, llama.cpp's server, vLLM): model list, streamed completions with tool calls,
//! a timeout, and retries with exponential backoff on transient failures before the
//! first byte of a reply. Requests and replies are the typed wire format of
//! `plugboard_types::openai`, the one the `/v1` server speaks too.
//!
//! Architecture Invariant: this crate depends on the vocabulary crate and an HTTP client
//! only; it knows nothing of plugins or storage.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use plugboard_types::openai::{ChatCompletionChunk, ChatCompletionRequest, ErrorResponse, ModelList};
use plugboard_types::{
    Completion, CompletionChunk, CompletionRequest, FinishReason, ModelInfo, Provider, ProviderError, ToolCall, Usage,
};
use tokio::sync::mpsc;

/// How to reach an OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The provider id (`openai`, `ollama`, ...).
    pub id: String,
    /// Base URL including `/v1`, such as `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Bearer key, if the server wants one. A secret: never logged or shown.
    pub api_key: Option<String>,
    /// Longest wait for a whole reply.
    pub timeout: Duration,
    /// Attempts for a request that fails transiently (connection refused, 429, 5xx).
    pub attempts: u32,
    /// Wait before the first retry; doubled each time.
    pub backoff: Duration,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("id", &self.id)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<secret>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl OpenAiConfig {
    /// A server at `base_url` with the default timeout (120 s) and retries (3, from 250 ms).
    pub fn new(id: impl Into<String>, base_url: impl Into<String>) -> OpenAiConfig {
        OpenAiConfig {
            id: id.into(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key: None,
            timeout: Duration::from_secs(120),
            attempts: 3,
            backoff: Duration::from_millis(250),
        }
    }
}

/// The OpenAI-compatible provider.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAiProvider {
    /// A provider for `config`, with the process's TLS settings for outbound clients
    /// (`plugboard_host::tls_config`), so every client of the process trusts the same roots.
    pub fn new(config: OpenAiConfig, tls: rustls::ClientConfig) -> Result<OpenAiProvider, ProviderError> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| ProviderError::Protocol(format!("cannot build the HTTP client: {error}")))?;
        Ok(OpenAiProvider { config, client })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    /// Sends a request, retrying transient failures with exponential backoff.
    async fn send(&self, build: impl Fn() -> reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
        let mut wait = self.config.backoff;
        let attempts = self.config.attempts.max(1);
        for attempt in 1..=attempts {
            let mut request = build();
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key);
            }
            let last = attempt == attempts;
            match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let transient = status.as_u16() == 429 || status.is_server_error();
                    if !transient || last {
                        let body = response.text().await.unwrap_or_default();
                        return Err(ProviderError::Status { status: status.as_u16(), message: error_message(&body) });
                    }
                    tracing::debug!(provider = %self.config.id, %status, attempt, "transient model server error, retrying");
                }
                Err(error) if error.is_timeout() => {
                    return Err(ProviderError::Timeout { seconds: self.config.timeout.as_secs() });
                }
                Err(error) => {
                    if last || !(error.is_connect() || error.is_request()) {
                        return Err(ProviderError::Unreachable {
                            url: self.config.base_url.clone(),
                            message: error_chain(&error),
                        });
                    }
                    tracing::debug!(provider = %self.config.id, attempt, "cannot reach the model server, retrying: {error}");
                }
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        Err(ProviderError::Unreachable { url: self.config.base_url.clone(), message: "no attempt was made".into() })
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The `error.message` of an OpenAI error body, else the body itself (shortened).
fn error_message(body: &str) -> String {
    serde_json::from_str::<ErrorResponse>(body)
        .map(|response| response.error.message)
        .unwrap_or_else(|_| body.chars().take(300).collect())
}

/// The most tool calls one reply may hold; a server sending more is refused.
const MAX_TOOL_CALLS: u32 = 128;

/// Tool calls being assembled from streamed pieces, by index.
#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn id(&self) -> &str {
        &self.config.id
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, ProviderError> {
        let response = self.send(|| self.client.get(self.url("/models")).timeout(Duration::from_secs(10))).await?;
        let list: ModelList = response
            .json()
            .await
            .map_err(|error| ProviderError::Protocol(format!("the model list is not a list of models: {error}")))?;
        Ok(list
            .data
            .into_iter()
            .map(|model| ModelInfo {
                display_name: model.id.clone(),
                id: model.id,
                context_length: 0,
                supports_tools: true,
            })
            .collect())
    }

    async fn complete(
        &self,
        request: CompletionRequest,
        sink: mpsc::Sender<CompletionChunk>,
    ) -> Result<Completion, ProviderError> {
        let body = ChatCompletionRequest::streamed(&request);
        let timeout = self.config.timeout;
        let response =
            self.send(|| self.client.post(self.url("/chat/completions")).json(&body).timeout(timeout)).await?;
        let mut content = String::new();
        let mut calls: Vec<PartialCall> = Vec::new();
        let mut finish_reason = FinishReason::Stop;
        let mut usage = Usage { prompt_tokens: 0, completion_tokens: 0 };
        let mut events = SseEvents::default();
        let mut bytes = response.bytes_stream();
        'stream: while let Some(piece) = bytes.next().await {
            let piece = piece.map_err(|error| {
                if error.is_timeout() {
                    ProviderError::Timeout { seconds: timeout.as_secs() }
                } else {
                    ProviderError::Protocol(format!("the reply stream broke: {}", error_chain(&error)))
                }
            })?;
            for data in events.push(&piece) {
                if data.trim() == "[DONE]" {
                    break 'stream;
                }
                let chunk: ChatCompletionChunk = serde_json::from_str(&data).map_err(|error| {
                    ProviderError::Protocol(format!("a stream chunk is not a completion chunk ({error}): {data}"))
                })?;
                if let Some(error) = chunk.error {
                    return Err(ProviderError::Status { status: 200, message: error.message });
                }
                if let Some(counts) = chunk.usage {
                    usage = counts.into();
                }
                let Some(choice) = chunk.choices.into_iter().next() else { continue };
                if let Some(text) = choice.delta.content.filter(|text| !text.is_empty()) {
                    content.push_str(&text);
                    if sink.send(CompletionChunk::Delta(text)).await.is_err() {
                        // Nobody listens any more: stop generating.
                        break 'stream;
                    }
                }
                for call in choice.delta.tool_calls {
                    if call.index >= MAX_TOOL_CALLS {
                        return Err(ProviderError::Protocol(format!(
                            "tool call index {} is out of range (at most {MAX_TOOL_CALLS} calls in one reply)",
                            call.index
                        )));
                    }
                    let index = call.index as usize;
                    if calls.len() <= index {
                        calls.resize_with(index + 1, PartialCall::default);
                    }
                    let partial = &mut calls[index];
                    if let Some(id) = call.id {
                        partial.id = id;
                    }
                    if let Some(function) = call.function {
                        partial.name.push_str(function.name.as_deref().unwrap_or_default());
                        partial.arguments.push_str(function.arguments.as_deref().unwrap_or_default());
                    }
                }
                match choice.finish_reason.as_deref() {
                    Some("length") => finish_reason = FinishReason::Length,
                    Some("tool_calls") => finish_reason = FinishReason::ToolCalls,
                    _ => {}
                }
            }
        }
        let tool_calls: Vec<ToolCall> = calls
            .into_iter()
            .enumerate()
            .filter(|(_, call)| !call.name.is_empty())
            .map(|(index, call)| ToolCall {
                id: if call.id.is_empty() { format!("call_{index}") } else { call.id },
                name: call.name,
                arguments: if call.arguments.is_empty() { "{}".into() } else { call.arguments },
            })
            .collect();
        for call in &tool_calls {
            // A closed sink is fine: the caller has the calls in the result too.
            let _ = sink.send(CompletionChunk::ToolCall(call.clone())).await;
        }
        if !tool_calls.is_empty() {
            finish_reason = FinishReason::ToolCalls;
        }
        Ok(Completion { content, tool_calls, finish_reason, usage, notices: Vec::new() })
    }
}

/// Splits a server-sent-event byte stream into the `data` of each event.
#[derive(Default)]
struct SseEvents {
    buffer: Vec<u8>,
}

impl SseEvents {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some((end, separator)) = find_event_end(&self.buffer) {
            let event: Vec<u8> = self.buffer.drain(..end + separator).collect();
            let text = String::from_utf8_lossy(&event[..end]);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|data| data.strip_prefix(' ').unwrap_or(data))
                .collect();
            if !data.is_empty() {
                events.push(data.join("\n"));
            }
        }
        events
    }
}

/// The end of the first complete event and the length of the blank line after it.
fn find_event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    (0..buffer.len()).find_map(|at| {
        if buffer[at..].starts_with(b"\r\n\r\n") {
            Some((at, 4))
        } else if buffer[at..].starts_with(b"\n\n") {
            Some((at, 2))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::SseEvents;

    #[test]
    fn events_split_across_reads_and_line_endings() {
        let mut events = SseEvents::default();
        assert!(events.push(b"data: {\"a\"").is_empty());
        assert_eq!(events.push(b":1}\n\ndata: [DO"), ["{\"a\":1}"]);
        assert_eq!(events.push(b"NE]\r\n\r\n: comment\n\n"), ["[DONE]"]);
    }
}
