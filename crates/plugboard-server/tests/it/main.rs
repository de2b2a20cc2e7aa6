//! The HTTP API over a real port, with a real database file, real plugins from
//! `plugins/` and the fixture model server speaking the OpenAI protocol.

#![allow(clippy::unwrap_used, reason = "test helpers may unwrap like the tests they serve")]

mod app;
mod approvals;
mod auth;
mod chat;
mod cluster_limits;
mod compiling;
mod connections;
mod conversations;
mod errors;
mod hardening;
mod health;
mod live;
mod manage;
mod mcp;
mod mcp_conformance;
mod mcp_servers;
mod middleware;
mod models;
mod nul_text;
mod openai;
mod openapi;
mod origin;
mod plugin_http;
mod services;
mod tasks;
mod users;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use plugboard_fixture_llm::FixtureLlm;
use plugboard_host::RuntimeConfig;
use plugboard_openai::{OpenAiConfig, OpenAiProvider};
use plugboard_registry::{RegistryConfig, StartReport};
use plugboard_server::{AppBuilder, AppState, ServerConfig};
use plugboard_store::testing::TestDatabase;
use plugboard_store::{PgStore, SqliteStore, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The TLS settings every outbound client of the server uses.
fn tls() -> rustls::ClientConfig {
    plugboard_host::tls_config().unwrap()
}

fn shared_cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// A running server with its own data folder, plugins and fixture model.
struct TestServer {
    base: String,
    client: reqwest::Client,
    fixture: FixtureLlm,
    state: AppState,
    _data: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
    /// On PostgreSQL: the test's own database, dropped after the server is told to stop.
    _database: Option<TestDatabase>,
}

/// Where a test server keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// A SQLite file in the server's data folder.
    Sqlite,
    /// A database of the test's own on the test PostgreSQL server.
    Postgres,
}

impl TestServer {
    async fn start(plugins: &[&str]) -> TestServer {
        TestServer::start_with(plugins, ServerConfig::default()).await
    }

    async fn start_with(plugins: &[&str], config: ServerConfig) -> TestServer {
        TestServer::start_with_default_model(plugins, config, Some("fixture/echo")).await
    }

    /// A server whose default model is `default_model` (`None`: none configured).
    async fn start_with_default_model(
        plugins: &[&str],
        config: ServerConfig,
        default_model: Option<&str>,
    ) -> TestServer {
        TestServer::start_limited(plugins, config, default_model, 0).await
    }

    /// A server that also limits each user to `chat_turns_per_minute` chat turns.
    async fn start_limited(
        plugins: &[&str],
        config: ServerConfig,
        default_model: Option<&str>,
        chat_turns_per_minute: u32,
    ) -> TestServer {
        let options = (config, default_model, chat_turns_per_minute);
        TestServer::start_with_options(Backend::Sqlite, plugins, options).await
    }

    /// A server with the defaults on `backend`.
    async fn start_on(backend: Backend, plugins: &[&str]) -> TestServer {
        let options = (ServerConfig::default(), Some("fixture/echo"), 0);
        TestServer::start_with_options(backend, plugins, options).await
    }

    /// A server on `backend` with its configuration, default model and chat turns a minute.
    async fn start_with_options(
        backend: Backend,
        plugins: &[&str],
        (config, default_model, chat_turns_per_minute): (ServerConfig, Option<&str>, u32),
    ) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let (store, database): (Arc<dyn Store>, _) = match backend {
            Backend::Sqlite => (Arc::new(SqliteStore::open(&data.path().join("plugboard.db")).await.unwrap()), None),
            Backend::Postgres => {
                let database = TestDatabase::create().await;
                (Arc::new(PgStore::connect(database.url()).await.unwrap()), Some(database))
            }
        };
        if plugins.contains(&"example-tagger") {
            enable_before_start(store.as_ref(), "example-tagger").await;
        }
        let mut server = TestServer::serve(data, store, plugins, |app| {
            app.default_model(default_model.map(str::to_owned))
                .server_config(config)
                .user_calls_per_minute(30)
                .chat_turns_per_minute(chat_turns_per_minute)
        })
        .await;
        server._database = database;
        server
    }

    /// Serves `store` on a free port, with the data folder `data` (the test plugins
    /// `plugins` copied into its `plugins/`, the plugin folder), the fixture model as the
    /// provider `fixture`, the shared compiled-plugin cache, and whatever `customise` sets
    /// on the builder; every plugin started (compiles included).
    async fn serve(
        data: tempfile::TempDir,
        store: Arc<dyn Store>,
        plugins: &[&str],
        customise: impl FnOnce(AppBuilder) -> AppBuilder,
    ) -> TestServer {
        let (server, report) = TestServer::serve_while_compiling(data, store, plugins, customise).await;
        server.state.registry.compiles_finished().await;
        for id in &report.compiling {
            let entry = server.state.registry.entry(id).unwrap();
            assert!(entry.error.is_none(), "{id} did not load once compiled: {:?}", entry.error);
        }
        server
    }

    /// [`TestServer::serve`] serving at once, as `plugboard serve` does, while the plugins
    /// not in the compiled cache compile; with what the start did.
    async fn serve_while_compiling(
        data: tempfile::TempDir,
        store: Arc<dyn Store>,
        plugins: &[&str],
        customise: impl FnOnce(AppBuilder) -> AppBuilder,
    ) -> (TestServer, StartReport) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = data.path().join("plugins");
        std::fs::create_dir_all(&dir).unwrap();
        for name in plugins {
            plugboard_test_plugins::copy_plugin_folder(&plugboard_test_plugins::plugin_dir(name), &dir.join(name))
                .unwrap();
        }
        let fixture = FixtureLlm::start().await.unwrap();
        let model = OpenAiProvider::new(OpenAiConfig::new("fixture", fixture.base_url()), tls()).unwrap();
        let app = AppBuilder::new(store)
            .runtime_config(RuntimeConfig {
                cache_dir: Some(shared_cache_dir().to_owned()),
                ..RuntimeConfig::default()
            })
            .registry_config(RegistryConfig { directories: vec![dir], ..RegistryConfig::default() })
            .provider(Arc::new(model));
        let state = customise(app).build().await.unwrap();
        let report = state.start_plugins().await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        tokio::spawn(async move {
            plugboard_server::serve(listener, serving, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let server = TestServer {
            base,
            client: reqwest::Client::new(),
            fixture,
            state,
            _data: data,
            _stop: stop,
            _database: None,
        };
        (server, report)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs up `name`; returns their session.
    async fn signup(&self, name: &str) -> Session {
        let response = self
            .client
            .post(self.url("/api/auth/signup"))
            .json(&json!({"username": name, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
        let cookie = session_cookie(&response);
        Session { client: self.client.clone(), base: self.base.clone(), cookie }
    }
}

/// Saves `plugin` as enabled, as an operator who enabled it once: a test that names the
/// demonstration `example-tagger` (which ships disabled) wants it running.
async fn enable_before_start(store: &dyn Store, plugin: &str) {
    let record = plugboard_store::PluginRecord {
        plugin: plugin.to_owned(),
        enabled: true,
        disabled_reason: None,
        settings: None,
        fail_mode: None,
        updated_at_ms: 0,
    };
    store.save_plugin_record(&record).await.unwrap();
}

fn session_cookie(response: &reqwest::Response) -> String {
    let set = response.headers().get("set-cookie").unwrap().to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// A signed-in user's requests.
#[derive(Clone)]
struct Session {
    client: reqwest::Client,
    base: String,
    cookie: String,
}

impl Session {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base)).header("cookie", &self.cookie)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.request(reqwest::Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.request(reqwest::Method::PATCH, path).json(&body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.request(reqwest::Method::PUT, path).json(&body)).await
    }

    async fn delete(&self, path: &str) -> StatusCode {
        self.request(reqwest::Method::DELETE, path).send().await.unwrap().status()
    }

    async fn conversation(&self, title: &str) -> String {
        let (status, body) = self.post("/api/conversations", json!({"title": title})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["conversation"]["id"].as_str().unwrap().to_owned()
    }
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

/// Waits (at most 30 s) until `check` holds, for effects of background work.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
