//! Tool calls a person approves, on the engine's side: the administrators' tool policies
//! (kept in the store, cached here for the synchronous [`ChatEngine::tool_policy`] and read
//! again at each turn and every few seconds, so a change another server saved is seen),
//! and the decisions on pending approvals ([`ChatEngine::decide_tool_approval`]), which
//! wake the waiting turn at once when it runs here (an in-process notify; a turn on
//! another server sharing the database notices by reading the row, `turn/approval.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use plugboard_store::{ApprovalDecision, ApprovalStatus, StoreError, ToolApproval, ToolPolicyEntry, User};
use serde_json::Value;
use tokio::sync::Notify;

use super::ChatEngine;
use crate::choice::PluginChoice;
use crate::live::LiveEvent;
use crate::policy::{PolicyDecision, ToolPolicies, source_key};
use crate::text::check_text;
use crate::tools::{OfferedTool, ToolPolicy};

/// How long the cached policies serve before a read of them starts a refresh.
const POLICY_CACHE_FOR: Duration = Duration::from_secs(5);

/// The longest reason a person may give for a denial, in characters.
const MAX_DENIAL_REASON_CHARS: usize = 2000;

/// The engine's part of approvals: the policies cached, and the turns waiting here.
#[derive(Debug, Default)]
pub(crate) struct Approvals {
    policies: RwLock<CachedPolicies>,
    /// Pending approvals whose turn waits on this server, by approval id.
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
}

#[derive(Debug, Default)]
struct CachedPolicies {
    policies: Arc<ToolPolicies>,
    /// When they were read; `None` = never.
    loaded_at: Option<Instant>,
    /// A refresh was started and has not finished.
    refreshing: bool,
}

impl Approvals {
    fn cached(&self) -> std::sync::RwLockReadGuard<'_, CachedPolicies> {
        // The cache holds no invariant a panic could break halfway.
        self.policies.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cache(&self) -> std::sync::RwLockWriteGuard<'_, CachedPolicies> {
        self.policies.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a turn waiting for approval `id`; its decision here wakes the returned
    /// notify (a permit is kept when nobody waits at that moment).
    pub(crate) fn wait_for(&self, id: &str) -> Arc<Notify> {
        self.waiters().entry(id.to_owned()).or_default().clone()
    }

    /// The turn no longer waits for `id`.
    pub(crate) fn forget(&self, id: &str) {
        self.waiters().remove(id);
    }

    fn wake(&self, id: &str) {
        if let Some(notify) = self.waiters().get(id) {
            notify.notify_one();
        }
    }
}

/// What a person answers to a pending approval.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalAnswer {
    /// Run it, with these arguments instead of the model's when given (a JSON object).
    Approve {
        /// Edited arguments.
        arguments: Option<Value>,
    },
    /// Do not run it; the model is told, with the reason when given.
    Deny {
        /// Why, for the model.
        reason: Option<String>,
    },
}

/// Why a person's answer to an approval was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// No such approval of theirs.
    #[error("no tool approval `{id}` of yours")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// It was decided already (or expired).
    #[error("tool approval `{id}` was already decided: it is {}; each approval is decided once", status.name())]
    AlreadyDecided {
        /// The approval.
        id: String,
        /// How it was decided.
        status: ApprovalStatus,
    },
    /// The answer is malformed.
    #[error("{message}")]
    InvalidAnswer {
        /// What is wrong and what to send instead.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One offered tool and its policies, for administrators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ToolPolicyOverview {
    /// The name the model sees.
    pub name: String,
    /// Its name within its source.
    pub tool: String,
    /// Who offers it (a plugin id, or `mcp:<server>`).
    pub source: String,
    /// The key that sets all of its source's tools.
    pub source_key: String,
    /// What it is unless an administrator sets a policy.
    pub default: ToolPolicy,
    /// What an administrator set for the tool itself.
    pub set: Option<ToolPolicy>,
    /// What an administrator set for its source.
    pub source_set: Option<ToolPolicy>,
    /// What applies in a conversation that narrows nothing.
    pub effective: ToolPolicy,
    /// Which policy decided.
    pub reason: String,
}

impl ChatEngine {
    /// The policy `tool` meets in a conversation with `choice`: the administrators' (the
    /// tool's own entry, else its source's, else its default), narrowed by the
    /// conversation's. From the policies as last read (at most a few seconds old; a
    /// change made through this engine is seen at once).
    pub fn tool_policy(&self, tool: &OfferedTool, choice: &PluginChoice) -> ToolPolicy {
        self.tool_policy_decision(tool, choice).policy
    }

    /// [`ChatEngine::tool_policy`] with which policy decided it.
    pub fn tool_policy_decision(&self, tool: &OfferedTool, choice: &PluginChoice) -> PolicyDecision {
        self.cached_tool_policies().decide(tool, choice)
    }

    /// The administrators' policies as last read; starts reading them again when that was
    /// a while ago (in the background: this does not wait).
    pub(crate) fn cached_tool_policies(&self) -> Arc<ToolPolicies> {
        let approvals = &self.inner.approvals;
        let (policies, stale) = {
            let cached = approvals.cached();
            let stale = !cached.refreshing && cached.loaded_at.is_none_or(|at| at.elapsed() >= POLICY_CACHE_FOR);
            (cached.policies.clone(), stale)
        };
        if stale && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            approvals.cache().refreshing = true;
            let weak = self.downgrade();
            runtime.spawn(async move {
                if let Some(engine) = weak.upgrade()
                    && let Err(error) = engine.load_tool_policies().await
                {
                    tracing::warn!("cannot read the tool policies: {error}");
                    engine.inner.approvals.cache().refreshing = false;
                }
            });
        }
        policies
    }

    /// Reads the administrators' policies from the store now; every turn does before its
    /// first tool call.
    pub async fn load_tool_policies(&self) -> Result<Arc<ToolPolicies>, StoreError> {
        let entries = self.inner.store.tool_policies().await?;
        let policies = Arc::new(ToolPolicies::from_entries(&entries));
        let mut cache = self.inner.approvals.cache();
        cache.policies = policies.clone();
        cache.loaded_at = Some(Instant::now());
        cache.refreshing = false;
        Ok(policies)
    }

    /// Every policy administrators set, by key.
    pub async fn tool_policy_entries(&self) -> Result<Vec<ToolPolicyEntry>, StoreError> {
        self.inner.store.tool_policies().await
    }

    /// Sets the administrators' policy of `key` (a tool's name as the model sees it, or
    /// `plugin:<id>` / `mcp:<server>`).
    pub async fn set_tool_policy(&self, key: &str, policy: ToolPolicy) -> Result<ToolPolicyEntry, StoreError> {
        let entry = self.inner.store.set_tool_policy(key, crate::policy::policy_name(policy)).await?;
        self.load_tool_policies().await?;
        Ok(entry)
    }

    /// Removes the administrators' policy of `key`; returns whether there was one.
    pub async fn remove_tool_policy(&self, key: &str) -> Result<bool, StoreError> {
        let removed = self.inner.store.delete_tool_policy(key).await?;
        self.load_tool_policies().await?;
        Ok(removed)
    }

    /// Every tool offered in a conversation that switches nothing off, with its default,
    /// what administrators set and what applies.
    pub async fn tool_policy_overview(&self) -> Result<Vec<ToolPolicyOverview>, StoreError> {
        let policies = self.load_tool_policies().await?;
        let choice = PluginChoice::default();
        let mut overview = Vec::new();
        for source in &self.inner.tools {
            for tool in source.tools(&choice) {
                let decision = policies.decide(&tool, &choice);
                overview.push(ToolPolicyOverview {
                    set: policies.get(&tool.spec.name),
                    source_set: policies.get(&source_key(&tool)),
                    source_key: source_key(&tool),
                    name: tool.spec.name.clone(),
                    tool: tool.tool.clone(),
                    source: tool.source.clone(),
                    default: tool.default_policy,
                    effective: decision.policy,
                    reason: decision.reason(),
                });
            }
        }
        Ok(overview)
    }

    /// The longest a tool call waits for its approval.
    pub fn approval_timeout(&self) -> Duration {
        self.inner.config.approval_timeout
    }

    /// `user`'s answer to their pending approval `id`: stored if it is still pending (of
    /// two answers at once, on any servers, one is taken), the waiting turn woken, and
    /// the person's open pages told. Someone else's approval is [`ApprovalError::NotFound`].
    pub async fn decide_tool_approval(
        &self,
        user: &User,
        id: &str,
        answer: ApprovalAnswer,
    ) -> Result<ToolApproval, ApprovalError> {
        let store = &self.inner.store;
        let not_found = || ApprovalError::NotFound { id: id.to_owned() };
        let approval = store.tool_approval(id).await?.filter(|approval| approval.user_id == user.id);
        let approval = approval.ok_or_else(not_found)?;
        if approval.status != ApprovalStatus::Pending {
            return Err(ApprovalError::AlreadyDecided { id: id.to_owned(), status: approval.status });
        }
        let decision = match answer {
            ApprovalAnswer::Approve { arguments } => {
                if let Some(arguments) = &arguments
                    && !arguments.is_object()
                {
                    return Err(ApprovalError::InvalidAnswer {
                        message: "`arguments` must be a JSON object (the tool's arguments by name), or left out to \
                                  run the call with the model's arguments"
                            .to_owned(),
                    });
                }
                ApprovalDecision { status: ApprovalStatus::Approved, arguments, reason: None }
            }
            ApprovalAnswer::Deny { reason } => {
                let reason = reason.map(|reason| reason.trim().to_owned()).filter(|reason| !reason.is_empty());
                if let Some(reason) = &reason {
                    check_text("reason", reason)
                        .map_err(|error| ApprovalError::InvalidAnswer { message: error.to_string() })?;
                    if reason.chars().count() > MAX_DENIAL_REASON_CHARS {
                        return Err(ApprovalError::InvalidAnswer {
                            message: format!(
                                "the reason has more than {MAX_DENIAL_REASON_CHARS} characters; shorten it"
                            ),
                        });
                    }
                }
                ApprovalDecision { status: ApprovalStatus::Denied, arguments: None, reason }
            }
        };
        match store.decide_tool_approval(id, &decision).await? {
            Some(decided) => {
                self.inner.approvals.wake(id);
                self.publish(&user.id, LiveEvent::ToolApproval { approval: decided.clone() });
                Ok(decided)
            }
            None => {
                let status = store.tool_approval(id).await?.ok_or_else(not_found)?.status;
                Err(ApprovalError::AlreadyDecided { id: id.to_owned(), status })
            }
        }
    }

    /// The approvals of `user`'s conversation `conversation_id` (someone else's has none
    /// for them), oldest first, with `status` only those.
    pub async fn conversation_approvals(
        &self,
        conversation_id: &str,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ToolApproval>, StoreError> {
        self.inner.store.conversation_approvals(conversation_id, status).await
    }

    /// Tells the owner's pages of `approval` (asked, or expired by its turn).
    pub(crate) fn approval_changed(&self, approval: &ToolApproval) {
        self.publish(&approval.user_id, LiveEvent::ToolApproval { approval: approval.clone() });
    }
}
