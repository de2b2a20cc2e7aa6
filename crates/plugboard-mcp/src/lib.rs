//! Plugboard and the Model Context Protocol: MCP servers an administrator added, as a
//! tool source of the chat core beside the plugins' tools.

pub mod config;

pub use config::{ConfigError, McpServerConfig, Transport};
