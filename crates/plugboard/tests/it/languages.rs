//! Plugins in Python, JavaScript and TypeScript, from `plugin new --lang` to a reply in
//! chat, with the real tools: the first build fetches componentize-py and pytest from
//! PyPI, componentize-js and esbuild from npm, into a tools folder under the target
//! directory that later runs reuse (as an author's `~/.cache/plugboard/tools` is).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::packages::{failed, succeeded, text};
use crate::{plugboard, signed_in_client, start_server_with};

/// Where compiled components are kept across the tests and runs (a Python or
/// JavaScript component takes tens of seconds to compile).
pub(crate) fn compiled_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("languages-compiled")
}

fn run(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    plugboard(dir).env("PLUGBOARD_CACHE_DIR", compiled_cache()).args(args).output().unwrap()
}

fn ok(dir: &tempfile::TempDir, args: &[&str]) -> String {
    succeeded(run(dir, args), args)
}

fn fails(dir: &tempfile::TempDir, args: &[&str]) -> String {
    failed(run(dir, args), args)
}

/// `plugin new --lang <language>` → `test` → `package` (signed) → `install` → `plugin run`
/// → a slash command answering in a chat turn of a real server.
async fn a_new_plugin_goes_from_template_to_chat(language: &str, files: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let id = format!("hello-{language}");
    let created = ok(&dir, &["plugin", "new", &id, "--lang", language, "--author", "Test Author"]);
    assert!(created.contains(&format!("created ./{id}")) || created.contains(&format!("created {id}")), "{created}");
    let folder = root.join(&id);
    for file in files.iter().chain(&["plugin.toml", "README.md", ".gitignore"]) {
        assert!(folder.join(file).is_file(), "plugin new --lang {language} writes {file}");
    }
    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
    assert!(manifest.contains(&format!("id = \"{id}\"")) && manifest.contains("Test Author"), "{manifest}");

    // `test`: the language's own unit tests against the SDK's fake host, a build with the
    // pinned tools, the component loaded in a sandbox, its health and self-test.
    let tested = run(&dir, &["plugin", "test", "--path", text(&folder)]);
    let (report, progress) = (String::from_utf8_lossy(&tested.stdout), String::from_utf8_lossy(&tested.stderr));
    assert!(tested.status.success(), "{report}\n{progress}");
    let unit = report.lines().find(|line| line.starts_with("unit tests: ")).unwrap_or_default();
    assert!(unit.contains("pass") && !unit.contains("fail 1") && !unit.contains("failed"), "{report}");
    assert!(report.contains(&format!("loaded: {id} 0.1.0 (hooks: ")), "{report}");
    for hook in ["tools", "commands", "health", "self-test"] {
        assert!(report.lines().any(|line| line.starts_with("loaded:") && line.contains(hook)), "{hook}: {report}");
    }
    assert!(report.contains("self-test passed: greets by name"), "{report}");
    assert!(!report.contains("FAILED"), "{report}");
    assert!(report.ends_with("ok\n"), "{report}");
    let wasm = folder.join("plugin.wasm");
    assert!(std::fs::metadata(&wasm).unwrap().len() > 1 << 20, "a component with its language's runtime");

    let package = root.join(format!("{id}-0.1.0.plugboard"));
    let keys = root.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    ok(&dir, &["plugin", "keygen", text(&keys.join("author")), "--signer", "Test Author"]);
    let packed = ok(
        &dir,
        &[
            "plugin",
            "package",
            "--path",
            text(&folder),
            "--out",
            text(&package),
            "--key",
            text(&keys.join("author.key")),
        ],
    );
    assert!(packed.contains(&format!("{id} 0.1.0")) && packed.contains("(Test Author)"), "{packed}");
    ok(&dir, &["plugin", "trust", text(&keys.join("author.pub"))]);
    let installed = ok(&dir, &["plugin", "install", text(&package)]);
    assert!(installed.contains(&format!("installed {id} 0.1.0")), "{installed}");

    // The tool, then its count kept in the server's key-value store.
    assert_eq!(ok(&dir, &["plugin", "run", &id, "Ada"]), "Hello, Ada!\n");
    assert_eq!(ok(&dir, &["plugin", "run", &id, "Ada"]), "Hello again, Ada! (2 greetings)\n");

    // The server loads it and its slash command answers in a chat turn.
    let cache = compiled_cache();
    let server = start_server_with(
        &dir,
        &[("PLUGBOARD_OPENAI_BASE_URL", &crate::nowhere_url()), ("PLUGBOARD_CACHE_DIR", text(&cache))],
    );
    let url = |path: &str| format!("{}{path}", server.base);
    let client = signed_in_client(&url("/api/auth/signup"), "admin").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let plugins: Value = client.get(url("/api/plugins")).send().await.unwrap().json().await.unwrap();
        let state = plugins["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|plugin| plugin["id"] == id.as_str())
            .map(|plugin| plugin["state"].clone());
        if state == Some(json!("enabled")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{id} never became enabled: {plugins}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let turn: Value = client
        .post(url("/api/chat"))
        .json(&json!({"message": "/greet Grâce 🌍"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["reply"]["content"], "Hello, Grâce 🌍!", "{turn}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_python_plugin_goes_from_template_to_chat() {
    a_new_plugin_goes_from_template_to_chat("python", &["plugin.py", "tests/test_plugin.py"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_javascript_plugin_goes_from_template_to_chat() {
    a_new_plugin_goes_from_template_to_chat("javascript", &["src/plugin.js", "test/plugin.test.js"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_typescript_plugin_goes_from_template_to_chat() {
    a_new_plugin_goes_from_template_to_chat("typescript", &["src/plugin.ts", "test/plugin.test.ts"]).await;
}

#[test]
fn a_python_syntax_error_is_shown_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    ok(&dir, &["plugin", "new", "broken-py", "--lang", "python"]);
    let folder = dir.path().join("broken-py");
    let source = std::fs::read_to_string(folder.join("plugin.py")).unwrap();
    std::fs::write(folder.join("plugin.py"), format!("{source}\ndef oops(:\n    pass\n")).unwrap();
    let line = source.lines().count() + 2;
    let error = fails(&dir, &["plugin", "build", "--path", text(&folder)]);
    assert!(error.contains(&format!("plugin.py:{line}:")) && error.contains("def oops(:"), "{error}");
    assert!(error.contains("broken-py has a syntax error"), "{error}");
    assert!(!folder.join("plugin.wasm").exists(), "a failed build leaves no component");
}

#[test]
fn a_folder_in_no_known_language_is_refused_with_the_languages_named() {
    let dir = tempfile::tempdir().unwrap();
    ok(&dir, &["plugin", "new", "bare", "--lang", "python"]);
    let folder = dir.path().join("bare");
    std::fs::remove_file(folder.join("plugin.py")).unwrap();
    let error = fails(&dir, &["plugin", "build", "--path", text(&folder)]);
    assert!(
        error.contains("holds no plugin source") && error.contains("plugin.py") && error.contains("src/plugin.ts"),
        "{error}"
    );
    let error = fails(&dir, &["plugin", "new", "with-sdk", "--lang", "python", "--sdk", "."]);
    assert!(error.contains("`--sdk` names the Rust SDK"), "{error}");
}
