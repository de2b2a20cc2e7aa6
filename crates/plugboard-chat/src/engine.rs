//! The chat core's front: [`ChatEngine`] runs chat turns (`turn`: filters, the user's
//! message stored, commands (`commands`), the model with the conversation's history
//! (`history`) and the offered tools (a bounded function-calling loop), stream and
//! after-response filters, the reply stored, the trace kept), and tells plugins what
//! happens to conversations, messages and files (the event methods below), so the HTTP
//! layer never builds a plugin call context itself. The same methods tell the owner's
//! open pages through the live feed ([`ChatEngine::subscribe_live`]); messages plugins
//! post go through the same pipeline (`post`).
//!
//! A turn runs in its own task and reports through a channel; dropping the receiver (a
//! client that went away) stops generation, and the partial reply is stored as such.

mod accounts;
mod approval;
mod commands;
mod direct_tools;
mod history;
mod post;
mod sweep;
mod turn;

pub use approval::{ApprovalAnswer, ApprovalError, ToolPolicyOverview};
pub use direct_tools::ToolCallError;
pub(crate) use post::{MAX_POST_DEPTH, post_depth};
pub use sweep::STREAMING_STALE_AFTER;

use std::sync::{Arc, Weak};

use plugboard_host::{PluginSet, deliver_event};
use plugboard_manifest::PluginId;
use plugboard_store::{Attachment, Conversation, Message, Store, User};
use plugboard_types::{CallContext, Event, Usage};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};

use crate::choice::PluginChoice;
use crate::convert::{api_conversation, api_file_info, api_message};
use crate::error::ChatError;
use crate::live::{LiveEvent, LiveFeed};
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
    /// How long a tool call whose policy is `ask` waits for the person; undecided by
    /// then, it is denied (`expired`).
    pub approval_timeout: std::time::Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            system_prompt: "You are a helpful assistant. Answer clearly and concisely.".to_owned(),
            max_tool_steps: 5,
            max_message_bytes: 64 * 1024,
            approval_timeout: std::time::Duration::from_secs(5 * 60),
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
    /// A tool call waits for the person's approval (its policy is `ask`); decide it with
    /// `POST /api/tool-calls/{id}/approve` or `/deny`.
    ToolApproval {
        /// The approval's id.
        id: String,
        /// The call's id.
        call_id: String,
        /// The tool as the model named it.
        tool: String,
        /// Who offers it (a plugin id, or `mcp:<server>`).
        source: String,
        /// The model's arguments.
        arguments: serde_json::Value,
        /// Which policy asked.
        reason: String,
        /// Undecided by then (milliseconds since the Unix epoch), it is denied.
        expires_at_ms: i64,
    },
    /// The approval was decided; a `tool_result` follows (the tool's, or the refusal).
    ToolApprovalDecided {
        /// The approval's id.
        id: String,
        /// The call's id.
        call_id: String,
        /// The tool as the model named it.
        tool: String,
        /// `approved`, `denied` or `expired`.
        status: String,
        /// The arguments the person approved instead of the model's.
        arguments: Option<serde_json::Value>,
        /// Why the person denied it.
        reason: Option<String>,
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
    events: mpsc::Sender<QueuedEvent>,
    /// What changes in each person's conversations, for their open pages.
    live: LiveFeed,
    /// Every person's live events as they happen here, for other servers sharing the
    /// database ([`ChatEngine::live_changes`]).
    live_changes: broadcast::Sender<(String, LiveEvent)>,
    /// Wakes the account event relay (`accounts.rs`).
    account_changes: Arc<tokio::sync::Notify>,
    /// How many turns are running, for [`ChatEngine::turns_finished`].
    running_turns: Arc<watch::Sender<usize>>,
    /// Tool policies cached, and the turns waiting here for approvals.
    approvals: approval::Approvals,
}

/// An event waiting for delivery to plugins.
#[derive(Debug)]
struct QueuedEvent {
    context: CallContext,
    event: Event,
    /// The post depth its listeners run at (`post`): one more than that of the plugin
    /// whose action caused it, 0 for a person's.
    depth: u8,
    /// The plugin whose action caused it, not told of it.
    author: Option<PluginId>,
}

/// The engine held without keeping it alive: for the plugins' chat service, which the
/// engine's own plugins hold (a strong reference would be a cycle), and for tasks that
/// should end with the engine.
#[derive(Debug, Clone, Default)]
pub struct WeakEngine(Weak<EngineInner>);

impl WeakEngine {
    /// The engine, unless it was dropped.
    pub fn upgrade(&self) -> Option<ChatEngine> {
        self.0.upgrade().map(|inner| ChatEngine { inner })
    }
}

/// Events waiting for delivery at most; past that, new ones are dropped (and logged).
const EVENT_QUEUE: usize = 4096;

/// Live events the relay to other servers may fall behind by.
const LIVE_CHANGES_BACKLOG: usize = 1024;

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
        let live = LiveFeed::default();
        let live_changes = broadcast::channel(LIVE_CHANGES_BACKLOG).0;
        let account_changes = Arc::default();
        ChatEngine {
            inner: Arc::new(EngineInner {
                plugins,
                tools,
                store,
                models,
                config,
                events,
                live,
                live_changes,
                account_changes,
                running_turns: Arc::new(watch::Sender::new(0)),
                approvals: approval::Approvals::default(),
            }),
        }
    }

    /// A handle that does not keep the engine alive.
    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    /// The largest message a user may post or edit it to, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.inner.config.max_message_bytes
    }

    /// The plugins the engine works with.
    pub fn plugin_set(&self) -> &Arc<dyn PluginSet> {
        &self.inner.plugins
    }

    /// Every source of tools offered to the model, the plugins' first.
    pub(crate) fn tool_sources(&self) -> &[Arc<dyn ToolSource>] {
        &self.inner.tools
    }

    /// Model calls in one turn at most.
    pub(crate) fn max_tool_steps(&self) -> usize {
        self.inner.config.max_tool_steps.max(1)
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
        self.queue(QueuedEvent { context, event, depth: post::post_depth(), author: None });
    }

    /// [`ChatEngine::fire`] for what `plugin` did: it is not told, and the listeners run
    /// one post level deeper.
    pub(crate) fn fire_for_plugin(&self, plugin: &PluginId, context: CallContext, event: Event) {
        let depth = post::post_depth().saturating_add(1);
        self.queue(QueuedEvent { context, event, depth, author: Some(plugin.clone()) });
    }

    fn queue(&self, event: QueuedEvent) {
        if let Err(error) = self.inner.events.try_send(event) {
            tracing::warn!("plugin event queue is full; an event was dropped: {error}");
        }
    }

    /// Tells `user_id`'s open pages of `event`.
    pub(crate) fn publish(&self, user_id: &str, event: LiveEvent) {
        if self.inner.live_changes.receiver_count() > 0 {
            let _ = self.inner.live_changes.send((user_id.to_owned(), event.clone()));
        }
        self.inner.live.publish(user_id, event);
    }

    /// Every person's live events made on this server from now on, with whose they are:
    /// for passing on to the other servers sharing the database, whose open pages
    /// [`ChatEngine::relay_live`] tells.
    pub fn live_changes(&self) -> broadcast::Receiver<(String, LiveEvent)> {
        self.inner.live_changes.subscribe()
    }

    /// Whether `user_id` has open pages listening on this server.
    pub fn has_live_listeners(&self, user_id: &str) -> bool {
        self.inner.live.has_listeners(user_id)
    }

    /// Tells `user_id`'s open pages on this server of `event`, which happened on another
    /// server sharing the database (and is not passed on again).
    pub fn relay_live(&self, user_id: &str, event: LiveEvent) {
        self.inner.live.publish(user_id, event);
    }

    /// What changes in `user_id`'s conversations from now on: conversations created,
    /// changed and deleted, messages posted (by anyone: the person, the model, plugins),
    /// edited and deleted. Only that person's; a listener that falls behind by more than
    /// a few hundred events gets `Lagged` and should read the conversations again.
    pub fn subscribe_live(&self, user_id: &str) -> broadcast::Receiver<LiveEvent> {
        self.inner.live.subscribe(user_id)
    }

    /// Tells plugins `user` started `conversation`.
    pub fn conversation_started(&self, user: &User, conversation: &Conversation) {
        self.fire(context(&user.id, &conversation.id), Event::ConversationStarted(api_conversation(conversation)));
        self.publish(&user.id, LiveEvent::ConversationCreated { conversation: conversation.clone() });
    }

    /// Tells `user`'s pages that `conversation` was renamed or its plugin choice changed
    /// (plugins have no event for it).
    pub fn conversation_changed(&self, user: &User, conversation: &Conversation) {
        self.publish(&user.id, LiveEvent::ConversationChanged { conversation: conversation.clone() });
    }

    /// Tells plugins `user` deleted `conversation`.
    pub fn conversation_ended(&self, user: &User, conversation: &Conversation) {
        self.fire(context(&user.id, &conversation.id), Event::ConversationEnded(api_conversation(conversation)));
        self.publish(&user.id, LiveEvent::ConversationDeleted { conversation_id: conversation.id.clone() });
    }

    /// Tells plugins `user` edited `message`.
    pub fn message_edited(&self, user: &User, message: &Message) {
        self.fire(context(&user.id, &message.conversation_id), Event::MessageEdited(api_message(message)));
        self.publish(&user.id, LiveEvent::MessageEdited { message: message.clone() });
    }

    /// Tells plugins `user` deleted `message`.
    pub fn message_deleted(&self, user: &User, message: &Message) {
        self.fire(context(&user.id, &message.conversation_id), Event::MessageDeleted(api_message(message)));
        self.publish(
            &user.id,
            LiveEvent::MessageDeleted {
                message_id: message.id.clone(),
                conversation_id: message.conversation_id.clone(),
            },
        );
    }

    /// Tells the other plugins and `owner`'s pages that `plugin` created `conversation`
    /// for `owner`.
    pub(crate) fn conversation_started_by_plugin(&self, plugin: &PluginId, conversation: &Conversation) {
        let owner = &conversation.user_id;
        let event = Event::ConversationStarted(api_conversation(conversation));
        self.fire_for_plugin(plugin, context(owner, &conversation.id), event);
        self.publish(owner, LiveEvent::ConversationCreated { conversation: conversation.clone() });
    }

    /// Tells the other plugins and `owner`'s pages that `plugin` edited its `message`.
    pub(crate) fn message_edited_by_plugin(&self, plugin: &PluginId, owner: &str, message: &Message) {
        let event = Event::MessageEdited(api_message(message));
        self.fire_for_plugin(plugin, context(owner, &message.conversation_id), event);
        self.publish(owner, LiveEvent::MessageEdited { message: message.clone() });
    }

    /// Tells the other plugins and `owner`'s pages that `plugin` deleted its `message`.
    pub(crate) fn message_deleted_by_plugin(&self, plugin: &PluginId, owner: &str, message: &Message) {
        let event = Event::MessageDeleted(api_message(message));
        self.fire_for_plugin(plugin, context(owner, &message.conversation_id), event);
        self.publish(
            owner,
            LiveEvent::MessageDeleted {
                message_id: message.id.clone(),
                conversation_id: message.conversation_id.clone(),
            },
        );
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
        let running = RunningTurn::new(&self.inner.running_turns);
        tokio::spawn(async move {
            turn::run(&engine, &events, request).await;
            drop(running);
        });
        receiver
    }

    /// Waits until no turn is running: at shutdown, after the connections have closed (so
    /// every turn whose client is gone is stopping), for the turns to store their replies,
    /// cut-off ones as `partial`, before the process exits.
    pub async fn turns_finished(&self) {
        let mut running = self.inner.running_turns.subscribe();
        // An error means the sender is gone, so no turn can be running.
        let _ = running.wait_for(|count| *count == 0).await;
    }
}

/// Counts one running turn until dropped (also when the turn's task panics).
struct RunningTurn(Arc<watch::Sender<usize>>);

impl RunningTurn {
    fn new(counter: &Arc<watch::Sender<usize>>) -> RunningTurn {
        counter.send_modify(|count| *count += 1);
        RunningTurn(Arc::clone(counter))
    }
}

impl Drop for RunningTurn {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count = count.saturating_sub(1));
    }
}

/// Delivers queued events in order: each to every enabled plugin with the event hook at
/// once (but the plugin that caused it), the next event when they are done.
async fn deliver_events(plugins: Arc<dyn PluginSet>, mut queue: mpsc::Receiver<QueuedEvent>) {
    while let Some(QueuedEvent { context, event, depth, author }) = queue.recv().await {
        let mut listeners = plugins.plugins();
        if let Some(author) = &author {
            listeners.retain(|plugin| plugin.id() != author);
        }
        post::at_post_depth(depth, deliver_event(&listeners, &context, &event)).await;
    }
}
