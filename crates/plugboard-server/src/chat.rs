//! Chat turns over HTTP: `POST /api/chat` answers with JSON when the turn is over,
//! `POST /api/chat/stream` streams it as server-sent events (`message`, `delta`,
//! `tool_call`, `tool_result`, `replace`, `done`, `error`). A stream whose client goes
//! away stops the turn; the partial reply is kept, marked partial.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt as _};
use plugboard_chat::{TurnEvent, TurnRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::conversations::{create_conversation_for, owned};
use crate::error::{ApiError, ApiJson};
use crate::{AppState, schemas};

/// A chat turn request.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ChatRequest {
    /// The conversation; a new one (titled after the message) when absent.
    #[serde(default)]
    conversation_id: Option<String>,
    /// What the user says; `/run` and plugins' slash commands are answered by plugins.
    #[schema(example = "Hello!")]
    message: String,
    /// `provider/model`; the default model when absent.
    #[serde(default)]
    model: Option<String>,
}

async fn prepare(state: &AppState, user: plugboard_store::User, request: ChatRequest) -> Result<TurnRequest, ApiError> {
    if request.message.trim().is_empty() {
        return Err(ApiError::bad_request("empty_message", "the message is empty; write something"));
    }
    // Before the conversation titled after it is stored; the turn checks it again.
    plugboard_chat::check_text("message", &request.message)?;
    state.limits.check_turn(&user.id).await?;
    let conversation = match &request.conversation_id {
        Some(id) => owned(state, &user, id).await?,
        None => {
            let title: String = request.message.trim().chars().take(60).collect();
            create_conversation_for(state, &user, &title).await?
        }
    };
    Ok(TurnRequest { user, conversation, content: request.message, model: request.model })
}

/// Runs a chat turn and answers when it is over
///
/// The answer has both messages, the tool calls made and whether a plugin replaced the
/// reply. A turn that fails after the user's message was stored answers with the error,
/// the conversation and that message.
#[utoipa::path(
    post,
    path = "/api/chat",
    tag = "chat",
    operation_id = "chat",
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The finished turn", body = schemas::ChatReply),
        (status = 400, description = "`empty_message`, `invalid_text` (the message holds U+0000) or `invalid_json`; from the turn (with `conversation_id` and \
                                      `user_message`, as `ChatFailure`): `unknown_plugin`, `context_length_exceeded`",
         body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such conversation of the caller's; from the turn: `unknown_model`, or a \
                                      `/run` plugin without tools (`not_implemented`)", body = schemas::ApiError),
        (status = 422, description = "A plugin rejected the message or prompt, or a command's plugin failed \
                                      (`plugin_error`)", body = schemas::ChatFailure),
        (status = 413, description = "A body over 512 KiB (`body_too_large`)", body = schemas::ApiError),
        (status = 429, description = "Past the person's chat turns a minute, before the turn starts \
                                      (`rate_limited`); or a plugin's call limit during the turn, then also with \
                                      `conversation_id` and `user_message` as in `ChatFailure`. See `Retry-After`",
         body = schemas::ApiError),
        (status = 503, description = "No model, or it is busy or unreachable", body = schemas::ChatFailure),
        (status = 502, description = "The model or a plugin failed (`model_error`, `trap`, ...)", body = schemas::ChatFailure),
        (status = 504, description = "The model or a plugin timed out", body = schemas::ChatFailure),
    )
)]
pub(crate) async fn chat(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let turn = prepare(&state, user, request).await?;
    let conversation_id = turn.conversation.id.clone();
    let mut events = state.engine.start_turn(turn);
    let mut user_message = Value::Null;
    let mut tools = Vec::new();
    let mut replaced = false;
    while let Some(event) = events.recv().await {
        match event {
            TurnEvent::Message { message } => user_message = json!(message),
            TurnEvent::ToolCall { .. }
            | TurnEvent::ToolResult { .. }
            | TurnEvent::ToolApproval { .. }
            | TurnEvent::ToolApprovalDecided { .. } => tools.push(json!(event)),
            TurnEvent::Replace { .. } => replaced = true,
            TurnEvent::Delta { .. } => {}
            TurnEvent::Done { model, usage, reply, .. } => {
                return Ok(Json(json!({
                    "conversation_id": conversation_id,
                    "user_message": user_message,
                    "reply": reply,
                    "model": model,
                    "usage": usage,
                    "tools": tools,
                    "replaced_by_plugin": replaced,
                }))
                .into_response());
            }
            TurnEvent::Error(error) => {
                let error = ApiError::from(error);
                let body = json!({"error": {"code": error.code, "message": error.message},
                                  "conversation_id": conversation_id, "user_message": user_message});
                let mut response = (error.status, Json(body)).into_response();
                if let Some(seconds) = error.retry_after {
                    response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
                }
                return Ok(response);
            }
        }
    }
    Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the chat turn ended without an answer"))
}

/// Runs a chat turn, streamed as server-sent events
///
/// Events: `conversation` (`{"conversation_id"}`, first), `message` (the user's message as
/// stored), `delta` (`{"text"}`), `tool_call`, `tool_approval` (the call waits for the
/// person: decide it with `POST /api/tool-calls/{id}/approve` or `/deny`),
/// `tool_approval_decided`, `tool_result`, `replace` (a plugin changed the reply:
/// `{"content"}`), then `done` or `error` (`{"code", "message"}`). Closing the stream stops
/// the turn, unless a tool call waits for approval (the turn then goes on without the
/// stream); the partial reply is kept.
#[utoipa::path(
    post,
    path = "/api/chat/stream",
    tag = "chat",
    operation_id = "chat_stream",
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The turn's events", body = schemas::ServerSentEvent, content_type = "text/event-stream"),
        (status = 400, description = "`empty_message`, `invalid_text` (the message holds U+0000) or `invalid_json`", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such conversation of the caller's", body = schemas::ApiError),
        (status = 413, description = "A body over 512 KiB (`body_too_large`)", body = schemas::ApiError),
        (status = 429, description = "Past the person's chat turns a minute (`rate_limited`); see `Retry-After`", body = schemas::ApiError),
    )
)]
pub(crate) async fn chat_stream(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let turn = prepare(&state, user, request).await?;
    let conversation_id = turn.conversation.id.clone();
    let events = state.engine.start_turn(turn);
    let start = futures_util::stream::once(async move {
        Ok(SseEvent::default()
            .event("conversation")
            .json_data(json!({"conversation_id": conversation_id}))
            .unwrap_or_default())
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(events).map(|event| {
        let name = match &event {
            TurnEvent::Message { .. } => "message",
            TurnEvent::Delta { .. } => "delta",
            TurnEvent::ToolCall { .. } => "tool_call",
            TurnEvent::ToolResult { .. } => "tool_result",
            TurnEvent::ToolApproval { .. } => "tool_approval",
            TurnEvent::ToolApprovalDecided { .. } => "tool_approval_decided",
            TurnEvent::Replace { .. } => "replace",
            TurnEvent::Done { .. } => "done",
            TurnEvent::Error(_) => "error",
        };
        Ok(SseEvent::default().event(name).json_data(&event).unwrap_or_default())
    });
    Ok(Sse::new(start.chain(stream)).keep_alive(KeepAlive::default()))
}

/// The models on offer (`provider/model`), the default, and providers that cannot answer
#[utoipa::path(
    get,
    path = "/api/models",
    tag = "chat",
    operation_id = "models",
    responses((status = 200, description = "The models", body = schemas::ModelOverview), (status = 401, description = "Not signed in", body = schemas::ApiError))
)]
pub(crate) async fn models(State(state): State<AppState>, AuthUser(_): AuthUser) -> Json<Value> {
    Json(json!(state.engine.models().await.overview().await))
}
