//! Load benchmark of `POST /api/chat`: requests per second with no filter plugin and with
//! ten (copies of `example-tagger`, each with its own id), against the fixture model, in
//! one run. Rounds alternate between the two servers so drift on a shared machine hits
//! both alike; the medians of the rounds and their ratio are printed, with each server's
//! request latency and the process's CPU time per request.
//!
//! `cargo bench -p plugboard-server --bench chat_load` (`-- --rounds 5 --seconds 5
//! --clients 8 --turns 1` to change the defaults; `--turns N` has each client go on with
//! its conversation for N turns before it starts a new one, so a turn also sends the
//! history so far, and conversation starts are fewer; `--plugin pii-redactor` copies another
//! bundled plugin ten times instead of the tagger). `-- --only 10` runs one server alone (one
//! warm-up second, then one round) and prints its process id when the round starts, for
//! `perf stat -p` or `perf record -p` on that server's load alone.
//!
//! `cargo test` runs it too, without `--bench`: one short round of each server, so the
//! test command checks that the benchmark still starts its servers, that every filter
//! of the filtered one runs on a turn, and that both serve requests.

#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark program")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plugboard_fixture_llm::FixtureLlm;
use plugboard_host::RuntimeConfig;
use plugboard_openai::{OpenAiConfig, OpenAiProvider};
use plugboard_registry::RegistryConfig;
use plugboard_server::AppBuilder;
use plugboard_store::{SqliteStore, Store};
use serde_json::json;

struct Options {
    rounds: usize,
    seconds: u64,
    clients: usize,
    /// Turns per conversation: each client starts a new conversation after this many.
    turns: usize,
    /// Run only a server with this many filters, for profiling.
    only: Option<usize>,
    /// The bundled plugin the filtered server runs copies of.
    plugin: String,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let mut options =
        Options { rounds: 5, seconds: 5, clients: 8, turns: 1, only: None, plugin: "example-tagger".into() };
    if !args.iter().any(|arg| arg == "--bench") {
        // Run by `cargo test`: a check that the benchmark works, not a measurement.
        (options.rounds, options.seconds, options.clients) = (1, 1, 2);
    }
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--rounds" => options.rounds = pair[1].parse().unwrap(),
            "--seconds" => options.seconds = pair[1].parse().unwrap(),
            "--clients" => options.clients = pair[1].parse().unwrap(),
            "--turns" => options.turns = pair[1].parse::<usize>().unwrap().max(1),
            "--only" => options.only = Some(pair[1].parse().unwrap()),
            "--plugin" => options.plugin = pair[1].clone(),
            _ => {}
        }
    }
    options
}

/// Starts a server with `filters` copies of the bundled plugin `plugin`, each with its own
/// id; returns its base URL and a session cookie.
async fn server(data: &Path, plugin: &str, filters: usize, fixture: &FixtureLlm, cache: &Path) -> (String, String) {
    let plugins = data.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for n in 0..filters {
        let folder = plugins.join(format!("{plugin}-{n:02}"));
        plugboard_test_plugins::copy_plugin_folder(&plugboard_test_plugins::plugin_dir(plugin), &folder).unwrap();
        let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
        let id = format!("id = \"{plugin}\"");
        assert!(manifest.contains(&id), "{plugin}'s manifest has no line `{id}`");
        // Each copy runs as a filter, a demonstration that ships disabled (the tagger) too.
        let manifest = manifest
            .replace(&id, &format!("id = \"{plugin}-{n:02}\""))
            .replace("enabled_by_default = false", "enabled_by_default = true");
        std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.join("plugboard.db")).await.unwrap());
    let tls = plugboard_host::tls_config().unwrap();
    let model = OpenAiProvider::new(OpenAiConfig::new("fixture", fixture.base_url()), tls).unwrap();
    let state = AppBuilder::new(store)
        .runtime_config(RuntimeConfig { cache_dir: Some(cache.to_owned()), ..RuntimeConfig::default() })
        .registry_config(RegistryConfig { directories: vec![plugins], ..RegistryConfig::default() })
        .provider(Arc::new(model))
        // The same short reply whatever the prompt: the filters' rewrites do not change the
        // model's work, so the difference between the servers is the plugins' cost.
        .default_model(Some("fixture/fixed".into()))
        .build()
        .await
        .unwrap();
    let report = state.registry.start().await;
    assert_eq!(report.loaded.len(), filters, "{:?}", report.failed);
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

/// Makes one chat turn and checks from its trace that `filters` different plugins saw
/// the prompt, so the figures are never those of a server whose plugins did not run.
async fn check_filters_run(base: &str, cookie: &str, filters: usize) {
    let client = reqwest::Client::new();
    let prompt = json!({"message": "a short benchmark prompt"});
    let turn = answer(client.post(format!("{base}/api/chat")).json(&prompt), cookie).await;
    let reply = turn["reply"]["id"].as_str().unwrap_or_else(|| panic!("no reply: {turn}"));
    let trace = answer(client.get(format!("{base}/api/messages/{reply}/trace")), cookie).await;
    let no_steps = Vec::new();
    let steps = trace["trace"]["trace"]["steps"].as_array().unwrap_or(&no_steps);
    let mut plugins: Vec<&str> = steps
        .iter()
        .filter(|step| step["stage"] == "before-prompt")
        .filter_map(|step| step["plugin"].as_str())
        .collect();
    plugins.sort_unstable();
    plugins.dedup();
    assert_eq!(plugins.len(), filters, "the prompt passed through {plugins:?}: {trace}");
}

/// Sends `request` as the user of session `cookie`; returns the JSON answer.
async fn answer(request: reqwest::RequestBuilder, cookie: &str) -> serde_json::Value {
    request.header("cookie", cookie).send().await.unwrap().json().await.unwrap()
}

/// Runs `clients` loops of `POST /api/chat` for `seconds`, each going on with its
/// conversation for `turns` turns before it starts a new one; returns requests per second
/// and each request's latency.
async fn round(base: &str, cookie: &str, clients: usize, turns: usize, seconds: u64) -> (f64, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, cookie, stop) = (client.clone(), format!("{base}/api/chat"), cookie.to_owned(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut conversation: Option<String> = None;
            while !stop.load(Ordering::Relaxed) {
                if latencies.len() % turns == 0 {
                    conversation = None;
                }
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("cookie", &cookie)
                    .json(&json!({"conversation_id": conversation, "message": "a short benchmark prompt"}))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "{}", response.text().await.unwrap());
                let body: serde_json::Value = response.json().await.unwrap();
                latencies.push(sent.elapsed());
                conversation = body["conversation_id"].as_str().map(str::to_owned);
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

/// `p50 … p99 … max` of `latencies`, in milliseconds.
fn percentiles(latencies: &mut [Duration]) -> String {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", at(0.5), at(0.99), at(1.0))
}

/// CPU time of this process so far (every thread: both servers, the fixture model and
/// the load generator), from `/proc/self/stat` in Linux's 100 Hz clock ticks; `None`
/// elsewhere.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // user and system time are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU milliseconds per request of a round that served `requests` and used `cpu`.
fn cpu_per_request(cpu: Option<Duration>, requests: usize) -> Option<f64> {
    Some(cpu?.as_secs_f64() * 1000.0 / requests.max(1) as f64)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let options = options();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = FixtureLlm::start().await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    if let Some(filters) = options.only {
        let dir = tempfile::tempdir().unwrap();
        let (base, cookie) = server(dir.path(), &options.plugin, filters, &fixture, cache.path()).await;
        check_filters_run(&base, &cookie, filters).await;
        round(&base, &cookie, options.clients, options.turns, 1).await;
        println!("round starts: pid {}", std::process::id());
        let (rate, mut latencies) = round(&base, &cookie, options.clients, options.turns, options.seconds).await;
        println!("round over: {filters} filters {rate:.0} req/s, {}", percentiles(&mut latencies));
        return;
    }
    let (plain_dir, filtered_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = server(plain_dir.path(), &options.plugin, 0, &fixture, cache.path()).await;
    let filtered = server(filtered_dir.path(), &options.plugin, 10, &fixture, cache.path()).await;
    check_filters_run(&plain.0, &plain.1, 0).await;
    check_filters_run(&filtered.0, &filtered.1, 10).await;
    // Warm both (instances, connections, the database).
    round(&plain.0, &plain.1, options.clients, options.turns, 1).await;
    round(&filtered.0, &filtered.1, options.clients, options.turns, 1).await;
    let (mut zero, mut ten) = (Vec::new(), Vec::new());
    let (mut zero_latencies, mut ten_latencies) = (Vec::new(), Vec::new());
    let (mut zero_cpu, mut ten_cpu) = (Vec::new(), Vec::new());
    for n in 0..options.rounds {
        let before = process_cpu();
        let (a, latencies) = round(&plain.0, &plain.1, options.clients, options.turns, options.seconds).await;
        let between = process_cpu();
        zero_cpu.extend(cpu_per_request(between.zip(before).map(|(b, a)| b - a), latencies.len()));
        zero_latencies.extend(latencies);
        let (b, latencies) = round(&filtered.0, &filtered.1, options.clients, options.turns, options.seconds).await;
        ten_cpu.extend(cpu_per_request(process_cpu().zip(between).map(|(b, a)| b - a), latencies.len()));
        ten_latencies.extend(latencies);
        println!("round {}: 0 filters {a:.0} req/s, 10 filters {b:.0} req/s", n + 1);
        assert!(a > 0.0 && b > 0.0, "a server answered no request in {} s", options.seconds);
        zero.push(a);
        ten.push(b);
    }
    println!("latency, 0 filters: {}", percentiles(&mut zero_latencies));
    println!("latency, 10 filters: {}", percentiles(&mut ten_latencies));
    // CPU per request is the cost itself, whether or not the machine's cores were the
    // limit (the whole process: the fixture model and the load generator count in both).
    if !zero_cpu.is_empty() && !ten_cpu.is_empty() {
        let (zero_cpu, ten_cpu) = (median(&mut zero_cpu), median(&mut ten_cpu));
        println!(
            "CPU per request (median of rounds): 0 filters {zero_cpu:.2} ms, 10 filters {ten_cpu:.2} ms, ratio {:.3}",
            zero_cpu / ten_cpu
        );
    }
    // Each round's ratio pairs two measurements taken seconds apart, so drift on a shared
    // machine cancels out of it; their median is the steadier figure.
    let mut ratios: Vec<f64> = zero.iter().zip(&ten).map(|(a, b)| b / a).collect();
    let (zero, ten) = (median(&mut zero), median(&mut ten));
    println!(
        "POST /api/chat, {} clients, {} turn(s) per conversation, fixture model, copies of {}: median 0 filters {zero:.0} req/s, 10 filters {ten:.0} req/s, ratio {:.3}; median of the rounds' ratios {:.3}",
        options.clients,
        options.turns,
        options.plugin,
        ten / zero,
        median(&mut ratios)
    );
}
