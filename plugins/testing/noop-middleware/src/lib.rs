//! Benchmark fixture: the cheapest request middleware, a `before-request` hook that
//! keeps every request as it is.

use plugboard_sdk::{CallContext, HttpRequest, Plugin, RequestOutcome, Settings, export_plugin};

struct Noop;

impl Plugin for Noop {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Noop)
    }

    fn before_request(&mut self, _context: &CallContext, _request: HttpRequest) -> RequestOutcome {
        RequestOutcome::Keep
    }
}

export_plugin!(Noop, hooks: [BeforeRequest]);
