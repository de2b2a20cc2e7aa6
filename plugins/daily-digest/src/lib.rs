//! Daily digest: counts each user's messages and replies per hour (event hook), posts each
//! active user a digest of the 24 hours before its `digest` task's due time, and deletes
//! counters past the retention period in its hourly `prune` task.
//!
//! Keys: `activity:<hour>:<user>` (hour = hours since the Unix epoch, zero-padded so keys
//! sort by time) holds an [`Activity`]; `digest-conversation:<user>` the id of the user's
//! digest conversation; `posted:<due>:<user>` marks a digest posted for a due time. A
//! deleted user's counters and conversation key go at once (account event).

use std::collections::BTreeMap;

use plugboard_sdk::{AccountEvent, CallContext, Event, Plugin, Settings, chat, export_plugin, kv, log};
use serde::{Deserialize, Serialize};

const HOUR_MS: u64 = 3_600_000;
/// Most keys read per listing; a digest covers at most 24 hours of every user.
const LIST_LIMIT: u32 = 10_000;
/// Conversations named in a digest.
const TOP_CONVERSATIONS: usize = 3;

/// One user's activity in one hour.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Activity {
    messages: u64,
    replies: u64,
    /// Messages and replies by conversation id.
    conversations: BTreeMap<String, u64>,
}

impl Activity {
    fn add(&mut self, other: &Activity) {
        self.messages += other.messages;
        self.replies += other.replies;
        for (conversation, count) in &other.conversations {
            *self.conversations.entry(conversation.clone()).or_default() += count;
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct Config {
    retention_days: u64,
    min_messages: u64,
}

struct DailyDigest {
    config: Config,
}

fn hour_key(hour: u64) -> String {
    format!("activity:{hour:010}:")
}

/// Milliseconds since the Unix epoch, by the host's clock.
fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// Adds one message to its author's counter for the hour, with compare-and-set (several
/// instances may count at once).
fn count(user_id: &str, conversation_id: &str, at_ms: u64, reply: bool) -> Result<(), String> {
    let key = format!("{}{user_id}", hour_key(at_ms / HOUR_MS));
    loop {
        let old = kv::get(&key).map_err(text)?;
        let mut activity: Activity =
            old.as_deref().and_then(|bytes| serde_json::from_slice(bytes).ok()).unwrap_or_default();
        if reply {
            activity.replies += 1;
        } else {
            activity.messages += 1;
        }
        *activity.conversations.entry(conversation_id.to_owned()).or_default() += 1;
        let new = serde_json::to_vec(&activity).map_err(text)?;
        if kv::compare_and_set(&key, old.as_deref(), Some(&new)).map_err(text)? {
            return Ok(());
        }
    }
}

/// Every user's activity in the 24 hourly counters up to `until_ms`, its own hour
/// included (so a run "now" sees the messages of the last minutes).
fn last_day(until_ms: u64) -> Result<BTreeMap<String, Activity>, String> {
    let mut users: BTreeMap<String, Activity> = BTreeMap::new();
    let until_hour = until_ms / HOUR_MS;
    for hour in until_hour.saturating_sub(23)..=until_hour {
        let prefix = hour_key(hour);
        for key in kv::list_keys(&prefix, LIST_LIMIT).map_err(text)? {
            let Some(activity) = kv::get_json::<Activity>(&key).map_err(text)? else { continue };
            users.entry(key[prefix.len()..].to_owned()).or_default().add(&activity);
        }
    }
    Ok(users)
}

/// The user's digest conversation, created the first time (or again if they deleted it).
fn digest_conversation(user_id: &str) -> Result<String, String> {
    let key = format!("digest-conversation:{user_id}");
    if let Some(id) = kv::get(&key).map_err(text)?.and_then(|bytes| String::from_utf8(bytes).ok())
        && chat::get_conversation(&id).is_ok()
    {
        return Ok(id);
    }
    let conversation = chat::create_conversation(user_id, "Daily digest").map_err(text)?;
    kv::set(&key, conversation.id.as_bytes()).map_err(text)?;
    Ok(conversation.id)
}

/// The digest's text.
fn digest_text(activity: &Activity, until_ms: u64) -> String {
    let mut busiest: Vec<(&String, &u64)> = activity.conversations.iter().collect();
    busiest.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let titles: Vec<String> = busiest
        .iter()
        .take(TOP_CONVERSATIONS)
        .map(|(id, count)| {
            let title = chat::get_conversation(id).map(|c| c.title).unwrap_or_else(|_| "a deleted conversation".into());
            format!("- {title} ({count})")
        })
        .collect();
    let plural = |n: u64, one: &str, many: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {many}") };
    format!(
        "**Your day, to {}**\n\nYou wrote {} and got {} in {}.\n\nBusiest:\n{}",
        utc_time(until_ms),
        plural(activity.messages, "message", "messages"),
        plural(activity.replies, "reply", "replies"),
        plural(activity.conversations.len() as u64, "conversation", "conversations"),
        titles.join("\n")
    )
}

/// `YYYY-MM-DD HH:MM UTC`, from days since the epoch by the civil calendar.
fn utc_time(ms: u64) -> String {
    let (days, rest) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / HOUR_MS, rest % HOUR_MS / 60_000)
}

impl DailyDigest {
    fn digest(&self, due_ms: u64) -> Result<(), String> {
        let (mut posted, mut failed) = (0, Vec::new());
        for (user_id, activity) in last_day(due_ms)? {
            if activity.messages < self.config.min_messages {
                continue;
            }
            // Once per due time: a retry or a second run of the same due time posts nothing.
            let marker = format!("posted:{due_ms:015}:{user_id}");
            if !kv::compare_and_set(&marker, None, Some(b"1")).map_err(text)? {
                continue;
            }
            // One user's failure (an account deleted meanwhile, say) leaves the others theirs.
            let sent = digest_conversation(&user_id).and_then(|conversation| {
                chat::post_message(&conversation, &digest_text(&activity, due_ms)).map_err(text)
            });
            match sent {
                Ok(_) => posted += 1,
                Err(error) => failed.push(format!("{user_id}: {error}")),
            }
        }
        log::info(&format!("posted {posted} digests"));
        match failed.is_empty() {
            true => Ok(()),
            false => Err(format!("posted {posted} digests; {} failed: {}", failed.len(), failed.join("; "))),
        }
    }

    /// Forgets a deleted user: their counters of every hour the retention period keeps
    /// (and the next, against a clock step), and their digest conversation.
    fn forget(&self, user_id: &str) -> Result<(), String> {
        kv::delete(&format!("digest-conversation:{user_id}")).map_err(text)?;
        let now_hour = now_ms() / HOUR_MS;
        for hour in now_hour.saturating_sub(self.config.retention_days * 24)..=now_hour + 1 {
            kv::delete(&format!("{}{user_id}", hour_key(hour))).map_err(text)?;
        }
        Ok(())
    }

    fn prune(&self, due_ms: u64) -> Result<(), String> {
        let keep_from = hour_key((due_ms / HOUR_MS).saturating_sub(self.config.retention_days * 24));
        let keep_posted_from =
            format!("posted:{:015}:", due_ms.saturating_sub(self.config.retention_days * 86_400_000));
        let mut deleted = 0;
        for (prefix, keep_from) in [("activity:", &keep_from), ("posted:", &keep_posted_from)] {
            // Keys sort by time: the old ones come first.
            for key in kv::list_keys(prefix, LIST_LIMIT).map_err(text)? {
                if key.as_str() >= keep_from.as_str() {
                    break;
                }
                kv::delete(&key).map_err(text)?;
                deleted += 1;
            }
        }
        log::info(&format!("deleted {deleted} old entries"));
        Ok(())
    }
}

impl Plugin for DailyDigest {
    fn init(settings: Settings) -> Result<Self, String> {
        Ok(DailyDigest { config: settings.parse_as()? })
    }

    fn on_event(&mut self, context: &CallContext, event: Event) {
        let (message, reply) = match event {
            Event::MessageReceived(message) => (message, false),
            Event::MessageSent(message) => (message, true),
            _ => return,
        };
        // Its own posts are not activity.
        if context.user_id.is_empty() || message.author.starts_with("plugin:daily-digest") {
            return;
        }
        if let Err(error) = count(&context.user_id, &message.conversation_id, message.created_at_ms, reply) {
            log::warn(&format!("cannot count a message: {error}"));
        }
    }

    fn on_account_event(&mut self, _context: &CallContext, event: AccountEvent) {
        let AccountEvent::UserDeleted(account) = event else { return };
        if let Err(error) = self.forget(&account.id) {
            log::warn(&format!("cannot forget the activity of a deleted user: {error}"));
        }
    }

    fn run_task(&mut self, name: &str, scheduled_at_ms: u64) -> Result<(), String> {
        match name {
            "digest" => self.digest(scheduled_at_ms),
            "prune" => self.prune(scheduled_at_ms),
            other => Err(format!("unknown task `{other}`")),
        }
    }
}

export_plugin!(DailyDigest, hooks: [Events, Scheduled]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_time(1_796_457_600_000), "2026-12-05 08:00 UTC");
        assert_eq!(utc_time(951_782_400_000 + 3_600_000 + 60_000), "2000-02-29 01:01 UTC");
    }

    #[test]
    fn hour_keys_sort_by_time() {
        assert!(hour_key(99) < hour_key(100));
        assert_eq!(hour_key(493_462), "activity:0000493462:");
    }

    #[test]
    fn a_deleted_users_activity_is_forgotten_and_no_one_elses() {
        use plugboard_sdk::testing::{FakeHost, context};
        use plugboard_sdk::{Account, Message, Role};

        let host = FakeHost::new()
            .plugin_id("daily-digest")
            .permissions(["kv"])
            .settings(serde_json::json!({"retention_days": 7, "min_messages": 1}))
            .install();
        let mut plugin = host.init::<DailyDigest>().unwrap();
        let message = |id: &str| Message {
            id: id.into(),
            conversation_id: "talk".into(),
            role: Role::User,
            author: "someone".into(),
            content: "hello".into(),
            created_at_ms: now_ms(),
        };
        plugin.on_event(&context("ada", "talk"), Event::MessageReceived(message("m1")));
        plugin.on_event(&context("bo", "talk"), Event::MessageReceived(message("m2")));
        host.set_kv("digest-conversation:ada", "c1");
        assert_eq!(host.kv_keys().len(), 3, "{:?}", host.kv_keys());

        let ada = Account { id: "ada".into(), username: "Ada".into() };
        plugin.on_account_event(&context("ada", ""), AccountEvent::UserDeleted(ada));
        let keys = host.kv_keys();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(keys[0].starts_with("activity:") && keys[0].ends_with(":bo"), "{keys:?}");
    }

    #[test]
    fn activities_add_up() {
        let mut total = Activity::default();
        let hour = Activity { messages: 2, replies: 1, conversations: BTreeMap::from([("a".into(), 3)]) };
        total.add(&hour);
        total.add(&hour);
        assert_eq!(total, Activity { messages: 4, replies: 2, conversations: BTreeMap::from([("a".into(), 6)]) });
    }
}
