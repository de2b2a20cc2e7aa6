//! Slow and greedy clients on raw connections: a head or a body that does not come, a
//! kept-alive connection left idle, more connections than the cap. None of them holds
//! the server; a response that takes long (the live feed) is not cut.

use std::time::Duration;

use futures_util::StreamExt as _;
use plugboard_server::{ConnectionLimits, ServerConfig};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::TestServer;

/// Longer than any limit a test here sets, so a connection still open after it is one
/// the server meant to keep (a guard against hanging, not a measure of speed).
const PATIENCE: Duration = Duration::from_secs(30);

fn config(limits: ConnectionLimits) -> ServerConfig {
    ServerConfig { connections: limits, ..ServerConfig::default() }
}

/// Limits of a minute each, so only the one a test shortens can fire within `PATIENCE`.
fn patient() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..ConnectionLimits::default()
    }
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection; returns what it sent. Fails the test if
/// the connection is still open after `PATIENCE`.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("the server kept the connection open; it sent {received:?}"));
        match read {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Reads one whole response (head, and a body of `Content-Length` bytes); returns the head's
/// status line and the body.
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().unwrap())
                })
                .expect("a response with a Content-Length");
            if received.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&received[end + 4..end + 4 + length]).into_owned();
                return (head.lines().next().unwrap().to_owned(), body);
            }
        }
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer)).await.expect("a response").unwrap();
        assert!(read > 0, "the connection closed before a whole response: {received:?}");
        received.extend_from_slice(&buffer[..read]);
    }
}

const GET_SESSION: &[u8] = b"GET /api/session HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn half_a_head_is_disconnected_after_the_header_timeout() {
    let limits = ConnectionLimits { header_timeout: Duration::from_secs(1), ..patient() };
    let server = TestServer::start_with(&[], config(limits)).await;

    let mut stream = connect(&server).await;
    stream.write_all(b"GET /api/session HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    assert_eq!(read_to_close(&mut stream).await, "", "closed without an answer to half a request");

    // Nothing at all is no better than half.
    let mut silent = connect(&server).await;
    assert_eq!(read_to_close(&mut silent).await, "");

    // A client that sends its head in time is answered.
    let mut prompt = connect(&server).await;
    prompt.write_all(GET_SESSION).await.unwrap();
    let (status, _) = read_response(&mut prompt).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_its_connection_closed() {
    let limits = ConnectionLimits { body_timeout: Duration::from_secs(1), ..patient() };
    let server = TestServer::start_with(&[], config(limits)).await;

    let mut stream = connect(&server).await;
    // 100 bytes announced, 20 sent, then nothing.
    stream
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\": \"alice",
        )
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 408 Request Timeout"), "{answer}");
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{answer}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("body"), "{body}");

    // A body that arrives in time is read as usual (the login fails: there is no alice).
    let (status, body) = crate::send(
        server.client.post(server.url("/api/auth/login")).json(&json!({"username": "alice", "password": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let limits = ConnectionLimits { idle_timeout: Duration::from_secs(1), ..patient() };
    let server = TestServer::start_with(&[], config(limits)).await;

    let mut stream = connect(&server).await;
    // Two requests on one connection: it is kept alive between them...
    for _ in 0..2 {
        stream.write_all(GET_SESSION).await.unwrap();
        let (status, _) = read_response(&mut stream).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
    }
    // ...and closed once idle, long before the minute a head may take.
    assert_eq!(read_to_close(&mut stream).await, "");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_ends() {
    let limits = ConnectionLimits { max_connections: 1, ..patient() };
    let server = TestServer::start_with(&[], config(limits)).await;

    let mut first = connect(&server).await;
    first.write_all(GET_SESSION).await.unwrap();
    assert_eq!(read_response(&mut first).await.0, "HTTP/1.1 200 OK");

    // The kernel takes the second connection into the backlog; the server does not serve
    // it while the first is open.
    let mut second = connect(&server).await;
    second.write_all(GET_SESSION).await.unwrap();
    let mut byte = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(500), second.read(&mut byte)).await;
    assert!(waited.is_err(), "the second connection was answered while the first held the only place");

    drop(first);
    assert_eq!(read_response(&mut second).await.0, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn an_event_stream_outlives_the_idle_and_body_timeouts() {
    let limits = ConnectionLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    };
    let server = TestServer::start_with(&[], config(limits)).await;
    let alice = server.signup("alice").await;
    let response = alice.request(reqwest::Method::GET, "/api/events").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = response.bytes_stream();
    let mut heard = String::new();
    while !heard.contains("event: ready") {
        heard.push_str(&String::from_utf8_lossy(&events.next().await.unwrap().unwrap()));
    }

    // Three times every timeout passes with nothing sent either way.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let conversation = alice.conversation("later").await;
    while !heard.contains(&conversation) {
        let chunk = tokio::time::timeout(PATIENCE, events.next()).await.expect("the stream is still open");
        heard.push_str(&String::from_utf8_lossy(&chunk.expect("the stream is still open").unwrap()));
    }
    assert!(heard.contains("event: conversation_created"), "{heard}");
}

#[tokio::test]
async fn shutdown_ends_an_open_event_stream_after_the_grace_period() {
    let limits = ConnectionLimits { shutdown_grace: Duration::from_secs(1), ..patient() };
    let server = TestServer::start_with(&[], config(limits)).await;
    let alice = server.signup("alice").await;
    let response = alice.request(reqwest::Method::GET, "/api/events").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = response.bytes_stream();

    drop(server._stop);
    // The stream, which never ends by itself, is closed once the grace period is over.
    loop {
        let chunk = tokio::time::timeout(PATIENCE, events.next()).await.expect("the stream to end at shutdown");
        if !matches!(chunk, Some(Ok(_))) {
            break;
        }
    }
}
