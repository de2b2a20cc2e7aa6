//! Three real `plugboard serve` processes on one PostgreSQL database behave as one server:
//! a package installed through one is used on another, settings changed on one apply on
//! another, unloading and loading on one happen on the others, a scheduled task runs once
//! per due time across them, a token revoked on one is refused on another, a person's live
//! feed on one hears of what happens through another, and a server killed mid-stream leaves
//! its partial reply while the others serve on.

use std::time::{Duration, Instant};

use plugboard_store::testing::TestDatabase;
use serde_json::{Value, json};

use super::packages::{ok, package_bundled, text};
use super::{Server, session_client, signed_in_client, start_server_with};

/// A server key shared by the cluster (secret settings sealed on one open on the others).
const CLUSTER_KEY: &str = "5f1d3c0a9b8e7d6c5f4e3d2c1b0a99887766554433221100ffeeddccbbaa9988";

/// Polls `check` every 50 ms until it gives `Some`, for at most `limit`; the value and how
/// long it took.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> (T, Duration) {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return (value, started.elapsed());
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads a server-sent event stream's body until what came so far satisfies `done`, for at
/// most `limit`; returns it.
async fn read_until<B: AsRef<[u8]>>(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin),
    limit: Duration,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let mut read = String::new();
    let deadline = Instant::now() + limit;
    while !done(&read) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, futures_util::StreamExt::next(stream))
            .await
            .unwrap_or_else(|_| panic!("{what}: not within {limit:?}; read: {read}"))
            .unwrap()
            .unwrap();
        read.push_str(&String::from_utf8_lossy(chunk.as_ref()));
    }
    read
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_servers_on_one_database_behave_as_one() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database = TestDatabase::create().await;
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let fixture_url = fixture.base_url();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let start = |index: usize| -> Server {
        start_server_with(
            &dirs[index],
            &[
                ("PLUGBOARD_DATABASE_URL", database.url()),
                ("PLUGBOARD_OPENAI_BASE_URL", &fixture_url),
                ("PLUGBOARD_SECRET_KEY", CLUSTER_KEY),
            ],
        )
    };
    let nodes: Vec<Server> = std::thread::scope(|scope| {
        let started: Vec<_> = (0..3).map(|index| scope.spawn(move || start(index))).collect();
        started.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    let mut nodes: Vec<Option<Server>> = nodes.into_iter().map(Some).collect();
    let base: Vec<String> = nodes.iter().map(|node| node.as_ref().unwrap().base.clone()).collect();
    let url = |node: usize, path: &str| format!("{}{path}", base[node]);

    // One account, signed up on node 1; its session cookie works on every node.
    let admin = signed_in_client(&url(0, "/api/auth/signup"), "admin").await;
    for node in 0..3 {
        let me = get(&admin, url(node, "/api/me")).await;
        assert_eq!(me["user"]["username"], "admin", "node {}: {me}", node + 1);
    }

    // A key trusted through node 1 reaches every node's trust store.
    ok(&dirs[0], &["plugin", "keygen", text(&dirs[0].path().join("team")), "--signer", "Team"]);
    let public = std::fs::read_to_string(dirs[0].path().join("team.pub")).unwrap();
    let response = admin.post(url(0, "/api/trusted-keys")).json(&json!({"key": public})).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let fingerprint = response.json::<Value>().await.unwrap()["key"]["fingerprint"].as_str().unwrap().to_owned();
    let (_, took) = until("the key trusted on node 1 is trusted on node 3", Duration::from_secs(10), || async {
        let keys = get(&admin, url(2, "/api/trusted-keys")).await;
        keys["keys"].as_array()?.iter().any(|key| key["fingerprint"] == fingerprint.as_str()).then_some(())
    })
    .await;
    eprintln!("trusted key on node 1 -> node 3: {took:?}");
    // So does one trusted with the command on node 3's data folder and database.
    ok(&dirs[2], &["plugin", "keygen", text(&dirs[2].path().join("friend")), "--signer", "Friend"]);
    let said =
        ok(&dirs[2], &["plugin", "trust", text(&dirs[2].path().join("friend.pub")), "--database-url", database.url()]);
    let friend = said.split_whitespace().nth(2).unwrap().to_owned();
    until("the key trusted with the command on node 3 is trusted on node 1", Duration::from_secs(10), || async {
        let keys = get(&admin, url(0, "/api/trusted-keys")).await;
        keys["keys"].as_array()?.iter().any(|key| key["fingerprint"] == friend.as_str()).then_some(())
    })
    .await;

    // Installed through node 1, used on node 3.
    let package = package_bundled(&dirs[0], "ticker", "0.1.0", Some(&dirs[0].path().join("team.key")));
    let response = admin
        .post(url(0, "/api/plugins/install"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(&package).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let (_, took) = until("the package installed on node 1 is loaded on node 3", Duration::from_secs(20), || async {
        let entry = get(&admin, url(2, "/api/plugins/ticker")).await;
        (entry["version"] == "0.1.0").then_some(())
    })
    .await;
    eprintln!("install on node 1 -> loaded on node 3: {took:?}");
    let tasks = get(&admin, url(2, "/api/plugins/ticker/tasks")).await;
    assert!(tasks["tasks"].as_array().unwrap().iter().any(|task| task["name"] == "tick"), "{tasks}");

    // Settings changed on node 2 apply on node 1.
    let response = admin
        .put(url(1, "/api/plugins/pii-redactor/config"))
        .json(&json!({"email_replacement": "[mail]"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let (_, took) = until("settings saved on node 2 apply on node 1", Duration::from_secs(10), || async {
        let details = get(&admin, url(0, "/api/plugins/pii-redactor")).await;
        (details["settings"]["email_replacement"] == "[mail]").then_some(())
    })
    .await;
    eprintln!("settings on node 2 -> node 1: {took:?}");
    let turn: Value = admin
        .post(url(0, "/api/chat"))
        .json(&json!({"message": "write to ada@example.com", "model": "openai/echo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["user_message"]["content"], "write to [mail]", "{turn}");

    // A server whose connection to the database is cut misses nothing that changed
    // meanwhile: every listening connection is ended, a setting changes at once, and
    // node 1 applies it all the same.
    database
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .await;
    let response = admin
        .put(url(1, "/api/plugins/pii-redactor/config"))
        .json(&json!({"email_replacement": "[address]"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let (_, took) = until("a change made while node 1 was cut off applies there", Duration::from_secs(10), || async {
        let details = get(&admin, url(0, "/api/plugins/pii-redactor")).await;
        (details["settings"]["email_replacement"] == "[address]").then_some(())
    })
    .await;
    eprintln!("a change while node 1's connection was cut, applied after: {took:?}");

    // Unloading and loading, which the database does not keep, are run by every server.
    let response = admin.post(url(0, "/api/plugins/markdown-export/unload")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    until("unloaded on node 1, unloaded on node 3", Duration::from_secs(10), || async {
        let status = admin.get(url(2, "/api/plugins/markdown-export")).send().await.unwrap().status();
        (status == 404).then_some(())
    })
    .await;
    let response =
        admin.post(url(2, "/api/plugins/load")).json(&json!({"plugin_id": "markdown-export"})).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    until("loaded on node 3, loaded on node 1", Duration::from_secs(10), || async {
        let status = admin.get(url(0, "/api/plugins/markdown-export")).send().await.unwrap().status();
        (status == 200).then_some(())
    })
    .await;

    // The ticker's `tick`, due every second, runs once per due time across the three.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let runs = get(&admin, url(1, "/api/plugins/ticker/tasks/tick/runs?limit=100")).await;
    let mut due: Vec<i64> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|run| run["trigger"] == "schedule" && run["outcome"] == "ok")
        .map(|run| run["scheduled_at_ms"].as_i64().unwrap())
        .collect();
    due.sort_unstable();
    assert!(due.len() >= 3, "the task ran: {runs}");
    let distinct: std::collections::BTreeSet<i64> = due.iter().copied().collect();
    assert_eq!(distinct.len(), due.len(), "each due time ran once: {due:?}");
    let span_s = (due[due.len() - 1] - due[0]) / 1000;
    assert!(due.len() as i64 <= span_s + 2, "at most one run a second across the servers: {due:?}");

    // A token made on node 1 and revoked on node 3 is refused on node 1 at once.
    let created: Value =
        admin.post(url(0, "/api/tokens")).json(&json!({"name": "script"})).send().await.unwrap().json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let token_id = created["api_token"]["id"].as_str().unwrap().to_owned();
    let with_token = |node: usize| reqwest::Client::new().get(url(node, "/api/me")).bearer_auth(&token).send();
    assert_eq!(with_token(0).await.unwrap().status(), 200);
    assert_eq!(with_token(2).await.unwrap().status(), 200);
    let response = admin.delete(url(2, &format!("/api/tokens/{token_id}"))).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(with_token(0).await.unwrap().status(), 401, "revoked on node 3, refused on node 1");

    // A person's live feed on node 1 hears of a turn made through node 3.
    let feed = admin.get(url(0, "/api/events")).send().await.unwrap();
    assert_eq!(feed.status(), 200);
    let mut feed = futures_util::StreamExt::boxed(feed.bytes_stream());
    let turn: Value = admin
        .post(url(2, "/api/chat"))
        .json(&json!({"message": "told on every server", "model": "openai/echo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["reply"]["content"], "Echo: told on every server", "{turn}");
    let heard = read_until(&mut feed, Duration::from_secs(10), "node 1's live feed hears of node 3's reply", |heard| {
        heard.contains("Echo: told on every server")
    })
    .await;
    assert!(heard.contains("event: conversation_created"), "{heard}");
    assert!(heard.contains("told on every server"), "{heard}");
    drop(feed);

    // The plugin events of the whole cluster show on every node: a change on node 3 is
    // seen in node 1's stream, stamped with the node it happened on.
    let events = admin.get(url(0, "/api/plugins/events")).send().await.unwrap();
    assert_eq!(events.status(), 200);
    let mut stream = futures_util::StreamExt::boxed(events.bytes_stream());
    let response = admin.post(url(2, "/api/plugins/word-stats/disable")).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let seen = read_until(&mut stream, Duration::from_secs(10), "node 1 streams node 3's change", |seen| {
        seen.contains("\"disabled\"") && seen.contains("word-stats")
    })
    .await;
    assert!(seen.contains("\"node\""), "events carry their node: {seen}");
    drop(stream);

    // Node 2 is killed (SIGKILL) in the middle of a streamed reply.
    let earlier: Value = admin
        .post(url(1, "/api/chat"))
        .json(&json!({"message": "before the crash", "model": "openai/echo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversation = earlier["conversation_id"].as_str().unwrap().to_owned();
    let response = admin
        .post(url(1, "/api/chat/stream"))
        .json(&json!({"conversation_id": conversation, "message": "during the crash", "model": "openai/slow"}))
        .send()
        .await
        .unwrap();
    let mut body = futures_util::StreamExt::boxed(response.bytes_stream());
    let mut received = String::new();
    while !received.contains("word40") {
        let chunk = futures_util::StreamExt::next(&mut body).await.unwrap().unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    // A page open on node 1 is told when the cut-off reply is marked partial.
    let feed = admin.get(url(0, "/api/events")).send().await.unwrap();
    let mut feed = futures_util::StreamExt::boxed(feed.bytes_stream());
    let mut killed = nodes[1].take().unwrap();
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    drop(body);

    // Nodes 1 and 3 serve on: a new turn, and the acknowledged messages are all there,
    // the cut-off reply kept as partial once the others notice its server is gone.
    let turn: Value = admin
        .post(url(2, "/api/chat"))
        .json(&json!({"message": "after the crash", "model": "openai/echo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["reply"]["content"], "Echo: after the crash", "{turn}");
    let path = format!("/api/conversations/{conversation}/messages");
    let (stored, took) = until("the cut-off reply is marked partial", Duration::from_secs(120), || async {
        let messages = get(&admin, url(0, &path)).await;
        let stored: Vec<(String, String, String)> = messages["messages"]
            .as_array()?
            .iter()
            .map(|m| {
                let field = |name: &str| m[name].as_str().unwrap_or_default().to_owned();
                (field("role"), field("status"), field("content"))
            })
            .collect();
        (stored.get(3)?.1 == "partial").then_some(stored)
    })
    .await;
    eprintln!("the killed node's reply marked partial after {took:?}");
    read_until(&mut feed, Duration::from_secs(15), "node 1's page is told of the partial reply", |heard| {
        heard.contains("event: message_edited") && heard.contains("\"status\":\"partial\"")
    })
    .await;
    drop(feed);
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert_eq!((stored[0].0.as_str(), stored[0].2.as_str()), ("user", "before the crash"));
    assert_eq!(
        (stored[2].0.as_str(), stored[2].1.as_str(), stored[2].2.as_str()),
        ("user", "complete", "during the crash")
    );
    assert!(stored[3].2.starts_with("word1 word2 word3"), "the text saved before the kill is kept: {stored:?}");
    // A fresh login on node 3 still works.
    let again = session_client(&url(2, "/api/auth/login"), "admin", 200).await;
    assert_eq!(get(&again, url(0, "/api/me")).await["user"]["username"], "admin");
}
