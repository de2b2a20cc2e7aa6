//! [`ChatError`]: why a chat turn, a stateless completion or a plugin call made for a
//! person stopped early. One enum for all of them, each variant with a stable code; the
//! HTTP layer maps the variants to statuses in one place, so the same error reads the
//! same on every endpoint.

use plugboard_host::{CallError, Rejection};
use plugboard_types::ProviderError;
use serde::ser::SerializeStruct as _;

/// What a plugin refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The message (a will-be-posted hook).
    Message,
    /// The prompt (a before-prompt filter).
    Prompt,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Message => "message",
            Refused::Prompt => "prompt",
        })
    }
}

/// Why a turn (or a plugin call made for a person) stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// Nothing to send.
    #[error("the message is empty; write something")]
    EmptyMessage,
    /// Longer than the configured limit.
    #[error("the message is {bytes} bytes; the limit is {limit}")]
    MessageTooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Text a person sent holds U+0000 (NUL), which no store keeps.
    #[error(
        "the {field} holds a NUL character (U+0000), which cannot be stored; remove the NUL character (U+0000) and send it again"
    )]
    InvalidText {
        /// Which text ("message", "title").
        field: &'static str,
    },
    /// The store refused a value (text holding U+0000 that nothing removed before it
    /// reached PostgreSQL); the message says which and what to do.
    #[error("{0}")]
    InvalidInput(String),
    /// A plugin's filter refused it.
    #[error("plugin `{plugin}` refused the {what}: {reason}")]
    Refused {
        /// What was refused.
        what: Refused,
        /// The plugin.
        plugin: String,
        /// Its reason, for the user.
        reason: String,
    },
    /// `/run` named a plugin that is not loaded.
    #[error("no plugin `{plugin}` to run; usage: /run <plugin> <input>; plugins with tools: {}", .available.join(", "))]
    UnknownPlugin {
        /// Asked for.
        plugin: String,
        /// The plugins with tools.
        available: Vec<String>,
    },
    /// The model could not answer.
    #[error(transparent)]
    Model(#[from] ProviderError),
    /// A plugin call failed (a command, a tool run directly, an export).
    #[error(transparent)]
    Plugin(#[from] CallError),
    /// The client went away before the answer was complete.
    #[error("the client went away")]
    Cancelled,
    /// The database failed (the details are logged).
    #[error("the server could not store the conversation; try again")]
    Storage,
    /// Something that should not happen did.
    #[error("{0}")]
    Internal(String),
}

impl ChatError {
    /// A filter's refusal of `what`.
    pub fn refused(what: Refused, rejection: &Rejection) -> ChatError {
        ChatError::Refused { what, plugin: rejection.plugin.to_string(), reason: rejection.reason.clone() }
    }

    /// Every code [`ChatError::code`] gives (its own, the models' and the plugin calls'),
    /// for the API's documentation.
    pub fn codes() -> Vec<&'static str> {
        let own = [
            "empty_message",
            "message_too_large",
            "invalid_text",
            "invalid_input",
            "message_rejected",
            "prompt_rejected",
            "unknown_plugin",
            "cancelled",
            "storage",
            "internal",
        ];
        own.into_iter().chain(ProviderError::CODES).chain(plugboard_host::CallErrorKind::CODES).collect()
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::EmptyMessage => "empty_message",
            ChatError::MessageTooLarge { .. } => "message_too_large",
            ChatError::InvalidText { .. } => "invalid_text",
            ChatError::InvalidInput(_) => "invalid_input",
            ChatError::Refused { what: Refused::Message, .. } => "message_rejected",
            ChatError::Refused { what: Refused::Prompt, .. } => "prompt_rejected",
            ChatError::UnknownPlugin { .. } => "unknown_plugin",
            ChatError::Model(error) => error.code(),
            ChatError::Plugin(error) => error.kind.code(),
            ChatError::Cancelled => "cancelled",
            ChatError::Storage => "storage",
            ChatError::Internal(_) => "internal",
        }
    }
}

impl From<plugboard_store::StoreError> for ChatError {
    fn from(error: plugboard_store::StoreError) -> ChatError {
        match error {
            // What the store refuses to keep is the caller's to change, not a failure.
            plugboard_store::StoreError::InvalidInput { .. } => ChatError::InvalidInput(error.to_string()),
            error => {
                tracing::error!("storage failed during a chat turn: {error}");
                ChatError::Storage
            }
        }
    }
}

/// On the wire (a turn's `error` event): `{"code", "message"}`.
impl serde::Serialize for ChatError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut error = serializer.serialize_struct("ChatError", 2)?;
        error.serialize_field("code", self.code())?;
        error.serialize_field("message", &self.to_string())?;
        error.end()
    }
}

#[cfg(test)]
mod tests {
    use plugboard_host::CallErrorKind;
    use plugboard_types::ProviderError;

    use super::{ChatError, Refused};

    #[test]
    fn every_code_is_listed() {
        let codes = ChatError::codes();
        let errors = [
            ChatError::EmptyMessage,
            ChatError::MessageTooLarge { bytes: 2, limit: 1 },
            ChatError::InvalidText { field: "message" },
            ChatError::InvalidInput("x".into()),
            ChatError::Refused { what: Refused::Message, plugin: "p".into(), reason: "r".into() },
            ChatError::Refused { what: Refused::Prompt, plugin: "p".into(), reason: "r".into() },
            ChatError::UnknownPlugin { plugin: "p".into(), available: Vec::new() },
            ChatError::Cancelled,
            ChatError::Storage,
            ChatError::Internal("x".into()),
        ];
        for error in errors {
            assert!(codes.contains(&error.code()), "{} is not listed", error.code());
        }
        let provider = [
            ProviderError::Unreachable { url: String::new(), message: String::new() },
            ProviderError::Status { status: 500, message: String::new() },
            ProviderError::Protocol(String::new()),
            ProviderError::Timeout { seconds: 1 },
            ProviderError::UnknownModel { model: String::new(), available: Vec::new() },
            ProviderError::NoModel(String::new()),
            ProviderError::Plugin(String::new()),
            ProviderError::Busy(String::new()),
            ProviderError::ContextLength(String::new()),
            ProviderError::Failed(String::new()),
        ];
        for error in provider {
            assert!(codes.contains(&error.code()), "{} is not listed", error.code());
        }
        let calls = [CallErrorKind::NotImplemented, CallErrorKind::Disabled, CallErrorKind::Busy];
        for kind in calls {
            assert!(codes.contains(&kind.code()), "{} is not listed", kind.code());
        }
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "no code is listed twice");
    }
}
