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
        trap()
    }
}

export_plugin!(Trapper, hooks: [Tools]);

#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

/// Plugins also compile natively (for their unit tests); there is no trap to raise there.
#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    std::process::abort()
}
