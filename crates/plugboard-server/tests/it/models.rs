//! The model list and the default model: a request that names no model goes to the
//! operator's default, or the first model a configured model server lists, and never to a
//! provider plugin the operator did not make the default.

use plugboard_host::Hook;
use plugboard_manifest::PluginId;
use plugboard_server::ServerConfig;
use reqwest::StatusCode;
use serde_json::json;

use super::TestServer;

/// How often the provider hook of `plugin` (model listing and completions) was called.
fn provider_calls(server: &TestServer, plugin: &str) -> u64 {
    let id = PluginId::parse(plugin).unwrap();
    server
        .state
        .registry
        .runtime()
        .call_stats()
        .into_iter()
        .filter(|(plugin, _)| *plugin == id)
        .flat_map(|(_, hooks)| hooks)
        .filter(|stats| stats.hook == Hook::Provider)
        .map(|stats| stats.calls)
        .sum()
}

#[tokio::test]
async fn a_request_without_a_model_never_reaches_a_provider_plugin_that_is_not_the_default() {
    // `all-hooks` sorts before `fixture`: the first model of the whole list is the plugin's.
    let server = TestServer::start_with_default_model(&["all-hooks"], ServerConfig::default(), None).await;
    let alice = server.signup("alice").await;

    let (status, turn) = alice.post("/api/chat", json!({"message": "my secret prompt"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["model"], "fixture/echo", "{turn}");
    assert_eq!(server.fixture.requests().len(), 1, "the configured server answered");

    let (status, completion) =
        alice.post("/v1/chat/completions", json!({"messages": [{"role": "user", "content": "another secret"}]})).await;
    assert_eq!(status, StatusCode::OK, "{completion}");
    assert_eq!(completion["model"], "fixture/echo", "{completion}");
    assert_eq!(provider_calls(&server, "all-hooks"), 0, "the provider plugin was never asked");

    // The list shows the plugin's models, and the default the server uses.
    let (_, models) = alice.get("/api/models").await;
    let ids: Vec<&str> = models["models"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.first(), Some(&"all-hooks/echo-1"), "{models}");
    assert_eq!(models["default"], "fixture/echo", "{models}");
    assert!(models["no_default_reason"].is_null(), "{models}");
}

#[tokio::test]
async fn a_provider_plugin_made_the_default_answers_requests_without_a_model() {
    let server =
        TestServer::start_with_default_model(&["all-hooks"], ServerConfig::default(), Some("all-hooks/echo-1")).await;
    let alice = server.signup("alice").await;
    let (status, turn) = alice.post("/api/chat", json!({"message": "hello"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["model"], "all-hooks/echo-1", "{turn}");
    assert!(server.fixture.requests().is_empty());
    let (_, models) = alice.get("/api/models").await;
    assert_eq!(models["default"], "all-hooks/echo-1", "{models}");
}
