//! Test fixture: recurses without end, to overflow the WebAssembly stack.

use plugboard_sdk::{CallContext, Plugin, Settings, export_plugin};

struct Recurser;

/// Recurses until `depth` reaches `limit`. With the default limit it never returns: the
/// WebAssembly call stack overflows first. Only plain integer locals, so the frames live
/// on the wasm stack (not Rust's shadow stack in linear memory), and two calls per frame
/// so the compiler cannot turn the recursion into a loop.
#[inline(never)]
fn descend(depth: u64, limit: u64) -> u64 {
    if depth >= limit {
        return depth;
    }
    descend(depth + 1, limit) ^ descend(depth + 2, limit)
}

impl Plugin for Recurser {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Recurser)
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
        let limit = arguments.get("limit").and_then(plugboard_sdk::serde_json::Value::as_u64).unwrap_or(u64::MAX);
        Ok(descend(0, limit).to_string())
    }
}

export_plugin!(Recurser, hooks: [Tools]);
