//! A fake Plugboard host for a plugin's native unit tests (`cargo test`).
//!
//! A plugin's hooks are ordinary methods of its [`Plugin`] type, so a test
//! can call them directly, the way the host would. What it cannot do without help is use
//! the host's services: in a native build there is no host. [`FakeHost`] is one, in
//! memory, for every service the host offers:
//!
//! | Service | The fake | Inspect with |
//! | --- | --- | --- |
//! | [`Settings::current`](crate::Settings::current) | [`FakeHost::settings`], [`FakeHost::setting`] | [`FakeHostGuard::init`] builds the plugin from them |
//! | [`kv`](crate::kv) | a map with expiry on a clock the test moves ([`FakeHostGuard::advance`]); the server's key and value limits | [`FakeHostGuard::kv`], [`FakeHostGuard::kv_json`], [`FakeHostGuard::kv_keys`] |
//! | [`chat`](crate::chat) | users, conversations, messages and files given by the test; a plugin edits only its own messages | [`FakeHostGuard::posted`], [`FakeHostGuard::messages`], [`FakeHostGuard::conversations`], [`FakeHostGuard::files`] |
//! | [`http`](crate::http) | responses scripted per URL; `allowed_hosts` checked as the server checks them; anything unscripted is an error | [`FakeHostGuard::http_requests`] |
//! | [`ai`](crate::ai) | answers scripted in order | [`FakeHostGuard::ai_requests`] |
//! | [`plugins`](crate::plugins) | other plugins' tools, results scripted; any other plugin is refused as one not in `[dependencies]` | [`FakeHostGuard::tool_calls`] |
//! | [`log`](crate::log) | lines captured (and printed with a failing test's output) | [`FakeHostGuard::logs`] |
//! | [`completion`](crate::completion) | chunks a provider streams | [`FakeHostGuard::emitted`] |
//!
//! Build the fake with [`FakeHost::new`] and its methods, then [`install`](FakeHost::install)
//! it: the returned [`FakeHostGuard`] serves this thread's host calls until it is dropped.
//! Each test runs on its own thread, so tests run in parallel, each with its own host.
//! Without an installed fake, a host call returns a [`HostError`] (or,
//! for the calls that return no `Result`, panics) saying to install one.
//!
//! By default every permission is granted; [`FakeHost::permissions`] with the list of the
//! plugin's `plugin.toml` makes the fake refuse the others as the server does. Outbound
//! HTTP needs [`FakeHost::allowed_host`] for each entry of `[network] allowed_hosts`.
//!
//! ```
//! use plugboard_sdk::testing::{FakeHost, context};
//! use plugboard_sdk::{CallContext, HttpResponse, Plugin, Settings, http, kv, serde_json::json};
//!
//! struct Weather {
//!     city: String,
//! }
//!
//! impl Plugin for Weather {
//!     fn init(settings: Settings) -> Result<Self, String> {
//!         Ok(Weather { city: settings.get("city").unwrap_or_else(|| "Oslo".to_owned()) })
//!     }
//!
//!     fn run_command(&mut self, _context: &CallContext, _name: &str, _args: &str) -> Result<String, String> {
//!         let url = format!("https://api.example.org/now?city={}", self.city);
//!         let response = http::get(&url).map_err(|e| e.message)?;
//!         let answer = String::from_utf8_lossy(&response.body).into_owned();
//!         kv::set("last", answer.as_bytes()).map_err(|e| e.message)?;
//!         Ok(answer)
//!     }
//! }
//!
//! let host = FakeHost::new()
//!     .permissions(["kv", "network"])
//!     .allowed_host("api.example.org")
//!     .setting("city", json!("Bergen"))
//!     .http_response("https://api.example.org/now?city=Bergen", HttpResponse::text(200, "rain"))
//!     .install();
//! let mut plugin = host.init::<Weather>().unwrap();
//!
//! assert_eq!(plugin.run_command(&context("ada", "c1"), "weather", ""), Ok("rain".to_owned()));
//! assert_eq!(host.kv_string("last").as_deref(), Some("rain"));
//! assert_eq!(host.http_requests()[0].method, "GET");
//! ```

pub(crate) mod backend;
mod network;
mod state;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use self::network::HostPattern;
use self::state::{HttpScript, KvEntry, State};
use crate::chat::{File, User};
use crate::log::Level;
use crate::{
    CallContext, Completion, CompletionChunk, CompletionRequest, Conversation, ErrorKind, FinishReason, HostError,
    HttpRequest, HttpResponse, Message, Plugin, Role, Settings, Usage,
};

/// One line the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// Its text.
    pub message: String,
}

/// One call the plugin made to another plugin's tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallRecord {
    /// The plugin called.
    pub plugin: String,
    /// Its tool.
    pub tool: String,
    /// The JSON arguments.
    pub arguments: serde_json::Value,
}

/// A call context for calling a hook in a test: the call acts for `user_id` in
/// `conversation_id` (either may be empty, as for calls that are not a user's).
pub fn context(user_id: &str, conversation_id: &str) -> CallContext {
    CallContext {
        conversation_id: conversation_id.to_owned(),
        user_id: user_id.to_owned(),
        model: String::new(),
        request_id: "test-request".to_owned(),
    }
}

/// A fake host being set up: the plugin's settings, permissions and allowed hosts, the
/// data it finds, and the answers of the services it calls. [`install`](FakeHost::install)
/// it to use it.
#[derive(Debug, Default)]
#[must_use = "a fake host does nothing until it is installed with `.install()`"]
pub struct FakeHost {
    state: State,
}

impl FakeHost {
    /// An empty host: no settings, every permission, no allowed hosts, nothing stored, no
    /// scripted answers, the clock at 2026-01-01T00:00:00Z.
    pub fn new() -> FakeHost {
        FakeHost::default()
    }

    /// The plugin's id, used in messages and as the author of its messages
    /// (`plugin:<id>`). Default `plugin-under-test`.
    pub fn plugin_id(mut self, id: &str) -> FakeHost {
        id.clone_into(&mut self.state.plugin_id);
        self
    }

    /// All the settings, as the host hands them over: a JSON object, defaults included.
    ///
    /// # Panics
    /// When `settings` is not a JSON object.
    pub fn settings(mut self, settings: serde_json::Value) -> FakeHost {
        match settings {
            serde_json::Value::Object(map) => self.state.settings = map,
            other => panic!("FakeHost::settings takes a JSON object, like the host's settings; got {other}"),
        }
        self
    }

    /// One setting.
    pub fn setting(mut self, name: &str, value: serde_json::Value) -> FakeHost {
        self.state.settings.insert(name.to_owned(), value);
        self
    }

    /// Grants only these permissions (the `permissions` of the plugin's `plugin.toml`);
    /// any other service is refused with the server's message. Without this call, every
    /// permission is granted.
    pub fn permissions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, permissions: I) -> FakeHost {
        self.state.permissions = Some(permissions.into_iter().map(Into::into).collect::<BTreeSet<_>>());
        self
    }

    /// Adds an entry of `[network] allowed_hosts`: `api.example.org` (its scheme's default
    /// port only), `api.example.org:8443`, `api.example.org:*` (any port), `*.example.org`
    /// (its subdomains) or an IP address. Requests elsewhere are refused.
    ///
    /// # Panics
    /// When `entry` is not a valid entry (the server would refuse the manifest).
    pub fn allowed_host(mut self, entry: &str) -> FakeHost {
        match HostPattern::parse(entry) {
            Ok(pattern) => self.state.allowed_hosts.push(pattern),
            Err(error) => panic!("FakeHost::allowed_host: {error}"),
        }
        self
    }

    /// Sets the clock, in milliseconds since the Unix epoch. Move it with
    /// [`FakeHostGuard::advance`].
    pub fn clock_ms(mut self, now_ms: u64) -> FakeHost {
        self.state.now_ms = now_ms;
        self
    }

    /// Makes the chat service act for `user_id`, as the server does for a call made for a
    /// user: only their conversations, messages and files are found.
    pub fn acting_user(mut self, user_id: &str) -> FakeHost {
        self.state.acting_user = Some(user_id.to_owned());
        self
    }

    /// Stores `value` under `key` in the plugin's key-value store.
    pub fn kv(mut self, key: &str, value: impl AsRef<[u8]>) -> FakeHost {
        self.state.kv.insert(key.to_owned(), KvEntry { value: value.as_ref().to_vec(), expires_at_ms: None });
        self
    }

    /// Stores `value` as JSON under `key`, as [`kv::set_json`](crate::kv::set_json) does.
    ///
    /// # Panics
    /// When `value` cannot be encoded as JSON.
    pub fn kv_json<T: Serialize>(self, key: &str, value: &T) -> FakeHost {
        let bytes = serde_json::to_vec(value).unwrap_or_else(|error| panic!("FakeHost::kv_json({key}): {error}"));
        self.kv(key, bytes)
    }

    /// A user.
    pub fn user(mut self, id: &str, display_name: &str) -> FakeHost {
        let user = User { id: id.to_owned(), display_name: display_name.to_owned(), is_admin: false };
        self.state.users.insert(id.to_owned(), user);
        self
    }

    /// An administrator.
    pub fn admin(mut self, id: &str, display_name: &str) -> FakeHost {
        let user = User { id: id.to_owned(), display_name: display_name.to_owned(), is_admin: true };
        self.state.users.insert(id.to_owned(), user);
        self
    }

    /// A conversation of `user_id`, created at the clock's time.
    pub fn conversation(mut self, id: &str, user_id: &str, title: &str) -> FakeHost {
        let conversation = Conversation {
            id: id.to_owned(),
            title: title.to_owned(),
            user_id: user_id.to_owned(),
            created_at_ms: self.state.now_ms,
        };
        self.state.conversations.push(conversation);
        self
    }

    /// A message in a conversation, with an id such as `message-3`. `author` is a user
    /// id, `assistant`, or `plugin:<id>` for a plugin's.
    pub fn message(mut self, conversation_id: &str, role: Role, author: &str, content: &str) -> FakeHost {
        self.state.add_message(conversation_id, role, author, content);
        self
    }

    /// A file attached to a conversation.
    pub fn file(mut self, id: &str, conversation_id: &str, name: &str, media_type: &str, data: &[u8]) -> FakeHost {
        self.state.files.push(File {
            id: id.to_owned(),
            conversation_id: conversation_id.to_owned(),
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            data: data.to_vec(),
        });
        self
    }

    fn http_answer(mut self, method: Option<&str>, url: &str, answer: Result<HttpResponse, HostError>) -> FakeHost {
        let method = method.map(str::to_owned);
        match self.state.http.iter_mut().find(|script| script.url == url && script.method == method) {
            Some(script) => script.answers.push_back(answer),
            None => {
                let answers = [answer].into_iter().collect();
                self.state.http.push(HttpScript { method, url: url.to_owned(), answers });
            }
        }
        self
    }

    /// The response to a request for exactly `url`, whatever its method. Several
    /// responses for one URL are given in order, the last one repeating. The URL's host
    /// must still be allowed ([`FakeHost::allowed_host`]).
    pub fn http_response(self, url: &str, response: HttpResponse) -> FakeHost {
        self.http_answer(None, url, Ok(response))
    }

    /// The response to a `method` request for exactly `url` (checked before the
    /// responses for any method).
    pub fn http_response_for(mut self, method: &str, url: &str, response: HttpResponse) -> FakeHost {
        self = self.http_answer(Some(method), url, Ok(response));
        self.state.http.sort_by_key(|script| script.method.is_none());
        self
    }

    /// A failure for a request to `url`, such as an unreachable server
    /// (`ErrorKind::Unavailable`) or one that does not answer in time (`ErrorKind::Timeout`).
    pub fn http_error(self, url: &str, kind: ErrorKind, message: &str) -> FakeHost {
        self.http_answer(None, url, Err(HostError { kind, message: message.to_owned() }))
    }

    /// The model's next answer: a completion with this text. Answers are given in order,
    /// the last one repeating.
    pub fn ai_answer(self, content: &str) -> FakeHost {
        self.ai_completion(Completion {
            content: content.to_owned(),
            tool_calls: Vec::new(),
            finish_reason: FinishReason::Stop,
            usage: Usage { prompt_tokens: 0, completion_tokens: 0 },
        })
    }

    /// The model's next answer, whole.
    pub fn ai_completion(mut self, completion: Completion) -> FakeHost {
        self.state.ai_answers.push_back(Ok(completion));
        self
    }

    /// The model's next answer is a failure.
    pub fn ai_error(mut self, kind: ErrorKind, message: &str) -> FakeHost {
        self.state.ai_answers.push_back(Err(HostError { kind, message: message.to_owned() }));
        self
    }

    /// The next result of `tool` of `plugin` (a dependency). Results are given in order,
    /// the last one repeating. Only plugins given here can be called.
    pub fn tool_result(mut self, plugin: &str, tool: &str, output: &str) -> FakeHost {
        let key = (plugin.to_owned(), tool.to_owned());
        self.state.tools.entry(key).or_default().push_back(Ok(output.to_owned()));
        self
    }

    /// The next result of `tool` of `plugin` is the tool's error `message`.
    pub fn tool_error(mut self, plugin: &str, tool: &str, message: &str) -> FakeHost {
        let key = (plugin.to_owned(), tool.to_owned());
        self.state.tools.entry(key).or_default().push_back(Err(message.to_owned()));
        self
    }

    /// The client of a streamed completion goes away after `chunks` chunks: from then
    /// on [`completion::emit_text`](crate::completion::emit_text) returns false, as when
    /// a user stops a reply, and nothing more is recorded.
    pub fn client_leaves_after(mut self, chunks: usize) -> FakeHost {
        self.state.client_takes = Some(chunks);
        self
    }

    /// Installs the fake as this thread's host until the guard is dropped (a fake
    /// installed before comes back then).
    pub fn install(self) -> FakeHostGuard {
        let state = Rc::new(RefCell::new(self.state));
        let previous = backend::CURRENT.with(|current| current.borrow_mut().replace(state.clone()));
        FakeHostGuard { state, previous }
    }
}

/// An installed [`FakeHost`]: serves this thread's host calls until dropped, and shows
/// what the plugin did.
#[derive(Debug)]
#[must_use = "the fake host is uninstalled when the guard is dropped"]
pub struct FakeHostGuard {
    state: Rc<RefCell<State>>,
    previous: Option<Rc<RefCell<State>>>,
}

impl Drop for FakeHostGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        backend::CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl FakeHostGuard {
    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.borrow())
    }

    /// The plugin's settings, as `init` receives them.
    pub fn settings(&self) -> Settings {
        self.read(|state| Settings::from_map(state.settings.clone()))
    }

    /// Builds the plugin from the settings, as the host does for a fresh instance.
    pub fn init<P: Plugin>(&self) -> Result<P, String> {
        P::init(self.settings())
    }

    /// Replaces the settings (as an operator's change would; call [`init`](Self::init)
    /// again, as the host does, to see the plugin take them).
    ///
    /// # Panics
    /// When `settings` is not a JSON object.
    pub fn set_settings(&self, settings: serde_json::Value) {
        match settings {
            serde_json::Value::Object(map) => self.state.borrow_mut().settings = map,
            other => panic!("FakeHostGuard::set_settings takes a JSON object; got {other}"),
        }
    }

    /// The clock, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.read(|state| state.now_ms)
    }

    /// Moves the clock forward: keys whose time to live has passed expire.
    pub fn advance(&self, by: Duration) {
        let mut state = self.state.borrow_mut();
        state.now_ms = state.now_ms.saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX));
    }

    /// The value of `key` in the plugin's store, unless absent or expired.
    pub fn kv(&self, key: &str) -> Option<Vec<u8>> {
        self.read(|state| state.kv_live(key).map(|entry| entry.value.clone()))
    }

    /// The value of `key` as text (invalid UTF-8 replaced).
    pub fn kv_string(&self, key: &str) -> Option<String> {
        self.kv(key).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The value of `key` decoded from JSON.
    ///
    /// # Panics
    /// When the value is not JSON of type `T`, saying what it is.
    pub fn kv_json<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.kv(key).map(|bytes| {
            serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                panic!("kv value of `{key}` ({}) is not the expected JSON: {error}", String::from_utf8_lossy(&bytes))
            })
        })
    }

    /// Every live key, in byte order.
    pub fn kv_keys(&self) -> Vec<String> {
        self.read(|state| state.kv.keys().filter(|key| state.kv_live(key).is_some()).cloned().collect())
    }

    /// Stores `value` under `key`, as another instance of the plugin might between calls.
    pub fn set_kv(&self, key: &str, value: impl AsRef<[u8]>) {
        let entry = KvEntry { value: value.as_ref().to_vec(), expires_at_ms: None };
        self.state.borrow_mut().kv.insert(key.to_owned(), entry);
    }

    /// The messages the plugin posted, in order, as they were posted.
    pub fn posted(&self) -> Vec<Message> {
        self.read(|state| state.posted.clone())
    }

    /// The live messages of a conversation, oldest first (whoever may see them).
    pub fn messages(&self, conversation_id: &str) -> Vec<Message> {
        self.read(|state| {
            let live = state
                .messages
                .iter()
                .filter(|(message, deleted)| message.conversation_id == conversation_id && !deleted);
            live.map(|(message, _)| message.clone()).collect()
        })
    }

    /// Every conversation, those the plugin created last.
    pub fn conversations(&self) -> Vec<Conversation> {
        self.read(|state| state.conversations.clone())
    }

    /// Every file, those the plugin attached last.
    pub fn files(&self) -> Vec<File> {
        self.read(|state| state.files.clone())
    }

    /// Every request the plugin sent (the ones the allowed hosts let through), in order.
    pub fn http_requests(&self) -> Vec<HttpRequest> {
        self.read(|state| state.http_requests.clone())
    }

    /// Every completion the plugin asked the model for, in order.
    pub fn ai_requests(&self) -> Vec<CompletionRequest> {
        self.read(|state| state.ai_requests.clone())
    }

    /// Every call to another plugin's tool, in order.
    pub fn tool_calls(&self) -> Vec<ToolCallRecord> {
        self.read(|state| state.tool_calls.clone())
    }

    /// Every line logged, in order.
    pub fn logs(&self) -> Vec<LogLine> {
        self.read(|state| state.logs.clone())
    }

    /// Whether a line at `level` contains `text`.
    pub fn logged(&self, level: Level, text: &str) -> bool {
        self.read(|state| state.logs.iter().any(|line| line.level == level && line.message.contains(text)))
    }

    /// Every chunk a provider streamed with [`completion`](crate::completion) that the
    /// client received, in order.
    pub fn emitted(&self) -> Vec<CompletionChunk> {
        self.read(|state| state.emitted.clone())
    }
}
