-- The MCP servers administrators added through the API (those of the configuration file are
-- not stored). `config` is the server's configuration as JSON with every secret value left
-- out (the names of its `env` variables and `headers` kept, their values as "(secret)");
-- `secrets` is a JSON object of those values, each sealed under the server key
-- (`{"env.TOKEN": {"$encrypted": "v1:..."}}`), so a copied database gives none away.
-- A removal deletes the row: every server applies the whole list it reads.
CREATE TABLE mcp_servers (
    name          TEXT    NOT NULL PRIMARY KEY,
    config        TEXT    NOT NULL,
    secrets       TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;
