-- The plugin registry's persistent state: one record per plugin, its fault history and
-- its private key-value store. Every row is keyed by the plugin id; uninstall deletes by it.
-- A released migration is never edited: sqlx checks its checksum. Change the schema with a
-- new numbered file.

CREATE TABLE plugin_state (
    plugin          TEXT    NOT NULL PRIMARY KEY,
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    disabled_reason TEXT,
    -- JSON text, as the operator saved it (defaults not applied); NULL = never set.
    settings        TEXT,
    fail_mode       TEXT,
    updated_at_ms   INTEGER NOT NULL
) STRICT;

CREATE TABLE plugin_faults (
    -- The rowid: breaks ties between faults of the same millisecond in insertion order.
    id      INTEGER NOT NULL PRIMARY KEY,
    plugin  TEXT    NOT NULL,
    version TEXT    NOT NULL,
    at_ms   INTEGER NOT NULL,
    error   TEXT    NOT NULL
) STRICT;

CREATE INDEX plugin_faults_by_plugin_at ON plugin_faults (plugin, at_ms, id);

-- `key` uses the BINARY collation, which compares UTF-8 bytewise: listing in key order is
-- listing in byte order, and prefix ranges (`key >= ? AND key < ?`) use the primary key.
CREATE TABLE plugin_kv (
    plugin        TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    value         BLOB    NOT NULL,
    -- NULL = never expires. An entry with expires_at_ms <= now is absent to every reader.
    expires_at_ms INTEGER,
    PRIMARY KEY (plugin, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX plugin_kv_by_expiry ON plugin_kv (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
