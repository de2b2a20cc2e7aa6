//! Tool calls a person approves, through the HTTP API with the fixture model calling the
//! bundled calculator plugin's tool: an `ask` policy pauses the turn (the stream says so)
//! until the conversation's owner approves (with the model's or edited arguments) or
//! denies it, or it expires; `deny` refuses without asking; a conversation narrows and
//! never widens; someone else's approval is not found, a second decision a conflict; a
//! turn whose client went away goes on waiting and finishes for the person's other pages;
//! the trace and the audit timeline show each decision.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use plugboard_chat::EngineConfig;
use plugboard_server::ServerConfig;
use plugboard_store::testing::TestDatabase;
use plugboard_store::{PgStore, SqliteStore, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Session, TestServer};

const CALL: &str = r#"tool:calculator__calculate {"expression": "6*7"}"#;
const TOOL: &str = "calculator__calculate";

/// A server with the calculator plugin whose tool calls wait at most `approval_timeout`.
async fn server_with_timeout(approval_timeout: Duration) -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.path().join("plugboard.db")).await.unwrap());
    server_on(data, store, approval_timeout).await
}

/// [`server_with_timeout`] with its data folder and store given.
async fn server_on(data: tempfile::TempDir, store: Arc<dyn Store>, approval_timeout: Duration) -> TestServer {
    TestServer::serve(data, store, &["calculator"], |app| {
        app.default_model(Some("fixture/echo".to_owned()))
            .engine_config(EngineConfig { approval_timeout, ..EngineConfig::default() })
            .server_config(ServerConfig::default())
    })
    .await
}

/// A server with the default approval timeout (five minutes: no test waits for it).
async fn server() -> TestServer {
    server_with_timeout(Duration::from_secs(300)).await
}

/// Sets the administrators' policy of `key`.
async fn set_policy(admin: &Session, key: &str, policy: &str) {
    let (status, body) = admin.put("/api/tool-policies", json!({"key": key, "policy": policy})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["policy"]["key"].as_str(), body["policy"]["policy"].as_str()), (Some(key), Some(policy)));
}

/// A server-sent event stream read one event at a time.
struct Events {
    body: BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl Events {
    fn new(response: reqwest::Response) -> Events {
        assert_eq!(response.status(), StatusCode::OK);
        Events { body: response.bytes_stream().boxed(), buffer: String::new() }
    }

    /// A chat turn's stream.
    async fn turn(session: &Session, body: Value) -> Events {
        Events::new(session.request(reqwest::Method::POST, "/api/chat/stream").json(&body).send().await.unwrap())
    }

    /// The person's live feed, from its `ready` event on.
    async fn live(session: &Session) -> Events {
        let mut events = Events::new(session.request(reqwest::Method::GET, "/api/events").send().await.unwrap());
        events.until("ready").await;
        events
    }

    /// The next event (name, data); `None` when the stream ended. Silence for a minute
    /// fails the test.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some((name, serde_json::from_str(&data).unwrap()));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.body.next())
                .await
                .expect("an event within a minute")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }

    /// Reads until an event named `name`; its data, and the events before it.
    async fn until(&mut self, name: &str) -> (Value, Vec<(String, Value)>) {
        let mut before = Vec::new();
        loop {
            let (got, data) =
                self.next().await.unwrap_or_else(|| panic!("the stream ended before `{name}`: {before:?}"));
            if got == name {
                return (data, before);
            }
            before.push((got, data));
        }
    }

    /// Reads until `event` holds for an event; its data.
    async fn until_one(&mut self, name: &str, event: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (data, _) = self.until(name).await;
            if event(&data) {
                return data;
            }
        }
    }

    /// Every event to the end of the stream.
    async fn rest(&mut self) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

/// The text streamed as deltas.
fn streamed(events: &[(String, Value)]) -> String {
    events.iter().filter(|(name, _)| name == "delta").map(|(_, data)| data["text"].as_str().unwrap()).collect()
}

/// The `approval` steps of a conversation's audit timeline.
async fn approval_steps(session: &Session, conversation: &str) -> Vec<Value> {
    let (status, audit) = session.get(&format!("/api/conversations/{conversation}/audit")).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    audit["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|record| record["trace"]["steps"].as_array().unwrap().clone())
        .filter(|step| step["stage"] == "approval")
        .collect()
}

#[tokio::test]
async fn a_call_that_asks_waits_for_the_person_and_runs_once_approved() {
    let server = server().await;
    let alice = server.signup("alice").await;
    set_policy(&alice, TOOL, "ask").await;
    let conversation = alice.conversation("asking").await;
    let mut turn = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await;
    let (asked, before) = turn.until("tool_approval").await;
    assert!(before.iter().any(|(name, _)| name == "tool_call"), "{before:?}");
    assert!(!before.iter().any(|(name, _)| name == "tool_result"), "nothing ran yet: {before:?}");
    assert_eq!((asked["tool"].as_str(), asked["source"].as_str()), (Some(TOOL), Some("calculator")));
    assert_eq!(asked["arguments"], json!({"expression": "6*7"}));
    assert_eq!(asked["reason"], "an administrator set `calculator__calculate` to ask");
    assert!(asked["expires_at_ms"].as_i64().unwrap() > 0);
    // Stored: a page loaded now finds it.
    let (status, pending) = alice.get(&format!("/api/conversations/{conversation}/approvals?status=pending")).await;
    assert_eq!(status, StatusCode::OK, "{pending}");
    assert_eq!(pending["approvals"].as_array().unwrap().len(), 1, "{pending}");
    let id = asked["id"].as_str().unwrap();
    assert_eq!(pending["approvals"][0]["id"], id);
    assert_eq!(server.fixture.requests().len(), 1, "the model waits too");

    let (status, approved) = alice.post(&format!("/api/tool-calls/{id}/approve"), Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["approval"]["status"], "approved");
    let rest = turn.rest().await;
    let decided = rest.iter().find(|(name, _)| name == "tool_approval_decided").unwrap();
    assert_eq!(decided.1["status"], "approved");
    let result = rest.iter().find(|(name, _)| name == "tool_result").unwrap();
    assert_eq!((result.1["content"].as_str(), result.1["is_error"].as_bool()), (Some("42"), Some(false)));
    assert_eq!(streamed(&rest), "The tool said: 42");
    assert!(rest.iter().any(|(name, _)| name == "done"), "{rest:?}");
    let (_, pending) = alice.get(&format!("/api/conversations/{conversation}/approvals?status=pending")).await;
    assert_eq!(pending["approvals"], json!([]));
    let steps = approval_steps(&alice, &conversation).await;
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!((steps[0]["decision"].as_str(), steps[0]["tool"].as_str()), (Some("approved"), Some(TOOL)));
    assert_eq!(steps[0]["approval_id"], id);
}

#[tokio::test]
async fn a_denied_call_does_not_run_and_the_model_hears_the_reason() {
    let server = server().await;
    let alice = server.signup("alice").await;
    set_policy(&alice, "plugin:calculator", "ask").await;
    let conversation = alice.conversation("denying").await;
    let mut turn = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await;
    let (asked, _) = turn.until("tool_approval").await;
    assert_eq!(asked["reason"], "an administrator set `plugin:calculator` to ask");
    let id = asked["id"].as_str().unwrap();
    let (status, denied) =
        alice.post(&format!("/api/tool-calls/{id}/deny"), json!({"reason": "not on a Sunday"})).await;
    assert_eq!(status, StatusCode::OK, "{denied}");
    assert_eq!(
        (denied["approval"]["status"].as_str(), denied["approval"]["decision_reason"].as_str()),
        (Some("denied"), Some("not on a Sunday"))
    );
    let rest = turn.rest().await;
    let refusal = "the person denied the call of `calculator__calculate`: not on a Sunday";
    let result = rest.iter().find(|(name, _)| name == "tool_result").unwrap();
    assert_eq!((result.1["content"].as_str(), result.1["is_error"].as_bool()), (Some(refusal), Some(true)));
    // The model's next step was given the denial as the tool's result.
    assert_eq!(streamed(&rest), format!("The tool said: {refusal}"));
    let last = server.fixture.requests()[1]["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["role"].as_str(), last["content"].as_str()), (Some("tool"), Some(refusal)));
    let steps = approval_steps(&alice, &conversation).await;
    assert_eq!(
        (steps[0]["decision"].as_str(), steps[0]["denial_reason"].as_str()),
        (Some("denied"), Some("not on a Sunday"))
    );
}

#[tokio::test]
async fn an_approval_with_edited_arguments_runs_with_them() {
    let server = server().await;
    let alice = server.signup("alice").await;
    set_policy(&alice, TOOL, "ask").await;
    let conversation = alice.conversation("editing").await;
    let mut turn = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await;
    let (asked, _) = turn.until("tool_approval").await;
    let id = asked["id"].as_str().unwrap();
    // Arguments are a JSON object, or nothing.
    let (status, error) = alice.post(&format!("/api/tool-calls/{id}/approve"), json!({"arguments": [1, 2]})).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_answer")), "{error}");
    let (status, error) = alice.post(&format!("/api/tool-calls/{id}/approve"), json!({"argument": {}})).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")), "{error}");
    let edited = json!({"arguments": {"expression": "2+3"}});
    let (status, approved) = alice.post(&format!("/api/tool-calls/{id}/approve"), edited).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["approval"]["decided_arguments"], json!({"expression": "2+3"}));
    let rest = turn.rest().await;
    assert_eq!(streamed(&rest), "The tool said: 5");
    let steps = approval_steps(&alice, &conversation).await;
    assert_eq!(steps[0]["decision"], "approved_with_edited_arguments");
    assert_eq!(
        (&steps[0]["arguments"], &steps[0]["edited_arguments"]),
        (&json!({"expression": "6*7"}), &json!({"expression": "2+3"}))
    );
}

#[tokio::test]
async fn a_call_nobody_decides_in_time_is_denied_as_expired() {
    let server = server_with_timeout(Duration::from_secs(1)).await;
    let alice = server.signup("alice").await;
    set_policy(&alice, TOOL, "ask").await;
    let conversation = alice.conversation("waiting").await;
    let mut turn = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await;
    let (asked, _) = turn.until("tool_approval").await;
    let id = asked["id"].as_str().unwrap().to_owned();
    let rest = turn.rest().await;
    let decided = rest.iter().find(|(name, _)| name == "tool_approval_decided").unwrap();
    assert_eq!(decided.1["status"], "expired");
    assert_eq!(
        streamed(&rest),
        "The tool said: the call of `calculator__calculate` was not approved within 1 seconds, so it was not run (denied)"
    );
    let (status, conflict) = alice.post(&format!("/api/tool-calls/{id}/approve"), Value::Null).await;
    assert_eq!((status, conflict["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("approval_decided")));
    assert!(conflict["error"]["message"].as_str().unwrap().contains("it is expired"), "{conflict}");
    let (_, expired) = alice.get(&format!("/api/conversations/{conversation}/approvals?status=expired")).await;
    assert_eq!(expired["approvals"][0]["id"], id.as_str());
    assert_eq!(approval_steps(&alice, &conversation).await[0]["decision"], "expired");
}

#[tokio::test]
async fn a_deny_policy_refuses_the_call_without_asking() {
    let server = server().await;
    let alice = server.signup("alice").await;
    set_policy(&alice, TOOL, "deny").await;
    let conversation = alice.conversation("refused").await;
    let events = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await.rest().await;
    assert!(!events.iter().any(|(name, _)| name.starts_with("tool_approval")), "{events:?}");
    let result = events.iter().find(|(name, _)| name == "tool_result").unwrap();
    let refusal = "the tool `calculator__calculate` is not allowed here (policy deny)";
    assert_eq!((result.1["content"].as_str(), result.1["is_error"].as_bool()), (Some(refusal), Some(true)));
    assert_eq!(streamed(&events), format!("The tool said: {refusal}"));
    let (_, all) = alice.get(&format!("/api/conversations/{conversation}/approvals")).await;
    assert_eq!(all["approvals"], json!([]));
    let steps = approval_steps(&alice, &conversation).await;
    assert_eq!(
        (steps[0]["decision"].as_str(), steps[0]["reason"].as_str()),
        (Some("denied_by_policy"), Some("an administrator set `calculator__calculate` to deny"))
    );
}

#[tokio::test]
async fn a_conversation_narrows_the_policy_but_never_widens_it() {
    let server = server().await;
    let alice = server.signup("alice").await;
    let conversation = alice.conversation("narrowed").await;
    let path = format!("/api/conversations/{conversation}");
    // `auto` would widen: refused, naming the entry.
    let widening = json!({"plugins": {"tool_policies": {TOOL: "auto"}}});
    let (status, error) = alice.patch(&path, widening).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_tool_policy")));
    assert!(error["error"]["message"].as_str().unwrap().contains(TOOL), "{error}");
    let (status, error) = alice.patch(&path, json!({"plugins": {"tool_policies": {"plugin:": "ask"}}})).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_policy_key")));
    // The person narrows an `auto` tool to `ask`: the call waits for them.
    let (status, changed) =
        alice.patch(&path, json!({"plugins": {"tool_policies": {"plugin:calculator": "ask"}}})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["plugins"]["tool_policies"], json!({"plugin:calculator": "ask"}));
    let mut turn = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await;
    let (asked, _) = turn.until("tool_approval").await;
    assert_eq!(asked["reason"], "this conversation sets `plugin:calculator` to ask");
    let id = asked["id"].as_str().unwrap();
    alice.post(&format!("/api/tool-calls/{id}/deny"), Value::Null).await;
    assert_eq!(streamed(&turn.rest().await), "The tool said: the person denied the call of `calculator__calculate`");
    // An administrator's `deny` stays a denial whatever the conversation says.
    set_policy(&alice, TOOL, "deny").await;
    alice.patch(&path, json!({"plugins": {"tool_policies": {TOOL: "ask"}}})).await;
    let events = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await.rest().await;
    assert!(!events.iter().any(|(name, _)| name == "tool_approval"), "{events:?}");
    assert!(streamed(&events).contains("not allowed here (policy deny)"), "{events:?}");
}

#[tokio::test]
async fn someone_elses_approval_is_not_found_and_a_second_decision_is_a_conflict() {
    let server = server().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    set_policy(&alice, TOOL, "ask").await;
    let conversation = alice.conversation("mine").await;
    let mut turn = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await;
    let (asked, _) = turn.until("tool_approval").await;
    let id = asked["id"].as_str().unwrap();
    let (status, _) = bob.post(&format!("/api/tool-calls/{id}/approve"), Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = bob.post(&format!("/api/tool-calls/{id}/deny"), Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = bob.get(&format!("/api/conversations/{conversation}/approvals")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = alice.post("/api/tool-calls/no-such-approval/approve", Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = alice.get(&format!("/api/conversations/{conversation}/approvals?status=maybe")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = alice.post(&format!("/api/tool-calls/{id}/approve"), Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = alice.post(&format!("/api/tool-calls/{id}/deny"), Value::Null).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("approval_decided")));
    let message = again["error"]["message"].as_str().unwrap();
    assert!(message.contains("already decided") && message.contains("approved"), "{message}");
    assert_eq!(streamed(&turn.rest().await), "The tool said: 42");
}

#[tokio::test]
async fn a_turn_whose_client_left_keeps_waiting_and_finishes_for_the_persons_pages() {
    let server = server().await;
    let alice = server.signup("alice").await;
    set_policy(&alice, TOOL, "ask").await;
    let conversation = alice.conversation("reloaded").await;
    let mut page = Events::live(&alice).await;
    let mut turn = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await;
    let (asked, _) = turn.until("tool_approval").await;
    let id = asked["id"].as_str().unwrap().to_owned();
    // The page that started the turn is reloaded: its stream is gone.
    drop(turn);
    // The person's pages hear of the pending approval, and a reloaded page finds it.
    let pending = page.until_one("tool_approval", |data| data["approval"]["id"] == id.as_str()).await;
    assert_eq!(pending["approval"]["status"], "pending");
    let (_, listed) = alice.get(&format!("/api/conversations/{conversation}/approvals?status=pending")).await;
    assert_eq!(listed["approvals"][0]["id"], id.as_str());
    let (status, _) = alice.post(&format!("/api/tool-calls/{id}/approve"), Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let decided = page.until_one("tool_approval", |data| data["approval"]["id"] == id.as_str()).await;
    assert_eq!(decided["approval"]["status"], "approved");
    // The turn went on without its client: the reply reaches the page.
    let reply = page.until_one("message_posted", |data| data["message"]["content"] == "The tool said: 42").await;
    assert_eq!(reply["message"]["status"], "complete");
}

#[tokio::test]
async fn administrators_see_every_tool_with_its_policies_and_set_or_remove_them() {
    let server = server().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let (status, overview) = alice.get("/api/tool-policies").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let tool = overview["tools"].as_array().unwrap().iter().find(|tool| tool["name"] == TOOL).unwrap().clone();
    assert_eq!(
        (tool["source"].as_str(), tool["source_key"].as_str(), tool["default"].as_str(), tool["effective"].as_str()),
        (Some("calculator"), Some("plugin:calculator"), Some("auto"), Some("auto"))
    );
    assert_eq!(tool["set"], Value::Null);
    set_policy(&alice, "plugin:calculator", "deny").await;
    set_policy(&alice, TOOL, "ask").await;
    let (_, overview) = alice.get("/api/tool-policies").await;
    let tool = overview["tools"].as_array().unwrap().iter().find(|tool| tool["name"] == TOOL).unwrap().clone();
    assert_eq!(
        (tool["set"].as_str(), tool["source_set"].as_str(), tool["effective"].as_str()),
        (Some("ask"), Some("deny"), Some("ask"))
    );
    assert_eq!(overview["policies"].as_array().unwrap().len(), 2);

    // Only administrators; and keys and policies are checked.
    assert_eq!(bob.get("/api/tool-policies").await.0, StatusCode::FORBIDDEN);
    assert_eq!(bob.put("/api/tool-policies", json!({"key": TOOL, "policy": "auto"})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(bob.delete(&format!("/api/tool-policies/{TOOL}")).await, StatusCode::FORBIDDEN);
    let (status, error) = alice.put("/api/tool-policies", json!({"key": "files:read", "policy": "ask"})).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_policy_key")));
    let (status, error) = alice.put("/api/tool-policies", json!({"key": TOOL, "policy": "sometimes"})).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));

    assert_eq!(alice.delete(&format!("/api/tool-policies/{TOOL}")).await, StatusCode::NO_CONTENT);
    assert_eq!(alice.delete(&format!("/api/tool-policies/{TOOL}")).await, StatusCode::NOT_FOUND);
    let (_, overview) = alice.get("/api/tool-policies").await;
    let tool = overview["tools"].as_array().unwrap().iter().find(|tool| tool["name"] == TOOL).unwrap().clone();
    assert_eq!(tool["effective"], "deny", "the source's policy applies again");
}

#[tokio::test]
async fn a_decision_made_through_another_server_reaches_the_waiting_turn() {
    let database = TestDatabase::create().await;
    let first = server_on(tempfile::tempdir().unwrap(), pg_store(database.url()).await, Duration::from_secs(300)).await;
    let second =
        server_on(tempfile::tempdir().unwrap(), pg_store(database.url()).await, Duration::from_secs(300)).await;
    let alice = first.signup("alice").await;
    set_policy(&alice, TOOL, "ask").await;
    let conversation = alice.conversation("two servers").await;
    let mut turn = Events::turn(&alice, json!({"conversation_id": conversation, "message": CALL})).await;
    let (asked, _) = turn.until("tool_approval").await;
    let id = asked["id"].as_str().unwrap();
    // The same person, signed in, through the other server: the turn waiting on the first
    // reads the decision from the database.
    let through_second = Session { base: second.base.clone(), ..alice.clone() };
    let (status, approved) = through_second.post(&format!("/api/tool-calls/{id}/approve"), Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(streamed(&turn.rest().await), "The tool said: 42");
}

/// A store on the PostgreSQL database at `url`.
async fn pg_store(url: &str) -> Arc<dyn Store> {
    Arc::new(PgStore::connect(url).await.unwrap())
}
