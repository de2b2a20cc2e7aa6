//! Slow clients against the server binary: its resident memory (`VmRSS` of
//! `/proc/<pid>/status`) before, during and after many connections that each announce a
//! 2 MB body, send half of it and stall.
//!
//! ```sh
//! cargo bench -p plugboard --bench slow_clients [-- --connections 200 --body-timeout 10s]
//! cargo test -p plugboard --bench slow_clients    # the same on the dev build
//! ```
//!
//! It starts the `plugboard` binary of the bench's own build (or `PLUGBOARD_BIN`) on a
//! fresh data folder with no model, signs one person up, and runs two attacks in turn:
//!
//! - `login`: unauthenticated `POST /api/auth/login` announcing 2,000,000 bytes. The login
//!   takes at most 16 KiB, so each is refused at once with 413.
//! - `chat`, three rounds: the signed-in person's `POST /api/chat` announcing 500,000
//!   bytes, under the 512 KiB a turn may have: the server reads what comes and holds it
//!   until the body timeout answers 408.
//!
//! For each it prints the RSS before, the highest sample during (every 100 ms from the
//! first connection until every one is closed), and after (two seconds after the last
//! close), with how the server answered and how long it held the connections. Linux only.

#![allow(clippy::print_stdout, clippy::unwrap_used, reason = "a benchmark's report, on the happy path")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What each login announces, as in the report that started this.
const ANNOUNCED: usize = 2_000_000;

/// What each chat turn announces: just under the 512 KiB a turn's body may have, so the
/// server reads what comes and holds it until the body timeout.
const CHAT_ANNOUNCED: usize = 500_000;

fn main() {
    let mut connections = 200;
    let mut body_timeout = "10s".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--connections" => connections = args.next().and_then(|n| n.parse().ok()).expect("--connections N"),
            "--body-timeout" => body_timeout = args.next().expect("--body-timeout 10s"),
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run(connections, &body_timeout));
}

struct Server {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
        let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024.0
    }
}

async fn start(body_timeout: &str) -> Server {
    let binary =
        std::env::var_os("PLUGBOARD_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_plugboard")), PathBuf::from);
    let data = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let child = Command::new(&binary)
        .args(["serve", "--no-model-download", "--addr", &addr.to_string(), "--body-timeout", body_timeout])
        .arg("--data-dir")
        .arg(data.path())
        .env("PLUGBOARD_LOG", "warn")
        // Nothing listens there: no Ollama is probed for long.
        .env("PLUGBOARD_OLLAMA_URL", "http://127.0.0.1:9/v1")
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
    let server = Server { child, addr, _data: data };
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("http://{addr}/api/session")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(120), "the server did not start within two minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

/// One stalled request: its head and half its body (`announced` bytes), then nothing; returns the answer's
/// status line (if one came) once the server has closed the connection.
async fn stall(addr: SocketAddr, head: String, announced: usize) -> Option<String> {
    static BYTES: [u8; ANNOUNCED / 2] = [b'a'; ANNOUNCED / 2];
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream.write_all(head.as_bytes()).await.ok()?;
    // Refused at once, the server stops reading and this fails; that is the point.
    let _ = stream.write_all(&BYTES[..announced / 2]).await;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(read) = stream.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&answer).lines().next().map(str::to_owned)
}

async fn attack(server: &Server, name: &str, connections: usize, head: &str, announced: usize) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = server.rss_mib();
    let started = Instant::now();
    let tasks: Vec<_> =
        (0..connections).map(|_| tokio::spawn(stall(server.addr, head.to_owned(), announced))).collect();
    let mut peak = before;
    while !tasks.iter().all(tokio::task::JoinHandle::is_finished) {
        peak = peak.max(server.rss_mib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = started.elapsed();
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    for task in tasks {
        let answer = task.await.unwrap().unwrap_or_else(|| "(closed without an answer)".to_owned());
        *answers.entry(answer).or_default() += 1;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_mib();
    println!(
        "| {name} | {connections} | {before:.0} MiB | {peak:.0} MiB | {after:.0} MiB | {:.1} s | {} |",
        held.as_secs_f64(),
        answers.iter().map(|(answer, count)| format!("{count}× {answer}")).collect::<Vec<_>>().join(", ")
    );
}

async fn run(connections: usize, body_timeout: &str) {
    let server = start(body_timeout).await;
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("http://{}/api/auth/signup", server.addr))
        .json(&serde_json::json!({"username": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert!(signup.status().is_success(), "{}", signup.text().await.unwrap());
    let cookie = signup.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    println!("body timeout {body_timeout}; VmRSS of the server process");
    println!();
    println!("| attack | connections | before | peak during | 2 s after the last close | connections held | answers |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    let login = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {ANNOUNCED}\r\n\r\n",
        server.addr
    );
    attack(&server, "login", connections, &login, ANNOUNCED).await;
    let chat = format!(
        "POST /api/chat HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nContent-Type: application/json\r\n\
         Content-Length: {CHAT_ANNOUNCED}\r\n\r\n",
        server.addr
    );
    // Three rounds: whether memory the first freed is reused or added to.
    for round in 1..=3 {
        attack(&server, &format!("chat, round {round}"), connections, &chat, CHAT_ANNOUNCED).await;
    }
}
