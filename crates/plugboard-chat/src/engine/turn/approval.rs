//! A tool call's policy in a turn: `deny` refuses it (the model is told), `ask` pauses
//! the turn until the conversation's owner decides, through the API on any server, or the
//! approval expires (a denial). The approval is stored, so a reloaded page shows it again;
//! the turn wakes at once for a decision made here and reads the row every second for one
//! made on another server. A client that goes away meanwhile does not end the wait: the
//! turn goes on without it (`detached`), its rows reaching the person's pages through the
//! live feed. Every outcome is a step of the trace (stage `approval`).

use std::time::{Duration, Instant};

use plugboard_store::{ApprovalDecision, ApprovalStatus, NewToolApproval, ToolApproval};
use plugboard_types::ToolCall;
use serde_json::{Value, json};

use super::Turn;
use crate::engine::TurnEvent;
use crate::error::ChatError;
use crate::policy::PolicyDecision;
use crate::tools::{OfferedTool, ToolPolicy};

/// How often a waiting turn reads its approval, for a decision made on another server.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What a tool call may do after its policy.
pub(super) enum Screening {
    /// Run, with these arguments.
    Run(Value),
    /// Do not run; the model sees this text as the tool's error.
    Refused(String),
}

impl Turn<'_> {
    /// Applies `decision` to `call` of `offered`, the call held by message `message_id`.
    pub(super) async fn screen_call(
        &mut self,
        offered: &OfferedTool,
        decision: &PolicyDecision,
        call: &ToolCall,
        message_id: &str,
        arguments: Value,
    ) -> Result<Screening, ChatError> {
        match decision.policy {
            ToolPolicy::Auto => Ok(Screening::Run(arguments)),
            ToolPolicy::Deny => {
                self.trace.push(json!({"stage": "approval", "tool": call.name, "source": offered.source,
                                       "decision": "denied_by_policy", "reason": decision.reason()}));
                Ok(Screening::Refused(format!("the tool `{}` is not allowed here (policy deny)", call.name)))
            }
            ToolPolicy::Ask => self.ask_person(offered, decision, call, message_id, arguments).await,
        }
    }

    /// Stores a pending approval, tells the client and the person's pages, and waits for
    /// the decision or the expiry.
    async fn ask_person(
        &mut self,
        offered: &OfferedTool,
        decision: &PolicyDecision,
        call: &ToolCall,
        message_id: &str,
        arguments: Value,
    ) -> Result<Screening, ChatError> {
        let timeout = self.engine.approval_timeout();
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let store = self.engine.inner.store.clone();
        let conversation_id = self.conversation_id.clone();
        let asked = store
            .create_tool_approval(&NewToolApproval {
                conversation_id,
                user_id: self.owner.clone(),
                message_id: message_id.to_owned(),
                call_id: call.id.clone(),
                tool: call.name.clone(),
                source: offered.source.clone(),
                arguments: arguments.clone(),
                reason: decision.reason(),
                expires_at_ms: now_ms().saturating_add(timeout_ms),
            })
            .await?;
        let approvals = &self.engine.inner.approvals;
        let wake = approvals.wait_for(&asked.id);
        self.send(TurnEvent::ToolApproval {
            id: asked.id.clone(),
            call_id: call.id.clone(),
            tool: call.name.clone(),
            source: offered.source.clone(),
            arguments: arguments.clone(),
            reason: asked.reason.clone(),
            expires_at_ms: asked.expires_at_ms,
        })
        .await;
        self.engine.approval_changed(&asked);
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let waited = self.wait_for_decision(&asked, &wake, deadline).await;
        approvals.forget(&asked.id);
        let decided = waited?;
        let waited_ms = started.elapsed().as_millis() as u64;
        let mut step = json!({"stage": "approval", "approval_id": decided.id, "tool": call.name,
                              "source": offered.source, "reason": decided.reason, "waited_ms": waited_ms});
        let (screening, outcome) = match decided.status {
            ApprovalStatus::Approved => match &decided.decided_arguments {
                Some(edited) if *edited != arguments => {
                    step["arguments"] = arguments.clone();
                    step["edited_arguments"] = edited.clone();
                    (Screening::Run(edited.clone()), "approved_with_edited_arguments")
                }
                _ => (Screening::Run(arguments), "approved"),
            },
            ApprovalStatus::Denied => {
                let mut text = format!("the person denied the call of `{}`", call.name);
                if let Some(reason) = &decided.decision_reason {
                    step["denial_reason"] = json!(reason);
                    text.push_str(&format!(": {reason}"));
                }
                (Screening::Refused(text), "denied")
            }
            ApprovalStatus::Expired | ApprovalStatus::Pending => {
                let text = format!(
                    "the call of `{}` was not approved within {} seconds, so it was not run (denied)",
                    call.name,
                    timeout.as_secs()
                );
                (Screening::Refused(text), "expired")
            }
        };
        step["decision"] = json!(outcome);
        self.trace.push(step);
        self.send(TurnEvent::ToolApprovalDecided {
            id: decided.id.clone(),
            call_id: call.id.clone(),
            tool: call.name.clone(),
            status: decided.status.name().to_owned(),
            arguments: decided.decided_arguments.clone(),
            reason: decided.decision_reason.clone(),
        })
        .await;
        Ok(screening)
    }

    /// Waits until `asked` is decided (woken here, or read decided) or its time is up
    /// (then it is expired, unless a decision came first); the approval as decided.
    async fn wait_for_decision(
        &mut self,
        asked: &ToolApproval,
        wake: &tokio::sync::Notify,
        deadline: tokio::time::Instant,
    ) -> Result<ToolApproval, ChatError> {
        let store = self.engine.inner.store.clone();
        loop {
            let detached = self.detached;
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = tokio::time::sleep_until(deadline) => {}
                // The client went away: the decision may come from a reloaded page, so the
                // turn goes on without a client.
                () = self.events.closed(), if !detached => {
                    self.detached = true;
                    continue;
                }
            }
            let Some(current) = store.tool_approval(&asked.id).await? else {
                // The conversation was deleted meanwhile: nothing will run.
                return Ok(ToolApproval { status: ApprovalStatus::Expired, ..asked.clone() });
            };
            let out_of_time = tokio::time::Instant::now() >= deadline;
            match current.status {
                ApprovalStatus::Approved | ApprovalStatus::Denied => return Ok(current),
                ApprovalStatus::Pending if !out_of_time => continue,
                // Past its time (by this clock or the store's): expire it, unless a
                // decision was stored just before.
                ApprovalStatus::Pending | ApprovalStatus::Expired => {
                    let expiry = ApprovalDecision { status: ApprovalStatus::Expired, arguments: None, reason: None };
                    match store.decide_tool_approval(&asked.id, &expiry).await? {
                        Some(expired) => {
                            self.engine.approval_changed(&expired);
                            return Ok(expired);
                        }
                        None => {
                            // Decided meanwhile (or already marked expired): read it again.
                            if let Some(decided) = store.tool_approval(&asked.id).await?
                                && decided.status != ApprovalStatus::Pending
                            {
                                return Ok(decided);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
