//! The reference server (and the fixture server) as child processes over stdio: tools
//! listed and called, results converted, deadlines, the environment, restarts, removal.

use std::collections::BTreeSet;

use plugboard_chat::{PluginChoice, ToolPolicy, ToolSource};
use plugboard_mcp::{McpServers, McpTools, ServerState, Transport};
use plugboard_types::CallContext;
use serde_json::{Value, json};

use crate::support::{
    config, everything, everything_script, fixture, marker, node_server, npm_folder, processes_with, ready, wait_for,
};

fn context() -> CallContext {
    CallContext {
        conversation_id: "c1".into(),
        user_id: "u1".into(),
        model: "fixture/echo".to_owned(),
        request_id: "r1".to_owned(),
    }
}

/// Calls the tool the model sees as `offered` with `arguments`.
async fn call(tools: &McpTools, offered: &str, arguments: Value) -> Result<String, String> {
    let tool = tools
        .tools(&PluginChoice::default())
        .into_iter()
        .find(|tool| tool.spec.name == offered)
        .unwrap_or_else(|| panic!("`{offered}` is not offered"));
    tools.call(&tool, &context(), arguments).await
}

#[tokio::test]
async fn the_reference_server_lists_and_runs_its_tools() {
    let servers = McpServers::new(npm_folder());
    let marker = marker();
    servers.apply(vec![everything("everything", &marker)]).await;
    let status = ready(&servers, "everything").await;
    assert_eq!(status.transport, "stdio");
    assert_eq!(status.restarts, 0);
    assert_eq!(status.server_info.as_ref().unwrap()["name"], "mcp-servers/everything");
    let names: BTreeSet<&str> = status.tools.iter().map(|tool| tool.name.as_str()).collect();
    for expected in ["echo", "get-sum", "get-tiny-image", "get-env", "trigger-long-running-operation"] {
        assert!(names.contains(expected), "{expected} missing from {names:?}");
    }
    let echo = status.tools.iter().find(|tool| tool.name == "echo").unwrap();
    assert_eq!(echo.offered_as, "mcp_everything__echo");
    assert_eq!(echo.input_schema["type"], "object");
    assert!(echo.input_schema["properties"]["message"].is_object(), "{}", echo.input_schema);

    let tools = servers.tool_source();
    let offered = tools.tools(&PluginChoice::default());
    let offered_echo = offered.iter().find(|tool| tool.spec.name == "mcp_everything__echo").unwrap();
    assert_eq!(offered_echo.source, "mcp:everything");
    assert_eq!(offered_echo.tool, "echo");
    assert_eq!(offered_echo.default_policy, ToolPolicy::Ask);
    assert_eq!(offered.len(), status.tools.len());

    assert_eq!(call(&tools, "mcp_everything__echo", json!({"message": "hello"})).await.unwrap(), "Echo: hello");
    let sum = call(&tools, "mcp_everything__get-sum", json!({"a": 2, "b": 3})).await.unwrap();
    assert!(sum.contains('5'), "{sum}");
    let image = call(&tools, "mcp_everything__get-tiny-image", json!({})).await.unwrap();
    assert!(image.starts_with("Here's the image you requested:\n[image image/png, "), "{image}");
    assert!(image.contains(" KiB: not shown to the model]\nThe image above is the MCP logo."), "{image}");
    // Arguments the tool refuses come back as an error for the model.
    let refused = call(&tools, "mcp_everything__get-sum", json!({"a": "two"})).await.unwrap_err();
    assert!(!refused.is_empty());
    let not_an_object = call(&tools, "mcp_everything__echo", json!([1])).await.unwrap_err();
    assert_eq!(not_an_object, "the arguments of `echo` must be a JSON object, not an array");

    // A conversation that switched the server off is offered none of its tools.
    let choice = PluginChoice { disabled_tools: BTreeSet::from(["mcp:everything".to_owned()]), ..Default::default() };
    assert!(tools.tools(&choice).is_empty());
    servers.shutdown().await;
    assert!(processes_with(&marker).is_empty());
}

#[tokio::test]
async fn a_call_past_its_deadline_is_cancelled_and_the_server_goes_on() {
    let servers = McpServers::new(npm_folder());
    let marker = marker();
    let server = plugboard_mcp::McpServerConfig { timeout_secs: 1, ..everything("slow", &marker) };
    servers.apply(vec![server]).await;
    ready(&servers, "slow").await;
    let tools = servers.tool_source();
    let error = call(&tools, "mcp_slow__trigger-long-running-operation", json!({"duration": 30, "steps": 3}))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        "MCP server `slow` did not finish `trigger-long-running-operation` within its timeout of 1 s; the call was \
         cancelled"
    );
    // The connection is fine: the next call is answered.
    assert_eq!(call(&tools, "mcp_slow__echo", json!({"message": "after"})).await.unwrap(), "Echo: after");
    assert_eq!(servers.status("slow").unwrap().state, ServerState::Ready);
    servers.shutdown().await;
}

#[tokio::test]
async fn the_child_gets_exactly_its_configured_environment_and_results_are_capped() {
    // This process has PATH and HOME (and cargo's variables); the child must see none.
    assert!(std::env::var_os("PATH").is_some());
    let servers = McpServers::new(npm_folder());
    let marker = marker();
    let server = node_server(
        "env",
        &everything_script(),
        &["stdio"],
        &marker,
        &[("GREETING", "hello"), ("API_TOKEN", "s3cret")],
    );
    servers.apply(vec![server.clone()]).await;
    ready(&servers, "env").await;
    let tools = servers.tool_source();
    let text = call(&tools, "mcp_env__get-env", json!({})).await.unwrap();
    let environment: BTreeSet<String> =
        serde_json::from_str::<serde_json::Map<String, Value>>(&text).unwrap().keys().cloned().collect();
    assert_eq!(
        environment,
        BTreeSet::from(["API_TOKEN".to_owned(), "GREETING".to_owned(), crate::support::MARKER.to_owned()]),
        "{text}"
    );

    // Output past a cap of 256 bytes is cut, and the model told so.
    let filler = "x".repeat(1000);
    let capped = node_server("capped", &everything_script(), &["stdio"], &marker, &[("FILLER", &filler)]);
    let capped = plugboard_mcp::McpServerConfig { max_result_bytes: 256, ..capped };
    servers.apply(vec![server, capped]).await;
    ready(&servers, "capped").await;
    let cut = call(&tools, "mcp_capped__get-env", json!({})).await.unwrap();
    let (kept, note) = cut.split_once("\n[result cut at ").unwrap();
    assert_eq!(kept.len(), 256);
    assert!(note.starts_with("256 bytes of 1") && note.ends_with(']'), "{note}");
    let total: usize = note["256 bytes of ".len()..note.len() - 1].parse().unwrap();
    assert!(total > 1000, "{note}");
    servers.shutdown().await;
}

#[tokio::test]
async fn a_killed_child_is_failed_then_restarted() {
    let servers = McpServers::new(npm_folder());
    let marker = marker();
    servers.apply(vec![everything("crashy", &marker)]).await;
    ready(&servers, "crashy").await;
    let pids = processes_with(&marker);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let killed = std::process::Command::new("kill").arg("-KILL").arg(pids[0].to_string()).status().unwrap();
    assert!(killed.success());
    let failed = wait_for(&servers, "crashy", "failed", |status| status.state == ServerState::Failed).await;
    let error = failed.last_error.unwrap();
    assert!(error.starts_with("the process exited (signal: 9 (SIGKILL))"), "{error}");
    // Meanwhile a call fails at once, saying why and when it is retried.
    let tools = servers.tool_source();
    assert!(tools.tools(&PluginChoice::default()).is_empty(), "a failed server's tools are not offered");
    let offered = plugboard_chat::OfferedTool {
        spec: plugboard_types::ToolSpec {
            name: "mcp_crashy__echo".to_owned(),
            description: String::new(),
            parameters: json!({}),
        },
        source: "mcp:crashy".to_owned(),
        tool: "echo".to_owned(),
        default_policy: ToolPolicy::Ask,
    };
    // (The first retry is a second away.)
    let error = tools.call(&offered, &context(), json!({"message": "x"})).await.unwrap_err();
    assert!(error.starts_with("MCP server `crashy` is not connected: the process exited (signal: 9"), "{error}");
    assert!(error.ends_with("; retrying in 1 s"), "{error}");
    let back = wait_for(&servers, "crashy", "ready again", |status| {
        status.state == ServerState::Ready && status.restarts == 1
    })
    .await;
    assert!(back.last_error.is_none());
    assert_eq!(tools.call(&offered, &context(), json!({"message": "again"})).await.unwrap(), "Echo: again");
    let new_pids = processes_with(&marker);
    assert_eq!(new_pids.len(), 1);
    assert_ne!(new_pids, pids);
    servers.shutdown().await;
    assert!(processes_with(&marker).is_empty());
}

#[tokio::test]
async fn a_server_that_cannot_start_is_failed_with_a_clear_error() {
    let servers = McpServers::new(npm_folder());
    let missing = config(
        "missing",
        Transport::Stdio {
            command: "no-such-mcp-server-program".to_owned(),
            args: Vec::new(),
            env: Default::default(),
            cwd: None,
        },
    );
    let exits = node_server("exits", &npm_folder().join("no-such-script.mjs"), &[], &marker(), &[]);
    let nowhere = config(
        "nowhere",
        Transport::Stdio {
            command: "./bin/nothing-here".to_owned(),
            args: Vec::new(),
            env: Default::default(),
            cwd: None,
        },
    );
    // A configuration the API would refuse is not started.
    let invalid = plugboard_mcp::McpServerConfig { name: "Not Valid".to_owned(), ..missing.clone() };
    servers.apply(vec![missing, exits, nowhere, invalid]).await;
    let invalid = servers.status("Not Valid").unwrap();
    assert_eq!(invalid.state, ServerState::Failed);
    assert!(invalid.last_error.unwrap().starts_with("MCP server `Not Valid`: `name` must be"));
    let failed = |status: &plugboard_mcp::ServerStatus| status.state == ServerState::Failed;
    let missing = wait_for(&servers, "missing", "failed", failed).await;
    let error = missing.last_error.unwrap();
    assert!(
        error.starts_with("`no-such-mcp-server-program` was not found in PATH (")
            && error.ends_with("): install it or give its full path"),
        "{error}"
    );
    let nowhere = wait_for(&servers, "nowhere", "failed", failed).await;
    let error = nowhere.last_error.unwrap();
    assert_eq!(error, format!("`./bin/nothing-here` does not exist (looked in {})", npm_folder().display()));
    // A process that exits at once: its last words are in the error.
    let exits = wait_for(&servers, "exits", "failed", failed).await;
    let error = exits.last_error.unwrap();
    assert!(error.contains("Cannot find module"), "{error}");
    assert!(error.contains("no-such-script.mjs"), "{error}");

    let tools = servers.tool_source();
    let offered = plugboard_chat::OfferedTool {
        spec: plugboard_types::ToolSpec {
            name: "mcp_missing__x".to_owned(),
            description: String::new(),
            parameters: json!({}),
        },
        source: "mcp:missing".to_owned(),
        tool: "x".to_owned(),
        default_policy: ToolPolicy::Ask,
    };
    let error = tools.call(&offered, &context(), json!({})).await.unwrap_err();
    assert!(
        error.starts_with("MCP server `missing` is not connected: `no-such-mcp-server-program` was not found"),
        "{error}"
    );
    assert!(error.contains("; retrying in "), "{error}");
    servers.shutdown().await;
}

#[tokio::test]
async fn apply_keeps_unchanged_servers_and_stops_removed_ones() {
    let servers = McpServers::new(npm_folder());
    let (kept_marker, removed_marker) = (marker(), marker());
    let kept = everything("kept", &kept_marker);
    let removed = everything("removed", &removed_marker);
    servers.apply(vec![kept.clone(), removed]).await;
    ready(&servers, "kept").await;
    ready(&servers, "removed").await;
    let kept_pids = processes_with(&kept_marker);
    assert_eq!(kept_pids.len(), 1);
    assert_eq!(processes_with(&removed_marker).len(), 1);

    // A disabled server is listed, not started, and offers nothing.
    let disabled = plugboard_mcp::McpServerConfig { enabled: false, ..everything("off", &marker()) };
    servers.apply(vec![kept.clone(), disabled]).await;
    assert!(processes_with(&removed_marker).is_empty(), "the removed server's process is gone when apply returns");
    assert_eq!(processes_with(&kept_marker), kept_pids, "the unchanged server kept its process");
    let names: Vec<String> = servers.statuses().into_iter().map(|status| status.name).collect();
    assert_eq!(names, ["kept", "off"]);
    let off = servers.status("off").unwrap();
    assert_eq!((off.state, off.enabled), (ServerState::Disabled, false));
    assert!(servers.tool_source().tools(&PluginChoice::default()).iter().all(|tool| tool.source == "mcp:kept"));

    // A changed configuration restarts the server.
    let changed = plugboard_mcp::McpServerConfig { timeout_secs: 5, ..kept };
    servers.apply(vec![changed]).await;
    ready(&servers, "kept").await;
    let restarted = processes_with(&kept_marker);
    assert_eq!(restarted.len(), 1);
    assert_ne!(restarted, kept_pids);
    servers.shutdown().await;
    assert!(processes_with(&kept_marker).is_empty());
    assert!(servers.statuses().is_empty());
}

#[tokio::test]
async fn tool_lists_are_read_over_every_page_and_again_when_they_change() {
    let servers = McpServers::new(npm_folder());
    // It runs in the folder its configuration gives.
    let folder = npm_folder().join("working-folder");
    std::fs::create_dir_all(&folder).unwrap();
    let mut server = fixture("fixture", &marker());
    if let Transport::Stdio { cwd, .. } = &mut server.transport {
        *cwd = Some(folder.clone());
    }
    servers.apply(vec![server]).await;
    let status = ready(&servers, "fixture").await;
    let names: Vec<&str> = status.tools.iter().map(|tool| tool.name.as_str()).collect();
    // Four pages of two.
    assert_eq!(
        names,
        ["page-1", "page-2", "page-3", "add-tool", "request-header", "wait", "cancellations", "working-folder"]
    );
    assert_eq!(status.server_info.unwrap(), json!({"name": "plugboard-fixture", "version": "1.0.0"}));

    let tools = servers.tool_source();
    assert_eq!(call(&tools, "mcp_fixture__add-tool", json!({"name": "late.tool"})).await.unwrap(), "added late.tool");
    let status = wait_for(&servers, "fixture", "listing the added tool", |status| {
        status.tools.iter().any(|tool| tool.name == "late.tool")
    })
    .await;
    assert_eq!(status.tools.len(), 9);
    assert_eq!(call(&tools, "mcp_fixture__late_tool", json!({})).await.unwrap(), "called late.tool");
    let working_folder = call(&tools, "mcp_fixture__working-folder", json!({})).await.unwrap();
    assert_eq!(std::path::Path::new(&working_folder).canonicalize().unwrap(), folder.canonicalize().unwrap());
    // Over stdio there are no HTTP headers.
    assert_eq!(call(&tools, "mcp_fixture__request-header", json!({"name": "x-test"})).await.unwrap(), "(none)");
    servers.shutdown().await;
}

#[tokio::test]
async fn a_call_past_its_deadline_sends_the_server_a_cancellation() {
    let servers = McpServers::new(npm_folder());
    let server = plugboard_mcp::McpServerConfig { timeout_secs: 1, ..fixture("waits", &marker()) };
    servers.apply(vec![server]).await;
    ready(&servers, "waits").await;
    let tools = servers.tool_source();
    assert_eq!(call(&tools, "mcp_waits__cancellations", json!({})).await.unwrap(), "0");
    let error = call(&tools, "mcp_waits__wait", json!({"seconds": 30})).await.unwrap_err();
    assert!(error.ends_with("within its timeout of 1 s; the call was cancelled"), "{error}");
    // The cancellation went out before the next request, on the same stream.
    assert_eq!(call(&tools, "mcp_waits__cancellations", json!({})).await.unwrap(), "1");
    servers.shutdown().await;
}

#[tokio::test]
async fn a_server_removed_while_it_starts_leaves_no_process() {
    let servers = McpServers::new(npm_folder());
    let marker = marker();
    // Never answers the handshake: it stays starting.
    let silent = node_server("silent", &npm_folder().join("silent.mjs"), &[], &marker, &[]);
    std::fs::write(npm_folder().join("silent.mjs"), "setInterval(() => {}, 1000);\n").unwrap();
    servers.apply(vec![silent]).await;
    // Nothing tells when the process is up but the process list.
    let started = tokio::time::timeout(crate::support::WAIT, async {
        while processes_with(&marker).is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    started.await.unwrap();
    assert_eq!(servers.status("silent").unwrap().state, ServerState::Starting);
    servers.apply(Vec::new()).await;
    assert!(processes_with(&marker).is_empty(), "the starting server's process is gone when apply returns");
}
