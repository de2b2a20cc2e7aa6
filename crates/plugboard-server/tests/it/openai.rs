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
            "fixture/broken+tools",
            "fixture/dies",
            "fixture/dies+tools",
            "fixture/echo",
            "fixture/echo+tools",
            "fixture/fixed",
            "fixture/fixed+tools",
            "fixture/flaky",
            "fixture/flaky+tools",
            "fixture/nul",
            "fixture/nul+tools",
            "fixture/slow",
            "fixture/slow+tools"
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

#[tokio::test]
async fn plugboards_tools_run_server_side_only_when_the_client_asks() {
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let asks = json!([{"role": "user", "content": r#"tool:calculator__calculate {"expression": "6*7"}"#}]);

    // Without the opt-in, /v1 is a plain pass-through: no tool of Plugboard's is offered.
    let (status, plain) = alice.post("/v1/chat/completions", json!({"model": "fixture/echo", "messages": asks})).await;
    assert_eq!(status, 200, "{plain}");
    assert!(server.fixture.requests()[0].get("tools").is_none(), "no tools offered: {:?}", server.fixture.requests());
    assert!(plain["choices"][0]["message"]["content"].as_str().unwrap().starts_with("Echo: "), "{plain}");

    // The request field: the calculator runs on the server, the model answers with its result.
    let body = json!({"model": "fixture/echo", "messages": asks, "plugboard_tools": true});
    let (status, answered) = alice.post("/v1/chat/completions", body).await;
    assert_eq!(status, 200, "{answered}");
    let choice = &answered["choices"][0];
    assert_eq!(choice["message"]["content"], "The tool said: 42", "{answered}");
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["message"].get("tool_calls").is_none_or(|calls| calls == &json!([])), "{answered}");
    let requests = server.fixture.requests();
    assert_eq!(requests[1]["tools"][0]["function"]["name"], "calculator__calculate");
    let last = requests[2]["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["role"].as_str(), last["content"].as_str()), (Some("tool"), Some("42")));
    // The usage is both steps', as the upstream counts them.
    let mut counted = (0, 0);
    for sent in &requests[1..3] {
        let mut body = sent.clone();
        body["stream"] = json!(false);
        body.as_object_mut().unwrap().remove("stream_options");
        let upstream: Value = server
            .client
            .post(format!("{}/chat/completions", server.fixture.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        counted.0 += upstream["usage"]["prompt_tokens"].as_u64().unwrap();
        counted.1 += upstream["usage"]["completion_tokens"].as_u64().unwrap();
    }
    let usage = &answered["usage"];
    assert_eq!((usage["prompt_tokens"].as_u64().unwrap(), usage["completion_tokens"].as_u64().unwrap()), counted);

    // The model alias, streamed: the client sees the text, never the server's tool call.
    let body = json!({"model": "fixture/echo+tools", "messages": asks, "stream": true});
    let response = alice.request(reqwest::Method::POST, "/v1/chat/completions").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let chunks = stream_chunks(&response.text().await.unwrap());
    let text: String =
        chunks.iter().filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str()).collect::<String>();
    assert_eq!(text, "The tool said: 42", "{chunks:?}");
    assert!(chunks.iter().all(|chunk| chunk["choices"][0]["delta"].get("tool_calls").is_none()), "{chunks:?}");
    assert_eq!(chunks[0]["model"], "fixture/echo+tools", "the chunks name the model as asked");

    // The client's own tools still come back to the client beside Plugboard's.
    let lookup = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let body = json!({"model": "fixture/echo+tools", "tools": lookup,
                      "messages": [{"role": "user", "content": r#"tool:lookup {"q": "x"}"#}]});
    let (status, called) = alice.post("/v1/chat/completions", body).await;
    assert_eq!(status, 200, "{called}");
    assert_eq!(called["choices"][0]["finish_reason"], "tool_calls", "{called}");
    assert_eq!(called["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "lookup");
    let offered: Vec<String> = server.fixture.requests().last().unwrap()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(offered, ["lookup", "calculator__calculate"]);

    // A client tool named like one of Plugboard's is refused, with what to do.
    let clash = json!([{"type": "function", "function": {"name": "calculator__calculate", "parameters": {}}}]);
    let body = json!({"model": "fixture/echo", "tools": clash, "messages": asks, "plugboard_tools": true});
    let (status, refused) = alice.post("/v1/chat/completions", body).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_input");
    assert!(refused["error"]["message"].as_str().unwrap().contains("rename it"), "{refused}");

    // A tool that needs a person's approval (or is denied) is not offered: no one is there
    // to approve it.
    for policy in ["ask", "deny"] {
        let (status, set) =
            alice.put("/api/tool-policies", json!({"key": "calculator__calculate", "policy": policy})).await;
        assert_eq!(status, 200, "{set}");
        let body = json!({"model": "fixture/echo+tools", "messages": asks});
        let (status, plain) = alice.post("/v1/chat/completions", body).await;
        assert_eq!(status, 200, "{plain}");
        assert!(server.fixture.requests().last().unwrap().get("tools").is_none(), "{policy}: nothing offered");
        assert!(plain["choices"][0]["message"]["content"].as_str().unwrap().starts_with("Echo: "), "{plain}");
    }
}
