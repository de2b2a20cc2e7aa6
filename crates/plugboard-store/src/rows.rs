//! How the store's types map to rows and back, the same in every backend: new ids, case
//! folding, search patterns, page cursors, expiry times, role and status names, and
//! reading each kind of row ([`StoreRow`] reads a column of either database's rows).

use std::time::Duration;

use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::{
    AccountChange, AccountEvent, ApiToken, Attachment, Conversation, FaultEntry, Message, MessageStatus, PluginRecord,
    Role, RunOutcome, RunTrigger, StoreError, TaskRun, TaskState, TraceRecord, User,
};

/// A row of either backend, read one column at a time by name.
pub(crate) trait StoreRow {
    /// The column `name`, decoded as `T`.
    fn get<T: ColumnValue>(&self, name: &str) -> Result<T, sqlx::Error>;
}

/// A Rust type the store reads from columns of both backends.
pub(crate) trait ColumnValue: Sized {
    fn from_sqlite(row: &SqliteRow, name: &str) -> Result<Self, sqlx::Error>;
    fn from_postgres(row: &PgRow, name: &str) -> Result<Self, sqlx::Error>;
}

macro_rules! column_values {
    ($($type:ty),*) => {$(
        impl ColumnValue for $type {
            fn from_sqlite(row: &SqliteRow, name: &str) -> Result<Self, sqlx::Error> {
                row.try_get(name)
            }
            fn from_postgres(row: &PgRow, name: &str) -> Result<Self, sqlx::Error> {
                row.try_get(name)
            }
        }
    )*};
}

column_values!(String, Option<String>, i64, Option<i64>, bool, Vec<u8>);

impl StoreRow for SqliteRow {
    fn get<T: ColumnValue>(&self, name: &str) -> Result<T, sqlx::Error> {
        T::from_sqlite(self, name)
    }
}

impl StoreRow for PgRow {
    fn get<T: ColumnValue>(&self, name: &str) -> Result<T, sqlx::Error> {
        T::from_postgres(self, name)
    }
}

/// Maps a database error to [`StoreError::Query`], or to [`StoreError::InvalidInput`] when
/// PostgreSQL refused a text holding U+0000 (NUL), which its TEXT cannot keep: the callers
/// refuse or remove it before, so this is the backstop for text that got past them, and a
/// caller's mistake, not the database failing.
pub(crate) fn query_error(operation: &'static str, plugin: Option<&str>) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| {
        if is_nul_in_text(&error) {
            return StoreError::InvalidInput {
                what: "text",
                message: format!(
                    "cannot {operation}{}: a text holds a NUL character (U+0000), which the database cannot store; \
                     remove the NUL character (U+0000) and try again",
                    plugin.map(|plugin| format!(" of plugin `{plugin}`")).unwrap_or_default()
                ),
            };
        }
        StoreError::Query { operation, plugin: plugin.map(str::to_owned), source: error.into() }
    }
}

/// PostgreSQL's "invalid byte sequence for encoding \"UTF8\": 0x00" (SQLSTATE 22021,
/// `character_not_in_repertoire`): the only byte sequence a Rust string can send that it
/// refuses is U+0000.
fn is_nul_in_text(error: &sqlx::Error) -> bool {
    error.as_database_error().and_then(|error| error.code()).is_some_and(|code| code == "22021")
}

/// When an entry stored at `now_ms` with `ttl` expires. A part of a millisecond counts as
/// a whole one, so only a zero `ttl` stores an entry that is expired at once.
pub(crate) fn expires_at_ms(now_ms: i64, ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|ttl| {
        let ttl_ms = i64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
        now_ms.saturating_add(ttl_ms)
    })
}

/// The newest touch time of a `streaming` message that is stale at `now_ms`: one touched
/// at or before it has not been written for `stale_after`.
pub(crate) fn stale_before_ms(now_ms: i64, stale_after: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn is_live(expires_at_ms: Option<i64>, now_ms: i64) -> bool {
    expires_at_ms.is_none_or(|expires_at_ms| expires_at_ms > now_ms)
}

/// A `LIMIT` value: both databases take a signed 64-bit integer.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The least string greater than every string that starts with `prefix` (in byte order,
/// which for UTF-8 is code point order), or `None` when there is none (an empty prefix, or
/// one of only `char::MAX`). Then `key >= prefix AND key < bound` selects exactly the keys
/// with the prefix, whatever characters it holds, and walks the primary key.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'), // skip the surrogates, which are not chars
            last => char::from_u32(u32::from(last) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The columns of a plugin record, in the order both backends select them.
macro_rules! plugin_record_columns {
    () => {
        "plugin, enabled, disabled_reason, settings, fail_mode, updated_at_ms"
    };
}
pub(crate) use plugin_record_columns;

pub(crate) fn parse_plugin_record(row: &impl StoreRow, operation: &'static str) -> Result<PluginRecord, StoreError> {
    let plugin: String = row.get("plugin").map_err(query_error(operation, None))?;
    let column = |error| query_error(operation, Some(&plugin))(error);
    let settings: Option<String> = row.get("settings").map_err(column)?;
    let settings = settings.map(|settings| serde_json::from_str(&settings)).transpose().map_err(|error| {
        StoreError::Corrupt { plugin: plugin.clone(), what: "settings", message: format!("not JSON ({error})") }
    })?;
    Ok(PluginRecord {
        enabled: row.get("enabled").map_err(column)?,
        disabled_reason: row.get("disabled_reason").map_err(column)?,
        settings,
        fail_mode: row.get("fail_mode").map_err(column)?,
        updated_at_ms: row.get("updated_at_ms").map_err(column)?,
        plugin,
    })
}

pub(crate) fn parse_fault(row: &impl StoreRow) -> Result<FaultEntry, sqlx::Error> {
    Ok(FaultEntry {
        plugin: row.get("plugin")?,
        version: row.get("version")?,
        at_ms: row.get("at_ms")?,
        error: row.get("error")?,
    })
}

/// The columns of a task's state.
pub(crate) const TASK_STATE_COLUMNS: &str = "plugin, task, schedule, next_due_ms, last_due_ms, running_until_ms";

pub(crate) fn read_task_state(row: &impl StoreRow) -> Result<TaskState, sqlx::Error> {
    Ok(TaskState {
        plugin: row.get("plugin")?,
        task: row.get("task")?,
        schedule: row.get("schedule")?,
        next_due_ms: row.get("next_due_ms")?,
        last_due_ms: row.get("last_due_ms")?,
        running_until_ms: row.get("running_until_ms")?,
    })
}

pub(crate) fn trigger_name(trigger: RunTrigger) -> &'static str {
    match trigger {
        RunTrigger::Schedule => "schedule",
        RunTrigger::CatchUp => "catch-up",
        RunTrigger::Manual => "manual",
    }
}

pub(crate) fn outcome_name(outcome: RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Ok => "ok",
        RunOutcome::Error => "error",
        RunOutcome::Deadline => "deadline",
        RunOutcome::Skipped => "skipped",
    }
}

pub(crate) fn read_task_run(row: &impl StoreRow) -> Result<TaskRun, StoreError> {
    let plugin: String = row.get("plugin").map_err(query_error("read the task runs", None))?;
    let column = |error| query_error("read the task runs", Some(&plugin))(error);
    let corrupt = |what: &'static str, value: &str| StoreError::Corrupt {
        plugin: plugin.clone(),
        what,
        message: format!("`{value}` is not a known value"),
    };
    let trigger: String = row.get("trigger").map_err(column)?;
    let trigger = match trigger.as_str() {
        "schedule" => RunTrigger::Schedule,
        "catch-up" => RunTrigger::CatchUp,
        "manual" => RunTrigger::Manual,
        other => return Err(corrupt("task run trigger", other)),
    };
    let outcome: String = row.get("outcome").map_err(column)?;
    let outcome = match outcome.as_str() {
        "ok" => RunOutcome::Ok,
        "error" => RunOutcome::Error,
        "deadline" => RunOutcome::Deadline,
        "skipped" => RunOutcome::Skipped,
        other => return Err(corrupt("task run outcome", other)),
    };
    Ok(TaskRun {
        task: row.get("task").map_err(column)?,
        trigger,
        scheduled_at_ms: row.get("scheduled_at_ms").map_err(column)?,
        started_at_ms: row.get("started_at_ms").map_err(column)?,
        duration_ms: row.get("duration_ms").map_err(column)?,
        outcome,
        error: row.get("error").map_err(column)?,
        plugin,
    })
}

/// A new id: a UUIDv7 (time-ordered), hyphenated.
pub(crate) fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// The key that makes names and titles compare regardless of case: lower case, one
/// character at a time, so that the key of a part of a text is a part of the text's key.
pub(crate) fn fold_case(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// A `LIKE` pattern (with `ESCAPE '\'`) matching texts that contain `text` literally.
pub(crate) fn contains_pattern(text: &str) -> String {
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
pub(crate) fn encode_cursor(last: &Conversation) -> String {
    format!("{}.{}", last.updated_at_ms, last.id)
}

/// The `(updated_at_ms, id)` of the last conversation of the previous page.
pub(crate) fn decode_cursor(cursor: &str) -> Result<(i64, &str), StoreError> {
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

pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

pub(crate) fn parse_role(name: &str) -> Option<Role> {
    Some(match name {
        "system" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return None,
    })
}

pub(crate) fn status_name(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Complete => "complete",
        MessageStatus::Streaming => "streaming",
        MessageStatus::Partial => "partial",
    }
}

pub(crate) fn parse_status(name: &str) -> Option<MessageStatus> {
    Some(match name {
        "complete" => MessageStatus::Complete,
        "streaming" => MessageStatus::Streaming,
        "partial" => MessageStatus::Partial,
        _ => return None,
    })
}

/// One column of a row.
pub(crate) fn column<T: ColumnValue>(
    row: &impl StoreRow,
    name: &str,
    operation: &'static str,
) -> Result<T, StoreError> {
    row.get(name).map_err(query_error(operation, None))
}

/// A nullable JSON text column of the `what` with this `id`.
pub(crate) fn json_column(
    row: &impl StoreRow,
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

pub(crate) fn read_user(row: &impl StoreRow, operation: &'static str) -> Result<User, StoreError> {
    Ok(User {
        id: column(row, "id", operation)?,
        username: column(row, "username", operation)?,
        is_admin: column(row, "is_admin", operation)?,
        created_at_ms: column(row, "created_at_ms", operation)?,
        disabled_at_ms: column(row, "disabled_at_ms", operation)?,
    })
}

pub(crate) fn read_token(row: &impl StoreRow, operation: &'static str) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: column(row, "id", operation)?,
        user_id: column(row, "user_id", operation)?,
        name: column(row, "name", operation)?,
        created_at_ms: column(row, "created_at_ms", operation)?,
        last_used_at_ms: column(row, "last_used_at_ms", operation)?,
    })
}

pub(crate) fn read_conversation(row: &impl StoreRow, operation: &'static str) -> Result<Conversation, StoreError> {
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

pub(crate) fn read_message(row: &impl StoreRow, operation: &'static str) -> Result<Message, StoreError> {
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

pub(crate) fn read_attachment(row: &impl StoreRow, operation: &'static str) -> Result<Attachment, StoreError> {
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

pub(crate) fn read_trace(row: &impl StoreRow, operation: &'static str) -> Result<TraceRecord, StoreError> {
    let message_id: String = column(row, "message_id", operation)?;
    let trace = json_column(row, "trace", ("trace", &message_id), operation)?.unwrap_or(Value::Null);
    Ok(TraceRecord {
        conversation_id: column(row, "conversation_id", operation)?,
        created_at_ms: column(row, "created_at_ms", operation)?,
        trace,
        message_id,
    })
}

/// Maps the error of inserting user `username`: a taken name is a conflict.
pub(crate) fn insert_user_error(username: &str, operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| {
        if is_unique_violation(&error) {
            StoreError::Conflict { what: "username", value: username.to_owned() }
        } else {
            query_error(operation, None)(error)
        }
    }
}

/// Which parent is missing when an insert under `conversation_id` (and, when given, one
/// of its messages) inserted nothing, given whether the conversation exists.
pub(crate) fn missing_parent(conversation_id: &str, message_id: Option<&str>, conversation_exists: bool) -> StoreError {
    match message_id {
        Some(message_id) if conversation_exists => StoreError::NotFound { what: "message", id: message_id.to_owned() },
        _ => StoreError::NotFound { what: "conversation", id: conversation_id.to_owned() },
    }
}

/// The account events of `rows` (`seq, kind, user_id, username, created_at_ms`, as a
/// `DELETE ... RETURNING` gave them, in no order), oldest first.
pub(crate) fn read_account_events(
    rows: &[impl StoreRow],
    operation: &'static str,
) -> Result<Vec<AccountEvent>, StoreError> {
    let mut events = rows
        .iter()
        .map(|row| {
            let kind: String = column(row, "kind", operation)?;
            let change = AccountChange::from_name(&kind).ok_or_else(|| StoreError::Query {
                operation,
                plugin: None,
                source: format!("unknown account event `{kind}`").into(),
            })?;
            let event = AccountEvent {
                change,
                user_id: column(row, "user_id", operation)?,
                username: column(row, "username", operation)?,
                at_ms: column(row, "created_at_ms", operation)?,
            };
            Ok((column::<i64>(row, "seq", operation)?, event))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    events.sort_by_key(|(seq, _)| *seq);
    Ok(events.into_iter().map(|(_, event)| event).collect())
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|error| error.is_unique_violation())
}
