//! The live feed: what changes in a person's conversations (created, renamed, deleted;
//! a message posted, edited or deleted, by them, the model or a plugin), told to that
//! person's open pages. [`LiveFeed`] keeps one channel per person who listens, so an
//! event is only ever sent to its owner's listeners: nobody receives another person's.
//! Tool calls waiting for a person's approval, and their decisions, are told the same way.

use std::collections::HashMap;
use std::sync::Mutex;

use plugboard_store::{Conversation, Message, ToolApproval};
use serde::Serialize;
use tokio::sync::broadcast;

/// Events one listener may fall behind by before it is told it missed some.
const BACKLOG: usize = 256;

/// A change to one person's conversations, as their pages hear of it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A conversation was created (by the person, or a plugin for them).
    ConversationCreated {
        /// As stored.
        conversation: Conversation,
    },
    /// A conversation was renamed or its plugin choice changed.
    ConversationChanged {
        /// As stored now.
        conversation: Conversation,
    },
    /// A conversation was deleted with its messages.
    ConversationDeleted {
        /// Its id.
        conversation_id: String,
    },
    /// A message was stored: the person's, a reply, a tool's result, or a plugin's post.
    MessagePosted {
        /// As stored.
        message: Message,
    },
    /// A message was edited.
    MessageEdited {
        /// As stored now.
        message: Message,
    },
    /// A message was deleted.
    MessageDeleted {
        /// Its id.
        message_id: String,
        /// Its conversation.
        conversation_id: String,
    },
    /// A tool call waits for the person's approval, or was decided (its `status`).
    ToolApproval {
        /// As stored now.
        approval: ToolApproval,
    },
}

impl LiveEvent {
    /// Its name on the wire (the server-sent event's `event:` field).
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::ConversationCreated { .. } => "conversation_created",
            LiveEvent::ConversationChanged { .. } => "conversation_changed",
            LiveEvent::ConversationDeleted { .. } => "conversation_deleted",
            LiveEvent::MessagePosted { .. } => "message_posted",
            LiveEvent::MessageEdited { .. } => "message_edited",
            LiveEvent::MessageDeleted { .. } => "message_deleted",
            LiveEvent::ToolApproval { .. } => "tool_approval",
        }
    }
}

/// One broadcast channel per person with a listener; a person nobody listens for costs
/// nothing, and their events are dropped at once.
#[derive(Debug, Default)]
pub(crate) struct LiveFeed {
    people: Mutex<HashMap<String, broadcast::Sender<LiveEvent>>>,
}

impl LiveFeed {
    fn people(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<LiveEvent>>> {
        // The map holds no invariant a panic could break halfway.
        self.people.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new listener for `user_id`'s events, from now on.
    pub(crate) fn subscribe(&self, user_id: &str) -> broadcast::Receiver<LiveEvent> {
        let mut people = self.people();
        // Channels whose listeners all left are dropped here and on publishing.
        people.retain(|_, sender| sender.receiver_count() > 0);
        people.entry(user_id.to_owned()).or_insert_with(|| broadcast::channel(BACKLOG).0).subscribe()
    }

    /// Whether anyone listens for `user_id`'s events.
    pub(crate) fn has_listeners(&self, user_id: &str) -> bool {
        self.people().get(user_id).is_some_and(|sender| sender.receiver_count() > 0)
    }

    /// Tells `user_id`'s listeners, if any, of `event`.
    pub(crate) fn publish(&self, user_id: &str, event: LiveEvent) {
        let mut people = self.people();
        let Some(sender) = people.get(user_id) else { return };
        if sender.send(event).is_err() {
            people.remove(user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LiveEvent, LiveFeed};

    fn deleted(id: &str) -> LiveEvent {
        LiveEvent::ConversationDeleted { conversation_id: id.to_owned() }
    }

    #[test]
    fn each_person_hears_only_their_own_events() {
        let feed = LiveFeed::default();
        let mut alice = feed.subscribe("alice");
        let mut bob = feed.subscribe("bob");
        feed.publish("alice", deleted("a1"));
        feed.publish("carol", deleted("c1"));
        feed.publish("bob", deleted("b1"));
        let LiveEvent::ConversationDeleted { conversation_id } = alice.try_recv().unwrap() else { panic!() };
        assert_eq!(conversation_id, "a1");
        assert!(alice.try_recv().is_err(), "alice hears nothing else");
        let LiveEvent::ConversationDeleted { conversation_id } = bob.try_recv().unwrap() else { panic!() };
        assert_eq!(conversation_id, "b1");
        assert!(bob.try_recv().is_err(), "bob hears nothing else");
    }

    #[test]
    fn a_person_without_listeners_is_forgotten() {
        let feed = LiveFeed::default();
        drop(feed.subscribe("alice"));
        feed.publish("alice", deleted("a1"));
        assert!(feed.people().is_empty());
        let mut again = feed.subscribe("alice");
        feed.publish("alice", deleted("a2"));
        assert!(again.try_recv().is_ok());
    }
}
