//! The glue between the generated WIT exports and a [`Plugin`] type: one generic
//! implementation of every exported interface, holding the plugin's state.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use crate::__private::ExportedHooks;
use crate::bindings::exports::plugboard::plugin::{
    account_events, commands, events, exporter, filters, http_handler, lifecycle, provider, scheduler, tools,
};
use crate::{
    AccountEvent, CallContext, Completion, CompletionRequest, Conversation, Event, ExportFile, ExportFormat,
    FilterOutcome, HealthReport, Hook, HttpRequest, HttpResponse, Message, ModelInfo, Plugin, RequestOutcome,
    ResponseOutcome, SelfTestResult, Settings, ToolSpec,
};

thread_local! {
    /// The plugin of this instance, set by `init`. A component holds exactly one plugin.
    static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Connects a [`Plugin`] type to the component's exports. Used by
/// [`export_plugin!`](crate::export_plugin); not meant to be named directly.
#[derive(Debug)]
pub struct Glue<P>(PhantomData<P>);

fn with_plugin<P: Plugin, R>(hook: &str, f: impl FnOnce(&mut P) -> R) -> R {
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        match state.as_mut().and_then(|plugin| plugin.downcast_mut::<P>()) {
            Some(plugin) => f(plugin),
            None => panic!("hook `{hook}` was called before `init` succeeded"),
        }
    })
}

impl<P: Plugin + ExportedHooks> lifecycle::Guest for Glue<P> {
    fn implemented_hooks() -> Vec<Hook> {
        P::HOOKS.to_vec()
    }

    fn init(settings: String) -> Result<(), String> {
        let settings = Settings::parse(&settings)?;
        let plugin = P::init(settings)?;
        STATE.with(|state| *state.borrow_mut() = Some(Box::new(plugin)));
        Ok(())
    }

    fn shutdown() {
        with_plugin::<P, _>("shutdown", P::shutdown)
    }

    fn on_enable() {
        with_plugin::<P, _>("on-enable", P::on_enable)
    }

    fn on_disable() {
        with_plugin::<P, _>("on-disable", P::on_disable)
    }

    fn health() -> HealthReport {
        with_plugin::<P, _>("health", P::health)
    }

    fn self_test() -> Vec<SelfTestResult> {
        with_plugin::<P, _>("self-test", P::self_test)
    }
}

impl<P: Plugin + ExportedHooks> filters::Guest for Glue<P> {
    fn before_prompt(context: CallContext, prompt: String) -> FilterOutcome {
        with_plugin::<P, _>("before-prompt", |p| p.before_prompt(&context, prompt))
    }

    fn after_response(context: CallContext, response: String) -> FilterOutcome {
        with_plugin::<P, _>("after-response", |p| p.after_response(&context, response))
    }

    fn stream_chunk(context: CallContext, chunk: String) -> String {
        with_plugin::<P, _>("stream-chunk", |p| p.stream_chunk(&context, chunk))
    }

    fn before_request(context: CallContext, request: HttpRequest) -> RequestOutcome {
        with_plugin::<P, _>("before-request", |p| p.before_request(&context, request))
    }

    fn after_request(context: CallContext, request: HttpRequest, response: HttpResponse) -> ResponseOutcome {
        with_plugin::<P, _>("after-request", |p| p.after_request(&context, request, response))
    }
}

impl<P: Plugin + ExportedHooks> events::Guest for Glue<P> {
    fn on_event(context: CallContext, event: Event) {
        with_plugin::<P, _>("on-event", |p| p.on_event(&context, event))
    }

    fn message_will_be_posted(context: CallContext, message: Message) -> FilterOutcome {
        with_plugin::<P, _>("message-will-be-posted", |p| p.message_will_be_posted(&context, message))
    }
}

impl<P: Plugin + ExportedHooks> account_events::Guest for Glue<P> {
    fn on_account_event(context: CallContext, event: AccountEvent) {
        with_plugin::<P, _>("on-account-event", |p| p.on_account_event(&context, event))
    }
}

impl<P: Plugin + ExportedHooks> tools::Guest for Glue<P> {
    fn list_tools() -> Vec<ToolSpec> {
        with_plugin::<P, _>("list-tools", P::tools)
    }

    fn call_tool(context: CallContext, name: String, arguments: String) -> Result<String, String> {
        let arguments: serde_json::Value =
            serde_json::from_str(&arguments).map_err(|error| format!("the arguments are not valid JSON: {error}"))?;
        with_plugin::<P, _>("call-tool", |p| p.call_tool(&context, &name, arguments))
    }
}

impl<P: Plugin + ExportedHooks> provider::Guest for Glue<P> {
    fn list_models() -> Vec<ModelInfo> {
        with_plugin::<P, _>("list-models", P::models)
    }

    fn complete(request: CompletionRequest) -> Result<Completion, String> {
        with_plugin::<P, _>("complete", |p| p.complete(request))
    }
}

impl<P: Plugin + ExportedHooks> exporter::Guest for Glue<P> {
    fn list_formats() -> Vec<ExportFormat> {
        with_plugin::<P, _>("list-formats", P::export_formats)
    }

    fn export_conversation(
        format: String,
        conversation: Conversation,
        messages: Vec<Message>,
    ) -> Result<ExportFile, String> {
        with_plugin::<P, _>("export", |p| p.export(&format, conversation, messages))
    }
}

impl<P: Plugin + ExportedHooks> http_handler::Guest for Glue<P> {
    fn handle(context: CallContext, request: HttpRequest) -> HttpResponse {
        with_plugin::<P, _>("handle", |p| p.handle_http(&context, request))
    }
}

impl<P: Plugin + ExportedHooks> commands::Guest for Glue<P> {
    fn run_command(context: CallContext, name: String, arguments: String) -> Result<String, String> {
        with_plugin::<P, _>("run-command", |p| p.run_command(&context, &name, &arguments))
    }
}

impl<P: Plugin + ExportedHooks> scheduler::Guest for Glue<P> {
    fn run_task(name: String, scheduled_at_ms: u64) -> Result<(), String> {
        with_plugin::<P, _>("run-task", |p| p.run_task(&name, scheduled_at_ms))
    }
}
