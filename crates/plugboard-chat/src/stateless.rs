//! A completion that is not a stored conversation: the OpenAI-compatible API, where the
//! client sends the whole history each time. The plugin pipeline still applies: the last
//! user message passes will-be-posted and before-prompt filters, streamed text the stream
//! filters, the final text the after-response filters. The client's own tools pass
//! through to the model and their calls back to the client. A client that opts in
//! ([`ServerTools::Run`]) also gets Plugboard's tools (the plugins' and MCP servers'
//! whose policy lets them run unasked), run here: each call the model makes to one of
//! them runs, its result goes into the history, and the model is asked again, up to the
//! turn's step limit; only the text and the calls of the client's own tools reach the
//! client.

use std::sync::Arc;
use std::time::Instant;

use plugboard_host::{Plugin, TextFilter, run_stream_filters, run_text_filters};
use plugboard_store::User;
use plugboard_types::{
    CallContext, Completion, CompletionChunk, CompletionMessage, CompletionRequest, Provider, Role as ApiRole,
    ToolCall, Usage,
};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::choice::PluginChoice;
use crate::engine::ChatEngine;
use crate::error::{ChatError, Refused};
use crate::text::without_nul;
use crate::tools::{OfferedTool, ToolPolicy, ToolSource};

/// Whether Plugboard's own tools run server-side for a stateless completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerTools {
    /// Only the client's tools, passed through (the default).
    #[default]
    PassThrough,
    /// Plugboard's tools too, run here.
    Run,
}

/// The end of a stateless completion.
#[derive(Debug, Clone)]
pub struct StatelessOutcome {
    /// The completion, its content after the after-response filters.
    pub completion: Completion,
    /// The model, `provider/model`.
    pub model: String,
    /// For a stream: text the after-response filters appended, to send as a last delta.
    /// `None` when they changed nothing, or changed the text in a way a stream of
    /// appended pieces cannot express (the non-streamed content has it either way).
    pub appended: Option<String>,
}

/// Plugboard's tools offered in one stateless completion, each with its source.
type Offered = Vec<(Arc<dyn ToolSource>, OfferedTool)>;

impl ChatEngine {
    /// Runs `request` (its `model` is `provider/model`, or empty for the default) through
    /// the plugin pipeline for `user`. Streamed text goes to `sink` after stream filters,
    /// with the calls of the client's own tools; with [`ServerTools::Run`], calls of
    /// Plugboard's tools run here and never reach `sink`.
    pub async fn complete_stateless(
        &self,
        user: &User,
        mut request: CompletionRequest,
        sink: mpsc::Sender<CompletionChunk>,
        server_tools: ServerTools,
    ) -> Result<StatelessOutcome, ChatError> {
        let filters: Vec<Plugin> = self.plugin_set().plugins();
        let wanted = (!request.model.is_empty()).then(|| request.model.clone());
        let (provider, model) = self.models().await.resolve(wanted.as_deref()).await?;
        let model_id = format!("{}/{model}", provider.id());
        let context =
            CallContext { user_id: user.id.as_str().into(), model: model_id.clone(), ..CallContext::default() };
        // The client sends the whole history each time, unfiltered: every user message
        // passes the prompt filters (a privacy filter must see them all), and the newest
        // the will-be-posted hooks too.
        let last_user = request.messages.iter().rposition(|message| message.role == ApiRole::User);
        for (index, message) in request.messages.iter_mut().enumerate() {
            if message.role != ApiRole::User {
                continue;
            }
            let mut text = message.content.clone();
            if Some(index) == last_user {
                let draft = plugboard_types::Message {
                    id: Default::default(),
                    conversation_id: Default::default(),
                    role: ApiRole::User,
                    author: format!("user:{}", user.id),
                    content: text.clone(),
                    created_at_ms: 0,
                };
                let posted = run_text_filters(&filters, &TextFilter::MessageWillBePosted(draft), &context, &text).await;
                if let Some(rejection) = posted.rejection {
                    return Err(ChatError::refused(Refused::Prompt, &rejection));
                }
                text = posted.text;
            }
            let prompt = run_text_filters(&filters, &TextFilter::BeforePrompt, &context, &text).await;
            if let Some(rejection) = prompt.rejection {
                return Err(ChatError::refused(Refused::Prompt, &rejection));
            }
            message.content = prompt.text;
        }
        request.model = model;
        let offered = match server_tools {
            ServerTools::PassThrough => Vec::new(),
            ServerTools::Run => self.stateless_tools(&request).await?,
        };
        let client_tools = request.tools.clone();
        let steps = if offered.is_empty() { 1 } else { self.max_tool_steps() };
        let mut streamed = String::new();
        let mut usage = Usage::default();
        let mut step = 0;
        let mut completion = loop {
            let last_step = step + 1 >= steps;
            // The last step offers the client's tools alone, so the model has to answer.
            request.tools = client_tools.clone();
            if !last_step {
                request.tools.extend(offered.iter().map(|(_, tool)| tool.spec.clone()));
            }
            let is_ours = |call: &ToolCall| offered.iter().any(|(_, tool)| tool.spec.name == call.name);
            let mut completion =
                stream_step(&provider, request.clone(), &filters, &context, &sink, &is_ours, &mut streamed).await?;
            usage.prompt_tokens += completion.usage.prompt_tokens;
            usage.completion_tokens += completion.usage.completion_tokens;
            let (ours, theirs): (Vec<ToolCall>, Vec<ToolCall>) =
                std::mem::take(&mut completion.tool_calls).into_iter().partition(is_ours);
            // A step that calls the client's tools ends here: they are the client's to
            // run. Plugboard's calls of that step are left out rather than run unseen (the
            // history the client sends back will not hold their results).
            if ours.is_empty() || !theirs.is_empty() || last_step {
                if !ours.is_empty() {
                    tracing::debug!(
                        calls = ours.len(),
                        "Plugboard tool calls left out of a step that ends the completion"
                    );
                }
                completion.tool_calls = theirs;
                break completion;
            }
            request.messages.push(CompletionMessage {
                role: ApiRole::Assistant,
                content: completion.content.clone(),
                tool_calls: ours.clone(),
                tool_call_id: String::new(),
            });
            for call in ours {
                let content = run_server_tool(&offered, &context, &call).await;
                request.messages.push(CompletionMessage {
                    role: ApiRole::Tool,
                    content,
                    tool_calls: Vec::new(),
                    tool_call_id: call.id.clone(),
                });
            }
            step += 1;
        };
        completion.usage = usage;
        completion.content = streamed.clone();
        let after = run_text_filters(&filters, &TextFilter::AfterResponse, &context, &streamed).await;
        if let Some(rejection) = after.rejection {
            completion.content = format!("[reply withheld by plugin `{}`: {}]", rejection.plugin, rejection.reason);
            return Ok(StatelessOutcome { completion, model: model_id, appended: None });
        }
        let appended = after.text.strip_prefix(streamed.as_str()).filter(|rest| !rest.is_empty()).map(str::to_owned);
        if after.text != streamed && appended.is_none() {
            tracing::debug!(
                "an after-response filter rewrote a streamed OpenAI-compatible reply; the stream cannot show it"
            );
        }
        completion.content = after.text;
        Ok(StatelessOutcome { completion, model: model_id, appended })
    }

    /// Plugboard's tools a stateless completion may run: those whose policy (the
    /// administrators', as for a turn) lets them run without asking (no person is there to
    /// ask). A client tool of the same name is an error: the model could not tell them apart.
    async fn stateless_tools(&self, request: &CompletionRequest) -> Result<Offered, ChatError> {
        let choice = PluginChoice::default();
        // Read now, as a turn does: a policy changed on another server a moment ago holds.
        let policies = self.load_tool_policies().await?;
        let offered: Offered = self
            .tool_sources()
            .iter()
            .flat_map(|source| source.tools(&choice).into_iter().map(|tool| (source.clone(), tool)))
            .filter(|(_, tool)| policies.decide(tool, &choice).policy == ToolPolicy::Auto)
            .collect();
        if let Some(clash) =
            request.tools.iter().find(|tool| offered.iter().any(|(_, ours)| ours.spec.name == tool.name))
        {
            return Err(ChatError::InvalidInput(format!(
                "the request's tool `{}` has the name of one of Plugboard's tools; rename it, or leave out \
                 the request for Plugboard's tools",
                clash.name
            )));
        }
        Ok(offered)
    }
}

/// One model step: its text through the stream filters to `sink` (and `streamed`), the
/// calls of the client's tools to `sink`; the completion with every call.
async fn stream_step(
    provider: &Arc<dyn Provider>,
    request: CompletionRequest,
    filters: &[Plugin],
    context: &CallContext,
    sink: &mpsc::Sender<CompletionChunk>,
    is_ours: &impl Fn(&ToolCall) -> bool,
    streamed: &mut String,
) -> Result<Completion, ChatError> {
    let (pieces, mut received) = mpsc::channel(64);
    let provider = provider.clone();
    let running = tokio::spawn(async move { provider.complete(request, pieces).await });
    while let Some(piece) = received.recv().await {
        let piece = match piece {
            CompletionChunk::Delta(text) => {
                let text = run_stream_filters(filters, context, &text).await;
                streamed.push_str(&text);
                CompletionChunk::Delta(text)
            }
            CompletionChunk::ToolCall(call) if is_ours(&call) => continue,
            call @ CompletionChunk::ToolCall(_) => call,
        };
        if sink.send(piece).await.is_err() {
            running.abort();
            return Err(ChatError::Cancelled);
        }
    }
    running.await.map_err(|error| ChatError::Internal(format!("the model task failed: {error}")))?.map_err(Into::into)
}

/// Runs one of Plugboard's tools the model called; the result, or the error, as text for
/// the model.
async fn run_server_tool(offered: &Offered, context: &CallContext, call: &ToolCall) -> String {
    let Some((source, tool)) = offered.iter().find(|(_, tool)| tool.spec.name == call.name) else {
        return format!("no tool `{}` is available", call.name);
    };
    let arguments: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| Value::Object(Default::default()));
    let started = Instant::now();
    let (content, outcome) = match source.call(tool, context, arguments).await {
        Ok(result) => (without_nul(result), "ok"),
        Err(error) => (without_nul(error), "error"),
    };
    tracing::info!(tool = %call.name, source = %tool.source, outcome, elapsed_us = started.elapsed().as_micros() as u64,
                   "ran a tool for an OpenAI-compatible client");
    metrics::counter!("plugboard_openai_server_tool_calls_total", "outcome" => outcome).increment(1);
    content
}
