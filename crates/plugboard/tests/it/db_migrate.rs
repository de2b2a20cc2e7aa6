//! `plugboard db migrate --from SQLITE --to POSTGRES`, end to end: an installation filled
//! through the HTTP API on SQLite, stopped, copied by the real command, and served from
//! PostgreSQL answers the same; a target with rows, a missing source and an unreachable
//! server are refused saying what to do.

use plugboard_store::testing::TestDatabase;
use serde_json::{Value, json};

use super::{plugboard, session_client, signed_in_client, start_server_with};

const SECRET: &str = "webhook-secret-moved-along";

/// Runs `plugboard db migrate` with `args`; success, stdout, stderr.
fn migrate(dir: &tempfile::TempDir, args: &[&str]) -> (bool, String, String) {
    let output = plugboard(dir).args(["db", "migrate"]).args(args).output().unwrap();
    (output.status.success(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

/// What the API answers about the installation, for the same person on either database.
async fn answers(client: &reqwest::Client, token: &str, base: &str, conversation: &str) -> Vec<Value> {
    let get = |path: String| async move {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json::<Value>().await.unwrap()
    };
    let with_token: Value = reqwest::Client::new()
        .get(format!("{base}/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let attachment = client.get(format!("{base}/api/conversations/{conversation}/attachments")).send().await.unwrap();
    let attachments: Value = attachment.json().await.unwrap();
    let file_id = attachments["attachments"][0]["id"].as_str().unwrap().to_owned();
    let file = client.get(format!("{base}/api/attachments/{file_id}")).send().await.unwrap().bytes().await.unwrap();
    let webhook = get("/api/plugins/github-webhook".to_owned()).await;
    let list = get("/api/plugins".to_owned()).await;
    let listed = list["plugins"].as_array().unwrap().iter().find(|plugin| plugin["id"] == "github-webhook").unwrap();
    vec![
        get("/api/conversations".to_owned()).await,
        get(format!("/api/conversations/{conversation}/messages")).await,
        get("/api/tokens".to_owned()).await["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|token| token["name"].clone())
            .collect(),
        with_token["user"]["username"].clone(),
        attachments,
        json!(String::from_utf8_lossy(&file)),
        get("/api/plugins/pii-redactor".to_owned()).await["settings"].clone(),
        // The secret is never read back; the plugin's state shows it opened (a secret that
        // cannot be decrypted fails the plugin).
        json!([listed["state"].clone(), webhook["settings"].clone()]),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_installation_moved_to_postgresql_answers_the_same() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = plugboard_fixture_llm::FixtureLlm::start().await.unwrap();
    let fixture_url = fixture.base_url();
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create().await;

    // Filled through the API, on SQLite in the data folder.
    let server = start_server_with(&dir, &[("PLUGBOARD_OPENAI_BASE_URL", &fixture_url)]);
    let url = |base: &str, path: &str| format!("{base}{path}");
    let admin = signed_in_client(&url(&server.base, "/api/auth/signup"), "admin").await;
    let turn: Value = admin
        .post(url(&server.base, "/api/chat"))
        .json(&json!({"message": "hello before the move", "model": "openai/echo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["reply"]["content"], "Echo: hello before the move", "{turn}");
    let conversation = turn["conversation_id"].as_str().unwrap().to_owned();
    let created: Value = admin
        .post(url(&server.base, "/api/tokens"))
        .json(&json!({"name": "script"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let response = admin
        .post(url(&server.base, &format!("/api/conversations/{conversation}/attachments")))
        .header("content-type", "text/plain")
        .header("x-file-name", "notes.txt")
        .body("notes that move along")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    for (plugin, settings) in [
        ("pii-redactor", json!({"email_replacement": "[mail]"})),
        ("github-webhook", json!({"secret": SECRET, "conversation_id": conversation})),
    ] {
        let response = admin
            .put(url(&server.base, &format!("/api/plugins/{plugin}/config")))
            .json(&settings)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    let before = answers(&admin, &token, &server.base, &conversation).await;
    assert_eq!(before[7][0], "enabled", "{}", before[7]);
    drop(server);

    // The real command; not on a terminal, a line per table, then the summary.
    let (ok, stdout, stderr) = migrate(&dir, &["--from", "plugboard-data/plugboard.db", "--to", database.url()]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("copied users: 1 rows\n"), "{stdout}");
    assert!(stdout.contains("copied messages: 2 rows\n"), "{stdout}");
    assert_eq!(summary(&stdout, "attachments"), ["1", "1", "0", "1"], "{stdout}");
    assert_eq!(summary(&stdout, "api_tokens"), ["1", "1", "0", "1"], "{stdout}");
    assert!(stdout.contains("start the server with --database-url"), "{stdout}");

    // Served from PostgreSQL, with the same data folder (its secret.key).
    let server = start_server_with(
        &dir,
        &[("PLUGBOARD_OPENAI_BASE_URL", &fixture_url), ("PLUGBOARD_DATABASE_URL", database.url())],
    );
    // The browser session moved too; signing in with the password works as well.
    let moved = session_client(&url(&server.base, "/api/auth/login"), "admin", 200).await;
    let after = answers(&moved, &token, &server.base, &conversation).await;
    for (sqlite, postgres) in before.iter().zip(&after) {
        assert_eq!(sqlite, postgres);
    }
    let me = admin.get(url(&server.base, "/api/me")).send().await.unwrap();
    assert_eq!(me.status(), 200, "the session cookie from before the move still works");
    // The conversation goes on, its new messages after the copied ones.
    let turn: Value = moved
        .post(url(&server.base, "/api/chat"))
        .json(&json!({"conversation_id": conversation, "message": "and after", "model": "openai/echo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["reply"]["content"], "Echo: and after", "{turn}");
    let messages: Value = moved
        .get(url(&server.base, &format!("/api/conversations/{conversation}/messages")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contents: Vec<&str> =
        messages["messages"].as_array().unwrap().iter().map(|message| message["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["hello before the move", "Echo: hello before the move", "and after", "Echo: and after"]);
    drop(server);

    // Again into the same database: refused, saying which table has rows and what to do.
    let (ok, _, stderr) = migrate(&dir, &["--from", "plugboard-data/plugboard.db", "--to", database.url()]);
    assert!(!ok);
    assert!(stderr.contains("is not empty: table `plugin_state` has"), "{stderr}");
    assert!(stderr.contains("--into-non-empty") && stderr.contains("nothing was copied"), "{stderr}");
    // With --into-non-empty, what is there is kept and nothing is missing.
    let (ok, stdout, stderr) =
        migrate(&dir, &["--from", "plugboard-data/plugboard.db", "--to", database.url(), "--into-non-empty"]);
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(summary(&stdout, "messages"), ["2", "0", "2", "4"], "{stdout}");
}

/// The numbers of `table`'s line in the summary: SQLite, copied, already there, PostgreSQL.
fn summary(stdout: &str, table: &str) -> Vec<String> {
    let line = stdout.lines().find(|line| line.starts_with(&format!("{table} "))).unwrap_or_else(|| panic!("{stdout}"));
    line.split_whitespace().skip(1).map(str::to_owned).collect()
}

#[test]
fn a_missing_source_or_an_unreachable_target_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = migrate(&dir, &["--from", "nowhere/plugboard.db", "--to", "postgres://u@127.0.0.1:1/x"]);
    assert!(!ok);
    assert!(stderr.contains("there is no SQLite database at nowhere/plugboard.db (--from)"), "{stderr}");
    assert!(!dir.path().join("nowhere").exists(), "nothing is created where the source was looked for");

    // Without --from and --to: the configured database's schema is brought up to date.
    let (ok, stdout, stderr) = migrate(&dir, &[]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "the schema of the database plugboard-data/plugboard.db is up to date\n");
    let (ok, _, stderr) = migrate(
        &dir,
        &["--from", "plugboard-data/plugboard.db", "--to", "postgres://plugboard:hunter2@127.0.0.1:1/plugboard"],
    );
    assert!(!ok);
    assert!(stderr.contains("the PostgreSQL database to copy into (--to) cannot be used"), "{stderr}");
    assert!(stderr.contains("postgres://plugboard:***@127.0.0.1:1/plugboard"), "{stderr}");
    assert!(stderr.contains("check that the server is running"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let (ok, _, stderr) = migrate(&dir, &["--from", "postgres://u@127.0.0.1:1/x", "--to", "postgres://u@h/x"]);
    assert!(!ok && stderr.contains("--from names a PostgreSQL database"), "{stderr}");
    let (ok, _, stderr) = migrate(&dir, &["--from", "plugboard-data/plugboard.db"]);
    assert!(!ok && stderr.contains("--to"), "{stderr}");
}
