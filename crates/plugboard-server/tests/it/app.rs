//! The app as a whole: dropping a running app releases everything it built.

use std::sync::Arc;

use plugboard_registry::RegistryConfig;
use plugboard_server::AppBuilder;
use plugboard_store::{SqliteStore, Store};
use serde_json::json;

/// Nothing the plugin runtime holds may keep the app alive: the model list behind the
/// plugins' `ai` service once held the registry, which holds the runtime, so a dropped app
/// never released its plugins and the registry's clean-up never ran.
#[tokio::test]
async fn dropping_a_served_app_runs_the_registrys_clean_up() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["example-tagger", "calculator"] {
        plugboard_test_plugins::copy_plugin_folder(&plugboard_test_plugins::plugin_dir(name), &dir.join(name)).unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.path().join("plugboard.db")).await.unwrap());
    let state = AppBuilder::new(store)
        .registry_config(RegistryConfig { directories: vec![dir], ..RegistryConfig::default() })
        .build()
        .await
        .unwrap();
    assert!(state.registry.start().await.failed.is_empty());
    let registry = state.registry.downgrade();
    let plugins = state.registry.runtime().weak_plugins();
    assert_eq!(plugboard_host::PluginSet::plugins(&plugins).len(), 2);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(plugboard_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    // A request that runs plugins (a turn with a command) and fires their events.
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"username": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let cookie = signup.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let turn = client
        .post(format!("{base}/api/chat"))
        .header("cookie", cookie)
        .json(&json!({"message": "/run calculator 6*7"}))
        .send()
        .await
        .unwrap();
    assert!(turn.status().is_success(), "{}", turn.text().await.unwrap());

    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    // The engine's event task lets go of the registry once it sees its queue closed.
    super::eventually("the registry to be dropped", async || registry.upgrade().is_none().then_some(())).await;
    assert!(plugboard_host::PluginSet::plugins(&plugins).is_empty(), "the runtime and its plugins are gone too");
}
