//! Plugin management over HTTP: administrators only, every change through the registry.

use reqwest::StatusCode;
use serde_json::json;

use crate::TestServer;

#[tokio::test]
async fn only_an_administrator_manages_plugins() {
    let server = TestServer::start(&["example-tagger"]).await;
    let _admin = server.signup("admin").await;
    let user = server.signup("user").await;
    for path in ["/api/plugins/example-tagger/disable", "/api/plugins/example-tagger/reload"] {
        let (status, body) = user.post(path, json!({})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("admin_only")), "{path}");
    }
    let (status, _) = user.get("/api/plugins/example-tagger/config").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = user.put("/api/plugins/example-tagger/config", json!({"tag": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_administrator_disables_enables_reloads_and_configures_a_plugin() {
    let server = TestServer::start(&["example-tagger", "calculator", "host-probe"]).await;
    let admin = server.signup("admin").await;

    let (status, body) = admin.post("/api/plugins/example-tagger/disable", json!({})).await;
    assert_eq!((status, body["plugin"]["state"].as_str()), (StatusCode::OK, Some("disabled")), "{body}");
    let (_, turn) = admin.post("/api/chat", json!({"message": "plain"})).await;
    assert_eq!(turn["user_message"]["content"], "plain", "a disabled filter does not run");
    let (_, body) = admin.post("/api/plugins/example-tagger/enable", json!({})).await;
    assert_eq!(body["plugin"]["state"], "enabled");

    let (status, config) = admin.get("/api/plugins/example-tagger/config").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["settings"], json!({"tag": "tagged"}));
    assert_eq!(config["schema"]["properties"]["tag"]["maxLength"], 40);
    let (status, refused) = admin.put("/api/plugins/example-tagger/config", json!({"tag": "", "extra": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let paths: Vec<&str> =
        refused["error"]["violations"].as_array().unwrap().iter().map(|v| v["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/tag", ""]);
    let (status, saved) = admin.put("/api/plugins/example-tagger/config", json!({"tag": "ops"})).await;
    assert_eq!((status, saved["settings"]["tag"].as_str()), (StatusCode::OK, Some("ops")));
    let (_, turn) = admin.post("/api/chat", json!({"message": "configured"})).await;
    assert_eq!(turn["user_message"]["content"], "[ops] configured");

    let (status, body) = admin.post("/api/plugins/example-tagger/reload", json!({})).await;
    assert_eq!((status, body["plugin"]["state"].as_str()), (StatusCode::OK, Some("enabled")));

    let (status, refused) = admin.post("/api/plugins/calculator/unload", json!({})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("plugin_has_dependents")));
    let (status, body) = admin.post("/api/plugins/calculator/unload?cascade=true", json!({})).await;
    assert_eq!((status, body["unloaded"].clone()), (StatusCode::OK, json!(["host-probe", "calculator"])));
    let (status, body) = admin.get("/api/plugins/calculator/faults").await;
    assert_eq!((status, body["faults"].clone()), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn plugin_events_stream_to_administrators() {
    let server = TestServer::start(&["calculator"]).await;
    let admin = server.signup("admin").await;
    let response = admin.request(reqwest::Method::GET, "/api/plugins/events").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = futures_util::StreamExt::boxed(response.bytes_stream());
    admin.post("/api/plugins/calculator/disable", json!({})).await;
    let mut received = String::new();
    while !received.contains("\n\n") || !received.contains("event: disabled") {
        let chunk = futures_util::StreamExt::next(&mut body).await.unwrap().unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.contains(r#""plugin":"calculator""#), "{received}");
}

#[tokio::test]
async fn metrics_count_plugin_calls_and_chat_turns_for_prometheus() {
    let server = TestServer::start(&["example-tagger", "calculator"]).await;
    let admin = server.signup("admin").await;
    let user = server.signup("user").await;
    let (status, _) = admin.post("/api/chat", json!({"message": "hello"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.post("/api/plugins/execute", json!({"plugin": "calculator", "data": "1/0"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let response = user.request(reqwest::Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "administrators only");
    let response = admin.request(reqwest::Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    // The recorder is process-wide (other tests' servers count too), so look for lines.
    let has = |needle: &str| text.lines().any(|line| line.starts_with(needle));
    // Plugin calls are this server's own: one turn, one before-prompt call; the
    // calculator listed its tools at load, then ran once.
    assert!(has(r#"plugboard_plugin_calls_total{plugin="example-tagger",hook="before-prompt"} 1"#), "{text}");
    assert!(has(r#"plugboard_plugin_calls_total{plugin="calculator",hook="tools"} 2"#), "{text}");
    assert!(
        has(
            r#"plugboard_plugin_call_duration_seconds_bucket{plugin="example-tagger",hook="before-prompt",le="+Inf"} 1"#
        ),
        "{text}"
    );
    assert!(
        has(r#"plugboard_plugin_call_duration_seconds_count{plugin="example-tagger",hook="before-prompt"} 1"#),
        "{text}"
    );
    assert!(has(r#"plugboard_plugin_errors_total{plugin="calculator",hook="tools",code="plugin_error"}"#), "{text}");
    assert!(
        has(
            r#"plugboard_plugin_call_duration_seconds_bucket{plugin="example-tagger",hook="before-prompt",le="0.005"}"#
        ),
        "{text}"
    );
    assert!(has(r#"plugboard_chat_turns_total{outcome="ok"}"#), "{text}");
    assert!(has("plugboard_chat_turn_duration_seconds_count"), "{text}");
    assert!(has(r#"plugboard_plugin_enabled{plugin="calculator"} 1"#), "{text}");
}

#[tokio::test]
async fn a_plugins_self_test_runs_on_request() {
    let server = TestServer::start(&["example-tagger", "calculator"]).await;
    let admin = server.signup("admin").await;
    let (status, body) = admin.post("/api/plugins/calculator/self-test", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["passed"], true, "{body}");
    assert_eq!(body["results"][0]["name"], "1 + 2 * 3");
    let (status, body) = admin.post("/api/plugins/example-tagger/self-test", json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_implemented")), "{body}");
}

#[tokio::test]
async fn one_user_cannot_use_up_a_plugin() {
    let server = TestServer::start(&["calculator"]).await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    // The test servers allow 30 calls a minute per user and plugin.
    for n in 0..30 {
        let (status, body) = alice.post("/api/plugins/execute", json!({"plugin": "calculator", "data": "1+1"})).await;
        assert_eq!(status, StatusCode::OK, "call {n}: {body}");
    }
    let response = alice
        .request(reqwest::Method::POST, "/api/plugins/execute")
        .json(&json!({"plugin": "calculator", "data": "1+1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Others are not affected.
    let (status, _) = bob.post("/api/plugins/execute", json!({"plugin": "calculator", "data": "1+1"})).await;
    assert_eq!(status, StatusCode::OK);
}

/// A plugin folder as the plugin-system document of the project describes one: id
/// `my-plugin`, an `api_key` it needs (a secret), a `timeout` and `features`. Its code is
/// the GitHub webhook's, which ignores settings it does not know.
fn seed_plugin(parent: &std::path::Path, id: &str, settings: &str) -> std::path::PathBuf {
    let folder = parent.join(id);
    plugboard_test_plugins::copy_plugin_folder(&plugboard_test_plugins::plugin_dir("github-webhook"), &folder).unwrap();
    let manifest = format!(
        "id = \"{id}\"\nname = \"My Custom Plugin\"\nversion = \"1.0.0\"\ndescription = \"Plugin description\"\n\
         abi = \"0.1\"\npermissions = [\"messages.write\"]\n\n[[routes]]\nmethod = \"POST\"\npath = \"/github\"\n\
         summary = \"A webhook\"\nauth = \"none\"\n\n{settings}"
    );
    std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    folder
}

/// Where plugin `id` stands, as the plugin list says.
async fn state_of(admin: &crate::Session, id: &str) -> String {
    let (_, list) = admin.get("/api/plugins").await;
    let plugin = list["plugins"].as_array().unwrap().iter().find(|plugin| plugin["id"] == id);
    plugin.unwrap_or_else(|| panic!("{id} is not listed: {list}"))["state"].as_str().unwrap().to_owned()
}

const SEED_SETTINGS: &str = r#"[settings]
type = "object"
required = ["api_key"]
additionalProperties = false
[settings.properties.api_key]
type = "string"
format = "password"
description = "API key"
[settings.properties.timeout]
type = "integer"
default = 30
minimum = 1
maximum = 300
description = "Request timeout in seconds"
[settings.properties.features]
type = "array"
items = { type = "string" }
description = "List of enabled features"
"#;

#[tokio::test]
async fn seed_001s_load_and_config_bodies_work_as_written_and_never_echo_secrets() {
    let server = TestServer::start(&[]).await;
    let admin = server.signup("admin").await;
    let folders = tempfile::tempdir().unwrap();
    let folder = seed_plugin(folders.path(), "my-plugin", SEED_SETTINGS);
    // Loaded from its folder without settings, it cannot start: it needs its api_key.
    let (status, body) = admin.post("/api/plugins/load", json!({"path": folder})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(state_of(&admin, "my-plugin").await, "failed");

    // Settings are checked first: refused ones load nothing and list every violation.
    let (status, refused) = admin
        .post(
            "/api/plugins/load",
            json!({"plugin_id": "my-plugin", "config": {"api_key": ["top-secret-value"], "timeout": 0, "features": [1]}}),
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_settings"))
    );
    let mut paths: Vec<&str> =
        refused["error"]["violations"].as_array().unwrap().iter().map(|v| v["path"].as_str().unwrap()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/api_key", "/features/0", "/timeout"], "{refused}");
    assert!(!refused.to_string().contains("top-secret-value"), "an error never quotes a secret: {refused}");
    let (status, missing) = admin.post("/api/plugins/load", json!({"plugin_id": "my-plugin", "config": {}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing["error"]["violations"][0]["message"].as_str().unwrap().contains("api_key"), "{missing}");
    assert_eq!(state_of(&admin, "my-plugin").await, "failed", "nothing was loaded");

    // The seed's body, exactly.
    let (status, loaded) =
        admin.post("/api/plugins/load", json!({"plugin_id": "my-plugin", "config": {"api_key": "secret"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{loaded}");
    assert_eq!(loaded["plugin"]["state"], "enabled");
    assert_eq!(loaded["settings"], json!({"api_key": null, "timeout": 30}), "secrets are never echoed");
    let record = server.state.store.plugin_record("my-plugin").await.unwrap().unwrap();
    assert_eq!(record.settings.unwrap()["api_key"], "secret");
    let (status, again) =
        admin.post("/api/plugins/load", json!({"plugin_id": "my-plugin", "config": {"api_key": "x"}})).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("plugin_already_loaded")));
    assert!(again["error"]["message"].as_str().unwrap().contains("PUT /api/plugins/my-plugin/config"), "{again}");

    // The seed's config body, exactly: the settings inside `config`.
    let (status, saved) =
        admin.put("/api/plugins/my-plugin/config", json!({"config": {"api_key": "new-secret"}})).await;
    assert_eq!(
        (status, saved["settings"].clone()),
        (StatusCode::OK, json!({"api_key": null, "timeout": 30})),
        "{saved}"
    );
    let record = server.state.store.plugin_record("my-plugin").await.unwrap().unwrap();
    assert_eq!(record.settings.unwrap()["api_key"], "new-secret");
    // This API's own body: the settings themselves; the secret left out keeps its value.
    let (status, saved) = admin.put("/api/plugins/my-plugin/config", json!({"timeout": 60})).await;
    assert_eq!(
        (status, saved["settings"].clone()),
        (StatusCode::OK, json!({"api_key": null, "timeout": 60})),
        "{saved}"
    );
    let (_, config) = admin.get("/api/plugins/my-plugin/config").await;
    assert_eq!(config["settings"], json!({"api_key": null, "timeout": 60}));
    assert!(!config.to_string().contains("new-secret"), "{config}");
    let (status, refused) =
        admin.put("/api/plugins/my-plugin/config", json!({"config": {"api_key": 7, "timeout": 0}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut paths: Vec<&str> =
        refused["error"]["violations"].as_array().unwrap().iter().map(|v| v["path"].as_str().unwrap()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/api_key", "/timeout"], "the wrapped settings are checked: {refused}");

    // What to load must be said once.
    for body in [json!({}), json!({"path": folder, "plugin_id": "my-plugin"}), json!({"path": folder, "config": {}})] {
        let (status, refused) = admin.post("/api/plugins/load", body.clone()).await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_load_request")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_plugin_with_its_own_config_setting_takes_config_bodies_as_its_settings() {
    let server = TestServer::start(&[]).await;
    let admin = server.signup("admin").await;
    let folders = tempfile::tempdir().unwrap();
    let own_config = r#"[settings]
type = "object"
additionalProperties = false
[settings.properties.config]
type = "object"
default = {}
[settings.properties.verbose]
type = "boolean"
default = false
"#;
    let folder = seed_plugin(folders.path(), "nested-config", own_config);
    let (status, body) = admin.post("/api/plugins/load", json!({"path": folder})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // `{"config": {...}}` is its own `config` setting, never a wrapper.
    let (status, saved) = admin.put("/api/plugins/nested-config/config", json!({"config": {"depth": 2}})).await;
    assert_eq!(
        (status, saved["settings"].clone()),
        (StatusCode::OK, json!({"config": {"depth": 2}, "verbose": false})),
        "{saved}"
    );
    let (status, saved) = admin.put("/api/plugins/nested-config/config", json!({"config": {}, "verbose": true})).await;
    assert_eq!(
        (status, saved["settings"].clone()),
        (StatusCode::OK, json!({"config": {}, "verbose": true})),
        "{saved}"
    );
}

#[tokio::test]
async fn settings_a_plugin_refuses_at_load_leave_its_saved_ones() {
    let server = TestServer::start(&["all-hooks"]).await;
    let admin = server.signup("admin").await;
    let (status, _) = admin.put("/api/plugins/all-hooks/config", json!({"suffix": "?"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.post("/api/plugins/all-hooks/unload", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // Valid by the schema, but the plugin's `init` refuses this suffix.
    let (status, refused) =
        admin.post("/api/plugins/load", json!({"plugin_id": "all-hooks", "config": {"suffix": "refuse"}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let record = server.state.store.plugin_record("all-hooks").await.unwrap().unwrap();
    assert_eq!(record.settings.unwrap()["suffix"], "?", "the saved settings are put back");
    let (status, loaded) = admin.post("/api/plugins/load", json!({"plugin_id": "all-hooks"})).await;
    assert_eq!((status, loaded["settings"].clone()), (StatusCode::CREATED, json!({"suffix": "?"})), "{loaded}");
}
