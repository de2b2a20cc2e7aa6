//! How chat rows map to the store's types and back: new ids, case folding, search
//! patterns, page cursors, role and status names, and reading each kind of row.

use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{Sqlite, SqliteRow};
use uuid::Uuid;

use super::super::query_error;
use crate::{ApiToken, Attachment, Conversation, Message, MessageStatus, Role, StoreError, TraceRecord, User};

/// A new id: a UUIDv7 (time-ordered), hyphenated.
pub(super) fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// The key that makes names and titles compare regardless of case: lower case, one
/// character at a time, so that the key of a part of a text is a part of the text's key.
pub(super) fn fold_case(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// A `LIKE` pattern (with `ESCAPE '\'`) matching texts that contain `text` literally.
pub(super) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// The `next` cursor of a page that ends with `last`.
pub(super) fn encode_cursor(last: &Conversation) -> String {
    format!("{}.{}", last.updated_at_ms, last.id)
}

/// The `(updated_at_ms, id)` of the last conversation of the previous page.
pub(super) fn decode_cursor(cursor: &str) -> Result<(i64, &str), StoreError> {
    let decoded = cursor.split_once('.').and_then(|(updated_at_ms, id)| {
        let updated_at_ms = updated_at_ms.parse::<i64>().ok()?;
        let canonical = Uuid::try_parse(id).ok()?.to_string() == id;
        canonical.then_some((updated_at_ms, id))
    });
    decoded.ok_or_else(|| StoreError::InvalidInput {
        what: "cursor",
        message: format!("`{cursor}` is not a `next` value of a previous page; start again from the first page"),
    })
}

pub(super) fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

pub(super) fn parse_role(name: &str) -> Option<Role> {
    Some(match name {
        "system" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return None,
    })
}

pub(super) fn status_name(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Complete => "complete",
        MessageStatus::Streaming => "streaming",
        MessageStatus::Partial => "partial",
    }
}

pub(super) fn parse_status(name: &str) -> Option<MessageStatus> {
    Some(match name {
        "complete" => MessageStatus::Complete,
        "streaming" => MessageStatus::Streaming,
        "partial" => MessageStatus::Partial,
        _ => return None,
    })
}

/// One column of a row.
pub(super) fn column<'r, T>(row: &'r SqliteRow, name: &str, operation: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name).map_err(query_error(operation, None))
}

/// A nullable JSON text column of the `what` with this `id`.
pub(super) fn json_column(
    row: &SqliteRow,
    name: &'static str,
    (what, id): (&'static str, &str),
    operation: &'static str,
) -> Result<Option<Value>, StoreError> {
    let text: Option<String> = column(row, name, operation)?;
    text.map(|text| serde_json::from_str(&text)).transpose().map_err(|error| StoreError::CorruptRow {
        what,
        id: id.to_owned(),
        message: format!("its {name} is not JSON ({error})"),
    })
}

pub(super) fn read_user(row: &SqliteRow, operation: &'static str) -> Result<User, StoreError> {
    Ok(User {
        id: column(row, "id", operation)?,
        username: column(row, "username", operation)?,
        is_admin: column(row, "is_admin", operation)?,
        created_at_ms: column(row, "created_at_ms", operation)?,
        disabled_at_ms: column(row, "disabled_at_ms", operation)?,
    })
}

pub(super) fn read_token(row: &SqliteRow, operation: &'static str) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: column(row, "id", operation)?,
        user_id: column(row, "user_id", operation)?,
        name: column(row, "name", operation)?,
        created_at_ms: column(row, "created_at_ms", operation)?,
        last_used_at_ms: column(row, "last_used_at_ms", operation)?,
    })
}

pub(super) fn read_conversation(row: &SqliteRow, operation: &'static str) -> Result<Conversation, StoreError> {
    let id: String = column(row, "id", operation)?;
    Ok(Conversation {
        user_id: column(row, "user_id", operation)?,
        title: column(row, "title", operation)?,
        plugins: json_column(row, "plugins", ("conversation", &id), operation)?,
        created_at_ms: column(row, "created_at_ms", operation)?,
        updated_at_ms: column(row, "updated_at_ms", operation)?,
        id,
    })
}

pub(super) fn read_message(row: &SqliteRow, operation: &'static str) -> Result<Message, StoreError> {
    let id: String = column(row, "id", operation)?;
    let corrupt = |message: String| StoreError::CorruptRow { what: "message", id: id.clone(), message };
    let role: String = column(row, "role", operation)?;
    let role = parse_role(&role).ok_or_else(|| corrupt(format!("its role `{role}` is not a role")))?;
    let status: String = column(row, "status", operation)?;
    let status = parse_status(&status).ok_or_else(|| corrupt(format!("its status `{status}` is not a status")))?;
    Ok(Message {
        conversation_id: column(row, "conversation_id", operation)?,
        role,
        author: column(row, "author", operation)?,
        content: column(row, "content", operation)?,
        data: json_column(row, "data", ("message", &id), operation)?,
        status,
        created_at_ms: column(row, "created_at_ms", operation)?,
        edited_at_ms: column(row, "edited_at_ms", operation)?,
        deleted_at_ms: column(row, "deleted_at_ms", operation)?,
        id,
    })
}

pub(super) fn read_attachment(row: &SqliteRow, operation: &'static str) -> Result<Attachment, StoreError> {
    let id: String = column(row, "id", operation)?;
    let size: i64 = column(row, "size", operation)?;
    let size = u64::try_from(size).map_err(|_| StoreError::CorruptRow {
        what: "attachment",
        id: id.clone(),
        message: format!("its size {size} is negative"),
    })?;
    Ok(Attachment {
        conversation_id: column(row, "conversation_id", operation)?,
        message_id: column(row, "message_id", operation)?,
        file_name: column(row, "file_name", operation)?,
        media_type: column(row, "media_type", operation)?,
        size,
        created_at_ms: column(row, "created_at_ms", operation)?,
        id,
    })
}

pub(super) fn read_trace(row: &SqliteRow, operation: &'static str) -> Result<TraceRecord, StoreError> {
    let message_id: String = column(row, "message_id", operation)?;
    let trace = json_column(row, "trace", ("trace", &message_id), operation)?.unwrap_or(Value::Null);
    Ok(TraceRecord {
        conversation_id: column(row, "conversation_id", operation)?,
        created_at_ms: column(row, "created_at_ms", operation)?,
        trace,
        message_id,
    })
}

pub(super) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|error| error.is_unique_violation())
}
