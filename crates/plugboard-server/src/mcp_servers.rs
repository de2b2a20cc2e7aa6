//! The MCP servers administrators add, over HTTP, and how they reach the running set
//! ([`plugboard_mcp::McpServers`], whose tools the chat engine offers).
//!
//! Two kinds of entries: those of the configuration file's `[[mcp_servers]]` are fixed
//! (`"managed_by": "config"`: the API shows them, restarts them, and refuses to change or
//! remove them, saying to edit the file), and those added through the API are kept in the
//! store (`"managed_by": "api"`), their secrets (`env` and `headers` values) sealed under
//! the server key with `mcp:<name>` and `env.<VAR>` / `headers.<Name>` bound in, never
//! shown back: a response has `"(secret)"` in their place, and a `PUT` that sends
//! `"(secret)"` back keeps the stored value. A file entry wins over a stored one of the
//! same name.
//!
//! Every change is applied at once ([`McpAdmin::sync`]: the file's and the store's entries
//! read again, then `McpServers::apply`); servers sharing a PostgreSQL database apply one
//! made through another when the database notifies of it (`Topic::McpServers`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plugboard_mcp::config::REDACTED;
use plugboard_mcp::{McpServerConfig, McpServers, ServerStatus, Transport};
use plugboard_registry::secrets::SecretKeys;
use plugboard_store::{Notice, Store, StoreError, StoredMcpServer, Topic};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiError, ApiJson};
use crate::{AppState, schemas};

/// The MCP servers of the configuration file, and the folder stdio servers run in unless
/// their entry sets `cwd`.
#[derive(Debug, Clone)]
pub struct McpServersConfig {
    /// The `[[mcp_servers]]` entries, validated: fixed, not stored.
    pub servers: Vec<McpServerConfig>,
    /// Where a stdio server runs when its entry sets no `cwd` (the data folder).
    pub working_folder: PathBuf,
}

impl Default for McpServersConfig {
    fn default() -> McpServersConfig {
        McpServersConfig { servers: Vec::new(), working_folder: PathBuf::from(".") }
    }
}

/// Who manages an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum ManagedBy {
    /// The configuration file: fixed.
    Config,
    /// The API: kept in the store.
    Api,
}

/// The MCP servers as administrators configured them, applied to the running set. Cheap to
/// clone: clones share everything.
#[derive(Clone)]
pub struct McpAdmin {
    servers: McpServers,
    file: Arc<Vec<McpServerConfig>>,
    store: Arc<dyn Store>,
    keys: Option<SecretKeys>,
    /// Stored entries that cannot be applied (a secret that does not open), by name, with
    /// why: shown as failed.
    unreadable: Arc<Mutex<BTreeMap<String, String>>>,
    /// One sync (read and apply) at a time, so an older read never replaces a newer one.
    syncing: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for McpAdmin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("McpAdmin")
            .field("servers", &self.servers)
            .field("file", &self.file.iter().map(|config| &config.name).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One entry: its configuration (secrets in the clear: never sent) and who manages it.
struct Entry {
    config: McpServerConfig,
    managed_by: ManagedBy,
}

impl McpAdmin {
    /// The servers of `config` and of `store` (their secrets opened with `keys`; without
    /// keys they are stored as given, for tests), run by `servers`. Nothing starts before
    /// [`McpAdmin::sync`].
    pub(crate) fn new(
        servers: McpServers,
        config: McpServersConfig,
        store: Arc<dyn Store>,
        keys: Option<SecretKeys>,
    ) -> McpAdmin {
        McpAdmin {
            servers,
            file: Arc::new(config.servers),
            store,
            keys,
            unreadable: Arc::default(),
            syncing: Arc::default(),
        }
    }

    /// The running set.
    pub fn servers(&self) -> &McpServers {
        &self.servers
    }

    /// Reads the configuration file's entries and the store's again and makes the running
    /// set match them. A stored entry that cannot be read is left out (logged, and shown as
    /// failed); a store that cannot be read leaves the running set as it is.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.syncing.lock().await;
        let entries = self.entries().await?;
        self.servers.apply(entries.into_values().map(|entry| entry.config).collect()).await;
        Ok(())
    }

    /// Stops every server and waits until their processes are gone.
    pub async fn shutdown(&self) {
        self.servers.shutdown().await;
    }

    /// Every entry by name: the file's, then the store's whose name the file does not take.
    async fn entries(&self) -> Result<BTreeMap<String, Entry>, StoreError> {
        let mut entries: BTreeMap<String, Entry> = self
            .file
            .iter()
            .map(|config| (config.name.clone(), Entry { config: config.clone(), managed_by: ManagedBy::Config }))
            .collect();
        let mut unreadable = BTreeMap::new();
        for stored in self.store.mcp_servers().await? {
            if entries.contains_key(&stored.name) {
                tracing::warn!(
                    server = %stored.name,
                    "an MCP server added through the API has the name of one in the configuration file; the file's is used"
                );
                continue;
            }
            match self.open(&stored) {
                Ok(config) => {
                    entries.insert(stored.name.clone(), Entry { config, managed_by: ManagedBy::Api });
                }
                Err(error) => {
                    tracing::warn!(server = %stored.name, "the MCP server is not started: {error}");
                    unreadable.insert(stored.name.clone(), error);
                }
            }
        }
        *self.unreadable.lock().unwrap_or_else(PoisonError::into_inner) = unreadable;
        Ok(entries)
    }

    /// The entry `name`, if there is one (a stored one that does not open: its error).
    async fn entry(&self, name: &str) -> Result<Option<Result<Entry, String>>, ApiError> {
        if let Some(config) = self.file.iter().find(|config| config.name == name) {
            return Ok(Some(Ok(Entry { config: config.clone(), managed_by: ManagedBy::Config })));
        }
        let Some(stored) = self.store.mcp_server(name).await? else { return Ok(None) };
        Ok(Some(self.open(&stored).map(|config| Entry { config, managed_by: ManagedBy::Api })))
    }

    /// `config` as the store keeps it: every secret value out of the configuration, sealed.
    fn seal(&self, config: &McpServerConfig) -> Result<StoredMcpServer, ApiError> {
        let place = source_of(&config.name);
        let mut secrets = Map::new();
        for (setting, value) in secret_values(config) {
            let value = Value::String(value.to_owned());
            let sealed = match &self.keys {
                Some(keys) => keys.seal(&place, &setting, &value).map_err(|error| {
                    tracing::error!(server = %config.name, "cannot encrypt an MCP server's secret: {error}");
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server cannot encrypt the secret")
                })?,
                None => value,
            };
            secrets.insert(setting, sealed);
        }
        let config_json = serde_json::to_value(config.redacted()).map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("cannot write the configuration: {error}"),
            )
        })?;
        Ok(StoredMcpServer {
            name: config.name.clone(),
            config: config_json,
            secrets: Value::Object(secrets),
            created_at_ms: 0,
            updated_at_ms: 0,
        })
    }

    /// A stored entry's configuration with its secrets opened; why not, naming the secret.
    fn open(&self, stored: &StoredMcpServer) -> Result<McpServerConfig, String> {
        let mut config: McpServerConfig = serde_json::from_value(stored.config.clone())
            .map_err(|error| format!("its stored configuration cannot be read ({error}); add it again"))?;
        let place = source_of(&stored.name);
        let sealed = stored.secrets.as_object().cloned().unwrap_or_default();
        let open = |setting: String, slot: &mut String| -> Result<(), String> {
            let Some(value) = sealed.get(&setting) else {
                return Err(format!("its secret `{setting}` is missing from the database; enter it again"));
            };
            let plain = match (&self.keys, value) {
                (_, Value::String(plain)) => Value::String(plain.clone()),
                (Some(keys), sealed) => keys
                    .open(&place, &setting, sealed)
                    .map_err(|error| format!("its secret `{setting}` cannot be decrypted: {error}"))?,
                (None, _) => return Err(format!("its secret `{setting}` is encrypted and this server has no key")),
            };
            let Value::String(plain) = plain else {
                return Err(format!("its secret `{setting}` is not text; enter it again"));
            };
            *slot = plain;
            Ok(())
        };
        match &mut config.transport {
            Transport::Stdio { env, .. } => {
                for (name, value) in env.iter_mut() {
                    open(format!("env.{name}"), value)?;
                }
            }
            Transport::Http { headers, .. } => {
                for (name, value) in headers.iter_mut() {
                    open(format!("headers.{name}"), value)?;
                }
            }
        }
        Ok(config)
    }

    /// What the API shows of the entry: its redacted configuration, who manages it, and
    /// the running set's view of it.
    fn view(&self, name: &str, entry: Result<&Entry, &str>) -> Value {
        let status = self.servers.status(name);
        let (config, managed_by) = match entry {
            Ok(entry) => (serde_json::to_value(entry.config.redacted()).unwrap_or(Value::Null), Some(entry.managed_by)),
            Err(_) => (Value::Null, Some(ManagedBy::Api)),
        };
        let mut view = json!({
            "name": name,
            "managed_by": managed_by,
            "transport": config["transport"],
            "enabled": config["enabled"],
            "config": config,
            "state": "starting",
            "tools": [],
            "last_error": null,
            "restarts": 0,
            "server_info": null,
            "source": source_of(name),
        });
        match (entry, status) {
            (Err(error), _) => {
                view["state"] = json!("failed");
                view["last_error"] = json!(error);
            }
            (Ok(_), Some(status)) => fill_status(&mut view, status),
            (Ok(entry), None) if !entry.config.enabled => view["state"] = json!("disabled"),
            (Ok(_), None) => {}
        }
        view
    }

    /// Every entry's view, by name.
    async fn views(&self) -> Result<Vec<Value>, ApiError> {
        let entries = self.entries().await?;
        let unreadable = self.unreadable.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut views: BTreeMap<&str, Value> =
            entries.iter().map(|(name, entry)| (name.as_str(), self.view(name, Ok(entry)))).collect();
        for (name, error) in &unreadable {
            views.insert(name, self.view(name, Err(error)));
        }
        Ok(views.into_values().collect())
    }

    /// Restarts the server `name`: stops it, then starts it again with the same entries.
    async fn restart(&self, name: &str) -> Result<(), StoreError> {
        let _one_at_a_time = self.syncing.lock().await;
        let entries = self.entries().await?;
        let all: Vec<McpServerConfig> = entries.into_values().map(|entry| entry.config).collect();
        self.servers.apply(all.iter().filter(|config| config.name != name).cloned().collect()).await;
        self.servers.apply(all).await;
        Ok(())
    }
}

/// The running set's view of a server, into its API view.
fn fill_status(view: &mut Value, status: ServerStatus) {
    view["transport"] = json!(status.transport);
    view["enabled"] = json!(status.enabled);
    view["state"] = json!(status.state);
    view["tools"] = json!(status.tools);
    view["last_error"] = json!(status.last_error);
    view["restarts"] = json!(status.restarts);
    view["server_info"] = json!(status.server_info);
}

/// The source id of a server's tools (what a conversation's `disabled_tools` holds), also
/// the place its secrets are sealed for.
fn source_of(name: &str) -> String {
    plugboard_mcp::source_of(name)
}

/// Each secret of `config` by its setting name (`env.<VAR>`, `headers.<Name>`).
fn secret_values(config: &McpServerConfig) -> Vec<(String, &str)> {
    match &config.transport {
        Transport::Stdio { env, .. } => {
            env.iter().map(|(name, value)| (format!("env.{name}"), value.as_str())).collect()
        }
        Transport::Http { headers, .. } => {
            headers.iter().map(|(name, value)| (format!("headers.{name}"), value.as_str())).collect()
        }
    }
}

/// A request's configuration, checked: the body's shape (secret values never quoted in an
/// error) and then every field's rules, naming the field.
fn parse_config(mut body: Value, name_from_path: Option<&str>) -> Result<McpServerConfig, ApiError> {
    let Some(object) = body.as_object_mut() else {
        return Err(invalid("body", "must be a JSON object holding the server's configuration"));
    };
    if let Some(name) = name_from_path {
        match object.get("name") {
            None => {
                object.insert("name".to_owned(), json!(name));
            }
            Some(Value::String(given)) if given == name => {}
            Some(_) => {
                return Err(invalid(
                    "name",
                    &format!("must be `{name}`, the name in the path; to rename a server, remove it and add it again"),
                ));
            }
        }
    }
    // Checked here, not by serde: its messages quote the value, and these are secrets.
    for field in ["env", "headers"] {
        if let Some(value) = object.get(field)
            && !value.as_object().is_some_and(|values| values.values().all(Value::is_string))
        {
            return Err(invalid(field, "must be an object whose values are all strings"));
        }
    }
    let config: McpServerConfig = serde_json::from_value(body).map_err(|error| {
        ApiError::bad_request(
            "invalid_config",
            format!(
                "the MCP server's configuration does not read: {error}; see `GET /api/openapi.json` for the fields"
            ),
        )
    })?;
    config.validate().map_err(|error| {
        let mut api = ApiError::bad_request("invalid_config", error.to_string());
        api.violations = Some(vec![json!({"path": format!("/{}", error.field), "message": error.problem})]);
        api
    })?;
    Ok(config)
}

fn invalid(field: &str, problem: &str) -> ApiError {
    let mut error = ApiError::bad_request("invalid_config", format!("`{field}` {problem}"));
    error.violations = Some(vec![json!({"path": format!("/{field}"), "message": problem})]);
    error
}

/// Refuses a secret sent as `"(secret)"` that keeps nothing: there is no stored value.
fn refuse_unkept_secrets(config: &McpServerConfig) -> Result<(), ApiError> {
    if let Some((setting, _)) = secret_values(config).into_iter().find(|(_, value)| *value == REDACTED) {
        let field = setting.split('.').next().unwrap_or("env");
        return Err(invalid(
            field,
            &format!(
                "gives `{setting}` as \"{REDACTED}\", which keeps a stored value, but none is stored; give the value"
            ),
        ));
    }
    Ok(())
}

fn managed_by_config(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "managed_by_config",
        format!(
            "MCP server `{name}` comes from the configuration file's `[[mcp_servers]]`; edit or remove it there and \
             restart the server"
        ),
    )
}

fn unknown(name: &str) -> ApiError {
    ApiError::not_found("MCP server", name)
}

/// Applies a change at once; a failure to read the store back is logged (the change is
/// saved, and the next sync applies it).
async fn apply(state: &AppState) {
    if let Err(error) = state.mcp.sync().await {
        tracing::warn!("cannot apply the MCP servers' change at once: {error}");
    }
}

/// The MCP servers
///
/// Every MCP server, from the configuration file (`managed_by: config`) or added through the
/// API (`managed_by: api`): its configuration with secrets as `"(secret)"`, its state, its
/// tools with the names the model sees, its last error and how often it was restarted.
#[utoipa::path(
    get,
    path = "/api/mcp/servers",
    tag = "mcp-servers",
    operation_id = "list_mcp_servers",
    responses(
        (status = 200, description = "The servers", body = schemas::McpServerList),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn list(State(state): State<AppState>, AdminUser(_): AdminUser) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"servers": state.mcp.views().await?})))
}

/// One MCP server
#[utoipa::path(
    get,
    path = "/api/mcp/servers/{name}",
    tag = "mcp-servers",
    operation_id = "get_mcp_server",
    params(("name" = String, Path, description = "The server's name")),
    responses(
        (status = 200, description = "The server", body = schemas::McpServerOne),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such server (`not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = state.mcp.entry(&name).await?.ok_or_else(|| unknown(&name))?;
    Ok(Json(json!({"server": state.mcp.view(&name, entry.as_ref().map_err(String::as_str))})))
}

/// Adds an MCP server
///
/// Saves it (its `env` or `headers` values encrypted under the server key) and starts it at
/// once; it connects in the background (`state` is `starting`, then `ready` with its tools
/// or `failed` with `last_error`). Servers sharing the database start it too.
#[utoipa::path(
    post,
    path = "/api/mcp/servers",
    tag = "mcp-servers",
    operation_id = "add_mcp_server",
    request_body = schemas::McpServerConfigBody,
    responses(
        (status = 201, description = "Added and starting", body = schemas::McpServerOne),
        (status = 400, description = "A field is invalid (`invalid_config`, naming it; `violations` has its path)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 409, description = "The name is taken (`mcp_server_exists`, `managed_by_config`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn add(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let config = parse_config(body, None)?;
    refuse_unkept_secrets(&config)?;
    if state.mcp.file.iter().any(|entry| entry.name == config.name) {
        return Err(managed_by_config(&config.name));
    }
    let stored = state.mcp.seal(&config)?;
    if !state.store.add_mcp_server(&stored).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "mcp_server_exists",
            format!("an MCP server named `{}` exists; choose another name, or change it with PUT", config.name),
        ));
    }
    tracing::info!(server = %config.name, "added an MCP server");
    apply(&state).await;
    let entry = Entry { config, managed_by: ManagedBy::Api };
    Ok((StatusCode::CREATED, Json(json!({"server": state.mcp.view(&entry.config.name, Ok(&entry))}))))
}

/// Replaces an MCP server's configuration
///
/// The whole configuration (`name` may be left out); a secret sent back as `"(secret)"`
/// keeps its stored value, one left out is removed. The server restarts with it at once.
#[utoipa::path(
    put,
    path = "/api/mcp/servers/{name}",
    tag = "mcp-servers",
    operation_id = "replace_mcp_server",
    params(("name" = String, Path, description = "The server's name")),
    request_body = schemas::McpServerConfigBody,
    responses(
        (status = 200, description = "Replaced", body = schemas::McpServerOne),
        (status = 400, description = "A field is invalid (`invalid_config`, naming it)", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such server (`not_found`)", body = schemas::ApiError),
        (status = 409, description = "It comes from the configuration file (`managed_by_config`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn replace(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let previous = match state.mcp.entry(&name).await?.ok_or_else(|| unknown(&name))? {
        Ok(Entry { managed_by: ManagedBy::Config, .. }) => return Err(managed_by_config(&name)),
        Ok(entry) => Some(entry.config),
        // Its secrets do not open: every one must be given again.
        Err(_) => None,
    };
    let config = parse_config(body, Some(&name))?;
    let config = match &previous {
        Some(previous) => config.keeping_secrets_of(previous),
        None => config,
    };
    refuse_unkept_secrets(&config)?;
    let stored = state.mcp.seal(&config)?;
    if !state.store.replace_mcp_server(&stored).await? {
        return Err(unknown(&name));
    }
    tracing::info!(server = %name, "changed an MCP server");
    apply(&state).await;
    let entry = Entry { config, managed_by: ManagedBy::Api };
    Ok(Json(json!({"server": state.mcp.view(&name, Ok(&entry))})))
}

/// Removes an MCP server
///
/// Stops it (its process is gone when this answers) and forgets it, on every server sharing
/// the database.
#[utoipa::path(
    delete,
    path = "/api/mcp/servers/{name}",
    tag = "mcp-servers",
    operation_id = "remove_mcp_server",
    params(("name" = String, Path, description = "The server's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such server (`not_found`)", body = schemas::ApiError),
        (status = 409, description = "It comes from the configuration file (`managed_by_config`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.mcp.file.iter().any(|entry| entry.name == name) {
        return Err(managed_by_config(&name));
    }
    if !state.store.remove_mcp_server(&name).await? {
        return Err(unknown(&name));
    }
    tracing::info!(server = %name, "removed an MCP server");
    apply(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Restarts an MCP server
///
/// Stops it (a stdio server's process and what it started) and starts it again, on this
/// server: after a fix outside Plugboard, or to list its tools again.
#[utoipa::path(
    post,
    path = "/api/mcp/servers/{name}/restart",
    tag = "mcp-servers",
    operation_id = "restart_mcp_server",
    params(("name" = String, Path, description = "The server's name")),
    responses(
        (status = 200, description = "Restarting", body = schemas::McpServerOne),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
        (status = 404, description = "No such server (`not_found`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn restart(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = state.mcp.entry(&name).await?.ok_or_else(|| unknown(&name))?;
    state.mcp.restart(&name).await?;
    tracing::info!(server = %name, "restarted an MCP server");
    Ok(Json(json!({"server": state.mcp.view(&name, entry.as_ref().map_err(String::as_str))})))
}

/// The MCP servers' tools, for a conversation's tool switches
///
/// For every signed-in person: each enabled server's name, the `source` a conversation's
/// `disabled_tools` names to switch its tools off, whether it is ready, and its tools (no
/// configuration).
#[utoipa::path(
    get,
    path = "/api/mcp/tools",
    tag = "mcp-servers",
    operation_id = "list_mcp_tools",
    responses(
        (status = 200, description = "The servers' tools", body = schemas::McpToolSources),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    )
)]
pub(crate) async fn tools(State(state): State<AppState>, AuthUser(_): AuthUser) -> Json<Value> {
    let servers: Vec<Value> = state
        .mcp
        .servers
        .statuses()
        .into_iter()
        .filter(|status| status.enabled)
        .map(|status| {
            json!({
                "name": status.name,
                "source": source_of(&status.name),
                "ready": status.state == plugboard_mcp::ServerState::Ready,
                "tools": status.tools.iter().map(|tool| json!({
                    "name": tool.name, "offered_as": tool.offered_as, "description": tool.description,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({"servers": servers}))
}

/// Applies the MCP server changes other servers sharing the database make, as it notifies
/// of them (and everything again after a lost connection); does nothing on a store of one
/// server. Ends with the registry's notices.
pub(crate) fn follow_cluster(state: &AppState) {
    if !state.store.is_shared() {
        return;
    }
    let mcp = state.mcp.clone();
    let mut notices = state.registry.notices();
    tokio::spawn(async move {
        loop {
            match notices.recv().await {
                Ok(Notice::Changed(Topic::McpServers) | Notice::Resync)
                | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
            if let Err(error) = mcp.sync().await {
                tracing::warn!("cannot apply the MCP servers another server changed: {error}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_secret_in_a_body_of_the_wrong_shape_is_never_quoted() {
        let body = json!({"name": "files", "transport": "stdio", "command": "x", "env": "TOKEN=hunter2"});
        let error = parse_config(body, None).unwrap_err();
        assert!(!error.message.contains("hunter2"), "{}", error.message);
        assert!(error.message.contains("`env`"), "{}", error.message);
        let body = json!({"name": "files", "transport": "http", "url": "http://x", "headers": {"A": 5}});
        let error = parse_config(body, None).unwrap_err();
        assert!(error.message.contains("`headers`"), "{}", error.message);
    }

    #[test]
    fn the_path_names_the_server_of_a_replacement() {
        let body = json!({"transport": "stdio", "command": "x"});
        assert_eq!(parse_config(body, Some("files")).unwrap().name, "files");
        let body = json!({"name": "other", "transport": "stdio", "command": "x"});
        let error = parse_config(body, Some("files")).unwrap_err();
        assert!(error.message.contains("remove it and add it again"), "{}", error.message);
    }
}
