-- Scheduled tasks: where each plugin task stands, and the newest runs of each.
-- `task_state` is the claim point: a due run happens only by moving `next_due_ms` on from
-- the due time it names (one conditional UPDATE), so a due time is claimed once however
-- many servers look at it, and a restart never runs it twice.

CREATE TABLE task_state (
    plugin           TEXT    NOT NULL,
    task             TEXT    NOT NULL,
    -- The schedule in words (`every 1m`, `cron 0 3 * * * (UTC)`): when it changes, the
    -- next due time is worked out afresh.
    schedule         TEXT    NOT NULL,
    -- When the task is next due, milliseconds since the Unix epoch.
    next_due_ms      INTEGER NOT NULL,
    -- The due time of the last run claimed (NULL: never run on schedule).
    last_due_ms      INTEGER,
    -- While a run is under way: when its lease ends (its deadline and a margin), so a run
    -- whose server died stops holding the task. NULL: not running.
    running_until_ms INTEGER,
    PRIMARY KEY (plugin, task)
) STRICT, WITHOUT ROWID;

CREATE TABLE task_runs (
    -- The rowid: breaks ties between runs of the same millisecond in insertion order.
    id              INTEGER NOT NULL PRIMARY KEY,
    plugin          TEXT    NOT NULL,
    task            TEXT    NOT NULL,
    -- `schedule`, `catch-up` or `manual`.
    trigger         TEXT    NOT NULL,
    scheduled_at_ms INTEGER NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    -- `ok`, `error`, `deadline` or `skipped`.
    outcome         TEXT    NOT NULL,
    error           TEXT
) STRICT;

CREATE INDEX task_runs_by_task ON task_runs (plugin, task, started_at_ms, id);
