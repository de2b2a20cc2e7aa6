//! What the tests share: the npm packages (installed once per lock file into the target
//! folder), configurations of the reference server and the fixture server, waiting for a
//! server's state, and finding a test's processes by a marker in their environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use plugboard_mcp::{McpServerConfig, McpServers, ServerState, ServerStatus, Transport};

/// How long a test waits for a server to reach a state (starting node, handshake).
pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// The folder holding `node_modules` with the pinned packages and `fixture-server.mjs`.
pub(crate) fn npm_folder() -> PathBuf {
    static INSTALLED: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut installed = INSTALLED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(folder) = installed.as_ref() {
        return folder.clone();
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/npm");
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mcp-npm");
    std::fs::create_dir_all(&work).unwrap();
    let lock = std::fs::read(source.join("package-lock.json")).unwrap();
    let previous = std::fs::read(work.join("package-lock.json")).ok();
    for file in ["package.json", "package-lock.json", "fixture-server.mjs"] {
        std::fs::copy(source.join(file), work.join(file)).unwrap();
    }
    if previous.as_deref() != Some(&lock[..]) || !everything_script_in(&work).is_file() {
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&work)
            .output()
            .expect("npm is installed");
        assert!(
            output.status.success(),
            "npm ci failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    *installed = Some(work.clone());
    work
}

fn everything_script_in(folder: &Path) -> PathBuf {
    folder.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
}

/// The reference server's entry script.
pub(crate) fn everything_script() -> PathBuf {
    everything_script_in(&npm_folder())
}

/// A marker no other test uses, put in a server's environment to find its processes.
pub(crate) fn marker() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The name of the marker variable.
pub(crate) const MARKER: &str = "PLUGBOARD_MCP_TEST_MARKER";

/// A stdio server running `node <script> <args>` with `MARKER=marker` and `env`.
pub(crate) fn node_server(
    name: &str,
    script: &Path,
    args: &[&str],
    marker: &str,
    env: &[(&str, &str)],
) -> McpServerConfig {
    let mut variables = BTreeMap::from([(MARKER.to_owned(), marker.to_owned())]);
    variables.extend(env.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())));
    let mut arguments = vec![script.to_string_lossy().into_owned()];
    arguments.extend(args.iter().map(|arg| (*arg).to_owned()));
    config(
        name,
        Transport::Stdio { command: "node".to_owned(), args: arguments, env: variables, cwd: Some(npm_folder()) },
    )
}

/// The reference server over stdio.
pub(crate) fn everything(name: &str, marker: &str) -> McpServerConfig {
    node_server(name, &everything_script(), &["stdio"], marker, &[])
}

/// The fixture server over stdio.
pub(crate) fn fixture(name: &str, marker: &str) -> McpServerConfig {
    node_server(name, &npm_folder().join("fixture-server.mjs"), &["stdio"], marker, &[])
}

/// A configuration with the defaults.
pub(crate) fn config(name: &str, transport: Transport) -> McpServerConfig {
    let config: McpServerConfig = serde_json::from_value(serde_json::json!({
        "name": name, "transport": "stdio", "command": "x"
    }))
    .unwrap();
    let config = McpServerConfig { transport, ..config };
    config.validate().unwrap();
    config
}

/// Waits until `name`'s status meets `condition`, and returns it.
pub(crate) async fn wait_for(
    servers: &McpServers,
    name: &str,
    what: &str,
    condition: impl Fn(&ServerStatus) -> bool,
) -> ServerStatus {
    let mut changes = servers.changes();
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(status) = servers.status(name)
                && condition(&status)
            {
                return status;
            }
            changes.changed().await.unwrap();
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("`{name}` did not become {what} within {WAIT:?}: {:#?}", servers.status(name)))
}

/// Waits until `name` is ready.
pub(crate) async fn ready(servers: &McpServers, name: &str) -> ServerStatus {
    wait_for(servers, name, "ready", |status| status.state == ServerState::Ready).await
}

/// The ids of the live processes whose environment holds `MARKER=marker`.
pub(crate) fn processes_with(marker: &str) -> Vec<u32> {
    let needle = format!("{MARKER}={marker}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        // A zombie (exited, not yet reaped) has an empty environment: it is gone.
        if environ.split(|&byte| byte == 0).any(|variable| variable == needle.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process the test started itself (an HTTP server), killed when dropped.
pub(crate) struct Background(pub std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `node <script> <args>` with `PORT=port` and waits until it says it listens.
pub(crate) async fn http_server(script: &Path, args: &[&str], port: u16) -> Background {
    use std::io::BufRead;
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .env("PORT", port.to_string())
        .current_dir(npm_folder())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node is installed");
    let stderr = child.stderr.take().unwrap();
    let server = Background(child);
    let (listening, heard) = tokio::sync::oneshot::channel();
    // Reads its standard error to the end (so it never blocks writing), telling when it
    // says it listens.
    std::thread::spawn(move || {
        let mut listening = Some(listening);
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if line.contains("listening")
                && let Some(listening) = listening.take()
            {
                let _ = listening.send(());
            }
        }
    });
    let heard = tokio::time::timeout(WAIT, heard).await;
    assert!(matches!(heard, Ok(Ok(()))), "the HTTP server on port {port} did not start: {heard:?}");
    server
}
