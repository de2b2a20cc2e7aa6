//! The [`ApprovalStore`] of [`SqliteStore`]: tool policies and approvals, every write on
//! the single writer, a decision one conditional `UPDATE` (so two deciding at once cannot
//! both win).

use async_trait::async_trait;

use super::SqliteStore;
use crate::approvals::{approval_columns, check_policy, json_text, read_approval, read_policy};
use crate::rows::{new_id, query_error};
use crate::{
    ApprovalDecision, ApprovalStatus, ApprovalStore, NewToolApproval, StoreError, ToolApproval, ToolPolicyEntry,
};

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn tool_policies(&self) -> Result<Vec<ToolPolicyEntry>, StoreError> {
        const OPERATION: &str = "read the tool policies";
        let rows = sqlx::query("SELECT key, policy, updated_at_ms FROM tool_policies ORDER BY key")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        rows.iter().map(|row| read_policy(row, OPERATION)).collect()
    }

    async fn set_tool_policy(&self, key: &str, policy: &str) -> Result<ToolPolicyEntry, StoreError> {
        const OPERATION: &str = "set the tool policy";
        check_policy(policy)?;
        let query = sqlx::query(
            "INSERT INTO tool_policies (key, policy, updated_at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET policy = excluded.policy, updated_at_ms = excluded.updated_at_ms
             RETURNING key, policy, updated_at_ms",
        )
        .bind(key.to_owned())
        .bind(policy.to_owned())
        .bind(self.now_ms());
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        let row = row.ok_or_else(|| StoreError::Query {
            operation: OPERATION,
            plugin: None,
            source: "the upsert returned no row".into(),
        })?;
        read_policy(&row, OPERATION)
    }

    async fn delete_tool_policy(&self, key: &str) -> Result<bool, StoreError> {
        let query = sqlx::query("DELETE FROM tool_policies WHERE key = ?1").bind(key.to_owned());
        let result = self.write_execute(query).await.map_err(query_error("remove the tool policy", None))?;
        Ok(result.rows_affected() > 0)
    }

    async fn create_tool_approval(&self, approval: &NewToolApproval) -> Result<ToolApproval, StoreError> {
        const OPERATION: &str = "ask for the tool call's approval";
        let now_ms = self.now_ms();
        let query = sqlx::query(concat!(
            "INSERT INTO tool_approvals (id, conversation_id, user_id, message_id, call_id, tool, source, arguments,
                 reason, status, created_at_ms, expires_at_ms)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11
             WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?2)
             RETURNING ",
            approval_columns!(),
            ""
        ))
        .bind(new_id())
        .bind(approval.conversation_id.clone())
        .bind(approval.user_id.clone())
        .bind(approval.message_id.clone())
        .bind(approval.call_id.clone())
        .bind(approval.tool.clone())
        .bind(approval.source.clone())
        .bind(json_text(&approval.arguments))
        .bind(approval.reason.clone())
        .bind(now_ms)
        .bind(approval.expires_at_ms);
        match self.write_optional(query).await.map_err(query_error(OPERATION, None))? {
            Some(row) => read_approval(&row, now_ms, OPERATION),
            None => Err(StoreError::NotFound { what: "conversation", id: approval.conversation_id.clone() }),
        }
    }

    async fn tool_approval(&self, id: &str) -> Result<Option<ToolApproval>, StoreError> {
        const OPERATION: &str = "read the tool approval";
        let row = sqlx::query(concat!("SELECT ", approval_columns!(), " FROM tool_approvals WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        let now_ms = self.now_ms();
        row.map(|row| read_approval(&row, now_ms, OPERATION)).transpose()
    }

    async fn conversation_approvals(
        &self,
        conversation_id: &str,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ToolApproval>, StoreError> {
        const OPERATION: &str = "read the conversation's tool approvals";
        let rows = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM tool_approvals WHERE conversation_id = ?1 ORDER BY created_at_ms, id"
        ))
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(OPERATION, None))?;
        let now_ms = self.now_ms();
        let approvals = rows.iter().map(|row| read_approval(row, now_ms, OPERATION)).collect::<Result<Vec<_>, _>>()?;
        Ok(approvals.into_iter().filter(|approval| status.is_none_or(|status| approval.status == status)).collect())
    }

    async fn decide_tool_approval(
        &self,
        id: &str,
        decision: &ApprovalDecision,
    ) -> Result<Option<ToolApproval>, StoreError> {
        const OPERATION: &str = "decide the tool approval";
        if decision.status == ApprovalStatus::Pending {
            return Ok(None);
        }
        let now_ms = self.now_ms();
        // An approval or a denial only before the expiry; an expiry at any time.
        let query = sqlx::query(concat!(
            "UPDATE tool_approvals SET status = ?2, decided_arguments = ?3, decision_reason = ?4, decided_at_ms = ?5
             WHERE id = ?1 AND status = 'pending' AND (?2 = 'expired' OR expires_at_ms > ?5)
             RETURNING ",
            approval_columns!(),
            ""
        ))
        .bind(id.to_owned())
        .bind(decision.status.name())
        .bind(decision.arguments.as_ref().map(json_text))
        .bind(decision.reason.clone())
        .bind(now_ms);
        let row = self.write_optional(query).await.map_err(query_error(OPERATION, None))?;
        row.map(|row| read_approval(&row, now_ms, OPERATION)).transpose()
    }
}
