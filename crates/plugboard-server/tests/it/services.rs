//! The host services plugins use (chat data, files, users, the model), backed by the
//! server's store and models, with the host-probe fixture granted every permission.

use serde_json::{Value, json};

use crate::TestServer;

/// Calls a host-probe tool (it lists none, so the API's execute would refuse the name),
/// with no user (as a background task would).
async fn probe(server: &TestServer, tool: &str, kwargs: Value) -> Value {
    probe_as(server, "", tool, kwargs).await
}

/// Calls a host-probe tool acting for `user_id`.
async fn probe_as(server: &TestServer, user_id: &str, tool: &str, kwargs: Value) -> Value {
    let plugin = server.state.registry.plugin(&plugboard_manifest::PluginId::parse("host-probe").unwrap()).unwrap();
    let context = plugboard_host::api::CallContext { user_id: user_id.into(), ..Default::default() };
    let result = plugin.call_tool(&context, tool, kwargs).await.unwrap();
    serde_json::from_str(&result).unwrap()
}

#[tokio::test]
async fn plugins_read_and_write_chat_data_through_the_store() {
    let server = TestServer::start(&["calculator", "host-probe"]).await;
    let alice = server.signup("alice").await;
    let (_, turn) = alice.post("/api/chat", json!({"message": "hello"})).await;
    let conversation = turn["conversation_id"].as_str().unwrap();
    let user_id = turn["user_message"]["author"].as_str().unwrap().trim_start_matches("user:").to_owned();

    assert_eq!(probe(&server, "list_messages", json!({"conversation_id": conversation})).await, json!({"ok": 2}));
    let posted =
        probe(&server, "post_message", json!({"conversation_id": conversation, "content": "from a plugin"})).await;
    let posted_id = posted["ok"].as_str().unwrap().to_owned();
    let (_, messages) = alice.get(&format!("/api/conversations/{conversation}/messages")).await;
    let last = messages["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["author"].as_str(), last["content"].as_str()), (Some("plugin:host-probe"), Some("from a plugin")));
    assert_eq!(last["id"], posted_id.as_str());

    // A plugin edits its own messages only.
    let user_message = turn["user_message"]["id"].as_str().unwrap();
    let refused = probe(&server, "edit_message", json!({"id": user_message, "content": "changed"})).await;
    assert!(refused["error"].to_string().contains("only its own messages"), "{refused}");

    assert_eq!(probe(&server, "get_user", json!({"id": user_id})).await, json!({"ok": "alice"}));
    let written = probe(&server, "write_file", json!({"conversation_id": conversation})).await;
    let file_id = written["ok"].as_str().unwrap();
    assert_eq!(probe(&server, "read_file", json!({"id": file_id})).await, json!({"ok": "probe.txt"}));
    let (_, files) = alice.get(&format!("/api/conversations/{conversation}/attachments")).await;
    assert_eq!(files["attachments"][0]["file_name"], "probe.txt");

    // The model, through the `ai` permission.
    assert_eq!(probe(&server, "ai", json!({"prompt": "are you there"})).await, json!({"ok": "Echo: are you there"}));
    let missing = probe(&server, "get_conversation", json!({"id": "nope"})).await;
    assert!(missing["error"].to_string().contains("no conversation `nope`"), "{missing}");
}

#[tokio::test]
async fn a_plugin_acting_for_a_user_sees_only_that_users_data() {
    let server = TestServer::start(&["calculator", "host-probe"]).await;
    let alice = server.signup("alice").await;
    let mallory = server.signup("mallory").await;
    let (_, turn) = alice.post("/api/chat", json!({"message": "private"})).await;
    let conversation = turn["conversation_id"].as_str().unwrap();
    let alice_id = turn["user_message"]["author"].as_str().unwrap().trim_start_matches("user:").to_owned();
    let (_, me) = mallory.get("/api/me").await;
    let mallory_id = me["user"]["id"].as_str().unwrap();

    let refused = probe_as(&server, mallory_id, "list_messages", json!({"conversation_id": conversation})).await;
    assert!(refused["error"].to_string().contains(&format!("no conversation `{conversation}`")), "{refused}");
    let refused =
        probe_as(&server, mallory_id, "post_message", json!({"conversation_id": conversation, "content": "x"})).await;
    assert!(refused["error"].is_object(), "{refused}");
    let allowed = probe_as(&server, &alice_id, "list_messages", json!({"conversation_id": conversation})).await;
    assert_eq!(allowed, json!({"ok": 2}));
}
