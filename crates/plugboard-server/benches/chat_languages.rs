//! What one filter plugin adds to a chat turn when written in Rust, Python or JavaScript:
//! four servers in one process (no plugin; the bundled `example-tagger`; the Python tagger;
//! the JavaScript tagger: the same hooks, each rewriting the prompt and the reply and
//! counting conversation starts in its key-value store), against the fixture model's
//! `fixed` model. One client makes turns one after the other (a new conversation each
//! time, as in the chat load benchmark), for `--seconds` on each server in turn; rounds
//! alternate between the servers so drift on a shared machine hits all alike. Printed:
//! each server's median turn latency and CPU time per turn (medians of the rounds), and
//! the differences from the server without a plugin and from the Rust one.
//!
//! The Python and JavaScript plugins are built by `plugboard plugin build`:
//! `bench/languages.sh` builds them and passes their folders in `PLUGBOARD_BENCH_PYTHON`
//! and `PLUGBOARD_BENCH_JS` (a language whose variable is unset is left out). Results in
//! BENCHMARKS.md, "Plugins in Rust, Python and JavaScript".
//!
//! `cargo bench -p plugboard-server --bench chat_languages -- --rounds 5 --seconds 3`

#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark program")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard_fixture_llm::FixtureLlm;
use plugboard_host::RuntimeConfig;
use plugboard_openai::{OpenAiConfig, OpenAiProvider};
use plugboard_registry::RegistryConfig;
use plugboard_server::AppBuilder;
use plugboard_store::{SqliteStore, Store};
use serde_json::json;

fn option(args: &[String], name: &str, default: u64) -> u64 {
    args.windows(2).find(|pair| pair[0] == name).map_or(default, |pair| pair[1].parse().unwrap())
}

/// The servers' plugins: a name, and the plugin folder (none for the plain server).
fn plugins() -> Vec<(&'static str, Option<PathBuf>)> {
    let mut found = vec![("none", None), ("rust", Some(plugboard_test_plugins::plugin_dir("example-tagger")))];
    for (name, variable) in [("python", "PLUGBOARD_BENCH_PYTHON"), ("javascript", "PLUGBOARD_BENCH_JS")] {
        match std::env::var_os(variable) {
            Some(folder) => found.push((name, Some(PathBuf::from(folder)))),
            None => eprintln!("{variable} unset: no {name} plugin (bench/languages.sh builds one)"),
        }
    }
    found
}

/// Starts a server with the plugin in `plugin`, enabled; returns its base URL and a
/// session cookie.
async fn server(data: &Path, plugin: Option<&Path>, fixture: &FixtureLlm, cache: &Path) -> (String, String) {
    let plugins = data.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    if let Some(plugin) = plugin {
        let folder = plugins.join("filter");
        plugboard_test_plugins::copy_plugin_folder(plugin, &folder).unwrap();
        // The Python and JavaScript taggers are demonstrations that ship disabled.
        let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
        std::fs::write(
            folder.join("plugin.toml"),
            manifest.replace("enabled_by_default = false", "enabled_by_default = true"),
        )
        .unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.join("plugboard.db")).await.unwrap());
    let tls = plugboard_host::tls_config().unwrap();
    let model = OpenAiProvider::new(OpenAiConfig::new("fixture", fixture.base_url()), tls).unwrap();
    let state = AppBuilder::new(store)
        .runtime_config(RuntimeConfig { cache_dir: Some(cache.to_owned()), ..RuntimeConfig::default() })
        .registry_config(RegistryConfig { directories: vec![plugins], ..RegistryConfig::default() })
        .provider(Arc::new(model))
        .default_model(Some("fixture/fixed".into()))
        .build()
        .await
        .unwrap();
    let report = state.registry.start().await;
    assert_eq!(report.loaded.len(), usize::from(plugin.is_some()), "{:?}", report.failed);
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

/// Makes one turn and checks that the reply came back tagged exactly when the server has
/// a plugin, so the figures are never those of a server whose plugin did not run.
async fn check_filter_runs(base: &str, cookie: &str, filtered: bool) {
    let body = turn(&reqwest::Client::new(), base, cookie).await;
    let reply = body["reply"]["content"].as_str().unwrap_or_else(|| panic!("no reply: {body}"));
    assert_eq!(reply.ends_with("[tagged]"), filtered, "{body}");
}

async fn turn(client: &reqwest::Client, base: &str, cookie: &str) -> serde_json::Value {
    let response = client
        .post(format!("{base}/api/chat"))
        .header("cookie", cookie)
        .json(&json!({"message": "a short benchmark prompt"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// Turns one after the other for `seconds`: each turn's latency.
async fn round(client: &reqwest::Client, base: &str, cookie: &str, seconds: u64) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        let sent = Instant::now();
        turn(client, base, cookie).await;
        latencies.push(sent.elapsed());
    }
    latencies
}

/// CPU time of this process so far, from `/proc/self/stat` (100 Hz clock ticks).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[middle - 1] + values[middle]) / 2.0 } else { values[middle] }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (rounds, seconds) = (option(&args, "--rounds", 5), option(&args, "--seconds", 3));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = FixtureLlm::start().await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut servers = Vec::new();
    for (name, plugin) in plugins() {
        let data = tempfile::tempdir().unwrap();
        let (base, cookie) = server(data.path(), plugin.as_deref(), &fixture, cache.path()).await;
        check_filter_runs(&base, &cookie, plugin.is_some()).await;
        // Warm up: instances, connections, the database.
        round(&client, &base, &cookie, 1).await;
        servers.push((name, base, cookie, data, Vec::new(), Vec::new()));
    }
    for n in 0..rounds {
        let mut line = format!("round {}:", n + 1);
        for (name, base, cookie, _, latencies, cpu) in &mut servers {
            let before = process_cpu();
            let round = round(&client, base, cookie, seconds).await;
            cpu.push((process_cpu() - before).as_secs_f64() * 1e3 / round.len() as f64);
            let mut micros: Vec<f64> = round.iter().map(|latency| latency.as_secs_f64() * 1e6).collect();
            line += &format!(" {name} {:.0} µs ({} turns);", median(&mut micros), micros.len());
            latencies.push(median(&mut micros));
        }
        println!("{line}");
    }
    let medians: Vec<(&str, f64, f64)> =
        servers.iter_mut().map(|(name, _, _, _, latencies, cpu)| (*name, median(latencies), median(cpu))).collect();
    let (plain, rust) = (medians[0], medians[1]);
    println!(
        "POST /api/chat, one client, turns one after the other, fixture model; medians of {rounds} rounds of {seconds} s"
    );
    println!(
        "{:<12} {:>14} {:>14} {:>14} {:>16}",
        "plugin", "turn latency", "minus none", "minus rust", "CPU per turn"
    );
    for (name, latency, cpu) in &medians {
        println!(
            "{name:<12} {latency:>11.0} µs {:>11.0} µs {:>11.0} µs {cpu:>13.3} ms",
            latency - plain.1,
            latency - rust.1
        );
    }
}
