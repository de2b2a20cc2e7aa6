//! Filter chains: the text of a turn passes through every enabled plugin that implements
//! a filter hook, in a deterministic order (priority, then plugin id). A failing filter is
//! skipped (fail open) or refuses the turn (fail closed), per plugin. Every step is
//! recorded for the plugin trace. Also event delivery, which picks its listeners the
//! same way.

use std::time::{Duration, Instant};

use plugboard_manifest::PluginId;
use serde::Serialize;

use crate::api::{CallContext, Event, FilterOutcome, Hook, Message};
use crate::plugin::{AbiContext, AbiEvent, Plugin};

/// Which text filter a chain runs.
#[derive(Debug, Clone)]
pub enum TextFilter {
    /// `before-prompt` on the user's prompt.
    BeforePrompt,
    /// `after-response` on the model's reply.
    AfterResponse,
    /// `message-will-be-posted` on this message (its content is the chain's text).
    MessageWillBePosted(Message),
}

impl TextFilter {
    /// The hook it calls.
    pub fn hook(&self) -> Hook {
        match self {
            TextFilter::BeforePrompt => Hook::BeforePrompt,
            TextFilter::AfterResponse => Hook::AfterResponse,
            TextFilter::MessageWillBePosted(_) => Hook::MessageWillBePosted,
        }
    }
}

/// What one filter did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum StepOutcome {
    /// Left the text as it was.
    Kept,
    /// Changed the text.
    Rewrote {
        /// The text before.
        before: String,
        /// The text after.
        after: String,
    },
    /// Refused the turn.
    Rejected {
        /// Its reason.
        reason: String,
    },
    /// Failed; skipped (fail open) or refused the turn (fail closed).
    Failed {
        /// The error.
        error: String,
        /// Whether the failure refused the turn.
        fail_closed: bool,
    },
}

/// One filter's step in a chain, for the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterStep {
    /// The plugin.
    pub plugin: PluginId,
    /// The hook.
    pub hook: Hook,
    /// What it did.
    #[serde(flatten)]
    pub outcome: StepOutcome,
    /// How long it took.
    #[serde(serialize_with = "as_micros", rename = "elapsed_us")]
    pub elapsed: Duration,
}

fn as_micros<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_micros() as u64)
}

/// A refused turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The plugin that refused.
    pub plugin: PluginId,
    /// Why, for the user.
    pub reason: String,
}

/// The end of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainResult {
    /// The text after every filter (the input when nothing changed it).
    pub text: String,
    /// Set when a filter refused the turn; `text` is then the text it refused.
    pub rejection: Option<Rejection>,
    /// Every step, in order.
    pub steps: Vec<FilterStep>,
}

/// The plugins of `plugins` that run for `hook`: enabled, implementing it, in order.
pub fn filter_order(plugins: &[Plugin], hook: Hook) -> Vec<Plugin> {
    let mut chain: Vec<Plugin> = plugins.iter().filter(|p| p.implements(hook) && p.is_enabled()).cloned().collect();
    chain.sort_by(|a, b| a.filter_order().cmp(&b.filter_order()));
    chain
}

/// Delivers `event` to every plugin of `plugins` that is enabled and receives it
/// ([`Plugin::receives`]), all at once. A failing
/// listener is a fault of that plugin, recorded by the runtime; events are notifications.
pub async fn deliver_event(plugins: &[Plugin], context: &CallContext, event: &Event) {
    let listeners: Vec<&Plugin> =
        plugins.iter().filter(|plugin| plugin.is_enabled() && plugin.receives(event)).collect();
    if listeners.is_empty() {
        return;
    }
    // Converted for the ABI once, not once per listener.
    let (abi_context, abi_event) = (AbiContext::new(context), AbiEvent::new(event.clone()));
    let calls = listeners.into_iter().map(|plugin| plugin.on_event_with(context, &abi_context, &abi_event));
    futures_util::future::join_all(calls).await;
}

/// Runs `text` through the `filter` hook of `plugins` in filter order.
pub async fn run_text_filters(
    plugins: &[Plugin],
    filter: &TextFilter,
    context: &CallContext,
    text: &str,
) -> ChainResult {
    let hook = filter.hook();
    let mut current = text.to_owned();
    let mut steps = Vec::new();
    let chain = filter_order(plugins, hook);
    if chain.is_empty() {
        return ChainResult { text: current, rejection: None, steps };
    }
    // Converted for the ABI once, not once per filter.
    let abi_context = AbiContext::new(context);
    for plugin in chain {
        let started = Instant::now();
        let result = match filter {
            TextFilter::BeforePrompt => plugin.before_prompt_with(context, &abi_context, &current).await,
            TextFilter::AfterResponse => plugin.after_response_with(context, &abi_context, &current).await,
            TextFilter::MessageWillBePosted(message) => {
                let message = Message { content: current.clone(), ..message.clone() };
                plugin.message_will_be_posted_with(context, &abi_context, message).await
            }
        };
        let elapsed = started.elapsed();
        let step = |outcome| FilterStep { plugin: plugin.id().clone(), hook, outcome, elapsed };
        match result {
            Ok(FilterOutcome::Keep) => steps.push(step(StepOutcome::Kept)),
            Ok(FilterOutcome::Rewrite(after)) if after == current => steps.push(step(StepOutcome::Kept)),
            Ok(FilterOutcome::Rewrite(after)) => {
                let before = std::mem::replace(&mut current, after.clone());
                steps.push(step(StepOutcome::Rewrote { before, after }));
            }
            Ok(FilterOutcome::Reject(reason)) => {
                steps.push(step(StepOutcome::Rejected { reason: reason.clone() }));
                let rejection = Some(Rejection { plugin: plugin.id().clone(), reason });
                return ChainResult { text: current, rejection, steps };
            }
            Err(error) => {
                let fail_closed = plugin.fails_closed();
                steps.push(step(StepOutcome::Failed { error: error.to_string(), fail_closed }));
                if fail_closed {
                    let reason =
                        format!("the `{}` filter failed and is configured to fail closed: {}", plugin.id(), error.kind);
                    let rejection = Some(Rejection { plugin: plugin.id().clone(), reason });
                    return ChainResult { text: current, rejection, steps };
                }
            }
        }
    }
    ChainResult { text: current, rejection: None, steps }
}

/// Runs one streamed chunk through every stream filter. A failing stream filter is
/// skipped (a stream cannot be refused half-way; the after-response chain can still
/// refuse the whole reply).
pub async fn run_stream_filters(plugins: &[Plugin], context: &CallContext, chunk: &str) -> String {
    let mut current = chunk.to_owned();
    for plugin in filter_order(plugins, Hook::StreamChunk) {
        match plugin.stream_chunk(context, &current).await {
            Ok(text) => current = text,
            Err(error) => tracing::warn!(plugin = %plugin.id(), "stream filter skipped: {error}"),
        }
    }
    current
}
