//! The embedded local model through the server: a configured file, the default model
//! downloaded on first start, and `plugboard model pull | list`.

use std::time::Duration;

use plugboard_fixture_llm::{FixtureHub, HubFile};
use plugboard_local::tiny::TinyModel;
use serde_json::{Value, json};

use super::{nowhere_url, plugboard, signed_in_client, start_server_with};

/// Waits until `/api/models` offers `model`.
async fn wait_for_model(client: &reqwest::Client, base: &str, model: &str) -> Value {
    for _ in 0..200 {
        let models: Value = client.get(format!("{base}/api/models")).send().await.unwrap().json().await.unwrap();
        if models["models"].as_array().unwrap().iter().any(|entry| entry["id"] == model) {
            return models;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{model} never became available");
}

fn tiny_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    TinyModel::default().write(&path).unwrap();
    std::fs::read(path).unwrap()
}

/// Server-sent events of a streamed turn, as (event, data) pairs.
async fn stream_turn(client: &reqwest::Client, base: &str, body: Value) -> Vec<(String, Value)> {
    let text = client.post(format!("{base}/api/chat/stream")).json(&body).send().await.unwrap().text().await.unwrap();
    text.split("\n\n")
        .filter_map(|block| {
            let event = block.lines().find_map(|line| line.strip_prefix("event: "))?;
            let data = block.lines().find_map(|line| line.strip_prefix("data: "))?;
            Some((event.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_model_file_answers_streamed_chat_by_default() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-chat.gguf");
    TinyModel::default().write(&model).unwrap();
    let nowhere = nowhere_url();
    let server =
        start_server_with(&dir, &[("PLUGBOARD_MODEL", model.to_str().unwrap()), ("PLUGBOARD_OLLAMA_URL", &nowhere)]);
    let client = signed_in_client(&format!("{}/api/auth/signup", server.base), "local").await;
    let models = wait_for_model(&client, &server.base, "local/tiny-chat").await;
    assert_eq!(models["default"], "local/tiny-chat");
    let entry = &models["models"][0];
    assert_eq!(entry["info"]["context_length"], 256);
    assert_eq!(entry["info"]["supports_tools"], false);

    let events = stream_turn(&client, &server.base, json!({"message": "hello there"})).await;
    let names: Vec<&str> = events.iter().map(|(event, _)| event.as_str()).collect();
    assert_eq!(names.first(), Some(&"conversation"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    let deltas: String = events
        .iter()
        .filter(|(event, _)| event == "delta")
        .map(|(_, data)| data["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(deltas.len() > 10, "the tiny model streamed its (random) reply: {deltas:?}");
    let done = &events.last().unwrap().1;
    assert_eq!(done["model"], "local/tiny-chat", "{done}");
    assert!(done["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{done}");

    // The stored reply is the streamed text (the bundled tagger ships disabled).
    let conversation = events[0].1["conversation_id"].as_str().unwrap();
    let messages: Value = client
        .get(format!("{}/api/conversations/{conversation}/messages", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reply = &messages["messages"][1];
    assert_eq!(reply["status"], "complete");
    assert_eq!(reply["content"].as_str().unwrap(), deltas);

    // The OpenAI-compatible API counts the local model's tokens: the prompt's and those
    // generated, streamed or not.
    let request = json!({"model": "local/tiny-chat", "max_tokens": 8,
                         "messages": [{"role": "user", "content": "count my tokens"}]});
    let completion: Value = client
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let usage = &completion["usage"];
    let (prompt, generated) = (usage["prompt_tokens"].as_u64().unwrap(), usage["completion_tokens"].as_u64().unwrap());
    assert!(prompt > 3 && (1..=8).contains(&generated), "{completion}");
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt + generated);
    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let text = client
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last: Value = text
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .last()
        .map(|data| serde_json::from_str(data).unwrap())
        .unwrap();
    assert_eq!(last["usage"]["prompt_tokens"].as_u64().unwrap(), prompt, "{last}");
    assert!(last["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_model_is_downloaded_on_first_start() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hub = FixtureHub::start(vec![HubFile {
        repo: "test/tiny-GGUF".into(),
        file: "tiny-default.gguf".into(),
        bytes: tiny_bytes(),
        announced_sha256: None,
    }])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plugboard.toml"),
        "[models.local]\nrepo = \"test/tiny-GGUF\"\nfile = \"tiny-default.gguf\"\n",
    )
    .unwrap();
    let nowhere = nowhere_url();
    let endpoint = hub.endpoint();
    let mut server = start_server_with(
        &dir,
        &[("PLUGBOARD_NO_MODEL_DOWNLOAD", "false"), ("HF_ENDPOINT", &endpoint), ("PLUGBOARD_OLLAMA_URL", &nowhere)],
    );
    let client = signed_in_client(&format!("{}/api/auth/signup", server.base), "first").await;
    let models = wait_for_model(&client, &server.base, "local/tiny-default").await;
    assert_eq!(models["default"], "local/tiny-default");
    let turn: Value = client
        .post(format!("{}/api/chat", server.base))
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["model"], "local/tiny-default", "{turn}");

    // The next start uses the cached file: no more requests to the hub.
    let served = hub.requests();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = start_server_with(
        &dir,
        &[("PLUGBOARD_NO_MODEL_DOWNLOAD", "false"), ("HF_ENDPOINT", &endpoint), ("PLUGBOARD_OLLAMA_URL", &nowhere)],
    );
    let client = super::session_client(&format!("{}/api/auth/login", server.base), "first", 200).await;
    wait_for_model(&client, &server.base, "local/tiny-default").await;
    assert_eq!(hub.requests(), served);

    let output = plugboard(&dir).args(["model", "list"]).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("local/tiny-default  0 MB  test/tiny-GGUF/tiny-default.gguf\n"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn model_pull_checks_the_hub_checksum() {
    let bytes = tiny_bytes();
    let hub = FixtureHub::start(vec![
        HubFile { repo: "test/good".into(), file: "good.gguf".into(), bytes: bytes.clone(), announced_sha256: None },
        HubFile { repo: "test/bad".into(), file: "bad.gguf".into(), bytes, announced_sha256: Some("ab".repeat(32)) },
    ])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pull = |repo: &str, file: &str| {
        plugboard(&dir).args(["model", "pull", repo, file]).env("HF_ENDPOINT", hub.endpoint()).output().unwrap()
    };
    let output = tokio::task::block_in_place(|| pull("test/good", "good.gguf"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let path = String::from_utf8(output.stdout).unwrap();
    assert!(path.trim_end().ends_with("snapshots/0123456789abcdef0123456789abcdef01234567/good.gguf"), "{path}");
    assert_eq!(std::fs::read(path.trim_end()).unwrap(), tiny_bytes());

    let output = tokio::task::block_in_place(|| pull("test/bad", "bad.gguf"));
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("does not match the hub's SHA-256"), "{stderr}");

    let output = tokio::task::block_in_place(|| pull("test/good", "missing.gguf"));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot download missing.gguf from test/good"), "{stderr}");

    let output = plugboard(&dir).args(["model", "list"]).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("local/good"), "{stdout}");
    assert!(!stdout.contains("local/bad"), "a file that failed its check is not kept: {stdout}");
}
