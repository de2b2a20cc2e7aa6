//! The OpenAI-compatible API, driven by the official `openai` Python client (installed
//! into a virtual environment under cargo's test scratch directory on first use).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::TestServer;

/// A Python with the `openai` package, made on first use.
fn python_with_openai() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("openai-venv");
    let python = venv.join("bin/python");
    let ready = || Command::new(&python).args(["-c", "import openai"]).status().is_ok_and(|s| s.success());
    if !ready() {
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 is installed");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "openai>=1.50,<3"])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install openai failed");
    }
    python
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_openai_client_works_against_plugboard() {
    let server = TestServer::start(&["example-tagger"]).await;
    let alice = server.signup("alice").await;
    let (_, created) = alice.post("/api/tokens", json!({"name": "openai client"})).await;
    let token = created["token"].as_str().unwrap().to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/openai_client.py");
    let python = tokio::task::spawn_blocking(python_with_openai).await.unwrap();
    let output = tokio::process::Command::new(python)
        .arg(script)
        .env("PLUGBOARD_BASE_URL", &server.base)
        .env("PLUGBOARD_TOKEN", &token)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        result["models"],
        json!([
            "fixture/broken",
            "fixture/dies",
            "fixture/echo",
            "fixture/fixed",
            "fixture/flaky",
            "fixture/nul",
            "fixture/slow"
        ])
    );
    // The plugin pipeline applies: the tagger tags the prompt and the reply.
    assert_eq!(result["content"], "Echo: [tagged] hi\n\n[tagged]");
    assert_eq!(result["finish_reason"], "stop");
    assert!(result["usage"].as_u64().unwrap() > 0);
    assert_eq!(result["streamed"], "Echo: [tagged] stream please\n\n[tagged]");
    assert_eq!(result["plain_stream"], "Echo: [tagged] again\n\n[tagged]");
    assert_eq!(result["roles"], json!(["assistant"]));
    assert_eq!(result["tool_call"], json!(["lookup", "{\"q\": \"x\"}"]));
    assert_eq!(result["unknown_model"], "unknown_model");
    assert_eq!(result["bad_key"], "refused");
    let sent = server.fixture.requests();
    assert_eq!(sent[1]["messages"][0], json!({"role": "system", "content": "be brief"}));
    assert_eq!(sent.len(), 4, "the unknown model never reached the fixture");

    // Every user message of the history passes the prompt filters, not only the last.
    let response = server
        .client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&json!({"model": "fixture/echo", "messages": [
            {"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let sent = server.fixture.requests().pop().unwrap();
    let contents: Vec<&str> =
        sent["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["[tagged] first", "ok", "[tagged] second"]);
}

/// The `data:` payloads of a streamed answer, `[DONE]` left out.
fn stream_chunks(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| event.lines().find_map(|line| line.strip_prefix("data: ")))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

#[tokio::test]
async fn usage_is_the_upstreams_token_counts_streamed_or_not() {
    let server = TestServer::start(&[]).await;
    let alice = server.signup("alice").await;
    let messages = json!([{"role": "user", "content": "count these four words"}]);
    // What the upstream itself counts for the same request.
    let upstream: Value = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.fixture.base_url()))
        .json(&json!({"model": "echo", "messages": messages}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let counts = upstream["usage"].clone();
    assert!(counts["prompt_tokens"].as_u64().unwrap() > 0 && counts["completion_tokens"].as_u64().unwrap() > 0);

    let (status, completion) =
        alice.post("/v1/chat/completions", json!({"model": "fixture/echo", "messages": messages})).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{completion}");
    assert_eq!(completion["usage"], counts, "{completion}");

    let streamed = |include_usage: bool| {
        let body = json!({"model": "fixture/echo", "messages": messages, "stream": true,
                          "stream_options": {"include_usage": include_usage}});
        let request = alice.request(reqwest::Method::POST, "/v1/chat/completions").json(&body);
        async move { stream_chunks(&request.send().await.unwrap().text().await.unwrap()) }
    };
    let chunks = streamed(true).await;
    let last = chunks.last().unwrap();
    assert_eq!((last["choices"].clone(), last["usage"].clone()), (json!([]), counts), "{chunks:?}");
    assert!(chunks[..chunks.len() - 1].iter().all(|chunk| chunk.get("usage").is_none()), "{chunks:?}");
    let chunks = streamed(false).await;
    assert!(chunks.iter().all(|chunk| chunk.get("usage").is_none()), "no usage unless asked for: {chunks:?}");
}
