//! Test fixture: recurses without end, to overflow the WebAssembly stack.

use plugboard_sdk::{CallContext, Plugin, Settings, export_plugin};

struct Recurser;

#[inline(never)]
#[allow(unconditional_recursion, reason = "overflowing the stack is the point")]
fn descend(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 16]);
    descend(frame[3] + 1) + frame[7]
}

impl Plugin for Recurser {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Recurser)
    }
    fn call_tool(&mut self, _context: &CallContext, name: &str, _arguments: plugboard_sdk::serde_json::Value) -> Result<String, String> {
        if name == "ok" {
            return Ok("fine".into());
        }
        Ok(descend(0).to_string())
    }
}

export_plugin!(Recurser, hooks: [Tools]);
