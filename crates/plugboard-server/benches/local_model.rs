//! The embedded local model on SmolLM2-135M-Instruct (Q4_1, fetched from PyPI): prompt
//! and generation tokens per second raw (the engine called directly) and through the full
//! server (`POST /v1/chat/completions`, streamed, over HTTP), rounds alternating so drift
//! on a shared machine hits both alike; then aggregate generation speed with 1, 2 and 4
//! conversations at once. Medians of the rounds are printed.
//!
//! `cargo bench -p plugboard-server --bench local_model` (`-- --rounds 5 --tokens 128`,
//! `--stream-interval-ms 0` to send every token alone;
//! `--raw-only` for the engine alone, `--server-only` for the server alone; both print the
//! process id when the rounds start, for `perf stat -p`).

#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark program")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plugboard_local::{LocalConfig, LocalModel, LocalProvider, LocalState, Sampling};
use plugboard_server::AppBuilder;
use plugboard_store::{SqliteStore, Store};
use plugboard_types::{CompletionChunk, CompletionMessage, Role};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const SYSTEM: &str = "You are a helpful assistant.";
const PROMPT: &str = "Write a long story about a lighthouse keeper who finds a message in a bottle. Describe the sea, the weather and the people of the village in detail.";

struct Options {
    rounds: usize,
    tokens: usize,
    /// Only the engine called directly (for `bench/local-model.sh`, which alternates it
    /// with llama.cpp).
    raw_only: bool,
    /// Only the server, for `perf stat -p` on the server path alone.
    server_only: bool,
    /// `[models.local] stream_interval_ms` (the default when not given).
    stream_interval_ms: Option<u64>,
}

fn options() -> Options {
    let mut options = Options { rounds: 5, tokens: 128, raw_only: false, server_only: false, stream_interval_ms: None };
    let args: Vec<String> = std::env::args().collect();
    options.raw_only = args.iter().any(|arg| arg == "--raw-only");
    options.server_only = args.iter().any(|arg| arg == "--server-only");
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--rounds" => options.rounds = pair[1].parse().unwrap(),
            "--tokens" => options.tokens = pair[1].parse().unwrap(),
            "--stream-interval-ms" => options.stream_interval_ms = Some(pair[1].parse().unwrap()),
            _ => {}
        }
    }
    options
}

/// One measured reply.
#[derive(Debug, Clone, Copy)]
struct Speed {
    prompt_tokens: usize,
    generated: usize,
    /// Time to the first piece of text.
    first: Duration,
    total: Duration,
}

impl Speed {
    fn prompt_rate(&self) -> f64 {
        self.prompt_tokens as f64 / self.first.as_secs_f64()
    }

    fn decode_rate(&self) -> f64 {
        (self.generated.saturating_sub(1)) as f64 / (self.total - self.first).as_secs_f64()
    }
}

fn messages() -> Vec<CompletionMessage> {
    let message = |role, content: &str| CompletionMessage {
        role,
        content: content.into(),
        tool_calls: Vec::new(),
        tool_call_id: String::new(),
    };
    vec![message(Role::System, SYSTEM), message(Role::User, PROMPT)]
}

fn sampling(tokens: usize) -> Sampling {
    Sampling { temperature: 0.0, max_tokens: tokens, until_limit: true, ..Sampling::default() }
}

async fn raw(model: &LocalModel, tokens: usize) -> Speed {
    let (sink, mut chunks) = mpsc::channel(4096);
    let started = Instant::now();
    let messages = messages();
    let generation = tokio::spawn({
        let model = model.clone();
        async move { model.generate(&messages, &[], sampling(tokens), sink).await.unwrap() }
    });
    let mut first = None;
    while let Some(chunk) = chunks.recv().await {
        if matches!(chunk, CompletionChunk::Delta(_)) && first.is_none() {
            first = Some(started.elapsed());
        }
    }
    let generation = generation.await.unwrap();
    Speed {
        prompt_tokens: generation.usage.prompt_tokens as usize,
        generated: generation.usage.completion_tokens as usize,
        first: first.unwrap(),
        total: started.elapsed(),
    }
}

/// A server with no plugins whose only model is `model`; returns its base URL and a token.
async fn server(model: &LocalModel, data: &std::path::Path) -> (String, String) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.join("plugboard.db")).await.unwrap());
    let state = AppBuilder::new(store)
        .provider(Arc::new(LocalProvider::new(LocalState::Ready(model.clone()))))
        .build()
        .await
        .unwrap();
    state.registry.start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(plugboard_server::serve(listener, state, std::future::pending()));
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"username": "bench", "password": "benchmark password"}))
        .send()
        .await
        .unwrap();
    let cookie = signup.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let token: Value = client
        .post(format!("{base}/api/tokens"))
        .header("cookie", cookie)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (base, token["token"].as_str().unwrap().to_owned())
}

/// The same request through `/v1/chat/completions`, streamed.
async fn served(base: &str, token: &str, model: &str, tokens: usize) -> Speed {
    let body = json!({
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0,
        "max_tokens": tokens,
    });
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let mut stream = response.bytes_stream();
    let mut first = None;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if first.is_none() && String::from_utf8_lossy(&chunk).contains("\"content\":\"") {
            first = Some(started.elapsed());
        }
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let total = started.elapsed();
    let usage = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|event| event["usage"].is_object())
        .map(|event| event["usage"].clone())
        .unwrap();
    Speed {
        prompt_tokens: usage["prompt_tokens"].as_u64().unwrap() as usize,
        generated: usage["completion_tokens"].as_u64().unwrap() as usize,
        first: first.unwrap(),
        total,
    }
}

/// Aggregate generated tokens per second with `conversations` replies at once.
async fn concurrent(model: &LocalModel, conversations: usize, tokens: usize) -> f64 {
    let started = Instant::now();
    let replies: Vec<_> = (0..conversations)
        .map(|_| {
            let model = model.clone();
            tokio::spawn(async move {
                let (sink, mut chunks) = mpsc::channel(4096);
                let drain = tokio::spawn(async move { while chunks.recv().await.is_some() {} });
                let generation = model.generate(&messages(), &[], sampling(tokens), sink).await.unwrap();
                drain.await.unwrap();
                generation.usage.completion_tokens as usize
            })
        })
        .collect();
    let mut generated = 0;
    for reply in replies {
        generated += reply.await.unwrap();
    }
    generated as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let options = options();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("models");
    let path = plugboard_local::fixtures::smollm2(&dir).unwrap();
    let loading = Instant::now();
    // Every round asks the same: without the prefix cache off, later rounds would continue
    // the first one's KV cache instead of running the prompt.
    let defaults = LocalConfig::default();
    let config = LocalConfig {
        max_concurrent: 4,
        prefix_cache_mb: 0,
        stream_interval_ms: options.stream_interval_ms.unwrap_or(defaults.stream_interval_ms),
        ..defaults
    };
    println!("stream interval {} ms", config.stream_interval_ms);
    let model = LocalModel::load(&path, config).unwrap();
    println!("loaded {} in {:.2} s", path.display(), loading.elapsed().as_secs_f64());
    let data = tempfile::tempdir().unwrap();
    if options.raw_only || options.server_only {
        // One path alone: for `bench/local-model.sh`, and for `perf stat -p` on one path.
        let (name, served_at) = if options.raw_only {
            ("raw", None)
        } else {
            let (base, token) = server(&model, data.path()).await;
            ("server", Some((base, token, format!("local/{}", model.summary().name))))
        };
        let run = async |tokens| match &served_at {
            None => raw(&model, tokens).await,
            Some((base, token, model_id)) => served(base, token, model_id, tokens).await,
        };
        run(8).await;
        println!("rounds start: pid {}", std::process::id());
        let (mut prompt, mut decode) = (vec![], vec![]);
        for round in 1..=options.rounds {
            let speed = run(options.tokens).await;
            println!(
                "round {round}: {name} {} prompt tokens at {:.0} tok/s, {} generated at {:.1} tok/s",
                speed.prompt_tokens,
                speed.prompt_rate(),
                speed.generated,
                speed.decode_rate()
            );
            prompt.push(speed.prompt_rate());
            decode.push(speed.decode_rate());
        }
        println!("{name} median: prompt {:.0} tok/s, generation {:.1} tok/s", median(&mut prompt), median(&mut decode));
        return;
    }
    let (base, token) = server(&model, data.path()).await;
    let model_id = format!("local/{}", model.summary().name);

    // Warm up both paths.
    raw(&model, 8).await;
    served(&base, &token, &model_id, 8).await;
    let (mut raw_prompt, mut raw_decode, mut sse_prompt, mut sse_decode) = (vec![], vec![], vec![], vec![]);
    for round in 1..=options.rounds {
        let a = raw(&model, options.tokens).await;
        let b = served(&base, &token, &model_id, options.tokens).await;
        println!(
            "round {round}: raw {} prompt tokens at {:.0} tok/s, {} generated at {:.1} tok/s | server {} prompt tokens at {:.0} tok/s, {} generated at {:.1} tok/s",
            a.prompt_tokens,
            a.prompt_rate(),
            a.generated,
            a.decode_rate(),
            b.prompt_tokens,
            b.prompt_rate(),
            b.generated,
            b.decode_rate()
        );
        raw_prompt.push(a.prompt_rate());
        raw_decode.push(a.decode_rate());
        sse_prompt.push(b.prompt_rate());
        sse_decode.push(b.decode_rate());
    }
    let (raw_prompt, raw_decode) = (median(&mut raw_prompt), median(&mut raw_decode));
    let (sse_prompt, sse_decode) = (median(&mut sse_prompt), median(&mut sse_decode));
    println!(
        "median: raw prompt {raw_prompt:.0} tok/s, generation {raw_decode:.1} tok/s; server (SSE) prompt {sse_prompt:.0} tok/s, generation {sse_decode:.1} tok/s; server overhead on generation {:.1}%",
        (1.0 - sse_decode / raw_decode) * 100.0
    );
    for conversations in [1, 2, 4] {
        let mut rates: Vec<f64> = Vec::new();
        for _ in 0..options.rounds.min(3) {
            rates.push(concurrent(&model, conversations, options.tokens / 2).await);
        }
        println!("{conversations} conversations at once: median aggregate {:.1} generated tok/s", median(&mut rates));
    }
}
