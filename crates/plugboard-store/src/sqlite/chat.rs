//! The [`ChatStore`] of [`SqliteStore`]: the tables of `migrations/0002_chat.sql`.
//!
//! The SQL is kept portable (plain types, standard functions, `RETURNING`, `ON CONFLICT`)
//! for a PostgreSQL backend; what is SQLite's own stays in Rust: `BEGIN IMMEDIATE`, and the
//! rowid `messages.seq`, which the inserts leave for the database to fill in.
//!
//! Every write goes to the writer (`SqliteStore::write`) as a statement that owns its
//! values. A transaction of several statements runs as one job there, begun `IMMEDIATE` so
//! that it takes SQLite's write lock at its start (waiting for another process's up to the
//! busy timeout): a deferred transaction that read before another connection wrote could
//! not write afterwards at all.
//!
//! Creating something under a parent checks for the parent in the insert itself
//! (`INSERT ... SELECT ... WHERE EXISTS`), so a missing parent is a [`StoreError::NotFound`]
//! naming it rather than a foreign-key failure.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::Sqlite;
use sqlx::{Connection, QueryBuilder, Row};

use crate::rows::{
    column, contains_pattern, decode_cursor, encode_cursor, fold_case, insert_user_error, new_id, read_attachment,
    read_conversation, read_message, read_token, read_trace, read_user, role_name, stale_before_ms, status_name,
};

use super::{OwnedQuery, SqliteStore};
use crate::rows::{query_error, sql_limit};
use crate::{
    AccountChange, AccountEvent, ApiToken, Attachment, ChatStore, Conversation, ConversationPage, Message,
    MessageStatus, NewMessage, SessionInfo, StoreError, TraceRecord, User, UserDeletion,
};

/// Records account event `change` of `user` on `connection` (inside the change's transaction).
async fn record_account_event(
    connection: &mut sqlx::SqliteConnection,
    change: AccountChange,
    user: &User,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO account_events (kind, user_id, username, created_at_ms) VALUES (?1, ?2, ?3, ?4)")
        .bind(change.name())
        .bind(&user.id)
        .bind(&user.username)
        .bind(now_ms)
        .execute(connection)
        .await?;
    Ok(())
}

// The columns each record is read from, as macros so that `concat!` builds every
// statement's text at compile time (a `&'static str`, which a write can take to the writer).
macro_rules! user_columns {
    () => {
        "id, username, is_admin, created_at_ms, disabled_at_ms"
    };
}
/// How many active administrators there are besides user `?1`: a change to `?1` must leave
/// at least one.
macro_rules! other_active_admins {
    () => {
        "(SELECT COUNT(*) FROM users WHERE is_admin = 1 AND disabled_at_ms IS NULL AND id <> ?1)"
    };
}
macro_rules! token_columns {
    () => {
        "id, user_id, name, created_at_ms, last_used_at_ms"
    };
}
macro_rules! conversation_columns {
    () => {
        "id, user_id, title, plugins, created_at_ms, updated_at_ms"
    };
}
macro_rules! message_columns {
    () => {
        "id, conversation_id, role, author, content, data, status, created_at_ms, edited_at_ms, deleted_at_ms"
    };
}
/// Everything but the bytes, which only [`ChatStore::attachment`] reads.
macro_rules! attachment_columns {
    () => {
        "id, conversation_id, message_id, file_name, media_type, size, created_at_ms"
    };
}
macro_rules! trace_columns {
    () => {
        "message_id, conversation_id, created_at_ms, trace"
    };
}

impl SqliteStore {
    /// Runs `insert` (a user insert returning the user's columns, bound here) with the
    /// `user-created` account event in one transaction; `None` when it inserted nothing.
    async fn insert_user(
        &self,
        insert: OwnedQuery,
        username: &str,
        password_hash: &str,
        operation: &'static str,
    ) -> Result<Option<User>, StoreError> {
        let now = self.now_ms();
        let insert = insert
            .bind(new_id())
            .bind(username.to_owned())
            .bind(fold_case(username))
            .bind(password_hash.to_owned())
            .bind(now);
        let user = self
            .write(move |connection| {
                Box::pin(async move {
                    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
                    let Some(row) = insert.fetch_optional(&mut *transaction).await? else {
                        return Ok(None);
                    };
                    let user = read_user(&row, operation).map_err(|e| sqlx::Error::Decode(e.into()))?;
                    record_account_event(&mut transaction, AccountChange::UserCreated, &user, now).await?;
                    transaction.commit().await?;
                    Ok(Some(user))
                })
            })
            .await;
        user.map_err(insert_user_error(username, operation))
    }

    /// Which parent is missing when an insert under `conversation_id` (and, when given, one
    /// of its messages) inserted nothing.
    async fn missing_parent(
        &self,
        conversation_id: &str,
        message_id: Option<&str>,
        operation: &'static str,
    ) -> Result<StoreError, StoreError> {
        let conversation_exists = sqlx::query("SELECT 1 FROM conversations WHERE id = ?1")
            .bind(conversation_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(operation, None))?
            .is_some();
        Ok(crate::rows::missing_parent(conversation_id, message_id, conversation_exists))
    }
}

#[async_trait]
impl ChatStore for SqliteStore {
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        const OPERATION: &str = "create the user";
        // One statement, which holds the write lock from its start: no other sign-up can
        // insert between its check for existing users and its insert, so exactly one first
        // user is admin.
        let query = sqlx::query(concat!(
            "INSERT INTO users (id, username, username_key, password_hash, is_admin, created_at_ms)
             SELECT ?1, ?2, ?3, ?4, NOT EXISTS (SELECT 1 FROM users), ?5
             RETURNING ",
            user_columns!()
        ));
        let user = self.insert_user(query, username, password_hash, OPERATION).await?;
        user.ok_or_else(|| StoreError::NotFound { what: "created user", id: username.to_owned() })
    }

    async fn create_first_user(&self, username: &str, password_hash: &str) -> Result<Option<User>, StoreError> {
        // One statement on the single writer: the check for an existing user and the
        // insert cannot be separated by another sign-up.
        let query = sqlx::query(concat!(
            "INSERT INTO users (id, username, username_key, password_hash, is_admin, created_at_ms)
             SELECT ?1, ?2, ?3, ?4, 1, ?5 WHERE NOT EXISTS (SELECT 1 FROM users)
             RETURNING ",
            user_columns!()
        ));
        self.insert_user(query, username, password_hash, "create the first user").await
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        const OPERATION: &str = "list the users";
        let rows = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users ORDER BY created_at_ms, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_user(row, OPERATION)).collect()
    }

    async fn set_admin(&self, user_id: &str, is_admin: bool) -> Result<Option<User>, StoreError> {
        // Taking the role away only while another active administrator remains: checked in
        // the same statement, so two demotions at once cannot both pass.
        let query = sqlx::query(concat!(
            "UPDATE users SET is_admin = ?2 WHERE id = ?1 AND (?2 = 1 OR ",
            other_active_admins!(),
            " > 0)"
        ))
        .bind(user_id.to_owned())
        .bind(is_admin);
        self.write_execute(query).await.map_err(query_error("change the administrator role", None))?;
        self.user(user_id).await
    }

    async fn set_disabled(&self, user_id: &str, disabled: bool) -> Result<Option<User>, StoreError> {
        const OPERATION: &str = "disable or enable the user";
        let (id, now) = (user_id.to_owned(), self.now_ms());
        let changed = self
            .write(move |connection| {
                Box::pin(async move {
                    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
                    // Disabling only while another active administrator remains, or the user
                    // is not one; enabling a disabled user; anything else changes nothing.
                    let row = sqlx::query(concat!(
                        "UPDATE users SET disabled_at_ms = CASE WHEN ?2 THEN ?3 ELSE NULL END
                         WHERE id = ?1 AND (CASE WHEN ?2 THEN disabled_at_ms IS NULL AND (is_admin = 0 OR ",
                        other_active_admins!(),
                        " > 0) ELSE disabled_at_ms IS NOT NULL END)
                         RETURNING ",
                        user_columns!()
                    ))
                    .bind(&id)
                    .bind(disabled)
                    .bind(now)
                    .fetch_optional(&mut *transaction)
                    .await?;
                    if let Some(row) = &row {
                        let user = read_user(row, OPERATION).map_err(|e| sqlx::Error::Decode(e.into()))?;
                        let change = if disabled { AccountChange::UserDisabled } else { AccountChange::UserEnabled };
                        record_account_event(&mut transaction, change, &user, now).await?;
                        if disabled {
                            sqlx::query("DELETE FROM sessions WHERE user_id = ?1")
                                .bind(&id)
                                .execute(&mut *transaction)
                                .await?;
                        }
                    }
                    transaction.commit().await?;
                    Ok(())
                })
            })
            .await;
        changed.map_err(query_error(OPERATION, None))?;
        self.user(user_id).await
    }

    async fn delete_user(&self, user_id: &str) -> Result<Option<UserDeletion>, StoreError> {
        const OPERATION: &str = "delete the user";
        let (id, now) = (user_id.to_owned(), self.now_ms());
        let outcome = self
            .write(move |connection| {
                Box::pin(async move {
                    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
                    let Some(row) = sqlx::query(concat!(
                        "SELECT ",
                        user_columns!(),
                        ", (is_admin = 1 AND disabled_at_ms IS NULL AND ",
                        other_active_admins!(),
                        " = 0) AS last_admin FROM users WHERE id = ?1"
                    ))
                    .bind(&id)
                    .fetch_optional(&mut *transaction)
                    .await?
                    else {
                        return Ok(None);
                    };
                    let user = read_user(&row, OPERATION).map_err(|e| sqlx::Error::Decode(e.into()))?;
                    if row.try_get::<bool, _>("last_admin")? {
                        return Ok(Some(UserDeletion::LastAdmin(user)));
                    }
                    // The foreign keys cascade too; deleting explicitly does not depend on
                    // them being enforced. Children first.
                    for statement in [
                        "DELETE FROM traces WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = ?1)",
                        "DELETE FROM attachments WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = ?1)",
                        "DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = ?1)",
                        "DELETE FROM conversations WHERE user_id = ?1",
                        "DELETE FROM sessions WHERE user_id = ?1",
                        "DELETE FROM api_tokens WHERE user_id = ?1",
                        "DELETE FROM users WHERE id = ?1",
                    ] {
                        sqlx::query(statement).bind(&id).execute(&mut *transaction).await?;
                    }
                    record_account_event(&mut transaction, AccountChange::UserDeleted, &user, now).await?;
                    transaction.commit().await?;
                    Ok(Some(UserDeletion::Deleted(user)))
                })
            })
            .await;
        outcome.map_err(query_error(OPERATION, None))
    }

    async fn take_account_events(&self, limit: usize) -> Result<Vec<AccountEvent>, StoreError> {
        const OPERATION: &str = "take the account events";
        // Asked every few seconds and nearly always empty: a read says so without taking
        // the single writer (and the database's write lock) for nothing.
        let waiting = sqlx::query("SELECT 1 FROM account_events LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        if waiting.is_none() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(
            "DELETE FROM account_events WHERE seq IN (SELECT seq FROM account_events ORDER BY seq LIMIT ?1)
             RETURNING seq, kind, user_id, username, created_at_ms",
        )
        .bind(sql_limit(limit));
        let rows = self
            .write(move |connection| Box::pin(query.fetch_all(connection)))
            .await
            .map_err(query_error(OPERATION, None))?;
        crate::rows::read_account_events(&rows, OPERATION)
    }

    async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        const OPERATION: &str = "read the user";
        let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        row.map(|row| read_user(&row, OPERATION)).transpose()
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        const OPERATION: &str = "find the user by name";
        let row =
            sqlx::query(concat!("SELECT ", user_columns!(), ", password_hash FROM users WHERE username_key = ?1"))
                .bind(fold_case(username))
                .fetch_optional(&self.pool)
                .await
                .map_err(query_error(OPERATION, None))?;
        row.map(|row| Ok((read_user(&row, OPERATION)?, column(&row, "password_hash", OPERATION)?))).transpose()
    }

    async fn usernames(&self) -> Result<Vec<String>, StoreError> {
        const OPERATION: &str = "list the usernames";
        let rows = sqlx::query("SELECT username FROM users ORDER BY created_at_ms")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| column(row, "username", OPERATION)).collect()
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        const OPERATION: &str = "count the users";
        let row = sqlx::query("SELECT COUNT(*) AS count FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        let count: i64 = column(&row, "count", OPERATION)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn create_session(&self, user_id: &str, token_hash: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        let now = self.now_ms();
        // Sessions that are over are of no use to anyone; sweep them as new ones start.
        let sweep = sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= ?1").bind(now);
        let insert = sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at_ms, expires_at_ms)
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)",
        )
        .bind(token_hash.to_owned())
        .bind(user_id.to_owned())
        .bind(now)
        .bind(expires_at_ms);
        let inserted = self
            .write(move |connection| {
                Box::pin(async move {
                    sweep.execute(&mut *connection).await?;
                    Ok(insert.execute(connection).await?.rows_affected())
                })
            })
            .await
            .map_err(query_error("create the session", None))?;
        if inserted == 0 {
            return Err(StoreError::NotFound { what: "user", id: user_id.to_owned() });
        }
        Ok(())
    }

    async fn session_user(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        const OPERATION: &str = "read the session";
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users
             WHERE id = (SELECT user_id FROM sessions WHERE token_hash = ?1 AND expires_at_ms > ?2)"
        ))
        .bind(token_hash)
        .bind(self.now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        row.map(|row| read_user(&row, OPERATION)).transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let query = sqlx::query("DELETE FROM sessions WHERE token_hash = ?1").bind(token_hash.to_owned());
        self.write_execute(query).await.map_err(query_error("delete the session", None))?;
        Ok(())
    }

    async fn sessions(&self, user_id: &str, current: Option<&str>) -> Result<Vec<SessionInfo>, StoreError> {
        let error = || query_error("list the sessions", None);
        let rows = sqlx::query(
            "SELECT rowid AS id, created_at_ms, expires_at_ms, token_hash IS ?3 AS current FROM sessions
             WHERE user_id = ?1 AND expires_at_ms > ?2 ORDER BY created_at_ms DESC, rowid DESC",
        )
        .bind(user_id)
        .bind(self.now_ms())
        .bind(current)
        .fetch_all(&self.pool)
        .await
        .map_err(error())?;
        rows.iter()
            .map(|row| {
                Ok(SessionInfo {
                    id: row.try_get("id")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                    expires_at_ms: row.try_get("expires_at_ms")?,
                    current: row.try_get("current")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(error())
    }

    async fn end_session(&self, user_id: &str, id: i64) -> Result<bool, StoreError> {
        let query =
            sqlx::query("DELETE FROM sessions WHERE rowid = ?1 AND user_id = ?2").bind(id).bind(user_id.to_owned());
        let result = self.write_execute(query).await.map_err(query_error("end the session", None))?;
        Ok(result.rows_affected() == 1)
    }

    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (user_id, password_hash) = (user_id.to_owned(), password_hash.to_owned());
        let keep_session = keep_session.map(str::to_owned);
        self.write(move |connection| {
            Box::pin(async move {
                let mut transaction = connection.begin().await?;
                let updated = sqlx::query("UPDATE users SET password_hash = ?2 WHERE id = ?1")
                    .bind(&user_id)
                    .bind(&password_hash)
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = ?1 AND token_hash IS NOT ?2")
                    .bind(&user_id)
                    .bind(&keep_session)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(updated.rows_affected() == 1)
            })
        })
        .await
        .map_err(query_error("change the password", None))
    }

    async fn create_api_token(&self, user_id: &str, name: &str, token_hash: &str) -> Result<ApiToken, StoreError> {
        const OPERATION: &str = "create the API token";
        let query = sqlx::query(concat!(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at_ms)
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)
             RETURNING ",
            token_columns!()
        ))
        .bind(new_id())
        .bind(user_id.to_owned())
        .bind(name.to_owned())
        .bind(token_hash.to_owned())
        .bind(self.now_ms());
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        let row = row.ok_or_else(|| StoreError::NotFound { what: "user", id: user_id.to_owned() })?;
        read_token(&row, OPERATION)
    }

    async fn api_token_user(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        const OPERATION: &str = "authenticate the API token";
        // Two statements, not a transaction: the write lock is held only while the update
        // runs, never across the round trip to the caller. A user deleted in between takes
        // the token with them (ON DELETE CASCADE), and the read below finds no one.
        let query = sqlx::query("UPDATE api_tokens SET last_used_at_ms = ?2 WHERE token_hash = ?1 RETURNING user_id")
            .bind(token_hash.to_owned())
            .bind(self.now_ms());
        let token = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        let Some(token) = token else {
            return Ok(None);
        };
        let user_id: String = column(&token, "user_id", OPERATION)?;
        self.user(&user_id).await
    }

    async fn list_api_tokens(&self, user_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        const OPERATION: &str = "list the API tokens";
        let rows = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE user_id = ?1 ORDER BY created_at_ms, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_token(row, OPERATION)).collect()
    }

    async fn delete_api_token(&self, user_id: &str, token_id: &str) -> Result<bool, StoreError> {
        let query = sqlx::query("DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2")
            .bind(token_id.to_owned())
            .bind(user_id.to_owned());
        let result = self.write_execute(query).await.map_err(query_error("delete the API token", None))?;
        Ok(result.rows_affected() > 0)
    }

    async fn create_conversation(&self, user_id: &str, title: &str) -> Result<Conversation, StoreError> {
        const OPERATION: &str = "create the conversation";
        let now = self.now_ms();
        let query = sqlx::query(concat!(
            "INSERT INTO conversations (id, user_id, title, title_key, created_at_ms, updated_at_ms)
             SELECT ?1, ?2, ?3, ?4, ?5, ?5 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)
             RETURNING ",
            conversation_columns!()
        ))
        .bind(new_id())
        .bind(user_id.to_owned())
        .bind(title.to_owned())
        .bind(fold_case(title))
        .bind(now);
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        let row = row.ok_or_else(|| StoreError::NotFound { what: "user", id: user_id.to_owned() })?;
        read_conversation(&row, OPERATION)
    }

    async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        const OPERATION: &str = "read the conversation";
        let row = sqlx::query(concat!("SELECT ", conversation_columns!(), " FROM conversations WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        row.map(|row| read_conversation(&row, OPERATION)).transpose()
    }

    async fn list_conversations(
        &self,
        user_id: &str,
        search: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ConversationPage, StoreError> {
        const OPERATION: &str = "list the conversations";
        if limit == 0 {
            return Err(StoreError::InvalidInput {
                what: "page size",
                message: "a page of 0 conversations; ask for at least 1".to_owned(),
            });
        }
        let after = after.map(decode_cursor).transpose()?;
        let mut query = QueryBuilder::<Sqlite>::new(concat!("SELECT ", conversation_columns!(), " FROM conversations"));
        query.push(" WHERE user_id = ").push_bind(user_id);
        if let Some(search) = search {
            query.push(" AND title_key LIKE ").push_bind(contains_pattern(&fold_case(search))).push(" ESCAPE '\\'");
        }
        // Newest first, so the next page holds what sorts after the last row: older, or as
        // old with a lower id. A row-value comparison (standard SQL, SQLite 3.15+ and
        // PostgreSQL) seeks straight to it in the index.
        if let Some((updated_at_ms, id)) = after {
            query.push(" AND (updated_at_ms, id) < (").push_bind(updated_at_ms).push(", ").push_bind(id).push(")");
        }
        // One row more than the page tells whether there is a next page.
        query.push(" ORDER BY updated_at_ms DESC, id DESC LIMIT ").push_bind(sql_limit(limit).saturating_add(1));
        let rows = query.build().fetch_all(&self.pool).await.map_err(query_error(OPERATION, None))?;
        let mut conversations =
            rows.iter().map(|row| read_conversation(row, OPERATION)).collect::<Result<Vec<_>, _>>()?;
        let next = if conversations.len() > limit {
            conversations.truncate(limit);
            conversations.last().map(encode_cursor)
        } else {
            None
        };
        Ok(ConversationPage { conversations, next })
    }

    async fn rename_conversation(&self, id: &str, title: &str) -> Result<Option<Conversation>, StoreError> {
        const OPERATION: &str = "rename the conversation";
        let query = sqlx::query(concat!(
            "UPDATE conversations SET title = ?2, title_key = ?3 WHERE id = ?1 RETURNING ",
            conversation_columns!()
        ))
        .bind(id.to_owned())
        .bind(title.to_owned())
        .bind(fold_case(title));
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        row.map(|row| read_conversation(&row, OPERATION)).transpose()
    }

    async fn set_conversation_plugins(
        &self,
        id: &str,
        plugins: Option<&serde_json::Value>,
    ) -> Result<Option<Conversation>, StoreError> {
        const OPERATION: &str = "set the conversation's plugins";
        let query = sqlx::query(concat!(
            "UPDATE conversations SET plugins = ?2 WHERE id = ?1 RETURNING ",
            conversation_columns!()
        ))
        .bind(id.to_owned())
        .bind(plugins.map(Value::to_string));
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        row.map(|row| read_conversation(&row, OPERATION)).transpose()
    }

    async fn delete_conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        const OPERATION: &str = "delete the conversation";
        let owned = id.to_owned();
        let row = self
            .write(move |connection| {
                Box::pin(async move {
                    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
                    // The foreign keys cascade too; deleting explicitly does not depend on them
                    // being enforced. Children first: traces and attachments refer to messages.
                    for statement in [
                        "DELETE FROM traces WHERE conversation_id = ?1",
                        "DELETE FROM attachments WHERE conversation_id = ?1",
                        "DELETE FROM messages WHERE conversation_id = ?1",
                    ] {
                        sqlx::query(statement).bind(&owned).execute(&mut *transaction).await?;
                    }
                    let row = sqlx::query(concat!(
                        "DELETE FROM conversations WHERE id = ?1 RETURNING ",
                        conversation_columns!()
                    ))
                    .bind(&owned)
                    .fetch_optional(&mut *transaction)
                    .await?;
                    transaction.commit().await?;
                    Ok(row)
                })
            })
            .await
            .map_err(query_error(OPERATION, None))?;
        row.map(|row| read_conversation(&row, OPERATION)).transpose()
    }

    async fn add_message(&self, message: &NewMessage) -> Result<Message, StoreError> {
        const OPERATION: &str = "add the message";
        // One statement (with the trigger `messages_touch_conversation`, which moves the
        // conversation's updated_at_ms up): the write lock is held only while it runs.
        // created_at_ms is never before the conversation's newest message, so ordering by
        // (created_at_ms, seq) is the order of adding even across a clock step back; seq
        // (the rowid, filled in by SQLite) breaks ties within a millisecond. Selecting from
        // the conversation inserts nothing when it does not exist.
        let query = sqlx::query(concat!(
            "INSERT INTO messages (id, conversation_id, role, author, content, data, status, created_at_ms,
                                   touched_at_ms)
             SELECT ?1, conversations.id, ?3, ?4, ?5, ?6, ?7,
                    CASE WHEN newest.created_at_ms > ?8 THEN newest.created_at_ms ELSE ?8 END, ?8
             FROM conversations,
                  (SELECT MAX(created_at_ms) AS created_at_ms FROM messages WHERE conversation_id = ?2) AS newest
             WHERE conversations.id = ?2
             RETURNING ",
            message_columns!()
        ))
        .bind(new_id())
        .bind(message.conversation_id.clone())
        .bind(role_name(message.role))
        .bind(message.author.clone())
        .bind(message.content.clone())
        .bind(message.data.as_ref().map(Value::to_string))
        .bind(status_name(message.status))
        .bind(self.now_ms());
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        let row =
            row.ok_or_else(|| StoreError::NotFound { what: "conversation", id: message.conversation_id.clone() })?;
        read_message(&row, OPERATION)
    }

    async fn message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        const OPERATION: &str = "read the message";
        let row = sqlx::query(concat!("SELECT ", message_columns!(), " FROM messages WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        row.map(|row| read_message(&row, OPERATION)).transpose()
    }

    async fn list_messages(&self, conversation_id: &str) -> Result<Vec<Message>, StoreError> {
        const OPERATION: &str = "list the messages";
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ?1 AND deleted_at_ms IS NULL
             ORDER BY created_at_ms, seq"
        ))
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_message(row, OPERATION)).collect()
    }

    async fn finish_message(
        &self,
        id: &str,
        content: &str,
        data: Option<&serde_json::Value>,
        status: MessageStatus,
    ) -> Result<Option<Message>, StoreError> {
        const OPERATION: &str = "finish the message";
        let query = sqlx::query(concat!(
            "UPDATE messages SET content = ?2, data = ?3, status = ?4, touched_at_ms = ?5 WHERE id = ?1 RETURNING ",
            message_columns!()
        ))
        .bind(id.to_owned())
        .bind(content.to_owned())
        .bind(data.map(Value::to_string))
        .bind(status_name(status))
        .bind(self.now_ms());
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        row.map(|row| read_message(&row, OPERATION)).transpose()
    }

    async fn edit_message(&self, id: &str, content: &str) -> Result<Option<Message>, StoreError> {
        const OPERATION: &str = "edit the message";
        let query = sqlx::query(concat!(
            "UPDATE messages SET content = ?2, edited_at_ms = ?3 WHERE id = ?1 AND deleted_at_ms IS NULL
             RETURNING ",
            message_columns!()
        ))
        .bind(id.to_owned())
        .bind(content.to_owned())
        .bind(self.now_ms());
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        row.map(|row| read_message(&row, OPERATION)).transpose()
    }

    async fn delete_message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        const OPERATION: &str = "delete the message";
        let query = sqlx::query(concat!(
            "UPDATE messages SET deleted_at_ms = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL
             RETURNING ",
            message_columns!()
        ))
        .bind(id.to_owned())
        .bind(self.now_ms());
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        let deleted = row.map(|row| read_message(&row, OPERATION)).transpose()?;
        // RETURNING gives the row after the update; before it, it was not deleted.
        Ok(deleted.map(|message| Message { deleted_at_ms: None, ..message }))
    }

    async fn mark_stale_streaming_messages(&self, stale_after: Duration) -> Result<Vec<Message>, StoreError> {
        const OPERATION: &str = "mark interrupted messages as partial";
        // Literal values: the partial index `messages_streaming` serves only `= 'streaming'`.
        let query = sqlx::query(concat!(
            "UPDATE messages SET status = 'partial'
             WHERE status = 'streaming' AND (touched_at_ms IS NULL OR touched_at_ms <= ?1)
             RETURNING ",
            message_columns!()
        ))
        .bind(stale_before_ms(self.now_ms(), stale_after));
        let rows = self
            .write(move |connection| Box::pin(query.fetch_all(connection)))
            .await
            .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_message(row, OPERATION)).collect()
    }

    async fn add_attachment(
        &self,
        conversation_id: &str,
        message_id: Option<&str>,
        file_name: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Attachment, StoreError> {
        const OPERATION: &str = "add the attachment";
        let size = i64::try_from(bytes.len()).map_err(|_| StoreError::InvalidInput {
            what: "attachment",
            message: format!("{} bytes is more than a database can hold; attach a smaller file", bytes.len()),
        })?;
        let query = sqlx::query(concat!(
            "INSERT INTO attachments (id, conversation_id, message_id, file_name, media_type, size, created_at_ms, bytes)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
             WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?2)
               AND (?3 IS NULL OR EXISTS (SELECT 1 FROM messages WHERE id = ?3 AND conversation_id = ?2))
             RETURNING ",
            attachment_columns!()
        ))
        .bind(new_id())
        .bind(conversation_id.to_owned())
        .bind(message_id.map(str::to_owned))
        .bind(file_name.to_owned())
        .bind(media_type.to_owned())
        .bind(size)
        .bind(self.now_ms())
        .bind(bytes.to_vec());
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        match row {
            Some(row) => read_attachment(&row, OPERATION),
            None => Err(self.missing_parent(conversation_id, message_id, OPERATION).await?),
        }
    }

    async fn attachment(&self, id: &str) -> Result<Option<(Attachment, Vec<u8>)>, StoreError> {
        const OPERATION: &str = "read the attachment";
        let row = sqlx::query(concat!("SELECT ", attachment_columns!(), ", bytes FROM attachments WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        row.map(|row| Ok((read_attachment(&row, OPERATION)?, column(&row, "bytes", OPERATION)?))).transpose()
    }

    async fn list_attachments(&self, conversation_id: &str) -> Result<Vec<Attachment>, StoreError> {
        const OPERATION: &str = "list the attachments";
        let rows = sqlx::query(concat!(
            "SELECT ",
            attachment_columns!(),
            " FROM attachments WHERE conversation_id = ?1 ORDER BY created_at_ms, id"
        ))
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_attachment(row, OPERATION)).collect()
    }

    async fn delete_attachment(&self, id: &str) -> Result<Option<Attachment>, StoreError> {
        const OPERATION: &str = "delete the attachment";
        let query = sqlx::query(concat!("DELETE FROM attachments WHERE id = ?1 RETURNING ", attachment_columns!()))
            .bind(id.to_owned());
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        row.map(|row| read_attachment(&row, OPERATION)).transpose()
    }

    async fn add_trace(&self, message_id: &str, conversation_id: &str, trace_json: &str) -> Result<(), StoreError> {
        const OPERATION: &str = "record the trace";
        // Checked without building it: reading it back must not fail.
        if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(trace_json) {
            return Err(StoreError::InvalidInput {
                what: "trace",
                message: format!("it is not JSON ({error}); pass the trace as a JSON document"),
            });
        }
        // (SQLite needs the WHERE to tell the upsert's ON from a join's.)
        let query = sqlx::query(
            "INSERT INTO traces (message_id, conversation_id, trace, created_at_ms)
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM messages WHERE id = ?1 AND conversation_id = ?2)
             ON CONFLICT (message_id) DO UPDATE SET trace = excluded.trace, created_at_ms = excluded.created_at_ms",
        )
        .bind(message_id.to_owned())
        .bind(conversation_id.to_owned())
        .bind(trace_json.to_owned())
        .bind(self.now_ms());
        let inserted = self.write_execute(query).await.map_err(query_error(OPERATION, None))?.rows_affected();
        if inserted == 0 {
            return Err(self.missing_parent(conversation_id, Some(message_id), OPERATION).await?);
        }
        Ok(())
    }

    async fn trace(&self, message_id: &str) -> Result<Option<TraceRecord>, StoreError> {
        const OPERATION: &str = "read the trace";
        let row = sqlx::query(concat!("SELECT ", trace_columns!(), " FROM traces WHERE message_id = ?1"))
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        row.map(|row| read_trace(&row, OPERATION)).transpose()
    }

    async fn conversation_traces(&self, conversation_id: &str) -> Result<Vec<TraceRecord>, StoreError> {
        const OPERATION: &str = "read the conversation's traces";
        // Ties within a millisecond go in the order of the messages the turns produced.
        let rows = sqlx::query(
            "SELECT traces.message_id, traces.conversation_id, traces.created_at_ms, traces.trace
             FROM traces JOIN messages ON messages.id = traces.message_id
             WHERE traces.conversation_id = ?1
             ORDER BY traces.created_at_ms, messages.seq",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_trace(row, OPERATION)).collect()
    }
}
