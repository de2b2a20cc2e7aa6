//! The OpenAI-compatible API, so existing clients and UIs can use Plugboard as their
//! backend: `GET /v1/models` and `POST /v1/chat/completions` (JSON or streamed as
//! `chat.completion.chunk` events ending with `[DONE]`), authenticated by a Plugboard API
//! token (`Authorization: Bearer pb_...`), with the plugin pipeline applied. Errors use
//! OpenAI's shape, `{"error": {"message", "type", "code"}}`.

use std::convert::Infallible;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use plugboard_chat::{PipelineError, StatelessOutcome};
use plugboard_host::api::{
    CompletionChunk, CompletionMessage, CompletionRequest, FinishReason, Role, ToolCall, ToolSpec,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::auth::AuthUser;
use crate::{AppState, openapi};

fn openai_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let kind = if status.is_client_error() { "invalid_request_error" } else { "server_error" };
    (status, Json(json!({"error": {"message": message.into(), "type": kind, "code": code}}))).into_response()
}

fn pipeline_error(error: &PipelineError) -> Response {
    let status = match error.code.as_str() {
        "prompt_rejected" | "context_length_exceeded" => StatusCode::BAD_REQUEST,
        "unknown_model" => StatusCode::NOT_FOUND,
        "no_model" | "model_unreachable" | "model_busy" => StatusCode::SERVICE_UNAVAILABLE,
        "model_timeout" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    };
    openai_error(status, &error.code, error.message.clone())
}

/// The models, OpenAI style
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai-compatible",
    operation_id = "openai_models",
    responses(
        (status = 200, description = "The models", body = openapi::OpenAiModelList),
        (status = 401, description = "Not signed in", body = openapi::ApiError),
    )
)]
pub(crate) async fn models(State(state): State<AppState>, AuthUser(_): AuthUser) -> Json<Value> {
    let data: Vec<Value> = state
        .engine
        .models()
        .await
        .list()
        .await
        .into_iter()
        .map(|model| json!({"id": model.id, "object": "model", "created": 0, "owned_by": model.provider}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// A message's text: a string, or the text parts of a content array.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(|part| part["text"].as_str()).collect::<Vec<_>>().join(""),
        _ => String::new(),
    }
}

/// Reads an OpenAI request body into a completion request; says what is wrong otherwise.
fn parse_request(body: &Value) -> Result<(CompletionRequest, bool), String> {
    let messages = body["messages"].as_array().ok_or("`messages` must be an array of messages")?;
    if messages.is_empty() {
        return Err("`messages` is empty; send at least one message".into());
    }
    let mut parsed = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let role = match message["role"].as_str() {
            Some("system" | "developer") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some("tool") => Role::Tool,
            other => return Err(format!("`messages[{index}].role` is {other:?}; use system, user, assistant or tool")),
        };
        let tool_calls: Vec<ToolCall> = message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|call| ToolCall {
                id: call["id"].as_str().unwrap_or_default().to_owned(),
                name: call["function"]["name"].as_str().unwrap_or_default().to_owned(),
                arguments: call["function"]["arguments"].as_str().unwrap_or("{}").to_owned(),
            })
            .collect();
        parsed.push(CompletionMessage {
            role,
            content: content_text(&message["content"]),
            tool_calls,
            tool_call_id: message["tool_call_id"].as_str().unwrap_or_default().to_owned(),
        });
    }
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| {
            let function = &tool["function"];
            Some(ToolSpec {
                name: function["name"].as_str()?.to_owned(),
                description: function["description"].as_str().unwrap_or_default().to_owned(),
                parameters: function.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"})),
            })
        })
        .collect();
    let number = |name: &str| body[name].as_f64().map(|value| value as f32);
    let request = CompletionRequest {
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        messages: parsed,
        tools,
        temperature: number("temperature"),
        top_p: number("top_p"),
        max_tokens: body["max_completion_tokens"].as_u64().or(body["max_tokens"].as_u64()).map(|v| v as u32),
    };
    Ok((request, body["stream"].as_bool().unwrap_or(false)))
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        _ => "stop",
    }
}

fn tool_calls_json(calls: &[ToolCall]) -> Value {
    calls
        .iter()
        .map(|call| json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}))
        .collect()
}

fn created() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A chat completion, as OpenAI's API makes it
///
/// Takes OpenAI's request (`model`, `messages`, `tools`, `temperature`, `top_p`,
/// `max_tokens` or `max_completion_tokens`, `stream`, `stream_options.include_usage`)
/// and runs it through the plugins' filters, stored nowhere. With `"stream": true` the
/// answer is `chat.completion.chunk` events ending with `[DONE]`.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "openai-compatible",
    operation_id = "openai_chat_completions",
    request_body(content = Object, description = "An OpenAI chat completion request",
                 example = json!({"model": "local/default", "messages": [{"role": "user", "content": "Hello!"}]})),
    responses(
        (status = 200, description = "A `chat.completion`, or with `stream` its chunks as server-sent events",
         content((Object = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "Not a valid request", body = openapi::OpenAiError),
        (status = 401, description = "Not signed in", body = openapi::ApiError),
        (status = 404, description = "No such model", body = openapi::OpenAiError),
        (status = 503, description = "No model, or it is busy or unreachable", body = openapi::OpenAiError),
    )
)]
pub(crate) async fn chat_completions(State(state): State<AppState>, AuthUser(user): AuthUser, body: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => {
            return openai_error(StatusCode::BAD_REQUEST, "invalid_json", format!("the body is not JSON: {error}"));
        }
    };
    let (request, stream) = match parse_request(&body) {
        Ok(parsed) => parsed,
        Err(message) => return openai_error(StatusCode::BAD_REQUEST, "invalid_request", message),
    };
    let requested = request.model.clone();
    let id = format!("chatcmpl-{}", crate::auth::new_token("").unwrap_or_default().get(..24).unwrap_or("0"));
    let (sink, mut pieces) = mpsc::channel(64);
    let engine = state.engine.clone();
    let running = tokio::spawn(async move { engine.complete_stateless(&user, request, sink).await });
    if !stream {
        while pieces.recv().await.is_some() {}
        return match running.await {
            Ok(Ok(StatelessOutcome { completion, model, .. })) => {
                let mut message = json!({"role": "assistant", "content": completion.content});
                if !completion.tool_calls.is_empty() {
                    message["tool_calls"] = tool_calls_json(&completion.tool_calls);
                }
                Json(json!({
                    "id": id, "object": "chat.completion", "created": created(), "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(completion.finish_reason)}],
                    "usage": {"prompt_tokens": completion.usage.prompt_tokens, "completion_tokens": completion.usage.completion_tokens,
                              "total_tokens": completion.usage.prompt_tokens + completion.usage.completion_tokens}
                }))
                .into_response()
            }
            Ok(Err(error)) => pipeline_error(&error),
            Err(error) => openai_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", error.to_string()),
        };
    }
    let include_usage = body["stream_options"]["include_usage"].as_bool().unwrap_or(false);
    let head = StreamHead { id, requested_model: requested, include_usage };
    // Errors before the first piece (a refused prompt, an unknown model) are plain errors.
    // The channel closing means the pipeline is returning: wait for its answer.
    let first = pieces.recv().await;
    if first.is_none() {
        match running.await {
            Ok(Err(error)) => return pipeline_error(&error),
            Err(error) => return openai_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", error.to_string()),
            Ok(Ok(outcome)) => return stream_response(head, first, pieces, Some(Ok(outcome)), None),
        }
    }
    stream_response(head, first, pieces, None, Some(running))
}

type Running = tokio::task::JoinHandle<Result<StatelessOutcome, PipelineError>>;

/// What every chunk of one streamed answer shares.
struct StreamHead {
    id: String,
    requested_model: String,
    /// `stream_options.include_usage`: a last chunk with no choices carries the usage.
    include_usage: bool,
}

/// The streamed answer: the pieces as chunks (the role in the first only, as OpenAI does),
/// then the finish reason, the usage when asked for, then `[DONE]`.
fn stream_response(
    head: StreamHead,
    first: Option<CompletionChunk>,
    pieces: mpsc::Receiver<CompletionChunk>,
    done: Option<Result<StatelessOutcome, PipelineError>>,
    running: Option<Running>,
) -> Response {
    let StreamHead { id, requested_model, include_usage } = head;
    let created = created();
    let chunk = {
        let id = id.clone();
        move |delta: Value, finish: Option<&str>, model: &str| {
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        }
    };
    let to_event = |value: Value| Ok::<_, Infallible>(SseEvent::default().data(value.to_string()));
    let pieces_in = futures_util::stream::iter(first).chain(tokio_stream::wrappers::ReceiverStream::new(pieces));
    let body_chunk = chunk.clone();
    let mut call_index = 0usize;
    let mut first_chunk = true;
    let pieces = pieces_in.map(move |piece| {
        let mut delta = match piece {
            CompletionChunk::Delta(text) => json!({"content": text}),
            CompletionChunk::ToolCall(call) => {
                let index = call_index;
                call_index += 1;
                json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                       "function": {"name": call.name, "arguments": call.arguments}}]})
            }
        };
        if std::mem::take(&mut first_chunk) {
            delta["role"] = json!("assistant");
        }
        to_event(body_chunk(delta, None, &requested_model))
    });
    let tail = futures_util::stream::once(async move {
        let outcome = match (done, running) {
            (Some(outcome), _) => outcome,
            (None, Some(running)) => running.await.unwrap_or_else(|error| {
                Err(PipelineError { code: "internal".into(), message: error.to_string() })
            }),
            (None, None) => Err(PipelineError { code: "internal".into(), message: "no completion".into() }),
        };
        let mut events = Vec::new();
        match outcome {
            Ok(StatelessOutcome { completion, model, appended }) => {
                if let Some(appended) = appended {
                    events.push(chunk(json!({"content": appended}), None, &model));
                }
                events.push(chunk(json!({}), Some(finish_reason(completion.finish_reason)), &model));
                if include_usage {
                    events.push(json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
                                   "usage": {"prompt_tokens": completion.usage.prompt_tokens,
                                             "completion_tokens": completion.usage.completion_tokens,
                                             "total_tokens": completion.usage.prompt_tokens + completion.usage.completion_tokens}}));
                }
            }
            Err(error) => events.push(json!({"error": {"message": error.message, "type": "server_error", "code": error.code}})),
        }
        futures_util::stream::iter(events.into_iter().map(to_event))
    })
    .flatten();
    let done = futures_util::stream::once(async { Ok::<_, Infallible>(SseEvent::default().data("[DONE]")) });
    Sse::new(pieces.chain(tail).chain(done)).into_response()
}
