//! Host services, each behind the permission its module names.
//!
//! In a native build (a plugin's `cargo test`) there is no host: these calls go to the
//! fake host of [`crate::testing`], and without one installed they fail with an error
//! that says to install it.

use crate::HostError;
use crate::sys;

/// Writing to the server log (always allowed). Lines are tagged with the plugin id.
pub mod log {
    use super::sys::log_write as write;
    pub use crate::bindings::plugboard::plugin::log::Level;

    /// Logs at trace level.
    pub fn trace(message: &str) {
        write(Level::Trace, message)
    }
    /// Logs at debug level.
    pub fn debug(message: &str) {
        write(Level::Debug, message)
    }
    /// Logs at info level.
    pub fn info(message: &str) {
        write(Level::Info, message)
    }
    /// Logs at warn level.
    pub fn warn(message: &str) {
        write(Level::Warn, message)
    }
    /// Logs at error level.
    pub fn error(message: &str) {
        write(Level::Error, message)
    }
}

/// The plugin's private key-value store. Needs permission `kv`.
pub mod kv {
    use super::HostError;
    use super::sys as kv;
    use serde::{Serialize, de::DeserializeOwned};

    /// The value of `key`, if present and not expired.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
        kv::kv_get(key)
    }

    /// Stores `value` under `key`.
    pub fn set(key: &str, value: &[u8]) -> Result<(), HostError> {
        kv::kv_set(key, value, None)
    }

    /// Stores `value` under `key`, expiring after `ttl`.
    pub fn set_with_ttl(key: &str, value: &[u8], ttl: std::time::Duration) -> Result<(), HostError> {
        kv::kv_set(key, value, Some(ttl.as_millis() as u64))
    }

    /// Removes `key`; returns whether it existed.
    pub fn delete(key: &str) -> Result<bool, HostError> {
        kv::kv_delete(key)
    }

    /// Keys starting with `prefix`, in byte order, at most `limit`.
    pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, HostError> {
        kv::kv_list_keys(prefix, limit)
    }

    /// Replaces the value of `key` with `new` only if it is currently `expected`
    /// (`None`: absent). `new` of `None` deletes. Returns whether it swapped.
    pub fn compare_and_set(key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, HostError> {
        kv::kv_compare_and_set(key, expected, new, None)
    }

    /// The value of `key` decoded from JSON.
    pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, HostError> {
        match kv::kv_get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| HostError {
                kind: crate::ErrorKind::InvalidInput,
                message: format!("kv value of `{key}` is not the expected JSON: {error}"),
            }),
        }
    }

    /// Stores `value` as JSON under `key`.
    pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), HostError> {
        let bytes = serde_json::to_vec(value).map_err(|error| HostError {
            kind: crate::ErrorKind::InvalidInput,
            message: format!("cannot encode the value of `{key}` as JSON: {error}"),
        })?;
        kv::kv_set(key, &bytes, None)
    }
}

/// Conversations, messages, users and files. Each function needs the permission it names.
///
/// A call made for a user (its [`CallContext`](crate::CallContext) names one) sees only
/// that user's conversations, messages and files.
pub mod chat {
    use super::{HostError, sys};
    pub use crate::bindings::plugboard::plugin::chat::{File, User};
    use crate::{Conversation, Message};

    /// A conversation. Needs `channels.read`.
    pub fn get_conversation(id: &str) -> Result<Conversation, HostError> {
        sys::get_conversation(id)
    }

    /// Creates a conversation owned by `user_id`. Needs `channels.write`.
    pub fn create_conversation(user_id: &str, title: &str) -> Result<Conversation, HostError> {
        sys::create_conversation(user_id, title)
    }

    /// The newest `limit` messages of a conversation, oldest first. Needs `messages.read`.
    pub fn list_messages(conversation_id: &str, limit: u32) -> Result<Vec<Message>, HostError> {
        sys::list_messages(conversation_id, limit)
    }

    /// Posts a message authored by this plugin and returns it. Needs `messages.write`.
    pub fn post_message(conversation_id: &str, content: &str) -> Result<Message, HostError> {
        sys::post_message(conversation_id, content)
    }

    /// Replaces the content of one of this plugin's messages. Needs `messages.write`.
    pub fn edit_message(message_id: &str, content: &str) -> Result<Message, HostError> {
        sys::edit_message(message_id, content)
    }

    /// Deletes one of this plugin's messages. Needs `messages.write`.
    pub fn delete_message(message_id: &str) -> Result<(), HostError> {
        sys::delete_message(message_id)
    }

    /// A user. Needs `users.read`.
    pub fn get_user(id: &str) -> Result<User, HostError> {
        sys::get_user(id)
    }

    /// A file attachment. Needs `files.read`.
    pub fn read_file(id: &str) -> Result<File, HostError> {
        sys::read_file(id)
    }

    /// Attaches a file to a conversation and returns its id. Needs `files.write`.
    pub fn write_file(conversation_id: &str, name: &str, media_type: &str, data: &[u8]) -> Result<String, HostError> {
        sys::write_file(conversation_id, name, media_type, data)
    }
}

/// Outbound HTTP to the hosts in the manifest's `allowed_hosts`. Needs permission `network`.
pub mod http {
    use super::{HostError, sys};
    use crate::{HttpRequest, HttpResponse};

    /// Sends a request and waits for the whole response.
    pub fn fetch(request: &HttpRequest) -> Result<HttpResponse, HostError> {
        sys::http_fetch(request)
    }

    /// Sends a `GET` request to `url`.
    pub fn get(url: &str) -> Result<HttpResponse, HostError> {
        fetch(&HttpRequest { method: "GET".into(), uri: url.into(), headers: Vec::new(), body: Vec::new() })
    }

    /// Sends a `POST` request with a JSON body to `url`.
    pub fn post_json(url: &str, body: &serde_json::Value) -> Result<HttpResponse, HostError> {
        fetch(&HttpRequest {
            method: "POST".into(),
            uri: url.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }
}

/// The configured language model. Needs permission `ai`.
pub mod ai {
    use super::{HostError, sys};
    use crate::{Completion, CompletionMessage, CompletionRequest, Role};

    /// Runs a completion to the end.
    pub fn complete(request: &CompletionRequest) -> Result<Completion, HostError> {
        sys::ai_complete(request)
    }

    /// Asks the default model one question and returns its answer.
    pub fn ask(prompt: &str) -> Result<String, HostError> {
        let request = CompletionRequest {
            model: String::new(),
            messages: vec![CompletionMessage {
                role: Role::User,
                content: prompt.into(),
                tool_calls: Vec::new(),
                tool_call_id: String::new(),
            }],
            tools: Vec::new(),
            temperature: None,
            top_p: None,
            max_tokens: None,
        };
        Ok(complete(&request)?.content)
    }
}

/// Tools of other plugins. Only plugins listed in `[dependencies]` can be called.
pub mod plugins {
    use super::{HostError, sys};

    /// Calls `tool` of `plugin` with JSON `arguments`.
    pub fn call_tool(plugin: &str, tool: &str, arguments: &serde_json::Value) -> Result<String, HostError> {
        sys::plugins_call_tool(plugin, tool, &arguments.to_string())
    }
}

/// Streaming a completion from a provider plugin.
pub mod completion {
    use super::sys;
    use crate::{CompletionChunk, ToolCall};

    /// Sends a piece of text to the client. Returns false when the client has gone away.
    pub fn emit_text(text: &str) -> bool {
        sys::completion_emit(&CompletionChunk::Delta(text.into()))
    }

    /// Sends a tool call to the client. Returns false when the client has gone away.
    pub fn emit_tool_call(call: ToolCall) -> bool {
        sys::completion_emit(&CompletionChunk::ToolCall(call))
    }
}

/// Logs a formatted line at info level: `plugboard_sdk::info!("{} words", n)`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// Logs a formatted line at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// Logs a formatted line at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}
