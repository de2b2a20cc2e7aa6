-- Tool calls a person approves, as `migrations/0009_tool_approvals.sql` has it for SQLite:
-- administrators' tool policies (by the tool's name as the model sees it, or a whole
-- source, `plugin:<id>` / `mcp:<server>`), and the calls waiting for a person with what
-- they decided (JSON columns hold JSON text). An approval goes with its conversation.
CREATE TABLE tool_policies (
    key           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    policy        TEXT NOT NULL CHECK (policy IN ('auto', 'ask', 'deny')),
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE tool_approvals (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    conversation_id   TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id           TEXT COLLATE "C" NOT NULL,
    message_id        TEXT COLLATE "C" NOT NULL,
    call_id           TEXT NOT NULL,
    tool              TEXT NOT NULL,
    source            TEXT NOT NULL,
    arguments         TEXT NOT NULL,
    reason            TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    decided_arguments TEXT,
    decision_reason   TEXT,
    created_at_ms     BIGINT NOT NULL,
    expires_at_ms     BIGINT NOT NULL,
    decided_at_ms     BIGINT
);

CREATE INDEX tool_approvals_by_conversation ON tool_approvals (conversation_id, created_at_ms);
