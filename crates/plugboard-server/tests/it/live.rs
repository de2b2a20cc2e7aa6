//! The live feed, `GET /api/events`: each person's open pages hear of changes to their
//! own conversations (and nobody else's), including what plugins post, which passes the
//! other plugins' will-be-posted hooks and fires message events like any other message.

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Session, TestServer};

/// A person's event stream, read one server-sent event at a time.
struct Events {
    body: BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl Events {
    /// Opens `session`'s stream and reads its `ready` event: what happens after this
    /// returns is heard.
    async fn open(session: &Session) -> Events {
        let response = session.request(reqwest::Method::GET, "/api/events").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut events = Events { body: response.bytes_stream().boxed(), buffer: String::new() };
        let (name, _) = events.next().await;
        assert_eq!(name, "ready");
        events
    }

    /// The next event's name and data (keep-alive comments skipped). A stream that
    /// stays silent for a minute fails the test instead of hanging it.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(60), self.body.next())
                .await
                .expect("an event within a minute")
                .expect("the stream stays open")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until the server ends the stream; returns the events heard meanwhile. A
    /// stream still open after a minute fails the test.
    async fn until_the_end(&mut self) -> Vec<String> {
        let mut heard = Vec::new();
        loop {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(60), self.body.next())
                .await
                .expect("the stream to end within a minute");
            let Some(chunk) = chunk else { break };
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        heard.extend(
            self.buffer.lines().filter_map(|line| line.strip_prefix("event:")).map(|name| name.trim().to_owned()),
        );
        heard
    }

    /// The next event, which must be `name`; returns its data.
    async fn expect(&mut self, name: &str) -> Value {
        let (got, data) = self.next().await;
        assert_eq!(got, name, "{data}");
        data
    }
}

#[tokio::test]
async fn each_person_hears_of_changes_to_their_own_conversations_only() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let response = reqwest::Client::new().get(server.url("/api/events")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "signed out, nothing is heard");
    let mut heard_by_alice = Events::open(&alice).await;
    let mut heard_by_bob = Events::open(&bob).await;

    let conversation = alice.conversation("Plans").await;
    let created = heard_by_alice.expect("conversation_created").await;
    assert_eq!(
        (created["conversation"]["id"].as_str(), created["type"].as_str()),
        (Some(&*conversation), Some("conversation_created"))
    );
    let (_, turn) = alice.post("/api/chat", json!({"conversation_id": conversation, "message": "hello"})).await;
    let asked = heard_by_alice.expect("message_posted").await;
    assert_eq!(asked["message"]["id"], turn["user_message"]["id"]);
    assert_eq!(asked["message"]["content"], "hello");
    let answered = heard_by_alice.expect("message_posted").await;
    assert_eq!(answered["message"]["id"], turn["reply"]["id"]);
    assert_eq!(
        (answered["message"]["status"].as_str(), answered["message"]["content"].as_str()),
        (Some("complete"), turn["reply"]["content"].as_str())
    );

    let (status, _) = alice.patch(&format!("/api/conversations/{conversation}"), json!({"title": "Saturday"})).await;
    assert_eq!(status, StatusCode::OK);
    let renamed = heard_by_alice.expect("conversation_changed").await;
    assert_eq!(renamed["conversation"]["title"], "Saturday");
    let message = turn["user_message"]["id"].as_str().unwrap();
    alice.patch(&format!("/api/messages/{message}"), json!({"content": "hello again"})).await;
    let edited = heard_by_alice.expect("message_edited").await;
    assert_eq!(
        (edited["message"]["id"].as_str(), edited["message"]["content"].as_str()),
        (Some(message), Some("hello again"))
    );
    assert_eq!(alice.delete(&format!("/api/messages/{message}")).await, StatusCode::NO_CONTENT);
    let deleted = heard_by_alice.expect("message_deleted").await;
    assert_eq!(deleted, json!({"type": "message_deleted", "message_id": message, "conversation_id": conversation}));
    assert_eq!(alice.delete(&format!("/api/conversations/{conversation}")).await, StatusCode::NO_CONTENT);
    let gone = heard_by_alice.expect("conversation_deleted").await;
    assert_eq!(gone["conversation_id"], conversation.as_str());

    // Bob heard none of it: the first thing he hears is his own conversation.
    let his = bob.conversation("Bob's").await;
    let first = heard_by_bob.expect("conversation_created").await;
    assert_eq!(first["conversation"]["id"], his.as_str());
    // And alice does not hear of his.
    let mine = alice.conversation("Alice's second").await;
    let next = heard_by_alice.expect("conversation_created").await;
    assert_eq!(next["conversation"]["id"], mine.as_str());
}

const SECRET: &str = "a webhook secret";

/// Delivers a signed "pull request opened" to the GitHub webhook plugin; returns the
/// status and the plugin's answer.
async fn pull_request_opened(server: &TestServer, title: &str) -> (StatusCode, Value) {
    let payload =
        json!({"action": "opened", "pull_request": {"title": title, "user": {"login": "octocat"}}}).to_string();
    let signature =
        format!("sha256={}", plugboard_sdk::webhook::sign_hmac_sha256(SECRET.as_bytes(), payload.as_bytes()));
    let request = reqwest::Client::new()
        .post(server.url("/api/plugins/github-webhook/http/github"))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-hub-signature-256", signature)
        .body(payload);
    crate::send(request).await
}

#[tokio::test]
async fn a_webhooks_post_passes_will_be_posted_fires_message_sent_and_is_heard_live() {
    let server = TestServer::start(&["github-webhook", "all-hooks"]).await;
    let admin = server.signup("admin").await;
    let bob = server.signup("bob").await;
    let conversation = admin.conversation("Repository news").await;
    let (status, body) = admin
        .put(
            "/api/plugins/github-webhook/config",
            json!({"config": {"secret": SECRET, "conversation_id": conversation}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut heard = Events::open(&admin).await;
    let mut heard_by_bob = Events::open(&bob).await;

    // all-hooks' will-be-posted hook spells "colour" "color": it applies to a plugin's post.
    let (status, answer) = pull_request_opened(&server, "Pick a colour scheme").await;
    assert_eq!((status, answer["message"].as_str()), (StatusCode::OK, Some("posted")), "{answer}");
    let posted = heard.expect("message_posted").await["message"].clone();
    assert_eq!(posted["content"], "New PR: Pick a color scheme by octocat");
    assert_eq!(posted["author"], "plugin:github-webhook");
    assert_eq!(posted["data"]["original"], "New PR: Pick a colour scheme by octocat");
    let (_, messages) = admin.get(&format!("/api/conversations/{conversation}/messages")).await;
    assert_eq!(messages["messages"].as_array().unwrap().len(), 1);
    assert_eq!(messages["messages"][0]["id"], posted["id"]);
    // The change is in the message's trace, like a person's message's.
    let id = posted["id"].as_str().unwrap();
    let (status, trace) = admin.get(&format!("/api/messages/{id}/trace")).await;
    assert_eq!(status, StatusCode::OK, "{trace}");
    let step = &trace["trace"]["trace"]["steps"][0];
    assert_eq!(
        (step["stage"].as_str(), step["plugin"].as_str(), step["outcome"].as_str()),
        (Some("message-will-be-posted"), Some("all-hooks"), Some("rewrote")),
        "{trace}"
    );
    // Other plugins hear message-sent of it.
    let store = server.state.store.clone();
    crate::eventually("all-hooks to hear of the post", async || {
        let log = String::from_utf8(store.kv_get("all-hooks", "event-log").await.unwrap()?).unwrap();
        log.contains(&format!("message-sent {id}\n")).then_some(())
    })
    .await;

    // A post the filter refuses is not stored, and the plugin is told why.
    let (status, answer) = pull_request_opened(&server, "Cheap spam").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("plugin `all-hooks` refused the message: no spam"),
        "{answer}"
    );
    let (_, messages) = admin.get(&format!("/api/conversations/{conversation}/messages")).await;
    assert_eq!(messages["messages"].as_array().unwrap().len(), 1, "the refused post was not stored");

    // A later post is heard next (the refused one never was); bob hears nothing of either.
    pull_request_opened(&server, "Fix the build").await;
    let next = heard.expect("message_posted").await;
    assert_eq!(next["message"]["content"], "New PR: Fix the build by octocat");
    bob.conversation("Bob's").await;
    let first = heard_by_bob.expect("conversation_created").await;
    assert_eq!(first["conversation"]["title"], "Bob's");
}

#[tokio::test]
async fn plugins_reacting_to_each_others_posts_never_hear_themselves_and_stop_at_the_depth_limit() {
    let server = TestServer::start(&["github-webhook", "all-hooks"]).await;
    let admin = server.signup("admin").await;
    let conversation = admin.conversation("Relays").await;
    admin.put("/api/plugins/github-webhook/config", json!({"secret": SECRET, "conversation_id": conversation})).await;
    // all-hooks relays any message that asks for it, asking again; a copy of it does too.
    let folders = tempfile::tempdir().unwrap();
    let copy = folders.path().join("all-hooks-copy");
    plugboard_test_plugins::copy_plugin_folder(&plugboard_test_plugins::plugin_dir("all-hooks"), &copy).unwrap();
    let manifest = std::fs::read_to_string(copy.join("plugin.toml")).unwrap();
    std::fs::write(copy.join("plugin.toml"), manifest.replace("id = \"all-hooks\"", "id = \"all-hooks-copy\""))
        .unwrap();
    let (status, body) = admin.post("/api/plugins/load", json!({"path": copy})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, answer) = pull_request_opened(&server, "please relay").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The webhook's post (depth 0) is relayed by each copy (1), each relay by the other
    // copy (2), and the relays of those are refused (3): never a plugin its own post.
    let store = server.state.store.clone();
    for plugin in ["all-hooks", "all-hooks-copy"] {
        let refusal = crate::eventually("the chain to be refused", async || {
            store.kv_get(plugin, "relay-error").await.unwrap().map(|bytes| String::from_utf8(bytes).unwrap())
        })
        .await;
        assert!(refusal.contains("at most 3 may be chained"), "{refusal}");
    }
    let (_, messages) = admin.get(&format!("/api/conversations/{conversation}/messages")).await;
    let mut posted: Vec<(String, String)> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["author"].as_str().unwrap().to_owned(), m["content"].as_str().unwrap().to_owned()))
        .collect();
    posted.sort();
    let webhook = "New PR: please relay by octocat";
    let expected = [
        ("plugin:all-hooks", format!("relayed: {webhook}")),
        ("plugin:all-hooks", format!("relayed: relayed: {webhook}")),
        ("plugin:all-hooks-copy", format!("relayed: {webhook}")),
        ("plugin:all-hooks-copy", format!("relayed: relayed: {webhook}")),
        ("plugin:github-webhook", webhook.to_owned()),
    ]
    .map(|(author, content)| (author.to_owned(), content));
    assert_eq!(posted, expected);

    // A relay passed the other copy's will-be-posted hook, never its author's own.
    let relay = messages["messages"].as_array().unwrap().iter().find(|m| m["author"] == "plugin:all-hooks").unwrap();
    let (_, trace) = admin.get(&format!("/api/messages/{}/trace", relay["id"].as_str().unwrap())).await;
    let filters: Vec<&str> =
        trace["trace"]["trace"]["steps"].as_array().unwrap().iter().map(|s| s["plugin"].as_str().unwrap()).collect();
    assert_eq!(filters, ["all-hooks-copy"], "{trace}");
    let log = String::from_utf8(store.kv_get("all-hooks", "event-log").await.unwrap().unwrap()).unwrap();
    assert!(
        !log.contains(&format!("message-sent {}", relay["id"].as_str().unwrap())),
        "all-hooks never hears its own post: {log}"
    );
}

#[tokio::test]
async fn a_stream_ends_once_its_session_no_longer_signs_in() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let mut heard = Events::open(&alice).await;
    let (status, _) = alice.post("/api/auth/logout", json!({})).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(heard.until_the_end().await, Vec::<String>::new(), "it ended with nothing more told");
    let response = alice.request(reqwest::Method::GET, "/api/events").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "and cannot be opened again");
}
