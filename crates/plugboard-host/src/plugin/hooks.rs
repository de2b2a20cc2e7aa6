//! The hook methods: filters, events, tools, provider, exporter, HTTP, commands and the
//! scheduler. Each converts its inputs to the ABI's form, calls its export through the
//! call path, and checks what came back.

use super::Plugin;
use super::call::CallOptions;
use crate::abi::AbiEventKind;
use crate::abi::imports::types as wit;
use crate::api::{
    CallContext, Completion, CompletionChunk, CompletionRequest, Conversation, Event, ExportFile, ExportFormat,
    FilterOutcome, Hook, HttpRequest, HttpResponse, Message, ModelInfo, RequestOutcome, ResponseOutcome, ToolSpec,
};
use crate::error::{CallError, CallErrorKind};

/// A call context in the ABI's form, converted once for a chain or an event delivery
/// that passes it to many plugins.
pub(crate) struct AbiContext(wit::CallContext);

impl AbiContext {
    pub(crate) fn new(context: &CallContext) -> AbiContext {
        AbiContext(wit::CallContext::from(context))
    }
}

/// An event in the ABI's form, converted once for all its listeners.
pub(crate) struct AbiEvent(AbiEventKind);

impl AbiEvent {
    pub(crate) fn new(event: Event) -> AbiEvent {
        AbiEvent(AbiEventKind::from(event))
    }
}

impl Plugin {
    /// `filters.before-prompt`.
    pub async fn before_prompt(&self, context: &CallContext, prompt: &str) -> Result<FilterOutcome, CallError> {
        self.before_prompt_with(context, &AbiContext::new(context), prompt).await
    }

    /// `filters.before-prompt` with the context already converted (a chain converts it once).
    pub(crate) async fn before_prompt_with(
        &self,
        context: &CallContext,
        abi_context: &AbiContext,
        prompt: &str,
    ) -> Result<FilterOutcome, CallError> {
        let wctx = &abi_context.0;
        let outcome = self
            .invoke(Hook::BeforePrompt, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_before_prompt(store, wctx, prompt).await })
            })
            .await?;
        self.check_filter_output(Hook::BeforePrompt, outcome.into())
    }

    /// `filters.after-response`.
    pub async fn after_response(&self, context: &CallContext, response: &str) -> Result<FilterOutcome, CallError> {
        self.after_response_with(context, &AbiContext::new(context), response).await
    }

    /// `filters.after-response` with the context already converted.
    pub(crate) async fn after_response_with(
        &self,
        context: &CallContext,
        abi_context: &AbiContext,
        response: &str,
    ) -> Result<FilterOutcome, CallError> {
        let wctx = &abi_context.0;
        let outcome = self
            .invoke(Hook::AfterResponse, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_after_response(store, wctx, response).await })
            })
            .await?;
        self.check_filter_output(Hook::AfterResponse, outcome.into())
    }

    /// `filters.stream-chunk`.
    pub async fn stream_chunk(&self, context: &CallContext, chunk: &str) -> Result<String, CallError> {
        let wctx = wit::CallContext::from(context);
        let text = self
            .invoke(Hook::StreamChunk, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_stream_chunk(store, &wctx, chunk).await })
            })
            .await?;
        self.check_size(Hook::StreamChunk, text.len())?;
        Ok(text)
    }

    /// `filters.before-request`.
    pub async fn before_request(
        &self,
        context: &CallContext,
        request: HttpRequest,
    ) -> Result<RequestOutcome, CallError> {
        let wctx = wit::CallContext::from(context);
        let request = wit::HttpRequest::from(request);
        let outcome = self
            .invoke(Hook::BeforeRequest, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_before_request(store, &wctx, &request).await })
            })
            .await?;
        Ok(outcome.into())
    }

    /// `filters.after-request`.
    pub async fn after_request(
        &self,
        context: &CallContext,
        request: HttpRequest,
        response: HttpResponse,
    ) -> Result<ResponseOutcome, CallError> {
        let wctx = wit::CallContext::from(context);
        let (request, response) = (wit::HttpRequest::from(request), wit::HttpResponse::from(response));
        let outcome = self
            .invoke(Hook::AfterRequest, Some(context), |store, exports, _| {
                Box::pin(async move { exports.filters()?.call_after_request(store, &wctx, &request, &response).await })
            })
            .await?;
        Ok(outcome.into())
    }

    /// `events.on-event`, or `account-events.on-account-event` for an account event (which
    /// a plugin built before that interface does not get: see [`Plugin::receives`]).
    pub async fn on_event(&self, context: &CallContext, event: Event) -> Result<(), CallError> {
        self.on_event_with(context, &AbiContext::new(context), &AbiEvent::new(event)).await
    }

    /// `events.on-event` with the context and event already converted (a delivery to
    /// many plugins converts them once).
    pub(crate) async fn on_event_with(
        &self,
        context: &CallContext,
        abi_context: &AbiContext,
        event: &AbiEvent,
    ) -> Result<(), CallError> {
        let wctx = &abi_context.0;
        self.invoke(Hook::Events, Some(context), |store, exports, _| {
            Box::pin(async move {
                match &event.0 {
                    AbiEventKind::Server(event) => exports.events()?.call_on_event(store, wctx, event).await,
                    AbiEventKind::Account(event) => {
                        exports.account_events()?.call_on_account_event(store, wctx, event).await
                    }
                }
            })
        })
        .await
    }

    /// `events.message-will-be-posted`.
    pub async fn message_will_be_posted(
        &self,
        context: &CallContext,
        message: Message,
    ) -> Result<FilterOutcome, CallError> {
        self.message_will_be_posted_with(context, &AbiContext::new(context), message).await
    }

    /// `events.message-will-be-posted` with the context already converted.
    pub(crate) async fn message_will_be_posted_with(
        &self,
        context: &CallContext,
        abi_context: &AbiContext,
        message: Message,
    ) -> Result<FilterOutcome, CallError> {
        let wctx = &abi_context.0;
        let message = wit::Message::from(message);
        let outcome = self
            .invoke(Hook::MessageWillBePosted, Some(context), |store, exports, _| {
                Box::pin(async move { exports.events()?.call_message_will_be_posted(store, wctx, &message).await })
            })
            .await?;
        self.check_filter_output(Hook::MessageWillBePosted, outcome.into())
    }

    /// The plugin's tools, as listed when it loaded.
    pub fn tools(&self) -> Vec<ToolSpec> {
        self.inner.tools.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// `tools.call-tool`. A tool's own error is [`CallErrorKind::Plugin`].
    pub async fn call_tool(
        &self,
        context: &CallContext,
        name: &str,
        arguments: serde_json::Value,
    ) -> Result<String, CallError> {
        let wctx = wit::CallContext::from(context);
        let arguments = arguments.to_string();
        let result = self
            .invoke(Hook::Tools, Some(context), |store, exports, _| {
                Box::pin(async move { exports.tools()?.call_call_tool(store, &wctx, name, &arguments).await })
            })
            .await?;
        let text = result.map_err(|message| self.error(Hook::Tools, CallErrorKind::Plugin { message }))?;
        self.check_size(Hook::Tools, text.len())?;
        Ok(text)
    }

    /// Seed 002's runner: `/run <plugin> <input>` calls the plugin's first tool with
    /// `{"input": <input>}`.
    pub async fn run_with_input(&self, context: &CallContext, input: &str) -> Result<String, CallError> {
        let Some(tool) = self.tools().into_iter().next() else {
            return Err(self.error(Hook::Tools, CallErrorKind::NotImplemented));
        };
        self.call_tool(context, &tool.name, serde_json::json!({ "input": input })).await
    }

    /// `provider.list-models`.
    pub async fn list_models(&self) -> Result<Vec<ModelInfo>, CallError> {
        let models = self
            .invoke(Hook::Provider, None, |store, exports, _| {
                Box::pin(async move { exports.provider()?.call_list_models(store).await })
            })
            .await?;
        Ok(models.into_iter().map(Into::into).collect())
    }

    /// `provider.complete`: streams chunks into `sink` as the plugin emits them. When the
    /// receiver is dropped, the plugin is told the client went away.
    pub async fn complete(
        &self,
        request: CompletionRequest,
        sink: tokio::sync::mpsc::Sender<CompletionChunk>,
    ) -> Result<Completion, CallError> {
        let request = wit::CompletionRequest::from(request);
        let result = self
            .invoke_with(Hook::Provider, CallOptions { sink: Some(sink), timeout: None }, |store, exports, _| {
                Box::pin(async move { exports.provider()?.call_complete(store, &request).await })
            })
            .await?;
        let completion = result.map_err(|message| self.error(Hook::Provider, CallErrorKind::Plugin { message }))?;
        self.check_size(Hook::Provider, completion.content.len())?;
        Ok(completion.into())
    }

    /// The export formats, as listed when the plugin loaded.
    pub fn export_formats(&self) -> Vec<ExportFormat> {
        self.inner.export_formats.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// `exporter.export-conversation`.
    pub async fn export(
        &self,
        format: &str,
        conversation: Conversation,
        messages: Vec<Message>,
    ) -> Result<ExportFile, CallError> {
        let conversation = wit::Conversation::from(conversation);
        let messages: Vec<wit::Message> = messages.into_iter().map(Into::into).collect();
        let result = self
            .invoke(Hook::Exporter, None, |store, exports, _| {
                Box::pin(async move {
                    exports.exporter()?.call_export_conversation(store, format, &conversation, &messages).await
                })
            })
            .await?;
        let file = result.map_err(|message| self.error(Hook::Exporter, CallErrorKind::Plugin { message }))?;
        self.check_size(Hook::Exporter, file.data.len())?;
        Ok(file.into())
    }

    /// `http-handler.handle`.
    pub async fn handle_http(&self, context: &CallContext, request: HttpRequest) -> Result<HttpResponse, CallError> {
        let wctx = wit::CallContext::from(context);
        let request = wit::HttpRequest::from(request);
        let response = self
            .invoke(Hook::Http, Some(context), |store, exports, _| {
                Box::pin(async move { exports.http()?.call_handle(store, &wctx, &request).await })
            })
            .await?;
        self.check_size(Hook::Http, response.body.len())?;
        if !(100..=599).contains(&response.status) {
            let message = format!("status {} is not an HTTP status", response.status);
            return Err(self.fault(Hook::Http, CallErrorKind::InvalidOutput { message }));
        }
        Ok(response.into())
    }

    /// `commands.run-command`.
    pub async fn run_command(&self, context: &CallContext, name: &str, arguments: &str) -> Result<String, CallError> {
        let wctx = wit::CallContext::from(context);
        let result = self
            .invoke(Hook::Commands, Some(context), |store, exports, _| {
                Box::pin(async move { exports.commands()?.call_run_command(store, &wctx, name, arguments).await })
            })
            .await?;
        let text = result.map_err(|message| self.error(Hook::Commands, CallErrorKind::Plugin { message }))?;
        self.check_size(Hook::Commands, text.len())?;
        Ok(text)
    }

    /// `scheduler.run-task`, with the task's deadline ([`Plugin::task_timeout`]).
    pub async fn run_task(&self, name: &str, scheduled_at_ms: u64) -> Result<(), CallError> {
        let result = self
            .invoke_with(
                Hook::Scheduled,
                CallOptions { sink: None, timeout: Some(self.task_timeout(name)) },
                |store, exports, _| {
                    Box::pin(async move { exports.scheduler()?.call_run_task(store, name, scheduled_at_ms).await })
                },
            )
            .await?;
        result.map_err(|message| self.error(Hook::Scheduled, CallErrorKind::Plugin { message }))
    }
}
