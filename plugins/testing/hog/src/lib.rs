//! Test fixture: allocates without end, to show the host's memory ceiling stops it.

use plugboard_sdk::{CallContext, Plugin, Settings, export_plugin};

struct Hog;

impl Plugin for Hog {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Hog)
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
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export_plugin!(Hog, hooks: [Tools]);
