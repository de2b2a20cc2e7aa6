//! A chat turn through the plugin pipeline: will-be-posted hooks, before-prompt filters,
//! the user's message stored, `/run` and slash commands answered by plugins directly,
//! otherwise the model with the conversation's history and the enabled tools (a bounded
//! function-calling loop), stream filters on every chunk, after-response filters on the
//! final text, the reply stored, message events fired, and the plugin trace kept.
//!
//! A turn runs in its own task and reports through a channel; dropping the receiver (a
//! client that went away) stops generation, and the partial reply is stored as such.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use plugboard_host::api::{
    CallContext, CompletionChunk, CompletionMessage, CompletionRequest, Event, Role as ApiRole, ToolCall, ToolSpec,
    Usage,
};
use plugboard_host::{Hook, Plugin, TextFilter, deliver_event, run_stream_filters, run_text_filters};
use plugboard_registry::Registry;
use plugboard_store::{Conversation, Message, MessageStatus, NewMessage, Role, Store, User};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::provider::Models;
use crate::services::SharedModels;
use crate::trace::Trace;

/// How often the text of a reply being streamed is written to the store.
const SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// How turns run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Sent first to the model in every conversation.
    pub system_prompt: String,
    /// Model calls in one turn at most (each tool round is one more).
    pub max_tool_steps: usize,
    /// The longest message a user may send, in bytes.
    pub max_message_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            system_prompt: "You are a helpful assistant. Answer clearly and concisely.".to_owned(),
            max_tool_steps: 5,
            max_message_bytes: 64 * 1024,
        }
    }
}

/// Which of the globally enabled plugins a conversation switches off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginChoice {
    /// Plugins whose filters do not run in this conversation.
    #[serde(default)]
    pub disabled_filters: BTreeSet<String>,
    /// Plugins whose tools are not offered in this conversation.
    #[serde(default)]
    pub disabled_tools: BTreeSet<String>,
}

impl PluginChoice {
    /// The conversation's choice (the global set when it has none).
    pub fn of(conversation: &Conversation) -> PluginChoice {
        conversation.plugins.clone().and_then(|value| serde_json::from_value(value).ok()).unwrap_or_default()
    }
}

/// What a turn reports, in order.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TurnEvent {
    /// The user's message was stored (as the filters left it).
    Message {
        /// The stored message.
        message: Message,
    },
    /// More reply text.
    Delta {
        /// The text, after stream filters.
        text: String,
    },
    /// The model called a tool.
    ToolCall {
        /// Call id.
        id: String,
        /// The plugin.
        plugin: String,
        /// The tool.
        tool: String,
        /// JSON arguments.
        arguments: String,
    },
    /// A tool answered.
    ToolResult {
        /// Call id.
        id: String,
        /// The plugin.
        plugin: String,
        /// The tool.
        tool: String,
        /// The result (or the error, for `is_error`).
        content: String,
        /// Whether the tool failed.
        is_error: bool,
    },
    /// After-response filters changed the streamed reply: this is the text stored.
    Replace {
        /// The final text.
        content: String,
    },
    /// The turn is over.
    Done {
        /// The user's message.
        user_message_id: String,
        /// The reply.
        message_id: String,
        /// The model, `provider/model` (empty when a plugin answered).
        model: String,
        /// Token counts.
        usage: Usage,
    },
    /// The turn failed; nothing more follows.
    Error {
        /// Stable code.
        code: String,
        /// What went wrong and what to do.
        message: String,
    },
}

/// A turn to run.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// Who speaks (already authenticated; owns the conversation).
    pub user: User,
    /// Where.
    pub conversation: Conversation,
    /// What they said.
    pub content: String,
    /// `provider/model`, or the default.
    pub model: Option<String>,
}

/// The chat core. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChatEngine {
    inner: Arc<EngineInner>,
}

#[derive(Debug)]
struct EngineInner {
    registry: Registry,
    store: Arc<dyn Store>,
    models: SharedModels,
    config: EngineConfig,
    /// Events for plugins, delivered in order by one background task.
    events: mpsc::Sender<(CallContext, Event)>,
}

/// Events waiting for delivery at most; past that, new ones are dropped (and logged).
const EVENT_QUEUE: usize = 4096;

/// Why a chat turn (or a stateless completion) stopped early, with a stable code: what
/// the `error` event and the API errors carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PipelineError {
    /// Stable code (`prompt_rejected`, `unknown_model`, `model_error`, ...).
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl PipelineError {
    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> PipelineError {
        PipelineError { code: code.into(), message: message.into() }
    }

    /// A filter refused the `what` (message, prompt) with `code`.
    pub(crate) fn refused(code: &str, what: &str, rejection: &plugboard_host::Rejection) -> PipelineError {
        PipelineError::new(code, format!("plugin `{}` refused the {what}: {}", rejection.plugin, rejection.reason))
    }
}

impl From<plugboard_store::StoreError> for PipelineError {
    fn from(error: plugboard_store::StoreError) -> PipelineError {
        tracing::error!("storage failed during a chat turn: {error}");
        PipelineError::new("storage", "the server could not store the conversation; try again")
    }
}

impl ChatEngine {
    /// An engine over the registry's plugins, the store and the model providers (shared
    /// with the plugins' `ai` service, [`crate::ModelsAi`]).
    pub fn new(registry: Registry, store: Arc<dyn Store>, models: SharedModels, config: EngineConfig) -> ChatEngine {
        let (events, queue) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(deliver_events(registry.clone(), queue));
        ChatEngine { inner: Arc::new(EngineInner { registry, store, models, config, events }) }
    }

    /// The model providers.
    pub async fn models(&self) -> Models {
        self.inner.models.read().await.clone()
    }

    /// Replaces the model providers.
    pub async fn set_models(&self, models: Models) {
        *self.inner.models.write().await = models;
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Fires `event` at every enabled plugin that implements the event hook. Events are
    /// notifications: they are queued and delivered in the order fired, by one background
    /// task, so a slow plugin delays no request.
    pub fn fire(&self, context: CallContext, event: Event) {
        if let Err(error) = self.inner.events.try_send((context, event)) {
            tracing::warn!("plugin event queue is full; an event was dropped: {error}");
        }
    }

    /// Starts a turn in its own task; its events arrive on the returned channel. Dropping
    /// the receiver cancels the turn (a partial reply is stored as partial).
    pub fn start_turn(&self, request: TurnRequest) -> mpsc::Receiver<TurnEvent> {
        let (events, receiver) = mpsc::channel(64);
        let engine = self.clone();
        tokio::spawn(async move {
            let turn = Turn { engine: &engine, events: &events, trace: Trace::default(), open_reply: None };
            turn.run(request).await;
        });
        receiver
    }
}

/// The state of one running turn.
struct Turn<'a> {
    engine: &'a ChatEngine,
    events: &'a mpsc::Sender<TurnEvent>,
    trace: Trace,
    /// The reply row being streamed and its text so far: on any error it is kept as
    /// `partial`, never left `streaming`.
    open_reply: Option<(String, String)>,
}

/// Converts a stored message to the form hooks see.
pub fn api_message(message: &Message) -> plugboard_host::api::Message {
    plugboard_host::api::Message {
        id: message.id.clone(),
        conversation_id: message.conversation_id.clone(),
        role: api_role(message.role),
        author: message.author.clone(),
        content: message.content.clone(),
        created_at_ms: u64::try_from(message.created_at_ms).unwrap_or(0),
    }
}

/// Converts a stored conversation to the form hooks see.
pub fn api_conversation(conversation: &Conversation) -> plugboard_host::api::Conversation {
    plugboard_host::api::Conversation {
        id: conversation.id.clone(),
        title: conversation.title.clone(),
        user_id: conversation.user_id.clone(),
        created_at_ms: u64::try_from(conversation.created_at_ms).unwrap_or(0),
    }
}

fn api_role(role: Role) -> ApiRole {
    match role {
        Role::System => ApiRole::System,
        Role::User => ApiRole::User,
        Role::Assistant => ApiRole::Assistant,
        Role::Tool => ApiRole::Tool,
    }
}

impl Turn<'_> {
    async fn run(mut self, request: TurnRequest) {
        let conversation_id = request.conversation.id.clone();
        let started = Instant::now();
        let result = self.run_inner(request).await;
        let outcome = match &result {
            Ok(()) => "ok".to_owned(),
            Err(error) => error.code.clone(),
        };
        metrics::counter!("plugboard_chat_turns_total", "outcome" => outcome).increment(1);
        metrics::histogram!("plugboard_chat_turn_duration_seconds").record(started.elapsed().as_secs_f64());
        if let Some((id, text)) = self.open_reply.take()
            && let Err(error) = self.store().finish_message(&id, &text, None, MessageStatus::Partial).await
        {
            tracing::error!("cannot mark the cut-off reply {id} partial: {error}");
        }
        if let Err(error) = result {
            tracing::debug!(conversation = %conversation_id, code = %error.code, "turn failed: {}", error.message);
            // The client may be gone; nothing else to do then.
            let _ = self.events.send(TurnEvent::Error { code: error.code, message: error.message }).await;
        }
    }

    fn store(&self) -> &dyn Store {
        self.engine.inner.store.as_ref()
    }

    async fn send(&self, event: TurnEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    async fn run_inner(&mut self, request: TurnRequest) -> Result<(), PipelineError> {
        let inner = &self.engine.inner;
        let TurnRequest { user, conversation, content, model } = request;
        if content.trim().is_empty() {
            return Err(PipelineError::new("empty_message", "the message is empty; write something"));
        }
        if content.len() > inner.config.max_message_bytes {
            return Err(PipelineError::new(
                "message_too_large",
                format!("the message is {} bytes; the limit is {}", content.len(), inner.config.max_message_bytes),
            ));
        }
        let choice = PluginChoice::of(&conversation);
        let all_plugins = inner.registry.runtime().plugins();
        let filters: Vec<Plugin> =
            all_plugins.iter().filter(|p| !choice.disabled_filters.contains(p.id().as_str())).cloned().collect();
        let context = CallContext {
            conversation_id: conversation.id.clone(),
            user_id: user.id.clone(),
            model: model.clone().unwrap_or_default(),
            request_id: format!("turn-{}", conversation.id),
        };

        // Hooks that may rewrite or refuse the message, then the prompt filters.
        let draft = plugboard_host::api::Message {
            id: String::new(),
            conversation_id: conversation.id.clone(),
            role: ApiRole::User,
            author: format!("user:{}", user.id),
            content: content.clone(),
            created_at_ms: 0,
        };
        let posted = run_text_filters(&filters, &TextFilter::MessageWillBePosted(draft), &context, &content).await;
        self.trace.filters("message-will-be-posted", &posted.steps);
        if let Some(rejection) = posted.rejection {
            return Err(PipelineError::refused("message_rejected", "message", &rejection));
        }
        // `/run` and plugin slash commands are for plugins, not the model: they are
        // recognised before the prompt filters (which prepare text for the model) and
        // skip them.
        let command = find_command(&all_plugins, &posted.text)?;
        let prompt_text = if command.is_some() {
            posted.text.clone()
        } else {
            let prompt = run_text_filters(&filters, &TextFilter::BeforePrompt, &context, &posted.text).await;
            self.trace.filters("before-prompt", &prompt.steps);
            if let Some(rejection) = prompt.rejection {
                return Err(PipelineError::refused("prompt_rejected", "prompt", &rejection));
            }
            prompt.text
        };

        let user_message = self
            .store()
            .add_message(&NewMessage {
                conversation_id: conversation.id.clone(),
                role: Role::User,
                author: format!("user:{}", user.id),
                content: prompt_text.clone(),
                data: if command.is_some() {
                    // Commands skip the prompt filters, so they never go to the model.
                    Some(json!({"command": true}))
                } else {
                    (prompt_text != content).then(|| json!({"original": content}))
                },
                status: MessageStatus::Complete,
            })
            .await?;
        self.engine.fire(context.clone(), Event::MessageReceived(api_message(&user_message)));
        if !self.send(TurnEvent::Message { message: user_message.clone() }).await {
            return Ok(());
        }

        if let Some(command) = command {
            let (author, reply) = self.run_command(command, &context).await?;
            let reply_message = self
                .store()
                .add_message(&NewMessage {
                    conversation_id: conversation.id.clone(),
                    role: Role::Assistant,
                    author,
                    content: reply.clone(),
                    data: Some(json!({"command": true})),
                    status: MessageStatus::Complete,
                })
                .await?;
            self.send(TurnEvent::Delta { text: reply }).await;
            return self.finish(&context, &user_message, &reply_message, String::new(), Usage::default()).await;
        }

        let tools = self.tools(&all_plugins, &choice);
        let (provider, local_model) = inner
            .models
            .read()
            .await
            .resolve(model.as_deref())
            .await
            .map_err(|error| PipelineError::new(error.code(), error.to_string()))?;
        let model_id = format!("{}/{local_model}", provider.id());
        let context = CallContext { model: model_id.clone(), ..context };
        let mut history = self.history(&conversation.id).await?;
        let mut usage = Usage::default();
        // One stored row per model step: a step that calls tools is stored with its calls,
        // before their results, and the next step opens a new row.
        let mut reply = self.open_reply_row(&conversation.id).await?;
        let mut text = String::new();
        let steps = inner.config.max_tool_steps.max(1);
        for step in 0..steps {
            let last_step = step + 1 == steps;
            let request = CompletionRequest {
                model: local_model.clone(),
                messages: history.clone(),
                // The last step offers no tools, so the model has to answer.
                tools: if last_step { Vec::new() } else { tools.values().map(|t| t.0.clone()).collect() },
                temperature: None,
                top_p: None,
                max_tokens: None,
            };
            let (sink, mut chunks) = mpsc::channel(64);
            let provider = provider.clone();
            let started = Instant::now();
            let completion = tokio::spawn(async move { provider.complete(request, sink).await });
            text.clear();
            let mut client_gone = false;
            let mut saved = Instant::now();
            while let Some(chunk) = chunks.recv().await {
                if let CompletionChunk::Delta(delta) = chunk {
                    let filtered = run_stream_filters(&filters, &context, &delta).await;
                    text.push_str(&filtered);
                    if let Some((_, so_far)) = &mut self.open_reply {
                        so_far.push_str(&filtered);
                    }
                    if !self.send(TurnEvent::Delta { text: filtered }).await {
                        client_gone = true;
                        break;
                    }
                    // Keep what was streamed so far, so a crash loses at most this interval.
                    if saved.elapsed() >= SAVE_INTERVAL {
                        self.store().finish_message(&reply.id, &text, None, MessageStatus::Streaming).await?;
                        saved = Instant::now();
                    }
                }
            }
            if client_gone {
                completion.abort();
                self.trace.push(json!({"stage": "model", "model": model_id, "cancelled": true}));
                self.close_reply(&reply.id, &text, None, MessageStatus::Partial).await?;
                self.save_trace(&reply).await;
                return Ok(());
            }
            let completion = match completion.await {
                Ok(Ok(completion)) => completion,
                Ok(Err(error)) => return Err(PipelineError::new(error.code(), error.to_string())),
                Err(join) => return Err(PipelineError::new("model_failed", format!("the model task failed: {join}"))),
            };
            usage.prompt_tokens += completion.usage.prompt_tokens;
            usage.completion_tokens += completion.usage.completion_tokens;
            let mut step = json!({"stage": "model", "model": model_id, "elapsed_us": started.elapsed().as_micros() as u64,
                                  "tool_calls": completion.tool_calls.len()});
            if !completion.notices.is_empty() {
                step["notices"] = json!(completion.notices);
            }
            self.trace.push(step);
            if completion.tool_calls.is_empty() || last_step {
                if !completion.tool_calls.is_empty() {
                    self.trace.push(json!({"stage": "model", "ignored_tool_calls": completion.tool_calls.len(),
                                           "reason": "the tool step limit was reached"}));
                }
                break;
            }
            let calls = json!({"tool_calls": completion.tool_calls});
            self.close_reply(&reply.id, &text, Some(&calls), MessageStatus::Complete).await?;
            history.push(CompletionMessage {
                role: ApiRole::Assistant,
                content: text.clone(),
                tool_calls: completion.tool_calls.clone(),
                tool_call_id: String::new(),
            });
            for call in completion.tool_calls {
                let result = self.call_tool(&tools, &context, &conversation.id, &call).await?;
                history.push(CompletionMessage {
                    role: ApiRole::Tool,
                    content: result,
                    tool_calls: Vec::new(),
                    tool_call_id: call.id.clone(),
                });
            }
            reply = self.open_reply_row(&conversation.id).await?;
        }

        // After-response filters see the whole reply; the client is told when it changed.
        let after = run_text_filters(&filters, &TextFilter::AfterResponse, &context, &text).await;
        self.trace.filters("after-response", &after.steps);
        let final_text = match after.rejection {
            Some(rejection) => format!("[reply withheld by plugin `{}`: {}]", rejection.plugin, rejection.reason),
            None => after.text,
        };
        let data = (final_text != text).then(|| json!({"streamed": text}));
        let reply =
            self.close_reply(&reply.id, &final_text, data.as_ref(), MessageStatus::Complete).await?.unwrap_or(reply);
        if final_text != text {
            self.send(TurnEvent::Replace { content: final_text }).await;
        }
        self.finish(&context, &user_message, &reply, model_id, usage).await
    }

    async fn finish(
        &mut self,
        context: &CallContext,
        user_message: &Message,
        reply: &Message,
        model: String,
        usage: Usage,
    ) -> Result<(), PipelineError> {
        self.save_trace(reply).await;
        self.engine.fire(context.clone(), Event::MessageSent(api_message(reply)));
        self.send(TurnEvent::Done {
            user_message_id: user_message.id.clone(),
            message_id: reply.id.clone(),
            model,
            usage,
        })
        .await;
        Ok(())
    }

    /// Stores an empty streaming reply row and remembers it as open.
    async fn open_reply_row(&mut self, conversation_id: &str) -> Result<Message, PipelineError> {
        let row = self
            .store()
            .add_message(&NewMessage {
                conversation_id: conversation_id.to_owned(),
                role: Role::Assistant,
                author: "assistant".to_owned(),
                content: String::new(),
                data: None,
                status: MessageStatus::Streaming,
            })
            .await?;
        self.open_reply = Some((row.id.clone(), String::new()));
        Ok(row)
    }

    /// Finishes the open reply row.
    async fn close_reply(
        &mut self,
        id: &str,
        content: &str,
        data: Option<&Value>,
        status: MessageStatus,
    ) -> Result<Option<Message>, PipelineError> {
        let closed = self.store().finish_message(id, content, data, status).await?;
        self.open_reply = None;
        Ok(closed)
    }

    async fn save_trace(&mut self, reply: &Message) {
        let trace = self.trace.take_json();
        if let Err(error) = self.store().add_trace(&reply.id, &reply.conversation_id, &trace).await {
            tracing::warn!("cannot store the plugin trace: {error}");
        }
    }

    /// The conversation so far as the model sees it: the system prompt, then every
    /// stored message (the last one is the user's new message).
    async fn history(&self, conversation_id: &str) -> Result<Vec<CompletionMessage>, PipelineError> {
        let mut history = vec![CompletionMessage {
            role: ApiRole::System,
            content: self.engine.inner.config.system_prompt.clone(),
            tool_calls: Vec::new(),
            tool_call_id: String::new(),
        }];
        for message in self.store().list_messages(conversation_id).await? {
            let command = message.data.as_ref().is_some_and(|data| data["command"] == true);
            if message.status == MessageStatus::Streaming || message.role == Role::System || command {
                continue;
            }
            let tool_calls: Vec<ToolCall> = message
                .data
                .as_ref()
                .and_then(|data| data.get("tool_calls"))
                .and_then(|calls| serde_json::from_value(calls.clone()).ok())
                .unwrap_or_default();
            let tool_call_id =
                message.data.as_ref().and_then(|data| data["tool_call_id"].as_str()).unwrap_or_default().to_owned();
            history.push(CompletionMessage {
                role: api_role(message.role),
                content: message.content,
                tool_calls,
                tool_call_id,
            });
        }
        Ok(pair_tool_messages(history))
    }

    /// The tools offered to the model: `<plugin>__<tool>` → (spec, plugin, tool name).
    fn tools(&self, plugins: &[Plugin], choice: &PluginChoice) -> BTreeMap<String, (ToolSpec, Plugin, String)> {
        let mut tools = BTreeMap::new();
        for plugin in plugins {
            if !plugin.implements(Hook::Tools)
                || !plugin.is_enabled()
                || choice.disabled_tools.contains(plugin.id().as_str())
            {
                continue;
            }
            for tool in plugin.tools() {
                let name = format!("{}__{}", plugin.id().as_str().replace('-', "_"), tool.name);
                let spec = ToolSpec { name: name.clone(), ..tool.clone() };
                tools.insert(name, (spec, plugin.clone(), tool.name));
            }
        }
        tools
    }

    /// Runs a tool call of the model, storing the call and its result.
    async fn call_tool(
        &mut self,
        tools: &BTreeMap<String, (ToolSpec, Plugin, String)>,
        context: &CallContext,
        conversation_id: &str,
        call: &ToolCall,
    ) -> Result<String, PipelineError> {
        let Some((_, plugin, tool)) = tools.get(&call.name) else {
            let message = format!("no tool `{}` is available", call.name);
            self.send(TurnEvent::ToolResult {
                id: call.id.clone(),
                plugin: String::new(),
                tool: call.name.clone(),
                content: message.clone(),
                is_error: true,
            })
            .await;
            return Ok(message);
        };
        let plugin_id = plugin.id().to_string();
        self.send(TurnEvent::ToolCall {
            id: call.id.clone(),
            plugin: plugin_id.clone(),
            tool: tool.clone(),
            arguments: call.arguments.clone(),
        })
        .await;
        let arguments: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
        let started = Instant::now();
        let (content, is_error) = match plugin.call_tool(context, tool, arguments).await {
            Ok(result) => (result, false),
            Err(error) => (error.to_string(), true),
        };
        self.trace.push(json!({"stage": "tool", "plugin": plugin_id, "tool": tool, "arguments": call.arguments,
                               "result": content, "is_error": is_error, "elapsed_us": started.elapsed().as_micros() as u64}));
        self.store()
            .add_message(&NewMessage {
                conversation_id: conversation_id.to_owned(),
                role: Role::Tool,
                author: format!("plugin:{plugin_id}"),
                content: content.clone(),
                data: Some(json!({"tool_call_id": call.id, "name": call.name, "is_error": is_error})),
                status: MessageStatus::Complete,
            })
            .await?;
        self.send(TurnEvent::ToolResult {
            id: call.id.clone(),
            plugin: plugin_id,
            tool: tool.clone(),
            content: content.clone(),
            is_error,
        })
        .await;
        Ok(content)
    }

    /// Runs a recognised command; returns the reply's author and text.
    async fn run_command(
        &mut self,
        command: DirectCommand,
        context: &CallContext,
    ) -> Result<(String, String), PipelineError> {
        let started = Instant::now();
        let (plugin, name, input) = match &command {
            DirectCommand::Help(text) => return Ok(("plugboard".to_owned(), text.clone())),
            DirectCommand::Run { plugin, input } => (plugin, "run", input.as_str()),
            DirectCommand::Slash { plugin, name, arguments } => (plugin, name.as_str(), arguments.as_str()),
        };
        let result = match &command {
            DirectCommand::Slash { .. } => plugin.run_command(context, name, input).await,
            _ => plugin.run_with_input(context, input).await,
        };
        let reply = result.map_err(|error| PipelineError::new(error.kind.code(), error.to_string()))?;
        self.trace.push(json!({"stage": "command", "plugin": plugin.id(), "command": name, "input": input,
                               "result": reply, "elapsed_us": started.elapsed().as_micros() as u64}));
        Ok((format!("plugin:{}", plugin.id()), reply))
    }
}

/// Delivers queued events in order: each to every enabled plugin with the event hook at
/// once, the next event when they are done.
async fn deliver_events(registry: Registry, mut queue: mpsc::Receiver<(CallContext, Event)>) {
    while let Some((context, event)) = queue.recv().await {
        deliver_event(&registry.runtime().plugins(), &context, &event).await;
    }
}

/// A message a plugin answers instead of the model.
enum DirectCommand {
    /// `/help`: the commands there are (answered by Plugboard itself).
    Help(String),
    /// `/run <plugin> <input>`: the plugin's first tool with `{"input": ...}`.
    Run { plugin: Plugin, input: String },
    /// `/<name> <arguments>`: a slash command a plugin declares.
    Slash { plugin: Plugin, name: String, arguments: String },
}

/// Recognises `/run <plugin> <input>` (an unknown plugin is an error naming the ones with
/// tools) and the enabled plugins' slash commands; anything else is for the model.
fn find_command(plugins: &[Plugin], text: &str) -> Result<Option<DirectCommand>, PipelineError> {
    let Some(command) = text.trim().strip_prefix('/') else { return Ok(None) };
    let (name, rest) = command.split_once(char::is_whitespace).unwrap_or((command, ""));
    if name == "help" {
        return Ok(Some(DirectCommand::Help(help_text(plugins))));
    }
    if name == "run" {
        let rest = rest.trim();
        let (plugin_id, input) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let plugin = plugins.iter().find(|plugin| plugin.id().as_str() == plugin_id).ok_or_else(|| {
            let available: Vec<String> = plugins
                .iter()
                .filter(|plugin| plugin.implements(Hook::Tools) && plugin.is_enabled())
                .map(|plugin| plugin.id().to_string())
                .collect();
            PipelineError::new(
                "unknown_plugin",
                format!(
                    "no plugin `{plugin_id}` to run; usage: /run <plugin> <input>; plugins with tools: {}",
                    available.join(", ")
                ),
            )
        })?;
        return Ok(Some(DirectCommand::Run { plugin: plugin.clone(), input: input.trim().to_owned() }));
    }
    let plugin = plugins.iter().find(|plugin| {
        plugin.is_enabled()
            && plugin.implements(Hook::Commands)
            && plugin.manifest().commands.iter().any(|command| command.name == name)
    });
    Ok(plugin.map(|plugin| DirectCommand::Slash {
        plugin: plugin.clone(),
        name: name.to_owned(),
        arguments: rest.trim().to_owned(),
    }))
}

/// Keeps the history valid for the chat-completions protocol after deletions or a cut-off
/// turn: a tool result stays only right after the call it answers, and an assistant
/// message keeps only the calls that have a result.
fn pair_tool_messages(history: Vec<CompletionMessage>) -> Vec<CompletionMessage> {
    let mut paired: Vec<CompletionMessage> = Vec::with_capacity(history.len());
    let mut index = 0;
    while index < history.len() {
        let message = &history[index];
        if message.role == ApiRole::Tool {
            // Not right after its call (that case is handled below): drop it.
            index += 1;
            continue;
        }
        if message.tool_calls.is_empty() {
            paired.push(message.clone());
            index += 1;
            continue;
        }
        let results: Vec<&CompletionMessage> =
            history[index + 1..].iter().take_while(|next| next.role == ApiRole::Tool).collect();
        let answered: Vec<ToolCall> = message
            .tool_calls
            .iter()
            .filter(|call| results.iter().any(|result| result.tool_call_id == call.id))
            .cloned()
            .collect();
        paired.push(CompletionMessage { tool_calls: answered.clone(), ..message.clone() });
        for result in &results {
            if answered.iter().any(|call| call.id == result.tool_call_id) {
                paired.push((*result).clone());
            }
        }
        index += 1 + results.len();
    }
    // An assistant message left with neither text nor calls says nothing.
    paired.retain(|message| {
        !(message.role == ApiRole::Assistant && message.content.is_empty() && message.tool_calls.is_empty())
    });
    paired
}

/// What `/help` answers: `/run`, then every enabled plugin's slash commands.
fn help_text(plugins: &[Plugin]) -> String {
    let with_tools: Vec<String> = plugins
        .iter()
        .filter(|plugin| plugin.implements(Hook::Tools) && plugin.is_enabled())
        .map(|plugin| plugin.id().to_string())
        .collect();
    let mut lines = vec![
        "Commands (answered by plugins, not the model):".to_owned(),
        format!(
            "/run <plugin> <input> — runs a plugin's tool directly (plugins with tools: {})",
            if with_tools.is_empty() { "none".to_owned() } else { with_tools.join(", ") }
        ),
    ];
    for plugin in plugins.iter().filter(|plugin| plugin.is_enabled() && plugin.implements(Hook::Commands)) {
        for command in &plugin.manifest().commands {
            let usage = if command.usage.is_empty() { format!("/{}", command.name) } else { command.usage.clone() };
            lines.push(format!("{usage} — {} ({})", command.description, plugin.id()));
        }
    }
    lines.push("/help — this list".to_owned());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use plugboard_host::api::{CompletionMessage, Role, ToolCall};

    use super::pair_tool_messages;

    fn message(role: Role, content: &str, calls: &[&str], answers: &str) -> CompletionMessage {
        CompletionMessage {
            role,
            content: content.into(),
            tool_calls: calls
                .iter()
                .map(|id| ToolCall { id: (*id).into(), name: "t".into(), arguments: "{}".into() })
                .collect(),
            tool_call_id: answers.into(),
        }
    }

    #[test]
    fn tool_results_stay_only_after_their_calls() {
        let history = vec![
            message(Role::User, "q", &[], ""),
            message(Role::Tool, "orphan", &[], "gone"),
            message(Role::Assistant, "", &["a", "b"], ""),
            message(Role::Tool, "result a", &[], "a"),
            message(Role::Assistant, "", &["c"], ""),
            message(Role::Assistant, "answer", &[], ""),
        ];
        let paired = pair_tool_messages(history);
        let shape: Vec<(Role, String, usize)> =
            paired.iter().map(|m| (m.role, m.content.clone(), m.tool_calls.len())).collect();
        assert_eq!(
            shape,
            [
                (Role::User, "q".to_owned(), 0),
                (Role::Assistant, String::new(), 1),
                (Role::Tool, "result a".to_owned(), 0),
                (Role::Assistant, "answer".to_owned(), 0),
            ]
        );
    }
}
