//! The web interface in a real browser: Debian's Chromium driven by `playwright-core`
//! (`tests/browser/studio.mjs`), against the binary on a real port with a tiny local
//! model. The test installs what it needs: Chromium with apt-get when it is missing, the
//! npm package with `npm ci`. Screenshots land in `<target>/tmp/browser/screenshots`.
//! Plugin packages for the admin page are made first with the real CLI, in the server's
//! data folder: a trusted team key, signed, unsigned and older packages, and an index.
//! Tool approvals (`tests/browser/approvals.mjs`) run against the fixture model instead,
//! which calls the tools a message names.

use std::path::{Path, PathBuf};
use std::process::Command;

use plugboard_local::tiny::TinyModel;

use super::packages::{ok, package_bundled, text};
use super::{nowhere_url, start_server_with};

const CHROMIUM: &str = "/usr/bin/chromium";

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Chromium from Debian's packages, installed when missing (the test machines run as root).
/// Tests asking at once install it once; apt-get waits for another process's dpkg lock.
fn ensure_chromium() {
    static INSTALLED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if Path::new(CHROMIUM).exists() {
        return;
    }
    let wait = ["-o", "DPkg::Lock::Timeout=600"];
    run(Command::new("apt-get").args(wait).args(["update", "-qq"]));
    run(Command::new("apt-get")
        .args(wait)
        .args(["install", "-y", "-qq", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive"));
}

/// The browser script with its npm dependencies, in the target directory.
fn browser_scripts() -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&work).unwrap();
    let lock = std::fs::read(source.join("package-lock.json")).unwrap();
    let installed = std::fs::read(work.join("package-lock.json")).ok();
    for file in ["package.json", "package-lock.json", "studio.mjs", "approvals.mjs"] {
        std::fs::copy(source.join(file), work.join(file)).unwrap();
    }
    if installed.as_deref() != Some(&lock[..]) || !work.join("node_modules/playwright-core").is_dir() {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&work));
    }
    work
}

#[test]
fn the_studio_works_in_a_real_browser() {
    ensure_chromium();
    let scripts = browser_scripts();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-chat.gguf");
    // A context long enough for the whole session's conversation.
    TinyModel { context_length: 2048, ..TinyModel::default() }.write(&model).unwrap();
    // The operator trusts the team's key; the index offers word-stats 0.3.0.
    ok(&dir, &["plugin", "keygen", text(&dir.path().join("team")), "--signer", "Team"]);
    ok(&dir, &["plugin", "trust", text(&dir.path().join("team.pub"))]);
    // The session shows what the demonstration tagger does: the operator enables it.
    ok(&dir, &["plugin", "enable", "example-tagger"]);
    let team = dir.path().join("team.key");
    let signed = package_bundled(&dir, "calculator", "0.2.0", Some(&team));
    let older = package_bundled(&dir, "calculator", "0.1.5", Some(&team));
    let unsigned = package_bundled(&dir, "word-stats", "0.2.0", None);
    let index_dir = dir.path().join("index");
    std::fs::create_dir_all(&index_dir).unwrap();
    let offered = package_bundled(&dir, "word-stats", "0.3.0", Some(&team));
    std::fs::copy(&offered, index_dir.join("word-stats-0.3.0.plugboard")).unwrap();
    ok(&dir, &["plugin", "index", text(&index_dir), "--name", "Team plugins"]);
    let nowhere = nowhere_url();
    let server = start_server_with(
        &dir,
        &[
            ("PLUGBOARD_MODEL", model.to_str().unwrap()),
            ("PLUGBOARD_OLLAMA_URL", &nowhere),
            ("PLUGBOARD_PLUGIN_INDEX", text(&index_dir.join("index.json"))),
        ],
    );
    let screenshots = scripts.join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let output = Command::new("node")
        .arg(scripts.join("studio.mjs"))
        .arg(&server.base)
        .arg(&screenshots)
        .env("CHROMIUM", CHROMIUM)
        .env("SIGNED_PACKAGE", &signed)
        .env("OLDER_PACKAGE", &older)
        .env("UNSIGNED_PACKAGE", &unsigned)
        .output()
        .expect("node is installed");
    assert!(
        output.status.success(),
        "the browser checks failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for screen in ["chat", "admin-packages", "plugin-page", "message-action", "webhook-live"] {
        assert!(screenshots.join(format!("{screen}.png")).is_file(), "{screen}.png");
    }
}

#[test]
fn a_tool_call_waits_for_approval_across_a_reload_in_a_real_browser() {
    ensure_chromium();
    let scripts = browser_scripts();
    let dir = tempfile::tempdir().unwrap();
    // The fixture model calls the tool a message names; the server reaches it as an
    // OpenAI-compatible server.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fixture = runtime.block_on(plugboard_fixture_llm::FixtureLlm::start()).unwrap();
    let nowhere = nowhere_url();
    let base_url = fixture.base_url();
    let server = start_server_with(
        &dir,
        &[
            ("PLUGBOARD_OPENAI_BASE_URL", base_url.as_str()),
            ("PLUGBOARD_DEFAULT_MODEL", "openai/echo"),
            ("PLUGBOARD_OLLAMA_URL", &nowhere),
        ],
    );
    let screenshots = scripts.join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let output = Command::new("node")
        .arg(scripts.join("approvals.mjs"))
        .arg(&server.base)
        .arg(&screenshots)
        .env("CHROMIUM", CHROMIUM)
        .output()
        .expect("node is installed");
    assert!(
        output.status.success(),
        "the browser checks failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for screen in ["tool-policies", "approval-card", "approval-approved"] {
        assert!(screenshots.join(format!("{screen}.png")).is_file(), "{screen}.png");
    }
    drop(fixture);
}
