//! A small MCP server over standard input and output, for Plugboard's tests: the MCP
//! servers an administrator adds are started as real child processes and spoken to with
//! the real protocol. Its tools:
//!
//! - `echo` (`{"text"}`): answers `echo: <text>`;
//! - `token_length`: the length of its `FIXTURE_TOKEN` environment variable, so a test can
//!   see the configured secret reached the process without the secret being shown.
//!
//! Started with `--fail`, it writes a line to standard error and exits before speaking MCP.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
struct Fixture;

fn schema(value: Value) -> Arc<Map<String, Value>> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("plugboard-mcp-fixture", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "echo",
                "Answers with the text it is given",
                schema(json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})),
            ),
            Tool::new(
                "token_length",
                "The length of the FIXTURE_TOKEN environment variable",
                schema(json!({"type": "object", "properties": {}})),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        let text = match request.name.as_ref() {
            "echo" => format!("echo: {}", arguments.get("text").and_then(Value::as_str).unwrap_or_default()),
            "token_length" => std::env::var("FIXTURE_TOKEN").map(|token| token.len()).unwrap_or(0).to_string(),
            other => return Err(ErrorData::invalid_params(format!("no tool `{other}`"), None)),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|argument| argument == "--fail") {
        eprintln!("fixture: told to fail at start");
        std::process::exit(3);
    }
    let running = Fixture.serve(rmcp::transport::io::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
