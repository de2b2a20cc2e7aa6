//! Several servers on one database, measured: chat-turn throughput of one server on
//! SQLite, one on PostgreSQL and three on one PostgreSQL database (the clients spread over
//! them), with each server's CPU time per turn and PostgreSQL's; and how long a plugin
//! change made through one server takes to apply on another.
//!
//! ```sh
//! cargo bench -p plugboard --bench cluster [-- --rounds 3 --seconds 5 --clients 8 --changes 100]
//! ```
//!
//! It starts the `plugboard` binary of the bench's own build (or `PLUGBOARD_BIN`) with the
//! fixture model (`openai/echo`), each server on a data folder of its own; PostgreSQL is
//! the test server (`PLUGBOARD_TEST_POSTGRES`, started by `.ci/postgres` when none
//! answers), a fresh database per setup. Rounds alternate between the three setups so drift
//! on a shared machine hits all alike; the medians of the rounds are printed. A turn is
//! `POST /api/chat` in a new conversation (stored user message, reply, trace).
//!
//! CPU is read from `/proc/<pid>/stat` (user + system) for each server, and summed over
//! every `postgres` process of the machine for the database. Linux only.
//!
//! Change propagation: `--changes` times, a new value of a plugin setting is saved through
//! server 1, and server 2's `GET /api/plugins/{id}` is asked every 2 ms until it shows
//! the value; the median and the 99th percentile are printed.

#![allow(clippy::print_stdout, clippy::unwrap_used, reason = "a benchmark's report, on the happy path")]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plugboard_store::testing::TestDatabase;
use serde_json::{Value, json};

struct Options {
    rounds: usize,
    seconds: u64,
    clients: usize,
    changes: usize,
}

fn options() -> Options {
    let mut options = Options { rounds: 3, seconds: 5, clients: 8, changes: 100 };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--rounds" => options.rounds = pair[1].parse().unwrap(),
            "--seconds" => options.seconds = pair[1].parse().unwrap(),
            "--clients" => options.clients = pair[1].parse().unwrap(),
            "--changes" => options.changes = pair[1].parse().unwrap(),
            _ => {}
        }
    }
    options
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run(options));
}

/// One `plugboard serve` process.
struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn cpu_seconds(&self) -> f64 {
        process_cpu_seconds(self.child.id()).unwrap_or(0.0)
    }
}

/// User + system CPU time of process `pid`, in seconds.
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU time of every `postgres` process of the machine, in seconds.
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres"))
        .filter_map(process_cpu_seconds)
        .sum()
}

fn start(database: Option<&str>, fixture_url: &str) -> Server {
    let binary =
        std::env::var_os("PLUGBOARD_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_plugboard")), PathBuf::from);
    let data = tempfile::tempdir().unwrap();
    // One client makes hundreds of turns a minute here: no per-user limit.
    std::fs::write(data.path().join("plugboard.toml"), "chat_turns_per_minute = 0\n").unwrap();
    let mut command = Command::new(binary);
    command
        .current_dir(data.path())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("PLUGBOARD_LOG", "info")
        .env("PLUGBOARD_NO_MODEL_DOWNLOAD", "true")
        .env("PLUGBOARD_OPENAI_BASE_URL", fixture_url)
        .env("PLUGBOARD_SECRET_KEY", "5f1d3c0a9b8e7d6c5f4e3d2c1b0a99887766554433221100ffeeddccbbaa9988")
        .env_remove("PLUGINS_DIRS")
        .env_remove("PLUGBOARD_DATABASE_URL")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    if let Some(url) = database {
        command.env("PLUGBOARD_DATABASE_URL", url);
    }
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let base = loop {
        let line = lines.next().expect("the server prints its address before exiting").unwrap();
        if let Some(at) = line.find("listening on ") {
            break line[at + "listening on ".len()..].trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, base, _data: data }
}

/// Signs `name` up on `base` (the first account is the administrator) and returns a
/// client that sends the session cookie.
async fn session(base: &str, name: &str) -> reqwest::Client {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"username": name, "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

/// A setup: its servers and the client signed in on them.
struct Setup {
    name: &'static str,
    servers: Vec<Server>,
    client: reqwest::Client,
    _database: Option<TestDatabase>,
}

async fn setup(name: &'static str, nodes: usize, postgres: bool, fixture_url: &str) -> Setup {
    let database = if postgres { Some(TestDatabase::create().await) } else { None };
    let url = database.as_ref().map(|database| database.url().to_owned());
    // The first server migrates the database; the others start after it.
    let mut servers = vec![start(url.as_deref(), fixture_url)];
    for _ in 1..nodes {
        servers.push(start(url.as_deref(), fixture_url));
    }
    let client = session(&servers[0].base, "bench").await;
    Setup { name, servers, client, _database: database }
}

/// Turns per second of `clients` clients spread over the servers for `seconds`, and the
/// CPU seconds per turn of each server and of PostgreSQL.
async fn round(setup: &Setup, clients: usize, seconds: u64) -> (f64, Vec<f64>, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let turns = Arc::new(AtomicU64::new(0));
    let cpu_before: Vec<f64> = setup.servers.iter().map(Server::cpu_seconds).collect();
    let pg_before = postgres_cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for index in 0..clients {
        let base = setup.servers[index % setup.servers.len()].base.clone();
        let client = setup.client.clone();
        let (stop, turns) = (stop.clone(), turns.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = client
                    .post(format!("{base}/api/chat"))
                    .json(&json!({"message": "hello there", "model": "openai/echo"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
                response.bytes().await.unwrap();
                turns.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = turns.load(Ordering::Relaxed) as f64;
    let cpu: Vec<f64> = setup
        .servers
        .iter()
        .zip(&cpu_before)
        .map(|(server, before)| (server.cpu_seconds() - before) / done * 1000.0)
        .collect();
    let pg = (postgres_cpu_seconds() - pg_before) / done * 1000.0;
    (done / elapsed, cpu, pg)
}

/// One setup's measurements, a value per round.
#[derive(Default)]
struct Rounds {
    /// Turns per second.
    rates: Vec<f64>,
    /// CPU milliseconds per turn, of each server.
    cpu: Vec<Vec<f64>>,
    /// CPU milliseconds per turn of PostgreSQL.
    database: Vec<f64>,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn run(options: Options) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let fixture_url = fixture.base_url();
    let setups = [
        setup("1 server, SQLite", 1, false, &fixture_url).await,
        setup("1 server, PostgreSQL", 1, true, &fixture_url).await,
        setup("3 servers, PostgreSQL", 3, true, &fixture_url).await,
    ];
    println!(
        "chat turns: {} rounds x {} s, {} clients (spread over the servers), alternating setups",
        options.rounds, options.seconds, options.clients
    );
    // A warm-up second each (plugins' first calls, connection pools).
    for setup in &setups {
        round(setup, options.clients, 1).await;
    }
    let mut results: Vec<Rounds> = (0..setups.len()).map(|_| Rounds::default()).collect();
    for _ in 0..options.rounds {
        for (setup, result) in setups.iter().zip(&mut results) {
            let (rate, cpu, pg) = round(setup, options.clients, options.seconds).await;
            result.rates.push(rate);
            result.cpu.push(cpu);
            result.database.push(pg);
        }
    }
    let mut rates = Vec::new();
    for (setup, mut result) in setups.iter().zip(results) {
        let rate = median(&mut result.rates);
        rates.push(rate);
        let per_server: Vec<String> = (0..setup.servers.len())
            .map(|index| format!("{:.2}", median(&mut result.cpu.iter().map(|round| round[index]).collect::<Vec<_>>())))
            .collect();
        let pg =
            if setup._database.is_some() { format!("{:.2}", median(&mut result.database)) } else { "-".to_owned() };
        println!(
            "{:<24} {rate:>8.1} turns/s   server CPU ms/turn [{}]   PostgreSQL CPU ms/turn {pg}",
            setup.name,
            per_server.join(", ")
        );
    }
    println!(
        "ratio PostgreSQL / SQLite (one server): {:.2}; three servers / one PostgreSQL server: {:.2}",
        rates[1] / rates[0],
        rates[2] / rates[1]
    );

    // Change propagation, server 1 to server 2 of the three.
    let cluster = &setups[2];
    let (from, to) = (&cluster.servers[0].base, &cluster.servers[1].base);
    let mut took = Vec::new();
    for change in 0..options.changes {
        let value = format!("[mail {change}]");
        let response = cluster
            .client
            .put(format!("{from}/api/plugins/pii-redactor/config"))
            .json(&json!({"email_replacement": value}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let saved = Instant::now();
        loop {
            let details: Value = cluster
                .client
                .get(format!("{to}/api/plugins/pii-redactor"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if details["settings"]["email_replacement"] == value.as_str() {
                break;
            }
            assert!(saved.elapsed() < Duration::from_secs(30), "change {change} did not arrive within 30 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        took.push(saved.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    let p99 = took[(took.len() * 99).div_ceil(100).saturating_sub(1)];
    println!(
        "plugin settings saved on server 1, applied on server 2: {} changes, median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        took.len(),
        median(&mut took.clone()),
        p99,
        took[took.len() - 1]
    );
}
