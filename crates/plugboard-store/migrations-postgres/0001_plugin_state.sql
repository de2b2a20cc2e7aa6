-- The plugin registry's persistent state, as `migrations/0001_plugin_state.sql` has it for
-- SQLite: one record per plugin, its fault history and its private key-value store.
-- Text that is ordered or compared by the store uses the "C" collation (byte order), as
-- SQLite's BINARY does. A released migration is never edited: sqlx checks its checksum.

CREATE TABLE plugin_state (
    plugin          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT,
    -- JSON text, as the operator saved it (defaults not applied); NULL = never set.
    settings        TEXT,
    fail_mode       TEXT,
    updated_at_ms   BIGINT  NOT NULL
);

CREATE TABLE plugin_faults (
    -- Breaks ties between faults of the same millisecond in insertion order.
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plugin  TEXT COLLATE "C" NOT NULL,
    version TEXT   NOT NULL,
    at_ms   BIGINT NOT NULL,
    error   TEXT   NOT NULL
);

CREATE INDEX plugin_faults_by_plugin_at ON plugin_faults (plugin, at_ms, id);

-- `key` is the key's UTF-8 bytes: BYTEA compares bytewise (listing in key order is listing
-- in byte order, prefix ranges use the primary key) and holds any character, NUL included,
-- which TEXT cannot.
CREATE TABLE plugin_kv (
    plugin        TEXT COLLATE "C" NOT NULL,
    key           BYTEA  NOT NULL,
    value         BYTEA  NOT NULL,
    -- NULL = never expires. An entry with expires_at_ms <= now is absent to every reader.
    expires_at_ms BIGINT,
    PRIMARY KEY (plugin, key)
);

CREATE INDEX plugin_kv_by_expiry ON plugin_kv (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
