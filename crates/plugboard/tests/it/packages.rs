//! Plugin packages end to end with the real binary: an author's path from `plugin new` to
//! an installed plugin used in chat, and an operator uploading signed packages to a
//! running server, browsing the index and installing from it.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::{plugboard, signed_in_client, start_server_with};

fn run(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    plugboard(dir)
        // Scaffolded plugins share one build folder across test runs.
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffolded-plugins"))
        // Cargo's progress, which `plugin build` and `plugin test` pass on, in plain text.
        .env("CARGO_TERM_COLOR", "never")
        .args(args)
        .output()
        .unwrap()
}

/// Runs a command that must succeed; returns its stdout.
pub(crate) fn ok(dir: &tempfile::TempDir, args: &[&str]) -> String {
    succeeded(run(dir, args), args)
}

/// The stdout of `plugboard <args>`, which must have succeeded.
pub(crate) fn succeeded(output: Output, args: &[&str]) -> String {
    assert!(
        output.status.success(),
        "plugboard {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a command that must fail; returns its stderr.
fn fails(dir: &tempfile::TempDir, args: &[&str]) -> String {
    failed(run(dir, args), args)
}

/// The stderr of `plugboard <args>`, which must have failed.
pub(crate) fn failed(output: Output, args: &[&str]) -> String {
    assert!(
        !output.status.success(),
        "plugboard {} should fail: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).unwrap()
}

pub(crate) fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_plugin_is_built_tested_packaged_signed_installed_and_used_in_chat() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let created = ok(&dir, &["plugin", "new", "hello-world", "--author", "Test Author"]);
    assert!(created.contains("created ./hello-world") || created.contains("created hello-world"), "{created}");
    let folder = root.join("hello-world");
    for file in ["Cargo.toml", "plugin.toml", "src/lib.rs", "README.md", "docs/usage.md", "rust-toolchain.toml"] {
        assert!(folder.join(file).is_file(), "plugin new writes {file}");
    }
    let error = fails(&dir, &["plugin", "new", "hello-world"]);
    assert!(error.contains("exists already"), "{error}");
    let error = fails(&dir, &["plugin", "new", "Hello World"]);
    assert!(error.contains("cannot be a plugin id"), "{error}");

    // The template asks for the permission it uses, by its real name.
    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
    assert!(manifest.contains("\npermissions = [\"kv\"]\n"), "{manifest}");

    // `test` runs the unit tests (the template's call its hooks against the SDK's fake
    // host), builds, loads the component in a sandbox, self-tests; cargo's own progress
    // reaches the user as it goes.
    let tested = run(&dir, &["plugin", "test", "--path", text(&folder)]);
    let (report, progress) = (String::from_utf8_lossy(&tested.stdout), String::from_utf8_lossy(&tested.stderr));
    assert!(tested.status.success(), "{report}\n{progress}");
    assert!(report.contains("unit tests: test result: ok. 5 passed"), "{report}");
    assert!(report.contains("loaded: hello-world 0.1.0"), "{report}");
    assert!(report.contains("self-test passed: greets by name"), "{report}");
    assert!(report.ends_with("ok\n"), "{report}");
    assert!(progress.contains("Finished `test` profile") && progress.contains("Running unittests"), "{progress}");
    assert!(progress.contains("Finished `release` profile"), "{progress}");
    assert!(folder.join("plugin.wasm").is_file());
    let built = run(&dir, &["plugin", "build", "--path", text(&folder)]);
    let (stdout, progress) = (String::from_utf8_lossy(&built.stdout), String::from_utf8_lossy(&built.stderr));
    assert!(built.status.success(), "{stdout}\n{progress}");
    assert!(stdout.starts_with(&format!("built {}", folder.join("plugin.wasm").display())), "{stdout}");
    assert!(progress.contains("Finished `release` profile"), "{progress}");

    let package = root.join("hello-world-0.1.0.plugboard");
    let packed = ok(&dir, &["plugin", "package", "--path", text(&folder), "--out", text(&package)]);
    assert!(packed.contains("hello-world 0.1.0"), "{packed}");
    assert!(packed.contains("unsigned"), "{packed}");

    let keys = root.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let made = ok(&dir, &["plugin", "keygen", text(&keys.join("author")), "--signer", "Test Author"]);
    assert!(made.contains("author.key") && made.contains("author.pub"), "{made}");
    let signed = ok(&dir, &["plugin", "sign", text(&package), "--key", text(&keys.join("author.key"))]);
    assert!(signed.contains("signed by") && signed.contains("(Test Author)"), "{signed}");

    // Not trusted yet: verify and install refuse, and say how to trust the key.
    let error = fails(&dir, &["plugin", "verify", text(&package)]);
    assert!(error.contains("untrusted key") && error.contains("plugboard plugin trust"), "{error}");
    let verified = ok(&dir, &["plugin", "verify", text(&package), "--key", text(&keys.join("author.pub"))]);
    assert!(verified.contains("good signature by trusted key"), "{verified}");
    let error = fails(&dir, &["plugin", "install", text(&package)]);
    assert!(error.contains("untrusted key"), "{error}");

    let trusted = ok(&dir, &["plugin", "trust", text(&keys.join("author.pub"))]);
    assert!(trusted.starts_with("trusted key "), "{trusted}");
    let listed = ok(&dir, &["plugin", "trust", "--list"]);
    assert!(listed.contains("Test Author"), "{listed}");
    let installed = ok(&dir, &["plugin", "install", text(&package)]);
    assert!(
        installed.contains("installed hello-world 0.1.0") && installed.contains("signed by trusted key"),
        "{installed}"
    );
    assert_eq!(ok(&dir, &["plugin", "run", "hello-world", "Ada"]), "Hello, Ada!\n");
    // Its count lives in the server's key-value store, from one run to the next.
    assert_eq!(ok(&dir, &["plugin", "run", "hello-world", "Ada"]), "Hello again, Ada! (2 greetings)\n");
    let info: Value = serde_json::from_str(&ok(&dir, &["plugin", "info", "hello-world"])).unwrap();
    assert_eq!(info["installed_from_package"]["signer"], "Test Author");

    // The server finds the installed plugin: its slash command answers in a chat turn.
    let server = start_server_with(&dir, &[("PLUGBOARD_OPENAI_BASE_URL", &crate::nowhere_url())]);
    let url = |path: &str| format!("{}{path}", server.base);
    let client = signed_in_client(&url("/api/auth/signup"), "admin").await;
    let turn: Value = client
        .post(url("/api/chat"))
        .json(&json!({"message": "/greet Grace"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["reply"]["content"], "Hello, Grace!", "{turn}");
    drop(server);

    let removed = ok(&dir, &["plugin", "uninstall", "hello-world"]);
    assert!(removed.starts_with("uninstalled hello-world"), "{removed}");
    let error = fails(&dir, &["plugin", "run", "hello-world", "Ada"]);
    assert!(error.contains("no plugin `hello-world` is loaded"), "{error}");

    // Again, from a plugin index of the folder with the package.
    let indexed = ok(&dir, &["plugin", "index", text(root), "--name", "Mine"]);
    assert!(indexed.contains("(1 package)"), "{indexed}");
    let index = root.join("index.json");
    let installed = ok(&dir, &["plugin", "install", "hello-world", "--plugin-index", text(&index)]);
    assert!(installed.contains("installed hello-world 0.1.0"), "{installed}");
    assert_eq!(ok(&dir, &["plugin", "run", "hello-world", "Bo"]), "Hello, Bo!\n");
    let error = fails(&dir, &["plugin", "install", "nothing-here", "--plugin-index", text(&index)]);
    assert!(error.contains("lists no `nothing-here`; it has: hello-world"), "{error}");
    let error = fails(&dir, &["plugin", "uninstall", "calculator"]);
    assert!(error.contains("bundled with Plugboard") && error.contains("disable it instead"), "{error}");
}

/// A copy of a bundled plugin's folder at another version, packed with the CLI.
pub(crate) fn package_bundled(dir: &tempfile::TempDir, plugin: &str, version: &str, key: Option<&Path>) -> PathBuf {
    let folder = dir.path().join("src").join(format!("{plugin}-{version}"));
    plugboard_test_plugins::copy_plugin_folder(&plugboard_test_plugins::plugin_dir(plugin), &folder).unwrap();
    let manifest = folder.join("plugin.toml");
    let text_now = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text_now.replace("version = \"0.1.0\"", &format!("version = \"{version}\""))).unwrap();
    let out = dir.path().join("packages").join(format!("{plugin}-{version}.plugboard"));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut args = vec!["plugin", "package", "--path", text(&folder), "--out", text(&out)];
    if let Some(key) = key {
        args.extend(["--key", text(key)]);
    }
    ok(dir, &args);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_uploads_signed_packages_and_installs_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    ok(&dir, &["plugin", "keygen", text(&dir.path().join("team")), "--signer", "Team"]);
    ok(&dir, &["plugin", "keygen", text(&dir.path().join("stranger"))]);
    ok(&dir, &["plugin", "trust", text(&dir.path().join("team.pub"))]);
    let team = dir.path().join("team.key");
    let signed = package_bundled(&dir, "calculator", "0.2.0", Some(&team));
    let older = package_bundled(&dir, "calculator", "0.0.9", Some(&team));
    let unsigned = package_bundled(&dir, "word-stats", "0.2.0", None);
    let by_stranger = package_bundled(&dir, "word-stats", "0.3.0", Some(&dir.path().join("stranger.key")));
    // The index offers markdown-export 0.5.0 (and calculator 0.2.0).
    let index_dir = dir.path().join("index");
    std::fs::create_dir_all(&index_dir).unwrap();
    let offered = package_bundled(&dir, "markdown-export", "0.5.0", Some(&team));
    std::fs::copy(&offered, index_dir.join("markdown-export-0.5.0.plugboard")).unwrap();
    std::fs::copy(&signed, index_dir.join("calculator-0.2.0.plugboard")).unwrap();
    let indexed = ok(&dir, &["plugin", "index", text(&index_dir), "--name", "Team plugins"]);
    assert!(indexed.contains("(2 packages)"), "{indexed}");

    let index = index_dir.join("index.json");
    let server = start_server_with(
        &dir,
        &[("PLUGBOARD_OPENAI_BASE_URL", &crate::nowhere_url()), ("PLUGBOARD_PLUGIN_INDEX", text(&index))],
    );
    let url = |path: &str| format!("{}{path}", server.base);
    let admin = signed_in_client(&url("/api/auth/signup"), "admin").await;
    let user = signed_in_client(&url("/api/auth/signup"), "user").await;
    let upload = |client: &reqwest::Client, path: &Path, query: &str| {
        let bytes = std::fs::read(path).unwrap();
        client
            .post(url(&format!("/api/plugins/install{query}")))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
    };

    let response = upload(&user, &signed, "").await.unwrap();
    assert_eq!(response.status(), 403, "only admins install");

    let response = upload(&admin, &signed, "").await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["installed"]["version"], "0.2.0");
    assert_eq!(body["installed"]["replaced"], "0.1.0", "it replaced the bundled calculator");
    assert_eq!(body["installed"]["verification"]["signer"], "Team");
    assert_eq!(body["plugin"]["state"], "enabled");
    // Used in a chat turn at once.
    let turn: Value = admin
        .post(url("/api/chat"))
        .json(&json!({"message": "/calc 6 * 7"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["reply"]["content"], "6 * 7 = 42", "{turn}");

    for (path, query, status, code) in [
        (&unsigned, "", 422, "package_unsigned"),
        (&by_stranger, "", 422, "package_untrusted_key"),
        (&older, "", 409, "package_downgrade"),
    ] {
        let response = upload(&admin, path, query).await.unwrap();
        assert_eq!(response.status(), status, "{}", path.display());
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{error}");
    }
    let mut forged = std::fs::read(&signed).unwrap();
    let middle = forged.len() / 2;
    forged[middle] ^= 0x55;
    let response = admin
        .post(url("/api/plugins/install"))
        .header("content-type", "application/octet-stream")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let response = admin.post(url("/api/plugins/install")).body(Vec::new()).send().await.unwrap();
    assert_eq!(response.status(), 400);

    // Forced, the older version goes in.
    let response = upload(&admin, &older, "?force=true").await.unwrap();
    assert_eq!(response.status(), 201);

    // The catalogue: installed, bundled and offered plugins, with the update offered.
    let available: Value = user.get(url("/api/plugins/available")).send().await.unwrap().json().await.unwrap();
    assert_eq!(available["index"]["name"], "Team plugins", "{available}");
    assert_eq!(available["policy"], "require");
    let find = |id: &str| available["plugins"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap().clone();
    let calculator = find("calculator");
    assert_eq!(calculator["installed"]["version"], "0.0.9");
    assert_eq!(calculator["available"]["version"], "0.2.0");
    assert_eq!(calculator["update_available"], true);
    assert_eq!(calculator["installed"]["package"]["signer"], "Team");
    let markdown = find("markdown-export");
    assert_eq!(markdown["installed"]["origin"], "bundled");
    assert_eq!(markdown["available"]["version"], "0.5.0");
    assert_eq!(find("word-stats")["available"], Value::Null);

    // Installing from the index verifies checksum and signature like an upload.
    let response =
        admin.post(url("/api/plugins/install")).json(&json!({"id": "markdown-export"})).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["installed"]["version"], "0.5.0");
    let response = admin.post(url("/api/plugins/install")).json(&json!({"id": "nope"})).send().await.unwrap();
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("lists no `nope`"), "{error}");
    // A package changed on the index's server fails its checksum.
    std::fs::copy(&older, index_dir.join("calculator-0.2.0.plugboard")).unwrap();
    let response = admin.post(url("/api/plugins/install")).json(&json!({"id": "calculator"})).send().await.unwrap();
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "package_checksum_mismatch", "{error}");

    // Uninstalling brings the bundled version back.
    let response = admin.post(url("/api/plugins/calculator/uninstall")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["plugin"]["version"], "0.1.0", "{body}");
    let response = admin.post(url("/api/plugins/calculator/uninstall")).send().await.unwrap();
    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "plugin_not_installed");
}
