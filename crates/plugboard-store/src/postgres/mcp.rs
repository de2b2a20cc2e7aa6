//! MCP servers in PostgreSQL ([`crate::mcp`]); the trigger of
//! `migrations-postgres/0010_mcp_servers.sql` tells every server of a change.

use sqlx::Row;

use crate::mcp::{MCP_SERVER_COLUMNS, not_json, read_mcp_server};
use crate::rows::query_error;
use crate::{McpSecretsChange, PgStore, StoreError, StoredMcpServer};

impl PgStore {
    pub(super) async fn read_mcp_servers(&self) -> Result<Vec<StoredMcpServer>, StoreError> {
        const OPERATION: &str = "read the MCP servers";
        let rows = sqlx::query(&format!("SELECT {MCP_SERVER_COLUMNS} FROM mcp_servers ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_mcp_server(row, OPERATION)).collect()
    }

    pub(super) async fn read_mcp_server(&self, name: &str) -> Result<Option<StoredMcpServer>, StoreError> {
        const OPERATION: &str = "read an MCP server";
        let row = sqlx::query(&format!("SELECT {MCP_SERVER_COLUMNS} FROM mcp_servers WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        row.map(|row| read_mcp_server(&row, OPERATION)).transpose()
    }

    pub(super) async fn insert_mcp_server(&self, server: &StoredMcpServer) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO mcp_servers (name, config, secrets, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&server.name)
        .bind(server.config.to_string())
        .bind(server.secrets.to_string())
        .bind(self.now_ms())
        .execute(&self.pool)
        .await
        .map_err(query_error("add an MCP server", None))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn update_mcp_server(&self, server: &StoredMcpServer) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE mcp_servers SET config = $2, secrets = $3, updated_at_ms = $4 WHERE name = $1")
            .bind(&server.name)
            .bind(server.config.to_string())
            .bind(server.secrets.to_string())
            .bind(self.now_ms())
            .execute(&self.pool)
            .await
            .map_err(query_error("change an MCP server", None))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn delete_mcp_server(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM mcp_servers WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(query_error("remove an MCP server", None))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn swap_mcp_secrets(&self, changes: &[McpSecretsChange]) -> Result<bool, StoreError> {
        const OPERATION: &str = "replace the MCP servers' secrets";
        let now = self.now_ms();
        let mut transaction = self.pool.begin().await.map_err(query_error(OPERATION, None))?;
        for change in changes {
            // FOR UPDATE: no one saves this server between the comparison and the update.
            let row = sqlx::query("SELECT secrets FROM mcp_servers WHERE name = $1 FOR UPDATE")
                .bind(&change.name)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(query_error(OPERATION, None))?;
            // Returning drops the transaction, which rolls it back.
            let Some(row) = row else { return Ok(false) };
            let stored: String = row.try_get("secrets").map_err(query_error(OPERATION, None))?;
            let stored: serde_json::Value =
                serde_json::from_str(&stored).map_err(|error| not_json(&change.name, "secrets", &error))?;
            if stored != change.expected {
                return Ok(false);
            }
            sqlx::query("UPDATE mcp_servers SET secrets = $2, updated_at_ms = $3 WHERE name = $1")
                .bind(&change.name)
                .bind(change.new.to_string())
                .bind(now)
                .execute(&mut *transaction)
                .await
                .map_err(query_error(OPERATION, None))?;
        }
        transaction.commit().await.map_err(query_error(OPERATION, None))?;
        Ok(true)
    }
}
