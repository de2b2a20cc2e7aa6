//! [`McpTools`]: the connected MCP servers' tools as a [`ToolSource`] of the chat core.
//! A call has the server's deadline (on expiry the request is cancelled with MCP's
//! `notifications/cancelled`) and its result cap; a server that is not connected fails the
//! call at once, saying why and when it is retried.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use plugboard_chat::{OfferedTool, PluginChoice, ToolPolicy, ToolSource};
use plugboard_types::{CallContext, ToolSpec};
use rmcp::model::CallToolRequestParams;
use rmcp::service::ServiceError;
use serde_json::Value;

use crate::config::Transport;
use crate::connection::error_text;
use crate::content::{cap_text, result_text};
use crate::servers::{McpServers, ServerState};

/// The prefix of an MCP tool's `source`: `mcp:<server>`, also what a conversation's
/// `disabled_tools` holds to switch the server's tools off.
pub const SOURCE_PREFIX: &str = "mcp:";

/// The tools of the enabled, connected MCP servers, less those a conversation switched off.
#[derive(Debug, Clone)]
pub struct McpTools {
    servers: McpServers,
}

impl McpTools {
    pub(crate) fn new(servers: McpServers) -> McpTools {
        McpTools { servers }
    }
}

/// The `source` of the tools of `server`.
pub fn source_of(server: &str) -> String {
    format!("{SOURCE_PREFIX}{server}")
}

#[async_trait]
impl ToolSource for McpTools {
    fn tools(&self, choice: &PluginChoice) -> Vec<OfferedTool> {
        let mut offered = Vec::new();
        for shared in self.servers.all_shared() {
            let source = source_of(shared.name());
            if !shared.config.enabled || choice.disabled_tools.contains(&source) {
                continue;
            }
            let tools = {
                let live = shared.live();
                if live.state != ServerState::Ready {
                    continue;
                }
                live.tools.clone()
            };
            for tool in tools.iter() {
                offered.push(OfferedTool {
                    spec: ToolSpec {
                        name: tool.offered_as.clone(),
                        description: tool.description.clone(),
                        parameters: tool.input_schema.clone(),
                    },
                    source: source.clone(),
                    tool: tool.name.clone(),
                    default_policy: ToolPolicy::Ask,
                });
            }
        }
        offered
    }

    async fn call(&self, tool: &OfferedTool, context: &CallContext, arguments: Value) -> Result<String, String> {
        let server = tool.source.strip_prefix(SOURCE_PREFIX).unwrap_or(&tool.source);
        let outcome = call(&self.servers, server, &tool.tool, context, arguments).await;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(Failure::ToolError(_)) => "tool_error",
            Err(Failure::Timeout(_)) => "timeout",
            Err(Failure::Unavailable(_)) => "unavailable",
            Err(Failure::Failed(_)) => "error",
        };
        metrics::counter!("plugboard_mcp_calls_total", "server" => server.to_owned(), "outcome" => label).increment(1);
        outcome.map_err(|failure| match failure {
            Failure::ToolError(text) | Failure::Timeout(text) | Failure::Unavailable(text) | Failure::Failed(text) => {
                text
            }
        })
    }
}

/// How a call failed, each with the text for the model.
enum Failure {
    /// The tool ran and said it failed (`isError`).
    ToolError(String),
    /// No answer within the deadline.
    Timeout(String),
    /// The server is not connected (or not configured, or disabled).
    Unavailable(String),
    /// The request failed (refused, or the connection broke).
    Failed(String),
}

async fn call(
    servers: &McpServers,
    server: &str,
    tool: &str,
    context: &CallContext,
    arguments: Value,
) -> Result<String, Failure> {
    let Some(shared) = servers.shared(server) else {
        return Err(Failure::Unavailable(format!("MCP server `{server}` is no longer configured")));
    };
    let peer = {
        let live = shared.live();
        match live.state {
            ServerState::Ready => live.peer.clone(),
            ServerState::Disabled => {
                return Err(Failure::Unavailable(format!("MCP server `{server}` is disabled")));
            }
            ServerState::Starting => {
                return Err(Failure::Unavailable(format!(
                    "MCP server `{server}` is still connecting; try again in a moment"
                )));
            }
            ServerState::Failed => {
                let error = live.last_error.as_deref().unwrap_or("unknown error");
                let retry = live
                    .retry_at
                    .map(|at| at.saturating_duration_since(Instant::now()).as_secs_f64().ceil())
                    .map(|seconds| format!("; retrying in {seconds} s"))
                    .unwrap_or_default();
                return Err(Failure::Unavailable(format!("MCP server `{server}` is not connected: {error}{retry}")));
            }
        }
    };
    let Some(peer) = peer else {
        return Err(Failure::Unavailable(format!("MCP server `{server}` is not connected")));
    };
    let arguments = match arguments {
        Value::Object(map) => Some(map),
        Value::Null => None,
        other => {
            return Err(Failure::Failed(format!(
                "the arguments of `{tool}` must be a JSON object, not {}",
                json_kind(&other)
            )));
        }
    };
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Some(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    let timeout = Duration::from_secs(shared.config.timeout_secs);
    let started = Instant::now();
    // Dropping the request on timeout sends the server `notifications/cancelled`.
    let answer = tokio::time::timeout(timeout, peer.call_tool(params)).await;
    let elapsed_ms = started.elapsed().as_millis();
    match answer {
        Err(_) => {
            tracing::warn!(server, tool, request = %context.request_id, timeout_s = timeout.as_secs(), "MCP tool call timed out");
            Err(Failure::Timeout(format!(
                "MCP server `{server}` did not finish `{tool}` within its timeout of {} s; the call was cancelled",
                timeout.as_secs()
            )))
        }
        Ok(Err(error)) => {
            tracing::warn!(server, tool, request = %context.request_id, %error, "MCP tool call failed");
            Err(Failure::Failed(match error {
                ServiceError::McpError(error) => format!("MCP server `{server}` refused `{tool}`: {}", error.message),
                ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                    // A child process that died is noticed by its supervisor; an HTTP
                    // server that went away only by a failed request.
                    if matches!(shared.config.transport, Transport::Http { .. }) {
                        shared.reconnect.notify_one();
                    }
                    let cause = match &error {
                        ServiceError::TransportSend(error) => error_text(error.error.as_ref()),
                        other => error_text(other),
                    };
                    format!("the connection to MCP server `{server}` broke during `{tool}` ({cause}); it reconnects")
                }
                other => format!("calling `{tool}` on MCP server `{server}` failed: {other}"),
            }))
        }
        Ok(Ok(result)) => {
            let (text, is_error) = result_text(&result);
            let text = cap_text(text, shared.config.max_result_bytes);
            tracing::debug!(server, tool, request = %context.request_id, elapsed_ms, is_error, "MCP tool call finished");
            if is_error { Err(Failure::ToolError(text)) } else { Ok(text) }
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
