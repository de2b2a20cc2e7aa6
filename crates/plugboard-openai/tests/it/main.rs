//! The OpenAI-compatible provider against the fixture model server, which speaks the real
//! protocol (JSON and server-sent events, tool calls split over chunks, errors).

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::time::Duration;

use plugboard_fixture_llm::FixtureLlm;
use plugboard_openai::{OpenAiConfig, OpenAiProvider};
use plugboard_types::{
    CompletionChunk, CompletionMessage, CompletionRequest, FinishReason, Provider, ProviderError, Role, ToolSpec,
};
use serde_json::json;
use tokio::sync::mpsc;

/// TLS settings for a client that talks plain HTTP to the fixture only.
fn tls() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

fn request(model: &str, text: &str, tools: Vec<ToolSpec>) -> CompletionRequest {
    CompletionRequest {
        model: model.into(),
        messages: vec![CompletionMessage {
            role: Role::User,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: String::new(),
        }],
        tools,
        temperature: None,
        top_p: None,
        max_tokens: None,
    }
}

async fn provider() -> (FixtureLlm, OpenAiProvider) {
    let fixture = FixtureLlm::start().await.unwrap();
    let provider = OpenAiProvider::new(OpenAiConfig::new("fixture", fixture.base_url()), tls()).unwrap();
    (fixture, provider)
}

#[tokio::test]
async fn streams_text_as_it_comes_and_returns_the_whole_completion() {
    let (_fixture, provider) = provider().await;
    let (sink, mut chunks) = mpsc::channel(64);
    let completion = provider.complete(request("echo", "hello there", Vec::new()), sink).await.unwrap();
    let mut streamed = String::new();
    while let Some(CompletionChunk::Delta(text)) = chunks.recv().await {
        streamed.push_str(&text);
    }
    assert_eq!(streamed, "Echo: hello there");
    assert_eq!(completion.content, "Echo: hello there");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!((completion.usage.prompt_tokens, completion.usage.completion_tokens), (2, 3));
}

#[tokio::test]
async fn assembles_a_tool_call_streamed_in_pieces() {
    let (fixture, provider) = provider().await;
    let tool = ToolSpec { name: "calc".into(), description: "math".into(), parameters: json!({"type": "object"}) };
    let (sink, _chunks) = mpsc::channel(64);
    let completion =
        provider.complete(request("echo", r#"tool:calc {"expression": "1+1"}"#, vec![tool]), sink).await.unwrap();
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_eq!(completion.tool_calls.len(), 1);
    assert_eq!(completion.tool_calls[0].name, "calc");
    assert_eq!(completion.tool_calls[0].arguments, r#"{"expression": "1+1"}"#);
    assert_eq!(fixture.requests()[0]["tools"][0]["function"]["parameters"], json!({"type": "object"}));
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_with_the_servers_message() {
    let (fixture, provider) = provider().await;
    let (sink, _chunks) = mpsc::channel(64);
    let error = provider.complete(request("broken", "hi", Vec::new()), sink).await.unwrap_err();
    assert_eq!(error, ProviderError::Status { status: 500, message: "the broken model always fails".into() });
    assert_eq!(fixture.requests().len(), 3, "three attempts");
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_the_reply_arrives() {
    let (fixture, provider) = provider().await;
    let (sink, mut chunks) = mpsc::channel(64);
    let completion = provider.complete(request("flaky", "hi", Vec::new()), sink).await.unwrap();
    assert_eq!(completion.content, "Echo: hi");
    assert_eq!(fixture.requests().len(), 2, "the 503 was retried once");
    let mut streamed = String::new();
    while let Some(CompletionChunk::Delta(text)) = chunks.recv().await {
        streamed.push_str(&text);
    }
    assert_eq!(streamed, "Echo: hi", "nothing of the failed attempt was streamed");
}

#[tokio::test]
async fn a_server_that_dies_mid_stream_fails_the_completion_after_what_it_sent() {
    let (fixture, provider) = provider().await;
    let (sink, mut chunks) = mpsc::channel(64);
    let error = provider.complete(request("dies", "hi", Vec::new()), sink).await.unwrap_err();
    assert_eq!(error.code(), "model_protocol", "{error}");
    assert!(error.to_string().contains("the reply stream broke"), "{error}");
    let mut streamed = String::new();
    while let Some(CompletionChunk::Delta(text)) = chunks.recv().await {
        streamed.push_str(&text);
    }
    assert_eq!(streamed, "Before the end", "what arrived before the break was streamed");
    assert_eq!(fixture.requests().len(), 1, "a stream that started is not retried (its text was shown)");
}

#[tokio::test]
async fn an_unreachable_server_is_named_in_the_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let mut config = OpenAiConfig::new("gone", url.clone());
    config.backoff = Duration::from_millis(1);
    let provider = OpenAiProvider::new(config, tls()).unwrap();
    let error = provider.models().await.unwrap_err();
    assert_eq!(error.code(), "model_unreachable");
    assert!(error.to_string().contains(&url), "{error}");
}
