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
