//! The host functions of a native build: each goes to the [`FakeHost`](super::FakeHost)
//! installed on this thread, or fails saying to install one. Same names and signatures
//! as the WIT imports they stand for (see `crate::sys`).

use std::cell::RefCell;
use std::rc::Rc;

use super::state::State;
use crate::chat::{File, User};
use crate::log::Level;
use crate::{
    Completion, CompletionChunk, CompletionRequest, Conversation, ErrorKind, HostError, HttpRequest, HttpResponse,
    Message,
};

thread_local! {
    /// The fake host installed on this thread, if any.
    pub(crate) static CURRENT: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
}

/// What a host call says when no fake host is installed.
pub(crate) fn not_installed(call: &str) -> String {
    format!(
        "`plugboard_sdk::{call}` needs the Plugboard host, and this is a native build (a test) with no fake host \
         installed on this thread; install one at the start of the test: \
         `let host = plugboard_sdk::testing::FakeHost::new().install();` (see the `plugboard_sdk::testing` docs)"
    )
}

/// Runs `f` on the installed fake host's state, or fails as `call` with the error above.
fn with<T>(call: &str, f: impl FnOnce(&mut State) -> Result<T, HostError>) -> Result<T, HostError> {
    match CURRENT.with(|current| current.borrow().clone()) {
        Some(state) => f(&mut state.borrow_mut()),
        None => Err(HostError { kind: ErrorKind::Unavailable, message: not_installed(call) }),
    }
}

/// For the calls that cannot return an error: panics (an ordinary, unwinding panic that
/// fails the one test) when no fake host is installed.
fn infallible<T>(call: &str, f: impl FnOnce(&mut State) -> T) -> T {
    match CURRENT.with(|current| current.borrow().clone()) {
        Some(state) => f(&mut state.borrow_mut()),
        None => panic!("{}", not_installed(call)),
    }
}

pub(crate) fn log_write(level: Level, message: &str) {
    infallible("log", |state| state.log(level, message))
}

pub(crate) fn settings_get() -> String {
    infallible("Settings::current", |state| state.settings_json())
}

pub(crate) fn kv_get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    with("kv::get", |state| state.kv_get(key))
}

pub(crate) fn kv_set(key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), HostError> {
    with("kv::set", |state| state.kv_set(key, value, ttl_ms))
}

pub(crate) fn kv_delete(key: &str) -> Result<bool, HostError> {
    with("kv::delete", |state| state.kv_delete(key))
}

pub(crate) fn kv_list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, HostError> {
    with("kv::list_keys", |state| state.kv_list_keys(prefix, limit))
}

pub(crate) fn kv_compare_and_set(
    key: &str,
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
    ttl_ms: Option<u64>,
) -> Result<bool, HostError> {
    with("kv::compare_and_set", |state| state.kv_compare_and_set(key, expected, new, ttl_ms))
}

pub(crate) fn get_conversation(id: &str) -> Result<Conversation, HostError> {
    with("chat::get_conversation", |state| state.get_conversation(id))
}

pub(crate) fn create_conversation(user_id: &str, title: &str) -> Result<Conversation, HostError> {
    with("chat::create_conversation", |state| state.create_conversation(user_id, title))
}

pub(crate) fn list_messages(conversation_id: &str, limit: u32) -> Result<Vec<Message>, HostError> {
    with("chat::list_messages", |state| state.list_messages(conversation_id, limit))
}

pub(crate) fn post_message(conversation_id: &str, content: &str) -> Result<Message, HostError> {
    with("chat::post_message", |state| state.post_message(conversation_id, content))
}

pub(crate) fn edit_message(message_id: &str, content: &str) -> Result<Message, HostError> {
    with("chat::edit_message", |state| state.edit_message(message_id, content))
}

pub(crate) fn delete_message(message_id: &str) -> Result<(), HostError> {
    with("chat::delete_message", |state| state.delete_message(message_id))
}

pub(crate) fn get_user(id: &str) -> Result<User, HostError> {
    with("chat::get_user", |state| state.get_user(id))
}

pub(crate) fn read_file(id: &str) -> Result<File, HostError> {
    with("chat::read_file", |state| state.read_file(id))
}

pub(crate) fn write_file(
    conversation_id: &str,
    name: &str,
    media_type: &str,
    data: &[u8],
) -> Result<String, HostError> {
    with("chat::write_file", |state| state.write_file(conversation_id, name, media_type, data))
}

pub(crate) fn http_fetch(request: &HttpRequest) -> Result<HttpResponse, HostError> {
    with("http::fetch", |state| state.http_fetch(request))
}

pub(crate) fn ai_complete(request: &CompletionRequest) -> Result<Completion, HostError> {
    with("ai::complete", |state| state.ai_complete(request))
}

pub(crate) fn plugins_call_tool(plugin_id: &str, tool: &str, arguments: &str) -> Result<String, HostError> {
    with("plugins::call_tool", |state| state.call_tool(plugin_id, tool, arguments))
}

pub(crate) fn completion_emit(chunk: &CompletionChunk) -> bool {
    infallible("completion::emit_text", |state| state.emit(chunk))
}
