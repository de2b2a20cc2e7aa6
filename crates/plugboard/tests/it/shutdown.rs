//! SIGTERM: the server stops accepting at once, lets the streams in flight
//! (`/api/chat/stream` and `/v1/chat/completions`) finish within its shutdown grace and
//! exits 0; a stream still running at the end of the grace is cut off and its reply kept,
//! `partial`, before the process exits.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use plugboard_store::{ChatStore, MessageStatus, Role, SqliteStore};
use serde_json::json;

use crate::{Server, signed_in_client, start_server_with};

/// Sends SIGTERM to the server's process.
fn terminate(server: &Server) {
    let status = std::process::Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -TERM failed");
}

/// Waits for the server's process to exit, at most `within`; its exit status.
fn exit_within(server: &mut Server, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit within {within:?} of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a slow streamed turn (300 words, 20 ms apart) and reads until `word` arrived;
/// the rest of the stream and what was read.
async fn start_slow_stream(
    client: &reqwest::Client,
    base: &str,
    word: &str,
) -> (futures_util::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>, String) {
    let response = client
        .post(format!("{base}/api/chat/stream"))
        .json(&json!({"message": "tell me a long story", "model": "openai/slow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream().map(|chunk| chunk.map(|bytes| bytes.to_vec())).boxed();
    let mut received = String::new();
    while !received.contains(word) {
        let chunk = body.next().await.unwrap().unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    (body, received)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_refuses_new_connections_and_lets_a_running_stream_finish() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base_url = fixture.base_url();
    let mut server = start_server_with(
        &dir,
        &[("PLUGBOARD_OPENAI_BASE_URL", base_url.as_str()), ("PLUGBOARD_SHUTDOWN_GRACE", "60")],
    );
    let client = signed_in_client(&format!("{}/api/auth/signup", server.base), "patient").await;
    let ready = reqwest::get(format!("{}/readyz", server.base)).await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    let (mut body, mut received) = start_slow_stream(&client, &server.base, "word20").await;
    // An OpenAI-compatible stream in flight too.
    let openai = client
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&json!({"model": "openai/slow", "stream": true, "messages": [{"role": "user", "content": "go on"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(openai.status(), 200);
    let mut openai = openai.bytes_stream().boxed();
    let mut openai_received = String::new();
    while !openai_received.contains("word20") {
        openai_received.push_str(&String::from_utf8_lossy(&openai.next().await.unwrap().unwrap()));
    }

    let signalled = Instant::now();
    terminate(&server);
    // The listener closes at once: a new client is refused (not left in a backlog).
    let address = server.base.trim_start_matches("http://").to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpStream::connect(&address).await {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => break,
            // Taken into the backlog just before the listener closed, then reset with it.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("connecting failed otherwise than refused: {error}"),
            Ok(_) => {}
        }
        assert!(Instant::now() < deadline, "new connections were still accepted 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(received.len() < 2000, "the stream was still running when new connections were refused");

    // The stream in flight runs to its end.
    while let Some(chunk) = body.next().await {
        received.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(received.contains("word300"), "the whole reply was streamed: {received}");
    assert!(received.contains("event: done"), "the turn ended normally: {received}");
    while let Some(chunk) = openai.next().await {
        openai_received.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(openai_received.contains("word300"), "{openai_received}");
    assert!(openai_received.trim_end().ends_with("data: [DONE]"), "{openai_received}");
    let status = exit_within(&mut server, Duration::from_secs(60).saturating_sub(signalled.elapsed()));
    assert!(status.success(), "{status:?}");

    let store = SqliteStore::open(&dir.path().join("plugboard-data/plugboard.db")).await.unwrap();
    let reply = last_reply(&store).await;
    assert_eq!(reply.status, MessageStatus::Complete);
    assert!(reply.content.ends_with("word300"), "{}", reply.content);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_still_running_when_the_grace_ends_is_kept_partial() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base_url = fixture.base_url();
    let mut server =
        start_server_with(&dir, &[("PLUGBOARD_OPENAI_BASE_URL", base_url.as_str()), ("PLUGBOARD_SHUTDOWN_GRACE", "1")]);
    let client = signed_in_client(&format!("{}/api/auth/signup", server.base), "hurried").await;
    let (mut body, mut received) = start_slow_stream(&client, &server.base, "word20").await;
    terminate(&server);
    // The slow reply takes 6 s; the grace is 1 s, then the stream is cut.
    while let Some(Ok(chunk)) = body.next().await {
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!received.contains("event: done"), "the turn was cut off: {received}");
    let status = exit_within(&mut server, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");

    // The process stored the cut-off reply before it exited: nothing is left `streaming`
    // for a later sweep to find.
    let store = SqliteStore::open(&dir.path().join("plugboard-data/plugboard.db")).await.unwrap();
    let reply = last_reply(&store).await;
    assert_eq!(reply.status, MessageStatus::Partial, "{reply:?}");
    assert!(reply.content.starts_with("word1 word2 word3 word4 word5"), "{}", reply.content);
    assert!(!reply.content.contains("word300"), "{}", reply.content);
}

/// The newest assistant message of the only user's only conversation.
async fn last_reply(store: &SqliteStore) -> plugboard_store::Message {
    let user = store.users().await.unwrap().remove(0);
    let page = store.list_conversations(&user.id, None, None, 10).await.unwrap();
    let messages = store.list_messages(&page.conversations[0].id).await.unwrap();
    messages.into_iter().rev().find(|message| message.role == Role::Assistant).unwrap()
}
