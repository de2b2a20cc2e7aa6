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
use plugboard_chat::{ChatError, ServerTools, StatelessOutcome};
use plugboard_types::CompletionChunk;
use plugboard_types::openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, ChatRole, Choice, ChunkChoice, Delta,
    ErrorDetail, ErrorResponse, FunctionDelta, MessageContent, ModelList, ModelObject, ToolCallDelta, WireToolCall,
    WireUsage, finish_reason_name,
};
use tokio::sync::mpsc;

use crate::auth::AuthUser;
use crate::error::chat_status;
use crate::{AppState, schemas};

fn error_detail(status: StatusCode, code: &str, message: impl Into<String>) -> ErrorDetail {
    let kind = if status.is_client_error() { "invalid_request_error" } else { "server_error" };
    ErrorDetail { message: message.into(), kind: kind.to_owned(), code: code.into() }
}

fn openai_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(ErrorResponse { error: error_detail(status, code, message) })).into_response()
}

/// A turn's error in OpenAI's shape, with the status every endpoint gives it.
fn pipeline_error(error: &ChatError) -> Response {
    openai_error(chat_status(error), error.code(), error.to_string())
}

/// The models, OpenAI style
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai-compatible",
    operation_id = "openai_models",
    responses(
        (status = 200, description = "The models", body = schemas::OpenAiModelList),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    )
)]
pub(crate) async fn models(State(state): State<AppState>, AuthUser(_): AuthUser) -> Json<ModelList> {
    let data = state
        .engine
        .models()
        .await
        .list()
        .await
        .into_iter()
        .flat_map(|model| {
            let with_tools = format!("{}{TOOLS_SUFFIX}", model.id);
            [
                ModelObject { id: model.id, object: "model".into(), created: 0, owned_by: model.provider.clone() },
                ModelObject { id: with_tools, object: "model".into(), created: 0, owned_by: model.provider },
            ]
        })
        .collect();
    Json(ModelList { object: "list".into(), data })
}

/// A model name ending with this (`local/default+tools`, or `+tools` alone for the
/// default model) asks for Plugboard's tools to run server-side, for clients that can
/// choose a model but not add a request field.
pub(crate) const TOOLS_SUFFIX: &str = "+tools";

fn created() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A chat completion, as OpenAI's API makes it
///
/// Takes OpenAI's request (`model`, `messages`, `tools`, `temperature`, `top_p`,
/// `max_tokens` or `max_completion_tokens`, `stream`, `stream_options.include_usage`)
/// and runs it through the plugins' filters, stored nowhere. With `"stream": true` the
/// answer is `chat.completion.chunk` events ending with `[DONE]`. The client's `tools`
/// pass through: their calls come back to the client. With `"plugboard_tools": true`, or
/// a model name ending in `+tools` (as `/v1/models` lists them), Plugboard's own tools
/// (the plugins' and MCP servers' that run without a person's approval) are offered too
/// and run on the server; the client sees the model's text and its own tools' calls.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "openai-compatible",
    operation_id = "openai_chat_completions",
    request_body(content = Object, description = "An OpenAI chat completion request",
                 example = json!({"model": "local/default", "messages": [{"role": "user", "content": "Hello!"}]})),
    responses(
        (status = 200, description = "A `chat.completion`, or with `stream` its chunks as server-sent events",
         content((Object = "application/json"), (schemas::ServerSentEvent = "text/event-stream"))),
        (status = 400, description = "Not a valid request", body = schemas::OpenAiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such model", body = schemas::OpenAiError),
        (status = 415, description = "A body that is not sent as `application/json` (`invalid_json`)", body = schemas::OpenAiError),
        (status = 429, description = "Past the person's chat turns a minute (`rate_limited`); see `Retry-After`", body = schemas::OpenAiError),
        (status = 503, description = "No model, or it is busy or unreachable", body = schemas::OpenAiError),
    )
)]
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(error) = crate::error::require_json(&headers) {
        return openai_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_json", error.message);
    }
    if let Err(error) = state.limits.check_turn(&user.id).await {
        let mut response = openai_error(error.status, "rate_limited", error.message);
        if let Some(seconds) = error.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        return response;
    }
    let body: ChatCompletionRequest = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) if error.is_syntax() || error.is_eof() => {
            return openai_error(StatusCode::BAD_REQUEST, "invalid_json", format!("the body is not JSON: {error}"));
        }
        Err(error) => {
            let message = format!("not a chat completion request: {error}");
            return openai_error(StatusCode::BAD_REQUEST, "invalid_request", message);
        }
    };
    if body.messages.is_empty() {
        let message = "`messages` is empty; send at least one message";
        return openai_error(StatusCode::BAD_REQUEST, "invalid_request", message);
    }
    let stream = body.is_streamed();
    let include_usage = body.stream_options.is_some_and(|options| options.include_usage);
    let mut server_tools = if body.plugboard_tools == Some(true) { ServerTools::Run } else { ServerTools::PassThrough };
    let mut request = body.into_completion_request();
    let requested = request.model.clone();
    if let Some(model) = request.model.strip_suffix(TOOLS_SUFFIX) {
        request.model = model.to_owned();
        server_tools = ServerTools::Run;
    }
    let id = format!("chatcmpl-{}", crate::auth::new_token("").unwrap_or_default().get(..24).unwrap_or("0"));
    let (sink, mut pieces) = mpsc::channel(64);
    let engine = state.engine.clone();
    let running = tokio::spawn(async move { engine.complete_stateless(&user, request, sink, server_tools).await });
    if !stream {
        while pieces.recv().await.is_some() {}
        return match running.await {
            Ok(Ok(StatelessOutcome { completion, model, .. })) => {
                let message = ChatMessage {
                    role: ChatRole::Assistant,
                    content: Some(MessageContent::Text(completion.content)),
                    tool_calls: completion.tool_calls.iter().map(WireToolCall::from).collect(),
                    tool_call_id: None,
                };
                Json(ChatCompletion {
                    id,
                    object: "chat.completion".into(),
                    created: created(),
                    model,
                    choices: vec![Choice {
                        index: 0,
                        message,
                        finish_reason: Some(finish_reason_name(completion.finish_reason).into()),
                    }],
                    usage: Some(completion.usage.into()),
                })
                .into_response()
            }
            Ok(Err(error)) => pipeline_error(&error),
            Err(error) => openai_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", error.to_string()),
        };
    }
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

type Running = tokio::task::JoinHandle<Result<StatelessOutcome, ChatError>>;

/// What every chunk of one streamed answer shares.
struct StreamHead {
    id: String,
    requested_model: String,
    /// `stream_options.include_usage`: a last chunk with no choices carries the usage.
    include_usage: bool,
}

impl StreamHead {
    /// A chunk of this answer.
    fn chunk(
        &self,
        created: u64,
        model: &str,
        choices: Vec<ChunkChoice>,
        usage: Option<WireUsage>,
    ) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created,
            model: model.to_owned(),
            choices,
            usage,
            error: None,
        }
    }
}

/// One choice's delta.
fn delta_choice(delta: Delta, finish_reason: Option<String>) -> Vec<ChunkChoice> {
    vec![ChunkChoice { index: 0, delta, finish_reason }]
}

fn sse(chunk: &impl serde::Serialize) -> Result<SseEvent, Infallible> {
    Ok(SseEvent::default().data(serde_json::to_string(chunk).unwrap_or_default()))
}

/// The streamed answer: the pieces as chunks (the role in the first only, as OpenAI does),
/// then the finish reason, the usage when asked for, then `[DONE]`.
fn stream_response(
    head: StreamHead,
    first: Option<CompletionChunk>,
    pieces: mpsc::Receiver<CompletionChunk>,
    done: Option<Result<StatelessOutcome, ChatError>>,
    running: Option<Running>,
) -> Response {
    let head = std::sync::Arc::new(head);
    let created = created();
    let pieces_in = futures_util::stream::iter(first).chain(tokio_stream::wrappers::ReceiverStream::new(pieces));
    let mut call_index = 0u32;
    let mut first_chunk = true;
    let body_head = head.clone();
    let pieces = pieces_in.map(move |piece| {
        let mut delta = match piece {
            CompletionChunk::Delta(text) => Delta { content: Some(text), ..Delta::default() },
            CompletionChunk::ToolCall(call) => {
                let index = call_index;
                call_index += 1;
                let call = ToolCallDelta {
                    index,
                    id: Some(call.id),
                    kind: Some("function".into()),
                    function: Some(FunctionDelta { name: Some(call.name), arguments: Some(call.arguments) }),
                };
                Delta { tool_calls: vec![call], ..Delta::default() }
            }
        };
        if std::mem::take(&mut first_chunk) {
            delta.role = Some(ChatRole::Assistant);
        }
        sse(&body_head.chunk(created, &body_head.requested_model, delta_choice(delta, None), None))
    });
    let tail = futures_util::stream::once(async move {
        let outcome = match (done, running) {
            (Some(outcome), _) => outcome,
            (None, Some(running)) => running
                .await
                .unwrap_or_else(|error| Err(ChatError::Internal(format!("the completion task failed: {error}")))),
            (None, None) => Err(ChatError::Internal("no completion".into())),
        };
        let mut events = Vec::new();
        match outcome {
            Ok(StatelessOutcome { completion, model, appended }) => {
                if let Some(appended) = appended {
                    let delta = Delta { content: Some(appended), ..Delta::default() };
                    events.push(sse(&head.chunk(created, &model, delta_choice(delta, None), None)));
                }
                let finish = Some(finish_reason_name(completion.finish_reason).to_owned());
                events.push(sse(&head.chunk(created, &model, delta_choice(Delta::default(), finish), None)));
                if head.include_usage {
                    let usage = WireUsage::from(completion.usage);
                    events.push(sse(&head.chunk(created, &model, Vec::new(), Some(usage))));
                }
            }
            Err(error) => events.push(sse(&ErrorResponse {
                error: ErrorDetail {
                    kind: "server_error".into(),
                    ..error_detail(chat_status(&error), error.code(), error.to_string())
                },
            })),
        }
        futures_util::stream::iter(events)
    })
    .flatten();
    let done = futures_util::stream::once(async { Ok::<_, Infallible>(SseEvent::default().data("[DONE]")) });
    Sse::new(pieces.chain(tail).chain(done)).into_response()
}
