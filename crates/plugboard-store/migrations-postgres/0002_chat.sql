-- The chat server's data, as `migrations/0002_chat.sql` has it for SQLite: users and how
-- they sign in, their conversations, and the messages, attachments and plugin traces of a
-- conversation. Ids are UUIDv7 text and times milliseconds since the Unix epoch, both set
-- by the store; JSON columns hold JSON text. Ids use the "C" collation so that they order
-- as in SQLite (page cursors compare them).
-- A released migration is never edited: sqlx checks its checksum.

CREATE TABLE users (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    -- As the user typed it, for display.
    username      TEXT    NOT NULL,
    -- The username lower-cased by the store: names are unique regardless of case.
    username_key  TEXT COLLATE "C" NOT NULL,
    password_hash TEXT    NOT NULL,
    is_admin      BOOLEAN NOT NULL,
    created_at_ms BIGINT  NOT NULL
);

CREATE UNIQUE INDEX users_by_username_key ON users (username_key);

-- Browser sessions. The token is hashed (SHA-256 hex) by the caller. `id` is what SQLite's
-- rowid is there: the number a person ends a session by.
CREATE TABLE sessions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    token_hash    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    -- A session with expires_at_ms <= now is over.
    expires_at_ms BIGINT NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

-- API tokens, hashed by the caller like session tokens.
CREATE TABLE api_tokens (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT   NOT NULL,
    token_hash      TEXT COLLATE "C" NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    last_used_at_ms BIGINT
);

CREATE UNIQUE INDEX api_tokens_by_token_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at_ms, id);

CREATE TABLE conversations (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title         TEXT   NOT NULL,
    -- The title lower-cased by the store, for case-insensitive search in any script.
    title_key     TEXT COLLATE "C" NOT NULL,
    -- JSON text: the conversation's own choice of plugins; NULL = the global set.
    plugins       TEXT,
    created_at_ms BIGINT NOT NULL,
    -- The last activity: creation, or the newest message added.
    updated_at_ms BIGINT NOT NULL
);

CREATE INDEX conversations_by_user_updated ON conversations (user_id, updated_at_ms, id);

CREATE TABLE messages (
    -- The order in which messages were added; breaks ties between messages of the same
    -- millisecond. Not part of the public API.
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    -- "user", "assistant", or the id of the plugin that wrote it.
    author          TEXT NOT NULL,
    content         TEXT NOT NULL,
    -- JSON text: tool calls or a tool result's details; NULL = none.
    data            TEXT,
    status          TEXT NOT NULL CHECK (status IN ('complete', 'streaming', 'partial')),
    -- Never earlier than the conversation's previous message.
    created_at_ms   BIGINT NOT NULL,
    edited_at_ms    BIGINT,
    -- Soft delete: a deleted message is left out of the conversation but kept.
    deleted_at_ms   BIGINT
);

CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at_ms, seq);
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';

CREATE TABLE attachments (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      TEXT COLLATE "C" REFERENCES messages (id) ON DELETE SET NULL,
    file_name       TEXT   NOT NULL,
    media_type      TEXT   NOT NULL,
    -- The length of `bytes`.
    size            BIGINT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    bytes           BYTEA  NOT NULL
);

CREATE INDEX attachments_by_conversation ON attachments (conversation_id, created_at_ms, id);
CREATE INDEX attachments_by_message ON attachments (message_id);

-- The plugin trace of one chat turn, keyed by the message the turn produced.
CREATE TABLE traces (
    message_id      TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- JSON text, as the chat engine wrote it.
    trace           TEXT   NOT NULL,
    created_at_ms   BIGINT NOT NULL
);

CREATE INDEX traces_by_conversation ON traces (conversation_id, created_at_ms);
