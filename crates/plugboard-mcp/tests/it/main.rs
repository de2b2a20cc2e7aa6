//! plugboard-mcp's integration tests: real MCP servers (the reference server from npm, and
//! a fixture server on the official TypeScript SDK) over stdio and streamable HTTP.

#![allow(clippy::unwrap_used, reason = "tests")]

mod chat;
mod http;
mod stdio;
mod support;
