//! Plugin management over HTTP: administrators only, every change through the registry.

use reqwest::StatusCode;
use serde_json::json;

use crate::TestServer;

#[tokio::test]
async fn only_an_administrator_manages_plugins() {
    let server = TestServer::start(&["example-tagger"]).await;
    let _admin = server.signup("admin").await;
    let user = server.signup("user").await;
    for path in ["/api/plugins/example-tagger/disable", "/api/plugins/example-tagger/reload"] {
        let (status, body) = user.post(path, json!({})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("admin_only")), "{path}");
    }
    let (status, _) = user.get("/api/plugins/example-tagger/config").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = user.put("/api/plugins/example-tagger/config", json!({"tag": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_administrator_disables_enables_reloads_and_configures_a_plugin() {
    let server = TestServer::start(&["example-tagger", "calculator", "host-probe"]).await;
    let admin = server.signup("admin").await;

    let (status, body) = admin.post("/api/plugins/example-tagger/disable", json!({})).await;
    assert_eq!((status, body["plugin"]["state"].as_str()), (StatusCode::OK, Some("disabled")), "{body}");
    let (_, turn) = admin.post("/api/chat", json!({"message": "plain"})).await;
    assert_eq!(turn["user_message"]["content"], "plain", "a disabled filter does not run");
    let (_, body) = admin.post("/api/plugins/example-tagger/enable", json!({})).await;
    assert_eq!(body["plugin"]["state"], "enabled");

    let (status, config) = admin.get("/api/plugins/example-tagger/config").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["settings"], json!({"tag": "tagged"}));
    assert_eq!(config["schema"]["properties"]["tag"]["maxLength"], 40);
    let (status, refused) = admin.put("/api/plugins/example-tagger/config", json!({"tag": "", "extra": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let paths: Vec<&str> =
        refused["error"]["violations"].as_array().unwrap().iter().map(|v| v["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/tag", ""]);
    let (status, saved) = admin.put("/api/plugins/example-tagger/config", json!({"tag": "ops"})).await;
    assert_eq!((status, saved["settings"]["tag"].as_str()), (StatusCode::OK, Some("ops")));
    let (_, turn) = admin.post("/api/chat", json!({"message": "configured"})).await;
    assert_eq!(turn["user_message"]["content"], "[ops] configured");

    let (status, body) = admin.post("/api/plugins/example-tagger/reload", json!({})).await;
    assert_eq!((status, body["plugin"]["state"].as_str()), (StatusCode::OK, Some("enabled")));

    let (status, refused) = admin.post("/api/plugins/calculator/unload", json!({})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("plugin_has_dependents")));
    let (status, body) = admin.post("/api/plugins/calculator/unload?cascade=true", json!({})).await;
    assert_eq!((status, body["unloaded"].clone()), (StatusCode::OK, json!(["host-probe", "calculator"])));
    let (status, body) = admin.get("/api/plugins/calculator/faults").await;
    assert_eq!((status, body["faults"].clone()), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn plugin_events_stream_to_administrators() {
    let server = TestServer::start(&["calculator"]).await;
    let admin = server.signup("admin").await;
    let response = admin.request(reqwest::Method::GET, "/api/plugins/events").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = futures_util::StreamExt::boxed(response.bytes_stream());
    admin.post("/api/plugins/calculator/disable", json!({})).await;
    let mut received = String::new();
    while !received.contains("\n\n") || !received.contains("event: disabled") {
        let chunk = futures_util::StreamExt::next(&mut body).await.unwrap().unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.contains(r#""plugin":"calculator""#), "{received}");
}

#[tokio::test]
async fn metrics_count_plugin_calls_and_chat_turns_for_prometheus() {
    let server = TestServer::start(&["example-tagger", "calculator"]).await;
    let admin = server.signup("admin").await;
    let user = server.signup("user").await;
    let (status, _) = admin.post("/api/chat", json!({"message": "hello"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.post("/api/plugins/execute", json!({"plugin": "calculator", "data": "1/0"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let response = user.request(reqwest::Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "administrators only");
    let response = admin.request(reqwest::Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    // The recorder is process-wide (other tests' servers count too), so look for lines.
    let has = |needle: &str| text.lines().any(|line| line.starts_with(needle));
    // Plugin calls are this server's own: one turn, one before-prompt call; the
    // calculator listed its tools at load, then ran once.
    assert!(has(r#"plugboard_plugin_calls_total{plugin="example-tagger",hook="before-prompt"} 1"#), "{text}");
    assert!(has(r#"plugboard_plugin_calls_total{plugin="calculator",hook="tools"} 2"#), "{text}");
    assert!(
        has(
            r#"plugboard_plugin_call_duration_seconds_bucket{plugin="example-tagger",hook="before-prompt",le="+Inf"} 1"#
        ),
        "{text}"
    );
    assert!(
        has(r#"plugboard_plugin_call_duration_seconds_count{plugin="example-tagger",hook="before-prompt"} 1"#),
        "{text}"
    );
    assert!(has(r#"plugboard_plugin_errors_total{plugin="calculator",hook="tools",code="plugin_error"}"#), "{text}");
    assert!(
        has(
            r#"plugboard_plugin_call_duration_seconds_bucket{plugin="example-tagger",hook="before-prompt",le="0.005"}"#
        ),
        "{text}"
    );
    assert!(has(r#"plugboard_chat_turns_total{outcome="ok"}"#), "{text}");
    assert!(has("plugboard_chat_turn_duration_seconds_count"), "{text}");
    assert!(has(r#"plugboard_plugin_enabled{plugin="calculator"} 1"#), "{text}");
}

#[tokio::test]
async fn a_plugins_self_test_runs_on_request() {
    let server = TestServer::start(&["example-tagger", "calculator"]).await;
    let admin = server.signup("admin").await;
    let (status, body) = admin.post("/api/plugins/calculator/self-test", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["passed"], true, "{body}");
    assert_eq!(body["results"][0]["name"], "1 + 2 * 3");
    let (status, body) = admin.post("/api/plugins/example-tagger/self-test", json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_implemented")), "{body}");
}

#[tokio::test]
async fn one_user_cannot_use_up_a_plugin() {
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    // The test servers allow 30 calls a minute per user and plugin.
    for n in 0..30 {
        let (status, body) = alice.post("/api/plugins/execute", json!({"plugin": "calculator", "data": "1+1"})).await;
        assert_eq!(status, StatusCode::OK, "call {n}: {body}");
    }
    let response = alice
        .request(reqwest::Method::POST, "/api/plugins/execute")
        .json(&json!({"plugin": "calculator", "data": "1+1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Others are not affected.
    let (status, _) = bob.post("/api/plugins/execute", json!({"plugin": "calculator", "data": "1+1"})).await;
    assert_eq!(status, StatusCode::OK);
}
