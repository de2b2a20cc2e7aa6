//! What one request middleware plugin adds to an API request: two servers in one process,
//! one with no plugin and one with the `noop-middleware` fixture (a `before-request` hook
//! that keeps every request), under the same load as the chat load benchmark (8 clients
//! looping on one request each), here `GET /api/me` (a session lookup and a small JSON
//! answer: the cheapest authenticated request, so the hook's cost is not hidden in a
//! bigger one). Rounds alternate between the servers so drift on a shared machine hits
//! both alike. Printed: each server's median latency, requests per second and CPU time
//! per request (medians of the rounds), and the differences and ratio.
//!
//! `cargo bench -p plugboard-server --bench request_middleware` (`-- --rounds 5 --seconds
//! 5 --clients 8` to change the defaults). `cargo test` runs it once, briefly, to check
//! that it works (the middleware server's hook is called on every request); those figures
//! are not measurements.

#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark program")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plugboard_host::RuntimeConfig;
use plugboard_registry::RegistryConfig;
use plugboard_server::AppBuilder;
use plugboard_store::{SqliteStore, Store};
use serde_json::json;

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

/// Starts a server with the plugins named (fixtures or bundled); returns its base URL
/// and an administrator's session cookie.
async fn server(data: &Path, plugins: &[&str], cache: &Path) -> (String, String) {
    let folder = data.join("plugins");
    std::fs::create_dir_all(&folder).unwrap();
    for name in plugins {
        plugboard_test_plugins::copy_plugin_folder(&plugboard_test_plugins::plugin_dir(name), &folder.join(name))
            .unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.join("plugboard.db")).await.unwrap());
    let state = AppBuilder::new(store)
        .runtime_config(RuntimeConfig { cache_dir: Some(cache.to_owned()), ..RuntimeConfig::default() })
        .registry_config(RegistryConfig { directories: vec![folder], ..RegistryConfig::default() })
        .build()
        .await
        .unwrap();
    let report = state.registry.start().await;
    assert_eq!(report.loaded.len(), plugins.len(), "{:?}", report.failed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(plugboard_server::serve(listener, state, std::future::pending()));
    let signup = reqwest::Client::new()
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"username": "bench", "password": "benchmark password"}))
        .send()
        .await
        .unwrap();
    let cookie = signup.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    (base, cookie)
}

/// The `before-request` calls `/metrics` counts for `noop-middleware` (0 when none).
async fn hook_calls(base: &str, cookie: &str) -> u64 {
    let metrics = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = "plugboard_plugin_calls_total{plugin=\"noop-middleware\",hook=\"before-request\"} ";
    metrics.lines().find_map(|line| line.strip_prefix(series)).map_or(0, |count| count.trim().parse().unwrap())
}

/// Runs `clients` loops of `GET /api/me` for `seconds`; returns requests per second and
/// each request's latency.
async fn round(base: &str, cookie: &str, clients: usize, seconds: u64) -> (f64, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, cookie, stop) = (client.clone(), format!("{base}/api/me"), cookie.to_owned(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let response = client.get(&url).header("cookie", &cookie).send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.text().await.unwrap());
                response.bytes().await.unwrap();
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

/// CPU time of this process so far, from `/proc/self/stat` (Linux's 100 Hz ticks).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_micros(latencies: &mut [Duration]) -> f64 {
    latencies.sort();
    latencies[latencies.len() / 2].as_secs_f64() * 1e6
}

/// One server's figures over the rounds.
#[derive(Default)]
struct Figures {
    rates: Vec<f64>,
    /// Each round's median latency, µs.
    latencies: Vec<f64>,
    /// Each round's CPU per request, µs.
    cpu: Vec<f64>,
}

impl Figures {
    async fn measure(&mut self, server: &(String, String), clients: usize, seconds: u64) -> f64 {
        let before = process_cpu();
        let (rate, mut latencies) = round(&server.0, &server.1, clients, seconds).await;
        if let (Some(before), Some(after)) = (before, process_cpu()) {
            self.cpu.push((after - before).as_secs_f64() * 1e6 / latencies.len().max(1) as f64);
        }
        assert!(!latencies.is_empty(), "a server answered no request in {seconds} s");
        self.latencies.push(median_micros(&mut latencies));
        self.rates.push(rate);
        rate
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cache = tempfile::tempdir().unwrap();
    let (plain_dir, hooked_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = server(plain_dir.path(), &[], cache.path()).await;
    let hooked = server(hooked_dir.path(), &["noop-middleware"], cache.path()).await;
    // Warm both (instances, connections, the database), and check the hook runs on
    // every request of the one server and on none of the other.
    round(&plain.0, &plain.1, options.clients, 1).await;
    let calls_before = hook_calls(&hooked.0, &hooked.1).await;
    let (_, warm) = round(&hooked.0, &hooked.1, options.clients, 1).await;
    let calls = hook_calls(&hooked.0, &hooked.1).await - calls_before;
    // The /metrics request itself passes no middleware; each GET /api/me is one call.
    assert_eq!(calls, warm.len() as u64, "the no-op hook ran {calls} times for {} requests", warm.len());
    assert_eq!(hook_calls(&plain.0, &plain.1).await, 0);

    let (mut without, mut with) = (Figures::default(), Figures::default());
    for n in 0..options.rounds {
        let a = without.measure(&plain, options.clients, options.seconds).await;
        let b = with.measure(&hooked, options.clients, options.seconds).await;
        println!(
            "round {}: no middleware {a:.0} req/s (median {:.0} µs), one no-op middleware {b:.0} req/s (median {:.0} µs)",
            n + 1,
            without.latencies[n],
            with.latencies[n]
        );
    }
    // Each round's difference pairs two measurements taken seconds apart, so drift on a
    // shared machine cancels out of it; their median is the steadier figure.
    let paired = |a: &[f64], b: &[f64]| median(&mut b.iter().zip(a).map(|(b, a)| b - a).collect::<Vec<_>>());
    let latency_added = paired(&without.latencies, &with.latencies);
    let cpu_added = (!without.cpu.is_empty() && !with.cpu.is_empty()).then(|| paired(&without.cpu, &with.cpu));
    let (rate_without, rate_with) = (median(&mut without.rates), median(&mut with.rates));
    let (latency_without, latency_with) = (median(&mut without.latencies), median(&mut with.latencies));
    println!(
        "GET /api/me, {} clients: median latency {latency_without:.1} µs without, {latency_with:.1} µs with one no-op before-request (+{:.1} µs); throughput {rate_without:.0} and {rate_with:.0} req/s, ratio {:.3}",
        options.clients,
        latency_with - latency_without,
        rate_with / rate_without
    );
    if let Some(cpu_added) = cpu_added {
        let (cpu_without, cpu_with) = (median(&mut without.cpu), median(&mut with.cpu));
        println!(
            "CPU per request (whole process, median of rounds): {cpu_without:.1} µs without, {cpu_with:.1} µs with (+{:.1} µs)",
            cpu_with - cpu_without
        );
        println!(
            "median of the rounds' differences: latency +{latency_added:.1} µs, CPU per request +{cpu_added:.1} µs"
        );
    }
}
