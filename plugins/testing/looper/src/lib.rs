//! Test fixture: spins forever, to show the host's CPU deadline stops it: in before-prompt,
//! in its `spin` tool and in its shutdown hook (so replacing it takes that deadline).

use plugboard_sdk::{CallContext, FilterOutcome, Plugin, Settings, ToolSpec, export_plugin};

struct Looper;

fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

impl Plugin for Looper {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Looper)
    }
    fn shutdown(&mut self) {
        spin()
    }
    fn before_prompt(&mut self, _context: &CallContext, _prompt: String) -> FilterOutcome {
        spin()
    }
    fn tools(&mut self) -> Vec<ToolSpec> {
        vec![ToolSpec::new("spin", "Never returns", plugboard_sdk::serde_json::json!({"type": "object"}))]
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
        spin()
    }
}

export_plugin!(Looper, hooks: [BeforePrompt, Tools]);
