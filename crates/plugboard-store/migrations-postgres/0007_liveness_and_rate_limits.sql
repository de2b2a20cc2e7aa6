-- Several servers on one database, as `migrations/0007_liveness_and_rate_limits.sql` has
-- it for SQLite: a reply being streamed shows it is alive, and rate limits are counted
-- once for all servers.

-- When the server streaming this message last wrote it (its text, or a heartbeat); NULL
-- for rows written before this column. A `streaming` row untouched for longer than the
-- staleness limit belongs to a server that died, and any server's sweep marks it
-- `partial`.
ALTER TABLE messages ADD COLUMN touched_at_ms BIGINT;

-- Rate limits shared by every server (GCRA): per key, the theoretical arrival time of
-- the next unit in microseconds since the Unix epoch. A key whose time has passed is
-- back to its full burst, the same as having no row, and is pruned.
CREATE TABLE rate_limits (
    key         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tat_us      BIGINT NOT NULL
);

CREATE INDEX rate_limits_by_time ON rate_limits (tat_us);
