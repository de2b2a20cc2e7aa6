//! The plugin ABI versions this host runs, and conversions between their generated
//! bindings and the host's own types in `api`.
//!
//! Architecture Invariant: generated binding types never leave this module and `state`
//! (which implements the imports); the rest of the host speaks `api`. A future ABI 0.2
//! adds a sibling module, and the host keeps loading 0.1 plugins.

use plugboard_manifest::AbiVersion;

use crate::api;
use crate::services::{ServiceError, ServiceErrorKind};

/// The ABI versions this host can load.
pub(crate) const SUPPORTED_ABIS: &[AbiVersion] = &[AbiVersion { major: 0, minor: 1 }];

/// The name of the interface every plugin of ABI 0.1 must export.
pub(crate) const LIFECYCLE_EXPORT: &str = "plugboard:plugin/lifecycle@0.1.0";

#[allow(missing_docs, missing_debug_implementations, unreachable_pub, clippy::all)]
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1.0",
        world: "plugboard:plugin/plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

use exports::{account_events, events, exporter, filters, lifecycle};
use imports::types as wit;
pub(crate) use v0_1::exports::plugboard::plugin as exports;
pub(crate) use v0_1::plugboard::plugin as imports;

impl From<wit::Role> for api::Role {
    fn from(role: wit::Role) -> Self {
        match role {
            wit::Role::System => api::Role::System,
            wit::Role::User => api::Role::User,
            wit::Role::Assistant => api::Role::Assistant,
            wit::Role::Tool => api::Role::Tool,
        }
    }
}

impl From<api::Role> for wit::Role {
    fn from(role: api::Role) -> Self {
        match role {
            api::Role::System => wit::Role::System,
            api::Role::User => wit::Role::User,
            api::Role::Assistant => wit::Role::Assistant,
            api::Role::Tool => wit::Role::Tool,
        }
    }
}

impl From<api::Message> for wit::Message {
    fn from(m: api::Message) -> Self {
        wit::Message {
            id: m.id.into(),
            conversation_id: m.conversation_id.into(),
            role: m.role.into(),
            author: m.author,
            content: m.content,
            created_at_ms: m.created_at_ms,
        }
    }
}

impl From<api::Conversation> for wit::Conversation {
    fn from(c: api::Conversation) -> Self {
        wit::Conversation { id: c.id.into(), title: c.title, user_id: c.user_id.into(), created_at_ms: c.created_at_ms }
    }
}

impl From<&api::CallContext> for wit::CallContext {
    fn from(c: &api::CallContext) -> Self {
        wit::CallContext {
            conversation_id: c.conversation_id.as_str().to_owned(),
            user_id: c.user_id.as_str().to_owned(),
            model: c.model.clone(),
            request_id: c.request_id.clone(),
        }
    }
}

impl From<wit::FilterOutcome> for api::FilterOutcome {
    fn from(outcome: wit::FilterOutcome) -> Self {
        match outcome {
            wit::FilterOutcome::Keep => api::FilterOutcome::Keep,
            wit::FilterOutcome::Rewrite(text) => api::FilterOutcome::Rewrite(text),
            wit::FilterOutcome::Reject(reason) => api::FilterOutcome::Reject(reason),
        }
    }
}

impl From<api::HttpRequest> for wit::HttpRequest {
    fn from(r: api::HttpRequest) -> Self {
        wit::HttpRequest { method: r.method, uri: r.uri, headers: r.headers, body: r.body }
    }
}

impl From<wit::HttpRequest> for api::HttpRequest {
    fn from(r: wit::HttpRequest) -> Self {
        api::HttpRequest { method: r.method, uri: r.uri, headers: r.headers, body: r.body }
    }
}

impl From<api::HttpResponse> for wit::HttpResponse {
    fn from(r: api::HttpResponse) -> Self {
        wit::HttpResponse { status: r.status, headers: r.headers, body: r.body }
    }
}

impl From<wit::HttpResponse> for api::HttpResponse {
    fn from(r: wit::HttpResponse) -> Self {
        api::HttpResponse { status: r.status, headers: r.headers, body: r.body }
    }
}

impl From<wit::ToolCall> for api::ToolCall {
    fn from(c: wit::ToolCall) -> Self {
        api::ToolCall { id: c.id, name: c.name, arguments: c.arguments }
    }
}

impl From<api::ToolCall> for wit::ToolCall {
    fn from(c: api::ToolCall) -> Self {
        wit::ToolCall { id: c.id, name: c.name, arguments: c.arguments }
    }
}

impl From<api::ToolSpec> for wit::ToolSpec {
    fn from(t: api::ToolSpec) -> Self {
        wit::ToolSpec { name: t.name, description: t.description, parameters_schema: t.parameters.to_string() }
    }
}

/// A tool spec from a plugin; its schema must be a JSON object.
pub(crate) fn tool_spec(t: wit::ToolSpec) -> Result<api::ToolSpec, String> {
    let parameters: serde_json::Value = serde_json::from_str(&t.parameters_schema)
        .map_err(|error| format!("tool `{}` has a parameters schema that is not JSON: {error}", t.name))?;
    if !parameters.is_object() {
        return Err(format!("tool `{}` has a parameters schema that is not a JSON object", t.name));
    }
    Ok(api::ToolSpec { name: t.name, description: t.description, parameters })
}

impl From<wit::ModelInfo> for api::ModelInfo {
    fn from(m: wit::ModelInfo) -> Self {
        api::ModelInfo {
            id: m.id,
            display_name: m.display_name,
            context_length: m.context_length,
            supports_tools: m.supports_tools,
        }
    }
}

impl From<wit::CompletionMessage> for api::CompletionMessage {
    fn from(m: wit::CompletionMessage) -> Self {
        api::CompletionMessage {
            role: m.role.into(),
            content: m.content,
            tool_calls: m.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: m.tool_call_id,
        }
    }
}

impl From<api::CompletionMessage> for wit::CompletionMessage {
    fn from(m: api::CompletionMessage) -> Self {
        wit::CompletionMessage {
            role: m.role.into(),
            content: m.content,
            tool_calls: m.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: m.tool_call_id,
        }
    }
}

impl From<api::CompletionRequest> for wit::CompletionRequest {
    fn from(r: api::CompletionRequest) -> Self {
        wit::CompletionRequest {
            model: r.model,
            messages: r.messages.into_iter().map(Into::into).collect(),
            tools: r.tools.into_iter().map(Into::into).collect(),
            temperature: r.temperature,
            top_p: r.top_p,
            max_tokens: r.max_tokens,
        }
    }
}

/// A completion request from a plugin (for the `ai` service).
pub(crate) fn completion_request(r: wit::CompletionRequest) -> Result<api::CompletionRequest, String> {
    Ok(api::CompletionRequest {
        model: r.model,
        messages: r.messages.into_iter().map(Into::into).collect(),
        tools: r.tools.into_iter().map(tool_spec).collect::<Result<_, _>>()?,
        temperature: r.temperature,
        top_p: r.top_p,
        max_tokens: r.max_tokens,
    })
}

impl From<wit::CompletionChunk> for api::CompletionChunk {
    fn from(c: wit::CompletionChunk) -> Self {
        match c {
            wit::CompletionChunk::Delta(text) => api::CompletionChunk::Delta(text),
            wit::CompletionChunk::ToolCall(call) => api::CompletionChunk::ToolCall(call.into()),
        }
    }
}

impl From<wit::FinishReason> for api::FinishReason {
    fn from(r: wit::FinishReason) -> Self {
        match r {
            wit::FinishReason::Stop => api::FinishReason::Stop,
            wit::FinishReason::Length => api::FinishReason::Length,
            wit::FinishReason::ToolCalls => api::FinishReason::ToolCalls,
            wit::FinishReason::Cancelled => api::FinishReason::Cancelled,
        }
    }
}

impl From<api::FinishReason> for wit::FinishReason {
    fn from(r: api::FinishReason) -> Self {
        match r {
            api::FinishReason::Stop => wit::FinishReason::Stop,
            api::FinishReason::Length => wit::FinishReason::Length,
            api::FinishReason::ToolCalls => wit::FinishReason::ToolCalls,
            api::FinishReason::Cancelled => wit::FinishReason::Cancelled,
        }
    }
}

impl From<wit::Completion> for api::Completion {
    fn from(c: wit::Completion) -> Self {
        api::Completion {
            content: c.content,
            tool_calls: c.tool_calls.into_iter().map(Into::into).collect(),
            finish_reason: c.finish_reason.into(),
            usage: api::Usage { prompt_tokens: c.usage.prompt_tokens, completion_tokens: c.usage.completion_tokens },
            notices: Vec::new(),
        }
    }
}

impl From<api::Completion> for wit::Completion {
    fn from(c: api::Completion) -> Self {
        wit::Completion {
            content: c.content,
            tool_calls: c.tool_calls.into_iter().map(Into::into).collect(),
            finish_reason: c.finish_reason.into(),
            usage: wit::Usage { prompt_tokens: c.usage.prompt_tokens, completion_tokens: c.usage.completion_tokens },
        }
    }
}

impl From<ServiceError> for wit::HostError {
    fn from(error: ServiceError) -> Self {
        let kind = match error.kind {
            ServiceErrorKind::PermissionDenied => wit::ErrorKind::PermissionDenied,
            ServiceErrorKind::NotFound => wit::ErrorKind::NotFound,
            ServiceErrorKind::InvalidInput => wit::ErrorKind::InvalidInput,
            ServiceErrorKind::LimitExceeded => wit::ErrorKind::LimitExceeded,
            ServiceErrorKind::Unavailable => wit::ErrorKind::Unavailable,
            ServiceErrorKind::Timeout => wit::ErrorKind::Timeout,
            ServiceErrorKind::Internal => wit::ErrorKind::Internal,
        };
        wit::HostError { kind, message: error.message }
    }
}

impl From<api::User> for imports::chat::User {
    fn from(u: api::User) -> Self {
        imports::chat::User { id: u.id.into(), display_name: u.display_name, is_admin: u.is_admin }
    }
}

impl From<api::File> for imports::chat::File {
    fn from(f: api::File) -> Self {
        imports::chat::File {
            id: f.id,
            conversation_id: f.conversation_id.into(),
            name: f.name,
            media_type: f.media_type,
            data: f.data,
        }
    }
}

/// The host's hook for a WIT hook; `None` for hooks the host does not know (a newer SDK).
pub(crate) fn hook(hook: lifecycle::Hook) -> api::Hook {
    match hook {
        lifecycle::Hook::Shutdown => api::Hook::Shutdown,
        lifecycle::Hook::OnEnable => api::Hook::OnEnable,
        lifecycle::Hook::OnDisable => api::Hook::OnDisable,
        lifecycle::Hook::Health => api::Hook::Health,
        lifecycle::Hook::SelfTest => api::Hook::SelfTest,
        lifecycle::Hook::BeforePrompt => api::Hook::BeforePrompt,
        lifecycle::Hook::AfterResponse => api::Hook::AfterResponse,
        lifecycle::Hook::StreamChunk => api::Hook::StreamChunk,
        lifecycle::Hook::BeforeRequest => api::Hook::BeforeRequest,
        lifecycle::Hook::AfterRequest => api::Hook::AfterRequest,
        lifecycle::Hook::Events => api::Hook::Events,
        lifecycle::Hook::MessageWillBePosted => api::Hook::MessageWillBePosted,
        lifecycle::Hook::Tools => api::Hook::Tools,
        lifecycle::Hook::Provider => api::Hook::Provider,
        lifecycle::Hook::Exporter => api::Hook::Exporter,
        lifecycle::Hook::Http => api::Hook::Http,
        lifecycle::Hook::Commands => api::Hook::Commands,
        lifecycle::Hook::Scheduled => api::Hook::Scheduled,
    }
}

impl From<lifecycle::HealthReport> for api::HealthReport {
    fn from(r: lifecycle::HealthReport) -> Self {
        let status = match r.status {
            lifecycle::HealthStatus::Healthy => api::HealthStatus::Healthy,
            lifecycle::HealthStatus::Degraded => api::HealthStatus::Degraded,
            lifecycle::HealthStatus::Unhealthy => api::HealthStatus::Unhealthy,
        };
        let details = serde_json::from_str(&r.details).unwrap_or(serde_json::Value::String(r.details));
        api::HealthReport { status, message: r.message, details }
    }
}

impl From<lifecycle::SelfTestResult> for api::SelfTestResult {
    fn from(r: lifecycle::SelfTestResult) -> Self {
        api::SelfTestResult { name: r.name, passed: r.passed, message: r.message }
    }
}

impl From<filters::RequestOutcome> for api::RequestOutcome {
    fn from(o: filters::RequestOutcome) -> Self {
        match o {
            filters::RequestOutcome::Keep => api::RequestOutcome::Keep,
            filters::RequestOutcome::Rewrite(request) => api::RequestOutcome::Rewrite(request.into()),
            filters::RequestOutcome::Respond(response) => api::RequestOutcome::Respond(response.into()),
        }
    }
}

impl From<filters::ResponseOutcome> for api::ResponseOutcome {
    fn from(o: filters::ResponseOutcome) -> Self {
        match o {
            filters::ResponseOutcome::Keep => api::ResponseOutcome::Keep,
            filters::ResponseOutcome::Rewrite(response) => api::ResponseOutcome::Rewrite(response.into()),
        }
    }
}

/// An event in the ABI's form: a case of `events.event`, or of
/// `account-events.account-event` (an interface of its own, which older plugins lack).
pub(crate) enum AbiEventKind {
    /// For `events.on-event`.
    Server(events::Event),
    /// For `account-events.on-account-event`.
    Account(account_events::AccountEvent),
}

impl From<api::Account> for account_events::Account {
    fn from(a: api::Account) -> Self {
        account_events::Account { id: a.id.into(), username: a.username }
    }
}

impl From<api::Event> for AbiEventKind {
    fn from(e: api::Event) -> Self {
        use AbiEventKind::{Account, Server};
        match e {
            api::Event::ConversationStarted(c) => Server(events::Event::ConversationStarted(c.into())),
            api::Event::ConversationEnded(c) => Server(events::Event::ConversationEnded(c.into())),
            api::Event::MessageReceived(m) => Server(events::Event::MessageReceived(m.into())),
            api::Event::MessageSent(m) => Server(events::Event::MessageSent(m.into())),
            api::Event::MessageEdited(m) => Server(events::Event::MessageEdited(m.into())),
            api::Event::MessageDeleted(m) => Server(events::Event::MessageDeleted(m.into())),
            api::Event::PluginLoaded(id) => Server(events::Event::PluginLoaded(id)),
            api::Event::PluginUnloaded(id) => Server(events::Event::PluginUnloaded(id)),
            api::Event::PluginEnabled(id) => Server(events::Event::PluginEnabled(id)),
            api::Event::PluginDisabled(id) => Server(events::Event::PluginDisabled(id)),
            api::Event::FileAttached(file) => Server(events::Event::FileAttached(file.into())),
            api::Event::FileDeleted(file) => Server(events::Event::FileDeleted(file.into())),
            api::Event::PluginFailed { plugin, error } => {
                Server(events::Event::PluginFailed(events::PluginFailure { plugin, error }))
            }
            api::Event::UserCreated(a) => Account(account_events::AccountEvent::UserCreated(a.into())),
            api::Event::UserDisabled(a) => Account(account_events::AccountEvent::UserDisabled(a.into())),
            api::Event::UserEnabled(a) => Account(account_events::AccountEvent::UserEnabled(a.into())),
            api::Event::UserDeleted(a) => Account(account_events::AccountEvent::UserDeleted(a.into())),
        }
    }
}

impl From<exporter::ExportFormat> for api::ExportFormat {
    fn from(f: exporter::ExportFormat) -> Self {
        api::ExportFormat { id: f.id, display_name: f.display_name, media_type: f.media_type, extension: f.extension }
    }
}

impl From<exporter::ExportFile> for api::ExportFile {
    fn from(f: exporter::ExportFile) -> Self {
        api::ExportFile { file_name: f.file_name, media_type: f.media_type, data: f.data }
    }
}

impl From<api::FileInfo> for events::FileInfo {
    fn from(file: api::FileInfo) -> Self {
        events::FileInfo {
            id: file.id,
            conversation_id: file.conversation_id.into(),
            name: file.name,
            media_type: file.media_type,
            size: file.size,
        }
    }
}
