-- The MCP servers administrators added through the API, as `migrations/0010_mcp_servers.sql`
-- has it for SQLite: the configuration as JSON text without secret values, and the secrets
-- sealed under the server key. A change notifies `plugboard_changes` with the topic
-- `mcp_servers` when it commits, so every server sharing the database applies it.
CREATE TABLE mcp_servers (
    name          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    config        TEXT   NOT NULL,
    secrets       TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TRIGGER mcp_servers_changed AFTER INSERT OR UPDATE OR DELETE ON mcp_servers
    FOR EACH STATEMENT EXECUTE FUNCTION plugboard_notify_change('mcp_servers');
