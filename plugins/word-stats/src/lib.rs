//! Word stats: counts the words of each conversation by author, kept in the plugin's
//! private key-value store. Several instances may count at once, so every update is a
//! compare-and-set loop. Its routes feed its UI: a sidebar widget and a toolbar badge for
//! the open conversation, a page with every conversation of the caller, and a message
//! action that counts one message.

use plugboard_sdk::{
    AccountEvent, CallContext, Event, HttpRequest, HttpResponse, Message, Plugin, Role, Settings, ToolSpec, chat,
    export_plugin, kv,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
struct Counts {
    messages: u64,
    user_words: u64,
    assistant_words: u64,
    total_words: u64,
}

struct WordStats;

/// The most conversations the page lists.
const MAX_LISTED: u32 = 500;

fn key(conversation_id: &str) -> String {
    format!("conversation:{conversation_id}")
}

/// One key per conversation of a user, so the page can list a user's conversations
/// without reading everybody's.
fn owner_key(user_id: &str, conversation_id: &str) -> String {
    format!("user:{user_id}:{conversation_id}")
}

fn remember_owner(user_id: &str, conversation_id: &str) -> Result<(), String> {
    if user_id.is_empty() || conversation_id.is_empty() {
        return Ok(());
    }
    let key = owner_key(user_id, conversation_id);
    if kv::get(&key).map_err(|e| e.message)?.is_none() {
        kv::set(&key, b"").map_err(|e| e.message)?;
    }
    Ok(())
}

/// Whether the caller may see `conversation_id`'s counts: the conversation of the call
/// itself (a turn's tool call or command), one the caller wrote in (recorded from the
/// message events), or one the chat service shows the caller (their own; needs
/// `channels.read`). Another user's conversation is "not found", like the API does.
/// Drops the counts of every conversation of `user_id`, and the keys listing them.
fn forget_user(user_id: &str) -> Result<(), String> {
    let prefix = owner_key(user_id, "");
    loop {
        let owned = kv::list_keys(&prefix, MAX_LISTED).map_err(|e| e.message)?;
        if owned.is_empty() {
            return Ok(());
        }
        for key in owned {
            if let Some(conversation) = key.strip_prefix(&prefix) {
                kv::delete(&self::key(conversation)).map_err(|e| e.message)?;
            }
            kv::delete(&key).map_err(|e| e.message)?;
        }
    }
}

fn may_read(context: &CallContext, conversation_id: &str) -> bool {
    conversation_id == context.conversation_id
        || (!context.user_id.is_empty()
            && kv::get(&owner_key(&context.user_id, conversation_id)).ok().flatten().is_some())
        || chat::get_conversation(conversation_id).is_ok()
}

fn load(conversation_id: &str) -> Result<Counts, String> {
    Ok(kv::get_json::<Counts>(&key(conversation_id)).map_err(|e| e.message)?.unwrap_or_default())
}

/// Applies `change` to the stored counts atomically, retrying when another instance won.
fn update(conversation_id: &str, change: impl Fn(&mut Counts)) -> Result<Counts, String> {
    let key = key(conversation_id);
    for _ in 0..64 {
        let current = kv::get(&key).map_err(|e| e.message)?;
        let mut counts: Counts = match &current {
            Some(bytes) => serde_json::from_slice(bytes).unwrap_or_default(),
            None => Counts::default(),
        };
        change(&mut counts);
        let new = serde_json::to_vec(&counts).map_err(|e| e.to_string())?;
        if kv::compare_and_set(&key, current.as_deref(), Some(&new)).map_err(|e| e.message)? {
            return Ok(counts);
        }
    }
    Err(format!("too much contention updating `{key}`"))
}

fn count_words(text: &str) -> u64 {
    text.split_whitespace().filter(|word| word.chars().any(char::is_alphanumeric)).count() as u64
}

fn record(message: &Message, sign: i64) -> Result<(), String> {
    if message.conversation_id.is_empty() {
        return Ok(());
    }
    let words = count_words(&message.content);
    let role = message.role;
    update(&message.conversation_id, |counts| {
        let apply = |value: &mut u64, by: u64| {
            *value = if sign >= 0 { value.saturating_add(by) } else { value.saturating_sub(by) };
        };
        apply(&mut counts.messages, 1);
        apply(&mut counts.total_words, words);
        match role {
            Role::User => apply(&mut counts.user_words, words),
            Role::Assistant => apply(&mut counts.assistant_words, words),
            Role::System | Role::Tool => {}
        }
    })
    .map(|_| ())
}

fn summary(counts: &Counts) -> String {
    format!(
        "{} messages, {} words ({} from you, {} from the assistant)",
        counts.messages, counts.total_words, counts.user_words, counts.assistant_words
    )
}

fn no_route(method: &str, path: &str) -> HttpResponse {
    HttpResponse::json(404, &json!({"error": format!("no route for {method} {path}")}))
}

/// `POST /count` with `{"text": "..."}`: the words of one text, counted like the stats.
fn count_text(body: &[u8]) -> HttpResponse {
    #[derive(Deserialize)]
    struct Text {
        text: String,
    }
    match serde_json::from_slice::<Text>(body) {
        Ok(Text { text }) => {
            HttpResponse::json(200, &json!({"words": count_words(&text), "characters": text.chars().count()}))
        }
        Err(error) => HttpResponse::json(400, &json!({"error": format!("send {{\"text\": \"...\"}}: {error}")})),
    }
}

/// `GET /conversations`: the caller's conversations with their counts, most words first,
/// and the totals. A conversation the host no longer shows the caller is left out.
fn conversations_of(user_id: &str) -> Result<serde_json::Value, String> {
    if user_id.is_empty() {
        return Ok(json!({"conversations": [], "totals": Counts::default()}));
    }
    let prefix = owner_key(user_id, "");
    let mut listed = Vec::new();
    let mut totals = Counts::default();
    for owned in kv::list_keys(&prefix, MAX_LISTED).map_err(|e| e.message)? {
        let Some(id) = owned.strip_prefix(&prefix) else { continue };
        let Ok(conversation) = chat::get_conversation(id) else { continue };
        let counts = load(id)?;
        totals.messages += counts.messages;
        totals.user_words += counts.user_words;
        totals.assistant_words += counts.assistant_words;
        totals.total_words += counts.total_words;
        listed.push(json!({"id": id, "title": conversation.title, "counts": counts}));
    }
    listed.sort_by_key(|item| std::cmp::Reverse(item["counts"]["total_words"].as_u64().unwrap_or(0)));
    Ok(json!({"conversations": listed, "totals": totals}))
}

impl Plugin for WordStats {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(WordStats)
    }

    fn on_event(&mut self, context: &CallContext, event: Event) {
        let result = match &event {
            Event::MessageReceived(message) | Event::MessageSent(message) => {
                record(message, 1).and_then(|()| remember_owner(&context.user_id, &message.conversation_id))
            }
            Event::MessageDeleted(message) => record(message, -1),
            Event::ConversationEnded(conversation) => kv::delete(&key(&conversation.id))
                .and_then(|_| kv::delete(&owner_key(&conversation.user_id, &conversation.id)))
                .map(|_| ())
                .map_err(|e| e.message),
            _ => Ok(()),
        };
        if let Err(error) = result {
            plugboard_sdk::error!("could not update word counts: {error}");
        }
    }

    fn on_account_event(&mut self, _context: &CallContext, event: AccountEvent) {
        // A deleted user's conversations went with them, without conversation-ended events.
        let AccountEvent::UserDeleted(account) = event else { return };
        if let Err(error) = forget_user(&account.id) {
            plugboard_sdk::error!("could not forget the word counts of a deleted user: {error}");
        }
    }

    fn tools(&mut self) -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "word_counts",
            "Word counts of a conversation, by author",
            json!({"type": "object", "properties": {"conversation_id": {"type": "string"}}, "required": ["conversation_id"]}),
        )]
    }

    fn call_tool(&mut self, context: &CallContext, name: &str, arguments: serde_json::Value) -> Result<String, String> {
        if name != "word_counts" {
            return Err(format!("unknown tool `{name}`; this plugin has `word_counts`"));
        }
        let conversation = arguments
            .get("conversation_id")
            .and_then(serde_json::Value::as_str)
            .or_else(|| arguments.get("input").and_then(serde_json::Value::as_str).filter(|s| !s.is_empty()))
            .unwrap_or(&context.conversation_id);
        if conversation.is_empty() {
            return Err("pass `conversation_id`".to_owned());
        }
        if !may_read(context, conversation) {
            return Err(format!("no conversation `{conversation}` of yours"));
        }
        serde_json::to_string(&load(conversation)?).map_err(|e| e.to_string())
    }

    fn run_command(&mut self, context: &CallContext, name: &str, _arguments: &str) -> Result<String, String> {
        match name {
            "stats" if context.conversation_id.is_empty() => Err("`/stats` works inside a conversation".to_owned()),
            "stats" => Ok(summary(&load(&context.conversation_id)?)),
            other => Err(format!("unknown command `/{other}`")),
        }
    }

    fn handle_http(&mut self, context: &CallContext, request: HttpRequest) -> HttpResponse {
        let path = request.uri.split('?').next().unwrap_or_default();
        let answer = match (request.method.as_str(), path) {
            ("GET", "/conversations") => conversations_of(&context.user_id).map(|list| HttpResponse::json(200, &list)),
            ("POST", "/count") => Ok(count_text(&request.body)),
            ("GET", _) => match path.strip_prefix("/conversations/") {
                Some(id) if !id.is_empty() && !id.contains('/') && may_read(context, id) => {
                    load(id).map(|counts| HttpResponse::json(200, &json!(counts)))
                }
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    Ok(HttpResponse::json(404, &json!({"error": format!("no conversation `{id}` of yours")})))
                }
                _ => Ok(no_route(&request.method, path)),
            },
            _ => Ok(no_route(&request.method, path)),
        };
        answer.unwrap_or_else(|error| HttpResponse::json(500, &json!({"error": error})))
    }
}

export_plugin!(WordStats, hooks: [Events, Tools, Commands, Http]);

#[cfg(test)]
mod tests {
    use super::{Counts, WordStats};
    use plugboard_sdk::log::Level;
    use plugboard_sdk::testing::{FakeHost, FakeHostGuard, context};
    use plugboard_sdk::{Account, AccountEvent, Conversation, Event, HttpRequest, Message, Plugin, Role};
    use serde_json::{Value, json};

    #[test]
    fn counts_words_not_punctuation() {
        assert_eq!(super::count_words("Hello, world! -- 42 times"), 4);
        assert_eq!(super::count_words("   "), 0);
    }

    /// The host as the server sets it up for this plugin: its permissions, Ada's and Bo's
    /// conversations, and the call acting for Ada.
    fn host() -> FakeHostGuard {
        FakeHost::new()
            .plugin_id("word-stats")
            .permissions(["kv", "channels.read"])
            .user("ada", "Ada")
            .user("bo", "Bo")
            .conversation("plans", "ada", "Plans")
            .conversation("recipes", "ada", "Recipes")
            .conversation("secret", "bo", "Bo's")
            .acting_user("ada")
            .install()
    }

    fn message(conversation_id: &str, role: Role, content: &str) -> Message {
        Message {
            id: format!("m-{content}"),
            conversation_id: conversation_id.to_owned(),
            role,
            author: "ada".to_owned(),
            content: content.to_owned(),
            created_at_ms: 0,
        }
    }

    fn get(plugin: &mut WordStats, user: &str, path: &str) -> (u16, Value) {
        let request = HttpRequest { method: "GET".into(), uri: path.into(), headers: Vec::new(), body: Vec::new() };
        let response = plugin.handle_http(&context(user, ""), request);
        (response.status, serde_json::from_slice(&response.body).unwrap())
    }

    #[test]
    fn message_events_are_counted_by_author_in_the_store_and_stats_shows_them() {
        let host = host();
        let mut plugin = host.init::<WordStats>().unwrap();
        let ada = context("ada", "plans");
        plugin.on_event(&ada, Event::MessageReceived(message("plans", Role::User, "Hello there, world!")));
        plugin.on_event(&ada, Event::MessageSent(message("plans", Role::Assistant, "Hi.")));

        let stored: Counts = host.kv_json("conversation:plans").unwrap();
        assert_eq!(stored, Counts { messages: 2, user_words: 3, assistant_words: 1, total_words: 4 });
        assert!(host.kv("user:ada:plans").is_some(), "the owner is remembered for the page");
        assert_eq!(
            plugin.run_command(&ada, "stats", ""),
            Ok("2 messages, 4 words (3 from you, 1 from the assistant)".to_owned())
        );

        plugin.on_event(&ada, Event::MessageDeleted(message("plans", Role::Assistant, "Hi.")));
        assert_eq!(host.kv_json::<Counts>("conversation:plans").unwrap().total_words, 3);
        let ended = Conversation { id: "plans".into(), title: "Plans".into(), user_id: "ada".into(), created_at_ms: 0 };
        plugin.on_event(&ada, Event::ConversationEnded(ended));
        assert!(host.kv_keys().is_empty(), "{:?}", host.kv_keys());
    }

    #[test]
    fn a_deleted_users_counts_are_forgotten_and_no_one_elses() {
        let host = host();
        let mut plugin = host.init::<WordStats>().unwrap();
        plugin.on_event(&context("ada", "plans"), Event::MessageReceived(message("plans", Role::User, "one two")));
        plugin.on_event(&context("ada", "recipes"), Event::MessageReceived(message("recipes", Role::User, "three")));
        plugin.on_event(&context("bo", "secret"), Event::MessageReceived(message("secret", Role::User, "private")));

        let ada = Account { id: "ada".into(), username: "Ada".into() };
        plugin.on_account_event(&context("ada", ""), AccountEvent::UserDisabled(ada.clone()));
        assert_eq!(host.kv_keys().len(), 6, "disabling keeps the counts: {:?}", host.kv_keys());
        plugin.on_account_event(&context("ada", ""), AccountEvent::UserDeleted(ada));
        assert_eq!(host.kv_keys(), ["conversation:secret", "user:bo:secret"]);
    }

    #[test]
    fn counts_stored_by_another_instance_are_added_to() {
        let host = host();
        let mut plugin = host.init::<WordStats>().unwrap();
        let other = Counts { messages: 1, user_words: 5, assistant_words: 0, total_words: 5 };
        host.set_kv("conversation:plans", serde_json::to_vec(&other).unwrap());
        plugin.on_event(&context("ada", "plans"), Event::MessageReceived(message("plans", Role::User, "two words")));
        assert_eq!(host.kv_json::<Counts>("conversation:plans").unwrap().total_words, 7);
    }

    #[test]
    fn the_tool_answers_only_for_the_callers_conversations() {
        let host = host();
        let mut plugin = host.init::<WordStats>().unwrap();
        plugin.on_event(&context("bo", "secret"), Event::MessageReceived(message("secret", Role::User, "private")));

        let ada = context("ada", "plans");
        let asked =
            |plugin: &mut WordStats, id: &str| plugin.call_tool(&ada, "word_counts", json!({"conversation_id": id}));
        assert_eq!(asked(&mut plugin, "secret"), Err("no conversation `secret` of yours".to_owned()));
        let counts: Counts = serde_json::from_str(&asked(&mut plugin, "recipes").unwrap()).unwrap();
        assert_eq!(counts, Counts::default());
        let (status, body) = get(&mut plugin, "ada", "/conversations/secret");
        assert_eq!((status, body["error"].as_str()), (404, Some("no conversation `secret` of yours")));
    }

    #[test]
    fn the_page_lists_the_callers_conversations_most_words_first() {
        let host = host();
        let mut plugin = host.init::<WordStats>().unwrap();
        let ada = context("ada", "");
        plugin.on_event(&ada, Event::MessageReceived(message("plans", Role::User, "one")));
        plugin.on_event(&ada, Event::MessageReceived(message("recipes", Role::User, "one two three")));
        plugin.on_event(&ada, Event::MessageReceived(message("gone", Role::User, "no longer shown")));

        let (status, body) = get(&mut plugin, "ada", "/conversations");
        assert_eq!(status, 200);
        let titles: Vec<&str> =
            body["conversations"].as_array().unwrap().iter().filter_map(|c| c["title"].as_str()).collect();
        assert_eq!(titles, ["Recipes", "Plans"], "a conversation the host does not show is left out");
        assert_eq!(body["totals"]["total_words"], 4);
    }

    #[test]
    fn without_its_store_an_event_is_logged_as_an_error_not_lost_silently() {
        let host = FakeHost::new().plugin_id("word-stats").permissions(["channels.read"]).install();
        let mut plugin = host.init::<WordStats>().unwrap();
        plugin.on_event(&context("ada", "plans"), Event::MessageReceived(message("plans", Role::User, "hi")));
        assert!(host.logged(Level::Error, "could not update word counts: plugin `word-stats` needs permission `kv`"));
    }
}
