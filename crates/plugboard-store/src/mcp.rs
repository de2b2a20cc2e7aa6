//! MCP servers an administrator added through the API ([`StoredMcpServer`]). The store
//! keeps their configuration as JSON without the secret values and the secrets apart, as
//! the caller sealed them: it neither reads nor judges either.

use serde::Serialize;

use crate::rows::StoreRow;

/// One MCP server as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMcpServer {
    /// Its unique name.
    pub name: String,
    /// Its configuration as JSON, every secret value left out (its name kept).
    pub config: serde_json::Value,
    /// Its secret values, each sealed under the server key, as a JSON object (such as
    /// `{"env.TOKEN": {"$encrypted": "v1:..."}}`).
    pub secrets: serde_json::Value,
    /// When it was added, milliseconds since the Unix epoch (set by the store).
    pub created_at_ms: i64,
    /// When it was last changed, milliseconds since the Unix epoch (set by the store).
    pub updated_at_ms: i64,
}

/// A change of one MCP server's sealed secrets, made only while they are still `expected`
/// ([`PluginStore::replace_mcp_secrets`](crate::PluginStore::replace_mcp_secrets)).
#[derive(Debug, Clone, PartialEq)]
pub struct McpSecretsChange {
    /// The server's name; it must exist.
    pub name: String,
    /// The secrets as the caller read them.
    pub expected: serde_json::Value,
    /// The secrets to keep instead.
    pub new: serde_json::Value,
}

/// The columns [`read_mcp_server`] reads.
pub(crate) const MCP_SERVER_COLUMNS: &str = "name, config, secrets, created_at_ms, updated_at_ms";

/// Why a row does not read: a column that is not JSON.
pub(crate) fn not_json(name: &str, column: &str, error: &serde_json::Error) -> crate::StoreError {
    crate::StoreError::CorruptRow {
        what: "MCP server",
        id: name.to_owned(),
        message: format!("its {column} are not JSON ({error})"),
    }
}

/// Reads an `mcp_servers` row of [`MCP_SERVER_COLUMNS`].
pub(crate) fn read_mcp_server(
    row: &impl StoreRow,
    operation: &'static str,
) -> Result<StoredMcpServer, crate::StoreError> {
    let name: String = row.get("name").map_err(crate::rows::query_error(operation, None))?;
    let text = |column: &str| -> Result<serde_json::Value, crate::StoreError> {
        let text: String = row.get(column).map_err(crate::rows::query_error(operation, None))?;
        serde_json::from_str(&text).map_err(|error| not_json(&name, column, &error))
    };
    Ok(StoredMcpServer {
        config: text("config")?,
        secrets: text("secrets")?,
        created_at_ms: row.get("created_at_ms").map_err(crate::rows::query_error(operation, None))?,
        updated_at_ms: row.get("updated_at_ms").map_err(crate::rows::query_error(operation, None))?,
        name,
    })
}
