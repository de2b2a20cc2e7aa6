-- Failed logins counted once for all servers, as `migrations/0008_login_failures.sql` has
-- it for SQLite: per key (`account:<folded name>` or `address:<network>`), the failures
-- counted, when the last one was, and until when the key is blocked (milliseconds since
-- the Unix epoch). A key with no failure for the forget time and no block left is the same
-- as having no row, and is purged.
CREATE TABLE login_failures (
    key                 TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    count               BIGINT NOT NULL,
    last_ms             BIGINT NOT NULL,
    blocked_until_ms    BIGINT NOT NULL
);

CREATE INDEX login_failures_by_time ON login_failures (last_ms);
