-- Account administration, as `migrations/0005_accounts.sql` has it for SQLite: a user can
-- be disabled, and account changes wait in `account_events` until a server tells the
-- plugins.

-- When the user was disabled; NULL = active.
ALTER TABLE users ADD COLUMN disabled_at_ms BIGINT;

-- Account changes not yet told to the plugins, written in the same transaction as the
-- change. A server takes them in `seq` order and deletes what it takes.
CREATE TABLE account_events (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT   NOT NULL CHECK (kind IN ('user-created', 'user-disabled', 'user-enabled', 'user-deleted')),
    user_id       TEXT   NOT NULL,
    username      TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);
