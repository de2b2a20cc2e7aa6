//! [`McpServers`]: the running set of MCP servers. [`McpServers::apply`] makes it match the
//! configured list (a new or changed server started, a removed one stopped, an unchanged one
//! left connected); each started server has a supervising task (`connection.rs`) that
//! connects, keeps its tool list, and reconnects with backoff. The state every reader sees
//! (statuses, offered tools, calls) is each server's `Shared`, behind a short lock.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rmcp::service::{Peer, RoleClient};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{McpServerConfig, Transport};
use crate::connection;
use crate::tools::McpTools;

/// The MCP servers Plugboard runs or reaches, and their tools. Cheap to clone: clones share
/// the servers. Dropping the last clone stops them (in the background); [`McpServers::shutdown`]
/// stops them and waits until every child process is gone.
#[derive(Clone)]
pub struct McpServers {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    default_cwd: PathBuf,
    servers: Mutex<BTreeMap<String, Entry>>,
    /// `apply` and `shutdown` one at a time.
    applying: tokio::sync::Mutex<()>,
    pub(crate) changes: Arc<watch::Sender<u64>>,
}

/// One configured server.
struct Entry {
    shared: Arc<Shared>,
    /// Set to `true` to stop the supervising task.
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// What a server is doing now.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    /// Switched off by an administrator: not started, its tools not offered.
    Disabled,
    /// Connecting (starting the process, the MCP handshake, listing tools).
    Starting,
    /// Connected: its tools are offered.
    Ready,
    /// Not connected: `last_error` says why; it is retried with backoff.
    Failed,
}

/// A tool of an MCP server.
#[derive(Clone, Debug, Serialize)]
pub struct McpToolInfo {
    /// The server's own name for it.
    pub name: String,
    /// The name the model sees (`mcp_<server>__<tool>`).
    pub offered_as: String,
    /// What it does, as the server describes it.
    pub description: String,
    /// The JSON Schema of its arguments.
    pub input_schema: serde_json::Value,
}

/// A server's status, for administrators and UIs.
#[derive(Clone, Debug, Serialize)]
pub struct ServerStatus {
    /// Its configured name.
    pub name: String,
    /// `stdio` or `http`.
    pub transport: &'static str,
    /// Whether an administrator enabled it.
    pub enabled: bool,
    /// What it is doing now.
    pub state: ServerState,
    /// Its tools as last listed (empty unless it connected once).
    pub tools: Vec<McpToolInfo>,
    /// Why it last failed, with the last lines its process wrote to standard error.
    pub last_error: Option<String>,
    /// How many times it was restarted after a failure.
    pub restarts: u32,
    /// The name and version the server gave when it connected.
    pub server_info: Option<serde_json::Value>,
}

/// One server's state, shared by its supervising task, the statuses and the tool calls.
pub(crate) struct Shared {
    pub(crate) config: McpServerConfig,
    pub(crate) cwd: PathBuf,
    pub(crate) live: Mutex<Live>,
    pub(crate) changes: Arc<watch::Sender<u64>>,
    /// Woken when the server says its tool list changed.
    pub(crate) refresh_tools: Arc<Notify>,
    /// Woken when a call found the connection broken (an HTTP server gone).
    pub(crate) reconnect: Notify,
    /// Woken when the process closed its standard error (it exited).
    pub(crate) stderr_closed: Notify,
}

/// The changing part of [`Shared`].
pub(crate) struct Live {
    pub(crate) state: ServerState,
    pub(crate) tools: Arc<Vec<McpToolInfo>>,
    pub(crate) last_error: Option<String>,
    pub(crate) restarts: u32,
    pub(crate) server_info: Option<serde_json::Value>,
    /// The connection while `Ready`.
    pub(crate) peer: Option<Peer<RoleClient>>,
    /// When the next attempt starts, while `Failed`.
    pub(crate) retry_at: Option<Instant>,
    /// The last lines the process wrote to standard error.
    pub(crate) stderr_tail: VecDeque<String>,
    /// Whether standard error is read to its end (or there is none to read).
    pub(crate) stderr_done: bool,
}

impl Shared {
    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) fn live(&self) -> MutexGuard<'_, Live> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the live state and tells the listeners.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Live)) {
        change(&mut self.live());
        self.changes.send_modify(|count| *count = count.wrapping_add(1));
    }

    pub(crate) fn status(&self) -> ServerStatus {
        let live = self.live();
        ServerStatus {
            name: self.config.name.clone(),
            transport: transport_name(&self.config.transport),
            enabled: self.config.enabled,
            state: live.state,
            tools: live.tools.as_ref().clone(),
            last_error: live.last_error.clone(),
            restarts: live.restarts,
            server_info: live.server_info.clone(),
        }
    }
}

fn transport_name(transport: &Transport) -> &'static str {
    match transport {
        Transport::Stdio { .. } => "stdio",
        Transport::Http { .. } => "http",
    }
}

impl McpServers {
    /// No servers yet; stdio servers whose configuration sets no `cwd` run in `default_cwd`.
    pub fn new(default_cwd: PathBuf) -> McpServers {
        let (changes, _) = watch::channel(0);
        McpServers {
            inner: Arc::new(Inner {
                default_cwd,
                servers: Mutex::new(BTreeMap::new()),
                applying: tokio::sync::Mutex::new(()),
                changes: Arc::new(changes),
            }),
        }
    }

    /// Starts, stops and restarts servers so the running set matches `configs`: a server
    /// whose configuration is unchanged keeps its connection; a removed or changed one is
    /// stopped (its process gone) before this returns; a new or changed one is started
    /// (connecting goes on in the background: see [`McpServers::changes`]).
    pub async fn apply(&self, configs: Vec<McpServerConfig>) {
        let _one_at_a_time = self.inner.applying.lock().await;
        let mut wanted: BTreeMap<String, McpServerConfig> =
            configs.into_iter().map(|config| (config.name.clone(), config)).collect();
        let stopping: Vec<Entry> = {
            let mut servers = self.inner.servers();
            let gone: Vec<String> = servers
                .iter()
                .filter(|(name, entry)| wanted.get(*name) != Some(&entry.shared.config))
                .map(|(name, _)| name.clone())
                .collect();
            for name in servers.keys() {
                if !gone.contains(name) {
                    wanted.remove(name);
                }
            }
            gone.iter().filter_map(|name| servers.remove(name)).collect()
        };
        stop_all(stopping).await;
        {
            let mut servers = self.inner.servers();
            for (name, config) in wanted {
                let entry = self.start(config);
                servers.insert(name, entry);
            }
        }
        self.inner.changed();
    }

    fn start(&self, config: McpServerConfig) -> Entry {
        let cwd = match &config.transport {
            Transport::Stdio { cwd: Some(cwd), .. } => cwd.clone(),
            _ => self.inner.default_cwd.clone(),
        };
        let enabled = config.enabled;
        let shared = Arc::new(Shared {
            config,
            cwd,
            live: Mutex::new(Live {
                state: if enabled { ServerState::Starting } else { ServerState::Disabled },
                tools: Arc::new(Vec::new()),
                last_error: None,
                restarts: 0,
                server_info: None,
                peer: None,
                retry_at: None,
                stderr_tail: VecDeque::new(),
                stderr_done: true,
            }),
            changes: self.inner.changes.clone(),
            refresh_tools: Arc::new(Notify::new()),
            reconnect: Notify::new(),
            stderr_closed: Notify::new(),
        });
        let (stop, stopped) = watch::channel(false);
        // A configuration the API would have refused is not started: its status says why.
        if let Err(error) = shared.config.validate() {
            tracing::warn!(server = %shared.name(), %error, "MCP server not started");
            let mut live = shared.live();
            live.state = if enabled { ServerState::Failed } else { ServerState::Disabled };
            live.last_error = Some(error.to_string());
            drop(live);
            return Entry { shared, stop, task: None };
        }
        let task = enabled.then(|| tokio::spawn(connection::supervise(shared.clone(), stopped)));
        Entry { shared, stop, task }
    }

    /// Every configured server's status, sorted by name.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        self.inner.servers().values().map(|entry| entry.shared.status()).collect()
    }

    /// The status of the server named `name`.
    pub fn status(&self, name: &str) -> Option<ServerStatus> {
        self.inner.servers().get(name).map(|entry| entry.shared.status())
    }

    /// The servers' tools as a tool source of the chat core.
    pub fn tool_source(&self) -> McpTools {
        McpTools::new(self.clone())
    }

    /// A receiver whose value changes whenever a server's state or tool list does.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Stops every server and waits until their processes are gone.
    pub async fn shutdown(&self) {
        let _one_at_a_time = self.inner.applying.lock().await;
        let stopping: Vec<Entry> = {
            let mut servers = self.inner.servers();
            std::mem::take(&mut *servers).into_values().collect()
        };
        stop_all(stopping).await;
        self.inner.changed();
    }

    /// The shared state of the server named `name`.
    pub(crate) fn shared(&self, name: &str) -> Option<Arc<Shared>> {
        self.inner.servers().get(name).map(|entry| entry.shared.clone())
    }

    /// Every configured server's shared state, by name.
    pub(crate) fn all_shared(&self) -> Vec<Arc<Shared>> {
        self.inner.servers().values().map(|entry| entry.shared.clone()).collect()
    }
}

impl Inner {
    fn servers(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.servers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn changed(&self) {
        self.changes.send_modify(|count| *count = count.wrapping_add(1));
    }
}

/// Tells every supervising task of `entries` to stop, then waits for them all (each closes
/// its connection and ends its process first).
async fn stop_all(entries: Vec<Entry>) {
    let mut tasks = Vec::new();
    for mut entry in entries {
        let _ = entry.stop.send(true);
        if let Some(task) = entry.task.take() {
            tasks.push((entry.shared.name().to_owned(), task));
        }
    }
    for (name, task) in tasks {
        if let Err(error) = task.await {
            tracing::error!(server = %name, %error, "the MCP server's supervising task failed");
        }
    }
}

impl std::fmt::Debug for McpServers {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.inner.servers().keys().cloned().collect();
        formatter.debug_struct("McpServers").field("servers", &names).finish()
    }
}
