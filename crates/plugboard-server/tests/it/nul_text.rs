//! Text holding U+0000 (NUL), which PostgreSQL's TEXT cannot keep, follows one rule on both
//! backends: a person's text holding it is refused with 400 `invalid_text` before anything
//! is stored; a model's or a plugin's has it removed and the turn goes on; and whatever
//! still reaches PostgreSQL with one is a 400, never a 500.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Backend, Session, TestServer};

/// Asserts a 400 `invalid_text` naming `field` and saying what to remove.
fn assert_invalid_text(status: StatusCode, body: &Value, field: &str) {
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_text")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("the {field} ")), "{message}");
    assert!(message.contains("remove the NUL character (U+0000)"), "{message}");
}

async fn conversations(session: &Session) -> Vec<Value> {
    let (status, page) = session.get("/api/conversations").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["conversations"].as_array().unwrap().clone()
}

async fn contents(session: &Session, conversation: &str) -> Vec<String> {
    let (status, messages) = session.get(&format!("/api/conversations/{conversation}/messages")).await;
    assert_eq!(status, StatusCode::OK, "{messages}");
    messages["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect()
}

async fn a_persons_text_holding_a_nul_is_refused_before_anything_is_stored(backend: Backend) {
    let server = TestServer::start_on(backend, &[]).await;
    let alice = server.signup("alice").await;

    // A message starting a conversation: refused before the conversation titled after it.
    let (status, body) = alice.post("/api/chat", json!({"message": "a\u{0}b"})).await;
    assert_invalid_text(status, &body, "message");
    let response =
        alice.request(reqwest::Method::POST, "/api/chat/stream").json(&json!({"message": "a\u{0}b"})).send().await;
    let response = response.unwrap();
    let status = response.status();
    assert_invalid_text(status, &response.json().await.unwrap(), "message");
    assert!(conversations(&alice).await.is_empty());
    assert!(server.fixture.requests().is_empty(), "the model was not asked");

    let (status, body) = alice.post("/api/conversations", json!({"title": "x\u{0}y"})).await;
    assert_invalid_text(status, &body, "title");
    assert!(conversations(&alice).await.is_empty());

    let (status, turn) = alice.post("/api/chat", json!({"message": "hello"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    let conversation = turn["conversation_id"].as_str().unwrap();
    let (status, body) = alice.post("/api/chat", json!({"conversation_id": conversation, "message": "\u{0}"})).await;
    assert_invalid_text(status, &body, "message");
    let (status, body) = alice.patch(&format!("/api/conversations/{conversation}"), json!({"title": "x\u{0}"})).await;
    assert_invalid_text(status, &body, "title");
    let message = turn["user_message"]["id"].as_str().unwrap();
    let (status, body) = alice.patch(&format!("/api/messages/{message}"), json!({"content": "hel\u{0}lo"})).await;
    assert_invalid_text(status, &body, "message");
    assert_eq!(contents(&alice, conversation).await, ["hello", "Echo: hello"]);
    assert_eq!(conversations(&alice).await[0]["title"], "hello");

    let (status, body) = alice.post("/api/tokens", json!({"name": "script\u{0}"})).await;
    assert_invalid_text(status, &body, "name");
    let (_, tokens) = alice.get("/api/tokens").await;
    assert_eq!(tokens["tokens"], json!([]), "{tokens}");

    // No stored text holds one, so a search for one is refused too, and a login is unknown.
    let (status, body) = alice.get("/api/conversations?search=a%00").await;
    assert_invalid_text(status, &body, "search");
    let (status, body) = server
        .client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "ali\u{0}ce", "password": "correct horse battery"}))
        .send()
        .await
        .map(|response| (response.status(), response))
        .unwrap();
    let body: Value = body.json().await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_text_holding_a_nul_is_refused_before_anything_is_stored_on_sqlite() {
    a_persons_text_holding_a_nul_is_refused_before_anything_is_stored(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_text_holding_a_nul_is_refused_before_anything_is_stored_on_postgres() {
    a_persons_text_holding_a_nul_is_refused_before_anything_is_stored(Backend::Postgres).await;
}

/// Calls a host-probe tool with no user, as a background task would.
async fn probe(server: &TestServer, tool: &str, kwargs: Value) -> Value {
    let plugin = server.state.registry.plugin(&plugboard_manifest::PluginId::parse("host-probe").unwrap()).unwrap();
    let context = plugboard_host::api::CallContext::default();
    let result = plugin.call_tool(&context, tool, kwargs).await.unwrap();
    serde_json::from_str(&result).unwrap()
}

async fn text_a_model_or_a_plugin_made_is_stored_without_its_nul(backend: Backend) {
    let server = TestServer::start_on(backend, &["calculator", "host-probe"]).await;
    let alice = server.signup("alice").await;

    // The `nul` model puts U+0000 in its reply: removed from what is streamed and stored.
    let (status, turn) = alice.post("/api/chat", json!({"message": "hello", "model": "fixture/nul"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["reply"]["content"], "Echo: hello", "{turn}");
    let conversation = turn["conversation_id"].as_str().unwrap().to_owned();
    let response = alice
        .request(reqwest::Method::POST, "/api/chat/stream")
        .json(&json!({"conversation_id": conversation, "message": "again", "model": "fixture/nul"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events = response.text().await.unwrap();
    assert!(events.contains("event: done"), "{events}");
    assert!(!events.contains("\\u0000"), "{events}");

    // A tool's answer: the calculator names the character it cannot read (the person typed
    // the six characters `\u0000`, which the model's JSON arguments make a NUL).
    let message = r#"tool:calculator__calculate {"expression": "1\u0000+1"}"#;
    let (status, turn) = alice.post("/api/chat", json!({"conversation_id": conversation, "message": message})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    let tool = turn["tools"].as_array().unwrap().iter().find(|event| event["type"] == "tool_result").cloned();
    let tool = tool.unwrap_or_else(|| panic!("no tool result in {turn}"));
    assert_eq!(tool["is_error"], true, "{turn}");
    let tool_text = tool["content"].as_str().unwrap().to_owned();
    assert!(tool_text.contains("unexpected character ``"), "{turn}");
    let said = format!("The tool said: {tool_text}");
    assert_eq!(turn["reply"]["content"], said.as_str(), "{turn}");

    // A plugin's post, edit and conversation title.
    let posted =
        probe(&server, "post_message", json!({"conversation_id": conversation, "content": "from\u{0} a plugin"}));
    let posted = posted.await;
    let posted_id = posted["ok"].as_str().unwrap_or_else(|| panic!("{posted}")).to_owned();
    let stored = contents(&alice, &conversation).await;
    assert_eq!(
        stored,
        [
            "hello",
            "Echo: hello",
            "again",
            "Echo: again",
            message,
            "",
            tool_text.as_str(),
            said.as_str(),
            "from a plugin"
        ]
    );
    let edited = probe(&server, "edit_message", json!({"id": posted_id, "content": "edited\u{0}!"})).await;
    assert_eq!(edited, json!({"ok": posted_id}));
    assert_eq!(contents(&alice, &conversation).await.last().unwrap(), "edited!");
    let (_, me) = alice.get("/api/me").await;
    let alice_id = me["user"]["id"].as_str().unwrap();
    let created = probe(&server, "create_conversation", json!({"user_id": alice_id, "title": "Di\u{0}gest"})).await;
    let created = created["ok"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let (status, details) = alice.get(&format!("/api/conversations/{created}")).await;
    assert_eq!((status, details["conversation"]["title"].as_str()), (StatusCode::OK, Some("Digest")), "{details}");
}

#[tokio::test(flavor = "multi_thread")]
async fn text_a_model_or_a_plugin_made_is_stored_without_its_nul_on_sqlite() {
    text_a_model_or_a_plugin_made_is_stored_without_its_nul(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn text_a_model_or_a_plugin_made_is_stored_without_its_nul_on_postgres() {
    text_a_model_or_a_plugin_made_is_stored_without_its_nul(Backend::Postgres).await;
}

/// What no handler checks and still reaches PostgreSQL with a NUL (a lookup by id) is a
/// 400 `invalid_input` from the store's backstop, not a 500 `storage`.
#[tokio::test(flavor = "multi_thread")]
async fn a_nul_that_reaches_postgresql_is_a_bad_request_not_a_server_error() {
    let server = TestServer::start_on(Backend::Postgres, &[]).await;
    let alice = server.signup("alice").await;
    let (status, body) = alice.get("/api/conversations/a%00b").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_input")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("NUL character (U+0000)"), "{body}");
}
