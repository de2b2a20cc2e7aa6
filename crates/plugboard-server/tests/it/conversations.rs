//! Conversations, messages and attachments: owners only, paging, events fired.

use reqwest::StatusCode;
use serde_json::json;

use crate::TestServer;

#[tokio::test]
async fn conversations_are_created_listed_in_pages_renamed_and_deleted() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(alice.conversation(&format!("topic {n}")).await);
    }
    let (_, page) = alice.get("/api/conversations?limit=2").await;
    let titles: Vec<&str> =
        page["conversations"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["topic 4", "topic 3"]);
    let next = page["next"].as_str().unwrap();
    let (_, page) = alice.get(&format!("/api/conversations?limit=2&after={next}")).await;
    let titles: Vec<&str> =
        page["conversations"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["topic 2", "topic 1"]);

    let (status, renamed) = alice.patch(&format!("/api/conversations/{}", ids[0]), json!({"title": "renamed"})).await;
    assert_eq!((status, renamed["conversation"]["title"].as_str()), (StatusCode::OK, Some("renamed")));
    let (_, found) = alice.get("/api/conversations?search=RENAM").await;
    assert_eq!(found["conversations"].as_array().unwrap().len(), 1);

    assert_eq!(alice.delete(&format!("/api/conversations/{}", ids[0])).await, StatusCode::NO_CONTENT);
    let (status, body) = alice.get(&format!("/api/conversations/{}", ids[0])).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

#[tokio::test]
async fn another_users_conversations_and_messages_are_not_found() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let mallory = server.signup("mallory").await;
    let conversation = alice.conversation("private").await;
    let (_, chat) = alice.post("/api/chat", json!({"conversation_id": conversation, "message": "secret"})).await;
    let message_id = chat["user_message"]["id"].as_str().unwrap().to_owned();

    for path in [
        format!("/api/conversations/{conversation}"),
        format!("/api/conversations/{conversation}/messages"),
        format!("/api/conversations/{conversation}/audit"),
        format!("/api/messages/{message_id}/trace"),
    ] {
        let (status, body) = mallory.get(&path).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}");
    }
    let (status, _) = mallory.patch(&format!("/api/messages/{message_id}"), json!({"content": "hacked"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(mallory.delete(&format!("/api/conversations/{conversation}")).await, StatusCode::NOT_FOUND);
    let (status, _) = mallory.post("/api/chat", json!({"conversation_id": conversation, "message": "hi"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = mallory.get("/api/conversations").await;
    assert_eq!(list["conversations"], json!([]));
    // Alice's data is untouched.
    let (_, messages) = alice.get(&format!("/api/conversations/{conversation}/messages")).await;
    assert_eq!(messages["messages"][0]["content"], "secret");
}

#[tokio::test]
async fn messages_are_edited_and_deleted_and_plugins_hear_of_it() {
    let server = TestServer::start(&["all-hooks"]).await;
    let alice = server.signup("alice").await;
    let conversation = alice.conversation("edits").await;
    let (_, chat) = alice.post("/api/chat", json!({"conversation_id": conversation, "message": "first"})).await;
    let id = chat["user_message"]["id"].as_str().unwrap().to_owned();

    let (status, edited) = alice.patch(&format!("/api/messages/{id}"), json!({"content": "first, edited"})).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["message"]["content"], "first, edited");
    assert!(edited["message"]["edited_at_ms"].is_i64());
    let store = server.state.store.clone();
    crate::eventually("all-hooks to hear of the edit", async || {
        let last = store.kv_get("all-hooks", "last-event").await.unwrap()?;
        (String::from_utf8(last).unwrap() == format!("message-edited {id}")).then_some(())
    })
    .await;

    assert_eq!(alice.delete(&format!("/api/messages/{id}")).await, StatusCode::NO_CONTENT);
    let (_, messages) = alice.get(&format!("/api/conversations/{conversation}/messages")).await;
    assert!(messages["messages"].as_array().unwrap().iter().all(|m| m["id"] != id.as_str()));
    crate::eventually("all-hooks to hear of the deletion", async || {
        let last = store.kv_get("all-hooks", "last-event").await.unwrap()?;
        (String::from_utf8(last).unwrap() == format!("message-deleted {id}")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn attachments_round_trip_and_oversized_ones_are_refused() {
    let config = plugboard_server::ServerConfig { max_upload_bytes: 1024, ..Default::default() };
    let server = TestServer::start_with(&["all-hooks"], config).await;
    let alice = server.signup("alice").await;
    let conversation = alice.conversation("files").await;
    let path = format!("/api/conversations/{conversation}/attachments");
    let response = alice
        .request(reqwest::Method::POST, &path)
        .header("content-type", "text/plain")
        .header("x-file-name", "notes.txt")
        .body("hello file")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: serde_json::Value = response.json().await.unwrap();
    let id = body["attachment"]["id"].as_str().unwrap();
    assert_eq!(body["attachment"]["size"], 10);
    let file = alice.request(reqwest::Method::GET, &format!("/api/attachments/{id}")).send().await.unwrap();
    assert_eq!(file.headers()["content-type"], "text/plain");
    assert_eq!(file.text().await.unwrap(), "hello file");

    let store = server.state.store.clone();
    assert_eq!(alice.delete(&format!("/api/attachments/{id}")).await, StatusCode::NO_CONTENT);
    let file = alice.request(reqwest::Method::GET, &format!("/api/attachments/{id}")).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::NOT_FOUND);
    let expected = format!("file-attached {id} notes.txt 10\nfile-deleted {id}\n");
    crate::eventually("all-hooks to hear of the file", async || {
        let log = String::from_utf8(store.kv_get("all-hooks", "event-log").await.unwrap()?).unwrap();
        log.ends_with(&expected).then_some(())
    })
    .await;

    let too_big = alice
        .request(reqwest::Method::POST, &path)
        .header("x-file-name", "big.bin")
        .body(vec![0u8; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn plugins_hear_conversation_and_message_events_in_order() {
    let server = TestServer::start(&["all-hooks"]).await;
    let alice = server.signup("alice").await;
    let conversation = alice.conversation("events").await;
    let (_, turn) = alice.post("/api/chat", json!({"conversation_id": conversation, "message": "hi"})).await;
    let asked = turn["user_message"]["id"].as_str().unwrap().to_owned();
    let answered = turn["reply"]["id"].as_str().unwrap().to_owned();
    assert_eq!(alice.delete(&format!("/api/conversations/{conversation}")).await, StatusCode::NO_CONTENT);
    let expected = format!(
        "conversation-started {conversation}\nmessage-received {asked}\nmessage-sent {answered}\nconversation-ended {conversation}\n"
    );
    let store = server.state.store.clone();
    let log = crate::eventually("every event to reach all-hooks", async || {
        let log = String::from_utf8(store.kv_get("all-hooks", "event-log").await.unwrap()?).unwrap();
        (log.len() >= expected.len()).then_some(log)
    })
    .await;
    assert_eq!(log, expected);
}
