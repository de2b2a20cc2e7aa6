//! Stored rows to the vocabulary's types: the form plugins see conversations and messages in.

use plugboard_store::{Attachment, Conversation, Message, Role};
use plugboard_types::Role as ApiRole;

/// Converts a stored message to the form hooks see.
pub fn api_message(message: &Message) -> plugboard_types::Message {
    plugboard_types::Message {
        id: message.id.as_str().into(),
        conversation_id: message.conversation_id.as_str().into(),
        role: api_role(message.role),
        author: message.author.clone(),
        content: message.content.clone(),
        created_at_ms: u64::try_from(message.created_at_ms).unwrap_or(0),
    }
}

/// Converts a stored conversation to the form hooks see.
pub fn api_conversation(conversation: &Conversation) -> plugboard_types::Conversation {
    plugboard_types::Conversation {
        id: conversation.id.as_str().into(),
        title: conversation.title.clone(),
        user_id: conversation.user_id.as_str().into(),
        created_at_ms: u64::try_from(conversation.created_at_ms).unwrap_or(0),
    }
}

/// Describes a stored attachment (without its contents) as plugins' file events do.
pub fn api_file_info(attachment: &Attachment) -> plugboard_types::FileInfo {
    plugboard_types::FileInfo {
        id: attachment.id.clone(),
        conversation_id: attachment.conversation_id.as_str().into(),
        name: attachment.file_name.clone(),
        media_type: attachment.media_type.clone(),
        size: attachment.size,
    }
}

pub(crate) fn api_role(role: Role) -> ApiRole {
    match role {
        Role::System => ApiRole::System,
        Role::User => ApiRole::User,
        Role::Assistant => ApiRole::Assistant,
        Role::Tool => ApiRole::Tool,
    }
}
