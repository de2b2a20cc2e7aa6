//! `[[mcp_servers]]` in the configuration file: an entry with a bad field stops `serve`
//! before it listens, naming the entry and the field.

use std::time::{Duration, Instant};

use crate::plugboard;

/// Runs `plugboard serve` in `dir` and waits (at most 60 s) for it to stop; its standard
/// error. A server that keeps running fails the test.
fn serve_refuses(dir: &tempfile::TempDir) -> String {
    let mut child = plugboard(dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("serve kept running with an invalid [[mcp_servers]] entry");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    stderr
}

#[test]
fn an_mcp_server_entry_with_a_bad_field_stops_serve_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugboard.toml");
    std::fs::write(
        &config,
        "[[mcp_servers]]\nname = \"files\"\ntransport = \"stdio\"\ncommand = \"npx\"\n\n\
         [[mcp_servers]]\nname = \"remote\"\ntransport = \"http\"\nurl = \"ftp://example.org/mcp\"\n",
    )
    .unwrap();
    let stderr = serve_refuses(&dir);
    assert!(
        stderr.contains(
            "plugboard.toml: [[mcp_servers]] entry 2 (`remote`): `url` must be an http:// or https:// address"
        ),
        "{stderr}"
    );

    // The same name twice.
    std::fs::write(
        &config,
        "[[mcp_servers]]\nname = \"files\"\ntransport = \"stdio\"\ncommand = \"npx\"\n\n\
         [[mcp_servers]]\nname = \"files\"\ntransport = \"stdio\"\ncommand = \"uvx\"\n",
    )
    .unwrap();
    let stderr = serve_refuses(&dir);
    assert!(stderr.contains("[[mcp_servers]] entry 2 (`files`): `name` is taken by entry 1"), "{stderr}");

    // A field that is not one: named by the file's reader, with its line.
    std::fs::write(&config, "[[mcp_servers]]\nname = \"files\"\ntransport = \"stdio\"\ncomand = \"npx\"\n").unwrap();
    let stderr = serve_refuses(&dir);
    assert!(stderr.contains("plugboard.toml") && stderr.contains("comand"), "{stderr}");
}

/// A valid file entry starts with `serve`: here the binary itself as a stdio MCP server
/// (`plugboard mcp` on the same data folder, serving the bundled plugins' tools), its
/// environment exactly the entry's `env`. The API shows it fixed, its `env` as secrets.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_entry_starts_with_serve_and_its_tools_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = crate::with_input(&dir, &["user", "create", "ada", "--admin"], "a long password\n");
    assert!(ok, "{err}");
    let data = dir.path().join("plugboard-data");
    std::fs::write(
        dir.path().join("plugboard.toml"),
        format!(
            "[[mcp_servers]]\nname = \"itself\"\ntransport = \"stdio\"\ncommand = {command:?}\n\
             args = [\"mcp\", \"--user\", \"ada\"]\n\
             env = {{ PLUGBOARD_DATA_DIR = {data:?}, PLUGBOARD_CACHE_DIR = {cache:?} }}\n",
            command = env!("CARGO_BIN_EXE_plugboard"),
            data = data.to_str().unwrap(),
            cache = dir.path().join("cache").to_str().unwrap(),
        ),
    )
    .unwrap();
    let server = crate::start_server_with(&dir, &[("PLUGBOARD_OLLAMA_URL", &crate::nowhere_url())]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = |path: &str| format!("{}{path}", server.base);
    let admin = crate::session_client(&url("/api/auth/login"), "ada", 200).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let body: serde_json::Value =
            admin.get(url("/api/mcp/servers/itself")).send().await.unwrap().json().await.unwrap();
        if body["server"]["state"] == "ready" {
            break body["server"].clone();
        }
        assert!(Instant::now() < deadline, "the file's MCP server is not ready: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["managed_by"], "config");
    assert_eq!(
        status["config"]["env"],
        serde_json::json!({"PLUGBOARD_CACHE_DIR": "(secret)", "PLUGBOARD_DATA_DIR": "(secret)"})
    );
    let offered: Vec<&str> =
        status["tools"].as_array().unwrap().iter().map(|tool| tool["offered_as"].as_str().unwrap()).collect();
    assert!(offered.contains(&"mcp_itself__calculator__calculate"), "{offered:?}");
}
