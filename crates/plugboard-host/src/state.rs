//! The data of one plugin instance's store, and the host services it imports. Every
//! service checks the plugin's permissions first; a refusal names the permission and the
//! manifest line to add.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard_manifest::{Permission, PluginId};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::abi::imports::{ai, chat, completion_sink, http_client, kv, log, plugins, settings, types as wit};
use crate::api;
use crate::services::{ServiceError, ServiceErrorKind};
use crate::shared::PluginShared;
use crate::stdio::{LogStream, StreamName};

const MAX_KEY_BYTES: usize = 512;
const MAX_VALUE_BYTES: usize = 1 << 20;
const MAX_LIST_KEYS: u32 = 10_000;
const MAX_LOG_LINE: usize = 8192;
/// How deep tool calls between plugins may nest (A calls B calls C ...).
const MAX_TOOL_CALL_DEPTH: u32 = 4;

tokio::task_local! {
    /// Nesting depth of plugin-to-plugin tool calls in the current task.
    pub(crate) static TOOL_CALL_DEPTH: u32;
}

/// Raised (as a trap) when an instance tries to grow memory past its ceiling.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
pub(crate) struct MemoryLimitExceeded;

/// Raised (as a trap) when a call runs past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
pub(crate) struct DeadlineExceeded;

/// Caps each linear memory of an instance at the plugin's ceiling, and remembers the
/// largest any has grown to.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    largest: usize,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> MemoryLimiter {
        MemoryLimiter { limit, largest: 0 }
    }

    /// Whether a memory of the instance has grown past three quarters of the ceiling. A
    /// linear memory never shrinks, so such an instance is retired after its call rather
    /// than kept warm: an interpreter that keeps a little memory per call (componentize-js
    /// 0.23's bindings do) would otherwise reach the ceiling and fail a call.
    pub(crate) fn nearly_full(&self) -> bool {
        self.largest > self.limit / 4 * 3
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(MemoryLimitExceeded.into());
        }
        self.largest = self.largest.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A sender for the chunks a provider plugin streams during `provider.complete`.
pub(crate) type ChunkSender = tokio::sync::mpsc::Sender<api::CompletionChunk>;

/// The store data of one instance.
pub(crate) struct HostState {
    pub(crate) plugin: Arc<PluginShared>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// When the current call must end.
    pub(crate) deadline: Instant,
    /// The context of the current call, passed on to tools this plugin calls.
    pub(crate) context: api::CallContext,
    /// The settings this instance was last initialised with (JSON).
    pub(crate) settings_json: Arc<str>,
    pub(crate) stderr: LogStream,
    /// Where `completion-sink.emit` sends chunks, during `provider.complete` only.
    pub(crate) sink: Option<ChunkSender>,
    /// Bytes streamed through the sink in the current call.
    pub(crate) streamed_bytes: usize,
}

impl HostState {
    pub(crate) fn new(plugin: Arc<PluginShared>, memory_limit: u64, settings_json: Arc<str>) -> HostState {
        let stdout = LogStream::new(plugin.id.clone(), StreamName::Stdout);
        let stderr = LogStream::new(plugin.id.clone(), StreamName::Stderr);
        // Deny by default: no preopened directories, no environment, no arguments, no
        // sockets, no name lookups. Output goes to the log.
        let wasi = WasiCtx::builder()
            .stdout(stdout)
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            plugin,
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(usize::try_from(memory_limit).unwrap_or(usize::MAX)),
            deadline: Instant::now(),
            context: api::CallContext::default(),
            settings_json,
            stderr,
            sink: None,
            streamed_bytes: 0,
        }
    }

    fn id(&self) -> &PluginId {
        &self.plugin.id
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn require(&self, permission: Permission) -> Result<(), wit::HostError> {
        if self.plugin.manifest.grants(permission) { Ok(()) } else { Err(permission_denied(self.id(), permission)) }
    }
}

/// The refusal for a call the manifest does not grant.
pub(crate) fn permission_denied(plugin: &PluginId, permission: Permission) -> wit::HostError {
    wit::HostError {
        kind: wit::ErrorKind::PermissionDenied,
        message: format!(
            "plugin `{plugin}` needs permission `{permission}` for this; add \"{permission}\" to `permissions` in plugin.toml"
        ),
    }
}

fn invalid(message: impl Into<String>) -> wit::HostError {
    ServiceError::new(ServiceErrorKind::InvalidInput, message).into()
}

fn check_key(key: &str) -> Result<(), wit::HostError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(invalid(format!("kv keys are 1 to {MAX_KEY_BYTES} bytes; this one is {}", key.len())));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), wit::HostError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(ServiceError::new(
            ServiceErrorKind::LimitExceeded,
            format!("kv values are at most {MAX_VALUE_BYTES} bytes; this one is {}", value.len()),
        )
        .into());
    }
    Ok(())
}

fn ttl(ttl_ms: Option<u64>) -> Option<Duration> {
    ttl_ms.map(Duration::from_millis)
}

/// Runs a service call under the remaining deadline of the plugin call.
async fn within<T>(
    remaining: Duration,
    future: impl std::future::Future<Output = Result<T, ServiceError>>,
) -> Result<T, wit::HostError> {
    match tokio::time::timeout(remaining, future).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => {
            Err(ServiceError::new(ServiceErrorKind::Timeout, "the call's deadline passed while waiting for the host")
                .into())
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wit::Host for HostState {}

impl log::Host for HostState {
    async fn write(&mut self, level: log::Level, mut message: String) {
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [cut]");
        }
        let plugin = self.id();
        // One plugin message is one log line, whatever it holds.
        let message = crate::stdio::escape_control(&message);
        match level {
            log::Level::Trace => tracing::trace!(target: "plugboard::plugin", %plugin, "{message}"),
            log::Level::Debug => tracing::debug!(target: "plugboard::plugin", %plugin, "{message}"),
            log::Level::Info => tracing::info!(target: "plugboard::plugin", %plugin, "{message}"),
            log::Level::Warn => tracing::warn!(target: "plugboard::plugin", %plugin, "{message}"),
            log::Level::Error => tracing::error!(target: "plugboard::plugin", %plugin, "{message}"),
        }
    }
}

impl settings::Host for HostState {
    async fn get(&mut self) -> String {
        self.settings_json.to_string()
    }
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, wit::HostError> {
        self.require(Permission::Kv)?;
        check_key(&key)?;
        within(self.remaining(), self.plugin.services.kv.get(self.id(), &key)).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), wit::HostError> {
        self.require(Permission::Kv)?;
        check_key(&key)?;
        check_value(&value)?;
        within(self.remaining(), self.plugin.services.kv.set(self.id(), &key, value, ttl(ttl_ms))).await
    }

    async fn delete(&mut self, key: String) -> Result<bool, wit::HostError> {
        self.require(Permission::Kv)?;
        check_key(&key)?;
        within(self.remaining(), self.plugin.services.kv.delete(self.id(), &key)).await
    }

    async fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, wit::HostError> {
        self.require(Permission::Kv)?;
        let limit = limit.min(MAX_LIST_KEYS) as usize;
        within(self.remaining(), self.plugin.services.kv.list_keys(self.id(), &prefix, limit)).await
    }

    async fn compare_and_set(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, wit::HostError> {
        self.require(Permission::Kv)?;
        check_key(&key)?;
        if let Some(value) = &new {
            check_value(value)?;
        }
        within(self.remaining(), self.plugin.services.kv.compare_and_set(self.id(), &key, expected, new, ttl(ttl_ms)))
            .await
    }
}

impl HostState {
    /// The user the current call acts for, if any: chat data is limited to theirs.
    fn acting_user(&self) -> Option<&str> {
        Some(self.context.user_id.as_str()).filter(|user| !user.is_empty())
    }
}

impl chat::Host for HostState {
    async fn get_conversation(&mut self, id: String) -> Result<wit::Conversation, wit::HostError> {
        self.require(Permission::ChannelsRead)?;
        let user = self.acting_user();
        within(self.remaining(), self.plugin.services.chat.get_conversation(user, &id)).await.map(Into::into)
    }

    async fn create_conversation(
        &mut self,
        user_id: String,
        title: String,
    ) -> Result<wit::Conversation, wit::HostError> {
        self.require(Permission::ChannelsWrite)?;
        let chat = &self.plugin.services.chat;
        let user = self.acting_user();
        within(self.remaining(), chat.create_conversation(self.id(), user, &user_id, &title)).await.map(Into::into)
    }

    async fn list_messages(
        &mut self,
        conversation_id: String,
        limit: u32,
    ) -> Result<Vec<wit::Message>, wit::HostError> {
        self.require(Permission::MessagesRead)?;
        let chat = &self.plugin.services.chat;
        let messages = within(
            self.remaining(),
            chat.list_messages(self.acting_user(), &conversation_id, limit.min(10_000) as usize),
        )
        .await?;
        Ok(messages.into_iter().map(Into::into).collect())
    }

    async fn post_message(&mut self, conversation_id: String, content: String) -> Result<wit::Message, wit::HostError> {
        self.require(Permission::MessagesWrite)?;
        let chat = &self.plugin.services.chat;
        let user = self.acting_user();
        within(self.remaining(), chat.post_message(self.id(), user, &conversation_id, &content)).await.map(Into::into)
    }

    async fn edit_message(&mut self, message_id: String, content: String) -> Result<wit::Message, wit::HostError> {
        self.require(Permission::MessagesWrite)?;
        let chat = &self.plugin.services.chat;
        let user = self.acting_user();
        within(self.remaining(), chat.edit_message(self.id(), user, &message_id, &content)).await.map(Into::into)
    }

    async fn delete_message(&mut self, message_id: String) -> Result<(), wit::HostError> {
        self.require(Permission::MessagesWrite)?;
        let user = self.acting_user();
        within(self.remaining(), self.plugin.services.chat.delete_message(self.id(), user, &message_id)).await
    }

    async fn get_user(&mut self, id: String) -> Result<chat::User, wit::HostError> {
        self.require(Permission::UsersRead)?;
        within(self.remaining(), self.plugin.services.chat.get_user(&id)).await.map(Into::into)
    }

    async fn read_file(&mut self, id: String) -> Result<chat::File, wit::HostError> {
        self.require(Permission::FilesRead)?;
        let user = self.acting_user();
        within(self.remaining(), self.plugin.services.chat.read_file(user, &id)).await.map(Into::into)
    }

    async fn write_file(
        &mut self,
        conversation_id: String,
        name: String,
        media_type: String,
        data: Vec<u8>,
    ) -> Result<String, wit::HostError> {
        self.require(Permission::FilesWrite)?;
        let chat = &self.plugin.services.chat;
        let user = self.acting_user();
        within(self.remaining(), chat.write_file(self.id(), user, &conversation_id, &name, &media_type, data)).await
    }
}

impl http_client::Host for HostState {
    async fn fetch(&mut self, request: wit::HttpRequest) -> Result<wit::HttpResponse, wit::HostError> {
        self.require(Permission::Network)?;
        let plugin = &self.plugin;
        let response =
            plugin.http.fetch(&plugin.id, &plugin.manifest.network, request.into(), self.remaining()).await?;
        Ok(response.into())
    }
}

impl ai::Host for HostState {
    async fn complete(&mut self, request: wit::CompletionRequest) -> Result<wit::Completion, wit::HostError> {
        self.require(Permission::Ai)?;
        let request = crate::abi::completion_request(request).map_err(invalid)?;
        within(self.remaining(), self.plugin.services.ai.complete(self.id(), request)).await.map(Into::into)
    }
}

impl plugins::Host for HostState {
    async fn call_tool(
        &mut self,
        plugin_id: String,
        tool: String,
        arguments: String,
    ) -> Result<String, wit::HostError> {
        let target_id = PluginId::parse(&plugin_id).map_err(|error| invalid(error.to_string()))?;
        let Some(requirement) = self.plugin.manifest.dependencies.get(&target_id) else {
            return Err(ServiceError::new(
                ServiceErrorKind::PermissionDenied,
                format!(
                    "plugin `{}` may only call plugins it depends on; add `{target_id} = \"<version range>\"` to `[dependencies]` in plugin.toml",
                    self.id()
                ),
            )
            .into());
        };
        let depth = TOOL_CALL_DEPTH.try_with(|depth| *depth).unwrap_or(0);
        if depth >= MAX_TOOL_CALL_DEPTH {
            return Err(ServiceError::new(
                ServiceErrorKind::LimitExceeded,
                format!("tool calls between plugins nest at most {MAX_TOOL_CALL_DEPTH} deep"),
            )
            .into());
        }
        let runtime = self.plugin.runtime.upgrade().ok_or_else(|| ServiceError::unavailable("the plugin runtime"))?;
        let target = runtime.dependency(&target_id).ok_or_else(|| {
            ServiceError::new(ServiceErrorKind::NotFound, format!("dependency `{target_id}` is not loaded"))
        })?;
        if !requirement.matches(target.version()) {
            return Err(ServiceError::new(
                ServiceErrorKind::Unavailable,
                format!(
                    "dependency `{target_id}` is at version {}, which does not satisfy `{requirement}`",
                    target.version()
                ),
            )
            .into());
        }
        let arguments: serde_json::Value = serde_json::from_str(&arguments)
            .map_err(|error| invalid(format!("tool arguments are not JSON: {error}")))?;
        let context = self.context.clone();
        let remaining = self.remaining();
        let call = TOOL_CALL_DEPTH.scope(depth + 1, async move { target.call_tool(&context, &tool, arguments).await });
        match tokio::time::timeout(remaining, call).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => {
                let kind = match error.kind {
                    crate::CallErrorKind::NotImplemented => ServiceErrorKind::NotFound,
                    crate::CallErrorKind::Plugin { .. } => ServiceErrorKind::InvalidInput,
                    crate::CallErrorKind::Disabled | crate::CallErrorKind::BreakerOpen { .. } => {
                        ServiceErrorKind::Unavailable
                    }
                    crate::CallErrorKind::RateLimited { .. } | crate::CallErrorKind::Busy => {
                        ServiceErrorKind::LimitExceeded
                    }
                    crate::CallErrorKind::Deadline { .. } => ServiceErrorKind::Timeout,
                    _ => ServiceErrorKind::Internal,
                };
                Err(ServiceError::new(kind, error.to_string()).into())
            }
            Err(_) => {
                Err(ServiceError::new(ServiceErrorKind::Timeout, "the call's deadline passed while the dependency ran")
                    .into())
            }
        }
    }
}

impl completion_sink::Host for HostState {
    async fn emit(&mut self, chunk: wit::CompletionChunk) -> bool {
        let Some(sink) = &self.sink else { return false };
        let size = match &chunk {
            wit::CompletionChunk::Delta(text) => text.len(),
            wit::CompletionChunk::ToolCall(call) => call.arguments.len() + call.name.len(),
        };
        self.streamed_bytes += size;
        if self.streamed_bytes > self.plugin.max_output_bytes {
            return false;
        }
        sink.send(chunk.into()).await.is_ok()
    }
}
