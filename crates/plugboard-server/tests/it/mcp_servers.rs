//! MCP servers administrators add: through the API (kept in the database, secrets sealed)
//! or the configuration file (fixed), run as real child processes speaking MCP over stdio
//! (`plugboard-mcp-fixture`, built with rmcp), their tools called by the model through the
//! chat engine.

use std::sync::Arc;

use futures_util::StreamExt;
use plugboard_mcp::McpServerConfig;
use plugboard_registry::RegistryConfig;
use plugboard_registry::secrets::{SecretKey, SecretKeys, is_sealed};
use plugboard_server::McpServersConfig;
use plugboard_store::testing::TestDatabase;
use plugboard_store::{PgStore, SqliteStore, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Session, TestServer, eventually};

/// The fixture MCP server this package builds.
const FIXTURE: &str = env!("CARGO_BIN_EXE_plugboard-mcp-fixture");

/// The secret an administrator configures: it must appear in no answer and nowhere in the
/// database file.
const SECRET: &str = "tok-3f9a-never-shown-back";

/// A server on SQLite with a server key, and `file` as the configuration file's
/// `[[mcp_servers]]`.
async fn start(file: Vec<McpServerConfig>) -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.path().join("plugboard.db")).await.unwrap());
    let keys = SecretKeys::new(SecretKey::generate().unwrap(), Vec::new());
    start_over(store, keys, file, data).await
}

/// [`start`] with the test plugins `plugins` loaded.
async fn start_with_plugins(plugins: &[&str]) -> TestServer {
    let data = tempfile::tempdir().unwrap();
    for name in plugins {
        let folder = data.path().join("plugins").join(name);
        plugboard_test_plugins::copy_plugin_folder(&plugboard_test_plugins::plugin_dir(name), &folder).unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.path().join("plugboard.db")).await.unwrap());
    let keys = SecretKeys::new(SecretKey::generate().unwrap(), Vec::new());
    start_over(store, keys, Vec::new(), data).await
}

/// A server over `store` with `keys`, its data folder `data`.
async fn start_over(
    store: Arc<dyn Store>,
    keys: SecretKeys,
    file: Vec<McpServerConfig>,
    data: tempfile::TempDir,
) -> TestServer {
    let folder = data.path().to_owned();
    TestServer::serve(data, store, &[], |app| {
        app.registry_config(RegistryConfig {
            directories: vec![folder.join("plugins")],
            secret_keys: Some(keys),
            ..RegistryConfig::default()
        })
        .default_model(Some("fixture/echo".to_owned()))
        .mcp_servers(McpServersConfig { servers: file, working_folder: folder })
    })
    .await
}

fn fixture_config(name: &str, extra: Value) -> Value {
    let mut config = json!({
        "name": name,
        "transport": "stdio",
        "command": FIXTURE,
        "env": {"FIXTURE_TOKEN": SECRET},
    });
    config.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    config
}

/// Waits until server `name` is in `state`; its view.
async fn wait_for_state(admin: &Session, name: &str, state: &str) -> Value {
    eventually(&format!("MCP server `{name}` to be {state}"), async || {
        let (status, body) = admin.get(&format!("/api/mcp/servers/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (body["server"]["state"] == state).then(|| body["server"].clone())
    })
    .await
}

/// Every answer's text, to check that no secret is in any.
#[derive(Default)]
struct Answers(Vec<String>);

impl Answers {
    fn keep(&mut self, (status, body): (StatusCode, Value)) -> (StatusCode, Value) {
        self.0.push(body.to_string());
        (status, body)
    }

    fn assert_no_secret(&self) {
        for answer in &self.0 {
            assert!(!answer.contains(SECRET), "a secret was shown: {answer}");
        }
    }
}

/// Runs a streamed turn with `message`, approving any tool call that asks; the events.
async fn streamed_turn(session: &Session, message: &str) -> Vec<(String, Value)> {
    let response = session
        .request(reqwest::Method::POST, "/api/chat/stream")
        .json(&json!({"message": message}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = None;
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data = serde_json::from_str(value.trim()).unwrap_or(Value::Null);
                }
            }
            let Some(name) = name else { continue };
            if name == "tool_approval" {
                // MCP tools ask before they run: the person approves this one.
                let id = data["id"].as_str().unwrap().to_owned();
                let (status, answer) = session.post(&format!("/api/tool-calls/{id}/approve"), json!({})).await;
                assert!(status.is_success(), "{answer}");
            }
            events.push((name, data));
        }
    }
    events
}

/// Checks `body`, the answer `status` of `method path`, against the OpenAPI document's
/// schema for it, strict about fields the document does not list.
async fn assert_documented(server: &TestServer, method: &str, path: &str, status: StatusCode, body: &Value) {
    fn close(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                    map.insert("additionalProperties".into(), json!(false));
                }
                map.values_mut().for_each(close);
            }
            Value::Array(items) => items.iter_mut().for_each(close),
            _ => {}
        }
    }
    let spec: Value = server.client.get(server.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let schema =
        spec["paths"][path][method]["responses"][status.as_str()]["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "{method} {path} documents no body for {status}");
    let mut components = spec["components"].clone();
    close(&mut components);
    let validator = jsonschema::validator_for(&json!({"components": components, "allOf": [schema]})).unwrap();
    let problems: Vec<String> =
        validator.iter_errors(body).map(|error| format!("{error} at {}", error.instance_path)).collect();
    assert!(problems.is_empty(), "{method} {path} ({status}) does not match the document: {problems:?}\n{body}");
}

/// Every byte of the database: the file and its journal files.
fn database_bytes(data: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(mut more) = std::fs::read(data.join(format!("plugboard.db{suffix}"))) {
            bytes.append(&mut more);
        }
    }
    bytes
}

#[tokio::test]
async fn an_added_stdio_server_starts_its_tools_reach_the_model_and_its_secret_is_never_shown() {
    let server = start(Vec::new()).await;
    let admin = server.signup("admin").await;
    let bob = server.signup("bob").await;
    let mut answers = Answers::default();

    let (status, added) = answers.keep(admin.post("/api/mcp/servers", fixture_config("fixture", json!({}))).await);
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["server"]["managed_by"], "api");
    assert_eq!(added["server"]["config"]["env"], json!({"FIXTURE_TOKEN": "(secret)"}));
    assert_eq!(added["server"]["source"], "mcp:fixture");

    // A real process, connected over MCP: its tools are listed with the names the model sees.
    let ready = wait_for_state(&admin, "fixture", "ready").await;
    answers.0.push(ready.to_string());
    let tools: Vec<(&str, &str)> = ready["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| (tool["name"].as_str().unwrap(), tool["offered_as"].as_str().unwrap()))
        .collect();
    assert_eq!(tools, [("echo", "mcp_fixture__echo"), ("token_length", "mcp_fixture__token_length")]);
    assert_eq!(ready["server_info"]["name"], "plugboard-mcp-fixture");
    let (status, listed) = answers.keep(admin.get("/api/mcp/servers").await);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["servers"].as_array().unwrap().len(), 1);
    assert_eq!(listed["servers"][0]["name"], "fixture");
    assert_documented(&server, "get", "/api/mcp/servers", StatusCode::OK, &listed).await;
    assert_documented(&server, "post", "/api/mcp/servers", StatusCode::CREATED, &added).await;
    assert_documented(&server, "get", "/api/mcp/servers/{name}", StatusCode::OK, &json!({"server": ready})).await;

    // A person's turn: the model calls the server's tool through the engine.
    let events = streamed_turn(&bob, r#"tool:mcp_fixture__echo {"text": "over MCP"}"#).await;
    let result = events.iter().find(|(name, _)| name == "tool_result").expect("a tool result");
    assert_eq!(result.1["content"], "echo: over MCP", "{events:?}");
    let reply: String =
        events.iter().filter(|(name, _)| name == "delta").filter_map(|(_, data)| data["text"].as_str()).collect();
    assert_eq!(reply, "The tool said: echo: over MCP");
    // It was offered to the model among the tools.
    let offered = server.fixture.requests()[0]["tools"].clone();
    assert!(offered.to_string().contains("mcp_fixture__echo"), "{offered}");
    // The configured secret reached the process: its length, not its value.
    let events = streamed_turn(&bob, "tool:mcp_fixture__token_length {}").await;
    let result = events.iter().find(|(name, _)| name == "tool_result").expect("a tool result");
    assert_eq!(result.1["content"], SECRET.len().to_string());

    // A conversation that switches the server off (by its source) is not offered its tools.
    let conversation = bob.conversation("without MCP").await;
    let (status, body) = bob
        .patch(&format!("/api/conversations/{conversation}"), json!({"plugins": {"disabled_tools": ["mcp:fixture"]}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, turn) = bob.post("/api/chat", json!({"conversation_id": conversation, "message": "hello"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    let offered = server.fixture.requests().pop().unwrap()["tools"].clone();
    assert!(!offered.to_string().contains("mcp_fixture__"), "switched off, yet offered: {offered}");

    // Everyone may see which servers offer tools (for a conversation's switches)...
    let (status, sources) = bob.get("/api/mcp/tools").await;
    assert_eq!(status, StatusCode::OK, "{sources}");
    assert_eq!(sources["servers"][0]["source"], "mcp:fixture");
    assert_eq!(sources["servers"][0]["ready"], true);
    assert_documented(&server, "get", "/api/mcp/tools", StatusCode::OK, &sources).await;
    assert!(!sources.to_string().contains("command"), "no configuration for everyone: {sources}");
    // ...but only administrators manage them.
    for (status, body) in [
        bob.get("/api/mcp/servers").await,
        bob.get("/api/mcp/servers/fixture").await,
        bob.post("/api/mcp/servers", fixture_config("other", json!({}))).await,
        bob.put("/api/mcp/servers/fixture", fixture_config("fixture", json!({}))).await,
        bob.post("/api/mcp/servers/fixture/restart", json!({})).await,
    ] {
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("admin_only")), "{body}");
    }
    assert_eq!(bob.delete("/api/mcp/servers/fixture").await, StatusCode::FORBIDDEN);

    // An edit that shows the secret back as "(secret)" keeps it.
    let mut edited = added["server"]["config"].clone();
    edited["timeout_secs"] = json!(12);
    let (status, replaced) = answers.keep(admin.put("/api/mcp/servers/fixture", edited).await);
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["server"]["config"]["timeout_secs"], 12);
    wait_for_state(&admin, "fixture", "ready").await;
    let events = streamed_turn(&bob, "tool:mcp_fixture__token_length {}").await;
    let result = events.iter().find(|(name, _)| name == "tool_result").expect("a tool result");
    assert_eq!(result.1["content"], SECRET.len().to_string(), "the kept secret still reaches the process");

    // At rest, the secret is sealed: not in the database file, the row holding it encrypted.
    let stored = server.state.store.mcp_server("fixture").await.unwrap().unwrap();
    assert!(is_sealed(&stored.secrets["env.FIXTURE_TOKEN"]), "{}", stored.secrets);
    assert!(!stored.config.to_string().contains(SECRET) && !stored.secrets.to_string().contains(SECRET));
    let bytes = database_bytes(server._data.path());
    assert!(!bytes.windows(SECRET.len()).any(|window| window == SECRET.as_bytes()), "the secret is in the database");

    // Restart: the same server, started again.
    let (status, restarted) = answers.keep(admin.post("/api/mcp/servers/fixture/restart", json!({})).await);
    assert_eq!(status, StatusCode::OK, "{restarted}");
    wait_for_state(&admin, "fixture", "ready").await;

    // Removed: gone from the list, its tools no longer offered.
    assert_eq!(admin.delete("/api/mcp/servers/fixture").await, StatusCode::NO_CONTENT);
    assert_eq!(admin.delete("/api/mcp/servers/fixture").await, StatusCode::NOT_FOUND);
    let (status, body) = answers.keep(admin.get("/api/mcp/servers/fixture").await);
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (_, listed) = answers.keep(admin.get("/api/mcp/servers").await);
    assert_eq!(listed["servers"], json!([]));
    assert!(server.state.mcp.servers().statuses().is_empty());
    answers.assert_no_secret();
}

#[tokio::test]
async fn invalid_configurations_are_refused_naming_the_field_without_quoting_secrets() {
    let server = start(Vec::new()).await;
    let admin = server.signup("admin").await;
    let mut answers = Answers::default();
    let cases = [
        (fixture_config("Bad Name", json!({})), "`name`"),
        (fixture_config("fixture", json!({"command": " "})), "`command`"),
        (fixture_config("fixture", json!({"timeout_secs": 0})), "`timeout_secs`"),
        (json!({"name": "remote", "transport": "http", "url": "ftp://example.org/mcp"}), "`url`"),
        (
            json!({"name": "remote", "transport": "http", "url": "http://127.0.0.1:1/mcp", "headers": {"Bad Header": SECRET}}),
            "`headers`",
        ),
        (fixture_config("fixture", json!({"env": format!("FIXTURE_TOKEN={SECRET}")})), "`env`"),
        (fixture_config("fixture", json!({"env": {"FIXTURE_TOKEN": 42}})), "`env`"),
        (fixture_config("fixture", json!({"comand": "typo"})), "comand"),
        (json!({"name": "fixture", "transport": "carrier-pigeon", "command": "x"}), "carrier-pigeon"),
        // "(secret)" keeps a stored value; a new server has none.
        (fixture_config("fixture", json!({"env": {"FIXTURE_TOKEN": "(secret)"}})), "`env`"),
    ];
    for (config, named) in cases {
        let (status, body) = answers.keep(admin.post("/api/mcp/servers", config.clone()).await);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{config}: {body}");
        assert_eq!(body["error"]["code"], "invalid_config", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{config}: the message names {named}: {message}");
    }
    // Nothing was added.
    let (_, listed) = answers.keep(admin.get("/api/mcp/servers").await);
    assert_eq!(listed["servers"], json!([]));

    // A name is taken once.
    let (status, _) = answers.keep(admin.post("/api/mcp/servers", fixture_config("fixture", json!({}))).await);
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = answers.keep(admin.post("/api/mcp/servers", fixture_config("fixture", json!({}))).await);
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("mcp_server_exists")), "{body}");
    // A replacement whose name is not the path's.
    let (status, body) =
        answers.keep(admin.put("/api/mcp/servers/fixture", fixture_config("renamed", json!({}))).await);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("remove it and add it again"), "{body}");
    let (status, _) = answers.keep(admin.put("/api/mcp/servers/nothing", fixture_config("nothing", json!({}))).await);
    assert_eq!(status, StatusCode::NOT_FOUND);
    answers.assert_no_secret();
}

#[tokio::test]
async fn servers_of_the_configuration_file_are_shown_and_restarted_but_not_changed_through_the_api() {
    let failing: McpServerConfig = serde_json::from_value(json!({
        "name": "from-file", "transport": "stdio", "command": FIXTURE, "args": ["--fail"],
        "env": {"FIXTURE_TOKEN": SECRET},
    }))
    .unwrap();
    let server = start(vec![failing]).await;
    let admin = server.signup("admin").await;
    let mut answers = Answers::default();

    // It started at once, and failed: the process's own words are in the error.
    let failed = wait_for_state(&admin, "from-file", "failed").await;
    answers.0.push(failed.to_string());
    assert_documented(&server, "get", "/api/mcp/servers/{name}", StatusCode::OK, &json!({"server": failed})).await;
    assert_eq!(failed["managed_by"], "config");
    let error = failed["last_error"].as_str().unwrap();
    assert!(error.contains("told to fail at start"), "{error}");
    assert_eq!(failed["config"]["env"], json!({"FIXTURE_TOKEN": "(secret)"}));

    let (status, body) = answers.keep(admin.put("/api/mcp/servers/from-file", failed["config"].clone()).await);
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("managed_by_config")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("configuration file"), "{body}");
    let (status, body) = answers.keep(admin.post("/api/mcp/servers", fixture_config("from-file", json!({}))).await);
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("managed_by_config")), "{body}");
    assert_eq!(admin.delete("/api/mcp/servers/from-file").await, StatusCode::CONFLICT);
    let (status, body) = answers.keep(admin.post("/api/mcp/servers/from-file/restart", json!({})).await);
    assert_eq!(status, StatusCode::OK, "{body}");
    // Still there, as the file says.
    let (_, listed) = answers.keep(admin.get("/api/mcp/servers").await);
    assert_eq!(listed["servers"][0]["name"], "from-file");
    answers.assert_no_secret();
}

/// Two servers on one PostgreSQL database (sharing the server key, as a cluster does): a
/// server added, changed and removed through one is started, restarted and stopped by the
/// other as the database notifies it.
#[tokio::test]
async fn servers_sharing_a_database_follow_each_others_changes() {
    let database = TestDatabase::create().await;
    let keys = SecretKeys::new(SecretKey::generate().unwrap(), Vec::new());
    let store_one: Arc<dyn Store> = Arc::new(PgStore::connect(database.url()).await.unwrap());
    let store_two: Arc<dyn Store> = Arc::new(PgStore::connect(database.url()).await.unwrap());
    let one = start_over(store_one, keys.clone(), Vec::new(), tempfile::tempdir().unwrap()).await;
    let two = start_over(store_two, keys, Vec::new(), tempfile::tempdir().unwrap()).await;
    let admin = one.signup("admin").await;
    // The same session works on the other server: it is in the database.
    let admin_there = Session { base: two.base.clone(), ..admin.clone() };

    let (status, body) = admin.post("/api/mcp/servers", fixture_config("shared", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ready = wait_for_state(&admin_there, "shared", "ready").await;
    assert_eq!(ready["tools"][0]["offered_as"], "mcp_shared__echo");
    // Its secret opened there too: the process got it.
    let events = streamed_turn(&admin_there, "tool:mcp_shared__token_length {}").await;
    let result = events.iter().find(|(name, _)| name == "tool_result").expect("a tool result");
    assert_eq!(result.1["content"], SECRET.len().to_string());

    let mut disabled = body["server"]["config"].clone();
    disabled["enabled"] = json!(false);
    let (status, body) = admin.put("/api/mcp/servers/shared", disabled).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for_state(&admin_there, "shared", "disabled").await;

    assert_eq!(admin.delete("/api/mcp/servers/shared").await, StatusCode::NO_CONTENT);
    eventually("the other server to stop the removed MCP server", async || {
        two.state.mcp.servers().statuses().is_empty().then_some(())
    })
    .await;
    let (_, listed) = admin_there.get("/api/mcp/servers").await;
    assert_eq!(listed["servers"], json!([]));
}

/// An HTTP MCP server whose `Authorization` header is the secret: Plugboard's own `/mcp`,
/// reached with an API token. Its tools (the calculator plugin's) are offered as the MCP
/// server's and run through it; the token is in no answer and sealed at rest.
#[tokio::test]
async fn an_http_server_gets_its_secret_header_and_its_tools_are_called() {
    let server = start_with_plugins(&["calculator"]).await;
    let admin = server.signup("admin").await;
    let (status, created) = admin.post("/api/tokens", json!({"name": "for MCP"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let mut answers = Answers::default();

    let config = json!({
        "name": "itself", "transport": "http", "url": server.url("/mcp"),
        "headers": {"Authorization": format!("Bearer {token}")},
    });
    let (status, added) = answers.keep(admin.post("/api/mcp/servers", config).await);
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["server"]["config"]["headers"], json!({"Authorization": "(secret)"}));
    let ready = wait_for_state(&admin, "itself", "ready").await;
    answers.0.push(ready.to_string());
    assert_eq!(ready["transport"], "http");
    let offered: Vec<&str> =
        ready["tools"].as_array().unwrap().iter().map(|tool| tool["offered_as"].as_str().unwrap()).collect();
    assert!(offered.contains(&"mcp_itself__calculator__calculate"), "{offered:?}");

    let events = streamed_turn(&admin, r#"tool:mcp_itself__calculator__calculate {"expression": "6*7"}"#).await;
    let result = events.iter().find(|(name, _)| name == "tool_result").expect("a tool result");
    assert_eq!(result.1["content"], "42", "{events:?}");

    let stored = server.state.store.mcp_server("itself").await.unwrap().unwrap();
    assert!(is_sealed(&stored.secrets["headers.Authorization"]), "{}", stored.secrets);
    let bytes = database_bytes(server._data.path());
    assert!(!bytes.windows(token.len()).any(|window| window == token.as_bytes()), "the token is in the database");
    let (_, listed) = answers.keep(admin.get("/api/mcp/servers").await);
    assert_eq!(listed["servers"][0]["state"], "ready");
    for answer in &answers.0 {
        assert!(!answer.contains(&token), "the token was shown: {answer}");
    }
}

/// A stored secret that does not open (sealed under a key this server lacks) leaves its
/// server out, shown failed with what to do; giving the secret again with `PUT` brings it
/// back, and "(secret)" cannot stand for the value that is lost.
#[tokio::test]
async fn a_secret_that_does_not_open_shows_the_server_failed_until_given_again() {
    let server = start(Vec::new()).await;
    let admin = server.signup("admin").await;
    let (status, added) = admin.post("/api/mcp/servers", fixture_config("fixture", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    wait_for_state(&admin, "fixture", "ready").await;

    // As if the database came from a server with another key.
    let mut stored = server.state.store.mcp_server("fixture").await.unwrap().unwrap();
    let other = SecretKey::generate().unwrap();
    stored.secrets["env.FIXTURE_TOKEN"] = other.seal("mcp:fixture", "env.FIXTURE_TOKEN", &json!(SECRET)).unwrap();
    assert!(server.state.store.replace_mcp_server(&stored).await.unwrap());
    server.state.mcp.sync().await.unwrap();
    let failed = wait_for_state(&admin, "fixture", "failed").await;
    let error = failed["last_error"].as_str().unwrap();
    assert!(error.contains("`env.FIXTURE_TOKEN` cannot be decrypted"), "{error}");
    assert_eq!(failed["config"], Value::Null);
    assert!(server.state.mcp.servers().status("fixture").is_none(), "not started");

    let (status, body) = admin.put("/api/mcp/servers/fixture", added["server"]["config"].clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the lost value cannot be kept: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("give the value"), "{body}");
    let (status, body) = admin.put("/api/mcp/servers/fixture", fixture_config("fixture", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for_state(&admin, "fixture", "ready").await;
}
