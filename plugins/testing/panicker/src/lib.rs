//! Test fixture: panics, which a Rust guest turns into a trap after printing the message.

use plugboard_sdk::{CallContext, FilterOutcome, Plugin, Settings, export_plugin};

struct Panicker;

impl Plugin for Panicker {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Panicker)
    }
    fn before_prompt(&mut self, _context: &CallContext, prompt: String) -> FilterOutcome {
        if prompt.contains("panic") {
            panic!("the panicker plugin panicked on purpose");
        }
        FilterOutcome::Rewrite(format!("{prompt} (checked)"))
    }
    fn call_tool(
        &mut self,
        _context: &CallContext,
        name: &str,
        _arguments: plugboard_sdk::serde_json::Value,
    ) -> Result<String, String> {
        if name == "ok" {
            return Ok("fine".into());
        }
        panic!("the panicker plugin panicked on purpose");
    }
}

export_plugin!(Panicker, hooks: [BeforePrompt, Tools]);
