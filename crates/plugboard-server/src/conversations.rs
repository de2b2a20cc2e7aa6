//! Conversations, messages, attachments and traces: each readable only by its owner.
//! Creating, deleting and changing them fires the plugins' events.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plugboard_chat::{PluginChoice, api_conversation, api_message};
use plugboard_store::{Conversation, Message};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, schemas};

/// The conversation `id` if `user` owns it; someone else's is "not found", as if absent.
pub(crate) async fn owned(state: &AppState, user: &plugboard_store::User, id: &str) -> Result<Conversation, ApiError> {
    match state.store.conversation(id).await? {
        Some(conversation) if conversation.user_id == user.id => Ok(conversation),
        _ => Err(ApiError::not_found("conversation", id)),
    }
}

/// The message `id` if `user` owns its conversation.
async fn owned_message(
    state: &AppState,
    user: &plugboard_store::User,
    id: &str,
) -> Result<(Message, Conversation), ApiError> {
    let message = state.store.message(id).await?.filter(|m| m.deleted_at_ms.is_none());
    let Some(message) = message else { return Err(ApiError::not_found("message", id)) };
    let conversation =
        owned(state, user, &message.conversation_id).await.map_err(|_| ApiError::not_found("message", id))?;
    Ok((message, conversation))
}

/// A new conversation.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewConversation {
    /// 1 to 200 characters; "New conversation" when absent.
    #[serde(default)]
    #[schema(example = "Plans for Saturday")]
    title: Option<String>,
}

fn check_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ApiError::bad_request("invalid_title", "a title has 1 to 200 characters"));
    }
    plugboard_chat::check_text("title", title)?;
    Ok(title.to_owned())
}

/// Creates a conversation and fires conversation-started.
pub(crate) async fn create_conversation_for(
    state: &AppState,
    user: &plugboard_store::User,
    title: &str,
) -> Result<Conversation, ApiError> {
    let conversation = state.store.create_conversation(&user.id, title).await?;
    state.engine.conversation_started(user, &conversation);
    Ok(conversation)
}

/// Starts a conversation
///
/// The body is optional. Fires the plugins' conversation-started event.
#[utoipa::path(
    post,
    path = "/api/conversations",
    tag = "conversations",
    operation_id = "create_conversation",
    request_body(content = Option<NewConversation>, description = "Nothing, or a title"),
    responses(
        (status = 201, description = "The conversation", body = schemas::ConversationResponse),
        (status = 400, description = "`invalid_title`, `invalid_text` (the title holds U+0000) or `invalid_json`", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 415, description = "A body that is not sent as `application/json` (`invalid_json`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: none, or `{"title": ...}`.
    let request: NewConversation = if body.iter().all(u8::is_ascii_whitespace) {
        NewConversation { title: None }
    } else {
        crate::error::require_json(&headers)?;
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::bad_request("invalid_json", format!("send {{\"title\": \"...\"}} or nothing: {error}"))
        })?
    };
    let title = match request.title {
        Some(title) => check_title(&title)?,
        None => "New conversation".to_owned(),
    };
    let conversation = create_conversation_for(&state, &user, &title).await?;
    Ok((StatusCode::CREATED, Json(json!({"conversation": conversation}))).into_response())
}

/// Which page of conversations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Conversations per page, 1 to 200 (default 50).
    #[serde(default)]
    limit: Option<usize>,
    /// The `next` of the previous page.
    #[serde(default)]
    after: Option<String>,
    /// Only conversations whose title or messages contain this.
    #[serde(default)]
    search: Option<String>,
}

/// The caller's conversations, newest activity first, a page at a time
#[utoipa::path(
    get,
    path = "/api/conversations",
    tag = "conversations",
    operation_id = "list_conversations",
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = schemas::ConversationPage),
        (status = 400, description = "`invalid_text`: the search holds U+0000, which no stored text holds", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    if let Some(search) = &query.search {
        plugboard_chat::check_text("search", search)?;
    }
    let page = state
        .store
        .list_conversations(&user.id, query.search.as_deref().filter(|s| !s.is_empty()), query.after.as_deref(), limit)
        .await?;
    Ok(Json(json!({"conversations": page.conversations, "next": page.next})))
}

/// A conversation and the plugins working in it
#[utoipa::path(
    get,
    path = "/api/conversations/{id}",
    tag = "conversations",
    operation_id = "get_conversation",
    params(("id" = String, Path, description = "The conversation")),
    responses(
        (status = 200, description = "The conversation", body = schemas::ConversationDetails),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such conversation of the caller's", body = schemas::ApiError),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let conversation = owned(&state, &user, &id).await?;
    Ok(Json(json!({"conversation": conversation, "plugins": PluginChoice::of(&conversation)})))
}

/// A change to a conversation; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ConversationChange {
    /// A new title, 1 to 200 characters.
    #[serde(default)]
    title: Option<String>,
    /// `{"disabled_filters": [...], "disabled_tools": [...], "tool_policies": {"<tool>": "ask"}}`,
    /// or `null` for the global set.
    #[serde(default, deserialize_with = "some_value")]
    #[schema(value_type = Option<schemas::PluginChoice>)]
    plugins: Option<Option<PluginChoice>>,
}

/// Tells "absent" from "null" for an optional field.
fn some_value<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<PluginChoice>>, D::Error> {
    Ok(Some(Option::deserialize(deserializer)?))
}

/// Renames a conversation or chooses its plugins
#[utoipa::path(
    patch,
    path = "/api/conversations/{id}",
    tag = "conversations",
    operation_id = "update_conversation",
    params(("id" = String, Path, description = "The conversation")),
    request_body = ConversationChange,
    responses(
        (status = 200, description = "The conversation as changed", body = schemas::ConversationDetails),
        (status = 400, description = "`invalid_title`, `invalid_text` (the title holds U+0000), `invalid_policy_key` or `invalid_tool_policy` (a `tool_policies` entry) or `invalid_json`", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such conversation of the caller's", body = schemas::ApiError),
    )
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<ConversationChange>,
) -> Result<Json<Value>, ApiError> {
    let mut conversation = owned(&state, &user, &id).await?;
    if let Some(title) = change.title {
        let title = check_title(&title)?;
        conversation = state
            .store
            .rename_conversation(&id, &title)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation", &id))?;
    }
    if let Some(choice) = change.plugins {
        if let Some(choice) = &choice {
            crate::approvals::check_conversation_policies(&choice.tool_policies)?;
        }
        let value = choice.map(|choice| json!(choice));
        conversation = state
            .store
            .set_conversation_plugins(&id, value.as_ref())
            .await?
            .ok_or_else(|| ApiError::not_found("conversation", &id))?;
    }
    state.engine.conversation_changed(&user, &conversation);
    Ok(Json(json!({"conversation": conversation, "plugins": PluginChoice::of(&conversation)})))
}

/// Deletes a conversation with its messages and files
///
/// Fires the plugins' conversation-ended event.
#[utoipa::path(
    delete,
    path = "/api/conversations/{id}",
    tag = "conversations",
    operation_id = "delete_conversation",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "Not signed in", body = schemas::ApiError), (status = 404, description = "No such conversation of the caller's", body = schemas::ApiError))
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    owned(&state, &user, &id).await?;
    if let Some(conversation) = state.store.delete_conversation(&id).await? {
        state.engine.conversation_ended(&user, &conversation);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A conversation's messages, in order
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/messages",
    tag = "conversations",
    operation_id = "list_messages",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The messages", body = schemas::MessageList), (status = 401, description = "Not signed in", body = schemas::ApiError), (status = 404, description = "No such conversation of the caller's", body = schemas::ApiError))
)]
pub(crate) async fn messages(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    owned(&state, &user, &id).await?;
    Ok(Json(json!({"messages": state.store.list_messages(&id).await?})))
}

/// A message's new text.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct MessageEdit {
    /// Not empty.
    content: String,
}

/// Edits a message's text
///
/// Fires the plugins' message-edited event.
#[utoipa::path(
    patch,
    path = "/api/messages/{id}",
    tag = "conversations",
    operation_id = "edit_message",
    params(("id" = String, Path, description = "The message")),
    request_body = MessageEdit,
    responses(
        (status = 200, description = "The message as edited", body = schemas::MessageResponse),
        (status = 400, description = "`empty_message`, `invalid_text` (the message holds U+0000) or `invalid_json`", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such message of the caller's", body = schemas::ApiError),
        (status = 413, description = "Over the message limit, 64 KiB by default (`message_too_large`), or a body over 512 KiB (`body_too_large`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn edit_message(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(edit): ApiJson<MessageEdit>,
) -> Result<Json<Value>, ApiError> {
    owned_message(&state, &user, &id).await?;
    if edit.content.trim().is_empty() {
        return Err(ApiError::bad_request("empty_message", "a message cannot be empty; delete it instead"));
    }
    let limit = state.engine.max_message_bytes();
    if edit.content.len() > limit {
        return Err(plugboard_chat::ChatError::MessageTooLarge { bytes: edit.content.len(), limit }.into());
    }
    plugboard_chat::check_text("message", &edit.content)?;
    let message =
        state.store.edit_message(&id, &edit.content).await?.ok_or_else(|| ApiError::not_found("message", &id))?;
    state.engine.message_edited(&user, &message);
    Ok(Json(json!({"message": message})))
}

/// Deletes a message
///
/// Fires the plugins' message-deleted event.
#[utoipa::path(
    delete,
    path = "/api/messages/{id}",
    tag = "conversations",
    operation_id = "delete_message",
    params(("id" = String, Path, description = "The message")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such message of the caller's", body = schemas::ApiError),
    )
)]
pub(crate) async fn delete_message(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    owned_message(&state, &user, &id).await?;
    if let Some(message) = state.store.delete_message(&id).await? {
        state.engine.message_deleted(&user, &message);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Which plugins ran for the turn that produced a reply, and what they changed
#[utoipa::path(
    get,
    path = "/api/messages/{id}/trace",
    tag = "conversations",
    operation_id = "message_trace",
    params(("id" = String, Path, description = "The message")),
    responses(
        (status = 200, description = "The trace", body = schemas::TraceResponse),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such message of the caller's, or it has no trace", body = schemas::ApiError),
    )
)]
pub(crate) async fn trace(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    owned_message(&state, &user, &id).await?;
    let mut trace = state.store.trace(&id).await?.ok_or_else(|| ApiError::not_found("trace of message", &id))?;
    plugboard_chat::trace::expand(&mut trace.trace);
    Ok(Json(json!({"trace": trace})))
}

/// Every turn's plugin trace of a conversation, oldest first
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/audit",
    tag = "conversations",
    operation_id = "conversation_audit",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The timeline", body = schemas::Audit), (status = 401, description = "Not signed in", body = schemas::ApiError), (status = 404, description = "No such conversation of the caller's", body = schemas::ApiError))
)]
pub(crate) async fn audit(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    owned(&state, &user, &id).await?;
    let mut timeline = state.store.conversation_traces(&id).await?;
    for record in &mut timeline {
        plugboard_chat::trace::expand(&mut record.trace);
    }
    Ok(Json(json!({"conversation_id": id, "timeline": timeline})))
}

/// Attaches a file to a conversation
///
/// The body is the file, `Content-Type` its media type. Fires the plugins' file-attached
/// event.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/attachments",
    tag = "conversations",
    operation_id = "upload_attachment",
    params(
        ("id" = String, Path, description = "The conversation"),
        ("x-file-name" = String, Header, description = "The file's name: no slashes; percent-encoded UTF-8"),
    ),
    request_body(content(("application/octet-stream")), description = "The file"),
    responses(
        (status = 201, description = "The attachment", body = schemas::AttachmentResponse),
        (status = 400, description = "No or a bad file name (`invalid_file_name`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such conversation of the caller's", body = schemas::ApiError),
        (status = 413, description = "Over the server's upload limit (`file_too_large`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn upload(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    owned(&state, &user, &id).await?;
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                format!("the file is over the limit of {} bytes", state.config.max_upload_bytes),
            ));
        }
        Err(rejection) => return Err(ApiError::new(rejection.status(), "invalid_body", rejection.body_text())),
    };
    if body.len() > state.config.max_upload_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!("the file is {} bytes; the limit is {}", body.len(), state.config.max_upload_bytes),
        ));
    }
    // Percent-encoded UTF-8 is decoded, so names outside ASCII can travel in a header.
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(|raw| percent_encoding::percent_decode_str(raw.trim()).decode_utf8_lossy().into_owned())
        .map(|name| crate::disposition::sanitize_file_name(&name))
        .unwrap_or_default();
    let name = name.as_str();
    if name.is_empty() || name.contains(['/', '\\']) || name.len() > 255 {
        return Err(ApiError::bad_request(
            "invalid_file_name",
            "send the file name (no slashes; percent-encoded UTF-8 if it is not ASCII) in the X-File-Name header",
        ));
    }
    let media_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream");
    let attachment = state.store.add_attachment(&id, None, name, media_type, &body).await?;
    state.engine.file_attached(&user, &attachment);
    Ok((StatusCode::CREATED, Json(json!({"attachment": attachment}))).into_response())
}

/// A conversation's files
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/attachments",
    tag = "conversations",
    operation_id = "list_attachments",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The files", body = schemas::AttachmentList), (status = 401, description = "Not signed in", body = schemas::ApiError), (status = 404, description = "No such conversation of the caller's", body = schemas::ApiError))
)]
pub(crate) async fn attachments(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    owned(&state, &user, &id).await?;
    Ok(Json(json!({"attachments": state.store.list_attachments(&id).await?})))
}

/// Downloads an attached file
#[utoipa::path(
    get,
    path = "/api/attachments/{id}",
    tag = "conversations",
    operation_id = "download_attachment",
    params(("id" = String, Path, description = "The attachment")),
    responses(
        (status = 200, description = "The file, with its media type and name (`Content-Disposition`)",
         content(("application/octet-stream"))),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such file of the caller's", body = schemas::ApiError),
    )
)]
pub(crate) async fn download(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Some((attachment, bytes)) = state.store.attachment(&id).await? else {
        return Err(ApiError::not_found("attachment", &id));
    };
    owned(&state, &user, &attachment.conversation_id).await.map_err(|_| ApiError::not_found("attachment", &id))?;
    let disposition = crate::disposition::content_disposition(&attachment.file_name);
    Ok(([(header::CONTENT_TYPE, attachment.media_type)], [(header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}

/// Deletes an attached file
///
/// Fires the plugins' file-deleted event.
#[utoipa::path(
    delete,
    path = "/api/attachments/{id}",
    tag = "conversations",
    operation_id = "delete_attachment",
    params(("id" = String, Path, description = "The attachment")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such file of the caller's", body = schemas::ApiError),
    )
)]
pub(crate) async fn delete_attachment(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let Some((attachment, _)) = state.store.attachment(&id).await? else {
        return Err(ApiError::not_found("attachment", &id));
    };
    owned(&state, &user, &attachment.conversation_id).await.map_err(|_| ApiError::not_found("attachment", &id))?;
    if let Some(deleted) = state.store.delete_attachment(&id).await? {
        state.engine.file_deleted(&user, &deleted);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Every export format the enabled exporter plugins offer
#[utoipa::path(
    get,
    path = "/api/exports",
    tag = "conversations",
    operation_id = "export_formats",
    responses((status = 200, description = "The formats", body = schemas::ExportFormats), (status = 401, description = "Not signed in", body = schemas::ApiError))
)]
pub(crate) async fn export_formats(State(state): State<AppState>, AuthUser(_): AuthUser) -> Json<Value> {
    let mut formats = Vec::new();
    for plugin in state.registry.runtime().plugins() {
        if !plugin.is_enabled() || !plugin.implements(plugboard_host::Hook::Exporter) {
            continue;
        }
        for format in plugin.export_formats() {
            formats.push(json!({"plugin": plugin.id(), "format": format}));
        }
    }
    Json(json!({"formats": formats}))
}

/// Which exporter and format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// The exporter plugin's id.
    plugin: String,
    /// One of its formats' ids (`GET /api/exports` lists them).
    format: String,
}

/// Exports a conversation as a file made by an exporter plugin
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/export",
    tag = "conversations",
    operation_id = "export_conversation",
    params(("id" = String, Path, description = "The conversation"), ExportQuery),
    responses(
        (status = 200, description = "The file, with the format's media type and a file name (`Content-Disposition`)",
         content(("application/octet-stream"))),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such conversation, exporter (`exporter_not_found`) or format (`format_not_found`)", body = schemas::ApiError),
        (status = 422, description = "The exporter failed (`plugin_error`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let conversation = owned(&state, &user, &id).await?;
    let plugin = plugboard_manifest::PluginId::parse(&query.plugin)
        .ok()
        .and_then(|plugin_id| state.registry.plugin(&plugin_id))
        .filter(|plugin| plugin.is_enabled() && plugin.implements(plugboard_host::Hook::Exporter))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "exporter_not_found",
                format!("no enabled exporter plugin `{}`; GET /api/exports lists the formats", query.plugin),
            )
        })?;
    if !plugin.export_formats().iter().any(|format| format.id == query.format) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "format_not_found",
            format!("plugin `{}` has no export format `{}`", query.plugin, query.format),
        ));
    }
    let messages: Vec<_> = state.store.list_messages(&id).await?.iter().map(api_message).collect();
    let file = plugin.export(&query.format, api_conversation(&conversation), messages).await?;
    let disposition = crate::disposition::content_disposition(&file.file_name);
    Ok(([(header::CONTENT_TYPE, file.media_type)], [(header::CONTENT_DISPOSITION, disposition)], file.data)
        .into_response())
}
