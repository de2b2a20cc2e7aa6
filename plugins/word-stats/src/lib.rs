//! Word stats: counts the words of each conversation by author, kept in the plugin's
//! private key-value store. Several instances may count at once, so every update is a
//! compare-and-set loop.

use plugboard_sdk::{
    CallContext, Event, HttpRequest, HttpResponse, Message, Plugin, Role, Settings, ToolSpec, export_plugin, kv,
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

fn key(conversation_id: &str) -> String {
    format!("conversation:{conversation_id}")
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

impl Plugin for WordStats {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(WordStats)
    }

    fn on_event(&mut self, _context: &CallContext, event: Event) {
        let result = match &event {
            Event::MessageReceived(message) | Event::MessageSent(message) => record(message, 1),
            Event::MessageDeleted(message) => record(message, -1),
            Event::ConversationEnded(conversation) => {
                kv::delete(&key(&conversation.id)).map(|_| ()).map_err(|e| e.message)
            }
            _ => Ok(()),
        };
        if let Err(error) = result {
            plugboard_sdk::error!("could not update word counts: {error}");
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
        serde_json::to_string(&load(conversation)?).map_err(|e| e.to_string())
    }

    fn run_command(&mut self, context: &CallContext, name: &str, _arguments: &str) -> Result<String, String> {
        match name {
            "stats" if context.conversation_id.is_empty() => Err("`/stats` works inside a conversation".to_owned()),
            "stats" => Ok(summary(&load(&context.conversation_id)?)),
            other => Err(format!("unknown command `/{other}`")),
        }
    }

    fn handle_http(&mut self, _context: &CallContext, request: HttpRequest) -> HttpResponse {
        let path = request.uri.split('?').next().unwrap_or_default();
        match (request.method.as_str(), path.strip_prefix("/conversations/")) {
            ("GET", Some(id)) if !id.is_empty() && !id.contains('/') => match load(id) {
                Ok(counts) => HttpResponse::json(200, &json!(counts)),
                Err(error) => HttpResponse::json(500, &json!({"error": error})),
            },
            _ => HttpResponse::json(404, &json!({"error": format!("no route for {} {path}", request.method)})),
        }
    }
}

export_plugin!(WordStats, hooks: [Events, Tools, Commands, Http]);

#[cfg(test)]
mod tests {
    #[test]
    fn counts_words_not_punctuation() {
        assert_eq!(super::count_words("Hello, world! -- 42 times"), 4);
        assert_eq!(super::count_words("   "), 0);
    }
}
