//! The chat core's front: [`ChatEngine`] runs chat turns (`turn`: filters, the user's
//! message stored, commands (`commands`), the model with the conversation's history
//! (`history`) and the offered tools (a bounded function-calling loop), stream and
//! after-response filters, the reply stored, the trace kept), and tells plugins what
//! happens to conversations, messages and files (the event methods below), so the HTTP
//! layer never builds a plugin call context itself.
//!
//! A turn runs in its own task and reports through a channel; dropping the receiver (a
//! client that went away) stops generation, and the partial reply is stored as such.

mod commands;
mod history;
mod turn;

use std::sync::Arc;

use plugboard_host::{PluginSet, deliver_event};
use plugboard_store::{Attachment, Conversation, Message, Store, User};
use plugboard_types::{CallContext, Event, Usage};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::choice::PluginChoice;
use crate::convert::{api_conversation, api_file_info, api_message};
use crate::error::ChatError;
use crate::provider::Models;
use crate::services::SharedModels;
use crate::tools::{PluginTools, ToolSource};

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
        /// The reply as stored (the client already has it from the deltas).
        #[serde(skip)]
        reply: Message,
    },
    /// The turn failed; nothing more follows. On the wire: `{"code", "message"}`.
    Error(ChatError),
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
    plugins: Arc<dyn PluginSet>,
    tools: Vec<Arc<dyn ToolSource>>,
    store: Arc<dyn Store>,
    models: SharedModels,
    config: EngineConfig,
    /// Events for plugins, delivered in order by one background task.
    events: mpsc::Sender<(CallContext, Event)>,
}

/// Events waiting for delivery at most; past that, new ones are dropped (and logged).
const EVENT_QUEUE: usize = 4096;

/// The context of a call made for `user` about a conversation.
fn context(user_id: &str, conversation_id: &str) -> CallContext {
    CallContext { conversation_id: conversation_id.into(), user_id: user_id.into(), ..CallContext::default() }
}

impl ChatEngine {
    /// An engine over `plugins` (their filters, commands and tools), the store and the
    /// model providers (shared with the plugins' `ai` service, [`crate::ModelsAi`]).
    pub fn new(
        plugins: Arc<dyn PluginSet>,
        store: Arc<dyn Store>,
        models: SharedModels,
        config: EngineConfig,
    ) -> ChatEngine {
        ChatEngine::with_tool_sources(plugins, store, models, config, Vec::new())
    }

    /// [`ChatEngine::new`] with more tool sources beside the plugins' tools.
    pub fn with_tool_sources(
        plugins: Arc<dyn PluginSet>,
        store: Arc<dyn Store>,
        models: SharedModels,
        config: EngineConfig,
        more_tools: Vec<Arc<dyn ToolSource>>,
    ) -> ChatEngine {
        let (events, queue) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(deliver_events(plugins.clone(), queue));
        let mut tools: Vec<Arc<dyn ToolSource>> = vec![Arc::new(PluginTools::new(plugins.clone()))];
        tools.extend(more_tools);
        ChatEngine { inner: Arc::new(EngineInner { plugins, tools, store, models, config, events }) }
    }

    /// The plugins the engine works with.
    pub fn plugin_set(&self) -> &Arc<dyn PluginSet> {
        &self.inner.plugins
    }

    /// The model providers.
    pub async fn models(&self) -> Models {
        self.inner.models.read().await.clone()
    }

    /// Replaces the model providers.
    pub async fn set_models(&self, models: Models) {
        *self.inner.models.write().await = models;
    }

    /// Fires `event` at every enabled plugin that implements the event hook. Events are
    /// notifications: they are queued and delivered in the order fired, by one background
    /// task, so a slow plugin delays no request.
    pub(crate) fn fire(&self, context: CallContext, event: Event) {
        if let Err(error) = self.inner.events.try_send((context, event)) {
            tracing::warn!("plugin event queue is full; an event was dropped: {error}");
        }
    }

    /// Tells plugins `user` started `conversation`.
    pub fn conversation_started(&self, user: &User, conversation: &Conversation) {
        self.fire(context(&user.id, &conversation.id), Event::ConversationStarted(api_conversation(conversation)));
    }

    /// Tells plugins `user` deleted `conversation`.
    pub fn conversation_ended(&self, user: &User, conversation: &Conversation) {
        self.fire(context(&user.id, &conversation.id), Event::ConversationEnded(api_conversation(conversation)));
    }

    /// Tells plugins `user` edited `message`.
    pub fn message_edited(&self, user: &User, message: &Message) {
        self.fire(context(&user.id, &message.conversation_id), Event::MessageEdited(api_message(message)));
    }

    /// Tells plugins `user` deleted `message`.
    pub fn message_deleted(&self, user: &User, message: &Message) {
        self.fire(context(&user.id, &message.conversation_id), Event::MessageDeleted(api_message(message)));
    }

    /// Tells plugins `user` attached `file`.
    pub fn file_attached(&self, user: &User, file: &Attachment) {
        self.fire(context(&user.id, &file.conversation_id), Event::FileAttached(api_file_info(file)));
    }

    /// Tells plugins `user` deleted the attachment `file`.
    pub fn file_deleted(&self, user: &User, file: &Attachment) {
        self.fire(context(&user.id, &file.conversation_id), Event::FileDeleted(api_file_info(file)));
    }

    /// Starts a turn in its own task; its events arrive on the returned channel. Dropping
    /// the receiver cancels the turn (a partial reply is stored as partial).
    pub fn start_turn(&self, request: TurnRequest) -> mpsc::Receiver<TurnEvent> {
        let (events, receiver) = mpsc::channel(64);
        let engine = self.clone();
        tokio::spawn(async move { turn::run(&engine, &events, request).await });
        receiver
    }
}

/// Delivers queued events in order: each to every enabled plugin with the event hook at
/// once, the next event when they are done.
async fn deliver_events(plugins: Arc<dyn PluginSet>, mut queue: mpsc::Receiver<(CallContext, Event)>) {
    while let Some((context, event)) = queue.recv().await {
        deliver_event(&plugins.plugins(), &context, &event).await;
    }
}
