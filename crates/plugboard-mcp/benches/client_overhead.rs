//! What Plugboard's MCP client adds to a tool call: the reference server's `echo` called
//! through `McpTools` (the chat core's tool source: name lookup, deadline, result
//! conversion and cap) against the same call made directly by the official Python SDK
//! (`direct_client.py`) and by the Rust SDK (rmcp, which Plugboard's client is built on,
//! with nothing of Plugboard's around it) to the same server, over stdio and over
//! streamable HTTP, in alternating rounds of one run. Medians per call (BENCHMARKS.md,
//! "MCP client overhead").
//!
//! `cargo bench -p plugboard-mcp --bench client_overhead` (installs the npm packages and
//! the Python SDK into the target folder on first use).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, reason = "a benchmark program")]

#[allow(dead_code, reason = "the tests' helpers, of which the benchmark uses some")]
#[path = "../tests/it/support.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use plugboard_chat::{PluginChoice, ToolSource};
use plugboard_mcp::{McpServerConfig, McpServers, Transport};
use plugboard_types::CallContext;
use serde_json::json;

const CALLS: usize = 300;
const ROUNDS: usize = 3;
const WARM_UP: usize = 20;
/// The Python SDK the baseline uses.
const PYTHON_SDK: &str = "mcp==1.30.0";

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mcp-bench-venv");
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "import mcp.client.streamable_http"])
            .status()
            .is_ok_and(|status| status.success())
    };
    if !ready() {
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 is installed");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", PYTHON_SDK])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install {PYTHON_SDK} failed");
    }
    python
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Each call's time in microseconds through Plugboard's client.
async fn through_plugboard(config: McpServerConfig) -> Vec<f64> {
    let servers = McpServers::new(support::npm_folder());
    let name = config.name.clone();
    servers.apply(vec![config]).await;
    support::ready(&servers, &name).await;
    let tools = servers.tool_source();
    let echo = tools.tools(&PluginChoice::default()).into_iter().find(|tool| tool.tool == "echo").unwrap();
    let context = CallContext::default();
    for _ in 0..WARM_UP {
        tools.call(&echo, &context, json!({"message": "warm"})).await.unwrap();
    }
    let mut times = Vec::with_capacity(CALLS);
    for index in 0..CALLS {
        let started = Instant::now();
        tools.call(&echo, &context, json!({"message": format!("call {index}")})).await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    servers.shutdown().await;
    times
}

/// Each call's time in microseconds through rmcp directly, over `transport`.
async fn through_rmcp<T, E, A>(transport: T) -> Vec<f64>
where
    T: rmcp::transport::IntoTransport<rmcp::RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    use rmcp::ServiceExt as _;
    let client = ().serve(transport).await.unwrap();
    let call = |message: String| {
        let arguments = json!({"message": message}).as_object().cloned().unwrap();
        client.call_tool(rmcp::model::CallToolRequestParams::new("echo").with_arguments(arguments))
    };
    for _ in 0..WARM_UP {
        call("warm".to_owned()).await.unwrap();
    }
    let mut times = Vec::with_capacity(CALLS);
    for index in 0..CALLS {
        let started = Instant::now();
        let result = call(format!("call {index}")).await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1e6);
        assert_ne!(result.is_error, Some(true));
    }
    client.cancel().await.unwrap();
    times
}

/// Each call's time in microseconds through the Python SDK directly.
fn through_python(args: &[String]) -> Vec<f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/direct_client.py");
    let output = Command::new(python()).arg(script).args(args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let script = support::everything_script();
    let port = support::free_port();
    let _http = support::http_server(&script, &["streamableHttp"], port).await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let stdio_config = support::config(
        "bench",
        Transport::Stdio {
            command: "node".to_owned(),
            args: vec![script.to_string_lossy().into_owned(), "stdio".to_owned()],
            env: Default::default(),
            cwd: None,
        },
    );
    let http_config = support::config("bench", Transport::Http { url: url.clone(), headers: Default::default() });
    let calls = CALLS.to_string();
    let stdio_args = vec![
        "stdio".to_owned(),
        calls.clone(),
        "node".to_owned(),
        script.to_string_lossy().into_owned(),
        "stdio".to_owned(),
    ];
    let http_args = vec!["http".to_owned(), calls, url.clone()];
    println!(
        "{CALLS} calls of `echo` per round after {WARM_UP} to warm up, {ROUNDS} rounds alternating; medians in µs"
    );
    println!("| transport | round | Python SDK directly | rmcp directly | through Plugboard | Plugboard − rmcp |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (transport, config, args) in [("stdio", &stdio_config, &stdio_args), ("HTTP", &http_config, &http_args)] {
        let (mut python_all, mut rmcp_all, mut ours_all) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=ROUNDS {
            let python = tokio::task::block_in_place(|| through_python(args));
            let rmcp = match transport {
                "stdio" => {
                    let mut command = tokio::process::Command::new("node");
                    command.arg(&script).arg("stdio").stderr(std::process::Stdio::null());
                    through_rmcp(rmcp::transport::TokioChildProcess::new(command).unwrap()).await
                }
                _ => through_rmcp(rmcp::transport::StreamableHttpClientTransport::from_uri(url.as_str())).await,
            };
            let ours = through_plugboard(config.clone()).await;
            let (p, r, o) = (median(python.clone()), median(rmcp.clone()), median(ours.clone()));
            println!("| {transport} | {round} | {p:.0} | {r:.0} | {o:.0} | {:+.0} |", o - r);
            python_all.extend(python);
            rmcp_all.extend(rmcp);
            ours_all.extend(ours);
        }
        let (p, r, o) = (median(python_all), median(rmcp_all), median(ours_all));
        println!("| {transport} | all | {p:.0} | {r:.0} | {o:.0} | {:+.0} |", o - r);
    }
}
