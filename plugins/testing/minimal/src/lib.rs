//! Test fixture: a plugin written against the bare WIT, without the SDK, that exports only
//! `lifecycle` and `events` (not `account-events`, nor any other optional interface), as a
//! plugin built before `account-events` was added does. It keeps a log of the events it
//! receives in its key-value store under `event-log`, one per line.

#![allow(unsafe_code, missing_docs)] // the code `wit_bindgen::generate!` writes

wit_bindgen::generate!({
    inline: r#"
        package plugboard-test:minimal;

        world minimal {
            import plugboard:plugin/kv@0.1.0;
            export plugboard:plugin/lifecycle@0.1.0;
            export plugboard:plugin/events@0.1.0;
        }
    "#,
    path: "../../../wit/v0.1.0",
    world: "plugboard-test:minimal/minimal",
    generate_all,
});

use exports::plugboard::plugin::events::{self, Event};
use exports::plugboard::plugin::lifecycle::{self, HealthReport, HealthStatus, Hook, SelfTestResult};
use plugboard::plugin::kv;
use plugboard::plugin::types::{CallContext, FilterOutcome, Message};

struct Minimal;

impl lifecycle::Guest for Minimal {
    fn implemented_hooks() -> Vec<Hook> {
        vec![Hook::Events]
    }
    fn init(_settings: String) -> Result<(), String> {
        Ok(())
    }
    fn shutdown() {}
    fn on_enable() {}
    fn on_disable() {}
    fn health() -> HealthReport {
        HealthReport { status: HealthStatus::Healthy, message: "minimal".into(), details: "{}".into() }
    }
    fn self_test() -> Vec<SelfTestResult> {
        Vec::new()
    }
}

impl events::Guest for Minimal {
    fn on_event(_context: CallContext, event: Event) {
        let line = match event {
            Event::ConversationStarted(c) => format!("conversation-started {}", c.id),
            Event::ConversationEnded(c) => format!("conversation-ended {}", c.id),
            _ => return,
        };
        let mut log = kv::get("event-log").ok().flatten().unwrap_or_default();
        log.extend_from_slice(line.as_bytes());
        log.push(b'\n');
        let _ = kv::set("event-log", &log, None);
    }

    fn message_will_be_posted(_context: CallContext, _message: Message) -> FilterOutcome {
        FilterOutcome::Keep
    }
}

export!(Minimal);
