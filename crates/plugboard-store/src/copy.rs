//! Copying a SQLite installation into PostgreSQL ([`copy_database`]), for the operator who
//! outgrows SQLite: every table of [`COPIED_TABLES`], parents first, read from one SQLite
//! snapshot in keyset batches (never a whole table in memory: attachments hold files) and
//! inserted into PostgreSQL one transaction per batch, identity columns keeping their
//! values and their sequences moved past them; then every table's rows counted on both
//! sides. Values are copied as stored: secret settings stay sealed under the server key.
//!
//! Before anything is written, the target must be empty (unless
//! [`CopyOptions::into_non_empty`]) and no SQLite text may hold a NUL character, which
//! PostgreSQL text cannot: the copy then either goes through or names the row to fix
//! without having started.

use futures_util::TryStreamExt;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{PgStore, SqliteStore, StoreError};

/// Rows read and inserted at a time by default ([`CopyOptions::batch_rows`]).
pub const DEFAULT_BATCH_ROWS: usize = 500;

/// A batch ends early once its values reach this many bytes, so a batch of attachments
/// holds a few files at a time; a larger single row is a batch of its own.
const BATCH_BYTES: usize = 8 << 20;

/// The tables [`copy_database`] copies, parents before the rows that refer to them: the one
/// list the copy, the check that the target is empty and the final counts go through.
///
/// Every table of both schemas is here or in [`NOT_COPIED_TABLES`] (a test checks it):
/// a migration that adds a table adds it to one of the two lists.
pub const COPIED_TABLES: &[CopiedTable] = &[
    CopiedTable {
        name: "plugin_state",
        columns: &[
            text("plugin"),
            boolean("enabled"),
            text("disabled_reason"),
            text("settings"),
            text("fail_mode"),
            integer("updated_at_ms"),
        ],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["plugin"],
    },
    CopiedTable {
        name: "plugin_packages",
        columns: &[
            text("plugin"),
            text("version"),
            text("sha256"),
            bytes("bytes"),
            text("signer_fingerprint"),
            text("signer"),
            boolean("trusted"),
            boolean("removed"),
            integer("updated_at_ms"),
        ],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["plugin"],
    },
    CopiedTable {
        name: "trusted_keys",
        columns: &[text("fingerprint"), text("key_text"), boolean("removed"), integer("updated_at_ms")],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["fingerprint"],
    },
    // Secrets are copied sealed, as stored.
    CopiedTable {
        name: "mcp_servers",
        columns: &[text("name"), text("config"), text("secrets"), integer("created_at_ms"), integer("updated_at_ms")],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["name"],
    },
    CopiedTable {
        name: "plugin_faults",
        columns: &[integer("id"), text("plugin"), text("version"), integer("at_ms"), text("error")],
        keyset: Keyset::Rowid,
        identity: Some("id"),
        primary_key: &["id"],
    },
    CopiedTable {
        name: "plugin_kv",
        // The key is TEXT in SQLite and its UTF-8 bytes (BYTEA) in PostgreSQL.
        columns: &[
            text("plugin"),
            Column { sqlite: "key", postgres: "key", kind: Kind::TextAsBytes },
            bytes("value"),
            integer("expires_at_ms"),
        ],
        keyset: Keyset::PrimaryKey,
        identity: None,
        primary_key: &["plugin", "key"],
    },
    CopiedTable {
        name: "task_state",
        columns: &[
            text("plugin"),
            text("task"),
            text("schedule"),
            integer("next_due_ms"),
            integer("last_due_ms"),
            integer("running_until_ms"),
        ],
        keyset: Keyset::PrimaryKey,
        identity: None,
        primary_key: &["plugin", "task"],
    },
    CopiedTable {
        name: "task_runs",
        columns: &[
            integer("id"),
            text("plugin"),
            text("task"),
            text("trigger"),
            integer("scheduled_at_ms"),
            integer("started_at_ms"),
            integer("duration_ms"),
            text("outcome"),
            text("error"),
        ],
        keyset: Keyset::Rowid,
        identity: Some("id"),
        primary_key: &["id"],
    },
    CopiedTable {
        name: "users",
        columns: &[
            text("id"),
            text("username"),
            text("username_key"),
            text("password_hash"),
            boolean("is_admin"),
            integer("created_at_ms"),
            integer("disabled_at_ms"),
        ],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["id"],
    },
    CopiedTable {
        name: "sessions",
        // A session's number (what a person ends it by) is SQLite's rowid, PostgreSQL's `id`.
        columns: &[
            Column { sqlite: "rowid", postgres: "id", kind: Kind::Integer },
            text("token_hash"),
            text("user_id"),
            integer("created_at_ms"),
            integer("expires_at_ms"),
        ],
        keyset: Keyset::Rowid,
        identity: Some("id"),
        primary_key: &["token_hash"],
    },
    CopiedTable {
        name: "api_tokens",
        columns: &[
            text("id"),
            text("user_id"),
            text("name"),
            text("token_hash"),
            integer("created_at_ms"),
            integer("last_used_at_ms"),
        ],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["id"],
    },
    CopiedTable {
        name: "conversations",
        columns: &[
            text("id"),
            text("user_id"),
            text("title"),
            text("title_key"),
            text("plugins"),
            integer("created_at_ms"),
            integer("updated_at_ms"),
        ],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["id"],
    },
    CopiedTable {
        // Inserting a message moves its conversation's `updated_at_ms` up to the message's
        // time (a trigger); the conversation copied before it is never older than its
        // messages, so the trigger changes nothing.
        name: "messages",
        columns: &[
            integer("seq"),
            text("id"),
            text("conversation_id"),
            text("role"),
            text("author"),
            text("content"),
            text("data"),
            text("status"),
            integer("created_at_ms"),
            integer("edited_at_ms"),
            integer("deleted_at_ms"),
            integer("touched_at_ms"),
        ],
        keyset: Keyset::Rowid,
        identity: Some("seq"),
        primary_key: &["seq"],
    },
    CopiedTable {
        name: "attachments",
        columns: &[
            text("id"),
            text("conversation_id"),
            text("message_id"),
            text("file_name"),
            text("media_type"),
            integer("size"),
            integer("created_at_ms"),
            bytes("bytes"),
        ],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["id"],
    },
    CopiedTable {
        name: "traces",
        columns: &[text("message_id"), text("conversation_id"), text("trace"), integer("created_at_ms")],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["message_id"],
    },
    CopiedTable {
        name: "tool_policies",
        columns: &[text("key"), text("policy"), integer("updated_at_ms")],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["key"],
    },
    CopiedTable {
        name: "tool_approvals",
        columns: &[
            text("id"),
            text("conversation_id"),
            text("user_id"),
            text("message_id"),
            text("call_id"),
            text("tool"),
            text("source"),
            text("arguments"),
            text("reason"),
            text("status"),
            text("decided_arguments"),
            text("decision_reason"),
            integer("created_at_ms"),
            integer("expires_at_ms"),
            integer("decided_at_ms"),
        ],
        keyset: Keyset::Rowid,
        identity: None,
        primary_key: &["id"],
    },
    CopiedTable {
        name: "account_events",
        columns: &[integer("seq"), text("kind"), text("user_id"), text("username"), integer("created_at_ms")],
        keyset: Keyset::Rowid,
        identity: Some("seq"),
        primary_key: &["seq"],
    },
];

/// Tables of the schema the copy leaves out, because what they hold is transient: a
/// running server rebuilds it (`rate_limits`, migration 0007: the servers' shared rate
/// limit counters, which start again full; `login_failures`, migration 0008: failed-login
/// counts, which start again from zero). Each database's `_sqlx_migrations` is its own and
/// is not listed.
pub const NOT_COPIED_TABLES: &[&str] = &["rate_limits", "login_failures"];

/// One table [`copy_database`] copies, with how its columns map between the two schemas.
#[derive(Debug)]
pub struct CopiedTable {
    /// Its name, the same in both databases.
    pub name: &'static str,
    /// Every column, in both schemas.
    columns: &'static [Column],
    /// How batches go through the SQLite table.
    keyset: Keyset,
    /// The PostgreSQL identity column (`GENERATED ALWAYS AS IDENTITY`), if any: its values
    /// are kept and its sequence moved past them.
    identity: Option<&'static str>,
    /// The PostgreSQL primary key (names a row in errors; the rows kept by
    /// [`CopyOptions::into_non_empty`] are those whose key is there already).
    primary_key: &'static [&'static str],
}

impl CopiedTable {
    /// Its columns as PostgreSQL names them, in copying order.
    pub fn postgres_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|column| column.postgres)
    }
}

/// A column: its SQLite expression, its PostgreSQL name and how the value converts.
#[derive(Debug)]
struct Column {
    sqlite: &'static str,
    postgres: &'static str,
    kind: Kind,
}

/// How a SQLite value becomes a PostgreSQL one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// TEXT to TEXT (no NUL characters).
    Text,
    /// INTEGER to BIGINT.
    Integer,
    /// INTEGER 0/1 to BOOLEAN.
    Boolean,
    /// BLOB to BYTEA.
    Bytes,
    /// TEXT to BYTEA, its UTF-8 bytes.
    TextAsBytes,
}

/// How the copy walks a SQLite table in batches.
#[derive(Debug, Clone, Copy)]
enum Keyset {
    /// By rowid (every table but the `WITHOUT ROWID` ones).
    Rowid,
    /// By the primary key's columns, TEXT in SQLite (the `WITHOUT ROWID` tables).
    PrimaryKey,
}

const fn text(name: &'static str) -> Column {
    Column { sqlite: name, postgres: name, kind: Kind::Text }
}

const fn integer(name: &'static str) -> Column {
    Column { sqlite: name, postgres: name, kind: Kind::Integer }
}

const fn boolean(name: &'static str) -> Column {
    Column { sqlite: name, postgres: name, kind: Kind::Boolean }
}

const fn bytes(name: &'static str) -> Column {
    Column { sqlite: name, postgres: name, kind: Kind::Bytes }
}

/// How [`copy_database`] copies.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Copy into a database that already holds rows: a row whose primary key is there
    /// already is left as it is there (not compared), every other row is added. This
    /// finishes a copy that was interrupted. Default: `false`, a target with any row in a
    /// copied table is refused before anything is written.
    pub into_non_empty: bool,
    /// Rows read and inserted at a time (fewer when they are large). Default:
    /// [`DEFAULT_BATCH_ROWS`].
    pub batch_rows: usize,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions { into_non_empty: false, batch_rows: DEFAULT_BATCH_ROWS }
    }
}

/// Where a copy stands, told to the caller's progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyProgress {
    /// The copy of `table`, of `rows` rows, begins.
    Started {
        /// The table.
        table: &'static str,
        /// Its rows in the SQLite database.
        rows: u64,
    },
    /// `done` rows of `table` are copied (or found there already).
    Copied {
        /// The table.
        table: &'static str,
        /// Rows done so far.
        done: u64,
    },
    /// Every row of `table` is done.
    Finished {
        /// The table.
        table: &'static str,
    },
}

/// What [`copy_database`] did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    /// The table.
    pub table: &'static str,
    /// Its rows in the SQLite database.
    pub source_rows: u64,
    /// Rows inserted into PostgreSQL.
    pub copied: u64,
    /// Rows whose primary key was in PostgreSQL already, left as they were there
    /// ([`CopyOptions::into_non_empty`]; otherwise 0).
    pub already_there: u64,
    /// Its rows in PostgreSQL after the copy.
    pub target_rows: u64,
}

/// What [`copy_database`] did: one entry per table of [`COPIED_TABLES`], in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The tables.
    pub tables: Vec<TableCopy>,
}

/// Copies every table of [`COPIED_TABLES`] from `from` into `to`, telling `progress` as it
/// goes. Both stores are open, so both schemas are this build's. Nothing else should
/// write to either database meanwhile: stop the servers on them first (rows a server adds
/// to the SQLite database after the copy began are not copied; the final counts catch
/// rows added to PostgreSQL).
///
/// Refuses, before writing anything, a target with rows in a copied table (unless
/// [`CopyOptions::into_non_empty`]: [`StoreError::TargetNotEmpty`]) and a SQLite text
/// value with a NUL character ([`StoreError::CopyValue`], naming table, row and column).
/// At the end every table's rows are counted in PostgreSQL: a count that does not add up
/// is [`StoreError::CopyMismatch`].
pub async fn copy_database(
    from: &SqliteStore,
    to: &PgStore,
    options: &CopyOptions,
    progress: &mut (dyn FnMut(CopyProgress) + Send),
) -> Result<CopyReport, StoreError> {
    let target = to.pool();
    // One read transaction for everything: the copy is of one moment of the SQLite
    // database (WAL lets a server go on writing beside it).
    let mut snapshot = from.read_pool().begin().await.map_err(|error| StoreError::Query {
        operation: "begin reading the SQLite database",
        plugin: None,
        source: error.into(),
    })?;
    let source: &mut SqliteConnection = &mut snapshot;

    let mut counts = Vec::with_capacity(COPIED_TABLES.len());
    for table in COPIED_TABLES {
        let source_rows = count_sqlite(source, table).await?;
        let target_rows = count_postgres(target, table).await?;
        if target_rows > 0 && !options.into_non_empty {
            return Err(StoreError::TargetNotEmpty { table: table.name, rows: target_rows });
        }
        counts.push((source_rows, target_rows));
    }
    for table in COPIED_TABLES {
        find_nul_characters(source, table).await?;
    }

    let mut report = CopyReport { tables: Vec::with_capacity(COPIED_TABLES.len()) };
    for (table, (source_rows, target_before)) in COPIED_TABLES.iter().zip(counts) {
        progress(CopyProgress::Started { table: table.name, rows: source_rows });
        let (read, copied) = copy_table(source, target, table, options, &mut *progress).await?;
        if let Some(column) = table.identity {
            move_sequence_past(target, table, column).await?;
        }
        progress(CopyProgress::Finished { table: table.name });
        if read != source_rows {
            return Err(StoreError::CopyMismatch { table: table.name, expected: source_rows, found: read });
        }
        report.tables.push(TableCopy {
            table: table.name,
            source_rows,
            copied,
            already_there: read - copied,
            target_rows: target_before,
        });
    }
    // The counts, once every table is in: each holds what it had and what was inserted.
    for (table, entry) in COPIED_TABLES.iter().zip(&mut report.tables) {
        let expected = entry.target_rows + entry.copied;
        let found = count_postgres(target, table).await?;
        if found != expected {
            return Err(StoreError::CopyMismatch { table: table.name, expected, found });
        }
        entry.target_rows = found;
    }
    // Read-only: ending it changes nothing.
    let _ = snapshot.rollback().await;
    Ok(report)
}

/// A value between the two databases.
#[derive(Debug)]
enum Value {
    Text(Option<String>),
    Integer(Option<i64>),
    Boolean(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

impl Value {
    /// About how much memory it takes, for the batch's byte budget.
    fn size(&self) -> usize {
        match self {
            Value::Text(text) => text.as_ref().map_or(0, String::len) + 8,
            Value::Bytes(bytes) => bytes.as_ref().map_or(0, Vec::len) + 8,
            Value::Integer(_) | Value::Boolean(_) => 8,
        }
    }

    /// As an error names a row by it.
    fn describe(&self) -> String {
        match self {
            Value::Text(Some(text)) => format!("'{}'", text.escape_debug()),
            Value::Integer(Some(number)) => number.to_string(),
            Value::Boolean(Some(flag)) => flag.to_string(),
            Value::Bytes(Some(bytes)) => format!("'{}'", String::from_utf8_lossy(bytes).escape_debug()),
            _ => "NULL".to_owned(),
        }
    }
}

/// Copies one table; returns the rows read and the rows inserted.
async fn copy_table(
    source: &mut SqliteConnection,
    target: &PgPool,
    table: &CopiedTable,
    options: &CopyOptions,
    progress: &mut (dyn FnMut(CopyProgress) + Send),
) -> Result<(u64, u64), StoreError> {
    let batch_rows = options.batch_rows.max(1);
    let mut after = BatchStart::First;
    let (mut read, mut copied) = (0u64, 0u64);
    loop {
        let batch = read_batch(source, table, &after, batch_rows).await?;
        if batch.rows.is_empty() {
            break;
        }
        copied += insert_batch(target, table, &batch.rows, options.into_non_empty).await?;
        read += batch.rows.len() as u64;
        progress(CopyProgress::Copied { table: table.name, done: read });
        let full = batch.rows.len() == batch_rows || batch.stopped_at_budget;
        after = batch.next;
        if !full {
            break;
        }
    }
    Ok((read, copied))
}

/// Where a batch starts in the SQLite table.
#[derive(Debug)]
enum BatchStart {
    First,
    AfterRowid(i64),
    AfterKey(Vec<String>),
}

/// Rows read from SQLite, and where the next batch starts.
#[derive(Debug)]
struct Batch {
    rows: Vec<Vec<Value>>,
    next: BatchStart,
    stopped_at_budget: bool,
}

/// The SELECT of a batch: the columns, after `start`, in keyset order.
fn batch_sql(table: &CopiedTable, start: &BatchStart) -> String {
    let columns = table.columns.iter().map(|column| column.sqlite).collect::<Vec<_>>().join(", ");
    match table.keyset {
        Keyset::Rowid => {
            let condition = if matches!(start, BatchStart::First) { "" } else { "WHERE rowid > ?2 " };
            format!("SELECT rowid AS copy_rowid, {columns} FROM {} {condition}ORDER BY rowid LIMIT ?1", table.name)
        }
        Keyset::PrimaryKey => {
            let key = table.primary_key.join(", ");
            let condition = if matches!(start, BatchStart::First) {
                String::new()
            } else {
                let places = (0..table.primary_key.len()).map(|index| format!("?{}", index + 2)).collect::<Vec<_>>();
                format!("WHERE ({key}) > ({}) ", places.join(", "))
            };
            format!("SELECT {columns} FROM {} {condition}ORDER BY {key} LIMIT ?1", table.name)
        }
    }
}

async fn read_batch(
    source: &mut SqliteConnection,
    table: &CopiedTable,
    start: &BatchStart,
    batch_rows: usize,
) -> Result<Batch, StoreError> {
    let read_error = |error: sqlx::Error| StoreError::CopyQuery {
        operation: "read the SQLite",
        table: table.name,
        source: error.into(),
    };
    let sql = batch_sql(table, start);
    let mut query = sqlx::query(&sql).bind(i64::try_from(batch_rows).unwrap_or(i64::MAX));
    match start {
        BatchStart::First => {}
        BatchStart::AfterRowid(rowid) => query = query.bind(*rowid),
        BatchStart::AfterKey(key) => {
            for part in key {
                query = query.bind(part.as_str());
            }
        }
    }
    let offset = usize::from(matches!(table.keyset, Keyset::Rowid));
    let mut rows = Vec::new();
    let mut bytes = 0;
    let mut next = BatchStart::First;
    let mut stopped_at_budget = false;
    let mut stream = query.fetch(&mut *source);
    while let Some(row) = stream.try_next().await.map_err(read_error)? {
        let values = read_row(table, &row, offset)?;
        next = match table.keyset {
            Keyset::Rowid => BatchStart::AfterRowid(row.try_get(0).map_err(read_error)?),
            Keyset::PrimaryKey => BatchStart::AfterKey(
                table
                    .primary_key
                    .iter()
                    .map(|column| row.try_get(*column))
                    .collect::<Result<_, _>>()
                    .map_err(read_error)?,
            ),
        };
        bytes += values.iter().map(Value::size).sum::<usize>();
        rows.push(values);
        if bytes >= BATCH_BYTES {
            stopped_at_budget = true;
            break;
        }
    }
    Ok(Batch { rows, next, stopped_at_budget })
}

/// One SQLite row's values, converted for PostgreSQL.
fn read_row(table: &CopiedTable, row: &SqliteRow, offset: usize) -> Result<Vec<Value>, StoreError> {
    let mut values = Vec::with_capacity(table.columns.len());
    for (index, column) in table.columns.iter().enumerate() {
        let index = index + offset;
        let problem = |error: sqlx::Error| StoreError::CopyValue {
            table: table.name,
            row: row_key(table, row, offset),
            column: column.postgres,
            problem: format!("cannot be read ({error})"),
        };
        let value = match column.kind {
            Kind::Text => {
                let text: Option<String> = row.try_get(index).map_err(problem)?;
                if text.as_deref().is_some_and(|text| text.contains('\0')) {
                    return Err(nul_error(table, row_key(table, row, offset), column.postgres));
                }
                Value::Text(text)
            }
            Kind::Integer => Value::Integer(row.try_get(index).map_err(problem)?),
            Kind::Boolean => {
                let number: Option<i64> = row.try_get(index).map_err(problem)?;
                match number {
                    None => Value::Boolean(None),
                    Some(0) => Value::Boolean(Some(false)),
                    Some(1) => Value::Boolean(Some(true)),
                    Some(other) => {
                        return Err(StoreError::CopyValue {
                            table: table.name,
                            row: row_key(table, row, offset),
                            column: column.postgres,
                            problem: format!("is {other}, where a boolean (0 or 1) belongs"),
                        });
                    }
                }
            }
            Kind::Bytes => Value::Bytes(row.try_get(index).map_err(problem)?),
            Kind::TextAsBytes => {
                let text: Option<String> = row.try_get(index).map_err(problem)?;
                Value::Bytes(text.map(String::into_bytes))
            }
        };
        values.push(value);
    }
    Ok(values)
}

fn nul_error(table: &CopiedTable, row: String, column: &'static str) -> StoreError {
    StoreError::CopyValue {
        table: table.name,
        row,
        column,
        problem: "holds a NUL character (U+0000), which PostgreSQL text cannot hold".to_owned(),
    }
}

/// The row as errors name it: its primary key's values (`id = 'abc'`).
fn row_key(table: &CopiedTable, row: &SqliteRow, offset: usize) -> String {
    let parts = table.primary_key.iter().map(|name| {
        let position = table.columns.iter().position(|column| column.postgres == *name);
        let value = position.map_or_else(
            || "?".to_owned(),
            |index| match table.columns[index].kind {
                Kind::Integer | Kind::Boolean => row
                    .try_get::<Option<i64>, _>(index + offset)
                    .map_or_else(|_| "?".to_owned(), |number| Value::Integer(number).describe()),
                _ => row
                    .try_get::<Option<String>, _>(index + offset)
                    .map_or_else(|_| "?".to_owned(), |text| Value::Text(text).describe()),
            },
        );
        format!("{name} = {value}")
    });
    parts.collect::<Vec<_>>().join(", ")
}

/// Looks for a NUL character in any text the copy would send to PostgreSQL text, in one
/// pass over the table (the bytes of a text, as a blob, hold it wherever it is).
async fn find_nul_characters(source: &mut SqliteConnection, table: &CopiedTable) -> Result<(), StoreError> {
    let texts: Vec<&Column> = table.columns.iter().filter(|column| column.kind == Kind::Text).collect();
    if texts.is_empty() {
        return Ok(());
    }
    let has_nul = |column: &Column| format!("instr(CAST({} AS BLOB), x'00') > 0", column.sqlite);
    let flags = texts.iter().map(|column| has_nul(column)).collect::<Vec<_>>();
    let key = table
        .primary_key
        .iter()
        .map(|name| {
            let column = table.columns.iter().find(|column| column.postgres == *name);
            format!("CAST({} AS TEXT)", column.map_or(*name, |column| column.sqlite))
        })
        .collect::<Vec<_>>();
    let sql = format!(
        "SELECT {}, {} FROM {} WHERE {} LIMIT 1",
        key.join(", "),
        flags.join(", "),
        table.name,
        flags.join(" OR ")
    );
    let row = sqlx::query(&sql).fetch_optional(&mut *source).await.map_err(|error| StoreError::CopyQuery {
        operation: "read the SQLite",
        table: table.name,
        source: error.into(),
    })?;
    let Some(row) = row else { return Ok(()) };
    let key = table
        .primary_key
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let value: Option<String> = row.try_get(index).ok().flatten();
            let number = table.columns.iter().any(|column| column.postgres == *name && column.kind == Kind::Integer);
            let value = match value {
                Some(number_text) if number => number_text,
                value => Value::Text(value).describe(),
            };
            format!("{name} = {value}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let offset = table.primary_key.len();
    let column = texts
        .iter()
        .enumerate()
        .find(|(index, _)| row.try_get::<bool, _>(index + offset).unwrap_or(false))
        .map_or(texts[0].postgres, |(_, column)| column.postgres);
    Err(nul_error(table, key, column))
}

/// Inserts `rows` into the PostgreSQL table in one transaction; returns how many were
/// inserted (rows whose key is there already are skipped when `keep_existing`).
async fn insert_batch(
    target: &PgPool,
    table: &CopiedTable,
    rows: &[Vec<Value>],
    keep_existing: bool,
) -> Result<u64, StoreError> {
    let write_error = |error: sqlx::Error| StoreError::CopyQuery {
        operation: "write the PostgreSQL",
        table: table.name,
        source: error.into(),
    };
    let width = table.columns.len();
    let columns = table.columns.iter().map(|column| column.postgres).collect::<Vec<_>>().join(", ");
    let overriding = if table.identity.is_some() { "OVERRIDING SYSTEM VALUE " } else { "" };
    let tuples = (0..rows.len())
        .map(|row| {
            let places = (1..=width).map(|column| format!("${}", row * width + column)).collect::<Vec<_>>();
            format!("({})", places.join(", "))
        })
        .collect::<Vec<_>>();
    let conflict = if keep_existing {
        format!(" ON CONFLICT ({}) DO NOTHING", table.primary_key.join(", "))
    } else {
        String::new()
    };
    let sql = format!("INSERT INTO {} ({columns}) {overriding}VALUES {}{conflict}", table.name, tuples.join(", "));
    let mut query = sqlx::query(&sql);
    for value in rows.iter().flatten() {
        query = match value {
            Value::Text(text) => query.bind(text.as_deref()),
            Value::Integer(number) => query.bind(*number),
            Value::Boolean(flag) => query.bind(*flag),
            Value::Bytes(bytes) => query.bind(bytes.as_deref()),
        };
    }
    let mut transaction = target.begin().await.map_err(write_error)?;
    let inserted = query.execute(&mut *transaction).await.map_err(write_error)?.rows_affected();
    transaction.commit().await.map_err(write_error)?;
    Ok(inserted)
}

/// Moves the sequence of the identity `column` past the highest value in the table (and
/// never back), so the rows added after the copy get new numbers.
async fn move_sequence_past(target: &PgPool, table: &CopiedTable, column: &str) -> Result<(), StoreError> {
    let sequence = format!("pg_get_serial_sequence('{}', '{column}')", table.name);
    let sql = format!(
        "SELECT setval({sequence}, GREATEST(nextval({sequence}), (SELECT COALESCE(MAX({column}), 0) + 1 FROM {})), false)",
        table.name
    );
    sqlx::query(&sql).execute(target).await.map_err(|error| StoreError::CopyQuery {
        operation: "move the identity sequence of the PostgreSQL",
        table: table.name,
        source: error.into(),
    })?;
    Ok(())
}

async fn count_sqlite(source: &mut SqliteConnection, table: &CopiedTable) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
        .fetch_one(&mut *source)
        .await
        .map_err(|error| StoreError::CopyQuery {
            operation: "count the rows of the SQLite",
            table: table.name,
            source: error.into(),
        })?;
    Ok(u64::try_from(count).unwrap_or(0))
}

async fn count_postgres(target: &PgPool, table: &CopiedTable) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
        .fetch_one(target)
        .await
        .map_err(|error| StoreError::CopyQuery {
            operation: "count the rows of the PostgreSQL",
            table: table.name,
            source: error.into(),
        })?;
    Ok(u64::try_from(count).unwrap_or(0))
}
