//! `plugboard mcp`: the real binary started as a child by the official MCP Python SDK's
//! stdio client (installed into a virtual environment under cargo's test scratch
//! directory on first use), over a real data folder with a user made by `plugboard user`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::plugboard;

/// A Python with the `mcp` package, made on first use.
fn python_with_mcp() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mcp-venv");
    let python = venv.join("bin/python");
    let ready = || Command::new(&python).args(["-c", "import mcp.client.stdio"]).status().is_ok_and(|s| s.success());
    if !ready() {
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 is installed");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "mcp>=1.30,<2"])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install mcp failed");
    }
    python
}

/// Creates user `name` in the data folder of `dir` with `plugboard user create`.
fn create_user(dir: &tempfile::TempDir, name: &str) {
    let mut child =
        plugboard(dir).args(["user", "create", name]).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"correct horse battery\n").unwrap();
    assert!(child.wait().unwrap().success(), "plugboard user create {name} failed");
}

#[test]
fn an_mcp_client_starts_plugboard_mcp_and_calls_a_plugin_tool() {
    let dir = tempfile::tempdir().unwrap();
    create_user(&dir, "alice");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/mcp_stdio_client.py");
    let command = json!([env!("CARGO_BIN_EXE_plugboard"), "mcp", "--user", "alice"]);
    // The child gets this environment: the same data folder, no model download, logs
    // (at info, to check they stay off standard output) on standard error.
    let output = Command::new(python_with_mcp())
        .arg(script)
        .current_dir(dir.path())
        .env("PLUGBOARD_MCP_COMMAND", command.to_string())
        .env("PLUGBOARD_MCP_CWD", dir.path())
        .env("PLUGBOARD_CACHE_DIR", dir.path().join("cache"))
        .env("PLUGBOARD_NO_MODEL_DOWNLOAD", "true")
        .env("PLUGBOARD_LOG", "info")
        .env_remove("PLUGINS_DIRS")
        .env_remove("PLUGBOARD_DATABASE_URL")
        .env_remove("PLUGBOARD_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["server"], "plugboard");
    assert!(seen["tools"].as_array().unwrap().contains(&json!("calculator__calculate")), "{seen}");
    assert_eq!(seen["ok"], json!({"isError": false, "text": ["14"]}));
    assert_eq!(seen["failed"]["isError"], true);
    assert!(seen["failed"]["text"][0].as_str().unwrap().contains("division by zero at column 2"), "{seen}");
    assert!(stderr.contains("serving MCP on standard input and output"), "the log went to standard error: {stderr}");
}

#[test]
fn plugboard_mcp_refuses_an_unknown_user_or_token_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    create_user(&dir, "alice");
    let refusal = |args: &[&str]| {
        let output = plugboard(&dir).arg("mcp").args(args).env_remove("PLUGBOARD_TOKEN").output().unwrap();
        assert!(!output.status.success(), "{args:?} was served");
        assert!(output.stdout.is_empty(), "nothing on the protocol's output");
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = refusal(&["--user", "nobody"]);
    assert!(stderr.contains("no user `nobody`; see `plugboard user list`"), "{stderr}");
    let stderr = refusal(&["--token", "pb_not-a-token"]);
    assert!(stderr.contains("this API token is unknown or was revoked; create a new one"), "{stderr}");
    let stderr = refusal(&[]);
    assert!(stderr.contains("`--user NAME`, or `--token TOKEN` (or PLUGBOARD_TOKEN)"), "{stderr}");
}
