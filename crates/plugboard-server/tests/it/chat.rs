//! Chat turns through the plugin pipeline, as JSON and as server-sent events.

use futures_util::StreamExt as _;
use plugboard_manifest::{FailMode, PluginId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Session, TestServer};

/// Reads a server-sent-event response to its end: (event name, data) pairs.
async fn sse_events(response: reqwest::Response) -> Vec<(String, Value)> {
    let text = response.text().await.unwrap();
    parse_sse(&text)
}

fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data = Some(serde_json::from_str(value.trim()).unwrap());
                }
            }
            Some((name?, data?))
        })
        .collect()
}

async fn stream(session: &Session, body: Value) -> reqwest::Response {
    let response = session.request(reqwest::Method::POST, "/api/chat/stream").json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

#[tokio::test]
async fn a_turn_runs_the_filters_and_stores_the_tagged_prompt_and_reply() {
    let server = TestServer::start(&["example-tagger"]).await;
    let alice = server.signup("alice").await;
    let (status, turn) = alice.post("/api/chat", json!({"message": "hello"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["user_message"]["content"], "[tagged] hello");
    assert_eq!(turn["reply"]["content"], "Echo: [tagged] hello\n\n[tagged]");
    assert_eq!(turn["replaced_by_plugin"], true);
    assert_eq!(turn["model"], "fixture/echo");
    // The model saw the filtered prompt after the system prompt.
    let sent = server.fixture.requests().pop().unwrap();
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"].as_array().unwrap().last().unwrap()["content"], "[tagged] hello");

    let conversation = turn["conversation_id"].as_str().unwrap();
    let (_, messages) = alice.get(&format!("/api/conversations/{conversation}/messages")).await;
    let stored: Vec<(&str, &str)> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(stored, [("user", "[tagged] hello"), ("assistant", "Echo: [tagged] hello\n\n[tagged]")]);

    let reply_id = turn["reply"]["id"].as_str().unwrap();
    let (_, trace) = alice.get(&format!("/api/messages/{reply_id}/trace")).await;
    let steps = trace["trace"]["trace"]["steps"].as_array().unwrap();
    let tagger: Vec<(&str, &str)> = steps
        .iter()
        .filter(|s| s["plugin"] == "example-tagger")
        .map(|s| (s["stage"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(tagger, [("before-prompt", "rewrote"), ("after-response", "rewrote")]);
    let (_, audit) = alice.get(&format!("/api/conversations/{conversation}/audit")).await;
    assert_eq!(audit["timeline"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_trace_shows_what_each_filter_of_a_chain_had_and_made() {
    let server = TestServer::start(&["example-tagger", "pii-redactor"]).await;
    let alice = server.signup("alice").await;
    let (status, turn) = alice.post("/api/chat", json!({"message": "mail me at ann@example.org"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    let reply_id = turn["reply"]["id"].as_str().unwrap();
    let conversation = turn["conversation_id"].as_str().unwrap();
    let (_, trace) = alice.get(&format!("/api/messages/{reply_id}/trace")).await;
    let (_, audit) = alice.get(&format!("/api/conversations/{conversation}/audit")).await;
    assert_eq!(audit["timeline"][0]["trace"], trace["trace"]["trace"]);
    let prompt: Vec<(&str, &str, &str)> = trace["trace"]["trace"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| step["stage"] == "before-prompt")
        .map(|step| {
            (step["plugin"].as_str().unwrap(), step["before"].as_str().unwrap(), step["after"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        prompt,
        [
            ("pii-redactor", "mail me at ann@example.org", "mail me at [email]"),
            ("example-tagger", "mail me at [email]", "[tagged] mail me at [email]"),
        ]
    );
}

#[tokio::test]
async fn a_streamed_turn_sends_deltas_then_the_replacement_then_done() {
    let server = TestServer::start(&["example-tagger"]).await;
    let alice = server.signup("alice").await;
    let events = sse_events(stream(&alice, json!({"message": "stream me"})).await).await;
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"conversation"));
    assert_eq!(names[1], "message");
    assert_eq!(&names[names.len() - 2..], ["replace", "done"]);
    let streamed: String =
        events.iter().filter(|(name, _)| name == "delta").map(|(_, data)| data["text"].as_str().unwrap()).collect();
    assert_eq!(streamed, "Echo: [tagged] stream me");
    let replaced = &events[events.len() - 2].1;
    assert_eq!(replaced["content"], "Echo: [tagged] stream me\n\n[tagged]");
    let done = &events[events.len() - 1].1;
    assert!(done["message_id"].is_string() && done["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{done}");
}

#[tokio::test]
async fn run_calls_the_tool_directly_without_the_model() {
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let (status, turn) = alice.post("/api/chat", json!({"message": "/run calculator 2+2"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["reply"]["content"], "4");
    assert_eq!(turn["reply"]["author"], "plugin:calculator");
    assert!(server.fixture.requests().is_empty(), "the model was not asked");

    let (status, turn) = alice.post("/api/chat", json!({"message": "/calc 6*7"})).await;
    assert_eq!((status, turn["reply"]["content"].as_str()), (StatusCode::OK, Some("6*7 = 42")), "{turn}");

    let (status, error) = alice.post("/api/chat", json!({"message": "/run nothing 1"})).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("unknown_plugin")));
    assert!(error["error"]["message"].as_str().unwrap().contains("calculator"), "{error}");
}

#[tokio::test]
async fn the_model_calls_a_plugin_tool_and_answers_with_its_result() {
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let message = r#"tool:calculator__calculate {"expression": "6*7"}"#;
    let events = sse_events(stream(&alice, json!({"message": message})).await).await;
    let call = events.iter().find(|(name, _)| name == "tool_call").unwrap();
    assert_eq!((call.1["plugin"].as_str(), call.1["tool"].as_str()), (Some("calculator"), Some("calculate")));
    let result = events.iter().find(|(name, _)| name == "tool_result").unwrap();
    assert_eq!((result.1["content"].as_str(), result.1["is_error"].as_bool()), (Some("42"), Some(false)));
    let streamed: String =
        events.iter().filter(|(name, _)| name == "delta").map(|(_, data)| data["text"].as_str().unwrap()).collect();
    assert_eq!(streamed, "The tool said: 42");
    // The tool was offered with its schema, and the second request carried the result.
    let requests = server.fixture.requests();
    assert_eq!(requests[0]["tools"][0]["function"]["name"], "calculator__calculate");
    let last = requests[1]["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["role"].as_str(), last["content"].as_str()), (Some("tool"), Some("42")));
    // Stored in protocol order: the call before its result, the answer last.
    let conversation = events[0].1["conversation_id"].as_str().unwrap();
    let (_, messages) = alice.get(&format!("/api/conversations/{conversation}/messages")).await;
    let stored: Vec<(&str, bool, &str)> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["data"]["tool_calls"].is_array(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stored,
        [
            ("user", false, message),
            ("assistant", true, ""),
            ("tool", false, "42"),
            ("assistant", false, "The tool said: 42")
        ]
    );
    // The next turn sends that history back in the same order, and the model accepts it.
    let (status, next) = alice.post("/api/chat", json!({"conversation_id": conversation, "message": "thanks"})).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    let requests = server.fixture.requests();
    let history: Vec<&str> =
        requests[2]["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(history, ["system", "user", "assistant", "tool", "assistant", "user"]);
}

#[tokio::test]
async fn a_failing_filter_is_skipped_when_open_and_refuses_the_turn_when_closed() {
    let server = TestServer::start(&["panicker"]).await;
    let alice = server.signup("alice").await;
    let (status, turn) = alice.post("/api/chat", json!({"message": "please panic"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["user_message"]["content"], "please panic");

    let panicker = PluginId::parse("panicker").unwrap();
    server.state.registry.set_fail_mode(&panicker, FailMode::Closed).await.unwrap();
    let (status, refused) = alice.post("/api/chat", json!({"message": "panic again"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "prompt_rejected");
    assert!(refused["error"]["message"].as_str().unwrap().contains("fail closed"), "{refused}");
}

#[tokio::test]
async fn a_conversation_can_switch_a_filter_off() {
    let server = TestServer::start(&["example-tagger"]).await;
    let alice = server.signup("alice").await;
    let conversation = alice.conversation("plain").await;
    let (status, _) = alice
        .patch(
            &format!("/api/conversations/{conversation}"),
            json!({"plugins": {"disabled_filters": ["example-tagger"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, turn) = alice.post("/api/chat", json!({"conversation_id": conversation, "message": "untouched"})).await;
    assert_eq!(turn["user_message"]["content"], "untouched");
    assert_eq!(turn["reply"]["content"], "Echo: untouched");
    // Other conversations keep the global set.
    let (_, turn) = alice.post("/api/chat", json!({"message": "touched"})).await;
    assert_eq!(turn["user_message"]["content"], "[tagged] touched");
}

#[tokio::test]
async fn a_client_that_goes_away_stops_the_turn_and_the_partial_reply_is_kept() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let conversation = alice.conversation("cut short").await;
    let response =
        stream(&alice, json!({"conversation_id": conversation, "message": "go", "model": "fixture/slow"})).await;
    let mut body = response.bytes_stream();
    let mut received = String::new();
    while !received.contains("word3") {
        received.push_str(&String::from_utf8_lossy(&body.next().await.unwrap().unwrap()));
    }
    drop(body);
    let messages = crate::eventually("the reply to be marked partial", async || {
        let (_, messages) = alice.get(&format!("/api/conversations/{conversation}/messages")).await;
        let reply = messages["messages"].as_array()?.get(1)?.clone();
        (reply["status"] == "partial").then_some(reply)
    })
    .await;
    let content = messages["content"].as_str().unwrap();
    assert!(content.starts_with("word1 word2 word3") && !content.contains("word300"), "{content}");
}

#[tokio::test]
async fn model_errors_are_reported_and_the_user_message_is_kept() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let (status, error) = alice.post("/api/chat", json!({"message": "hi", "model": "fixture/broken"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{error}");
    assert_eq!(error["error"]["code"], "model_error");
    assert!(error["error"]["message"].as_str().unwrap().contains("the broken model always fails"));
    let conversation = error["conversation_id"].as_str().unwrap();
    let (_, messages) = alice.get(&format!("/api/conversations/{conversation}/messages")).await;
    assert_eq!(messages["messages"][0]["content"], "hi");

    let (status, error) = alice.post("/api/chat", json!({"message": "hi", "model": "nowhere/x"})).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_model")));
    assert!(error["error"]["message"].as_str().unwrap().contains("fixture/echo"), "{error}");
}

#[tokio::test]
async fn a_provider_plugin_serves_models_through_the_same_pipeline() {
    let server = TestServer::start(&["all-hooks"]).await;
    let alice = server.signup("alice").await;
    let (_, models) = alice.get("/api/models").await;
    let ids: Vec<&str> = models["models"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"all-hooks/echo-1") && ids.contains(&"fixture/echo"), "{ids:?}");
    let events =
        sse_events(stream(&alice, json!({"message": "hello plugin", "model": "all-hooks/echo-1"})).await).await;
    let streamed: String =
        events.iter().filter(|(name, _)| name == "delta").map(|(_, data)| data["text"].as_str().unwrap()).collect();
    // all-hooks rewrites the prompt (upper case, suffix) and echoes it, then checks the reply.
    assert!(streamed.starts_with("HELLO PLUGIN!"), "{streamed}");
    let done = events.iter().find(|(name, _)| name == "done").unwrap();
    assert_eq!(done.1["model"], "all-hooks/echo-1");
    assert!(server.fixture.requests().is_empty(), "the fixture model was not asked");
}

#[tokio::test]
async fn commands_are_recognised_before_prompt_filters_rewrite_the_text() {
    // example-tagger prefixes every prompt; /run must still reach the calculator.
    let server = TestServer::start(&["example-tagger", "calculator"]).await;
    let alice = server.signup("alice").await;
    let (status, turn) = alice.post("/api/chat", json!({"message": "/run calculator 2+2"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["user_message"]["content"], "/run calculator 2+2");
    assert_eq!(turn["reply"]["content"], "4");
    assert!(server.fixture.requests().is_empty());
    // Commands (which skipped the prompt filters) stay out of what the model is sent later.
    let conversation = turn["conversation_id"].as_str().unwrap();
    alice.post("/api/chat", json!({"conversation_id": conversation, "message": "hello"})).await;
    let sent: Vec<String> = server.fixture.requests()[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent.len(), 2, "system prompt and the new message only: {sent:?}");
    assert_eq!(sent[1], "[tagged] hello");
}

#[tokio::test]
async fn help_lists_run_and_every_plugins_slash_commands() {
    let server = TestServer::start(&["calculator", "word-stats"]).await;
    let alice = server.signup("alice").await;
    let (status, turn) = alice.post("/api/chat", json!({"message": "/help"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["reply"]["author"], "plugboard");
    let help = turn["reply"]["content"].as_str().unwrap();
    assert!(help.contains("/run <plugin> <input>") && help.contains("calculator, word-stats"), "{help}");
    assert!(help.contains("(calculator)") && help.contains("(word-stats)"), "{help}");
    assert!(server.fixture.requests().is_empty());
}

#[tokio::test]
async fn chat_turns_past_the_users_quota_are_refused_with_retry_after() {
    let server =
        crate::TestServer::start_limited(&[], plugboard_server::ServerConfig::default(), Some("fixture/echo"), 2).await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    for _ in 0..2 {
        let (status, body) = alice.post("/api/chat", json!({"message": "hello"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let response = alice
        .request(reqwest::Method::POST, "/api/chat/stream")
        .json(&json!({"message": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("2 chat turns a minute"), "{body}");
    // /v1 counts against the same quota, and answers in OpenAI's shape.
    let response = alice
        .request(reqwest::Method::POST, "/v1/chat/completions")
        .json(&json!({"model": "fixture/echo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // Another person has a quota of their own.
    let (status, body) = bob.post("/api/chat", json!({"message": "hello"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
