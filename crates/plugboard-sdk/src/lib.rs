//! The Plugboard plugin SDK: write a plugin as one Rust type, export it with one macro.
//!
//! A plugin is a `cdylib` crate built with `cargo build --target wasm32-wasip2`. It
//! implements [`Plugin`] (every hook has a default) and exports itself with
//! [`export_plugin!`], listing the optional hooks it implements so the host calls only
//! those:
//!
//! ```no_run
//! use plugboard_sdk::{export_plugin, CallContext, FilterOutcome, Hook, Plugin, Settings};
//!
//! struct Shouter;
//!
//! impl Plugin for Shouter {
//!     fn init(_settings: Settings) -> Result<Self, String> {
//!         Ok(Shouter)
//!     }
//!
//!     fn before_prompt(&mut self, _context: &CallContext, prompt: String) -> FilterOutcome {
//!         FilterOutcome::Rewrite(prompt.to_uppercase())
//!     }
//! }
//!
//! export_plugin!(Shouter, hooks: [BeforePrompt]);
//! ```
//!
//! Host services (logging, the private key-value store, chat data, outbound HTTP, the
//! model, other plugins' tools) are in the modules [`log`], [`kv`], [`chat`], [`http`],
//! [`ai`] and [`plugins`]; each needs the permission its documentation names in the
//! plugin's `plugin.toml`, and fails with a [`HostError`] naming it otherwise.
//!
//! A plugin's unit tests run natively (`cargo test`) and call its hooks directly; the
//! module `testing` (in native builds only) is the host they need: an in-memory fake of
//! every service, installed per test, that records what the plugin did. Without it, a
//! host call in a native build fails with an error saying to install it.

#![deny(missing_docs)]

extern crate self as plugboard_sdk;

mod glue;
pub mod host;
mod settings;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod webhook;

pub use glue::Glue;
pub use host::{ai, chat, completion, http, kv, log, plugins};
/// The JSON library the SDK speaks (tool arguments, settings), re-exported for plugins.
pub use serde_json;
pub use settings::Settings;

/// The bindings generated from the WIT package `plugboard:plugin@0.1.0`. Plugins rarely
/// need them directly: the useful types are re-exported at the crate root.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, unreachable_pub, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v0.1.0",
        world: "plugboard:plugin/plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugboard_world",
        default_bindings_module: "plugboard_sdk::bindings",
        runtime_path: "plugboard_sdk::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    /// Implemented by [`export_plugin!`](crate::export_plugin): the optional hooks a
    /// plugin type implements.
    pub trait ExportedHooks {
        /// The hooks, as listed in the macro.
        const HOOKS: &'static [crate::Hook];
    }
}

pub use bindings::exports::plugboard::plugin::account_events::{Account, AccountEvent};
pub use bindings::exports::plugboard::plugin::events::Event;
pub use bindings::exports::plugboard::plugin::exporter::{ExportFile, ExportFormat};
pub use bindings::exports::plugboard::plugin::filters::{RequestOutcome, ResponseOutcome};
pub use bindings::exports::plugboard::plugin::lifecycle::{HealthReport, HealthStatus, Hook, SelfTestResult};
pub use bindings::plugboard::plugin::types::{
    CallContext, Completion, CompletionChunk, CompletionMessage, CompletionRequest, Conversation, ErrorKind,
    FilterOutcome, FinishReason, HostError, HttpRequest, HttpResponse, Message, ModelInfo, Role, ToolCall, ToolSpec,
    Usage,
};

/// A plugin. Implement the hooks you need; every one has a default, and the host calls an
/// optional hook only when [`export_plugin!`] lists it.
///
/// The host may run several instances of a plugin at once and replace any of them at any
/// time (after a fault, for example): `init` builds the state of one instance. Keep state
/// that must last, or be shared between instances, in [`kv`].
pub trait Plugin: Sized + 'static {
    /// Builds the plugin from its settings (validated against the manifest's schema,
    /// defaults applied). Called on every fresh instance and again when the operator
    /// changes the settings. An error refuses the settings.
    fn init(settings: Settings) -> Result<Self, String>;

    /// Called once when the plugin is unloaded or the server stops.
    fn shutdown(&mut self) {}

    /// Called when an operator enables the plugin.
    fn on_enable(&mut self) {}

    /// Called when an operator disables the plugin.
    fn on_disable(&mut self) {}

    /// Reports health ([`Hook::Health`]).
    fn health(&mut self) -> HealthReport {
        HealthReport::healthy("ok")
    }

    /// Runs self-tests ([`Hook::SelfTest`]).
    fn self_test(&mut self) -> Vec<SelfTestResult> {
        Vec::new()
    }

    /// Sees a prompt before the model does ([`Hook::BeforePrompt`]).
    fn before_prompt(&mut self, context: &CallContext, prompt: String) -> FilterOutcome {
        let _ = (context, prompt);
        FilterOutcome::Keep
    }

    /// Sees the model's whole reply ([`Hook::AfterResponse`]).
    fn after_response(&mut self, context: &CallContext, response: String) -> FilterOutcome {
        let _ = (context, response);
        FilterOutcome::Keep
    }

    /// Sees each streamed piece of a reply and returns what to send ([`Hook::StreamChunk`]).
    fn stream_chunk(&mut self, context: &CallContext, chunk: String) -> String {
        let _ = context;
        chunk
    }

    /// Sees an API request before the host handles it ([`Hook::BeforeRequest`]).
    fn before_request(&mut self, context: &CallContext, request: HttpRequest) -> RequestOutcome {
        let _ = (context, request);
        RequestOutcome::Keep
    }

    /// Sees an API response before it is sent ([`Hook::AfterRequest`]).
    fn after_request(
        &mut self,
        context: &CallContext,
        request: HttpRequest,
        response: HttpResponse,
    ) -> ResponseOutcome {
        let _ = (context, request, response);
        ResponseOutcome::Keep
    }

    /// Receives conversation, message and plugin events ([`Hook::Events`]).
    fn on_event(&mut self, context: &CallContext, event: Event) {
        let _ = (context, event);
    }

    /// Receives account events: users created, disabled, enabled and deleted. Delivered,
    /// like [`Plugin::on_event`], when [`export_plugin!`] lists [`Hook::Events`] (and the
    /// manifest's `events` lists the event, or lists none). On `user-deleted`, forget what
    /// the plugin keeps about that user.
    fn on_account_event(&mut self, context: &CallContext, event: AccountEvent) {
        let _ = (context, event);
    }

    /// Sees a message before it is stored; may rewrite or reject it
    /// ([`Hook::MessageWillBePosted`]).
    fn message_will_be_posted(&mut self, context: &CallContext, message: Message) -> FilterOutcome {
        let _ = (context, message);
        FilterOutcome::Keep
    }

    /// The tools this plugin offers ([`Hook::Tools`]).
    fn tools(&mut self) -> Vec<ToolSpec> {
        Vec::new()
    }

    /// Runs a tool with its JSON arguments ([`Hook::Tools`]).
    fn call_tool(&mut self, context: &CallContext, name: &str, arguments: serde_json::Value) -> Result<String, String> {
        let _ = (context, arguments);
        Err(format!("unknown tool `{name}`"))
    }

    /// The models this provider serves ([`Hook::Provider`]).
    fn models(&mut self) -> Vec<ModelInfo> {
        Vec::new()
    }

    /// Runs a completion, streaming pieces with [`completion::emit_text`] ([`Hook::Provider`]).
    fn complete(&mut self, request: CompletionRequest) -> Result<Completion, String> {
        Err(format!("model `{}` is not served by this plugin", request.model))
    }

    /// The export formats this plugin writes ([`Hook::Exporter`]).
    fn export_formats(&mut self) -> Vec<ExportFormat> {
        Vec::new()
    }

    /// Exports a conversation ([`Hook::Exporter`]).
    fn export(
        &mut self,
        format: &str,
        conversation: Conversation,
        messages: Vec<Message>,
    ) -> Result<ExportFile, String> {
        let _ = (conversation, messages);
        Err(format!("unknown export format `{format}`"))
    }

    /// Serves an HTTP request to one of the plugin's routes ([`Hook::Http`]).
    fn handle_http(&mut self, context: &CallContext, request: HttpRequest) -> HttpResponse {
        let _ = (context, request);
        HttpResponse::text(404, "not found")
    }

    /// Runs a slash command declared in the manifest ([`Hook::Commands`]).
    fn run_command(&mut self, context: &CallContext, name: &str, arguments: &str) -> Result<String, String> {
        let _ = (context, arguments);
        Err(format!("unknown command `/{name}`"))
    }

    /// Runs a scheduled task declared in the manifest ([`Hook::Scheduled`]).
    fn run_task(&mut self, name: &str, scheduled_at_ms: u64) -> Result<(), String> {
        let _ = scheduled_at_ms;
        Err(format!("unknown task `{name}`"))
    }
}

/// Exports a [`Plugin`] type as the component's implementation of `plugboard:plugin`.
///
/// List the optional hooks the type implements after `hooks:`, by their [`Hook`] names;
/// the host never calls a hook that is not listed. Shutdown, enable and disable are
/// always delivered.
///
/// ```no_run
/// # use plugboard_sdk::{Plugin, Settings};
/// # struct Calculator;
/// # impl Plugin for Calculator {
/// #     fn init(_settings: Settings) -> Result<Self, String> { Ok(Calculator) }
/// # }
/// plugboard_sdk::export_plugin!(Calculator, hooks: [Tools, Health]);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty $(, hooks: [$($hook:ident),* $(,)?])? $(,)?) => {
        impl $crate::__private::ExportedHooks for $plugin {
            const HOOKS: &'static [$crate::Hook] = &[
                $crate::Hook::Shutdown,
                $crate::Hook::OnEnable,
                $crate::Hook::OnDisable,
                $($($crate::Hook::$hook),*)?
            ];
        }
        type __PlugboardGlue = $crate::Glue<$plugin>;
        $crate::bindings::__export_plugboard_world!(__PlugboardGlue with_types_in $crate::bindings);
    };
}

impl HealthReport {
    /// A healthy report with a short message.
    pub fn healthy(message: impl Into<String>) -> HealthReport {
        HealthReport { status: HealthStatus::Healthy, message: message.into(), details: "{}".into() }
    }

    /// A degraded report.
    pub fn degraded(message: impl Into<String>) -> HealthReport {
        HealthReport { status: HealthStatus::Degraded, message: message.into(), details: "{}".into() }
    }

    /// An unhealthy report.
    pub fn unhealthy(message: impl Into<String>) -> HealthReport {
        HealthReport { status: HealthStatus::Unhealthy, message: message.into(), details: "{}".into() }
    }
}

impl SelfTestResult {
    /// A self-test result.
    pub fn new(name: impl Into<String>, passed: bool, message: impl Into<String>) -> SelfTestResult {
        SelfTestResult { name: name.into(), passed, message: message.into() }
    }
}

impl HttpResponse {
    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.into().into_bytes(),
        }
    }

    /// An `application/json` response.
    pub fn json(status: u16, body: &serde_json::Value) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

impl HttpRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

impl ToolSpec {
    /// A tool with a JSON Schema for its arguments.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: serde_json::Value) -> ToolSpec {
        ToolSpec { name: name.into(), description: description.into(), parameters_schema: parameters.to_string() }
    }
}
