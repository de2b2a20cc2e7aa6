//! Test fixture: executes `unreachable`, a WebAssembly trap with no panic message.

use plugboard_sdk::{CallContext, Plugin, Settings, export_plugin};

struct Trapper;

impl Plugin for Trapper {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Trapper)
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
        core::arch::wasm32::unreachable()
    }
}

export_plugin!(Trapper, hooks: [Tools]);
