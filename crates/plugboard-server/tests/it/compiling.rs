//! A server starting with a plugin whose component is not compiled yet: it serves at once,
//! shows the plugin `compiling`, runs chat turns without it, and loads it when its compile
//! is done; a reload then maps the compiled file instead of compiling again.

use std::sync::Arc;

use plugboard_host::{RuntimeConfig, RuntimeEvent};
use plugboard_manifest::PluginId;
use plugboard_store::{SqliteStore, Store};
use plugboard_test_plugins::{compiled_files, copy_plugin_folder, plugin_dir, with_unused_code};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{TestServer, enable_before_start, send};

/// Functions of unused code added to the tagger: a component of a few megabytes whose first
/// compile takes seconds, far longer than the requests below that see it compiling.
const UNUSED_FUNCTIONS: u32 = 2000;

fn listed(list: &Value, id: &str) -> Value {
    list["plugins"].as_array().unwrap().iter().find(|plugin| plugin["id"] == id).cloned().unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_serves_while_a_plugin_compiles_and_loads_it_when_done() {
    let data = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    // The tagger made large, as Python and JavaScript components are: it behaves the same.
    let folder = data.path().join("plugins").join("example-tagger");
    copy_plugin_folder(&plugin_dir("example-tagger"), &folder).unwrap();
    let component = std::fs::read(folder.join("plugin.wasm")).unwrap();
    std::fs::write(folder.join("plugin.wasm"), with_unused_code(&component, UNUSED_FUNCTIONS)).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.path().join("plugboard.db")).await.unwrap());
    enable_before_start(store.as_ref(), "example-tagger").await;
    let cache_dir = cache.path().to_owned();
    let (server, report) = TestServer::serve_while_compiling(data, store, &[], |app| {
        app.runtime_config(RuntimeConfig { cache_dir: Some(cache_dir), ..RuntimeConfig::default() })
            .default_model(Some("fixture/echo".to_owned()))
    })
    .await;
    let mut events = server.state.registry.subscribe();
    let tagger = PluginId::parse("example-tagger").unwrap();
    assert_eq!(report.compiling, std::slice::from_ref(&tagger), "{report:?}");
    assert!(report.loaded.is_empty() && report.failed.is_empty(), "{report:?}");

    // It serves meanwhile: the probes, the plugin list and details, a chat turn.
    let (status, _) = send(server.client.get(server.url("/healthz"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, ready) = send(server.client.get(server.url("/readyz"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["not_ready"][0]["check"], "plugins", "{ready}");
    assert!(ready["not_ready"][0]["message"].as_str().unwrap().contains("`example-tagger`"), "{ready}");
    let (status, _) = send(server.client.get(server.url("/"))).await;
    assert_eq!(status, StatusCode::OK, "the web interface");
    let admin = server.signup("admin").await;
    let (_, list) = admin.get("/api/plugins").await;
    assert_eq!(listed(&list, "example-tagger")["state"], "compiling", "{list}");
    let (status, details) = admin.get("/api/plugins/example-tagger").await;
    assert_eq!((status, &details["state"]), (StatusCode::OK, &json!("compiling")), "{details}");
    // The turn does not wait for the filter: it is skipped, as any plugin not loaded is.
    let (status, turn) = admin.post("/api/chat", json!({"message": "hello"})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["user_message"]["content"], "hello", "{turn}");

    // Compiled: the loaded event, then it is enabled and filters the next turn.
    let loaded = tokio::time::timeout(std::time::Duration::from_secs(600), async {
        loop {
            match events.recv().await {
                Ok(RuntimeEvent::Loaded { plugin, .. }) if plugin == tagger => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(error) => panic!("the events ended: {error}"),
            }
        }
    });
    loaded.await.expect("the tagger loads once compiled");
    let (_, list) = admin.get("/api/plugins").await;
    assert_eq!(listed(&list, "example-tagger")["state"], "enabled", "{list}");
    let (status, details) = admin.get("/api/plugins/example-tagger").await;
    assert_eq!((status, &details["state"]), (StatusCode::OK, &json!("enabled")), "{details}");
    let (status, ready) = send(server.client.get(server.url("/readyz"))).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    let (_, turn) = admin.post("/api/chat", json!({"message": "hello"})).await;
    assert_eq!(turn["user_message"]["content"], "[tagged] hello", "{turn}");

    // A reload of the same component maps the compiled file: nothing is compiled again.
    let compiled = compiled_files(cache.path());
    assert_eq!(compiled.len(), 2, "the compiled file and its checksum: {compiled:?}");
    let (status, body) = admin.post("/api/plugins/example-tagger/reload", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(compiled_files(cache.path()), compiled);
}
