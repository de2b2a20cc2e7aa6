-- Tool calls a person approves. `tool_policies`: what an administrator set for a tool the
-- model is offered (keyed by the name the model sees, `calculator__evaluate`) or for all
-- of a source's tools (`plugin:calculator`, `mcp:files`). `tool_approvals`: a call of the
-- model waiting for the conversation's owner, and what they decided (JSON columns hold
-- JSON text). An approval goes with its conversation.
CREATE TABLE tool_policies (
    key           TEXT    NOT NULL PRIMARY KEY,
    policy        TEXT    NOT NULL CHECK (policy IN ('auto', 'ask', 'deny')),
    updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE tool_approvals (
    id                TEXT    NOT NULL PRIMARY KEY,
    conversation_id   TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id           TEXT    NOT NULL,
    -- The assistant message that holds the call, and the call's id in it.
    message_id        TEXT    NOT NULL,
    call_id           TEXT    NOT NULL,
    -- The tool as the model named it, and who offers it (a plugin id, `mcp:<server>`).
    tool              TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    arguments         TEXT    NOT NULL,
    -- Which policy asked.
    reason            TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    -- The arguments the person approved instead of the model's; NULL = the model's.
    decided_arguments TEXT,
    -- Why they denied it, if they said.
    decision_reason   TEXT,
    created_at_ms     INTEGER NOT NULL,
    -- A pending approval not decided by then is a denial (`expired`).
    expires_at_ms     INTEGER NOT NULL,
    decided_at_ms     INTEGER
) STRICT;

CREATE INDEX tool_approvals_by_conversation ON tool_approvals (conversation_id, created_at_ms);
