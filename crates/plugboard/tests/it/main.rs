//! End-to-end tests of the `plugboard` binary: the command-line runner and the server on a
//! real port.

#![allow(clippy::unwrap_used, reason = "test helpers may unwrap like the tests they serve")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

mod browser;
mod cluster;
mod db_migrate;
mod examples;
mod languages;
mod local;
mod mcp_conformance;
mod mcp_servers;
mod mcp_stdio;
mod packages;
mod running;
mod secrets;
mod shutdown;

fn plugboard(dir: &tempfile::TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plugboard"));
    // No test downloads the default model from the internet; the ones about downloading
    // use a fixture hub.
    command
        .current_dir(dir.path())
        .env("PLUGBOARD_CACHE_DIR", dir.path().join("cache"))
        .env("PLUGBOARD_NO_MODEL_DOWNLOAD", "true")
        // Python and JavaScript plugins' build tools, fetched once for every test and run.
        .env("PLUGBOARD_TOOLS_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugboard-tools"))
        .env_remove("PLUGINS_DIRS")
        .env_remove("PLUGBOARD_MODEL")
        .env_remove("PLUGBOARD_DATABASE_URL");
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
    assert!(stderr.contains("error: no plugin `nope` is loaded; available: access-list, calculator, daily-digest, example-tagger, github-webhook, markdown-export, pii-redactor, word-stats"), "{stderr}");
}

#[test]
fn plugin_list_shows_the_bundled_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let output = plugboard(&dir).args(["plugin", "list"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("word-stats 0.1.0 [enabled] (bundled)\n"), "{stdout}");
    assert!(stdout.contains("  permissions: kv, channels.read\n"), "{stdout}");
    assert!(dir.path().join("plugboard-data/plugboard.db").is_file());

    // ENABLED_PLUGINS chooses which start enabled; the others are listed as disabled.
    // A name that is no plugin is logged as a warning naming it.
    let output =
        plugboard(&dir).args(["plugin", "list"]).env("ENABLED_PLUGINS", "calculator,calculater").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("calculator 0.1.0 [enabled] (bundled)\n"), "{stdout}");
    assert!(stdout.contains("word-stats 0.1.0 [disabled] (bundled)\n"), "{stdout}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("ENABLED_PLUGINS names `calculater`, which is no plugin here"), "{stderr}");
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

/// Signs up `name` and returns a client that sends their session cookie.
async fn signed_in_client(signup_url: &str, name: &str) -> reqwest::Client {
    session_client(signup_url, name, 201).await
}

/// Posts `name`'s credentials to `url` (sign-up or login), expects `status`, and returns
/// a client that sends the session cookie it got.
async fn session_client(url: &str, name: &str, status: u16) -> reqwest::Client {
    let response = reqwest::Client::new()
        .post(url)
        .json(&json!({"username": name, "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), status);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

/// An OpenAI-compatible base URL where nothing answers (a port that was just free), so a
/// server under test finds no Ollama.
fn nowhere_url() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/v1", closed.local_addr().unwrap())
}

fn start_server(dir: &tempfile::TempDir) -> Server {
    start_server_with(dir, &[])
}

fn start_server_with(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> Server {
    let mut command = plugboard(dir);
    command.envs(env.iter().copied());
    let mut child = command
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
    // It serves while the bundled plugins compile into this test's empty cache; the tests
    // want them loaded.
    wait_until_ready(&base);
    Server { child, base }
}

/// Waits (at most five minutes) until the server at `base` answers `/readyz` with 200.
fn wait_until_ready(base: &str) {
    use std::io::{Read as _, Write as _};
    let address = base.trim_start_matches("http://");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let mut answer = String::new();
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            let request = format!("GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_string(&mut answer);
            }
        }
        if answer.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{base} is not ready after five minutes: {answer}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_lists_and_executes_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir);
    // The TLS stack is built without a default crypto provider; plain HTTP still needs one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = |path: &str| format!("{}{path}", server.base);
    let client = signed_in_client(&url("/api/auth/signup"), "admin").await;

    let list: Value = client.get(url("/api/plugins")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list["plugins"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "access-list",
            "calculator",
            "daily-digest",
            "example-tagger",
            "github-webhook",
            "markdown-export",
            "pii-redactor",
            "word-stats"
        ]
    );

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

    let not_json = || client.post(url("/api/plugins/execute")).body("not json");
    let response = not_json().header("content-type", "application/json").send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_request");
    let response = not_json().send().await.unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_json");

    let response = client.get(url("/api/plugins/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "plugin_not_found");

    let health: Value = client.get(url("/api/plugins/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["plugins"]["calculator"]["status"], "healthy");
    assert_eq!(health["plugins"]["calculator"]["message"], "ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_configuration_a_person_signs_up_and_chats() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&dir, &[("PLUGBOARD_OPENAI_BASE_URL", &fixture.base_url())]);
    let url = |path: &str| format!("{}{path}", server.base);
    let client = signed_in_client(&url("/api/auth/signup"), "first").await;
    let turn: Value =
        client.post(url("/api/chat")).json(&json!({"message": "hello"})).send().await.unwrap().json().await.unwrap();
    // The bundled example-tagger is a demonstration that ships disabled: nothing is rewritten.
    assert_eq!(turn["user_message"]["content"], "hello", "{turn}");
    assert_eq!(turn["reply"]["content"], "Echo: hello");
    assert_eq!(turn["model"], "openai/echo");
    assert!(dir.path().join("plugboard-data/plugboard.db").is_file());
}

/// Kills the server (SIGKILL) in the middle of a streamed reply: after a restart every
/// message the server acknowledged is there, and the cut-off reply is kept, marked partial.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_server_keeps_every_acknowledged_message() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [("PLUGBOARD_OPENAI_BASE_URL", fixture.base_url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = start_server_with(&dir, &env);
    let url = |base: &str, path: &str| format!("{base}{path}");
    let client = signed_in_client(&url(&server.base, "/api/auth/signup"), "durable").await;
    let earlier: Value = client
        .post(url(&server.base, "/api/chat"))
        .json(&json!({"message": "before the crash", "model": "openai/echo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversation = earlier["conversation_id"].as_str().unwrap().to_owned();
    let response = client
        .post(url(&server.base, "/api/chat/stream"))
        .json(&json!({"conversation_id": conversation, "message": "during the crash", "model": "openai/slow"}))
        .send()
        .await
        .unwrap();
    let mut body = futures_util::StreamExt::boxed(response.bytes_stream());
    let mut received = String::new();
    // Past the first save of the streamed text (every 500 ms; 20 ms a word).
    while !received.contains("word40") {
        let chunk = futures_util::StreamExt::next(&mut body).await.unwrap().unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.contains("event: message"), "the user message was acknowledged: {received}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(body);

    let restarted = start_server_with(&dir, &env);
    let client = session_client(&url(&restarted.base, "/api/auth/login"), "durable", 200).await;
    let messages: Value = client
        .get(url(&restarted.base, &format!("/api/conversations/{conversation}/messages")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: Vec<(&str, &str, &str)> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["status"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert_eq!(stored[0], ("user", "complete", "before the crash"));
    assert_eq!(stored[1].0, "assistant");
    assert_eq!(stored[2], ("user", "complete", "during the crash"));
    assert_eq!((stored[3].0, stored[3].1), ("assistant", "partial"));
    assert!(stored[3].2.starts_with("word1 word2 word3"), "the text streamed before the last save is kept: {stored:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ollama_server_at_its_address_is_offered_when_nothing_is_configured() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&dir, &[("PLUGBOARD_OLLAMA_URL", &fixture.base_url())]);
    let url = |path: &str| format!("{}{path}", server.base);
    let client = signed_in_client(&url("/api/auth/signup"), "local").await;
    let models: Value = client.get(url("/api/models")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = models["models"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"ollama/echo"), "{ids:?}");
    let turn: Value = client
        .post(url("/api/chat"))
        .json(&json!({"message": "hi", "model": "ollama/echo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["reply"]["content"], "Echo: hi");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_any_model_chat_says_what_to_configure() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let nowhere = nowhere_url();
    let server = start_server_with(&dir, &[("PLUGBOARD_OLLAMA_URL", &nowhere)]);
    let url = |path: &str| format!("{}{path}", server.base);
    let client = signed_in_client(&url("/api/auth/signup"), "nomodel").await;
    let response = client.post(url("/api/chat")).json(&json!({"message": "hi"})).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_model");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("no local model is installed"), "{body}");
    assert!(message.contains("--model <file.gguf>") && message.contains("PLUGBOARD_OPENAI_BASE_URL"), "{body}");
    // The model list says the same, for the UI.
    let models: Value = client.get(url("/api/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["models"], json!([]));
    assert_eq!(models["problems"][0]["provider"], "local");
    assert_eq!(models["problems"][0]["code"], "no_model");
    // Plugins still answer.
    let turn: Value = client
        .post(url("/api/chat"))
        .json(&json!({"message": "/run calculator 1+1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["reply"]["content"], "2");
}

#[test]
fn plugin_info_enable_disable_and_completions_work_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let output = plugboard(&dir).args(["plugin", "info", "pii-redactor"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["manifest"]["id"], "pii-redactor");
    assert_eq!(info["entry"]["state"], "enabled");
    assert_eq!(info["settings"]["email_replacement"], "[email]");

    let output = plugboard(&dir).args(["plugin", "disable", "pii-redactor"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "pii-redactor disabled (a server running on this data folder applies it within a few seconds)\n"
    );
    // Kept: the next command (or server) starts it disabled.
    let output = plugboard(&dir).args(["plugin", "list"]).output().unwrap();
    assert!(String::from_utf8(output.stdout).unwrap().contains("pii-redactor 0.1.0 [disabled] (bundled)\n"));
    let output = plugboard(&dir).args(["plugin", "enable", "pii-redactor"]).output().unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "pii-redactor enabled (a server running on this data folder applies it within a few seconds)\n"
    );

    let output = plugboard(&dir).args(["plugin", "info", "nope"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr).unwrap().contains("no plugin `nope`; known: access-list, calculator"));

    let output = plugboard(&dir).args(["completions", "bash"]).output().unwrap();
    assert!(output.status.success());
    let script = String::from_utf8(output.stdout).unwrap();
    assert!(script.contains("plugboard") && script.contains("pull"), "a bash completion script");
}

#[test]
fn plugin_run_task_runs_a_scheduled_task_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    // The daily digest ships disabled; its tasks run once it is enabled.
    let output = plugboard(&dir).args(["plugin", "run-task", "daily-digest", "prune"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("plugin `daily-digest` is disabled; enable it first"), "{stderr}");
    let output = plugboard(&dir).args(["plugin", "enable", "daily-digest"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let output = plugboard(&dir).args(["plugin", "run-task", "daily-digest", "prune"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("daily-digest/prune: ok in "), "{stdout}");

    // `plugin info` shows each task's schedule and its last run, the one just made.
    let output = plugboard(&dir).args(["plugin", "info", "daily-digest"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    let tasks = info["tasks"].as_array().unwrap();
    let names: Vec<&str> = tasks.iter().map(|task| task["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["digest", "prune"]);
    assert_eq!(tasks[0]["cron"], "0 8 * * *");
    assert_eq!(tasks[1]["every"], "1h");
    assert_eq!(tasks[1]["last_run"]["trigger"], "manual");
    assert_eq!(tasks[1]["last_run"]["outcome"], "ok");

    let output = plugboard(&dir).args(["plugin", "run-task", "daily-digest", "nightly"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("plugin `daily-digest` has no scheduled task `nightly`; its tasks: `digest`, `prune`"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn the_data_folder_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mode = |path: std::path::PathBuf| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let output = plugboard(&dir).args(["plugin", "list"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(mode(dir.path().join("plugboard-data")), 0o700);
    assert_eq!(mode(dir.path().join("plugboard-data/plugboard.db")), 0o600);

    // A data folder an earlier version made readable by everyone is closed.
    std::fs::set_permissions(dir.path().join("plugboard-data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.path().join("plugboard-data/plugboard.db"), std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let output = plugboard(&dir).args(["plugin", "list"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(mode(dir.path().join("plugboard-data")), 0o700);
    assert_eq!(mode(dir.path().join("plugboard-data/plugboard.db")), 0o600);
}

/// Runs `plugboard <args>` with `input` on standard input; (success, stdout, stderr).
fn with_input(dir: &tempfile::TempDir, args: &[&str], input: &str) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child =
        plugboard(dir).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status.success(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

#[test]
fn user_commands_manage_accounts_on_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = with_input(&dir, &["user", "create", "ada", "--admin"], "a long enough password\n");
    assert!(ok, "{err}");
    assert_eq!(out, "created ada (administrator)\n");
    let (ok, _, err) = with_input(&dir, &["user", "create", "bob"], "short\n");
    assert!(!ok);
    assert!(err.contains("a password needs at least 8 characters"), "{err}");
    let (ok, _, err) = with_input(&dir, &["user", "create", "bob"], "password\n");
    assert!(!ok && err.contains("one of the most common passwords"), "{err}");
    let (ok, out, err) = with_input(&dir, &["user", "create", "bob"], "another long password\n");
    assert!(ok, "{err}");
    assert_eq!(out, "created bob\n");
    let (ok, _, err) = with_input(&dir, &["user", "create", "BOB"], "another long password\n");
    assert!(!ok && err.contains("taken"), "{err}");

    // The last administrator keeps the role.
    let (ok, _, err) = with_input(&dir, &["user", "demote", "ada"], "");
    assert!(!ok && err.contains("`ada` is the last active administrator"), "{err}");
    let (ok, out, _) = with_input(&dir, &["user", "promote", "bob"], "");
    assert!(ok);
    assert_eq!(out, "bob is an administrator\n");
    let (ok, out, _) = with_input(&dir, &["user", "demote", "ada"], "");
    assert!(ok);
    assert_eq!(out, "ada is no longer an administrator\n");
    let (ok, out, _) = with_input(&dir, &["user", "list"], "");
    assert!(ok);
    assert_eq!(out, "ada\nbob (administrator)\n");

    let (ok, out, err) = with_input(&dir, &["user", "passwd", "ada"], "a brand new passphrase\n");
    assert!(ok, "{err}");
    assert_eq!(out, "set the password of ada; their sessions ended\n");
    let (ok, _, err) = with_input(&dir, &["user", "passwd", "nobody"], "a brand new passphrase\n");
    assert!(!ok && err.contains("no user `nobody`"), "{err}");

    // Disabling and enabling; never the last active administrator.
    let (ok, _, err) = with_input(&dir, &["user", "disable", "bob"], "");
    assert!(!ok && err.contains("`bob` is the last active administrator"), "{err}");
    let (ok, out, err) = with_input(&dir, &["user", "disable", "ada"], "");
    assert!(ok, "{err}");
    assert_eq!(out, "ada is disabled and signed out everywhere\n");
    let (_, out, _) = with_input(&dir, &["user", "list"], "");
    assert_eq!(out, "ada (disabled)\nbob (administrator)\n");
    let (ok, out, _) = with_input(&dir, &["user", "enable", "ada"], "");
    assert!(ok);
    assert_eq!(out, "ada is enabled\n");

    // Deleting asks for a confirmation a script gives with --yes.
    let (ok, _, err) = with_input(&dir, &["user", "delete", "ada"], "ada\n");
    assert!(!ok && err.contains("add --yes to confirm"), "{err}");
    let (ok, _, err) = with_input(&dir, &["user", "delete", "bob", "--yes"], "");
    assert!(!ok && err.contains("`bob` is the last active administrator"), "{err}");
    let (ok, out, err) = with_input(&dir, &["user", "delete", "ada", "--yes"], "");
    assert!(ok, "{err}");
    assert_eq!(out, "deleted ada with their conversations, files and API tokens\n");
    let (_, out, _) = with_input(&dir, &["user", "list"], "");
    assert_eq!(out, "bob (administrator)\n");
}

#[test]
fn the_database_setting_chooses_where_the_data_lives_and_an_unknown_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plugboard.toml"), "database_url = \"sqlite://elsewhere/accounts.db\"\n").unwrap();
    let (ok, _, err) = with_input(&dir, &["user", "create", "ada"], "a long enough password\n");
    assert!(ok, "{err}");
    assert!(dir.path().join("elsewhere/accounts.db").is_file());
    assert!(!dir.path().join("plugboard-data/plugboard.db").exists());
    let (_, out, _) = with_input(&dir, &["user", "list"], "");
    assert_eq!(out, "ada (administrator)\n");

    // The flag goes before the file; a database Plugboard cannot use is named, with what to give.
    let (ok, _, err) = with_input(&dir, &["user", "list", "--database-url", "mysql://db/plugboard"], "");
    assert!(!ok);
    assert!(err.contains("--database-url") && err.contains("`mysql://` is not a database Plugboard can use"), "{err}");
    assert!(err.contains("postgres://USER@HOST:PORT/DATABASE"), "{err}");
}

/// A compiled component no plugin uses any more (an earlier version, another Plugboard's)
/// is removed from the cache when the server starts; the plugins' own and files that are
/// not the cache's stay.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_prunes_compiled_components_no_plugin_uses() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let stale = cache.join(format!("{}-{}.cwasm", "ab".repeat(32), "0".repeat(16)));
    std::fs::write(&stale, b"an earlier version's compiled code").unwrap();
    let stale_checksum = cache.join(format!("{}-{}.cwasm.sha256", "ab".repeat(32), "0".repeat(16)));
    std::fs::write(&stale_checksum, "cd".repeat(32)).unwrap();
    let other = cache.join("notes.txt");
    std::fs::write(&other, b"not the cache's").unwrap();
    let server = start_server_with(&dir, &[("PLUGBOARD_OPENAI_BASE_URL", &nowhere_url())]);
    assert!(!stale.exists(), "the unused compiled file is gone");
    assert!(!stale_checksum.exists(), "and its checksum");
    assert!(other.exists(), "a file the cache did not write stays");
    let compiled = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension().is_some_and(|extension| extension == "cwasm"))
        .count();
    assert_eq!(compiled, 8, "one for each bundled plugin");
    let checksums = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension().is_some_and(|extension| extension == "sha256"))
        .count();
    assert_eq!(checksums, 8, "each with its checksum");
    drop(server);
}
