//! Example tagger: the plugin of seed 000, as a Plugboard component. It tags prompts on
//! their way to the model and replies on their way back, and logs conversation events.

use plugboard_sdk::{CallContext, Event, FilterOutcome, Plugin, Settings, export_plugin, log};

struct Tagger {
    tag: String,
}

impl Plugin for Tagger {
    fn init(settings: Settings) -> Result<Self, String> {
        let tag = settings.get::<String>("tag").unwrap_or_else(|| "tagged".to_owned());
        Ok(Tagger { tag })
    }

    fn before_prompt(&mut self, _context: &CallContext, prompt: String) -> FilterOutcome {
        FilterOutcome::Rewrite(format!("[{}] {prompt}", self.tag))
    }

    fn after_response(&mut self, _context: &CallContext, response: String) -> FilterOutcome {
        FilterOutcome::Rewrite(format!("{response}\n\n[{}]", self.tag))
    }

    fn on_event(&mut self, _context: &CallContext, event: Event) {
        match event {
            Event::ConversationStarted(conversation) => {
                log::info(&format!("conversation {} started: {}", conversation.id, conversation.title))
            }
            Event::ConversationEnded(conversation) => log::info(&format!("conversation {} ended", conversation.id)),
            _ => {}
        }
    }
}

export_plugin!(Tagger, hooks: [BeforePrompt, AfterResponse, Events]);
