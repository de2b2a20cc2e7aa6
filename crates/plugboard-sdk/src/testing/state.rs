//! The fake host's state and its services, behaving as the server's do: permissions
//! checked first, KV limits and expiry, chat data limited to the acting user, a plugin
//! editing only its own messages, outbound HTTP only to `allowed_hosts`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::network::{self, HostPattern};
use super::{LogLine, ToolCallRecord};
use crate::chat::{File, User};
use crate::log::Level;
use crate::{
    Completion, CompletionChunk, CompletionRequest, Conversation, ErrorKind, HostError, HttpRequest, HttpResponse,
    Message, Role,
};

/// The longest key, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 512;
/// The largest value, in bytes.
pub(crate) const MAX_VALUE_BYTES: usize = 1 << 20;
/// The most keys one `list_keys` returns.
const MAX_LIST_KEYS: u32 = 10_000;

#[derive(Debug, Clone)]
pub(crate) struct KvEntry {
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at_ms: Option<u64>,
}

/// Scripted answers for one URL (and method, when given).
#[derive(Debug)]
pub(crate) struct HttpScript {
    pub(crate) method: Option<String>,
    pub(crate) url: String,
    pub(crate) answers: VecDeque<Result<HttpResponse, HostError>>,
}

/// Everything the fake host knows and records.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) plugin_id: String,
    pub(crate) settings: serde_json::Map<String, serde_json::Value>,
    pub(crate) permissions: Option<BTreeSet<String>>,
    pub(crate) allowed_hosts: Vec<HostPattern>,
    pub(crate) now_ms: u64,
    pub(crate) acting_user: Option<String>,
    pub(crate) kv: BTreeMap<String, KvEntry>,
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) conversations: Vec<Conversation>,
    /// Every message, with whether it was deleted.
    pub(crate) messages: Vec<(Message, bool)>,
    pub(crate) files: Vec<File>,
    pub(crate) posted: Vec<Message>,
    pub(crate) http: Vec<HttpScript>,
    pub(crate) http_requests: Vec<HttpRequest>,
    pub(crate) ai_answers: VecDeque<Result<Completion, HostError>>,
    pub(crate) ai_requests: Vec<CompletionRequest>,
    pub(crate) tools: BTreeMap<(String, String), VecDeque<Result<String, String>>>,
    pub(crate) tool_calls: Vec<ToolCallRecord>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) emitted: Vec<CompletionChunk>,
    /// How many chunks the client takes before it goes away, if it does.
    pub(crate) client_takes: Option<usize>,
    pub(crate) next_id: u64,
}

impl Default for State {
    fn default() -> State {
        State {
            plugin_id: "plugin-under-test".into(),
            settings: serde_json::Map::new(),
            permissions: None,
            allowed_hosts: Vec::new(),
            // 2026-01-01T00:00:00Z: a fixed start, so tests see the same times every run.
            now_ms: 1_767_225_600_000,
            acting_user: None,
            kv: BTreeMap::new(),
            users: BTreeMap::new(),
            conversations: Vec::new(),
            messages: Vec::new(),
            files: Vec::new(),
            posted: Vec::new(),
            http: Vec::new(),
            http_requests: Vec::new(),
            ai_answers: VecDeque::new(),
            ai_requests: Vec::new(),
            tools: BTreeMap::new(),
            tool_calls: Vec::new(),
            logs: Vec::new(),
            emitted: Vec::new(),
            client_takes: None,
            next_id: 1,
        }
    }
}

fn error(kind: ErrorKind, message: impl Into<String>) -> HostError {
    HostError { kind, message: message.into() }
}

fn not_found(what: &str, id: &str) -> HostError {
    error(ErrorKind::NotFound, format!("no {what} `{id}`"))
}

/// The next scripted answer: answers are given in order, and the last one repeats.
fn next<T: Clone>(answers: &mut VecDeque<T>) -> Option<T> {
    if answers.len() > 1 { answers.pop_front() } else { answers.front().cloned() }
}

fn check_key(key: &str) -> Result<(), HostError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(error(
            ErrorKind::InvalidInput,
            format!("kv keys are 1 to {MAX_KEY_BYTES} bytes; this one is {}", key.len()),
        ));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), HostError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(error(
            ErrorKind::LimitExceeded,
            format!("kv values are at most {MAX_VALUE_BYTES} bytes; this one is {}", value.len()),
        ));
    }
    Ok(())
}

impl State {
    /// A fresh id such as `message-3`.
    pub(crate) fn new_id(&mut self, kind: &str) -> String {
        let id = format!("{kind}-{}", self.next_id);
        self.next_id += 1;
        id
    }

    fn require(&self, permission: &str) -> Result<(), HostError> {
        match &self.permissions {
            Some(granted) if !granted.contains(permission) => Err(error(
                ErrorKind::PermissionDenied,
                format!(
                    "plugin `{}` needs permission `{permission}` for this; add \"{permission}\" to `permissions` in plugin.toml",
                    self.plugin_id
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn log(&mut self, level: Level, message: &str) {
        // Shown with the test's output when it fails.
        eprintln!("[{} {level:?}] {message}", self.plugin_id);
        self.logs.push(LogLine { level, message: message.to_owned() });
    }

    pub(crate) fn settings_json(&self) -> String {
        serde_json::Value::Object(self.settings.clone()).to_string()
    }

    // KV

    /// The live entry of `key`, if present and not expired.
    pub(crate) fn kv_live(&self, key: &str) -> Option<&KvEntry> {
        self.kv.get(key).filter(|entry| entry.expires_at_ms.is_none_or(|at| at > self.now_ms))
    }

    fn expiry(&self, ttl_ms: Option<u64>) -> Option<u64> {
        ttl_ms.map(|ttl| self.now_ms.saturating_add(ttl))
    }

    pub(crate) fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.require("kv")?;
        check_key(key)?;
        Ok(self.kv_live(key).map(|entry| entry.value.clone()))
    }

    pub(crate) fn kv_set(&mut self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), HostError> {
        self.require("kv")?;
        check_key(key)?;
        check_value(value)?;
        let expires_at_ms = self.expiry(ttl_ms);
        self.kv.insert(key.to_owned(), KvEntry { value: value.to_vec(), expires_at_ms });
        Ok(())
    }

    pub(crate) fn kv_delete(&mut self, key: &str) -> Result<bool, HostError> {
        self.require("kv")?;
        check_key(key)?;
        let existed = self.kv_live(key).is_some();
        self.kv.remove(key);
        Ok(existed)
    }

    pub(crate) fn kv_list_keys(&self, prefix: &str, limit: u32) -> Result<Vec<String>, HostError> {
        self.require("kv")?;
        let limit = limit.min(MAX_LIST_KEYS) as usize;
        let live = self.kv.keys().filter(|key| key.starts_with(prefix) && self.kv_live(key).is_some());
        Ok(live.take(limit).cloned().collect())
    }

    pub(crate) fn kv_compare_and_set(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, HostError> {
        self.require("kv")?;
        check_key(key)?;
        if let Some(value) = new {
            check_value(value)?;
        }
        if self.kv_live(key).map(|entry| entry.value.as_slice()) != expected {
            return Ok(false);
        }
        match new {
            Some(value) => {
                let expires_at_ms = self.expiry(ttl_ms);
                self.kv.insert(key.to_owned(), KvEntry { value: value.to_vec(), expires_at_ms });
            }
            None => {
                self.kv.remove(key);
            }
        }
        Ok(true)
    }

    // Chat

    fn visible(&self, conversation: &Conversation) -> bool {
        self.acting_user.as_ref().is_none_or(|user| *user == conversation.user_id)
    }

    fn conversation(&self, id: &str) -> Result<&Conversation, HostError> {
        self.conversations
            .iter()
            .find(|conversation| conversation.id == id && self.visible(conversation))
            .ok_or_else(|| not_found("conversation", id))
    }

    /// The index of a live message the acting user may see.
    fn live_message(&self, id: &str) -> Result<usize, HostError> {
        let index = self
            .messages
            .iter()
            .position(|(message, deleted)| message.id == id && !deleted)
            .ok_or_else(|| not_found("message", id))?;
        self.conversation(&self.messages[index].0.conversation_id).map_err(|_| not_found("message", id))?;
        Ok(index)
    }

    fn own_message(&self, index: usize, verb: &str) -> Result<(), HostError> {
        let message = &self.messages[index].0;
        if message.author == format!("plugin:{}", self.plugin_id) {
            return Ok(());
        }
        Err(error(
            ErrorKind::PermissionDenied,
            format!(
                "plugin `{}` may {verb} only its own messages; `{}` is by {}",
                self.plugin_id, message.id, message.author
            ),
        ))
    }

    pub(crate) fn get_conversation(&self, id: &str) -> Result<Conversation, HostError> {
        self.require("channels.read")?;
        self.conversation(id).cloned()
    }

    pub(crate) fn create_conversation(&mut self, user_id: &str, title: &str) -> Result<Conversation, HostError> {
        self.require("channels.write")?;
        if self.acting_user.as_ref().is_some_and(|user| user != user_id) {
            return Err(error(
                ErrorKind::PermissionDenied,
                "a plugin acting for one user cannot create conversations for another",
            ));
        }
        if !self.users.contains_key(user_id) {
            return Err(not_found("user", user_id));
        }
        let conversation = Conversation {
            id: self.new_id("conversation"),
            title: title.to_owned(),
            user_id: user_id.to_owned(),
            created_at_ms: self.now_ms,
        };
        self.conversations.push(conversation.clone());
        Ok(conversation)
    }

    pub(crate) fn list_messages(&self, conversation_id: &str, limit: u32) -> Result<Vec<Message>, HostError> {
        self.require("messages.read")?;
        self.conversation(conversation_id)?;
        let live: Vec<&Message> = self
            .messages
            .iter()
            .filter(|(message, deleted)| message.conversation_id == conversation_id && !deleted)
            .map(|(message, _)| message)
            .collect();
        let skip = live.len().saturating_sub(limit.min(10_000) as usize);
        Ok(live.into_iter().skip(skip).cloned().collect())
    }

    /// Stores a message as the host would; `author` of `None` means this plugin.
    pub(crate) fn add_message(&mut self, conversation_id: &str, role: Role, author: &str, content: &str) -> Message {
        let message = Message {
            id: self.new_id("message"),
            conversation_id: conversation_id.to_owned(),
            role,
            author: author.to_owned(),
            content: content.to_owned(),
            created_at_ms: self.now_ms,
        };
        self.messages.push((message.clone(), false));
        message
    }

    pub(crate) fn post_message(&mut self, conversation_id: &str, content: &str) -> Result<Message, HostError> {
        self.require("messages.write")?;
        self.conversation(conversation_id)?;
        let author = format!("plugin:{}", self.plugin_id);
        let message = self.add_message(conversation_id, Role::Assistant, &author, content);
        self.posted.push(message.clone());
        Ok(message)
    }

    pub(crate) fn edit_message(&mut self, message_id: &str, content: &str) -> Result<Message, HostError> {
        self.require("messages.write")?;
        let index = self.live_message(message_id)?;
        self.own_message(index, "edit")?;
        content.clone_into(&mut self.messages[index].0.content);
        Ok(self.messages[index].0.clone())
    }

    pub(crate) fn delete_message(&mut self, message_id: &str) -> Result<(), HostError> {
        self.require("messages.write")?;
        let index = self.live_message(message_id)?;
        self.own_message(index, "delete")?;
        self.messages[index].1 = true;
        Ok(())
    }

    pub(crate) fn get_user(&self, id: &str) -> Result<User, HostError> {
        self.require("users.read")?;
        self.users.get(id).cloned().ok_or_else(|| not_found("user", id))
    }

    pub(crate) fn read_file(&self, id: &str) -> Result<File, HostError> {
        self.require("files.read")?;
        let file = self.files.iter().find(|file| file.id == id).ok_or_else(|| not_found("file", id))?;
        self.conversation(&file.conversation_id).map_err(|_| not_found("file", id))?;
        Ok(file.clone())
    }

    pub(crate) fn write_file(
        &mut self,
        conversation_id: &str,
        name: &str,
        media_type: &str,
        data: &[u8],
    ) -> Result<String, HostError> {
        self.require("files.write")?;
        self.conversation(conversation_id)?;
        let id = self.new_id("file");
        self.files.push(File {
            id: id.clone(),
            conversation_id: conversation_id.to_owned(),
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            data: data.to_vec(),
        });
        Ok(id)
    }

    // Outbound HTTP, the model, other plugins, streaming

    pub(crate) fn http_fetch(&mut self, request: &HttpRequest) -> Result<HttpResponse, HostError> {
        self.require("network")?;
        network::check(&self.plugin_id, &self.allowed_hosts, &request.uri)?;
        self.http_requests.push(request.clone());
        let script = self.http.iter_mut().find(|script| {
            script.url == request.uri && script.method.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(&request.method))
        });
        match script.and_then(|script| next(&mut script.answers)) {
            Some(answer) => answer,
            None => Err(error(
                ErrorKind::Unavailable,
                format!(
                    "the test gave no response for {} {}; script one with `FakeHost::http_response(\"{}\", ..)`",
                    request.method, request.uri, request.uri
                ),
            )),
        }
    }

    pub(crate) fn ai_complete(&mut self, request: &CompletionRequest) -> Result<Completion, HostError> {
        self.require("ai")?;
        self.ai_requests.push(request.clone());
        next(&mut self.ai_answers).unwrap_or_else(|| {
            Err(error(
                ErrorKind::Unavailable,
                "the test gave no model answer; script one with `FakeHost::ai_answer(\"..\")`",
            ))
        })
    }

    pub(crate) fn call_tool(&mut self, plugin: &str, tool: &str, arguments: &str) -> Result<String, HostError> {
        let arguments: serde_json::Value = serde_json::from_str(arguments)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("tool arguments are not JSON: {e}")))?;
        if !self.tools.keys().any(|(scripted, _)| scripted == plugin) {
            return Err(error(
                ErrorKind::PermissionDenied,
                format!(
                    "plugin `{}` may only call plugins it depends on; add `{plugin} = \"<version range>\"` to `[dependencies]` in plugin.toml, and script its tool with `FakeHost::tool_result(\"{plugin}\", \"{tool}\", ..)`",
                    self.plugin_id
                ),
            ));
        }
        self.tool_calls.push(ToolCallRecord {
            plugin: plugin.to_owned(),
            tool: tool.to_owned(),
            arguments: arguments.clone(),
        });
        let answers = self.tools.get_mut(&(plugin.to_owned(), tool.to_owned()));
        match answers.and_then(next) {
            Some(Ok(output)) => Ok(output),
            Some(Err(message)) => Err(error(ErrorKind::InvalidInput, message)),
            None => Err(error(ErrorKind::NotFound, format!("plugin `{plugin}` has no tool `{tool}`"))),
        }
    }

    pub(crate) fn emit(&mut self, chunk: &CompletionChunk) -> bool {
        if self.client_takes.is_some_and(|takes| self.emitted.len() >= takes) {
            return false;
        }
        self.emitted.push(chunk.clone());
        true
    }
}
