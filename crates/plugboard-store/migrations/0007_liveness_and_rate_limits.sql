-- Several servers on one database: a reply being streamed shows it is alive, and rate
-- limits are counted once for all servers.

-- When the server streaming this message last wrote it (its text, or a heartbeat while
-- the text did not change); NULL for rows written before this column. A `streaming`
-- row untouched for longer than the staleness limit belongs to a server that died, and
-- any server's sweep marks it `partial`.
ALTER TABLE messages ADD COLUMN touched_at_ms INTEGER;

-- Rate limits shared by every server (GCRA): per key, the theoretical arrival time of
-- the next unit in microseconds since the Unix epoch. A key whose time has passed is
-- back to its full burst, the same as having no row, and is pruned.
CREATE TABLE rate_limits (
    key         TEXT    NOT NULL PRIMARY KEY,
    tat_us      INTEGER NOT NULL
) STRICT;

CREATE INDEX rate_limits_by_time ON rate_limits (tat_us);
