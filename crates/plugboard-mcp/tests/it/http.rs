//! Servers over streamable HTTP: the reference server, and the fixture server telling which
//! headers reached it.

use std::collections::BTreeMap;

use plugboard_chat::{PluginChoice, ToolSource};
use plugboard_mcp::{McpServers, ServerState, Transport};
use plugboard_types::CallContext;
use serde_json::json;

use crate::support::{config, everything_script, free_port, http_server, npm_folder, ready, wait_for};

fn context() -> CallContext {
    CallContext {
        conversation_id: "c1".into(),
        user_id: "u1".into(),
        model: "fixture/echo".to_owned(),
        request_id: "r1".to_owned(),
    }
}

fn http(name: &str, port: u16, headers: &[(&str, &str)]) -> plugboard_mcp::McpServerConfig {
    let headers: BTreeMap<String, String> =
        headers.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
    config(name, Transport::Http { url: format!("http://127.0.0.1:{port}/mcp"), headers })
}

#[tokio::test]
async fn the_reference_server_over_streamable_http() {
    let port = free_port();
    let _server = http_server(&everything_script(), &["streamableHttp"], port).await;
    let servers = McpServers::new(npm_folder());
    servers.apply(vec![http("remote", port, &[("X-Team", "blue")])]).await;
    let status = ready(&servers, "remote").await;
    assert_eq!(status.transport, "http");
    assert!(status.tools.iter().any(|tool| tool.offered_as == "mcp_remote__echo"));
    let tools = servers.tool_source();
    let echo = tools.tools(&PluginChoice::default()).into_iter().find(|tool| tool.tool == "echo").unwrap();
    assert_eq!(tools.call(&echo, &context(), json!({"message": "over http"})).await.unwrap(), "Echo: over http");
    servers.shutdown().await;
}

#[tokio::test]
async fn configured_headers_reach_the_server_on_every_request() {
    let port = free_port();
    let _server = http_server(&npm_folder().join("fixture-server.mjs"), &["http"], port).await;
    let servers = McpServers::new(npm_folder());
    servers.apply(vec![http("headers", port, &[("Authorization", "Bearer t0ken"), ("X-Team", "blue")])]).await;
    let status = ready(&servers, "headers").await;
    // The tool list came over four requests (pages).
    assert_eq!(status.tools.len(), 8);
    let tools = servers.tool_source();
    let header = tools.tools(&PluginChoice::default()).into_iter().find(|tool| tool.tool == "request-header").unwrap();
    for (name, value) in [("authorization", "Bearer t0ken"), ("x-team", "blue")] {
        assert_eq!(tools.call(&header, &context(), json!({"name": name})).await.unwrap(), value);
    }
    servers.shutdown().await;
}

#[tokio::test]
async fn an_http_server_that_is_not_there_is_failed() {
    let port = free_port();
    let servers = McpServers::new(npm_folder());
    servers.apply(vec![http("absent", port, &[])]).await;
    let status = wait_for(&servers, "absent", "failed", |status| status.state == ServerState::Failed).await;
    let error = status.last_error.unwrap();
    assert!(error.starts_with(&format!("connecting to http://127.0.0.1:{port}/mcp failed: ")), "{error}");
    assert!(error.contains("error sending request"), "{error}");
    assert!(!error.contains("rmcp::"), "no type names in what people read: {error}");
    servers.shutdown().await;
}

#[tokio::test]
async fn an_http_server_that_goes_away_is_reconnected_when_it_is_back() {
    let port = free_port();
    let script = npm_folder().join("fixture-server.mjs");
    let server = http_server(&script, &["http"], port).await;
    let servers = McpServers::new(npm_folder());
    servers.apply(vec![http("flaky", port, &[])]).await;
    ready(&servers, "flaky").await;
    let tools = servers.tool_source();
    let page = tools.tools(&PluginChoice::default()).into_iter().find(|tool| tool.tool == "page-1").unwrap();
    assert_eq!(tools.call(&page, &context(), json!({})).await.unwrap(), "called page-1");

    drop(server);
    let error = tools.call(&page, &context(), json!({})).await.unwrap_err();
    assert!(error.starts_with("the connection to MCP server `flaky` broke during `page-1` ("), "{error}");
    assert!(error.contains("error sending request") && error.ends_with("); it reconnects"), "{error}");
    assert!(!error.contains("rmcp::"), "no type names in what people read: {error}");
    let failed = wait_for(&servers, "flaky", "failed", |status| status.state == ServerState::Failed).await;
    let failed = failed.last_error.unwrap();
    assert!(failed.starts_with("the connection broke while calling a tool"), "{failed}");

    // Back on the same port: the next attempt connects.
    let _server = http_server(&script, &["http"], port).await;
    let back =
        wait_for(&servers, "flaky", "ready again", |status| status.state == ServerState::Ready && status.restarts >= 1)
            .await;
    assert_eq!(back.tools.len(), 8);
    assert_eq!(tools.call(&page, &context(), json!({})).await.unwrap(), "called page-1");
    servers.shutdown().await;
}

#[tokio::test]
async fn an_idle_http_server_that_goes_away_is_noticed_by_the_ping() {
    let port = free_port();
    let server = http_server(&npm_folder().join("fixture-server.mjs"), &["http"], port).await;
    let servers = McpServers::new(npm_folder());
    servers.apply(vec![http("idle", port, &[])]).await;
    ready(&servers, "idle").await;
    drop(server);
    // No call is made: the next ping (every 30 s) finds it gone.
    let failed = wait_for(&servers, "idle", "failed", |status| status.state == ServerState::Failed).await;
    let error = failed.last_error.unwrap();
    assert!(error.starts_with("it stopped answering: "), "{error}");
    servers.shutdown().await;
}
