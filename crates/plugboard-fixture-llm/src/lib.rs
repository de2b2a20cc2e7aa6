//! A deterministic model server that speaks the OpenAI chat-completions protocol
//! (`GET /v1/models`, `POST /v1/chat/completions`, JSON and server-sent events, tool
//! calls), so Plugboard's chat pipeline can be tested and benchmarked without a model.
//!
//! What it answers, given the last message of the request:
//! - a user message holding `tool:<name> <json arguments>` with that tool offered: a
//!   tool call;
//! - a tool result: `The tool said: <result>`;
//! - anything else: `Echo: <the user's text>`, streamed a word at a time.
//!
//! Models: `echo` (immediate), `fixed` (always the same short reply, whatever the prompt,
//! for load tests), `slow` (a long reply, 20 ms between chunks, for cancellation and crash
//! tests), `broken` (answers 500), `flaky` (every odd-numbered request to it answers 503,
//! so a retry succeeds), `dies` (streams a few words, then the connection breaks) and `nul`
//! (as `echo`, with a U+0000 after `Echo:` and at the end, for text a store cannot keep).
//! Every request body is kept,
//! so a test can check what the model was sent (after the plugins' filters).
//!
//! [`FixtureHub`] stands in for the Hugging Face hub, for model downloads.

mod hub;

pub use hub::{FixtureHub, HubFile};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

/// A running fixture server.
#[derive(Debug, Clone)]
pub struct FixtureLlm {
    /// Its address.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl FixtureLlm {
    /// Starts on 127.0.0.1 on a free port, in the current tokio runtime.
    pub async fn start() -> anyhow::Result<FixtureLlm> {
        FixtureLlm::start_on("127.0.0.1:0".parse()?).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<FixtureLlm> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/v1/models", get(models))
            .route("/v1/chat/completions", post(complete))
            .with_state(requests.clone());
        // Streamed replies are many small writes: send each at once (no Nagle delay).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("fixture model server stopped: {error}");
            }
        });
        Ok(FixtureLlm { addr, requests })
    }

    /// The base URL to configure (`http://127.0.0.1:<port>/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every chat-completion request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

async fn models() -> Json<Value> {
    let model = |id: &str| json!({"id": id, "object": "model", "created": 0, "owned_by": "fixture"});
    Json(json!({"object": "list", "data": [model("echo"), model("fixed"), model("slow"), model("broken"),
                                           model("flaky"), model("dies"), model("nul")]}))
}

/// What the fixture decided to answer.
enum Answer {
    Text(String),
    ToolCall { name: String, arguments: String },
}

fn answer(request: &Value) -> Answer {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let Some(last) = messages.last() else { return Answer::Text("Echo: ".into()) };
    let text = content_text(&last["content"]);
    if last["role"] == "tool" {
        return Answer::Text(format!("The tool said: {text}"));
    }
    let offered: Vec<&str> = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| tool["function"]["name"].as_str())
        .collect();
    // Anywhere in the message, so a filter's tag in front does not hide it.
    if let Some(rest) = text.find("tool:").map(|at| &text[at + "tool:".len()..]) {
        let (name, arguments) = rest.split_once(' ').unwrap_or((rest, "{}"));
        if offered.contains(&name) {
            return Answer::ToolCall { name: name.to_owned(), arguments: arguments.trim().to_owned() };
        }
    }
    if request["model"] == "fixed" {
        return Answer::Text("Noted, thank you.".into());
    }
    if request["model"] == "slow" {
        let words: Vec<String> = (1..=300).map(|n| format!("word{n}")).collect();
        return Answer::Text(words.join(" "));
    }
    if request["model"] == "nul" {
        return Answer::Text(format!("Echo:\u{0} {text}\u{0}"));
    }
    Answer::Text(format!("Echo: {text}"))
}

/// A message's text: a string, or the text parts of a content array.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(|part| part["text"].as_str()).collect::<Vec<_>>().join(""),
        _ => String::new(),
    }
}

fn word_count(request: &Value) -> usize {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|message| content_text(&message["content"]).split_whitespace().count())
        .sum()
}

async fn complete(State(requests): State<Arc<Mutex<Vec<Value>>>>, Json(request): Json<Value>) -> Response {
    let flaky_before = {
        let mut requests = requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        requests.push(request.clone());
        // Counted only for `flaky` itself: scanning every recorded request each time made
        // a long load run quadratic.
        if request["model"] == "flaky" {
            requests.iter().filter(|earlier| earlier["model"] == "flaky").count()
        } else {
            0
        }
    };
    let model = request["model"].as_str().unwrap_or("echo").to_owned();
    if model == "broken" {
        let error = json!({"error": {"message": "the broken model always fails", "type": "server_error"}});
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(error)).into_response();
    }
    if model == "flaky" && flaky_before % 2 == 1 {
        let error = json!({"error": {"message": "overloaded, try again", "type": "server_error"}});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(error)).into_response();
    }
    if model == "dies" {
        // A few words, then the body ends in an error: the connection breaks mid-reply.
        let chunk = |text: &str| {
            let body = json!({"id": "chatcmpl-fixture", "object": "chat.completion.chunk", "created": 0,
                              "model": "dies", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
            Ok::<_, std::io::Error>(format!("data: {body}\n\n"))
        };
        let events =
            vec![chunk("Before"), chunk(" the"), chunk(" end"), Err(std::io::Error::other("the model server died"))];
        // A pause before each piece, so what comes before the break is on the wire.
        let events = futures_util::stream::iter(events).then(|event| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            event
        });
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from_stream(events))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    let prompt_tokens = word_count(&request);
    let answer = answer(&request);
    if request["stream"] != true {
        let (message, finish, completion_tokens) = match answer {
            Answer::Text(text) => {
                let tokens = text.split_whitespace().count();
                (json!({"role": "assistant", "content": text}), "stop", tokens)
            }
            Answer::ToolCall { name, arguments } => (
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
                ]}),
                "tool_calls",
                1,
            ),
        };
        return Json(json!({
            "id": "chatcmpl-fixture", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}
        }))
        .into_response();
    }
    let delay = if model == "slow" { Duration::from_millis(20) } else { Duration::ZERO };
    let chunk = move |delta: Value, finish: Option<&str>| {
        let body = json!({"id": "chatcmpl-fixture", "object": "chat.completion.chunk", "created": 0, "model": model,
                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {body}\n\n")
    };
    let mut events: Vec<String> = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    let completion_tokens = match answer {
        Answer::Text(text) => {
            let words: Vec<&str> = text.split(' ').collect();
            for (index, word) in words.iter().enumerate() {
                let piece = if index == 0 { (*word).to_owned() } else { format!(" {word}") };
                events.push(chunk(json!({"content": piece}), None));
            }
            events.push(chunk(json!({}), Some("stop")));
            words.len()
        }
        Answer::ToolCall { name, arguments } => {
            // Split the arguments over two chunks, as real servers do.
            let middle = arguments.len() / 2;
            let middle = (0..=middle).rev().find(|at| arguments.is_char_boundary(*at)).unwrap_or(0);
            events.push(chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                       "function": {"name": name, "arguments": &arguments[..middle]}}]}),
                None,
            ));
            events.push(chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": &arguments[middle..]}}]}),
                None,
            ));
            events.push(chunk(json!({}), Some("tool_calls")));
            1
        }
    };
    let usage = json!({"id": "chatcmpl-fixture", "object": "chat.completion.chunk", "choices": [],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens}});
    events.push(format!("data: {usage}\n\n"));
    events.push("data: [DONE]\n\n".to_owned());
    let stream = futures_util::stream::iter(events).then(move |event| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok::<_, std::convert::Infallible>(event)
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
