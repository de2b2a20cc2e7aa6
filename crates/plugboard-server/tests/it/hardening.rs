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
