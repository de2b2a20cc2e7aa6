-- Scheduled tasks, as `migrations/0004_scheduled_tasks.sql` has them for SQLite: where
-- each plugin task stands, and the newest runs of each. A due run happens only by moving
-- `next_due_ms` on from the due time it names (one conditional UPDATE), so a due time is
-- claimed once however many servers look at it.

CREATE TABLE task_state (
    plugin           TEXT COLLATE "C" NOT NULL,
    task             TEXT COLLATE "C" NOT NULL,
    -- The schedule in words: when it changes, the next due time is worked out afresh.
    schedule         TEXT   NOT NULL,
    next_due_ms      BIGINT NOT NULL,
    -- The due time of the last run claimed (NULL: never run on schedule).
    last_due_ms      BIGINT,
    -- While a run is under way: when its lease ends. NULL: not running.
    running_until_ms BIGINT,
    PRIMARY KEY (plugin, task)
);

CREATE TABLE task_runs (
    -- Breaks ties between runs of the same millisecond in insertion order.
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plugin          TEXT COLLATE "C" NOT NULL,
    task            TEXT COLLATE "C" NOT NULL,
    -- `schedule`, `catch-up` or `manual`.
    trigger         TEXT   NOT NULL,
    scheduled_at_ms BIGINT NOT NULL,
    started_at_ms   BIGINT NOT NULL,
    duration_ms     BIGINT NOT NULL,
    -- `ok`, `error`, `deadline` or `skipped`.
    outcome         TEXT   NOT NULL,
    error           TEXT
);

CREATE INDEX task_runs_by_task ON task_runs (plugin, task, started_at_ms, id);
