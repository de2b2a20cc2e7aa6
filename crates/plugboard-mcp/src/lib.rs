//! Plugboard and the Model Context Protocol, the client side: MCP servers an administrator
//! added, their tools offered to the model beside the plugins' tools.
//!
//! [`McpServers`] is the running set. [`McpServers::apply`] makes it match the configured
//! list ([`McpServerConfig`]: a child process over stdio, or a remote server over streamable
//! HTTP); each server has a supervising task that connects, lists its tools (every page),
//! lists them again when the server says they changed, and reconnects with exponential
//! backoff after a failure. [`McpServers::tool_source`] gives [`McpTools`], the chat core's
//! [`plugboard_chat::ToolSource`]: tools named `mcp_<server>__<tool>` ([`offered_name`]),
//! source `mcp:<server>`, default policy `ask`; a call has the server's deadline (cancelled
//! with MCP's cancellation on expiry) and its result cap, and the result is text for the
//! model (`content.rs`: images and binary data noted, not sent).
//!
//! A stdio server's environment is exactly its configured `env`; it runs in its own process
//! group, and stopping it (removal, a changed configuration, [`McpServers::shutdown`])
//! closes its input, then signals the group, so nothing it started is left behind.

pub mod config;
mod connection;
mod content;
mod names;
mod servers;
mod tools;

pub use config::{ConfigError, McpServerConfig, Transport};
pub use content::{cap_text, result_text};
pub use names::{MAX_OFFERED_NAME_LEN, offered_name};
pub use servers::{McpServers, McpToolInfo, ServerState, ServerStatus};
pub use tools::{McpTools, SOURCE_PREFIX, source_of};
