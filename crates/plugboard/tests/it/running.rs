//! The `plugin` commands while a server runs on the same data folder: enabling,
//! disabling and trusting reach the running server without a restart, and so does a key
//! trusted through the API.

use std::time::Duration;

use serde_json::{Value, json};

use super::packages::{ok, package_bundled, text};
use super::{nowhere_url, signed_in_client, start_server_with};

/// Polls the server's plugin list until `plugin` is in `state` (at most 30 s).
async fn wait_for_state(client: &reqwest::Client, base: &str, plugin: &str, state: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list: Value = client.get(format!("{base}/api/plugins")).send().await.unwrap().json().await.unwrap();
        let now =
            list["plugins"].as_array().unwrap().iter().find(|entry| entry["id"] == plugin).unwrap()["state"].clone();
        if now == state {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{plugin} is still {now}, not {state}, after 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn enable_and_disable_on_the_command_line_reach_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&dir, &[("PLUGBOARD_OPENAI_BASE_URL", &nowhere_url())]);
    let admin = signed_in_client(&format!("{}/api/auth/signup", server.base), "admin").await;
    wait_for_state(&admin, &server.base, "calculator", "enabled").await;

    let said = ok(&dir, &["plugin", "disable", "calculator"]);
    assert!(said.contains("applies it within a few seconds"), "{said}");
    wait_for_state(&admin, &server.base, "calculator", "disabled").await;

    ok(&dir, &["plugin", "enable", "calculator"]);
    wait_for_state(&admin, &server.base, "calculator", "enabled").await;
    // The demonstration tagger, off at first, is switched on the same way.
    wait_for_state(&admin, &server.base, "example-tagger", "disabled").await;
    ok(&dir, &["plugin", "enable", "example-tagger"]);
    wait_for_state(&admin, &server.base, "example-tagger", "enabled").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_trusted_on_the_command_line_or_through_the_api_applies_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    ok(&dir, &["plugin", "keygen", text(&dir.path().join("team")), "--signer", "Team"]);
    ok(&dir, &["plugin", "keygen", text(&dir.path().join("friend")), "--signer", "Friend"]);
    let by_team = package_bundled(&dir, "calculator", "0.2.0", Some(&dir.path().join("team.key")));
    let by_friend = package_bundled(&dir, "word-stats", "0.2.0", Some(&dir.path().join("friend.key")));
    let server = start_server_with(&dir, &[("PLUGBOARD_OPENAI_BASE_URL", &nowhere_url())]);
    let url = |path: &str| format!("{}{path}", server.base);
    let admin = signed_in_client(&url("/api/auth/signup"), "admin").await;
    let user = signed_in_client(&url("/api/auth/signup"), "user").await;
    let upload = |path: &std::path::Path| {
        admin
            .post(url("/api/plugins/install"))
            .header("content-type", "application/octet-stream")
            .body(std::fs::read(path).unwrap())
            .send()
    };

    let refused: Value = upload(&by_team).await.unwrap().json().await.unwrap();
    assert_eq!(refused["error"]["code"], "package_untrusted_key", "{refused}");
    let said = ok(&dir, &["plugin", "trust", text(&dir.path().join("team.pub"))]);
    assert!(said.contains("from its next install"), "{said}");
    assert_eq!(upload(&by_team).await.unwrap().status(), 201, "the key the command trusted counts at once");

    // Through the API: administrators only, a public key file's line, applied at once.
    let friend_key = std::fs::read_to_string(dir.path().join("friend.pub")).unwrap();
    let response = user.post(url("/api/trusted-keys")).json(&json!({"key": friend_key})).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let secret = std::fs::read_to_string(dir.path().join("friend.key")).unwrap();
    let response = admin.post(url("/api/trusted-keys")).json(&json!({"key": secret})).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("this is a secret key"), "{error}");
    assert_eq!(upload(&by_friend).await.unwrap().status(), 422);
    let response = admin.post(url("/api/trusted-keys")).json(&json!({"key": friend_key})).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let trusted: Value = response.json().await.unwrap();
    let fingerprint = trusted["key"]["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(trusted["key"]["name"], "Friend");
    let listed: Value = admin.get(url("/api/trusted-keys")).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = listed["keys"].as_array().unwrap().iter().filter_map(|key| key["name"].as_str()).collect();
    assert_eq!(names.len(), 2, "{listed}");
    assert!(names.contains(&"Team") && names.contains(&"Friend"), "{listed}");
    assert_eq!(upload(&by_friend).await.unwrap().status(), 201, "trusted through the API, no restart");

    // The command line sees the key the API saved, and removing it applies at once too.
    let listed = ok(&dir, &["plugin", "trust", "--list"]);
    assert!(listed.contains(&fingerprint), "{listed}");
    let response = admin.delete(url(&format!("/api/trusted-keys/{fingerprint}"))).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let response = admin.delete(url(&format!("/api/trusted-keys/{fingerprint}"))).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let newer = package_bundled(&dir, "word-stats", "0.3.0", Some(&dir.path().join("friend.key")));
    let refused: Value = upload(&newer).await.unwrap().json().await.unwrap();
    assert_eq!(refused["error"]["code"], "package_untrusted_key", "{refused}");
}
