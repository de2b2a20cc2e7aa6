//! End-to-end tests of the `plugboard` binary: the command-line runner and the server on a
//! real port.

#![allow(clippy::unwrap_used, reason = "test helpers may unwrap like the tests they serve")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

fn plugboard(dir: &tempfile::TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plugboard"));
    command.current_dir(dir.path()).env("PLUGBOARD_CACHE_DIR", dir.path().join("cache")).env_remove("PLUGINS_DIRS");
    command
}

#[test]
fn plugin_run_calls_the_first_tool_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let output = plugboard(&dir).args(["plugin", "run", "calculator", "2 * (3 +", "4)"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "14\n");

    let output = plugboard(&dir).args(["plugin", "run", "calculator", "1/0"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("error: plugin `calculator` hook `tools`: division by zero at column 2"), "{stderr}");

    let output = plugboard(&dir).args(["plugin", "run", "nope", "x"]).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("error: no plugin `nope` is loaded; available: calculator, example-tagger, markdown-export, pii-redactor, word-stats"), "{stderr}");
}

#[test]
fn plugin_list_shows_the_bundled_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let output = plugboard(&dir).args(["plugin", "list"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("word-stats 0.1.0 [enabled] (bundled)\n"), "{stdout}");
    assert!(stdout.contains("  permissions: kv\n"), "{stdout}");
    assert!(dir.path().join("plugboard-data/plugboard.db").is_file());

    // ENABLED_PLUGINS chooses which start enabled; the others are listed as disabled.
    let output = plugboard(&dir).args(["plugin", "list"]).env("ENABLED_PLUGINS", "calculator").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("calculator 0.1.0 [enabled] (bundled)\n"), "{stdout}");
    assert!(stdout.contains("word-stats 0.1.0 [disabled] (bundled)\n"), "{stdout}");
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &tempfile::TempDir) -> Server {
    let mut child = plugboard(dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("PLUGBOARD_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next().expect("the server prints its address before exiting").unwrap();
        if let Some(at) = line.find("listening on ") {
            break line[at + "listening on ".len()..].trim().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_lists_and_executes_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir);
    // The TLS stack is built without a default crypto provider; plain HTTP still needs one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);

    let list: Value = client.get(url("/api/plugins")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list["plugins"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["calculator", "example-tagger", "markdown-export", "pii-redactor", "word-stats"]);

    let details: Value = client.get(url("/api/plugins/pii-redactor")).send().await.unwrap().json().await.unwrap();
    assert_eq!(details["manifest"]["filters"]["on_error"], "closed");
    assert_eq!(details["settings"]["email_replacement"], "[email]");

    let response = client
        .post(url("/api/plugins/execute"))
        .json(&json!({"plugin": "calculator", "data": "6 * 7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"plugin": "calculator", "status": "success", "result": "42"})
    );

    let seed_001 =
        json!({"plugin_id": "calculator", "method": "calculate", "args": [], "kwargs": {"expression": "2^10"}});
    let response: Value =
        client.post(url("/api/plugins/execute")).json(&seed_001).send().await.unwrap().json().await.unwrap();
    assert_eq!(response["result"], "1024");

    let response = client
        .post(url("/api/plugins/execute"))
        .json(&json!({"plugin": "calculator", "data": "1/0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "plugin_error");

    let response = client.post(url("/api/plugins/execute")).body("not json").send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_request");

    let response = client.get(url("/api/plugins/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "plugin_not_found");

    let health: Value = client.get(url("/api/plugins/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["plugins"]["calculator"]["status"], "healthy");
    assert_eq!(health["plugins"]["calculator"]["message"], "ready");
}
