//! Tool calls a person approves, over HTTP: the administrators' tool policies
//! (`/api/tool-policies`: every offered tool with its default, what is set and what
//! applies; a policy set or removed per key), and a person's pending approvals (listed per
//! conversation, approved with the model's or edited arguments, or denied with a reason).
//! Someone else's approval is "not found"; one decided already is 409.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use plugboard_chat::{ApprovalAnswer, ApprovalError, ToolPolicy};
use plugboard_store::ApprovalStatus;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AdminUser, AuthUser};
use crate::conversations::owned;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, schemas};

pub(crate) use self::documented::*;

/// The longest policy key, in bytes.
const MAX_KEY_BYTES: usize = 200;

/// Checks a policy key: a tool's name as the model sees it (letters, digits, `_`, `-`,
/// `.`), or `plugin:<id>` / `mcp:<server>`.
fn check_key(key: &str) -> Result<(), ApiError> {
    let plain = |text: &str| {
        !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let valid = key.len() <= MAX_KEY_BYTES
        && match key.split_once(':') {
            Some(("plugin" | "mcp", rest)) => plain(rest),
            Some(_) => false,
            None => plain(key),
        };
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_policy_key",
            format!(
                "`{key}` is not a policy key: give a tool's name as the model sees it (such as \
                 `calculator__calculate`; letters, digits, `_`, `-`, `.`), or `plugin:<id>` or `mcp:<server>` for all \
                 of a source's tools, at most {MAX_KEY_BYTES} bytes"
            ),
        ))
    }
}

/// Every tool the model is offered and the policies administrators set
///
/// For each offered tool: its source, its default policy, what is set for the tool and for
/// its source, and what applies in a conversation that narrows nothing (a conversation
/// can only make a tool stricter). `policies` is every key set, also keys no tool has now.
#[utoipa::path(
    get,
    path = "/api/tool-policies",
    tag = "tool-approvals",
    operation_id = "list_tool_policies",
    responses(
        (status = 200, description = "The tools and the policies set", body = ToolPolicyOverview),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn list_policies(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Result<Json<Value>, ApiError> {
    let tools = state.engine.tool_policy_overview().await?;
    let policies = state.engine.tool_policy_entries().await?;
    Ok(Json(json!({"tools": tools, "policies": policies})))
}

/// A policy to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetToolPolicy {
    /// A tool's name as the model sees it (`calculator__calculate`), or `plugin:<id>` /
    /// `mcp:<server>` for every tool of a source (a tool's own entry wins).
    #[schema(example = "calculator__calculate")]
    key: String,
    /// `auto` (runs at once), `ask` (waits for the person's approval) or `deny`.
    #[schema(value_type = String, example = "ask")]
    policy: ToolPolicy,
}

/// Sets a tool's (or a whole source's) policy
#[utoipa::path(
    put,
    path = "/api/tool-policies",
    tag = "tool-approvals",
    operation_id = "set_tool_policy",
    request_body = SetToolPolicy,
    responses(
        (status = 200, description = "The policy as set", body = ToolPolicySet),
        (status = 400, description = "Not a policy key (`invalid_policy_key`) or not the JSON expected (`invalid_json`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 415, description = "A body not sent as `application/json` (`invalid_json`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn set_policy(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    ApiJson(body): ApiJson<SetToolPolicy>,
) -> Result<Json<Value>, ApiError> {
    check_key(&body.key)?;
    let entry = state.engine.set_tool_policy(&body.key, body.policy).await?;
    Ok(Json(json!({"policy": entry})))
}

/// Removes a policy an administrator set; the tool's default (or its source's policy)
/// applies again
#[utoipa::path(
    delete,
    path = "/api/tool-policies/{key}",
    tag = "tool-approvals",
    operation_id = "remove_tool_policy",
    params(("key" = String, Path, description = "The key: a tool's name, or `plugin:<id>` / `mcp:<server>`")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Not a policy key (`invalid_policy_key`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No policy is set for the key (`not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn remove_policy(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_key(&key)?;
    if state.engine.remove_tool_policy(&key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("tool policy for", &key))
    }
}

/// Which approvals.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApprovalsQuery {
    /// Only those: `pending`, `approved`, `denied` or `expired`.
    #[serde(default)]
    status: Option<String>,
}

/// A conversation's tool approvals, oldest first
///
/// With `status=pending`, the calls waiting for the person now: what a page shows again
/// after a reload.
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/approvals",
    tag = "tool-approvals",
    operation_id = "conversation_approvals",
    params(("id" = String, Path, description = "The conversation"), ApprovalsQuery),
    responses(
        (status = 200, description = "The approvals", body = ToolApprovalList),
        (status = 400, description = "Not a status (`invalid_status`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such conversation of the caller's", body = schemas::ApiError),
    )
)]
pub(crate) async fn conversation_approvals(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    Query(query): Query<ApprovalsQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(name) => Some(ApprovalStatus::from_name(name).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_status",
                format!("`{name}` is not an approval status; use `pending`, `approved`, `denied` or `expired`"),
            )
        })?),
    };
    owned(&state, &user, &id).await?;
    let approvals = state.engine.conversation_approvals(&id, status).await?;
    Ok(Json(json!({"approvals": approvals})))
}

/// An approval, optionally with edited arguments.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Approve {
    /// The arguments to run the call with instead of the model's: a JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!({"expression": "6*7"}))]
    arguments: Option<Value>,
}

/// A denial, optionally with a reason the model is told.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Deny {
    /// Why (at most 2000 characters); the model sees it.
    #[serde(default)]
    #[schema(example = "not on the production database")]
    reason: Option<String>,
}

/// An optional JSON body: none (only whitespace, or `null`) is the default.
fn optional_body<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
    example: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    crate::error::require_json(headers)?;
    let invalid =
        |error: serde_json::Error| ApiError::bad_request("invalid_json", format!("send {example} or nothing: {error}"));
    match serde_json::from_slice::<Value>(body).map_err(invalid)? {
        Value::Null => Ok(T::default()),
        value => serde_json::from_value(value).map_err(invalid),
    }
}

fn approval_error(error: ApprovalError) -> ApiError {
    match error {
        ApprovalError::NotFound { id } => ApiError::not_found("tool approval", &id),
        error @ ApprovalError::AlreadyDecided { .. } => {
            ApiError::new(StatusCode::CONFLICT, "approval_decided", error.to_string())
        }
        ApprovalError::InvalidAnswer { message } => ApiError::bad_request("invalid_answer", message),
        ApprovalError::Store(error) => error.into(),
    }
}

/// Approves a tool call waiting for the caller
///
/// The body is optional: `{"arguments": {...}}` runs the call with those arguments instead
/// of the model's. The waiting turn goes on at once.
#[utoipa::path(
    post,
    path = "/api/tool-calls/{id}/approve",
    tag = "tool-approvals",
    operation_id = "approve_tool_call",
    params(("id" = String, Path, description = "The approval")),
    request_body(content = Option<Approve>, description = "Nothing, or edited arguments"),
    responses(
        (status = 200, description = "The approval as decided", body = ToolApprovalOne),
        (status = 400, description = "`arguments` is not a JSON object (`invalid_answer`), or not the JSON expected (`invalid_json`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such approval of the caller's", body = schemas::ApiError),
        (status = 409, description = "Already approved, denied or expired (`approval_decided`)", body = schemas::ApiError),
        (status = 415, description = "A body not sent as `application/json` (`invalid_json`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn approve(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Approve = optional_body(&headers, &body, r#"{"arguments": {...}}"#)?;
    let answer = ApprovalAnswer::Approve { arguments: body.arguments };
    let approval = state.engine.decide_tool_approval(&user, &id, answer).await.map_err(approval_error)?;
    Ok(Json(json!({"approval": approval})))
}

/// Denies a tool call waiting for the caller
///
/// The body is optional: `{"reason": "..."}` is told to the model with the denial.
#[utoipa::path(
    post,
    path = "/api/tool-calls/{id}/deny",
    tag = "tool-approvals",
    operation_id = "deny_tool_call",
    params(("id" = String, Path, description = "The approval")),
    request_body(content = Option<Deny>, description = "Nothing, or a reason"),
    responses(
        (status = 200, description = "The approval as decided", body = ToolApprovalOne),
        (status = 400, description = "A reason too long or holding U+0000 (`invalid_answer`), or not the JSON expected (`invalid_json`)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 404, description = "No such approval of the caller's", body = schemas::ApiError),
        (status = 409, description = "Already approved, denied or expired (`approval_decided`)", body = schemas::ApiError),
        (status = 415, description = "A body not sent as `application/json` (`invalid_json`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn deny(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Deny = optional_body(&headers, &body, r#"{"reason": "..."}"#)?;
    let answer = ApprovalAnswer::Deny { reason: body.reason };
    let approval = state.engine.decide_tool_approval(&user, &id, answer).await.map_err(approval_error)?;
    Ok(Json(json!({"approval": approval})))
}

/// Checks a conversation's own tool policies (`PATCH /api/conversations/{id}`): keys as for
/// administrators, values `ask` or `deny` only (a conversation narrows, never widens).
pub(crate) fn check_conversation_policies(
    policies: &std::collections::BTreeMap<String, ToolPolicy>,
) -> Result<(), ApiError> {
    for (key, policy) in policies {
        check_key(key)?;
        if *policy == ToolPolicy::Auto {
            return Err(ApiError::bad_request(
                "invalid_tool_policy",
                format!(
                    "`{key}` is set to `auto` in `tool_policies`: a conversation can only make a tool stricter, so \
                     use `ask` or `deny`, or leave the tool out to keep the administrator's policy"
                ),
            ));
        }
    }
    Ok(())
}

/// Schema-only types of the OpenAPI document: what these endpoints answer (never built).
#[allow(dead_code, reason = "types that only describe JSON for the OpenAPI document")]
mod documented {
    use utoipa::ToSchema;

    /// `auto`, `ask` or `deny`.
    #[derive(ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub(crate) enum Policy {
        Auto,
        Ask,
        Deny,
    }

    /// One offered tool and its policies.
    #[derive(ToSchema)]
    pub(crate) struct OfferedToolPolicy {
        /// The name the model sees (`calculator__calculate`).
        pub(crate) name: String,
        /// Its name within its source.
        pub(crate) tool: String,
        /// Who offers it: a plugin id, or `mcp:<server>`.
        pub(crate) source: String,
        /// The key that sets every tool of its source (`plugin:calculator`).
        pub(crate) source_key: String,
        /// Its policy when nothing is set: `auto` for plugin tools, `ask` for MCP servers'.
        pub(crate) default: Policy,
        /// Set for the tool itself.
        pub(crate) set: Option<Policy>,
        /// Set for its source.
        pub(crate) source_set: Option<Policy>,
        /// What applies (before a conversation narrows it).
        pub(crate) effective: Policy,
        /// Which policy decided.
        pub(crate) reason: String,
    }

    /// A policy an administrator set.
    #[derive(ToSchema)]
    pub(crate) struct ToolPolicyEntry {
        /// A tool's name, or `plugin:<id>` / `mcp:<server>`.
        pub(crate) key: String,
        pub(crate) policy: Policy,
        /// When it was set, milliseconds since the Unix epoch.
        pub(crate) updated_at_ms: i64,
    }

    /// The offered tools and the policies set.
    #[derive(ToSchema)]
    pub(crate) struct ToolPolicyOverview {
        pub(crate) tools: Vec<OfferedToolPolicy>,
        pub(crate) policies: Vec<ToolPolicyEntry>,
    }

    /// `{"policy": ...}`.
    #[derive(ToSchema)]
    pub(crate) struct ToolPolicySet {
        pub(crate) policy: ToolPolicyEntry,
    }

    /// Where an approval is.
    #[derive(ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub(crate) enum ApprovalStatus {
        Pending,
        Approved,
        Denied,
        Expired,
    }

    /// A tool call of the model that waits, or waited, for the person.
    #[derive(ToSchema)]
    pub(crate) struct ToolApproval {
        pub(crate) id: String,
        pub(crate) conversation_id: String,
        /// Who decides: the conversation's owner.
        pub(crate) user_id: String,
        /// The assistant message holding the call.
        pub(crate) message_id: String,
        /// The call's id in it.
        pub(crate) call_id: String,
        /// The tool as the model named it.
        pub(crate) tool: String,
        /// Who offers it: a plugin id, or `mcp:<server>`.
        pub(crate) source: String,
        /// The model's arguments.
        #[schema(value_type = Object)]
        pub(crate) arguments: serde_json::Value,
        /// Which policy asked.
        pub(crate) reason: String,
        pub(crate) status: ApprovalStatus,
        /// The arguments approved instead of the model's.
        #[schema(value_type = Option<Object>)]
        pub(crate) decided_arguments: Option<serde_json::Value>,
        /// Why it was denied.
        pub(crate) decision_reason: Option<String>,
        pub(crate) created_at_ms: i64,
        /// Undecided by then, it is denied (`expired`).
        pub(crate) expires_at_ms: i64,
        pub(crate) decided_at_ms: Option<i64>,
    }

    /// `{"approval": ...}`.
    #[derive(ToSchema)]
    pub(crate) struct ToolApprovalOne {
        pub(crate) approval: ToolApproval,
    }

    /// `{"approvals": [...]}`, oldest first.
    #[derive(ToSchema)]
    pub(crate) struct ToolApprovalList {
        pub(crate) approvals: Vec<ToolApproval>,
    }
}
