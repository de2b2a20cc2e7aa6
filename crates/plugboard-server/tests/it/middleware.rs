//! Request middleware: the bundled `access-list` and the `request-recorder` fixture,
//! which shows in response headers everything its `before-request` and `after-request`
//! hooks saw, on a real server.

use plugboard_manifest::{FailMode, PluginId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Session, TestServer, send};

/// What the recorder's hooks saw for `response`: (`before-request`, `after-request`).
fn recorded(response: &reqwest::Response) -> (Value, Value) {
    let header = |name: &str| {
        let text = response.headers().get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap();
        serde_json::from_str::<Value>(text).unwrap()
    };
    (header("x-recorder-before"), header("x-recorder-after"))
}

fn header_names(seen: &Value) -> Vec<String> {
    seen["headers"].as_array().unwrap().iter().map(|pair| pair[0].as_str().unwrap().to_owned()).collect()
}

fn header_value<'a>(seen: &'a Value, name: &str) -> Option<&'a str> {
    seen["headers"].as_array().unwrap().iter().find(|pair| pair[0] == name).and_then(|pair| pair[1].as_str())
}

async fn user_id(session: &Session) -> String {
    let (_, me) = session.get("/api/me").await;
    me["user"]["id"].as_str().unwrap().to_owned()
}

async fn configure(admin: &Session, plugin: &str, settings: Value) {
    let (status, body) = admin.put(&format!("/api/plugins/{plugin}/config"), settings).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_access_list_refuses_unlisted_users_with_403_and_its_message_and_passes_others() {
    let server = TestServer::start(&["access-list"]).await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    // It ships disabled: nobody is refused until an operator turns it on.
    let (status, _) = bob.get("/api/conversations").await;
    assert_eq!(status, StatusCode::OK);

    configure(&alice, "access-list", json!({"allowed_users": ["Alice"], "message": "members only: ask alice"})).await;
    let (status, body) = alice.post("/api/plugins/access-list/enable", json!({})).await;
    assert!(status.is_success(), "{body}");

    let (status, body) = bob.get("/api/conversations").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body,
        json!({"error": {"code": "refused_by_plugin", "message": "members only: ask alice", "plugin": "access-list"}})
    );
    let (status, _) = bob.get("/v1/models").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = alice.get("/api/conversations").await;
    assert_eq!(status, StatusCode::OK);
    // Signed out, the way to sign in stays open; the web interface is not gated.
    let (status, _) = send(server.client.get(server.url("/api/session"))).await;
    assert_eq!(status, StatusCode::OK);
    let page = bob.request(reqwest::Method::GET, "/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let metrics = alice.request(reqwest::Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("plugboard_plugin_calls_total{plugin=\"access-list\",hook=\"before-request\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("plugboard_requests_refused_total{plugin=\"access-list\",reason=\"refused\"}"));
}

#[tokio::test]
async fn the_access_list_checks_the_peer_address_and_believes_forwarded_for_only_from_trusted_proxies() {
    let server = TestServer::start(&["access-list"]).await;
    let alice = server.signup("alice").await;
    configure(&alice, "access-list", json!({"allowed_ips": ["10.0.0.0/8", "2001:db8::/32"]})).await;
    let (status, _) = alice.post("/api/plugins/access-list/enable", json!({})).await;
    assert!(status.is_success());

    // The test client is 127.0.0.1: refused, whatever it claims in headers.
    let (status, body) = alice.get("/api/me").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("refused_by_plugin")));
    let spoofed = alice
        .request(reqwest::Method::GET, "/api/me")
        .header("x-forwarded-for", "10.1.2.3")
        .header("x-plugboard-client-ip", "10.1.2.3");
    let (status, _) = send(spoofed).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Behind a trusted proxy (here the client itself), X-Forwarded-For names the client.
    let id = PluginId::parse("access-list").unwrap();
    let settings =
        json!({"allowed_ips": ["10.0.0.0/8"], "trusted_proxies": ["127.0.0.1"], "open_paths": ["/api/session"]});
    server.state.registry.update_settings(&id, &settings).await.unwrap();
    let via = |forwarded: &str| alice.request(reqwest::Method::GET, "/api/me").header("x-forwarded-for", forwarded);
    let (status, body) = send(via("10.1.2.3")).await;
    assert_eq!((status, body["user"]["username"].as_str()), (StatusCode::OK, Some("alice")));
    // An allowed address the client wrote in front of its own does not count.
    let (status, _) = send(via("10.1.2.3, 203.0.113.5")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = alice.get("/api/me").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Open paths pass whatever the lists say.
    let (status, _) = alice.get("/api/session").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn credentials_never_reach_a_middleware_plugin_and_the_verified_user_does() {
    let server = TestServer::start(&["request-recorder"]).await;
    let alice = server.signup("alice").await;
    let alice_id = user_id(&alice).await;
    let (status, created) = alice.post("/api/tokens", json!({"name": "script"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = created["token"].as_str().unwrap().to_owned();
    let session_secret = alice.cookie.split_once('=').unwrap().1.to_owned();
    let secrets = [token.as_str(), session_secret.as_str(), "key-secret", "query-secret", "proxy-secret"];

    let response = alice
        .request(reqwest::Method::POST, "/api/plugins/request-recorder/http/echo?access_token=query-secret&page=2")
        .header("authorization", format!("Bearer {token}"))
        .header("x-api-key", "key-secret")
        .header("proxy-authorization", "Basic proxy-secret")
        .header("x-plugboard-client-ip", "203.0.113.9")
        .header("x-custom", "kept")
        .body("a private body")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (before, after) = recorded(&response);
    let echoed: Value = response.json().await.unwrap();
    for seen in [&before, &after["request"]] {
        let text = seen.to_string();
        for secret in secrets.iter().chain(&["a private body"]) {
            assert!(!text.contains(secret), "`{secret}` reached the plugin: {text}");
        }
        let names = header_names(seen);
        for credential in ["cookie", "authorization", "proxy-authorization", "x-api-key"] {
            assert!(!names.contains(&credential.to_owned()), "{credential} reached the plugin: {names:?}");
        }
        assert_eq!(seen["user"], alice_id.as_str(), "the verified user reaches the plugin");
        assert_eq!(seen["method"], "POST");
        assert_eq!(seen["uri"], "/api/plugins/request-recorder/http/echo?access_token=[redacted]&page=2");
        assert_eq!(seen["body_len"], 0);
        assert_eq!(header_value(seen, "x-custom"), Some("kept"));
        // The host tells the peer's address; the client's own claim is dropped.
        assert_eq!(header_value(seen, "x-plugboard-client-ip"), Some("127.0.0.1"));
    }
    assert_eq!(before["request_id"], after["request"]["request_id"], "one id ties a request's calls together");
    assert_eq!(after["status"], 200);
    // The header the plugin added reached the route's handler; the body passed untouched.
    assert_eq!(header_value(&echoed, "x-recorder"), Some(alice_id.as_str()));
    assert_eq!(echoed["body"], "a private body");

    // A response's Set-Cookie (a new session) is not shown either.
    let response = server
        .client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let new_session = crate::session_cookie(&response);
    let (before, after) = recorded(&response);
    assert_eq!(before["user"], "", "signed out: no user");
    assert!(!header_names(&after).contains(&"set-cookie".to_owned()), "{after}");
    assert!(!after.to_string().contains(new_session.split_once('=').unwrap().1));
}

#[tokio::test]
async fn a_middleware_plugin_may_only_add_headers_of_new_names() {
    let server = TestServer::start(&["request-recorder"]).await;
    let alice = server.signup("alice").await;
    let response = alice
        .request(reqwest::Method::GET, "/api/plugins/request-recorder/http/echo?recorder=overreach")
        .header("user-agent", "the-test")
        .send()
        .await
        .unwrap();
    // after-request's status, body, Set-Cookie, CORS and redirect are ignored.
    assert_eq!(response.status(), StatusCode::OK);
    for refused in ["set-cookie", "access-control-allow-origin", "location"] {
        assert!(response.headers().get(refused).is_none(), "{refused} was added");
    }
    let echoed: Value = response.json().await.unwrap();
    // before-request's method, path, body, changed and credential headers are ignored.
    assert_eq!((echoed["method"].as_str(), echoed["uri"].as_str()), (Some("GET"), Some("/echo?recorder=overreach")));
    assert_eq!(echoed["body"], "");
    assert_eq!(header_value(&echoed, "user-agent"), Some("the-test"));
    assert_ne!(header_value(&echoed, "host"), Some("evil.example"));
    for refused in ["x-api-key", "x-plugboard-client-ip", "content-length"] {
        assert_eq!(header_value(&echoed, refused), None, "{refused} was added: {echoed}");
    }
    assert_eq!(header_value(&echoed, "x-recorder"), Some("overreached"));
    assert_eq!(echoed["user"], user_id(&alice).await.as_str(), "the cookie still names the caller");
}

#[tokio::test]
async fn a_refusal_is_a_json_error_and_a_status_outside_400_to_499_is_a_plugin_error() {
    let server = TestServer::start(&["request-recorder"]).await;
    let alice = server.signup("alice").await;
    let response = alice.request(reqwest::Method::GET, "/api/me?recorder=refuse").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["x-recorder-refusal"], "yes");
    assert!(response.headers().get("set-cookie").is_none());
    let (_, after) = recorded(&response);
    assert_eq!(after["status"], 403, "after-request sees the refusal");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "refused_by_plugin", "message": "refused by the recorder", "plugin": "request-recorder"}})
    );

    // Fails open (the default): the request goes on as if the plugin had said nothing.
    for status in [200, 302, 500] {
        let (code, body) = alice.get(&format!("/api/me?recorder=status-{status}")).await;
        assert_eq!((code, body["user"]["username"].as_str()), (StatusCode::OK, Some("alice")), "{status}: {body}");
    }
    let id = PluginId::parse("request-recorder").unwrap();
    server.state.registry.set_fail_mode(&id, FailMode::Closed).await.unwrap();
    let (status, body) = alice.get("/api/me?recorder=status-500").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("request_filter_failed"))
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("`request-recorder`") && message.contains("status 500"), "{message}");
}

#[tokio::test]
async fn a_failing_middleware_plugin_is_skipped_when_it_fails_open_and_refuses_when_it_fails_closed() {
    let server = TestServer::start(&["request-recorder"]).await;
    let alice = server.signup("alice").await;
    let (status, body) = alice.get("/api/me?recorder=panic").await;
    assert_eq!((status, body["user"]["username"].as_str()), (StatusCode::OK, Some("alice")), "{body}");

    let id = PluginId::parse("request-recorder").unwrap();
    server.state.registry.set_fail_mode(&id, FailMode::Closed).await.unwrap();
    let (status, body) = alice.get("/api/me?recorder=panic").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("request_filter_failed"))
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("panicked"), "{body}");
    // A failing after-request withholds the response too.
    let (status, body) = alice.get("/api/me?recorder=after-panic").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("request_filter_failed"))
    );
    let (status, _) = alice.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_web_interface_and_metrics_do_not_pass_through_middleware() {
    let server = TestServer::start(&["request-recorder"]).await;
    let alice = server.signup("alice").await;
    for path in ["/", "/ui/app.js", "/favicon.ico", "/metrics"] {
        let response = alice.request(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers().get("x-recorder-after").is_none(), "{path} passed through middleware");
    }
    for path in ["/api/session", "/v1/models", "/api/no-such-endpoint"] {
        let response = alice.request(reqwest::Method::GET, path).send().await.unwrap();
        assert!(response.headers().get("x-recorder-after").is_some(), "{path} skipped the middleware");
    }
}
