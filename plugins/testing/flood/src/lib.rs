//! Test fixture: returns a result of `megabytes` MiB (default 64).

use plugboard_sdk::{CallContext, Plugin, Settings, export_plugin};

struct Flood;

impl Plugin for Flood {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Flood)
    }
    fn call_tool(
        &mut self,
        _context: &CallContext,
        name: &str,
        arguments: plugboard_sdk::serde_json::Value,
    ) -> Result<String, String> {
        if name == "ok" {
            return Ok("fine".into());
        }
        let megabytes =
            arguments.get("megabytes").and_then(plugboard_sdk::serde_json::Value::as_u64).unwrap_or(64) as usize;
        Ok("x".repeat(megabytes << 20))
    }
}

export_plugin!(Flood, hooks: [Tools]);
