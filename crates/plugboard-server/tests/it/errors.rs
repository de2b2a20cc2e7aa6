//! One error, one status and code on every endpoint: a plugin call's failure reads the
//! same from a chat turn (`/run`) as from `/api/plugins/execute`, and a model's failure
//! the same from `/api/chat` as from the OpenAI-compatible `/v1/chat/completions`.

use reqwest::StatusCode;
use serde_json::json;

use super::TestServer;

#[tokio::test]
async fn a_plugin_error_has_the_same_status_and_code_on_every_endpoint() {
    let server = TestServer::start(&["calculator", "looper", "example-tagger"]).await;
    let admin = server.signup("admin").await;
    let cases = [
        ("calculator", "1/0", StatusCode::UNPROCESSABLE_ENTITY, "plugin_error"),
        ("looper", "spin", StatusCode::GATEWAY_TIMEOUT, "deadline"),
        ("example-tagger", "tag", StatusCode::NOT_FOUND, "not_implemented"),
    ];
    for (plugin, input, status, code) in cases {
        let (executed, body) = admin.post("/api/plugins/execute", json!({"plugin": plugin, "data": input})).await;
        assert_eq!((executed, body["error"]["code"].as_str()), (status, Some(code)), "execute {plugin}: {body}");
        let (chatted, body) = admin.post("/api/chat", json!({"message": format!("/run {plugin} {input}")})).await;
        assert_eq!((chatted, body["error"]["code"].as_str()), (status, Some(code)), "chat {plugin}: {body}");
    }

    let (status, _) = admin.post("/api/plugins/calculator/disable", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (executed, body) = admin.post("/api/plugins/execute", json!({"plugin": "calculator", "data": "1+1"})).await;
    let expected = (StatusCode::SERVICE_UNAVAILABLE, Some("disabled"));
    assert_eq!((executed, body["error"]["code"].as_str()), expected, "{body}");
    let (chatted, body) = admin.post("/api/chat", json!({"message": "/run calculator 1+1"})).await;
    assert_eq!((chatted, body["error"]["code"].as_str()), expected, "{body}");
}

#[tokio::test]
async fn a_model_error_has_the_same_status_and_code_on_every_endpoint() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let (_, created) = alice.post("/api/tokens", json!({"name": "openai client"})).await;
    let token = created["token"].as_str().unwrap().to_owned();
    let cases = [
        ("fixture/broken", StatusCode::BAD_GATEWAY, "model_error"),
        ("nowhere/x", StatusCode::NOT_FOUND, "unknown_model"),
    ];
    for (model, status, code) in cases {
        let (chatted, body) = alice.post("/api/chat", json!({"message": "hi", "model": model})).await;
        assert_eq!((chatted, body["error"]["code"].as_str()), (status, Some(code)), "chat {model}: {body}");
        let response = server
            .client
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(&token)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let completed = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!((completed, body["error"]["code"].as_str()), (status, Some(code)), "v1 {model}: {body}");
    }
}
