//! Plugin routes and plugin UI files over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::TestServer;

#[tokio::test]
async fn a_route_gets_the_verified_user_and_never_the_credentials() {
    let server = TestServer::start(&["all-hooks"]).await;
    let alice = server.signup("alice").await;
    let (_, me) = alice.get("/api/me").await;
    let response = alice
        .request(reqwest::Method::POST, "/api/plugins/all-hooks/http/echo/x?y=1")
        .header("authorization", "Bearer pb_forged")
        .header("x-custom", "kept")
        .body("hello")
        .send()
        .await
        .unwrap();
    // A Bearer header that is not a valid token is refused rather than ignored.
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = alice
        .request(reqwest::Method::POST, "/api/plugins/all-hooks/http/echo/x?y=1")
        .header("x-custom", "kept")
        .header("x-user-id", "someone-else")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.starts_with("sandbox"), "{policy}");
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["user"], me["user"]["id"], "the host passes the signed-in user");
    assert_eq!(echoed["uri"], "/echo/x?y=1");
    assert_eq!(echoed["body"], "hello");
    let headers: Vec<&str> = echoed["headers"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert!(headers.contains(&"x-custom"));
    assert!(!headers.contains(&"cookie"), "credentials are stripped: {headers:?}");

    // Signed out: refused before the plugin runs.
    let response = reqwest::Client::new().post(server.url("/api/plugins/all-hooks/http/echo/x")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn webhooks_are_open_and_undeclared_routes_and_big_bodies_are_refused() {
    let server = TestServer::start(&["all-hooks"]).await;
    let alice = server.signup("alice").await;
    let response = reqwest::Client::new()
        .post(server.url("/api/plugins/all-hooks/http/hook"))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!((echoed["user"].as_str(), echoed["body"].as_str()), (Some(""), Some("payload")));

    let (status, body) = alice.get("/api/plugins/all-hooks/http/echo/x").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("route_not_found")));
    assert!(body["error"]["message"].as_str().unwrap().contains("declares no route GET /echo/x"), "{body}");
    let (status, _) = alice.post("/api/plugins/nope/http/echo/x", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let big = vec![b'x'; (1 << 20) + 1];
    let response =
        alice.request(reqwest::Method::POST, "/api/plugins/all-hooks/http/echo/x").body(big).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn ui_files_are_served_sandboxed_and_nothing_outside_ui() {
    let server = TestServer::start(&["word-stats"]).await;
    let alice = server.signup("alice").await;
    let response = alice.request(reqwest::Method::GET, "/api/plugins/word-stats/ui/widget.html").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    assert!(response.headers()["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
    assert!(response.text().await.unwrap().contains("plugboard:ready"));
    for path in ["../plugin.toml", "..%2Fplugin.toml", "missing.html"] {
        let response =
            alice.request(reqwest::Method::GET, &format!("/api/plugins/word-stats/ui/{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response =
        reqwest::Client::new().get(server.url("/api/plugins/word-stats/ui/widget.html")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Seed 004's example: GitHub signs the delivery; a valid one posts into the configured
/// conversation, a forged one is refused and changes nothing.
#[tokio::test]
async fn the_github_webhook_posts_new_pull_requests_and_refuses_forged_deliveries() {
    let server = TestServer::start(&["github-webhook"]).await;
    let admin = server.signup("admin").await;
    let conversation = admin.conversation("Repository news").await;
    let secret = "a webhook secret";
    let (status, body) = admin
        .put("/api/plugins/github-webhook/config", json!({"secret": secret, "conversation_id": conversation}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["settings"]["secret"], Value::Null, "the secret is never read back: {body}");

    let delivery = json!({"action": "opened", "pull_request": {"title": "Add tests", "user": {"login": "octocat"}}});
    let payload = delivery.to_string();
    let deliver = |signature: String, event: &'static str| {
        reqwest::Client::new()
            .post(server.url("/api/plugins/github-webhook/http/github"))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-hub-signature-256", signature)
            .body(payload.clone())
            .send()
    };

    let forged = format!("sha256={}", plugboard_sdk::webhook::sign_hmac_sha256(b"not the secret", payload.as_bytes()));
    let response = deliver(forged, "pull_request").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (_, messages) = admin.get(&format!("/api/conversations/{conversation}/messages")).await;
    assert_eq!(messages["messages"], json!([]), "a forged delivery changes nothing");

    let signed = format!("sha256={}", plugboard_sdk::webhook::sign_hmac_sha256(secret.as_bytes(), payload.as_bytes()));
    let response = deliver(signed.clone(), "pull_request").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    let (_, messages) = admin.get(&format!("/api/conversations/{conversation}/messages")).await;
    let posted = &messages["messages"][0];
    assert_eq!(posted["content"], "New PR: Add tests by octocat");
    assert_eq!(posted["author"], "plugin:github-webhook");

    let response = deliver(signed, "issues").await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED, "other events are ignored");
}

#[tokio::test]
async fn a_plugins_docs_are_listed_and_served_as_markdown() {
    let server = TestServer::start(&["github-webhook", "calculator"]).await;
    let alice = server.signup("alice").await;
    let (status, body) = alice.get("/api/plugins/github-webhook/docs").await;
    assert_eq!((status, body["docs"].clone()), (StatusCode::OK, json!(["setup.md", "supported-events.md"])));
    let response =
        alice.request(reqwest::Method::GET, "/api/plugins/github-webhook/docs/setup.md").send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/markdown; charset=utf-8");
    assert!(response.text().await.unwrap().starts_with("# Setting up the GitHub webhook"));
    // Regression: the listing gave `docs/setup.md`, a path that was not served.
    for path in body["docs"].as_array().unwrap() {
        let path = path.as_str().unwrap();
        let response = alice
            .request(reqwest::Method::GET, &format!("/api/plugins/github-webhook/docs/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} is served at the path the listing gives");
    }
    let (_, body) = alice.get("/api/plugins/calculator/docs").await;
    assert_eq!(body["docs"], json!([]));
    let (status, _) = alice.get("/api/plugins/nope/docs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response =
        alice.request(reqwest::Method::GET, "/api/plugins/github-webhook/docs/..%2Fplugin.toml").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn word_stats_page_lists_only_the_callers_conversations() {
    let server = TestServer::start(&["word-stats"]).await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let (_, turn) = alice.post("/api/chat", json!({"message": "three little words"})).await;
    let conversation = turn["conversation_id"].as_str().unwrap().to_owned();
    bob.post("/api/chat", json!({"message": "bob's own words"})).await;
    let listed = crate::eventually("word-stats to count both replies", async || {
        let (status, listed) = alice.get("/api/plugins/word-stats/http/conversations").await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        (listed["totals"]["messages"] == 2).then_some(listed)
    })
    .await;
    let conversations = listed["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 1, "only alice's own: {listed}");
    assert_eq!(conversations[0]["id"], conversation.as_str());
    assert_eq!(conversations[0]["title"], "three little words");
    assert_eq!(conversations[0]["counts"]["user_words"], 3);
    // Bob's counts arrive with his own reply's events, on their own time.
    let bobs = crate::eventually("word-stats to count bob's conversation", async || {
        let (_, bobs) = bob.get("/api/plugins/word-stats/http/conversations").await;
        (bobs["conversations"].as_array().is_some_and(|list| list.len() == 1)).then_some(bobs)
    })
    .await;
    assert_ne!(bobs["conversations"][0]["id"], conversation.as_str());
    // One conversation's counts: its owner sees them, anyone else gets "not found".
    let (status, counts) = alice.get(&format!("/api/plugins/word-stats/http/conversations/{conversation}")).await;
    assert_eq!((status, counts["user_words"].clone()), (StatusCode::OK, json!(3)));
    let (status, refused) = bob.get(&format!("/api/plugins/word-stats/http/conversations/{conversation}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("of yours"), "{refused}");

    let (status, counted) = alice.post("/api/plugins/word-stats/http/count", json!({"text": "Hello, world! --"})).await;
    assert_eq!((status, counted), (StatusCode::OK, json!({"words": 2, "characters": 16})));
}

#[tokio::test]
async fn the_calculator_route_evaluates_and_explains_bad_input() {
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let (status, body) = alice.post("/api/plugins/calculator/http/evaluate", json!({"expression": "2^10 / 4"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"expression": "2^10 / 4", "result": "256"})));
    let (status, body) = alice.post("/api/plugins/calculator/http/evaluate", json!({"expression": "1 / 0"})).await;
    assert_eq!((status, body), (StatusCode::UNPROCESSABLE_ENTITY, json!({"error": "division by zero at column 3"})));
}
