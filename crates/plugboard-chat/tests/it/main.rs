//! The model list over real providers: the OpenAI-compatible client against the fixture
//! model server, which speaks the real protocol.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use plugboard_chat::Models;
use plugboard_fixture_llm::FixtureLlm;
use plugboard_openai::{OpenAiConfig, OpenAiProvider};

async fn provider() -> (FixtureLlm, OpenAiProvider) {
    let fixture = FixtureLlm::start().await.unwrap();
    let provider =
        OpenAiProvider::new(OpenAiConfig::new("fixture", fixture.base_url()), plugboard_host::tls_config().unwrap())
            .unwrap();
    (fixture, provider)
}

#[tokio::test]
async fn the_model_list_merges_providers_under_their_ids() {
    let (_fixture, provider) = provider().await;
    let mut models = Models::new();
    models.add(Arc::new(provider));
    let ids: Vec<String> = models.list().await.into_iter().map(|entry| entry.id).collect();
    assert_eq!(
        ids,
        [
            "fixture/echo",
            "fixture/fixed",
            "fixture/slow",
            "fixture/broken",
            "fixture/flaky",
            "fixture/dies",
            "fixture/nul"
        ]
    );
    let (provider, model) = models.resolve(None).await.unwrap();
    assert_eq!((provider.id(), model.as_str()), ("fixture", "echo"));
    let error = models.resolve(Some("other/x")).await.unwrap_err();
    assert_eq!(error.code(), "unknown_model");
}
