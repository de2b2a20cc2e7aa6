//! Inputs that once broke an answer: control characters in file names, over-long edits,
//! errors that were not the API's JSON, an auth scheme's case, an out-of-range `max_tokens`.

use reqwest::StatusCode;
use serde_json::json;

use crate::TestServer;

#[tokio::test]
async fn a_file_name_with_control_characters_is_cleaned_on_upload_and_any_stored_name_downloads() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let conversation = alice.conversation("files").await;
    let uploaded = alice
        .request(reqwest::Method::POST, &format!("/api/conversations/{conversation}/attachments"))
        .header("x-file-name", "bad%0D%0Aname%07.txt")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let body: serde_json::Value = uploaded.json().await.unwrap();
    assert_eq!(body["attachment"]["file_name"], "bad__name_.txt");

    // A name stored before uploads were cleaned still downloads, with its exact name encoded.
    let stored = server
        .state
        .store
        .add_attachment(&conversation, None, "old\nnäme\u{0}\".txt", "text/plain", b"hi")
        .await
        .unwrap();
    let file = alice.request(reqwest::Method::GET, &format!("/api/attachments/{}", stored.id)).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(
        file.headers()["content-disposition"],
        "attachment; filename=\"old_n_me__.txt\"; filename*=UTF-8''old%0An%C3%A4me%00%22.txt"
    );
    assert_eq!(file.text().await.unwrap(), "hi");
}

#[tokio::test]
async fn an_edit_is_held_to_the_same_size_limit_as_a_new_message() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let too_long = "x".repeat(64 * 1024 + 1);
    let (posted, body) = alice.post("/api/chat", json!({"message": too_long})).await;
    assert_eq!((posted, body["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("message_too_large")));

    let (_, chat) = alice.post("/api/chat", json!({"message": "short"})).await;
    let id = chat["user_message"]["id"].as_str().unwrap().to_owned();
    let (edited, body) = alice.patch(&format!("/api/messages/{id}"), json!({"content": too_long})).await;
    assert_eq!((edited, body["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("message_too_large")));
    let (edited, body) = alice.patch(&format!("/api/messages/{id}"), json!({"content": "x".repeat(64 * 1024)})).await;
    assert_eq!(edited, StatusCode::OK, "{body}");
}

/// `(status, error code)` of an answer that must be the API's JSON error.
async fn json_error(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let media_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(media_type.as_deref(), Some("application/json"), "{status}: {text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn every_error_is_the_apis_json_with_a_stable_code() {
    let config = plugboard_server::ServerConfig { max_upload_bytes: 1024, ..Default::default() };
    let server = TestServer::start_with(&[], config).await;
    let alice = server.signup("alice").await;
    let conversation = alice.conversation("errors").await;
    let expect = |status: StatusCode, code: &str| (status, code.to_owned());

    let upload = alice
        .request(reqwest::Method::POST, &format!("/api/conversations/{conversation}/attachments"))
        .header("x-file-name", "big.bin")
        .body(vec![0u8; 8192])
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(upload).await, expect(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large"));

    // Over the 512 KiB a chat turn's body may have (well under the 2 MiB of other JSON):
    // too large, not malformed.
    let huge = format!("{{\"message\": \"{}\"}}", "x".repeat(600 << 10));
    let chat = alice
        .request(reqwest::Method::POST, "/api/chat")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(chat).await, expect(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"));

    let cases = [
        (reqwest::Method::GET, "/api/conversations?limit=many", StatusCode::BAD_REQUEST, "invalid_query"),
        (reqwest::Method::GET, "/api/conversations/%FF%FE", StatusCode::BAD_REQUEST, "invalid_path"),
        (reqwest::Method::GET, "/ui/no-such-file.js", StatusCode::NOT_FOUND, "not_found"),
        (reqwest::Method::DELETE, "/api/models", StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        // The server's own answer on a plugin's route (it was an empty body).
        (
            reqwest::Method::TRACE,
            "/api/plugins/calculator/http/evaluate",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (method, path, status, code) in cases {
        let response = alice.request(method.clone(), path).send().await.unwrap();
        assert_eq!(json_error(response).await, expect(status, code), "{method} {path}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_taken_in_any_case() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let (_, created) = alice.post("/api/tokens", json!({"name": "script"})).await;
    let token = created["token"].as_str().unwrap();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response =
            server.client.get(server.url("/api/me")).header("authorization", format!("{scheme} {token}")).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
        let me: serde_json::Value = response.json().await.unwrap();
        assert_eq!(me["user"]["username"], "alice", "{scheme}: {me}");
    }
    let basic = server.client.get(server.url("/api/me")).header("authorization", format!("Basic {token}")).send();
    assert_eq!(json_error(basic.await.unwrap()).await, (StatusCode::UNAUTHORIZED, "invalid_token".to_owned()));
}

#[tokio::test]
async fn a_token_limit_past_u32_is_a_clear_400_not_a_wrapped_number() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let (_, created) = alice.post("/api/tokens", json!({"name": "client"})).await;
    let token = created["token"].as_str().unwrap().to_owned();
    for field in ["max_tokens", "max_completion_tokens"] {
        let request = json!({
            "model": "fixture/echo",
            "messages": [{"role": "user", "content": "hi"}],
            field: 4_294_967_297_u64,
        });
        let response =
            server.client.post(server.url("/v1/chat/completions")).bearer_auth(&token).json(&request).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{field}");
        let body: serde_json::Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field) && message.contains("4294967297"), "{field}: {body}");
    }
}

/// Sends `head` on a raw connection and reads the status line of the answer, if one comes
/// within five seconds.
async fn raw_status(base: &str, head: String) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&answer[..read]).into_owned();
    text.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn a_body_claimed_too_large_is_refused_at_once() {
    let server = TestServer::start(&[]).await;
    // 1 GiB announced, nothing sent: the answer must not wait for the body.
    let head = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 1073741824\r\n\r\n"
        .to_owned();
    let status = raw_status(&server.base, head).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 413 Payload Too Large"), "{status:?}");
}
