//! One server's supervising task: connect (start the child process with exactly its
//! configured environment, or reach the HTTP endpoint with its headers), do the MCP
//! handshake, list the tools (every page), then keep the connection until the server goes
//! away or is stopped, refreshing the tools when it says they changed. A server that fails
//! is retried with exponential backoff (1 s doubling to 60 s, back to 1 s after it stayed
//! up a minute).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use process_wrap::tokio::{ChildWrapper, CommandWrap, ProcessGroup};
use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientRequest, Extensions, Implementation, PingRequest, PingRequestMethod,
};
use rmcp::service::{NotificationContext, Peer, RoleClient, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ServiceExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, watch};

use crate::config::Transport;
use crate::names::{distinct_offered_name, offered_name};
use crate::servers::{McpToolInfo, ServerState, Shared};

/// The longest a connection may take: process start, handshake and the first tool list
/// (`npx` may download the server first).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest listing the tools again after the server said they changed may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a connected HTTP server is pinged.
const PING_EVERY: Duration = Duration::from_secs(30);

/// How long a ping may take.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// The first wait before a retry; doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait before a retry.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A server that stayed connected this long starts again from [`FIRST_BACKOFF`].
const STAYED_UP: Duration = Duration::from_secs(60);

/// How many lines of standard error a server's status keeps.
const STDERR_LINES: usize = 10;

/// The longest standard-error line kept (longer ones are cut).
const STDERR_LINE_BYTES: usize = 500;

/// How long to wait for the rest of a dead process's standard error.
const STDERR_DRAIN: Duration = Duration::from_secs(1);

/// Runs the server of `shared` until `stop` turns `true` (or its sender is dropped).
pub(crate) async fn supervise(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        shared.update(|live| {
            live.state = ServerState::Starting;
            live.retry_at = None;
        });
        // The process (of a stdio server) stays here, so whatever happens to the attempt,
        // it is ended and waited for.
        let mut process: Option<Process> = None;
        let attempt = tokio::select! {
            attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(&shared, &mut process)) => attempt,
            () = stopped(&mut stop) => {
                end_process(shared.name(), process.take(), Exit::Now).await;
                return;
            }
        };
        let failure = match attempt {
            Err(_) => {
                end_process(shared.name(), process.take(), Exit::Now).await;
                format!("it did not connect within {} s", CONNECT_TIMEOUT.as_secs())
            }
            Ok(Err(error)) => {
                end_process(shared.name(), process.take(), Exit::Now).await;
                error
            }
            Ok(Ok(connection)) => {
                let connected_at = Instant::now();
                match run(&shared, connection, process.take(), &mut stop).await {
                    Ending::Stopped => return,
                    Ending::Lost(reason) => {
                        if connected_at.elapsed() >= STAYED_UP {
                            backoff = FIRST_BACKOFF;
                        }
                        reason
                    }
                }
            }
        };
        let failure = with_stderr_tail(&shared, failure).await;
        tracing::warn!(server = %shared.name(), error = %failure, retry_in_s = backoff.as_secs(), "MCP server failed");
        shared.update(|live| {
            live.state = ServerState::Failed;
            live.peer = None;
            live.last_error = Some(failure);
            live.retry_at = Some(Instant::now() + backoff);
        });
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        shared.update(|live| live.restarts = live.restarts.saturating_add(1));
    }
}

/// Resolves when `stop` turns `true` or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// A stdio server's process: its own process group, so signals reach what it started.
type Process = Box<dyn ChildWrapper>;

/// How long a process may take to exit after its input closed, and again after `SIGTERM`.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// `SIGTERM`, asking a process to exit.
const SIGTERM: i32 = 15;

/// Ends `process` (if any) and waits until it is gone: at once, or gracefully as MCP's
/// stdio shutdown says (its input is closed already; then `SIGTERM`, then `SIGKILL`, each
/// after [`EXIT_GRACE`]).
async fn end_process(server: &str, process: Option<Process>, how: Exit) {
    let Some(mut process) = process else { return };
    if matches!(how, Exit::Gracefully) {
        if let Ok(Ok(_)) = tokio::time::timeout(EXIT_GRACE, process.wait()).await {
            return;
        }
        tracing::info!(server, "the MCP server did not exit when its input closed; sending SIGTERM");
        if process.signal(SIGTERM).is_ok()
            && matches!(tokio::time::timeout(EXIT_GRACE, process.wait()).await, Ok(Ok(_)))
        {
            return;
        }
    }
    if let Err(error) = Box::into_pin(process.kill()).await {
        tracing::warn!(server, %error, "killing the MCP server's processes failed");
    }
}

/// Why a connection ended.
enum Ending {
    /// Asked to stop: the connection is closed and the process gone.
    Stopped,
    /// The server went away; the reason.
    Lost(String),
}

/// How [`end_process`] ends a process.
#[derive(Clone, Copy)]
enum Exit {
    /// At once (its handshake never finished, or the connection is gone).
    Now,
    /// As MCP's stdio shutdown says, its input closed first.
    Gracefully,
}

/// A live connection to a server.
type Connection = RunningService<RoleClient, Handler>;

/// Keeps `connection` until the server goes away or `stop` says so.
async fn run(
    shared: &Arc<Shared>,
    connection: Connection,
    mut process: Option<Process>,
    stop: &mut watch::Receiver<bool>,
) -> Ending {
    let peer = connection.peer().clone();
    let cancel = connection.cancellation_token();
    let mut ended = Box::pin(connection.waiting());
    // A wake-up left from the previous connection is about that one.
    let _ = shared.reconnect.notified().now_or_never();
    // A child process that dies closes the connection; an HTTP server that goes away is
    // only noticed by a request, so one is pinged now and then.
    let is_http = matches!(shared.config.transport, Transport::Http { .. });
    let mut ping_every = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    ping_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ping_every.tick(), if is_http => {
                if let Err(error) = ping(&peer).await {
                    cancel.cancel();
                    let _ = ended.await;
                    end_process(shared.name(), process.take(), Exit::Now).await;
                    return Ending::Lost(format!("it stopped answering: {error}"));
                }
            }
            quit = &mut ended => {
                if let Err(error) = quit {
                    end_process(shared.name(), process.take(), Exit::Now).await;
                    return Ending::Lost(format!("the connection failed: {error}"));
                }
                let Some(mut process) = process.take() else {
                    return Ending::Lost("the connection closed".to_owned());
                };
                // Its output ended: it exited, or is about to.
                return Ending::Lost(match tokio::time::timeout(EXIT_GRACE, process.wait()).await {
                    Ok(Ok(status)) => format!("the process exited ({status})"),
                    _ => {
                        end_process(shared.name(), Some(process), Exit::Now).await;
                        "the process closed its output (it was stopped)".to_owned()
                    }
                });
            }
            () = shared.refresh_tools.notified() => {
                // Bounded: a server that never answers must not keep this loop from
                // hearing a stop.
                match tokio::time::timeout(LIST_TIMEOUT, list_tools(shared.name(), &peer)).await {
                    Err(_) => tracing::warn!(server = %shared.name(), "the MCP server did not list its changed tools within {} s", LIST_TIMEOUT.as_secs()),
                    Ok(Err(error)) => tracing::warn!(server = %shared.name(), %error, "listing the MCP server's changed tools failed"),
                    Ok(Ok(tools)) => {
                        tracing::info!(server = %shared.name(), tools = tools.len(), "MCP server's tools changed");
                        shared.update(|live| live.tools = Arc::new(tools));
                    }
                }
            }
            () = shared.reconnect.notified() => {
                cancel.cancel();
                let _ = ended.await;
                end_process(shared.name(), process.take(), Exit::Now).await;
                return Ending::Lost("the connection broke while calling a tool".to_owned());
            }
            () = stopped(stop) => {
                // Closing the connection closes the process's input: it should exit.
                cancel.cancel();
                if let Err(error) = ended.await {
                    tracing::warn!(server = %shared.name(), %error, "closing the MCP connection failed");
                }
                end_process(shared.name(), process.take(), Exit::Gracefully).await;
                tracing::info!(server = %shared.name(), "MCP server stopped");
                return Ending::Stopped;
            }
        }
    }
}

/// Asks the server whether it is there (any answer, an error too, says it is).
async fn ping(peer: &Peer<RoleClient>) -> Result<(), String> {
    let request =
        ClientRequest::PingRequest(PingRequest { method: PingRequestMethod, extensions: Extensions::default() });
    match tokio::time::timeout(PING_TIMEOUT, peer.send_request(request)).await {
        Err(_) => Err(format!("no answer to a ping within {} s", PING_TIMEOUT.as_secs())),
        Ok(Ok(_) | Err(ServiceError::McpError(_))) => Ok(()),
        Ok(Err(ServiceError::TransportSend(error))) => Err(error_text(error.error.as_ref())),
        Ok(Err(error)) => Err(error_text(&error)),
    }
}

/// Connects to the server, lists its tools and marks it ready; the error as text.
/// A stdio server's process goes into `process` as soon as it is started.
async fn connect(shared: &Arc<Shared>, process: &mut Option<Process>) -> Result<Connection, String> {
    let handler = Handler { server: shared.name().to_owned(), refresh_tools: shared.refresh_tools.clone() };
    shared.update(|live| {
        live.stderr_tail.clear();
        live.stderr_done = true;
    });
    let connection = match &shared.config.transport {
        Transport::Stdio { command, args, env, .. } => {
            let program = find_program(command, &shared.cwd)?;
            let mut command = CommandWrap::with_new(&program, |command| {
                command
                    .args(args)
                    .env_clear()
                    .envs(env)
                    .current_dir(&shared.cwd)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true);
            });
            // Its own process group: stopping it stops whatever it started too.
            command.wrap(ProcessGroup::leader());
            let mut started =
                command.spawn().map_err(|error| format!("`{}` could not be started: {error}", program.display()))?;
            tracing::info!(server = %shared.name(), program = %program.display(), pid = ?started.id(), "MCP server started");
            let (stdin, stdout, stderr) = (started.stdin().take(), started.stdout().take(), started.stderr().take());
            *process = Some(started);
            if let Some(stderr) = stderr {
                shared.live().stderr_done = false;
                tokio::spawn(read_stderr(shared.clone(), stderr));
            }
            let (Some(stdin), Some(stdout)) = (stdin, stdout) else {
                return Err("the process's standard input and output could not be opened".to_owned());
            };
            handler
                .serve((stdout, stdin))
                .await
                .map_err(|error| format!("the MCP handshake failed: {}", init_error_text(&error)))?
        }
        Transport::Http { url, headers } => {
            install_crypto_provider();
            let mut custom_headers = HashMap::new();
            for (name, value) in headers {
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|error| format!("header `{name}` is not valid: {error}"))?;
                let value = http::HeaderValue::from_str(value)
                    .map_err(|error| format!("the value of header `{name}` is not valid: {error}"))?;
                custom_headers.insert(name, value);
            }
            let config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom_headers);
            let transport = StreamableHttpClientTransport::from_config(config);
            handler
                .serve(transport)
                .await
                .map_err(|error| format!("connecting to {url} failed: {}", init_error_text(&error)))?
        }
    };
    let server_info = connection.peer_info().and_then(|info| info.server_info.clone()).map(|info| {
        let mut value = serde_json::json!({"name": info.name, "version": info.version});
        if let Some(title) = info.title {
            value["title"] = serde_json::Value::String(title);
        }
        value
    });
    // A change the server announced before this listing is in it.
    let _ = shared.refresh_tools.notified().now_or_never();
    let tools = list_tools(shared.name(), connection.peer())
        .await
        .map_err(|error| format!("listing its tools failed: {error}"))?;
    tracing::info!(server = %shared.name(), tools = tools.len(), info = ?server_info, "MCP server connected");
    let peer = connection.peer().clone();
    shared.update(|live| {
        live.state = ServerState::Ready;
        live.tools = Arc::new(tools);
        live.server_info = server_info;
        live.peer = Some(peer);
        live.last_error = None;
        live.retry_at = None;
    });
    Ok(connection)
}

/// Every tool the server lists (following `nextCursor`), with the names the model sees.
async fn list_tools(server: &str, peer: &Peer<RoleClient>) -> Result<Vec<McpToolInfo>, rmcp::service::ServiceError> {
    let listed = peer.list_all_tools().await?;
    let mut taken = HashSet::new();
    let mut tools = Vec::with_capacity(listed.len());
    for tool in listed {
        let mut offered_as = offered_name(server, &tool.name);
        if !taken.insert(offered_as.clone()) {
            offered_as = distinct_offered_name(server, &tool.name);
            if !taken.insert(offered_as.clone()) {
                tracing::warn!(server, tool = %tool.name, "MCP server lists a tool twice; the second is left out");
                continue;
            }
        }
        tools.push(McpToolInfo {
            name: tool.name.to_string(),
            offered_as,
            description: tool.description.as_deref().or(tool.title.as_deref()).unwrap_or_default().to_owned(),
            input_schema: serde_json::Value::Object(tool.input_schema.as_ref().clone()),
        });
    }
    Ok(tools)
}

/// `command` as a path to run: a name without `/` looked up in Plugboard's own `PATH` (the
/// child's environment has only what its configuration gives); a relative path taken from
/// the server's working folder.
fn find_program(command: &str, cwd: &Path) -> Result<PathBuf, String> {
    if command.contains('/') {
        let path = cwd.join(command);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("`{command}` does not exist (looked in {})", cwd.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|folder| folder.join(command))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            format!("`{command}` was not found in PATH ({}): install it or give its full path", path.to_string_lossy())
        })
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Logs the process's standard error line by line and keeps the last lines for the status.
async fn read_stderr(shared: Arc<Shared>, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                tracing::info!(server = %shared.name(), "{line}");
                let mut line = line;
                if line.len() > STDERR_LINE_BYTES {
                    let mut cut = STDERR_LINE_BYTES;
                    while !line.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    line.truncate(cut);
                    line.push('…');
                }
                let mut live = shared.live();
                if live.stderr_tail.len() == STDERR_LINES {
                    live.stderr_tail.pop_front();
                }
                live.stderr_tail.push_back(line);
            }
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(server = %shared.name(), %error, "reading the MCP server's standard error failed");
                break;
            }
        }
    }
    shared.live().stderr_done = true;
    shared.stderr_closed.notify_waiters();
}

/// `failure` with the last lines of standard error, once the process closed it (or a
/// moment passed).
async fn with_stderr_tail(shared: &Shared, failure: String) -> String {
    if matches!(shared.config.transport, Transport::Stdio { .. }) {
        let closed = shared.stderr_closed.notified();
        tokio::pin!(closed);
        closed.as_mut().enable();
        if !shared.live().stderr_done {
            let _ = tokio::time::timeout(STDERR_DRAIN, closed).await;
        }
    }
    let live = shared.live();
    if live.stderr_tail.is_empty() {
        failure
    } else {
        let tail: Vec<&str> = live.stderr_tail.iter().map(String::as_str).collect();
        format!("{failure}; its last output:\n{}", tail.join("\n"))
    }
}

/// A handshake's error as people read it: a transport's failure without rmcp's type names.
fn init_error_text(error: &rmcp::service::ClientInitializeError) -> String {
    match error {
        rmcp::service::ClientInitializeError::TransportError { error, .. } => error_text(error.error.as_ref()),
        other => error_text(other),
    }
}

/// `error`'s text, and its innermost cause when the text does not already say it (a
/// refused connection, a name that does not resolve).
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut innermost = error.source();
    while let Some(next) = innermost.and_then(std::error::Error::source) {
        innermost = Some(next);
    }
    if let Some(cause) = innermost.map(ToString::to_string)
        && !text.contains(&cause)
    {
        text = format!("{text}: {cause}");
    }
    text
}

/// rmcp's HTTP client needs a process-wide rustls provider: the binary installs ring's at
/// start; a program embedding this crate that did not gets the same.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// What Plugboard does with what a server sends on its own: a changed tool list is listed
/// again; everything else takes rmcp's defaults (no sampling, elicitation declined).
#[derive(Debug)]
pub(crate) struct Handler {
    server: String,
    refresh_tools: Arc<Notify>,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::debug!(server = %self.server, "MCP server says its tools changed");
        self.refresh_tools.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("plugboard", env!("CARGO_PKG_VERSION")).with_title("Plugboard"),
        )
    }
}
