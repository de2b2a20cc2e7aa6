-- What every server sharing a database must see alike, as `migrations/0006_cluster.sql`
-- has it for SQLite: the installed packages (kept whole) and the trusted public keys, with
-- a row left by a removal. Here the database also tells the servers of each change:
-- `NOTIFY plugboard_changes` with the table's topic, sent when the writing transaction
-- commits (PostgreSQL folds equal notifications of one transaction into one).

CREATE TABLE plugin_packages (
    plugin        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    version       TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    bytes         BYTEA,
    signer_fingerprint TEXT,
    signer        TEXT,
    trusted       BOOLEAN NOT NULL,
    removed       BOOLEAN NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);

CREATE TABLE trusted_keys (
    fingerprint   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    key_text      TEXT    NOT NULL,
    removed       BOOLEAN NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);

CREATE FUNCTION plugboard_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('plugboard_changes', TG_ARGV[0]);
    RETURN NULL;
END;
$$;

CREATE TRIGGER plugin_state_changed AFTER INSERT OR UPDATE OR DELETE ON plugin_state
    FOR EACH STATEMENT EXECUTE FUNCTION plugboard_notify_change('plugins');
CREATE TRIGGER plugin_packages_changed AFTER INSERT OR UPDATE OR DELETE ON plugin_packages
    FOR EACH STATEMENT EXECUTE FUNCTION plugboard_notify_change('packages');
CREATE TRIGGER trusted_keys_changed AFTER INSERT OR UPDATE OR DELETE ON trusted_keys
    FOR EACH STATEMENT EXECUTE FUNCTION plugboard_notify_change('trusted_keys');
