//! The shapes of the JSON bodies the handlers build with `json!`, as OpenAPI schemas. They
//! are documentation only (never built): the store's and the chat core's types stay free of
//! `utoipa`, and the tests check real answers against these schemas.

#![allow(dead_code, reason = "types that only describe JSON for the OpenAPI document")]

use serde_json::Value;
use utoipa::ToSchema;

/// Every error of the API (except the OpenAI-compatible `/v1` ones): a stable,
/// machine-readable `code` and a message for people.
#[derive(ToSchema)]
pub(crate) struct ApiError {
    pub(crate) error: ApiErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
pub(crate) struct ApiErrorDetail {
    /// Stable code, e.g. `not_found`, `unauthenticated`, `invalid_json`, `rate_limited`.
    pub(crate) code: String,
    /// For people: what went wrong and what to do.
    pub(crate) message: String,
    /// For invalid plugin settings: every violation.
    pub(crate) violations: Option<Vec<Violation>>,
}

/// One violation of a plugin's settings schema.
#[derive(ToSchema)]
pub(crate) struct Violation {
    /// JSON pointer to the offending value.
    pub(crate) path: String,
    /// What is wrong there.
    pub(crate) message: String,
}

/// One event of a `text/event-stream` answer, as its fields (the document describes each
/// event, as OpenAPI 3.2's `itemSchema` does; before 3.2 `schema` takes that role).
#[derive(ToSchema)]
pub(crate) struct ServerSentEvent {
    /// Its kind, e.g. `delta`; absent in `/v1` streams, whose events are all chunks.
    pub(crate) event: Option<String>,
    /// Its payload: a JSON object (`[DONE]` ends a `/v1` stream).
    pub(crate) data: String,
}

/// Why a chat turn or a plugin call stopped (`plugboard_chat::ChatError`).
#[derive(ToSchema)]
pub(crate) struct ChatErrorDetail {
    /// Stable code: one of a turn's own, a model's or a plugin call's.
    #[schema(schema_with = chat_error_code)]
    pub(crate) code: String,
    /// For people: what went wrong and what to do.
    pub(crate) message: String,
}

/// A string that is one of `codes`.
fn one_of(codes: Vec<&'static str>) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(codes))
        .build()
}

/// The codes of `ChatError`, from the type itself.
fn chat_error_code() -> utoipa::openapi::Object {
    one_of(plugboard_chat::ChatError::codes())
}

/// The codes `/v1` answers with: a turn's, or a request it could not read.
fn openai_error_code() -> utoipa::openapi::Object {
    let mut codes = plugboard_chat::ChatError::codes();
    codes.extend(["invalid_json", "invalid_request"]);
    one_of(codes)
}

/// An error of the OpenAI-compatible API, in OpenAI's shape.
#[derive(ToSchema)]
pub(crate) struct OpenAiError {
    pub(crate) error: OpenAiErrorDetail,
}

/// What went wrong, OpenAI style.
#[derive(ToSchema)]
pub(crate) struct OpenAiErrorDetail {
    /// For people.
    pub(crate) message: String,
    /// `invalid_request_error` or `server_error`.
    #[schema(rename = "type")]
    pub(crate) kind: String,
    /// Stable code.
    #[schema(schema_with = openai_error_code)]
    pub(crate) code: String,
}

/// A user.
#[derive(ToSchema)]
pub(crate) struct User {
    pub(crate) id: String,
    /// Unique regardless of case.
    pub(crate) username: String,
    /// The first user administers the server.
    pub(crate) is_admin: bool,
    /// Milliseconds since the Unix epoch.
    pub(crate) created_at_ms: i64,
    /// When an administrator disabled the user (ms since the Unix epoch); `null` = active.
    pub(crate) disabled_at_ms: Option<i64>,
}

/// `{"sessions": [...]}`, newest first.
#[derive(ToSchema)]
pub(crate) struct SessionList {
    pub(crate) sessions: Vec<Session>,
}

/// A signed-in session (`plugboard_store::SessionInfo`).
#[derive(ToSchema)]
pub(crate) struct Session {
    /// Its id, to end it by.
    pub(crate) id: i64,
    /// When it was signed in (ms since the Unix epoch).
    pub(crate) created_at_ms: i64,
    /// When it ends unless ended before.
    pub(crate) expires_at_ms: i64,
    /// Whether it is the session that asked.
    pub(crate) current: bool,
}

/// `{"users": [...]}`, oldest first.
#[derive(ToSchema)]
pub(crate) struct UserList {
    pub(crate) users: Vec<User>,
}

/// `{"user": ...}`.
#[derive(ToSchema)]
pub(crate) struct UserResponse {
    pub(crate) user: User,
}

/// `{"user": ...}`, `null` when signed out.
#[derive(ToSchema)]
pub(crate) struct SessionResponse {
    pub(crate) user: Option<User>,
}

/// An API token (the token itself is shown once, when created).
#[derive(ToSchema)]
pub(crate) struct ApiToken {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) name: String,
    pub(crate) created_at_ms: i64,
    /// `null`: never used.
    pub(crate) last_used_at_ms: Option<i64>,
}

/// The caller's API tokens.
#[derive(ToSchema)]
pub(crate) struct TokenList {
    pub(crate) tokens: Vec<ApiToken>,
}

/// A new API token.
#[derive(ToSchema)]
pub(crate) struct NewTokenResponse {
    /// The token, `pb_...`: send it as `Authorization: Bearer <token>`. Shown only now.
    pub(crate) token: String,
    pub(crate) api_token: ApiToken,
}

/// A conversation.
#[derive(ToSchema)]
pub(crate) struct Conversation {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) title: String,
    /// The conversation's plugin choice; `null`: the global set.
    pub(crate) plugins: Option<PluginChoice>,
    pub(crate) created_at_ms: i64,
    /// The last activity.
    pub(crate) updated_at_ms: i64,
}

/// Which plugins do not work in a conversation.
#[derive(ToSchema)]
pub(crate) struct PluginChoice {
    /// Plugins whose filters do not run.
    pub(crate) disabled_filters: Vec<String>,
    /// Plugins whose tools are not offered.
    pub(crate) disabled_tools: Vec<String>,
    /// Tools (by the name the model sees, or `plugin:<id>` / `mcp:<server>`) that wait for
    /// approval (`ask`) or never run (`deny`) here: a conversation only narrows the
    /// administrators' policies.
    pub(crate) tool_policies: Option<std::collections::BTreeMap<String, String>>,
}

/// `{"conversation": ...}`.
#[derive(ToSchema)]
pub(crate) struct ConversationResponse {
    pub(crate) conversation: Conversation,
}

/// A conversation and the plugins working in it.
#[derive(ToSchema)]
pub(crate) struct ConversationDetails {
    pub(crate) conversation: Conversation,
    pub(crate) plugins: PluginChoice,
}

/// A page of conversations, newest activity first.
#[derive(ToSchema)]
pub(crate) struct ConversationPage {
    pub(crate) conversations: Vec<Conversation>,
    /// Pass back as `after` for the next page; `null`: the last page.
    pub(crate) next: Option<String>,
}

/// Who speaks in a message.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// How far a message got.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum MessageStatus {
    Complete,
    Streaming,
    /// Generation stopped before the end.
    Partial,
}

/// A message of a conversation.
#[derive(ToSchema)]
pub(crate) struct Message {
    pub(crate) id: String,
    pub(crate) conversation_id: String,
    pub(crate) role: Role,
    /// `user`, `assistant`, or the id of a plugin that answered.
    pub(crate) author: String,
    pub(crate) content: String,
    /// Tool calls and results: their structured data.
    pub(crate) data: Option<Value>,
    pub(crate) status: MessageStatus,
    pub(crate) created_at_ms: i64,
    pub(crate) edited_at_ms: Option<i64>,
    pub(crate) deleted_at_ms: Option<i64>,
}

/// `{"message": ...}`.
#[derive(ToSchema)]
pub(crate) struct MessageResponse {
    pub(crate) message: Message,
}

/// A conversation's messages, in order.
#[derive(ToSchema)]
pub(crate) struct MessageList {
    pub(crate) messages: Vec<Message>,
}

/// A file attached to a conversation.
#[derive(ToSchema)]
pub(crate) struct Attachment {
    pub(crate) id: String,
    pub(crate) conversation_id: String,
    pub(crate) message_id: Option<String>,
    pub(crate) file_name: String,
    pub(crate) media_type: String,
    /// Bytes.
    pub(crate) size: u64,
    pub(crate) created_at_ms: i64,
}

/// `{"attachment": ...}`.
#[derive(ToSchema)]
pub(crate) struct AttachmentResponse {
    pub(crate) attachment: Attachment,
}

/// A conversation's files.
#[derive(ToSchema)]
pub(crate) struct AttachmentList {
    pub(crate) attachments: Vec<Attachment>,
}

/// The plugin trace of one chat turn: which plugins ran and what they changed.
#[derive(ToSchema)]
pub(crate) struct TraceRecord {
    pub(crate) message_id: String,
    pub(crate) conversation_id: String,
    pub(crate) created_at_ms: i64,
    /// The steps, as the chat engine recorded them.
    pub(crate) trace: Value,
}

/// `{"trace": ...}`.
#[derive(ToSchema)]
pub(crate) struct TraceResponse {
    pub(crate) trace: TraceRecord,
}

/// Every turn's trace of a conversation, oldest first.
#[derive(ToSchema)]
pub(crate) struct Audit {
    pub(crate) conversation_id: String,
    pub(crate) timeline: Vec<TraceRecord>,
}

/// An export format an exporter plugin offers.
#[derive(ToSchema)]
pub(crate) struct ExportFormat {
    pub(crate) plugin: String,
    /// `{"id", "name", "media_type", ...}` as the plugin describes it.
    pub(crate) format: Value,
}

/// The export formats of the enabled exporter plugins.
#[derive(ToSchema)]
pub(crate) struct ExportFormats {
    pub(crate) formats: Vec<ExportFormat>,
}

/// A finished chat turn.
#[derive(ToSchema)]
pub(crate) struct ChatReply {
    pub(crate) conversation_id: String,
    /// The user's message as stored (after the plugins' filters).
    pub(crate) user_message: Message,
    pub(crate) reply: Message,
    /// `provider/model`.
    pub(crate) model: String,
    /// Token counts, when the model reported them.
    pub(crate) usage: Option<Value>,
    /// The tool calls and results of the turn, in order.
    pub(crate) tools: Vec<Value>,
    /// Whether an after-response filter replaced the streamed text.
    pub(crate) replaced_by_plugin: bool,
}

/// A chat turn that failed: the error, and what was stored before it.
#[derive(ToSchema)]
pub(crate) struct ChatFailure {
    pub(crate) error: ChatErrorDetail,
    pub(crate) conversation_id: String,
    /// `null` when the message was refused before it was stored.
    pub(crate) user_message: Option<Message>,
}

/// The models on offer and the default.
#[derive(ToSchema)]
pub(crate) struct ModelOverview {
    /// The model used when a request names none, `provider/model`: the configured default,
    /// else the first model a configured model server lists; a provider plugin's model only
    /// when the operator made it the default.
    pub(crate) default: Option<String>,
    /// Why `default` is `null`, and what to do.
    pub(crate) no_default_reason: Option<String>,
    /// `{"id", "provider", ...}` for each model.
    pub(crate) models: Vec<Value>,
    /// Providers that could not list their models, and why.
    pub(crate) problems: Vec<Value>,
}

/// The models, OpenAI style.
#[derive(ToSchema)]
pub(crate) struct OpenAiModelList {
    /// `list`.
    pub(crate) object: String,
    /// `{"id", "object": "model", "created", "owned_by"}` for each model.
    pub(crate) data: Vec<Value>,
}

/// Every installed plugin.
#[derive(ToSchema)]
pub(crate) struct PluginList {
    /// Loaded plugins with their tools, hooks and status; the others with their state and
    /// error.
    pub(crate) plugins: Vec<Value>,
    /// Plugin folders that could not be read, and why.
    pub(crate) broken_folders: Vec<Value>,
}

/// The health each loaded plugin reports, by plugin id.
#[derive(ToSchema)]
pub(crate) struct PluginHealth {
    pub(crate) plugins: Value,
}

/// What a plugin tool returned.
#[derive(ToSchema)]
pub(crate) struct ExecuteResult {
    pub(crate) plugin: String,
    /// `success`.
    pub(crate) status: String,
    pub(crate) result: Value,
}

/// `{"plugin": ...}`: the registry's view of one plugin (state, origin, dependencies,
/// error).
#[derive(ToSchema)]
pub(crate) struct PluginEntry {
    pub(crate) plugin: Value,
}

/// A plugin loaded: the registry's view of it and its settings in force.
#[derive(ToSchema)]
pub(crate) struct LoadedPlugin {
    /// As in `{"plugin": ...}` elsewhere.
    pub(crate) plugin: Value,
    /// Its settings with defaults filled in; every secret is `null`, never its value.
    pub(crate) settings: Value,
}

/// A package installed.
#[derive(ToSchema)]
pub(crate) struct Installed {
    /// What was installed: plugin, version, signer, folder.
    pub(crate) installed: Value,
    /// The registry's view of the plugin now.
    pub(crate) plugin: Value,
}

/// The trusted keys.
#[derive(ToSchema)]
pub(crate) struct TrustedKeys {
    /// The trusted keys folder, or `null` when the server has none.
    pub(crate) folder: Option<String>,
    /// The install policy: `require`, `warn` or `off`.
    pub(crate) policy: String,
    /// Every trusted key.
    pub(crate) keys: Vec<TrustedKeyInfo>,
}

/// A key trusted.
#[derive(ToSchema)]
pub(crate) struct TrustedKey {
    pub(crate) key: TrustedKeyInfo,
}

/// One trusted public key.
#[derive(ToSchema)]
pub(crate) struct TrustedKeyInfo {
    /// The first 16 hex digits of the key's SHA-256.
    pub(crate) fingerprint: String,
    /// The name written beside the key.
    pub(crate) name: Option<String>,
    /// The public key file's line.
    pub(crate) key: String,
}

/// A package uninstalled.
#[derive(ToSchema)]
pub(crate) struct Uninstalled {
    pub(crate) uninstalled: String,
    /// The plugin with this id now (a bundled one may have come back), or `null`.
    pub(crate) plugin: Option<Value>,
}

/// The plugins known here and offered by the index.
#[derive(ToSchema)]
pub(crate) struct AvailablePlugins {
    /// The plugin index (`location`, `name`, `error`), `null` when none is configured.
    pub(crate) index: Option<Value>,
    /// The install policy for signatures.
    pub(crate) policy: Value,
    /// By id: `installed` (version, state, origin, package) and `available` (what the
    /// index offers), `update_available`.
    pub(crate) plugins: Vec<Value>,
    /// Plugin folders that could not be read, and why.
    pub(crate) broken_folders: Vec<Value>,
}

/// The plugins unloaded, dependents first.
#[derive(ToSchema)]
pub(crate) struct Unloaded {
    pub(crate) unloaded: Vec<String>,
}

/// A plugin's settings (defaults filled in, secrets `null`) and their JSON Schema.
#[derive(ToSchema)]
pub(crate) struct PluginConfig {
    pub(crate) settings: Value,
    /// `null` when the plugin is not loaded.
    pub(crate) schema: Option<Value>,
}

/// The settings in force after a change (secrets `null`).
#[derive(ToSchema)]
pub(crate) struct PluginSettings {
    pub(crate) settings: Value,
}

/// A plugin's newest faults, kept across restarts.
#[derive(ToSchema)]
pub(crate) struct FaultList {
    pub(crate) faults: Vec<Value>,
}

/// The result of a plugin's self-test hook.
#[derive(ToSchema)]
pub(crate) struct SelfTestReport {
    pub(crate) plugin: String,
    /// Whether every check passed.
    pub(crate) passed: bool,
    pub(crate) results: Vec<Value>,
}

/// The Markdown files of a plugin's `docs/` folder.
#[derive(ToSchema)]
pub(crate) struct DocList {
    /// Each Markdown file by its path in `docs/`, e.g. `setup.md`: fetch it at
    /// `/api/plugins/{id}/docs/<path>`.
    pub(crate) docs: Vec<String>,
}

/// A plugin's scheduled tasks.
#[derive(ToSchema)]
pub(crate) struct TaskList {
    pub(crate) plugin: String,
    pub(crate) tasks: Vec<TaskInfo>,
}

/// A scheduled task and where it stands (`plugboard_registry::TaskInfo`).
#[derive(ToSchema)]
pub(crate) struct TaskInfo {
    /// The task's name.
    pub(crate) name: String,
    /// A cron expression (with `timezone`), or absent for an interval.
    pub(crate) cron: Option<String>,
    /// The time zone the cron expression is read in (`UTC` unless the entry names one).
    pub(crate) timezone: Option<String>,
    /// An interval such as `15m`, or absent for a cron expression.
    pub(crate) every: Option<String>,
    /// Whether a due time missed while the task could not run is made up for.
    pub(crate) catch_up: bool,
    /// The deadline its entry declares, in milliseconds.
    pub(crate) deadline_ms: Option<u64>,
    /// The schedule in words, such as `every 15m` or `cron 0 3 * * * (UTC)`.
    pub(crate) description: String,
    /// The deadline a run gets (declared and capped, or the plugin's), when loaded.
    pub(crate) timeout_ms: Option<u64>,
    /// When it is next due (ms since the Unix epoch); null while it cannot run.
    pub(crate) next_run_ms: Option<i64>,
    /// Whether a run is under way.
    pub(crate) running: bool,
    /// Its newest run.
    pub(crate) last_run: Option<TaskRun>,
}

/// One run of a scheduled task (`plugboard_store::TaskRun`).
#[derive(ToSchema)]
pub(crate) struct TaskRun {
    pub(crate) plugin: String,
    pub(crate) task: String,
    /// Why it ran: `schedule`, `catch-up` or `manual`.
    pub(crate) trigger: String,
    /// The due time it ran for (ms since the Unix epoch).
    pub(crate) scheduled_at_ms: i64,
    /// When it started.
    pub(crate) started_at_ms: i64,
    pub(crate) duration_ms: i64,
    /// `ok`, `error`, `deadline` or `skipped`.
    pub(crate) outcome: String,
    pub(crate) error: Option<String>,
}

/// The runs of a task, newest first.
#[derive(ToSchema)]
pub(crate) struct TaskRunList {
    pub(crate) plugin: String,
    pub(crate) task: String,
    pub(crate) runs: Vec<TaskRun>,
}

/// A finished run.
#[derive(ToSchema)]
pub(crate) struct TaskRunResult {
    pub(crate) run: TaskRun,
}

/// Every MCP server.
#[derive(ToSchema)]
pub(crate) struct McpServerList {
    /// By name.
    pub(crate) servers: Vec<McpServerView>,
}

/// One MCP server.
#[derive(ToSchema)]
pub(crate) struct McpServerOne {
    pub(crate) server: McpServerView,
}

/// An MCP server as administrators see it. Secret values are never shown: each is
/// `"(secret)"`.
#[derive(ToSchema)]
pub(crate) struct McpServerView {
    /// Its unique name.
    pub(crate) name: String,
    /// `config` (the configuration file's `[[mcp_servers]]`: fixed) or `api` (added
    /// through the API, kept in the database).
    #[schema(schema_with = mcp_managed_by)]
    pub(crate) managed_by: String,
    /// Its configuration, as `POST /api/mcp/servers` takes it, secrets as `"(secret)"`;
    /// `null` when the stored one cannot be read (then `last_error` says why).
    pub(crate) config: Option<McpServerConfigBody>,
    /// `stdio` or `http`.
    pub(crate) transport: Option<String>,
    /// Whether its tools are offered.
    pub(crate) enabled: Option<bool>,
    /// `disabled`, `starting`, `ready` or `failed`.
    #[schema(schema_with = mcp_state)]
    pub(crate) state: String,
    /// Its tools as last listed.
    pub(crate) tools: Vec<McpToolView>,
    /// Why it last failed (with the last lines a stdio server wrote to its standard error).
    pub(crate) last_error: Option<String>,
    /// How often it was restarted after a failure.
    pub(crate) restarts: u32,
    /// The name and version the server gave.
    pub(crate) server_info: Option<Value>,
    /// What a conversation's `disabled_tools` holds to switch its tools off (`mcp:<name>`).
    pub(crate) source: String,
}

fn mcp_managed_by() -> utoipa::openapi::Object {
    one_of(vec!["config", "api"])
}

fn mcp_state() -> utoipa::openapi::Object {
    one_of(vec!["disabled", "starting", "ready", "failed"])
}

/// A tool of an MCP server.
#[derive(ToSchema)]
pub(crate) struct McpToolView {
    /// The server's own name for it.
    pub(crate) name: String,
    /// The name the model sees (`mcp_<server>__<tool>`).
    pub(crate) offered_as: String,
    /// What it does.
    pub(crate) description: String,
    /// The JSON Schema of its arguments.
    pub(crate) input_schema: Value,
}

/// An MCP server's configuration: a child process over stdio (`command`, `args`, `env`,
/// `cwd`) or a remote server over streamable HTTP (`url`, `headers`).
#[derive(ToSchema)]
pub(crate) struct McpServerConfigBody {
    /// 1 to 32 lowercase letters, digits and dashes, starting with a letter; its tools are
    /// offered as `mcp_<name>__<tool>`. In `PUT` it may be left out (the path's).
    #[schema(example = "files")]
    pub(crate) name: String,
    /// `stdio` or `http`.
    #[schema(schema_with = mcp_transport)]
    pub(crate) transport: String,
    /// stdio: the program, a path or a name looked up in `PATH`.
    #[schema(example = "npx")]
    pub(crate) command: Option<String>,
    /// stdio: its arguments.
    pub(crate) args: Option<Vec<String>>,
    /// stdio: its whole environment (nothing of Plugboard's own). Secret: shown back as
    /// `"(secret)"`, which a `PUT` may send back to keep the value.
    pub(crate) env: Option<std::collections::BTreeMap<String, String>>,
    /// stdio: its working folder (the data folder when left out).
    pub(crate) cwd: Option<String>,
    /// http: the MCP endpoint, `http://` or `https://`.
    pub(crate) url: Option<String>,
    /// http: headers sent with every request, such as `Authorization`. Secret, as `env`.
    pub(crate) headers: Option<std::collections::BTreeMap<String, String>>,
    /// Whether its tools are offered (default `true`).
    pub(crate) enabled: Option<bool>,
    /// A tool call's deadline in seconds, 1 to 3600 (default 30).
    pub(crate) timeout_secs: Option<u64>,
    /// The most text a tool result gives the model, 256 bytes to 16 MiB (default 65536).
    pub(crate) max_result_bytes: Option<u64>,
}

fn mcp_transport() -> utoipa::openapi::Object {
    one_of(vec!["stdio", "http"])
}

/// The MCP servers' tools, for a conversation's tool switches.
#[derive(ToSchema)]
pub(crate) struct McpToolSources {
    /// Every enabled MCP server.
    pub(crate) servers: Vec<McpToolSource>,
}

/// One enabled MCP server's tools.
#[derive(ToSchema)]
pub(crate) struct McpToolSource {
    /// Its name.
    pub(crate) name: String,
    /// What a conversation's `disabled_tools` holds to switch its tools off.
    pub(crate) source: String,
    /// Whether it is connected (its tools offered now).
    pub(crate) ready: bool,
    /// Its tools.
    pub(crate) tools: Vec<McpToolBrief>,
}

/// A tool, briefly.
#[derive(ToSchema)]
pub(crate) struct McpToolBrief {
    /// The server's own name for it.
    pub(crate) name: String,
    /// The name the model sees.
    pub(crate) offered_as: String,
    /// What it does.
    pub(crate) description: String,
}
