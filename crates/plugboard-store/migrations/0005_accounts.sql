-- Account administration: a user can be disabled (kept, but unable to sign in or use a
-- token), and account changes wait in `account_events` until a server tells the plugins,
-- so a change made by `plugboard user ...` on a stopped server reaches them at the next
-- start.

-- When the user was disabled; NULL = active.
ALTER TABLE users ADD COLUMN disabled_at_ms INTEGER;

-- Account changes not yet told to the plugins, written in the same transaction as the
-- change. A server takes them in `seq` order and deletes what it takes.
CREATE TABLE account_events (
    seq           INTEGER NOT NULL PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (kind IN ('user-created', 'user-disabled', 'user-enabled', 'user-deleted')),
    user_id       TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;
