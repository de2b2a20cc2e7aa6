//! A plugin tool called over MCP (`tools/call` on `/mcp`, in a session, answered as an
//! event stream as rmcp answers by default) against the same call through
//! `/api/plugins/execute`: one server with the `calculator`, the same API token, 8 clients
//! looping on one call each (`6*7`), rounds alternating between the two ways so drift on a
//! shared machine hits both alike. Printed: each way's median latency and calls per second
//! (medians of the rounds) and their ratio.
//!
//! `cargo bench -p plugboard-server --bench mcp_tools` (`-- --rounds 5 --seconds 5
//! --clients 8` to change the defaults). `cargo test` runs it once, briefly, to check that
//! it works; those figures are not measurements.

#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark program")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plugboard_host::RuntimeConfig;
use plugboard_registry::RegistryConfig;
use plugboard_server::AppBuilder;
use plugboard_store::{SqliteStore, Store};
use serde_json::{Value, json};

struct Options {
    rounds: usize,
    seconds: u64,
    clients: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let mut options = Options { rounds: 5, seconds: 5, clients: 8 };
    if !args.iter().any(|arg| arg == "--bench") {
        // Run by `cargo test`: a check that the benchmark works, not a measurement.
        (options.rounds, options.seconds, options.clients) = (1, 1, 2);
    }
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--rounds" => options.rounds = pair[1].parse().unwrap(),
            "--seconds" => options.seconds = pair[1].parse().unwrap(),
            "--clients" => options.clients = pair[1].parse().unwrap(),
            _ => {}
        }
    }
    options
}

/// Starts a server with the calculator and no per-user limit; its base URL and an API token.
async fn server(data: &Path) -> (String, String) {
    let folder = data.join("plugins");
    std::fs::create_dir_all(&folder).unwrap();
    plugboard_test_plugins::copy_plugin_folder(
        &plugboard_test_plugins::plugin_dir("calculator"),
        &folder.join("calculator"),
    )
    .unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.join("plugboard.db")).await.unwrap());
    let state = AppBuilder::new(store)
        .runtime_config(RuntimeConfig { cache_dir: Some(data.join("cache")), ..RuntimeConfig::default() })
        .registry_config(RegistryConfig { directories: vec![folder], ..RegistryConfig::default() })
        .user_calls_per_minute(0)
        .build()
        .await
        .unwrap();
    let report = state.registry.start().await;
    assert_eq!(report.loaded.len(), 1, "{:?}", report.failed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(plugboard_server::serve(listener, state, std::future::pending()));
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"username": "bench", "password": "benchmark password"}))
        .send()
        .await
        .unwrap();
    let cookie = signup.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let created: Value = client
        .post(format!("{base}/api/tokens"))
        .header("cookie", cookie)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (base, created["token"].as_str().unwrap().to_owned())
}

/// How a client calls the tool.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Execute,
    Mcp,
}

/// One client's connection: for MCP, a session opened once.
struct Caller {
    client: reqwest::Client,
    base: String,
    token: String,
    session: Option<String>,
}

impl Caller {
    async fn new(base: &str, token: &str, way: Way) -> Caller {
        let mut caller =
            Caller { client: reqwest::Client::new(), base: base.to_owned(), token: token.to_owned(), session: None };
        if way == Way::Mcp {
            let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}});
            let response = caller.mcp(&initialize).await;
            caller.session = Some(response.headers()["mcp-session-id"].to_str().unwrap().to_owned());
            response.bytes().await.unwrap();
            caller.mcp(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        }
        caller
    }

    async fn mcp(&self, message: &Value) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/mcp", self.base))
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .json(message);
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session).header("mcp-protocol-version", "2025-11-25");
        }
        request.send().await.unwrap()
    }

    /// One call of the calculator; checks the answer.
    async fn call(&self, way: Way) {
        let text = match way {
            Way::Execute => self
                .client
                .post(format!("{}/api/plugins/execute", self.base))
                .bearer_auth(&self.token)
                .json(&json!({"plugin_id": "calculator", "method": "calculate", "kwargs": {"expression": "6*7"}}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            Way::Mcp => {
                let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                  "params": {"name": "calculator__calculate", "arguments": {"expression": "6*7"}}});
                self.mcp(&call).await.text().await.unwrap()
            }
        };
        assert!(text.contains(r#""42""#), "{text}");
    }
}

/// Runs `clients` loops of one call for `seconds`; calls per second and each call's latency.
async fn round(base: &str, token: &str, way: Way, clients: usize, seconds: u64) -> (f64, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let caller = Caller::new(base, token, way).await;
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                caller.call(way).await;
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    (latencies.len() as f64 / elapsed.as_secs_f64(), latencies)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let options = options();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempfile::tempdir().unwrap();
    let (base, token) = server(data.path()).await;
    // Warm both ways (the plugin's instances, connections, the database).
    for way in [Way::Execute, Way::Mcp] {
        round(&base, &token, way, options.clients, 1).await;
    }
    let mut figures = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for n in 0..options.rounds {
        for (index, way) in [Way::Execute, Way::Mcp].into_iter().enumerate() {
            let (rate, mut latencies) = round(&base, &token, way, options.clients, options.seconds).await;
            assert!(!latencies.is_empty(), "no call answered in {} s", options.seconds);
            latencies.sort();
            let latency = latencies[latencies.len() / 2].as_secs_f64() * 1e6;
            figures[index].0.push(rate);
            figures[index].1.push(latency);
            let name = if way == Way::Execute { "/api/plugins/execute" } else { "/mcp tools/call" };
            println!("round {}: {name} {rate:.0} calls/s, median {latency:.0} µs", n + 1);
        }
    }
    let [(mut execute_rates, mut execute_latencies), (mut mcp_rates, mut mcp_latencies)] = figures;
    let (execute_rate, mcp_rate) = (median(&mut execute_rates), median(&mut mcp_rates));
    let (execute_latency, mcp_latency) = (median(&mut execute_latencies), median(&mut mcp_latencies));
    println!(
        "calculator 6*7, {} clients, medians of {} rounds: /api/plugins/execute {execute_rate:.0} calls/s, \
         {execute_latency:.0} µs; /mcp tools/call {mcp_rate:.0} calls/s, {mcp_latency:.0} µs; MCP/execute \
         throughput ratio {:.2}, latency +{:.0} µs",
        options.clients,
        options.rounds,
        mcp_rate / execute_rate,
        mcp_latency - execute_latency
    );
}
