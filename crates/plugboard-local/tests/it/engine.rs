//! The engine on a tiny random model: loading, templating, streaming, stop conditions,
//! cancellation, concurrency and determinism.

use std::path::PathBuf;
use std::time::Duration;

use plugboard_local::tiny::TinyModel;
use plugboard_local::{Generation, LocalConfig, LocalError, LocalModel, Sampling};
use plugboard_types::{CompletionChunk, CompletionMessage, FinishReason, Role, ToolCall, ToolSpec};
use serde_json::json;
use tokio::sync::mpsc;

struct Tiny {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn write(model: TinyModel) -> Tiny {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("tiny-chat.gguf");
    model.write(&path).expect("write the tiny model");
    Tiny { _dir: dir, path }
}

fn load(tiny: &Tiny, config: LocalConfig) -> LocalModel {
    LocalModel::load(&tiny.path, config).expect("the tiny model loads")
}

fn message(role: Role, content: &str) -> CompletionMessage {
    CompletionMessage { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: String::new() }
}

fn greedy(max_tokens: usize) -> Sampling {
    Sampling { temperature: 0.0, max_tokens, ..Sampling::default() }
}

/// Generates and collects what was streamed.
async fn generate(model: &LocalModel, content: &str, sampling: Sampling) -> (Generation, Vec<String>) {
    let (sink, mut chunks) = mpsc::channel(1024);
    let generation = model.generate(&[message(Role::User, content)], &[], sampling, sink).await.expect("generates");
    let mut streamed = Vec::new();
    while let Ok(chunk) = chunks.try_recv() {
        if let CompletionChunk::Delta(text) = chunk {
            streamed.push(text);
        }
    }
    (generation, streamed)
}

#[test]
fn loading_describes_the_model_and_re_encodes_tensors_without_a_kernel() {
    let tiny = write(TinyModel::default());
    let model = load(&tiny, LocalConfig::default());
    let summary = model.summary();
    assert_eq!(summary.name, "tiny-chat");
    assert_eq!(summary.architecture, "llama");
    assert_eq!(summary.context_length, 256);
    assert!(!summary.supports_tools, "ChatML has no tool-call format");
    assert_eq!(summary.requantized_tensors, 2, "the F16 attention outputs of both blocks are re-encoded as Q8_0");
    assert!(["avx2+fma", "portable"].contains(&summary.kernels), "{}", summary.kernels);
}

#[test]
fn bad_files_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let missing = dir.path().join("missing.gguf");
    let error = LocalModel::load(&missing, LocalConfig::default()).expect_err("no file");
    assert!(matches!(error, LocalError::Read { .. }), "{error}");
    assert!(error.to_string().contains("missing.gguf"), "{error}");

    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "this is not a model").expect("write");
    let error = LocalModel::load(&text, LocalConfig::default()).expect_err("not GGUF");
    assert!(error.to_string().contains("not a GGUF model file"), "{error}");
}

#[test]
fn the_prompt_follows_the_template_with_a_system_prompt_added() {
    let tiny = write(TinyModel::default());
    let model = load(&tiny, LocalConfig { system_prompt: "Be brief.".into(), ..LocalConfig::default() });
    let (prompt, ids) = model.prompt(&[message(Role::User, "hello")], &[], 16).expect("renders");
    assert_eq!(
        prompt.text,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(ids[0], 1, "`<|im_start|>` is one special token");
    assert_eq!(prompt.trimmed_messages, 0);

    // A system message of the conversation replaces the default one.
    let (prompt, _) = model
        .prompt(&[message(Role::System, "Answer in French."), message(Role::User, "hello")], &[], 16)
        .expect("renders");
    assert!(prompt.text.starts_with("<|im_start|>system\nAnswer in French.<|im_end|>"), "{}", prompt.text);
    assert!(!prompt.text.contains("Be brief."));
}

#[test]
fn the_gguf_template_is_used_and_a_tool_format_is_detected() {
    let template = "{%- if tools %}<|im_start|>system\nTools: {% for tool in tools %}{{ tool.function.name }} {% endfor %}Call them as <tool_call>{\"name\": …}</tool_call><|im_end|>\n{%- endif %}\
        {%- for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content | trim }}<|im_end|>\n{%- endfor %}\
        {%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}";
    let tiny = write(TinyModel { chat_template: Some(template.into()), ..TinyModel::default() });
    let model = load(&tiny, LocalConfig::default());
    assert!(model.summary().supports_tools);
    let tools =
        [ToolSpec { name: "calculator".into(), description: "adds".into(), parameters: json!({"type": "object"}) }];
    let (prompt, _) = model.prompt(&[message(Role::User, "  2+2  ")], &tools, 16).expect("renders");
    assert!(prompt.text.starts_with("<|im_start|>system\nTools: calculator Call them as"), "{}", prompt.text);
    assert!(prompt.text.contains("<|im_start|>user\n2+2<|im_end|>"), "{}", prompt.text);

    let broken = write(TinyModel { chat_template: Some("{% for m in messages %}".into()), ..TinyModel::default() });
    let error = LocalModel::load(&broken.path, LocalConfig::default()).expect_err("bad template");
    assert!(error.to_string().contains("chat template does not parse"), "{error}");
}

/// A template in the style of Llama 3.1/3.2: tools described in the first user turn, calls
/// written as `{"name": …, "parameters": …}`, results as `ipython` turns.
const LLAMA_STYLE_TEMPLATE: &str = "{{- bos_token }}\
{%- for message in messages %}\
{%- if message.role == 'user' and tools and loop.index <= 2 %}<|start_header_id|>user<|end_header_id|>\n\nCall a function as {\"name\": function name, \"parameters\": arguments}.\n{%- for t in tools %}\n{{ t | tojson }}{%- endfor %}\n\n{{ message.content }}<|eot_id|>\
{%- elif message.tool_calls %}{%- set tool_call = message.tool_calls[0].function %}<|start_header_id|>assistant<|end_header_id|>\n\n{{- '{\"name\": \"' + tool_call.name + '\", ' }}{{- '\"parameters\": ' }}{{- tool_call.arguments | tojson }}}<|eot_id|>\
{%- elif message.role == 'tool' %}<|start_header_id|>ipython<|end_header_id|>\n\n{{ message.content }}<|eot_id|>\
{%- else %}<|start_header_id|>{{ message.role }}<|end_header_id|>\n\n{{ message.content }}<|eot_id|>{%- endif %}\
{%- endfor %}{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>{{ '\\n\\n' }}{%- endif %}";

#[test]
fn a_llama_style_template_offers_tools_as_json_calls() {
    let tiny = write(TinyModel {
        chat_template: Some(LLAMA_STYLE_TEMPLATE.into()),
        context_length: 2048,
        ..TinyModel::default()
    });
    let model = load(&tiny, LocalConfig::default());
    assert!(model.summary().supports_tools, "the template writes calls as JSON objects");
    let tools = [ToolSpec {
        name: "calculator".into(),
        description: "evaluates arithmetic".into(),
        parameters: json!({"type": "object", "properties": {"expression": {"type": "string"}}}),
    }];
    let call = ToolCall { id: "call_0".into(), name: "calculator".into(), arguments: r#"{"expression":"2+2"}"#.into() };
    let conversation = [
        message(Role::User, "What is 2+2?"),
        CompletionMessage {
            role: Role::Assistant,
            content: String::new(),
            tool_calls: vec![call],
            tool_call_id: String::new(),
        },
        CompletionMessage {
            role: Role::Tool,
            content: "4".into(),
            tool_calls: Vec::new(),
            tool_call_id: "call_0".into(),
        },
    ];
    let (prompt, _) = model.prompt(&conversation, &tools, 16).expect("renders");
    assert!(prompt.text.contains(r#""name":"calculator""#), "the tool is described: {}", prompt.text);
    assert!(
        prompt.text.contains(r#"{"name": "calculator", "parameters": {"expression":"2+2"}}"#),
        "the earlier call is written back in the model's format: {}",
        prompt.text
    );
    assert!(prompt.text.contains("<|start_header_id|>ipython<|end_header_id|>\n\n4<|eot_id|>"), "{}", prompt.text);
    assert!(prompt.text.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"), "{}", prompt.text);
}

#[tokio::test]
async fn replies_stream_and_stop_at_the_token_limit() {
    let tiny = write(TinyModel::default());
    let model = load(&tiny, LocalConfig { stream_interval_ms: 0, ..LocalConfig::default() });
    let (generation, streamed) = generate(&model, "hello", greedy(12)).await;
    assert_eq!(generation.finish_reason, FinishReason::Length);
    assert_eq!(generation.usage.completion_tokens, 12);
    assert!(generation.usage.prompt_tokens > 10);
    assert!(!generation.text.is_empty());
    assert_eq!(streamed.concat(), generation.text, "what was streamed is the reply");
    assert!(streamed.len() > 1, "the reply came in pieces: {streamed:?}");
}

#[tokio::test]
async fn tokens_faster_than_the_stream_interval_are_sent_together_the_first_at_once() {
    let tiny = write(TinyModel::default());
    let each = load(&tiny, LocalConfig { stream_interval_ms: 0, ..LocalConfig::default() });
    let (_, alone) = generate(&each, "hello", greedy(12)).await;
    let together = load(&tiny, LocalConfig { stream_interval_ms: 60_000, ..LocalConfig::default() });
    let (generation, streamed) = generate(&together, "hello", greedy(12)).await;
    assert_eq!(streamed.concat(), generation.text, "nothing is lost or repeated");
    assert_eq!(streamed.concat(), alone.concat(), "the same reply either way");
    assert!(alone.len() > 2, "sent alone, the reply comes token by token: {alone:?}");
    assert_eq!(streamed.first(), alone.first(), "the first piece is not held back");
    assert_eq!(streamed.len(), 2, "the rest waited for the interval, so it came at the end in one piece: {streamed:?}");
}

#[tokio::test]
async fn an_end_of_generation_token_ends_the_reply() {
    let tiny = write(TinyModel { quiet: true, ..TinyModel::default() });
    let model = load(&tiny, LocalConfig::default());
    let (generation, streamed) = generate(&model, "hello", greedy(50)).await;
    assert_eq!(generation.finish_reason, FinishReason::Stop);
    assert_eq!(generation.usage.completion_tokens, 0);
    assert_eq!(generation.text, "");
    assert!(streamed.is_empty());
}

#[tokio::test]
async fn the_same_seed_gives_the_same_reply() {
    let tiny = write(TinyModel::default());
    let model = load(&tiny, LocalConfig::default());
    let sampled = |seed| Sampling { temperature: 1.0, top_p: 0.95, seed, max_tokens: 24, ..Sampling::default() };
    let (first, _) = generate(&model, "tell me a story", sampled(42)).await;
    let (again, _) = generate(&model, "tell me a story", sampled(42)).await;
    assert_eq!(first.text, again.text);
    let mut others = Vec::new();
    for seed in 1..4 {
        others.push(generate(&model, "tell me a story", sampled(seed)).await.0.text);
    }
    assert!(others.iter().any(|text| *text != first.text), "other seeds sample other replies");
}

#[tokio::test]
async fn concurrent_sequences_do_not_disturb_each_other() {
    let tiny = write(TinyModel::default());
    let model = load(&tiny, LocalConfig { max_concurrent: 4, ..LocalConfig::default() });
    let (alone_a, _) = generate(&model, "first conversation", greedy(40)).await;
    let (alone_b, _) = generate(&model, "a second, different one", greedy(40)).await;
    assert_ne!(alone_a.text, alone_b.text);
    let (together_a, together_b) = tokio::join!(
        generate(&model, "first conversation", greedy(40)),
        generate(&model, "a second, different one", greedy(40)),
    );
    assert_eq!(together_a.0.text, alone_a.text, "each sequence has its own KV cache");
    assert_eq!(together_b.0.text, alone_b.text);
}

#[tokio::test]
async fn a_full_queue_answers_busy_and_a_closed_stream_frees_its_slot() {
    let tiny = write(TinyModel::default());
    // Every token its own piece, so a stream nobody reads holds generation up at once.
    let config = LocalConfig { max_concurrent: 1, max_queued: 1, stream_interval_ms: 0, ..LocalConfig::default() };
    let model = load(&tiny, config);

    // The first request holds the only slot: its stream has room for one piece and nobody
    // reads it, so generation waits.
    let (sink, mut held) = mpsc::channel(1);
    let running = tokio::spawn({
        let model = model.clone();
        async move { model.generate(&[message(Role::User, "hold")], &[], greedy(200), sink).await }
    });
    assert!(matches!(held.recv().await, Some(CompletionChunk::Delta(_))), "the first request runs");

    // The second waits in the queue; the third finds it full.
    let (queued_sink, _queued_chunks) = mpsc::channel(1024);
    let queued = tokio::spawn({
        let model = model.clone();
        async move { model.generate(&[message(Role::User, "wait")], &[], greedy(5), queued_sink).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (sink, _chunks) = mpsc::channel(16);
    let error = model.generate(&[message(Role::User, "too many")], &[], greedy(5), sink).await.expect_err("busy");
    assert!(matches!(error, LocalError::Busy { running: 1, queued: 1 }), "{error}");
    assert!(error.to_string().contains("try again"), "{error}");

    // Closing the first stream cancels it; the queued request then runs to its end.
    drop(held);
    let first =
        tokio::time::timeout(Duration::from_secs(30), running).await.expect("stops").expect("task").expect("ok");
    assert_eq!(first.finish_reason, FinishReason::Cancelled);
    assert!(first.usage.completion_tokens < 200);
    let second = tokio::time::timeout(Duration::from_secs(30), queued).await.expect("runs").expect("task").expect("ok");
    assert_eq!(second.finish_reason, FinishReason::Length);
}

#[tokio::test]
async fn dropping_the_request_cancels_generation() {
    let tiny = write(TinyModel::default());
    let model = load(&tiny, LocalConfig { max_concurrent: 1, stream_interval_ms: 0, ..LocalConfig::default() });
    let (sink, mut chunks) = mpsc::channel(1);
    let messages = [message(Role::User, "go")];
    let request = model.generate(&messages, &[], greedy(200), sink);
    // Give up on the request after its first piece.
    tokio::select! {
        _ = request => panic!("cannot finish while nobody reads"),
        chunk = chunks.recv() => assert!(chunk.is_some()),
    }
    // The slot comes back: another request runs.
    let (generation, _) = tokio::time::timeout(Duration::from_secs(30), generate(&model, "next", greedy(3)))
        .await
        .expect("the slot was released");
    assert_eq!(generation.usage.completion_tokens, 3);
}

#[tokio::test]
async fn long_conversations_lose_their_oldest_turns_and_too_long_messages_are_refused() {
    let tiny = write(TinyModel { context_length: 128, ..TinyModel::default() });
    let model = load(&tiny, LocalConfig::default());
    let mut messages = Vec::new();
    for turn in 0..6 {
        messages.push(message(Role::User, &format!("question {turn}: {}", "words ".repeat(4))));
        messages.push(message(Role::Assistant, &format!("answer {turn}: {}", "more ".repeat(4))));
    }
    messages.push(message(Role::User, "the last question"));
    let (prompt, ids) = model.prompt(&messages, &[], 16).expect("fits after trimming");
    assert!(
        prompt.trimmed_messages >= 2 && prompt.trimmed_messages % 2 == 0,
        "whole turns go: {}",
        prompt.trimmed_messages
    );
    assert!(ids.len() + 16 <= 128);
    assert!(prompt.text.contains("the last question"));
    assert!(!prompt.text.contains("question 0"), "the oldest turn went first");
    assert!(prompt.text.contains("You are a helpful assistant."), "the system prompt stays");

    let (sink, _chunks) = mpsc::channel(1024);
    let generation = model.generate(&messages, &[], greedy(8), sink).await.expect("generates");
    assert_eq!(generation.trimmed_messages, prompt.trimmed_messages);

    let huge = [message(Role::User, &"long ".repeat(200))];
    let error = model.prompt(&huge, &[], 16).expect_err("cannot fit");
    assert!(matches!(error, LocalError::ContextOverflow { limit: 128, reserved: 16, .. }), "{error}");
    assert!(error.to_string().contains("shorten the last message"), "{error}");
}

#[tokio::test]
async fn qwen2_and_qwen3_models_run_too() {
    for architecture in ["qwen2", "qwen3"] {
        let tiny = write(TinyModel { architecture, ..TinyModel::default() });
        let model = load(&tiny, LocalConfig { max_concurrent: 2, ..LocalConfig::default() });
        assert_eq!(model.summary().architecture, architecture);
        // Every architecture shares its weights between caches.
        assert_eq!(model.summary().max_concurrent, 2);
        let (alone, streamed) = generate(&model, "hello", greedy(10)).await;
        assert_eq!(alone.usage.completion_tokens, 10, "{architecture}");
        assert_eq!(streamed.concat(), alone.text, "{architecture}");
        let (first, second) =
            tokio::join!(generate(&model, "hello", greedy(10)), generate(&model, "something else", greedy(10)));
        assert_eq!(first.0.text, alone.text, "{architecture}: sequences do not disturb each other");
        assert_eq!(second.0.usage.completion_tokens, 10);
    }
}

/// A reply to a whole conversation.
async fn reply(model: &LocalModel, messages: &[CompletionMessage]) -> Generation {
    let (sink, _chunks) = mpsc::channel(1024);
    model.generate(messages, &[], greedy(12), sink).await.expect("generates")
}

#[tokio::test]
async fn the_next_turn_continues_the_previous_replys_cache_and_answers_the_same() {
    let tiny = write(TinyModel::default());
    let cached = load(&tiny, LocalConfig::default());
    let uncached = load(&tiny, LocalConfig { prefix_cache_mb: 0, ..LocalConfig::default() });

    let mut alice = vec![message(Role::User, "hello there")];
    let first = reply(&cached, &alice).await;
    assert_eq!(first.cached_prompt_tokens, 0, "nothing to continue yet");
    // Another conversation with the same system prompt in between: it copies the shared
    // part and leaves alice's cache where it was.
    let bob = reply(&cached, &[message(Role::User, "something else entirely")]).await;
    assert!(bob.cached_prompt_tokens > 0, "the system prompt is shared");
    assert!(bob.cached_prompt_tokens < first.usage.prompt_tokens as usize);

    alice.push(message(Role::Assistant, &first.text));
    alice.push(message(Role::User, "and now?"));
    let second = reply(&cached, &alice).await;
    assert!(
        second.cached_prompt_tokens >= first.usage.prompt_tokens as usize,
        "the whole first prompt ({} tokens) is continued, not run again ({} were)",
        first.usage.prompt_tokens,
        second.cached_prompt_tokens
    );
    assert!(second.cached_prompt_tokens < second.usage.prompt_tokens as usize);
    let fresh = reply(&uncached, &alice).await;
    assert_eq!(fresh.cached_prompt_tokens, 0, "no cache kept with a budget of 0");
    assert_eq!(second.text, fresh.text, "a continued cache answers exactly as running everything again");

    // Asking the same again reuses all but the last prompt token (it must run for logits).
    let again = reply(&cached, &alice).await;
    assert_eq!(again.cached_prompt_tokens, again.usage.prompt_tokens as usize - 1);
    assert_eq!(again.text, fresh.text);
}
