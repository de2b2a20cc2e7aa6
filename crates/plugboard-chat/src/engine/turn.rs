//! One chat turn: will-be-posted hooks and prompt filters screen the message, the user's
//! message is stored, a command is answered by its plugin, or the model answers with the
//! conversation's history and the offered tools (a bounded function-calling loop, stream
//! filters on every chunk, one stored row per model step), after-response filters see the
//! whole reply, the reply is stored and message events fired, and the plugin trace kept.
//! Every row stored is told to the owner's open pages (the live feed) once it is final.
//! A tool call's policy is applied first (`approval`): refused, or paused for a person.

mod approval;

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard_host::{Plugin, TextFilter, run_stream_filters, run_text_filters};
use plugboard_store::{Message, MessageStatus, NewMessage, Role, Store};
use plugboard_types::{
    CallContext, CompletionChunk, CompletionMessage, CompletionRequest, Event, Provider, Role as ApiRole, ToolCall,
    Usage,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::commands::{DirectCommand, SourcedTool, find_command, run_command};
use super::history::history;
use super::{ChatEngine, PluginChoice, TurnEvent, TurnRequest};
use crate::convert::api_message;
use crate::error::{ChatError, Refused};
use crate::live::LiveEvent;
use crate::policy::ToolPolicies;
use crate::text::{check_text, without_nul};
use crate::tools::{OfferedTool, ToolPolicy, ToolSource};
use crate::trace::Trace;
use approval::Screening;

/// How often the text of a reply being streamed is written to the store.
const SAVE_INTERVAL: Duration = Duration::from_millis(500);

/// The longest a reply being streamed goes without being written, even when no text came
/// (a slow model, a long prompt): its row's touch time is its liveness, and a sweep on any
/// server marks a `streaming` row partial once it is older than
/// [`STREAMING_STALE_AFTER`](crate::STREAMING_STALE_AFTER), far above this.
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// Runs `request`, reporting on `events`; a failure ends with an `error` event, and a
/// reply row left open is kept as partial.
pub(super) async fn run(engine: &ChatEngine, events: &mpsc::Sender<TurnEvent>, request: TurnRequest) {
    let owner = request.user.id.clone();
    let conversation_id = request.conversation.id.clone();
    let mut turn = Turn {
        engine,
        events,
        owner,
        conversation_id: conversation_id.clone(),
        trace: Trace::default(),
        open_reply: None,
        detached: false,
    };
    let started = Instant::now();
    let result = turn.run(request).await;
    let outcome = match &result {
        Ok(()) => "ok",
        Err(error) => error.code(),
    };
    metrics::counter!("plugboard_chat_turns_total", "outcome" => outcome).increment(1);
    metrics::histogram!("plugboard_chat_turn_duration_seconds").record(started.elapsed().as_secs_f64());
    if let Some((id, text)) = turn.open_reply.take() {
        match turn.store().finish_message(&id, &text, None, MessageStatus::Partial).await {
            Ok(Some(partial)) => turn.posted(&partial),
            Ok(None) => {}
            Err(error) => tracing::error!("cannot mark the cut-off reply {id} partial: {error}"),
        }
    }
    if let Err(error) = result {
        tracing::debug!(conversation = %conversation_id, code = error.code(), "turn failed: {error}");
        // The client may be gone; nothing else to do then.
        let _ = events.send(TurnEvent::Error(error)).await;
    }
}

/// The state of one running turn.
struct Turn<'a> {
    engine: &'a ChatEngine,
    events: &'a mpsc::Sender<TurnEvent>,
    /// Who speaks: the conversation's owner, whose pages hear of each stored row.
    owner: String,
    /// The conversation.
    conversation_id: String,
    trace: Trace,
    /// The reply row being streamed and its text so far: on any error it is kept as
    /// `partial`, never left `streaming`.
    open_reply: Option<(String, String)>,
    /// The client went away while a tool call waited for approval: the turn goes on
    /// without it (the person may decide from another page), so a closed channel no
    /// longer stops the model.
    detached: bool,
}

/// What the screening filters left of a message.
struct Screened {
    /// The text to store (and send to the model).
    text: String,
    /// A command a plugin answers instead of the model.
    command: Option<DirectCommand>,
}

/// Why a model step ended.
enum StepEnd {
    /// The model answered (maybe asking for tools).
    Answered(plugboard_types::Completion),
    /// The client went away.
    ClientGone,
}

impl Turn<'_> {
    fn store(&self) -> &dyn Store {
        self.engine.inner.store.as_ref()
    }

    async fn send(&self, event: TurnEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// Tells the owner's open pages that `message` is stored as it will stay.
    fn posted(&self, message: &Message) {
        self.engine.publish(&self.owner, LiveEvent::MessagePosted { message: message.clone() });
    }

    async fn run(&mut self, request: TurnRequest) -> Result<(), ChatError> {
        let TurnRequest { user, conversation, content, model } = request;
        let limit = self.engine.inner.config.max_message_bytes;
        if content.trim().is_empty() {
            return Err(ChatError::EmptyMessage);
        }
        if content.len() > limit {
            return Err(ChatError::MessageTooLarge { bytes: content.len(), limit });
        }
        check_text("message", &content)?;
        let choice = PluginChoice::of(&conversation);
        let all_plugins = self.engine.inner.plugins.plugins();
        let filters: Vec<Plugin> =
            all_plugins.iter().filter(|p| !choice.disabled_filters.contains(p.id().as_str())).cloned().collect();
        let context = CallContext {
            conversation_id: conversation.id.as_str().into(),
            user_id: user.id.as_str().into(),
            model: model.clone().unwrap_or_default(),
            request_id: format!("turn-{}", conversation.id),
        };
        // The MCP servers' tools this conversation offers, for `/mcp`.
        let mcp_tools: Vec<SourcedTool> = self
            .engine
            .tool_sources()
            .iter()
            .flat_map(|source| source.tools(&choice).into_iter().map(|tool| (source.clone(), tool)))
            .filter(|(_, tool)| tool.source.starts_with("mcp:"))
            .collect();
        let mut screened = self.screen(&all_plugins, &mcp_tools, &filters, &context, &content).await?;
        // The person's text holds no NUL; a filter's rewrite might.
        screened.text = without_nul(screened.text);
        let user_message = self
            .store()
            .add_message(&NewMessage {
                conversation_id: conversation.id.clone(),
                role: Role::User,
                author: format!("user:{}", user.id),
                content: screened.text.clone(),
                data: if screened.command.is_some() {
                    // Commands skip the prompt filters, so they never go to the model.
                    Some(json!({"command": true}))
                } else {
                    (screened.text != content).then(|| json!({"original": content}))
                },
                status: MessageStatus::Complete,
            })
            .await?;
        self.engine.fire(context.clone(), Event::MessageReceived(api_message(&user_message)));
        self.posted(&user_message);
        if !self.send(TurnEvent::Message { message: user_message.clone() }).await {
            return Ok(());
        }
        match screened.command {
            Some(command) => self.answer_command(command, &choice, &context, &user_message).await,
            None => self.answer_with_model(&filters, &choice, context, &user_message, model.as_deref()).await,
        }
    }

    /// Will-be-posted hooks, then (unless it is a command) the prompt filters.
    async fn screen(
        &mut self,
        all_plugins: &[Plugin],
        mcp_tools: &[SourcedTool],
        filters: &[Plugin],
        context: &CallContext,
        content: &str,
    ) -> Result<Screened, ChatError> {
        let draft = plugboard_types::Message {
            id: Default::default(),
            conversation_id: context.conversation_id.clone(),
            role: ApiRole::User,
            author: format!("user:{}", context.user_id),
            content: content.to_owned(),
            created_at_ms: 0,
        };
        let posted = run_text_filters(filters, &TextFilter::MessageWillBePosted(draft), context, content).await;
        self.trace.filters("message-will-be-posted", &posted.steps);
        if let Some(rejection) = posted.rejection {
            return Err(ChatError::refused(Refused::Message, &rejection));
        }
        // `/run` and plugin slash commands are for plugins, not the model: they are
        // recognised before the prompt filters (which prepare text for the model) and
        // skip them.
        let command = find_command(all_plugins, mcp_tools, &posted.text)?;
        if command.is_some() {
            return Ok(Screened { text: posted.text, command });
        }
        let prompt = run_text_filters(filters, &TextFilter::BeforePrompt, context, &posted.text).await;
        self.trace.filters("before-prompt", &prompt.steps);
        if let Some(rejection) = prompt.rejection {
            return Err(ChatError::refused(Refused::Prompt, &rejection));
        }
        Ok(Screened { text: prompt.text, command: None })
    }

    async fn answer_command(
        &mut self,
        command: DirectCommand,
        choice: &PluginChoice,
        context: &CallContext,
        user_message: &Message,
    ) -> Result<(), ChatError> {
        let policy = match &command {
            DirectCommand::Tool { tool, .. } => self.engine.load_tool_policies().await?.decide(tool, choice).policy,
            _ => ToolPolicy::Auto,
        };
        let (author, reply) = run_command(command, context, policy, &mut self.trace).await?;
        let reply = without_nul(reply);
        let reply_message = self
            .store()
            .add_message(&NewMessage {
                conversation_id: user_message.conversation_id.clone(),
                role: Role::Assistant,
                author,
                content: reply.clone(),
                data: Some(json!({"command": true})),
                status: MessageStatus::Complete,
            })
            .await?;
        self.posted(&reply_message);
        self.send(TurnEvent::Delta { text: reply }).await;
        self.finish(context, user_message, reply_message, String::new(), Usage::default()).await
    }

    /// The model loop: each step streams a completion; a step that calls tools is stored
    /// with its calls, the tools run, and the next step sees their results. The last step
    /// offers no tools, so the model has to answer.
    async fn answer_with_model(
        &mut self,
        filters: &[Plugin],
        choice: &PluginChoice,
        context: CallContext,
        user_message: &Message,
        model: Option<&str>,
    ) -> Result<(), ChatError> {
        let inner = &self.engine.inner;
        let tools: Vec<(Arc<dyn ToolSource>, OfferedTool)> = inner
            .tools
            .iter()
            .flat_map(|source| source.tools(choice).into_iter().map(|tool| (source.clone(), tool)))
            .collect();
        let policies = if tools.is_empty() { Default::default() } else { self.engine.load_tool_policies().await? };
        let (provider, local_model) = inner.models.read().await.resolve(model).await?;
        let model_id = format!("{}/{local_model}", provider.id());
        let context = CallContext { model: model_id.clone(), ..context };
        let conversation_id = user_message.conversation_id.as_str();
        let mut history = history(self.store(), &inner.config.system_prompt, conversation_id).await?;
        let mut usage = Usage::default();
        // One stored row per model step: a step that calls tools is stored with its calls,
        // before their results, and the next step opens a new row.
        let mut reply = self.open_reply_row(conversation_id).await?;
        let mut text = String::new();
        let steps = inner.config.max_tool_steps.max(1);
        for step in 0..steps {
            let last_step = step + 1 == steps;
            let request = CompletionRequest {
                model: local_model.clone(),
                messages: history.clone(),
                tools: if last_step { Vec::new() } else { tools.iter().map(|(_, tool)| tool.spec.clone()).collect() },
                temperature: None,
                top_p: None,
                max_tokens: None,
            };
            let started = Instant::now();
            text.clear();
            let completion = match self.stream_step(&provider, request, filters, &context, &reply, &mut text).await? {
                StepEnd::Answered(completion) => completion,
                StepEnd::ClientGone => {
                    self.trace.push(json!({"stage": "model", "model": model_id, "cancelled": true}));
                    self.close_reply(&reply.id, &text, None, MessageStatus::Partial).await?;
                    self.save_trace(&reply).await;
                    return Ok(());
                }
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
                let called = ToolCallIn { policies: &policies, choice, message_id: &reply.id };
                let result = self.call_tool(&tools, &context, called, &call).await?;
                history.push(CompletionMessage {
                    role: ApiRole::Tool,
                    content: result,
                    tool_calls: Vec::new(),
                    tool_call_id: call.id.clone(),
                });
            }
            reply = self.open_reply_row(conversation_id).await?;
        }

        // After-response filters see the whole reply; the client is told when it changed.
        let after = run_text_filters(filters, &TextFilter::AfterResponse, &context, &text).await;
        self.trace.filters("after-response", &after.steps);
        let final_text = without_nul(match after.rejection {
            Some(rejection) => format!("[reply withheld by plugin `{}`: {}]", rejection.plugin, rejection.reason),
            None => after.text,
        });
        let data = (final_text != text).then(|| json!({"streamed": text}));
        let reply =
            self.close_reply(&reply.id, &final_text, data.as_ref(), MessageStatus::Complete).await?.unwrap_or(reply);
        if final_text != text {
            self.send(TurnEvent::Replace { content: final_text }).await;
        }
        self.finish(&context, user_message, reply, model_id, usage).await
    }

    /// One model step: streams the completion through the stream filters to the client
    /// into `text`, saving the open row every [`SAVE_INTERVAL`].
    async fn stream_step(
        &mut self,
        provider: &Arc<dyn Provider>,
        request: CompletionRequest,
        filters: &[Plugin],
        context: &CallContext,
        reply: &Message,
        text: &mut String,
    ) -> Result<StepEnd, ChatError> {
        let (sink, mut chunks) = mpsc::channel(64);
        let provider = provider.clone();
        let completion = tokio::spawn(async move { provider.complete(request, sink).await });
        let mut saved = Instant::now();
        let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.reset();
        loop {
            let chunk = tokio::select! {
                chunk = chunks.recv() => chunk,
                // The client went away while the model was silent: stop now, not at the
                // next piece of text (at shutdown, the reply is kept before the exit).
                // A turn that went on without its client after an approval does not.
                () = self.events.closed(), if !self.detached => {
                    completion.abort();
                    return Ok(StepEnd::ClientGone);
                }
                _ = heartbeat.tick() => {
                    if saved.elapsed() >= HEARTBEAT_INTERVAL {
                        self.store().finish_message(&reply.id, text, None, MessageStatus::Streaming).await?;
                        saved = Instant::now();
                    }
                    continue;
                }
            };
            let Some(chunk) = chunk else { break };
            let CompletionChunk::Delta(delta) = chunk else { continue };
            // Removed here, so the client is sent the text that is stored.
            let filtered = without_nul(run_stream_filters(filters, context, &delta).await);
            text.push_str(&filtered);
            if let Some((_, so_far)) = &mut self.open_reply {
                so_far.push_str(&filtered);
            }
            if !self.send(TurnEvent::Delta { text: filtered }).await && !self.detached {
                completion.abort();
                return Ok(StepEnd::ClientGone);
            }
            // Keep what was streamed so far, so a crash loses at most this interval.
            if saved.elapsed() >= SAVE_INTERVAL {
                self.store().finish_message(&reply.id, text, None, MessageStatus::Streaming).await?;
                saved = Instant::now();
            }
        }
        match completion.await {
            Ok(result) => Ok(StepEnd::Answered(result?)),
            Err(join) => Err(ChatError::Internal(format!("the model task failed: {join}"))),
        }
    }

    async fn finish(
        &mut self,
        context: &CallContext,
        user_message: &Message,
        reply: Message,
        model: String,
        usage: Usage,
    ) -> Result<(), ChatError> {
        self.save_trace(&reply).await;
        self.engine.fire(context.clone(), Event::MessageSent(api_message(&reply)));
        self.send(TurnEvent::Done {
            user_message_id: user_message.id.clone(),
            message_id: reply.id.clone(),
            model,
            usage,
            reply,
        })
        .await;
        Ok(())
    }

    /// Stores an empty streaming reply row and remembers it as open.
    async fn open_reply_row(&mut self, conversation_id: &str) -> Result<Message, ChatError> {
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
    ) -> Result<Option<Message>, ChatError> {
        let closed = self.store().finish_message(id, content, data, status).await?;
        self.open_reply = None;
        if let Some(message) = &closed {
            self.posted(message);
        }
        Ok(closed)
    }

    async fn save_trace(&mut self, reply: &Message) {
        let trace = self.trace.take_json();
        if let Err(error) = self.store().add_trace(&reply.id, &reply.conversation_id, &trace).await {
            tracing::warn!("cannot store the plugin trace: {error}");
        }
    }

    /// Runs a tool call of the model after its policy (refused, or approved by a person),
    /// storing its result.
    async fn call_tool(
        &mut self,
        tools: &[(Arc<dyn ToolSource>, OfferedTool)],
        context: &CallContext,
        called: ToolCallIn<'_>,
        call: &ToolCall,
    ) -> Result<String, ChatError> {
        let Some((source_of_tool, offered)) = tools.iter().find(|(_, tool)| tool.spec.name == call.name) else {
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
        let source = offered.source.clone();
        self.send(TurnEvent::ToolCall {
            id: call.id.clone(),
            plugin: source.clone(),
            tool: offered.tool.clone(),
            arguments: call.arguments.clone(),
        })
        .await;
        let asked: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
        let decision = called.policies.decide(offered, called.choice);
        let arguments = match self.screen_call(offered, &decision, call, called.message_id, asked.clone()).await? {
            Screening::Run(arguments) => arguments,
            Screening::Refused(refusal) => return self.tool_result(call, offered, refusal, true).await,
        };
        // The model's text as it was, unless a person edited the arguments.
        let arguments_text = if arguments == asked { call.arguments.clone() } else { arguments.to_string() };
        let started = Instant::now();
        let (content, is_error) = match source_of_tool.call(offered, context, arguments).await {
            Ok(result) => (without_nul(result), false),
            Err(error) => (without_nul(error), true),
        };
        self.trace.push(json!({"stage": "tool", "plugin": source, "tool": offered.tool, "arguments": arguments_text,
                               "result": content, "is_error": is_error, "elapsed_us": started.elapsed().as_micros() as u64}));
        self.tool_result(call, offered, content, is_error).await
    }

    /// Stores the result of `call` (or why it did not run) and tells the client.
    async fn tool_result(
        &mut self,
        call: &ToolCall,
        offered: &OfferedTool,
        content: String,
        is_error: bool,
    ) -> Result<String, ChatError> {
        let source = offered.source.clone();
        let stored = self
            .store()
            .add_message(&NewMessage {
                conversation_id: self.conversation_id.clone(),
                role: Role::Tool,
                author: format!("plugin:{source}"),
                content: content.clone(),
                data: Some(json!({"tool_call_id": call.id, "name": call.name, "is_error": is_error})),
                status: MessageStatus::Complete,
            })
            .await?;
        self.posted(&stored);
        self.send(TurnEvent::ToolResult {
            id: call.id.clone(),
            plugin: source,
            tool: offered.tool.clone(),
            content: content.clone(),
            is_error,
        })
        .await;
        Ok(content)
    }
}

/// What a tool call is judged by: the administrators' policies as the turn read them, the
/// conversation's choice, and the message holding the call.
struct ToolCallIn<'a> {
    policies: &'a ToolPolicies,
    choice: &'a PluginChoice,
    message_id: &'a str,
}
