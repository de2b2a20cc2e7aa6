//! The [`ChatStore`] of [`PgStore`]: the tables of `migrations-postgres/0002_chat.sql`.
//!
//! The statements are SQLite's (`sqlite/chat.rs`) with PostgreSQL's placeholders, booleans
//! and identity columns. Where SQLite's single writer keeps a check and a change together,
//! here a lock does: changes that look at the other users (the first user is the
//! administrator; the last active administrator stays one) take the `users` table in SHARE
//! ROW EXCLUSIVE mode, which lets reads go on and queues those changes.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::PgStore;
use crate::rows::{
    column, contains_pattern, decode_cursor, encode_cursor, fold_case, insert_user_error, new_id, query_error,
    read_attachment, read_conversation, read_message, read_token, read_trace, read_user, role_name, sql_limit,
    stale_before_ms, status_name,
};
use crate::{
    AccountChange, AccountEvent, ApiToken, Attachment, ChatStore, Conversation, ConversationPage, Message,
    MessageStatus, NewMessage, SessionInfo, StoreError, TraceRecord, User, UserDeletion,
};

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Queues the changes that count users or administrators behind one another (see the
/// module's documentation); held until the transaction ends.
async fn lock_users(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(connection).await?;
    Ok(())
}

/// Records account event `change` of `user` (inside the change's transaction).
async fn record_account_event(
    connection: &mut PgConnection,
    change: AccountChange,
    user: &User,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO account_events (kind, user_id, username, created_at_ms) VALUES ($1, $2, $3, $4)")
        .bind(change.name())
        .bind(&user.id)
        .bind(&user.username)
        .bind(now_ms)
        .execute(connection)
        .await?;
    Ok(())
}

/// A decoding error of a row read inside a transaction, as sqlx reports them.
fn decode(error: StoreError) -> sqlx::Error {
    sqlx::Error::Decode(error.into())
}

macro_rules! user_columns {
    () => {
        "id, username, is_admin, created_at_ms, disabled_at_ms"
    };
}
/// How many active administrators there are besides user `$1`.
macro_rules! other_active_admins {
    () => {
        "(SELECT COUNT(*) FROM users WHERE is_admin AND disabled_at_ms IS NULL AND id <> $1)"
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

impl PgStore {
    /// Runs `insert` (a user insert returning the user's columns, bound here) with the
    /// `user-created` account event in one transaction, behind the users lock; `None` when
    /// it inserted nothing.
    async fn insert_user(
        &self,
        insert: &'static str,
        username: &str,
        password_hash: &str,
        operation: &'static str,
    ) -> Result<Option<User>, StoreError> {
        let now = self.now_ms();
        let outcome: Result<Option<User>, sqlx::Error> = async {
            let mut transaction = self.pool.begin().await?;
            lock_users(&mut transaction).await?;
            let row = sqlx::query(insert)
                .bind(new_id())
                .bind(username)
                .bind(fold_case(username))
                .bind(password_hash)
                .bind(now)
                .fetch_optional(&mut *transaction)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let user = read_user(&row, operation).map_err(decode)?;
            record_account_event(&mut transaction, AccountChange::UserCreated, &user, now).await?;
            transaction.commit().await?;
            Ok(Some(user))
        }
        .await;
        outcome.map_err(insert_user_error(username, operation))
    }

    /// Which parent is missing when an insert under `conversation_id` (and, when given, one
    /// of its messages) inserted nothing.
    async fn missing_parent(
        &self,
        conversation_id: &str,
        message_id: Option<&str>,
        operation: &'static str,
    ) -> Result<StoreError, StoreError> {
        let conversation_exists = sqlx::query("SELECT 1 FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(operation, None))?
            .is_some();
        Ok(crate::rows::missing_parent(conversation_id, message_id, conversation_exists))
    }

    async fn optional_row(&self, query: PgQuery<'_>, operation: &'static str) -> Result<Option<PgRow>, StoreError> {
        query.fetch_optional(&self.pool).await.map_err(query_error(operation, None))
    }
}

#[async_trait]
impl ChatStore for PgStore {
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        const OPERATION: &str = "create the user";
        let insert = concat!(
            "INSERT INTO users (id, username, username_key, password_hash, is_admin, created_at_ms)
             SELECT $1, $2, $3, $4, NOT EXISTS (SELECT 1 FROM users), $5
             RETURNING ",
            user_columns!()
        );
        let user = self.insert_user(insert, username, password_hash, OPERATION).await?;
        user.ok_or_else(|| StoreError::NotFound { what: "created user", id: username.to_owned() })
    }

    async fn create_first_user(&self, username: &str, password_hash: &str) -> Result<Option<User>, StoreError> {
        let insert = concat!(
            "INSERT INTO users (id, username, username_key, password_hash, is_admin, created_at_ms)
             SELECT $1, $2, $3, $4, TRUE, $5 WHERE NOT EXISTS (SELECT 1 FROM users)
             RETURNING ",
            user_columns!()
        );
        self.insert_user(insert, username, password_hash, "create the first user").await
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
        let changed: Result<(), sqlx::Error> = async {
            let mut transaction = self.pool.begin().await?;
            lock_users(&mut transaction).await?;
            sqlx::query(concat!(
                "UPDATE users SET is_admin = $2 WHERE id = $1 AND ($2 OR ",
                other_active_admins!(),
                " > 0)"
            ))
            .bind(user_id)
            .bind(is_admin)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await
        }
        .await;
        changed.map_err(query_error("change the administrator role", None))?;
        self.user(user_id).await
    }

    async fn set_disabled(&self, user_id: &str, disabled: bool) -> Result<Option<User>, StoreError> {
        const OPERATION: &str = "disable or enable the user";
        let now = self.now_ms();
        let changed: Result<(), sqlx::Error> = async {
            let mut transaction = self.pool.begin().await?;
            lock_users(&mut transaction).await?;
            let row = sqlx::query(concat!(
                "UPDATE users SET disabled_at_ms = CASE WHEN $2 THEN $3 ELSE NULL END
                 WHERE id = $1 AND (CASE WHEN $2 THEN disabled_at_ms IS NULL AND (NOT is_admin OR ",
                other_active_admins!(),
                " > 0) ELSE disabled_at_ms IS NOT NULL END)
                 RETURNING ",
                user_columns!()
            ))
            .bind(user_id)
            .bind(disabled)
            .bind(now)
            .fetch_optional(&mut *transaction)
            .await?;
            if let Some(row) = &row {
                let user = read_user(row, OPERATION).map_err(decode)?;
                let change = if disabled { AccountChange::UserDisabled } else { AccountChange::UserEnabled };
                record_account_event(&mut transaction, change, &user, now).await?;
                if disabled {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *transaction)
                        .await?;
                }
            }
            transaction.commit().await
        }
        .await;
        changed.map_err(query_error(OPERATION, None))?;
        self.user(user_id).await
    }

    async fn delete_user(&self, user_id: &str) -> Result<Option<UserDeletion>, StoreError> {
        const OPERATION: &str = "delete the user";
        let now = self.now_ms();
        let outcome: Result<Option<UserDeletion>, sqlx::Error> = async {
            let mut transaction = self.pool.begin().await?;
            lock_users(&mut transaction).await?;
            let row = sqlx::query(concat!(
                "SELECT ",
                user_columns!(),
                ", (is_admin AND disabled_at_ms IS NULL AND ",
                other_active_admins!(),
                " = 0) AS last_admin FROM users WHERE id = $1"
            ))
            .bind(user_id)
            .fetch_optional(&mut *transaction)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let user = read_user(&row, OPERATION).map_err(decode)?;
            if row.try_get::<bool, _>("last_admin")? {
                return Ok(Some(UserDeletion::LastAdmin(user)));
            }
            // The foreign keys cascade too; children first, as in SQLite.
            for statement in [
                "DELETE FROM traces WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = $1)",
                "DELETE FROM attachments WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = $1)",
                "DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = $1)",
                "DELETE FROM conversations WHERE user_id = $1",
                "DELETE FROM sessions WHERE user_id = $1",
                "DELETE FROM api_tokens WHERE user_id = $1",
                "DELETE FROM users WHERE id = $1",
            ] {
                sqlx::query(statement).bind(user_id).execute(&mut *transaction).await?;
            }
            record_account_event(&mut transaction, AccountChange::UserDeleted, &user, now).await?;
            transaction.commit().await?;
            Ok(Some(UserDeletion::Deleted(user)))
        }
        .await;
        outcome.map_err(query_error(OPERATION, None))
    }

    async fn take_account_events(&self, limit: usize) -> Result<Vec<AccountEvent>, StoreError> {
        const OPERATION: &str = "take the account events";
        // SKIP LOCKED: servers taking at once take different events, each once.
        let rows = sqlx::query(
            "DELETE FROM account_events WHERE seq IN (
                 SELECT seq FROM account_events ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
             )
             RETURNING seq, kind, user_id, username, created_at_ms",
        )
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        crate::rows::read_account_events(&rows, OPERATION)
    }

    async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        const OPERATION: &str = "read the user";
        let query = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1")).bind(id);
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| read_user(&row, OPERATION)).transpose()
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        const OPERATION: &str = "find the user by name";
        let query =
            sqlx::query(concat!("SELECT ", user_columns!(), ", password_hash FROM users WHERE username_key = $1"))
                .bind(fold_case(username));
        let row = self.optional_row(query, OPERATION).await?;
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
        let error = || query_error("create the session", None);
        let now = self.now_ms();
        // Sessions that are over are of no use to anyone; sweep them as new ones start.
        sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(error())?;
        let inserted = sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at_ms, expires_at_ms)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await
        .map_err(error())?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::NotFound { what: "user", id: user_id.to_owned() });
        }
        Ok(())
    }

    async fn session_user(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        const OPERATION: &str = "read the session";
        let query = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users
             WHERE id = (SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at_ms > $2)"
        ))
        .bind(token_hash)
        .bind(self.now_ms());
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| read_user(&row, OPERATION)).transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(query_error("delete the session", None))?;
        Ok(())
    }

    async fn sessions(&self, user_id: &str, current: Option<&str>) -> Result<Vec<SessionInfo>, StoreError> {
        let error = || query_error("list the sessions", None);
        let rows = sqlx::query(
            "SELECT id, created_at_ms, expires_at_ms, token_hash IS NOT DISTINCT FROM $3 AS current FROM sessions
             WHERE user_id = $1 AND expires_at_ms > $2 ORDER BY created_at_ms DESC, id DESC",
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
        let result = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(query_error("end the session", None))?;
        Ok(result.rows_affected() == 1)
    }

    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<bool, StoreError> {
        let outcome: Result<bool, sqlx::Error> = async {
            let mut transaction = self.pool.begin().await?;
            let updated = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .execute(&mut *transaction)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2")
                .bind(user_id)
                .bind(keep_session)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok(updated.rows_affected() == 1)
        }
        .await;
        outcome.map_err(query_error("change the password", None))
    }

    async fn create_api_token(&self, user_id: &str, name: &str, token_hash: &str) -> Result<ApiToken, StoreError> {
        const OPERATION: &str = "create the API token";
        let query = sqlx::query(concat!(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at_ms)
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)
             RETURNING ",
            token_columns!()
        ))
        .bind(new_id())
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(self.now_ms());
        let row = self.optional_row(query, OPERATION).await?;
        let row = row.ok_or_else(|| StoreError::NotFound { what: "user", id: user_id.to_owned() })?;
        read_token(&row, OPERATION)
    }

    async fn api_token_user(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        const OPERATION: &str = "authenticate the API token";
        let query = sqlx::query("UPDATE api_tokens SET last_used_at_ms = $2 WHERE token_hash = $1 RETURNING user_id")
            .bind(token_hash)
            .bind(self.now_ms());
        let Some(token) = self.optional_row(query, OPERATION).await? else {
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
            " FROM api_tokens WHERE user_id = $1 ORDER BY created_at_ms, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_token(row, OPERATION)).collect()
    }

    async fn delete_api_token(&self, user_id: &str, token_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
            .bind(token_id)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(query_error("delete the API token", None))?;
        Ok(result.rows_affected() > 0)
    }

    async fn create_conversation(&self, user_id: &str, title: &str) -> Result<Conversation, StoreError> {
        const OPERATION: &str = "create the conversation";
        let now = self.now_ms();
        let query = sqlx::query(concat!(
            "INSERT INTO conversations (id, user_id, title, title_key, created_at_ms, updated_at_ms)
             SELECT $1, $2, $3, $4, $5, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)
             RETURNING ",
            conversation_columns!()
        ))
        .bind(new_id())
        .bind(user_id)
        .bind(title)
        .bind(fold_case(title))
        .bind(now);
        let row = self.optional_row(query, OPERATION).await?;
        let row = row.ok_or_else(|| StoreError::NotFound { what: "user", id: user_id.to_owned() })?;
        read_conversation(&row, OPERATION)
    }

    async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        const OPERATION: &str = "read the conversation";
        let query =
            sqlx::query(concat!("SELECT ", conversation_columns!(), " FROM conversations WHERE id = $1")).bind(id);
        let row = self.optional_row(query, OPERATION).await?;
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
        let mut query =
            QueryBuilder::<Postgres>::new(concat!("SELECT ", conversation_columns!(), " FROM conversations"));
        query.push(" WHERE user_id = ").push_bind(user_id);
        if let Some(search) = search {
            query.push(" AND title_key LIKE ").push_bind(contains_pattern(&fold_case(search))).push(" ESCAPE '\\'");
        }
        if let Some((updated_at_ms, id)) = after {
            query.push(" AND (updated_at_ms, id) < (").push_bind(updated_at_ms).push(", ").push_bind(id).push(")");
        }
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
            "UPDATE conversations SET title = $2, title_key = $3 WHERE id = $1 RETURNING ",
            conversation_columns!()
        ))
        .bind(id)
        .bind(title)
        .bind(fold_case(title));
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| read_conversation(&row, OPERATION)).transpose()
    }

    async fn set_conversation_plugins(
        &self,
        id: &str,
        plugins: Option<&serde_json::Value>,
    ) -> Result<Option<Conversation>, StoreError> {
        const OPERATION: &str = "set the conversation's plugins";
        let query = sqlx::query(concat!(
            "UPDATE conversations SET plugins = $2 WHERE id = $1 RETURNING ",
            conversation_columns!()
        ))
        .bind(id)
        .bind(plugins.map(Value::to_string));
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| read_conversation(&row, OPERATION)).transpose()
    }

    async fn delete_conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        const OPERATION: &str = "delete the conversation";
        let row: Result<Option<PgRow>, sqlx::Error> = async {
            let mut transaction = self.pool.begin().await?;
            for statement in [
                "DELETE FROM traces WHERE conversation_id = $1",
                "DELETE FROM attachments WHERE conversation_id = $1",
                "DELETE FROM messages WHERE conversation_id = $1",
            ] {
                sqlx::query(statement).bind(id).execute(&mut *transaction).await?;
            }
            let row =
                sqlx::query(concat!("DELETE FROM conversations WHERE id = $1 RETURNING ", conversation_columns!()))
                    .bind(id)
                    .fetch_optional(&mut *transaction)
                    .await?;
            transaction.commit().await?;
            Ok(row)
        }
        .await;
        let row = row.map_err(query_error(OPERATION, None))?;
        row.map(|row| read_conversation(&row, OPERATION)).transpose()
    }

    async fn add_message(&self, message: &NewMessage) -> Result<Message, StoreError> {
        const OPERATION: &str = "add the message";
        // One statement, with the trigger `messages_touch_conversation`; seq (an identity
        // column) breaks ties within a millisecond. `FOR UPDATE` on the conversation queues
        // the messages added to one conversation at once, so each one's created_at_ms sees
        // the one before it.
        let query = sqlx::query(concat!(
            "INSERT INTO messages (id, conversation_id, role, author, content, data, status, created_at_ms,
                                   touched_at_ms)
             SELECT $1, conversation.id, $3, $4, $5, $6, $7,
                    GREATEST((SELECT MAX(created_at_ms) FROM messages WHERE conversation_id = $2), $8), $8
             FROM (SELECT id FROM conversations WHERE id = $2 FOR UPDATE) AS conversation
             RETURNING ",
            message_columns!()
        ))
        .bind(new_id())
        .bind(&message.conversation_id)
        .bind(role_name(message.role))
        .bind(&message.author)
        .bind(&message.content)
        .bind(message.data.as_ref().map(Value::to_string))
        .bind(status_name(message.status))
        .bind(self.now_ms());
        let row = self.optional_row(query, OPERATION).await?;
        let row =
            row.ok_or_else(|| StoreError::NotFound { what: "conversation", id: message.conversation_id.clone() })?;
        read_message(&row, OPERATION)
    }

    async fn message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        const OPERATION: &str = "read the message";
        let query = sqlx::query(concat!("SELECT ", message_columns!(), " FROM messages WHERE id = $1")).bind(id);
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| read_message(&row, OPERATION)).transpose()
    }

    async fn list_messages(&self, conversation_id: &str) -> Result<Vec<Message>, StoreError> {
        const OPERATION: &str = "list the messages";
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 AND deleted_at_ms IS NULL
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
            "UPDATE messages SET content = $2, data = $3, status = $4, touched_at_ms = $5 WHERE id = $1 RETURNING ",
            message_columns!()
        ))
        .bind(id)
        .bind(content)
        .bind(data.map(Value::to_string))
        .bind(status_name(status))
        .bind(self.now_ms());
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| read_message(&row, OPERATION)).transpose()
    }

    async fn edit_message(&self, id: &str, content: &str) -> Result<Option<Message>, StoreError> {
        const OPERATION: &str = "edit the message";
        let query = sqlx::query(concat!(
            "UPDATE messages SET content = $2, edited_at_ms = $3 WHERE id = $1 AND deleted_at_ms IS NULL
             RETURNING ",
            message_columns!()
        ))
        .bind(id)
        .bind(content)
        .bind(self.now_ms());
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| read_message(&row, OPERATION)).transpose()
    }

    async fn delete_message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        const OPERATION: &str = "delete the message";
        let query = sqlx::query(concat!(
            "UPDATE messages SET deleted_at_ms = $2 WHERE id = $1 AND deleted_at_ms IS NULL
             RETURNING ",
            message_columns!()
        ))
        .bind(id)
        .bind(self.now_ms());
        let row = self.optional_row(query, OPERATION).await?;
        let deleted = row.map(|row| read_message(&row, OPERATION)).transpose()?;
        // RETURNING gives the row after the update; before it, it was not deleted.
        Ok(deleted.map(|message| Message { deleted_at_ms: None, ..message }))
    }

    async fn mark_stale_streaming_messages(&self, stale_after: Duration) -> Result<Vec<Message>, StoreError> {
        const OPERATION: &str = "mark interrupted messages as partial";
        let rows = sqlx::query(concat!(
            "UPDATE messages SET status = 'partial'
             WHERE status = 'streaming' AND (touched_at_ms IS NULL OR touched_at_ms <= $1)
             RETURNING ",
            message_columns!()
        ))
        .bind(stale_before_ms(self.now_ms(), stale_after))
        .fetch_all(&self.pool)
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
             SELECT $1, $2, $3, $4, $5, $6, $7, $8
             WHERE EXISTS (SELECT 1 FROM conversations WHERE id = $2)
               AND ($3::TEXT IS NULL OR EXISTS (SELECT 1 FROM messages WHERE id = $3 AND conversation_id = $2))
             RETURNING ",
            attachment_columns!()
        ))
        .bind(new_id())
        .bind(conversation_id)
        .bind(message_id)
        .bind(file_name)
        .bind(media_type)
        .bind(size)
        .bind(self.now_ms())
        .bind(bytes);
        match self.optional_row(query, OPERATION).await? {
            Some(row) => read_attachment(&row, OPERATION),
            None => Err(self.missing_parent(conversation_id, message_id, OPERATION).await?),
        }
    }

    async fn attachment(&self, id: &str) -> Result<Option<(Attachment, Vec<u8>)>, StoreError> {
        const OPERATION: &str = "read the attachment";
        let query =
            sqlx::query(concat!("SELECT ", attachment_columns!(), ", bytes FROM attachments WHERE id = $1")).bind(id);
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| Ok((read_attachment(&row, OPERATION)?, column(&row, "bytes", OPERATION)?))).transpose()
    }

    async fn list_attachments(&self, conversation_id: &str) -> Result<Vec<Attachment>, StoreError> {
        const OPERATION: &str = "list the attachments";
        let rows = sqlx::query(concat!(
            "SELECT ",
            attachment_columns!(),
            " FROM attachments WHERE conversation_id = $1 ORDER BY created_at_ms, id"
        ))
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_attachment(row, OPERATION)).collect()
    }

    async fn delete_attachment(&self, id: &str) -> Result<Option<Attachment>, StoreError> {
        const OPERATION: &str = "delete the attachment";
        let query =
            sqlx::query(concat!("DELETE FROM attachments WHERE id = $1 RETURNING ", attachment_columns!())).bind(id);
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| read_attachment(&row, OPERATION)).transpose()
    }

    async fn add_trace(&self, message_id: &str, conversation_id: &str, trace_json: &str) -> Result<(), StoreError> {
        const OPERATION: &str = "record the trace";
        if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(trace_json) {
            return Err(StoreError::InvalidInput {
                what: "trace",
                message: format!("it is not JSON ({error}); pass the trace as a JSON document"),
            });
        }
        let inserted = sqlx::query(
            "INSERT INTO traces (message_id, conversation_id, trace, created_at_ms)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM messages WHERE id = $1 AND conversation_id = $2)
             ON CONFLICT (message_id) DO UPDATE SET trace = excluded.trace, created_at_ms = excluded.created_at_ms",
        )
        .bind(message_id)
        .bind(conversation_id)
        .bind(trace_json)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?
        .rows_affected();
        if inserted == 0 {
            return Err(self.missing_parent(conversation_id, Some(message_id), OPERATION).await?);
        }
        Ok(())
    }

    async fn trace(&self, message_id: &str) -> Result<Option<TraceRecord>, StoreError> {
        const OPERATION: &str = "read the trace";
        let query =
            sqlx::query(concat!("SELECT ", trace_columns!(), " FROM traces WHERE message_id = $1")).bind(message_id);
        let row = self.optional_row(query, OPERATION).await?;
        row.map(|row| read_trace(&row, OPERATION)).transpose()
    }

    async fn conversation_traces(&self, conversation_id: &str) -> Result<Vec<TraceRecord>, StoreError> {
        const OPERATION: &str = "read the conversation's traces";
        let rows = sqlx::query(
            "SELECT traces.message_id, traces.conversation_id, traces.created_at_ms, traces.trace
             FROM traces JOIN messages ON messages.id = traces.message_id
             WHERE traces.conversation_id = $1
             ORDER BY traces.created_at_ms, messages.seq",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_trace(row, OPERATION)).collect()
    }
}
