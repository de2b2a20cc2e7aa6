//! The probes: `/healthz` answers whenever the process does; `/readyz` only once the
//! plugins have loaded, while the database answers (its schema version is checked in the
//! store's tests), and not after the shutdown signal. Neither needs sign-in.

use std::sync::Arc;

use plugboard_server::AppBuilder;
use plugboard_store::{SqliteStore, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::TestServer;

/// Serves `state` on a port of its own until the returned sender is dropped; its base URL.
async fn serve(state: plugboard_server::AppState) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(plugboard_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    (base, stop)
}

async fn get(url: &str) -> (StatusCode, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_started_server_is_alive_and_ready_without_sign_in() {
    let server = TestServer::start(&[]).await;
    let (status, body) = get(&server.url("/healthz")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = get(&server.url("/readyz")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready", "not_ready": []})));
}

#[tokio::test]
async fn a_server_whose_plugins_have_not_loaded_is_alive_but_not_ready() {
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.path().join("plugboard.db")).await.unwrap());
    let state = AppBuilder::new(store).build().await.unwrap();
    let (base, _stop) = serve(state.clone()).await;
    assert_eq!(get(&format!("{base}/healthz")).await.0, StatusCode::OK);
    let (status, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["not_ready"][0]["check"], "plugins", "{body}");
    assert_eq!(body["not_ready"].as_array().unwrap().len(), 1, "the database is fine: {body}");

    state.start_plugins().await;
    assert_eq!(get(&format!("{base}/readyz")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_server_whose_database_does_not_answer_is_not_ready() {
    let data = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&data.path().join("plugboard.db")).await.unwrap();
    let state = AppBuilder::new(Arc::new(store.clone())).build().await.unwrap();
    state.start_plugins().await;
    let (base, _stop) = serve(state).await;
    assert_eq!(get(&format!("{base}/readyz")).await.0, StatusCode::OK);
    store.close().await;
    let (status, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["not_ready"][0]["check"], "database", "{body}");
    // The process itself is fine.
    assert_eq!(get(&format!("{base}/healthz")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_shutdown_signal_makes_the_server_not_ready() {
    let server = TestServer::start(&[]).await;
    assert!(!server.state.readiness.is_shutting_down());
    let TestServer { state, _stop: stop, .. } = server;
    drop(stop);
    crate::eventually("shutdown to begin", async || state.readiness.is_shutting_down().then_some(())).await;
}
