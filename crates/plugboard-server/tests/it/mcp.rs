//! Plugboard as an MCP server at `/mcp`: the official MCP Python SDK (installed into a
//! virtual environment under cargo's test scratch directory on first use) lists and calls
//! the plugins' tools with an API token; requests without a valid token are refused before
//! any MCP processing; sessions, the server's event stream and the per-user limit behave as
//! the transport and the rest of the API say.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt as _;
use plugboard_server::{ConnectionLimits, ServerConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Session, TestServer};

/// The protocol revision the raw requests below speak (the SDK negotiates its own).
const REVISION: &str = "2025-11-25";

/// A Python with the `mcp` package, made on first use.
fn python_with_mcp() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mcp-venv");
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "from mcp.client.streamable_http import streamable_http_client"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready() {
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 is installed");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "mcp>=1.30,<2"])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install mcp failed");
    }
    python
}

/// Runs `mcp_client.py <mode>` against `server` with `token`; its JSON report.
async fn python_client(server: &TestServer, mode: &str, token: Option<&str>) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/mcp_client.py");
    let python = tokio::task::spawn_blocking(python_with_mcp).await.unwrap();
    let mut command = tokio::process::Command::new(python);
    command.arg(script).arg(mode).env("PLUGBOARD_MCP_URL", server.url("/mcp")).env_remove("PLUGBOARD_TOKEN");
    if let Some(token) = token {
        command.env("PLUGBOARD_TOKEN", token);
    }
    let output = command.output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&output.stdout)))
}

/// A new API token of `session`'s user: `(token, id)`.
async fn new_token(session: &Session) -> (String, String) {
    let (status, created) = session.post("/api/tokens", json!({"name": "mcp client"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (created["token"].as_str().unwrap().to_owned(), created["api_token"]["id"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_lists_and_calls_plugin_tools() {
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let (token, token_id) = new_token(&alice).await;

    let seen = python_client(&server, "use", Some(&token)).await;
    assert_eq!(seen["server"], json!({"name": "plugboard", "version": env!("CARGO_PKG_VERSION")}));
    assert_eq!(seen["protocol_version"], REVISION, "the newest revision with sessions: {seen}");
    assert!(seen["instructions"].as_str().unwrap().contains("<plugin>__<tool>"), "{seen}");
    assert_eq!(seen["tools_capability"], true);
    assert!(seen["session_id"].as_str().is_some_and(|id| !id.is_empty()), "a session: {seen}");
    // The tool as the model sees it: its name, description and schema unchanged.
    let tools = seen["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1, "{seen}");
    assert_eq!(tools[0]["name"], "calculator__calculate");
    assert!(tools[0]["description"].as_str().unwrap().starts_with("Evaluates an arithmetic expression"));
    assert_eq!(
        tools[0]["inputSchema"],
        json!({"type": "object", "required": ["expression"], "properties": {
            "expression": {"type": "string", "description": "The expression, such as `2 * (3 + 4)`"}}})
    );
    assert_eq!(seen["ok"], json!({"isError": false, "text": ["42"], "structuredContent": null}));
    // The plugin's error is a tool result marked as an error, with its message.
    assert_eq!(seen["failed"]["isError"], true, "{seen}");
    let failed = seen["failed"]["text"][0].as_str().unwrap();
    assert!(failed.contains("division by zero"), "{failed}");
    // An unknown tool is a protocol error (invalid params), naming the tool.
    assert_eq!(seen["unknown"]["code"], -32602, "{seen}");
    assert!(seen["unknown"]["message"].as_str().unwrap().contains("nothing__here"), "{seen}");

    // Without a token the SDK gets 401 and no session.
    let refused = python_client(&server, "refused", None).await;
    assert_eq!(refused["refused"], true, "{refused}");
    assert_eq!(refused["statuses"][0], 401, "{refused}");

    // Once the token is revoked, a new session is refused.
    assert_eq!(alice.delete(&format!("/api/tokens/{token_id}")).await, StatusCode::NO_CONTENT);
    let refused = python_client(&server, "refused", Some(&token)).await;
    assert_eq!(refused["refused"], true, "{refused}");
    assert_eq!(refused["statuses"][0], 401, "{refused}");
}

/// An MCP session over plain HTTP requests, for what the SDK does not show.
struct RawSession {
    client: reqwest::Client,
    url: String,
    token: String,
    id: Option<String>,
}

impl RawSession {
    fn new(server: &TestServer, token: &str) -> RawSession {
        RawSession { client: reqwest::Client::new(), url: server.url("/mcp"), token: token.to_owned(), id: None }
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method, &self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream");
        if let Some(id) = &self.id {
            request = request.header("mcp-session-id", id).header("mcp-protocol-version", REVISION);
        }
        request
    }

    async fn post(&self, message: Value) -> reqwest::Response {
        self.request(reqwest::Method::POST).json(&message).send().await.unwrap()
    }

    /// Sends request `method` and reads its answer out of the response's event stream.
    async fn call(&self, id: u64, method: &str, params: Value) -> Value {
        let response = self.post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        answer(&response.text().await.unwrap(), id)
    }

    async fn initialize(&mut self) {
        let params = json!({"protocolVersion": REVISION, "capabilities": {},
                            "clientInfo": {"name": "plugboard-test", "version": "1"}});
        let response = self.post(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers().get("mcp-session-id").expect("a session id").to_str().unwrap().to_owned();
        let initialized = answer(&response.text().await.unwrap(), 0);
        assert_eq!(initialized["result"]["serverInfo"]["name"], "plugboard", "{initialized}");
        self.id = Some(id);
        let notified = self.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        assert_eq!(notified.status(), StatusCode::ACCEPTED);
    }
}

/// The JSON-RPC message with `id` among the `data:` lines of an event stream (or a JSON body).
fn answer(body: &str, id: u64) -> Value {
    let messages: Vec<Value> = if body.trim_start().starts_with('{') {
        vec![serde_json::from_str(body).unwrap()]
    } else {
        body.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .collect()
    };
    messages.into_iter().find(|message| message["id"] == id).unwrap_or_else(|| panic!("no answer {id} in {body}"))
}

#[tokio::test]
async fn requests_without_a_valid_api_token_are_refused_before_mcp() {
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": REVISION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let post = || {
        server.client.post(server.url("/mcp")).header("accept", "application/json, text/event-stream").json(&initialize)
    };
    let refused = |response: reqwest::Response, code: &'static str| async move {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers().get("www-authenticate").unwrap().to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(response.headers().get("mcp-session-id").is_none(), "no session was made");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        challenge
    };

    // No token; a session cookie alone (MCP clients are programs); a token nobody issued.
    let challenge = refused(post().send().await.unwrap(), "unauthenticated").await;
    assert_eq!(challenge, r#"Bearer realm="plugboard""#);
    refused(post().header("cookie", &alice.cookie).send().await.unwrap(), "unauthenticated").await;
    let challenge = refused(post().bearer_auth("pb_not-a-token").send().await.unwrap(), "invalid_token").await;
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    // Every method: the server's stream and ending a session too.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = server.client.request(method, server.url("/mcp")).send().await.unwrap();
        refused(response, "unauthenticated").await;
    }

    // A token works until it is revoked; then even its open session is refused.
    let (token, token_id) = new_token(&alice).await;
    let mut session = RawSession::new(&server, &token);
    session.initialize().await;
    let listed = session.call(1, "tools/list", json!({})).await;
    assert_eq!(listed["result"]["tools"][0]["name"], "calculator__calculate", "{listed}");
    assert_eq!(alice.delete(&format!("/api/tokens/{token_id}")).await, StatusCode::NO_CONTENT);
    let response = session.post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await;
    refused(response, "invalid_token").await;

    // A disabled account's token: 403, as on the rest of the API.
    let bob = server.signup("bob").await;
    let (bobs_token, _) = new_token(&bob).await;
    let (_, me) = bob.get("/api/me").await;
    let (status, _) = alice
        .put(&format!("/api/users/{}/disabled", me["user"]["id"].as_str().unwrap()), json!({"disabled": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = post().bearer_auth(&bobs_token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_page_of_another_origin_is_refused_and_local_pages_are_served() {
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let (token, _) = new_token(&alice).await;
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": REVISION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let from = |origin: &str| {
        server
            .client
            .post(server.url("/mcp"))
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .header("origin", origin)
            .json(&initialize)
            .send()
    };
    // DNS rebinding: a foreign page whose name points at this server.
    let response = from("http://evil.example.com").await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cross_origin");
    assert!(body["error"]["message"].as_str().unwrap().contains("allowed_origins"), "{body}");
    // A page on this machine (an MCP inspector, say) is served.
    assert_eq!(from("http://localhost:6274").await.unwrap().status(), StatusCode::OK);
    assert_eq!(from("http://127.0.0.1:9").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn sessions_are_their_makers_end_on_delete_and_their_stream_outlives_the_idle_and_body_timeouts() {
    let limits = ConnectionLimits {
        body_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    };
    let server =
        TestServer::start_with(&["calculator"], ServerConfig { connections: limits, ..ServerConfig::default() }).await;
    let alice = server.signup("alice").await;
    let (token, _) = new_token(&alice).await;
    let mut session = RawSession::new(&server, &token);
    session.initialize().await;

    // The server's stream stays open (its keep-alives are 15 s apart) well past both
    // timeouts, while the session goes on beside it.
    let stream = session.request(reqwest::Method::GET).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut stream = stream.bytes_stream();
    let waited = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match stream.next().await {
                // Priming events and comments may come; an end or an error may not.
                Some(Ok(_)) => continue,
                ended => return ended.map(|error| error.map(|_| ()).map_err(|error| error.to_string())),
            }
        }
    })
    .await;
    assert!(waited.is_err(), "the stream ended: {waited:?}");
    let called = session
        .call(
            1,
            "tools/call",
            json!({"name": "calculator__calculate",
                                                        "arguments": {"expression": "2^10"}}),
        )
        .await;
    assert_eq!(called["result"]["content"][0]["text"], "1024", "{called}");
    assert_eq!(called["result"]["isError"], false);

    // The session is alice's: with another user's token its id is unknown (and cannot be
    // ended), while alice goes on using it.
    let bob = server.signup("bob").await;
    let (bobs_token, _) = new_token(&bob).await;
    let mut intruder = RawSession::new(&server, &bobs_token);
    intruder.id = session.id.clone();
    let refused = intruder.post(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"})).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let refused = intruder.request(reqwest::Method::DELETE).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let listed = session.call(3, "tools/list", json!({})).await;
    assert_eq!(listed["result"]["tools"][0]["name"], "calculator__calculate", "{listed}");

    // DELETE ends the session: its id is unknown from then on.
    let ended = session.request(reqwest::Method::DELETE).send().await.unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    let after = session.post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await;
    assert_eq!(after.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tool_calls_count_toward_the_per_user_plugin_limit() {
    // The test server allows 30 calls a minute per user and plugin.
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let (token, _) = new_token(&alice).await;
    let mut session = RawSession::new(&server, &token);
    session.initialize().await;
    let arguments = json!({"name": "calculator__calculate", "arguments": {"expression": "1+1"}});
    for id in 1..=30 {
        let called = session.call(id, "tools/call", arguments.clone()).await;
        assert_eq!(called["result"]["isError"], false, "call {id}: {called}");
    }
    let limited = session.call(31, "tools/call", arguments.clone()).await;
    assert_eq!(limited["result"]["isError"], true, "{limited}");
    let text = limited["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("calculator") && text.contains("30 times a minute"), "{text}");
    // The same limit as /api/plugins/execute: that is refused now too.
    let (status, _) = alice
        .post(
            "/api/plugins/execute",
            json!({"plugin_id": "calculator", "method": "calculate", "kwargs": {"expression": "1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Counted by outcome (the recorder is the process's: other tests' calls count too).
    let metrics = alice.request(reqwest::Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    let count = |outcome: &str| {
        let series =
            format!("plugboard_mcp_server_calls_total{{tool=\"calculator__calculate\",outcome=\"{outcome}\"}} ");
        metrics.lines().find_map(|line| line.strip_prefix(&series)).map_or(0, |count| count.trim().parse().unwrap())
    };
    assert!(count("ok") >= 30 && count("rate_limited") >= 1, "{metrics}");
    // Another user has their own.
    let bob = server.signup("bob").await;
    let (bobs_token, _) = new_token(&bob).await;
    let mut bobs = RawSession::new(&server, &bobs_token);
    bobs.initialize().await;
    let called = bobs.call(1, "tools/call", arguments).await;
    assert_eq!(called["result"]["content"][0]["text"], "2", "{called}");
}

/// A server whose configuration file names the fixture MCP server (`plugboard-mcp-fixture`,
/// a real child process speaking MCP), with `mcp_expose_mcp_servers` as given.
async fn server_with_an_mcp_server(expose: bool) -> TestServer {
    use std::sync::Arc;

    use plugboard_server::McpServersConfig;
    use plugboard_store::{SqliteStore, Store};

    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.path().join("plugboard.db")).await.unwrap());
    let mcp_server = serde_json::from_value(json!({
        "name": "fixture", "transport": "stdio", "command": env!("CARGO_BIN_EXE_plugboard-mcp-fixture"),
    }))
    .unwrap();
    let working_folder = data.path().to_owned();
    TestServer::serve(data, store, &["calculator"], |app| {
        app.server_config(ServerConfig { mcp_expose_mcp_servers: expose, ..ServerConfig::default() })
            .mcp_servers(McpServersConfig { servers: vec![mcp_server], working_folder })
    })
    .await
}

#[tokio::test]
async fn mcp_servers_tools_are_exposed_only_when_the_operator_opts_in() {
    for expose in [false, true] {
        let server = server_with_an_mcp_server(expose).await;
        let admin = server.signup("admin").await;
        crate::eventually("the MCP server to be ready", async || {
            let (_, body) = admin.get("/api/mcp/servers/fixture").await;
            (body["server"]["state"] == "ready").then_some(())
        })
        .await;
        let (token, _) = new_token(&admin).await;
        let mut session = RawSession::new(&server, &token);
        session.initialize().await;
        let listed = session.call(1, "tools/list", json!({})).await;
        let names: Vec<&str> =
            listed["result"]["tools"].as_array().unwrap().iter().map(|tool| tool["name"].as_str().unwrap()).collect();
        let echo = json!({"name": "mcp_fixture__echo", "arguments": {"text": "hi"}});
        let called = session.call(2, "tools/call", echo).await;
        if expose {
            assert_eq!(names, ["calculator__calculate", "mcp_fixture__echo", "mcp_fixture__token_length"]);
            assert_eq!(called["result"]["content"][0]["text"], "echo: hi", "{called}");
        } else {
            assert_eq!(names, ["calculator__calculate"], "the MCP server's tools are not exposed by default");
            assert_eq!(called["error"]["code"], -32602, "nor callable: {called}");
        }
    }
}

#[tokio::test]
async fn a_tool_an_administrator_denies_is_neither_listed_nor_callable() {
    let server = TestServer::start(&["calculator"]).await;
    let admin = server.signup("admin").await;
    let (token, _) = new_token(&admin).await;
    let mut session = RawSession::new(&server, &token);
    session.initialize().await;
    let calculate = json!({"name": "calculator__calculate", "arguments": {"expression": "6*7"}});
    assert_eq!(session.call(1, "tools/call", calculate.clone()).await["result"]["content"][0]["text"], "42");

    // Denied for its plugin: gone from the list, and a call is refused, in the open session.
    for (key, id) in [("plugin:calculator", 2), ("calculator__calculate", 4)] {
        let (status, body) = admin.put("/api/tool-policies", json!({"key": key, "policy": "deny"})).await;
        assert!(status.is_success(), "{body}");
        let listed = session.call(id, "tools/list", json!({})).await;
        assert_eq!(listed["result"]["tools"], json!([]), "{key}: {listed}");
        let refused = session.call(id + 1, "tools/call", calculate.clone()).await;
        assert_eq!(refused["error"]["code"], -32602, "{key}: {refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains("`calculator__calculate` is not allowed here"), "{message}");
        let status = admin.delete(&format!("/api/tool-policies/{key}")).await;
        assert!(status.is_success(), "{status}");
    }
    // `ask` is for the MCP client to honour: the call runs.
    let (status, body) = admin.put("/api/tool-policies", json!({"key": "plugin:calculator", "policy": "ask"})).await;
    assert!(status.is_success(), "{body}");
    assert_eq!(session.call(6, "tools/call", calculate).await["result"]["content"][0]["text"], "42");
}
