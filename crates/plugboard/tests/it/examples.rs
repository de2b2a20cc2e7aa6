//! The Python and TypeScript examples of `examples/`, and two runaway plugins, each built
//! with `plugboard plugin build` (the real componentize-py and componentize-js) and run by
//! a real server: every hook an example implements, a permission refused when its
//! manifest does not grant it, and the deadline and memory ceiling stopping a Python loop
//! and a JavaScript allocation bomb as they stop the Rust adversarial plugins.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::languages::compiled_cache;
use crate::packages::text;
use crate::{Server, plugboard, signed_in_client, start_server_with};

/// The repository's `examples/<name>`.
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

/// This file's fixture plugins, `tests/it/plugins/<name>`.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/plugins").join(name)
}

/// Copies the plugin folder `source` into `plugins` (without build outputs), lets `edit`
/// change the copy, and builds it with `plugboard plugin build`.
fn build_copy(dir: &tempfile::TempDir, source: &Path, plugins: &Path, edit: impl FnOnce(&Path)) -> PathBuf {
    let folder = plugins.join(source.file_name().unwrap());
    copy_folder(source, &folder);
    edit(&folder);
    let output = plugboard(dir)
        .env("PLUGBOARD_CACHE_DIR", compiled_cache())
        .args(["plugin", "build", "--path", text(&folder)])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "building {}: {}\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    folder
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        let skipped = ["plugin.wasm", "__pycache__", "node_modules", ".pytest_cache"];
        if skipped.iter().any(|skip| name == *skip) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_folder(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// A manifest line replaced in a copied plugin.
fn replace_in_manifest(folder: &Path, from: &str, to: &str) {
    let path = folder.join("plugin.toml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    assert!(manifest.contains(from), "{from} in {manifest}");
    std::fs::write(&path, manifest.replace(from, to)).unwrap();
}

/// A server on the fixture model with the plugins of `plugins`, and a signed-in admin.
async fn serve(dir: &tempfile::TempDir, plugins: &Path, model: &str) -> (Server, reqwest::Client) {
    let cache = compiled_cache();
    let server = start_server_with(
        dir,
        &[("PLUGINS_DIRS", text(plugins)), ("PLUGBOARD_OPENAI_BASE_URL", model), ("PLUGBOARD_CACHE_DIR", text(&cache))],
    );
    let client = signed_in_client(&format!("{}/api/auth/signup", server.base), "admin").await;
    (server, client)
}

/// Waits until plugin `id` is loaded (`enabled` or `disabled`), whatever is compiling.
async fn wait_loaded(server: &Server, client: &reqwest::Client, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let plugins: Value =
            client.get(format!("{}/api/plugins", server.base)).send().await.unwrap().json().await.unwrap();
        let entry = plugins["plugins"].as_array().into_iter().flatten().find(|plugin| plugin["id"] == id).cloned();
        if let Some(entry) = entry.filter(|entry| entry["state"] == "enabled" || entry["state"] == "disabled") {
            return entry;
        }
        assert!(Instant::now() < deadline, "{id} was not loaded: {plugins}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn post(server: &Server, client: &reqwest::Client, path: &str, body: Value) -> (u16, Value) {
    let response = client.post(format!("{}{path}", server.base)).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(server: &Server, client: &reqwest::Client, path: &str) -> Value {
    client.get(format!("{}{path}", server.base)).send().await.unwrap().json().await.unwrap()
}

/// Seed 000's example plugin in Python: both filters rewrite, conversations started and
/// deleted are counted in its key-value store, and its health reports the counts.
#[tokio::test(flavor = "multi_thread")]
async fn the_python_tagger_tags_prompts_and_replies_and_counts_sessions() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    build_copy(&dir, &example("python-tagger"), &plugins, |_| {});
    let (server, client) = serve(&dir, &plugins, &fixture.base_url()).await;
    let entry = wait_loaded(&server, &client, "python-tagger").await;
    let hooks: Vec<&str> = entry["hooks"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for hook in ["before-prompt", "after-response", "events", "health"] {
        assert!(hooks.contains(&hook), "{hook} in {entry}");
    }
    // A demonstration: it starts disabled.
    assert_eq!(entry["state"], "disabled", "{entry}");
    let (status, answer) = post(&server, &client, "/api/plugins/python-tagger/enable", json!({})).await;
    assert_eq!(status, 200, "{answer}");

    let (status, turn) = post(&server, &client, "/api/chat", json!({"message": "hello", "model": "openai/echo"})).await;
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["user_message"]["content"], "[tagged] hello", "{turn}");
    assert_eq!(turn["reply"]["content"], "Echo: [tagged] hello\n\n[tagged]", "{turn}");
    let conversation = turn["conversation_id"].as_str().unwrap().to_owned();
    let response = client.delete(format!("{}/api/conversations/{conversation}", server.base)).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    // Events are delivered after the fact: the counts arrive shortly.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = get(&server, &client, "/api/plugins/health").await;
        let message = health["plugins"]["python-tagger"]["message"].as_str().unwrap_or_default().to_owned();
        if message == "1 sessions started, 1 ended" {
            assert_eq!(health["plugins"]["python-tagger"]["status"], "healthy", "{health}");
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A weather API on this machine: `GET /v1/current?location=<place>` answers the weather
/// of a few places, 404 for others; the places asked for are recorded.
async fn weather_api() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::extract::Query;
    let asked = Arc::new(Mutex::new(Vec::new()));
    let recorded = asked.clone();
    let app = axum::Router::new().route(
        "/v1/current",
        axum::routing::get(move |Query(query): Query<std::collections::HashMap<String, String>>| {
            let recorded = recorded.clone();
            async move {
                let place = query.get("location").cloned().unwrap_or_default();
                recorded.lock().unwrap().push(place.clone());
                match place.as_str() {
                    "São Paulo" => {
                        (axum::http::StatusCode::OK, axum::Json(json!({"temperature": 22.5, "description": "Sunny"})))
                    }
                    _ => (axum::http::StatusCode::NOT_FOUND, axum::Json(json!({"error": "unknown place"}))),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/v1/current"), asked)
}

/// The messages of a conversation once one authored by `plugin` is there.
async fn plugin_message(server: &Server, client: &reqwest::Client, conversation: &str, plugin: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = get(server, client, &format!("/api/conversations/{conversation}/messages")).await;
        let list = messages.get("messages").unwrap_or(&messages).as_array().cloned().unwrap_or_default();
        if let Some(found) = list.iter().find(|message| message["author"] == format!("plugin:{plugin}")) {
            return found["content"].as_str().unwrap_or_default().to_owned();
        }
        assert!(Instant::now() < deadline, "no message from {plugin}: {messages}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Seed 004's message handler in Python: `!weather <place>` in a chat is answered in the
/// conversation with the weather fetched from the API (permission `network`, its host in
/// `allowed_hosts`); a copy whose manifest does not grant `network` cannot reach it and
/// says so.
#[tokio::test(flavor = "multi_thread")]
async fn the_python_weather_handler_answers_in_the_conversation_through_allowed_hosts() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let (weather_url, asked) = weather_api().await;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    build_copy(&dir, &example("python-weather"), &plugins, |_| {});
    // The same handler without `network`: its component has no way out at all.
    let offline = dir.path().join("offline");
    build_copy(&dir, &example("python-weather"), &offline, |folder| {
        replace_in_manifest(folder, "id = \"python-weather\"", "id = \"python-weather-offline\"");
        replace_in_manifest(
            folder,
            "permissions = [\"network\", \"messages.write\"]",
            "permissions = [\"messages.write\"]",
        );
        replace_in_manifest(folder, "allowed_hosts = [\"api.weather.com\", \"127.0.0.1:*\"]", "");
    });
    let both = format!("{},{}", plugins.display(), offline.display());
    let cache = compiled_cache();
    let server = start_server_with(
        &dir,
        &[
            ("PLUGINS_DIRS", &both),
            ("PLUGBOARD_OPENAI_BASE_URL", &fixture.base_url()),
            ("PLUGBOARD_CACHE_DIR", text(&cache)),
        ],
    );
    let client = signed_in_client(&format!("{}/api/auth/signup", server.base), "admin").await;
    for id in ["python-weather", "python-weather-offline"] {
        let entry = wait_loaded(&server, &client, id).await;
        assert_eq!(entry["state"], "enabled", "{entry}");
        assert!(entry["hooks"].as_array().unwrap().contains(&json!("events")), "{entry}");
        let response = client
            .put(format!("{}/api/plugins/{id}/config", server.base))
            .json(&json!({"weather_url": weather_url}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    }

    let (status, turn) =
        post(&server, &client, "/api/chat", json!({"message": "!weather São Paulo", "model": "openai/echo"})).await;
    assert_eq!(status, 200, "{turn}");
    let conversation = turn["conversation_id"].as_str().unwrap().to_owned();
    let answer = plugin_message(&server, &client, &conversation, "python-weather").await;
    assert_eq!(answer, "Weather: 22.5°C, Sunny");
    let offline_answer = plugin_message(&server, &client, &conversation, "python-weather-offline").await;
    assert_eq!(offline_answer, "Weather: not available for São Paulo right now");
    // Only the plugin with `network` reached the API.
    assert_eq!(*asked.lock().unwrap(), ["São Paulo"]);

    // A message without the trigger gets no answer from it.
    let (_, quiet) = post(
        &server,
        &client,
        "/api/chat",
        json!({"message": "what is the weather like?", "model": "openai/echo", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(quiet["reply"]["content"], "Echo: what is the weather like?", "{quiet}");
    let messages = get(&server, &client, &format!("/api/conversations/{conversation}/messages")).await;
    let from_plugin = messages
        .get("messages")
        .unwrap_or(&messages)
        .as_array()
        .into_iter()
        .flatten()
        .filter(|message| message["author"] == "plugin:python-weather")
        .count();
    assert_eq!(from_plugin, 1, "{messages}");
}

/// A Python loop and a JavaScript allocation bomb are stopped by the deadline and the
/// memory ceiling, the calls fail with the reason, and a fresh instance answers the next
/// call, as for Rust plugins.
#[tokio::test(flavor = "multi_thread")]
async fn a_python_loop_and_a_javascript_allocation_bomb_are_stopped_by_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    build_copy(&dir, &fixture("python-runaway"), &plugins, |_| {});
    build_copy(&dir, &fixture("js-runaway"), &plugins, |_| {});
    let (server, client) = serve(&dir, &plugins, &crate::nowhere_url()).await;
    for id in ["python-runaway", "js-runaway"] {
        wait_loaded(&server, &client, id).await;
        let call = |tool: &str| json!({"plugin_id": id, "method": tool, "kwargs": {}});
        let (status, answer) = post(&server, &client, "/api/plugins/execute", call("ping")).await;
        assert_eq!((status, &answer["result"]), (200, &json!("pong")), "{id}: {answer}");

        let started = Instant::now();
        let (status, answer) = post(&server, &client, "/api/plugins/execute", call("spin")).await;
        assert_ne!(status, 200, "{id}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            message.contains("deadline") || message.contains("timed out") || message.contains("time"),
            "{id}: {answer}"
        );
        assert!(started.elapsed() < Duration::from_secs(30), "{id}: the loop was stopped");

        let (status, answer) = post(&server, &client, "/api/plugins/execute", call("hoard")).await;
        assert_ne!(status, 200, "{id}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(message.contains("memory"), "{id}: {answer}");

        let (status, answer) = post(&server, &client, "/api/plugins/execute", call("ping")).await;
        assert_eq!((status, &answer["result"]), (200, &json!("pong")), "{id} after its faults: {answer}");
    }
}

/// The TypeScript notes plugin with a sidebar widget: its commands in chat, its tools
/// through the API, its routes as the widget calls them, the widget's page, its health
/// and self-test; a copy whose manifest does not grant `kv` is refused the store.
#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_notes_plugin_answers_in_chat_its_routes_and_its_widget() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    build_copy(&dir, &example("ts-widget"), &plugins, |_| {});
    build_copy(&dir, &example("ts-widget"), &dir.path().join("nokv"), |folder| {
        replace_in_manifest(folder, "id = \"ts-widget\"", "id = \"ts-widget-nokv\"");
        replace_in_manifest(folder, "permissions = [\"kv\"]", "permissions = []");
        // Slash commands are the server's namespace: the copy's must not clash.
        replace_in_manifest(folder, "name = \"note\"\n", "name = \"nokv-note\"\n");
        replace_in_manifest(folder, "name = \"notes\"\n", "name = \"nokv-notes\"\n");
    });
    let nokv = dir.path().join("nokv/ts-widget");
    std::fs::rename(&nokv, plugins.join("ts-widget-nokv")).unwrap();
    let (server, client) = serve(&dir, &plugins, &crate::nowhere_url()).await;
    let entry = wait_loaded(&server, &client, "ts-widget").await;
    assert_eq!(entry["state"], "enabled", "{entry}");
    for hook in ["tools", "commands", "http", "events", "health", "self-test"] {
        assert!(entry["hooks"].as_array().unwrap().contains(&json!(hook)), "{hook} in {entry}");
    }
    assert_eq!(entry["ui"][0]["mount"], "sidebar", "{entry}");

    let (status, turn) = post(&server, &client, "/api/chat", json!({"message": "/note buy milk"})).await;
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["reply"]["content"], "Noted (#1).", "{turn}");
    let (status, answer) = post(
        &server,
        &client,
        "/api/plugins/execute",
        json!({"plugin_id": "ts-widget", "method": "add_note", "kwargs": {"text": "call Zoë: €5 🌍"}}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let result: Value = serde_json::from_str(answer["result"].as_str().unwrap()).unwrap();
    assert_eq!(result, json!({"noted": "call Zoë: €5 🌍", "id": 2}));

    // The routes the widget calls.
    let notes = get(&server, &client, "/api/plugins/ts-widget/http/notes").await;
    let texts: Vec<&str> = notes["notes"].as_array().unwrap().iter().filter_map(|note| note["text"].as_str()).collect();
    assert_eq!(texts, ["call Zoë: €5 🌍", "buy milk"], "{notes}");
    let (status, refused) = post(&server, &client, "/api/plugins/ts-widget/http/notes", json!({"text": "  "})).await;
    assert_eq!(status, 400, "{refused}");
    let deleted = client.delete(format!("{}/api/plugins/ts-widget/http/notes/1", server.base)).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    let (_, turn) = post(&server, &client, "/api/chat", json!({"message": "/notes"})).await;
    assert_eq!(turn["reply"]["content"], "- call Zoë: €5 🌍 (#2)", "{turn}");

    // The widget's page, served sandboxed.
    let page = client.get(format!("{}/api/plugins/ts-widget/ui/notes.html", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("content-security-policy"));
    assert!(page.text().await.unwrap().contains("/notes"), "the widget calls the plugin's routes");

    let health = get(&server, &client, "/api/plugins/health").await;
    assert_eq!(health["plugins"]["ts-widget"]["status"], "healthy", "{health}");
    let (status, tested) = post(&server, &client, "/api/plugins/ts-widget/self-test", json!({})).await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["passed"], true, "{tested}");

    // Without `kv`, the store is refused with the host's message.
    wait_loaded(&server, &client, "ts-widget-nokv").await;
    let (status, answer) =
        post(&server, &client, "/api/chat", json!({"message": "/run ts-widget-nokv buy milk"})).await;
    let text = answer.to_string();
    assert!(text.contains("needs permission `kv`"), "{status}: {answer}");
}
