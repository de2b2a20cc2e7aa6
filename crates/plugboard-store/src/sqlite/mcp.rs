//! MCP servers in SQLite ([`crate::mcp`]): every write on the single writer.

use futures_util::FutureExt;
use sqlx::{Connection, Row};

use crate::mcp::{MCP_SERVER_COLUMNS, not_json, read_mcp_server};
use crate::rows::query_error;
use crate::{McpSecretsChange, SqliteStore, StoreError, StoredMcpServer};

impl SqliteStore {
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
        let row = sqlx::query(&format!("SELECT {MCP_SERVER_COLUMNS} FROM mcp_servers WHERE name = ?1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        row.map(|row| read_mcp_server(&row, OPERATION)).transpose()
    }

    pub(super) async fn insert_mcp_server(&self, server: &StoredMcpServer) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let query = sqlx::query(
            "INSERT INTO mcp_servers (name, config, secrets, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(server.name.clone())
        .bind(server.config.to_string())
        .bind(server.secrets.to_string())
        .bind(now);
        let done = self.write_execute(query).await.map_err(query_error("add an MCP server", None))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn update_mcp_server(&self, server: &StoredMcpServer) -> Result<bool, StoreError> {
        let query = sqlx::query("UPDATE mcp_servers SET config = ?2, secrets = ?3, updated_at_ms = ?4 WHERE name = ?1")
            .bind(server.name.clone())
            .bind(server.config.to_string())
            .bind(server.secrets.to_string())
            .bind(self.now_ms());
        let done = self.write_execute(query).await.map_err(query_error("change an MCP server", None))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn delete_mcp_server(&self, name: &str) -> Result<bool, StoreError> {
        let query = sqlx::query("DELETE FROM mcp_servers WHERE name = ?1").bind(name.to_owned());
        let done = self.write_execute(query).await.map_err(query_error("remove an MCP server", None))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn swap_mcp_secrets(&self, changes: &[McpSecretsChange]) -> Result<bool, StoreError> {
        const OPERATION: &str = "replace the MCP servers' secrets";
        let changes = changes.to_vec();
        let now = self.now_ms();
        let outcome = self
            .write(move |connection| {
                async move {
                    // IMMEDIATE: no other process saves between the comparison and the update.
                    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
                    for change in &changes {
                        let row = sqlx::query("SELECT secrets FROM mcp_servers WHERE name = ?1")
                            .bind(change.name.as_str())
                            .fetch_optional(&mut *transaction)
                            .await?;
                        let Some(row) = row else { return Ok(Err(None)) };
                        let stored: String = row.try_get("secrets")?;
                        match serde_json::from_str::<serde_json::Value>(&stored) {
                            Ok(stored) if stored == change.expected => {}
                            Ok(_) => return Ok(Err(None)),
                            Err(error) => return Ok(Err(Some((change.name.clone(), error)))),
                        }
                        sqlx::query("UPDATE mcp_servers SET secrets = ?2, updated_at_ms = ?3 WHERE name = ?1")
                            .bind(change.name.as_str())
                            .bind(change.new.to_string())
                            .bind(now)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    transaction.commit().await?;
                    // As for plugin settings: the replaced form leaves the file at once.
                    if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut *connection).await {
                        tracing::debug!("checkpoint after replacing MCP secrets: {error}");
                    }
                    Ok(Ok(()))
                }
                .boxed()
            })
            .await
            .map_err(query_error(OPERATION, None))?;
        match outcome {
            Ok(()) => Ok(true),
            Err(None) => Ok(false),
            Err(Some((name, error))) => Err(not_json(&name, "secrets", &error)),
        }
    }
}
