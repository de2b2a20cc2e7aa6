//! [`ApprovalStore`]: tool calls a person approves. Administrators' tool policies (a
//! policy per key: a tool's name as the model sees it, or a whole source such as
//! `plugin:calculator`), and the calls of the model waiting for the conversation's owner,
//! with what they decided. The store keeps them; the chat core decides what they mean.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::StoreError;
use crate::rows::{StoreRow, column, json_column};

/// What an administrator set for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolPolicyEntry {
    /// A tool's name as the model sees it (`calculator__evaluate`), or a source
    /// (`plugin:calculator`, `mcp:files`).
    pub key: String,
    /// `auto`, `ask` or `deny`.
    pub policy: String,
    /// When it was set.
    pub updated_at_ms: i64,
}

/// Where an approval is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    /// Waiting for the person.
    Pending,
    /// The person let it run.
    Approved,
    /// The person refused it.
    Denied,
    /// Nobody decided in time: a denial.
    Expired,
}

impl ApprovalStatus {
    /// Its name, as stored and served.
    pub fn name(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }

    /// The status named `name`.
    pub fn from_name(name: &str) -> Option<ApprovalStatus> {
        [ApprovalStatus::Pending, ApprovalStatus::Approved, ApprovalStatus::Denied, ApprovalStatus::Expired]
            .into_iter()
            .find(|status| status.name() == name)
    }
}

/// A tool call of the model that waits, or waited, for a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolApproval {
    /// The approval's id.
    pub id: String,
    /// The conversation of the turn.
    pub conversation_id: String,
    /// The person who decides: the conversation's owner.
    pub user_id: String,
    /// The assistant message holding the call.
    pub message_id: String,
    /// The call's id in that message.
    pub call_id: String,
    /// The tool as the model named it.
    pub tool: String,
    /// Who offers it: a plugin id, or `mcp:<server>`.
    pub source: String,
    /// The arguments the model gave.
    pub arguments: Value,
    /// Which policy asked, for the person.
    pub reason: String,
    /// Where it is.
    pub status: ApprovalStatus,
    /// The arguments the person approved instead of the model's; `None` = the model's.
    pub decided_arguments: Option<Value>,
    /// Why the person denied it, if they said.
    pub decision_reason: Option<String>,
    /// When it was asked.
    pub created_at_ms: i64,
    /// Undecided by then, it is a denial.
    pub expires_at_ms: i64,
    /// When it was decided.
    pub decided_at_ms: Option<i64>,
}

/// An approval to ask for ([`ApprovalStore::create_tool_approval`]); the store sets its id,
/// times and status (`pending`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewToolApproval {
    /// The conversation of the turn.
    pub conversation_id: String,
    /// Its owner, who decides.
    pub user_id: String,
    /// The assistant message holding the call.
    pub message_id: String,
    /// The call's id in that message.
    pub call_id: String,
    /// The tool as the model named it.
    pub tool: String,
    /// Who offers it.
    pub source: String,
    /// The model's arguments.
    pub arguments: Value,
    /// Which policy asked.
    pub reason: String,
    /// Undecided by then, it is a denial.
    pub expires_at_ms: i64,
}

/// A decision on a pending approval.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalDecision {
    /// `Approved`, `Denied` or `Expired` (a `Pending` decision changes nothing).
    pub status: ApprovalStatus,
    /// Arguments approved instead of the model's.
    pub arguments: Option<Value>,
    /// Why it was denied.
    pub reason: Option<String>,
}

/// Tool policies and approvals.
#[async_trait]
pub trait ApprovalStore: Send + Sync + std::fmt::Debug {
    /// Every policy an administrator set, by key.
    async fn tool_policies(&self) -> Result<Vec<ToolPolicyEntry>, StoreError>;

    /// Sets the policy of `key` (`auto`, `ask` or `deny`; anything else is
    /// [`StoreError::InvalidInput`]), replacing any earlier one.
    async fn set_tool_policy(&self, key: &str, policy: &str) -> Result<ToolPolicyEntry, StoreError>;

    /// Removes the policy of `key`; returns whether there was one.
    async fn delete_tool_policy(&self, key: &str) -> Result<bool, StoreError>;

    /// Stores a pending approval. [`StoreError::NotFound`] when the conversation does not
    /// exist.
    async fn create_tool_approval(&self, approval: &NewToolApproval) -> Result<ToolApproval, StoreError>;

    /// The approval with this id.
    async fn tool_approval(&self, id: &str) -> Result<Option<ToolApproval>, StoreError>;

    /// The approvals of a conversation, oldest first; with `status`, only those. A pending
    /// approval past its expiry counts as `expired` here (and is listed as such) even
    /// before anyone marked it.
    async fn conversation_approvals(
        &self,
        conversation_id: &str,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ToolApproval>, StoreError>;

    /// Decides approval `id` if it is still pending, in one conditional statement (of two
    /// servers deciding at once, one does): approving or denying only before its expiry,
    /// expiring at any time. The approval as decided, or `None` when it was not pending
    /// (or does not exist, or expired for an approval or a denial).
    async fn decide_tool_approval(
        &self,
        id: &str,
        decision: &ApprovalDecision,
    ) -> Result<Option<ToolApproval>, StoreError>;
}

/// The columns of `tool_approvals`, listed once for both backends' `SELECT` and
/// `RETURNING`.
macro_rules! approval_columns {
    () => {
        "id, conversation_id, user_id, message_id, call_id, tool, source, arguments, reason, status, \
         decided_arguments, decision_reason, created_at_ms, expires_at_ms, decided_at_ms"
    };
}
pub(crate) use approval_columns;

/// Checks a policy's name before it is stored.
pub(crate) fn check_policy(policy: &str) -> Result<(), StoreError> {
    if ["auto", "ask", "deny"].contains(&policy) {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            what: "policy",
            message: format!("`{policy}` is not a tool policy; use `auto`, `ask` or `deny`"),
        })
    }
}

/// A JSON value as stored (JSON text).
pub(crate) fn json_text(value: &Value) -> String {
    value.to_string()
}

/// A `tool_policies` row.
pub(crate) fn read_policy(row: &impl StoreRow, operation: &'static str) -> Result<ToolPolicyEntry, StoreError> {
    Ok(ToolPolicyEntry {
        key: column(row, "key", operation)?,
        policy: column(row, "policy", operation)?,
        updated_at_ms: column(row, "updated_at_ms", operation)?,
    })
}

/// A `tool_approvals` row; one still pending past its expiry at `now_ms` reads as expired.
pub(crate) fn read_approval(
    row: &impl StoreRow,
    now_ms: i64,
    operation: &'static str,
) -> Result<ToolApproval, StoreError> {
    let id: String = column(row, "id", operation)?;
    let what = ("tool approval", id.as_str());
    let status_name: String = column(row, "status", operation)?;
    let mut status = ApprovalStatus::from_name(&status_name).ok_or_else(|| StoreError::CorruptRow {
        what: "tool approval",
        id: id.clone(),
        message: format!("its status `{status_name}` is not one Plugboard knows"),
    })?;
    let expires_at_ms: i64 = column(row, "expires_at_ms", operation)?;
    if status == ApprovalStatus::Pending && expires_at_ms <= now_ms {
        status = ApprovalStatus::Expired;
    }
    Ok(ToolApproval {
        conversation_id: column(row, "conversation_id", operation)?,
        user_id: column(row, "user_id", operation)?,
        message_id: column(row, "message_id", operation)?,
        call_id: column(row, "call_id", operation)?,
        tool: column(row, "tool", operation)?,
        source: column(row, "source", operation)?,
        arguments: json_column(row, "arguments", what, operation)?.unwrap_or(Value::Null),
        reason: column(row, "reason", operation)?,
        status,
        decided_arguments: json_column(row, "decided_arguments", what, operation)?,
        decision_reason: column(row, "decision_reason", operation)?,
        created_at_ms: column(row, "created_at_ms", operation)?,
        expires_at_ms,
        decided_at_ms: column(row, "decided_at_ms", operation)?,
        id,
    })
}
