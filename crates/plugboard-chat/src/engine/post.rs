//! Messages plugins post (the `chat` service's `post-message`: a webhook's announcement, a
//! scheduled digest, a command's answer posted later): they go through the other plugins'
//! `message-will-be-posted` hooks like a person's message, are stored with their plugin
//! trace, fire `message-sent`, and reach the owner's open pages through the live feed.
//!
//! Two rules keep plugins reacting to each other's posts from running without end:
//! - a plugin's own post skips its own `message-will-be-posted` hook and it is not told
//!   the events of its own post (so a plugin that posts when it hears `message-sent`
//!   never hears itself);
//! - a post made while a plugin reacts to another plugin's post (in its will-be-posted
//!   hook, or in an event of that post) is one level deeper; at [`MAX_POST_DEPTH`] a post
//!   is refused. The depth travels with the task running the reacting hook.

use plugboard_host::{Plugin, TextFilter, run_text_filters};
use plugboard_manifest::PluginId;
use plugboard_store::{Conversation, Message, MessageStatus, NewMessage, Role};
use plugboard_types::{CallContext, Event, Role as ApiRole};
use serde_json::json;

use super::ChatEngine;
use crate::choice::PluginChoice;
use crate::convert::api_message;
use crate::error::{ChatError, Refused};
use crate::live::LiveEvent;
use crate::text::without_nul;
use crate::trace::Trace;

/// How deep plugin posts may react to plugin posts: a post at this depth (the fourth of
/// a chain, each made in reaction to the one before) is refused.
pub(crate) const MAX_POST_DEPTH: u8 = 3;

tokio::task_local! {
    /// How many plugin posts the code running now reacts to, one inside the other.
    static POST_DEPTH: u8;
}

/// The post depth of the code running now (0 outside any reaction to a plugin's post).
pub(crate) fn post_depth() -> u8 {
    POST_DEPTH.try_with(|depth| *depth).unwrap_or(0)
}

/// Runs `future` at post depth `depth`.
pub(crate) async fn at_post_depth<T>(depth: u8, future: impl std::future::Future<Output = T>) -> T {
    POST_DEPTH.scope(depth, future).await
}

impl ChatEngine {
    /// Posts `content` into `conversation` as plugin `plugin`'s message: the other
    /// enabled plugins' will-be-posted hooks (less those the conversation switched off)
    /// may rewrite or refuse it, then it is stored (with the original text when it was
    /// rewritten, and its trace), `message-sent` fires for the other plugins, and the
    /// conversation's owner's pages hear of it. The caller checked that the plugin may
    /// post there.
    pub(crate) async fn post_for_plugin(
        &self,
        plugin: &PluginId,
        conversation: &Conversation,
        content: &str,
    ) -> Result<Message, ChatError> {
        let depth = post_depth();
        let choice = PluginChoice::of(conversation);
        let others: Vec<Plugin> = self
            .inner
            .plugins
            .plugins()
            .into_iter()
            .filter(|other| other.id() != plugin && !choice.disabled_filters.contains(other.id().as_str()))
            .collect();
        let context = CallContext {
            conversation_id: conversation.id.as_str().into(),
            user_id: conversation.user_id.as_str().into(),
            model: String::new(),
            request_id: format!("post-{}", conversation.id),
        };
        let author = format!("plugin:{plugin}");
        let draft = plugboard_types::Message {
            id: Default::default(),
            conversation_id: context.conversation_id.clone(),
            role: ApiRole::Assistant,
            author: author.clone(),
            content: content.to_owned(),
            created_at_ms: 0,
        };
        let filter = TextFilter::MessageWillBePosted(draft);
        let posted = at_post_depth(depth + 1, run_text_filters(&others, &filter, &context, content)).await;
        let mut trace = Trace::default();
        trace.filters("message-will-be-posted", &posted.steps);
        if let Some(rejection) = posted.rejection {
            tracing::info!(plugin = %plugin, by = %rejection.plugin, "a plugin's post was refused: {}", rejection.reason);
            return Err(ChatError::refused(Refused::Message, &rejection));
        }
        // A plugin's text: a NUL in it is removed, not refused (`crate::text`).
        let text = without_nul(posted.text);
        let message = self
            .inner
            .store
            .add_message(&NewMessage {
                conversation_id: conversation.id.clone(),
                role: Role::Assistant,
                author,
                content: text.clone(),
                data: (text != content).then(|| json!({"original": content})),
                status: MessageStatus::Complete,
            })
            .await?;
        if let Err(error) = self.inner.store.add_trace(&message.id, &conversation.id, &trace.take_json()).await {
            tracing::warn!("cannot store the plugin trace of a plugin's post: {error}");
        }
        self.fire_for_plugin(plugin, context, Event::MessageSent(api_message(&message)));
        self.publish(&conversation.user_id, LiveEvent::MessagePosted { message: message.clone() });
        Ok(message)
    }
}
