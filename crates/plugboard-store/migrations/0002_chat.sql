-- The chat server's data: users and how they sign in (browser sessions, API tokens), their
-- conversations, and the messages, attachments and plugin traces of a conversation.
-- Ids are UUIDv7 text and times are milliseconds since the Unix epoch, both set by the
-- store; JSON columns hold JSON text; booleans are 0/1. The types are plain and the
-- queries standard SQL, so a PostgreSQL schema can mirror this one (STRICT and the rowid
-- alias `messages.seq` are the SQLite-specific parts).
-- A released migration is never edited: sqlx checks its checksum. Change the schema with a
-- new numbered file.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    -- As the user typed it, for display.
    username      TEXT    NOT NULL,
    -- The username lower-cased by the store: names are unique regardless of case.
    username_key  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL CHECK (is_admin IN (0, 1)),
    created_at_ms INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX users_by_username_key ON users (username_key);

-- Browser sessions. The token is hashed (SHA-256 hex) by the caller; the cookie value
-- itself is never stored.
CREATE TABLE sessions (
    token_hash    TEXT    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms INTEGER NOT NULL,
    -- A session with expires_at_ms <= now is over.
    expires_at_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

-- API tokens, hashed by the caller like session tokens.
CREATE TABLE api_tokens (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    token_hash      TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    last_used_at_ms INTEGER
) STRICT;

CREATE UNIQUE INDEX api_tokens_by_token_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at_ms, id);

CREATE TABLE conversations (
    id            TEXT    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title         TEXT    NOT NULL,
    -- The title lower-cased by the store, for case-insensitive search in any script.
    title_key     TEXT    NOT NULL,
    -- JSON text: the conversation's own choice of plugins; NULL = the global set.
    plugins       TEXT,
    created_at_ms INTEGER NOT NULL,
    -- The last activity: creation, or the newest message added.
    updated_at_ms INTEGER NOT NULL
) STRICT;

-- Listing a user's conversations newest first, and paging by (updated_at_ms, id).
CREATE INDEX conversations_by_user_updated ON conversations (user_id, updated_at_ms, id);

CREATE TABLE messages (
    -- The rowid: the order in which messages were added (never reused for a lower value,
    -- so it orders the messages that exist). Breaks ties between messages of the same
    -- millisecond; not part of the public API.
    seq             INTEGER NOT NULL PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    -- "user", "assistant", or the id of the plugin that wrote it.
    author          TEXT    NOT NULL,
    content         TEXT    NOT NULL,
    -- JSON text: tool calls or a tool result's details; NULL = none.
    data            TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('complete', 'streaming', 'partial')),
    -- Never earlier than the conversation's previous message, so (created_at_ms, seq)
    -- is the order in which messages were added even if the clock stepped back.
    created_at_ms   INTEGER NOT NULL,
    edited_at_ms    INTEGER,
    -- Soft delete: a deleted message is left out of the conversation but kept.
    deleted_at_ms   INTEGER
) STRICT;

CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at_ms, seq);
-- Start-up finds replies that were cut off; there are few of them at any time.
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';

CREATE TABLE attachments (
    id              TEXT    NOT NULL PRIMARY KEY,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      TEXT    REFERENCES messages (id) ON DELETE SET NULL,
    file_name       TEXT    NOT NULL,
    media_type      TEXT    NOT NULL,
    -- The length of `bytes`.
    size            INTEGER NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    -- Last, so that listing the other columns does not read the file's pages.
    bytes           BLOB    NOT NULL
) STRICT;

CREATE INDEX attachments_by_conversation ON attachments (conversation_id, created_at_ms, id);
-- For the foreign key: deleting messages looks up their attachments.
CREATE INDEX attachments_by_message ON attachments (message_id);

-- The plugin trace of one chat turn, keyed by the message the turn produced.
CREATE TABLE traces (
    message_id      TEXT    NOT NULL PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- JSON text, as the chat engine wrote it.
    trace           TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL
) STRICT;

CREATE INDEX traces_by_conversation ON traces (conversation_id, created_at_ms);
