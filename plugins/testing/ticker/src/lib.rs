//! Test fixture: scheduled tasks that record each run in the key-value store, so tests can
//! count runs and their due times, and notice two runs of one task at once.
//!
//! For each run of task `t` due at `d`: `count:t` is incremented and `run:t:<d>` set.
//! While a run is under way `running:t` is held (compare-and-set); a run that finds it
//! held sets `overlap:t`. `slow` and `long` take 2.5 s, `overrun` spins past its deadline and `fail`
//! returns an error.

use std::time::Duration;

use plugboard_sdk::{Plugin, Settings, export_plugin, kv};

struct Ticker;

fn bump(key: &str) -> Result<(), String> {
    loop {
        let old = kv::get(key).map_err(|error| error.to_string())?;
        let count = old.as_deref().and_then(|bytes| std::str::from_utf8(bytes).ok()?.parse::<u64>().ok()).unwrap_or(0);
        let new = (count + 1).to_string();
        if kv::compare_and_set(key, old.as_deref(), Some(new.as_bytes())).map_err(|error| error.to_string())? {
            return Ok(());
        }
    }
}

fn work(name: &str) -> Result<(), String> {
    match name {
        "slow" | "long" => std::thread::sleep(Duration::from_millis(2_500)),
        "overrun" => {
            let mut counter: u64 = 0;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        "fail" => return Err("the fail task fails on purpose".into()),
        _ => {}
    }
    Ok(())
}

impl Plugin for Ticker {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Ticker)
    }

    fn run_task(&mut self, name: &str, scheduled_at_ms: u64) -> Result<(), String> {
        let running = format!("running:{name}");
        let held = kv::compare_and_set(&running, None, Some(b"1")).map_err(|error| error.to_string())?;
        if !held {
            kv::set(&format!("overlap:{name}"), scheduled_at_ms.to_string().as_bytes())
                .map_err(|error| error.to_string())?;
        }
        let result = work(name);
        if held {
            kv::delete(&running).map_err(|error| error.to_string())?;
        }
        bump(&format!("count:{name}"))?;
        kv::set(&format!("run:{name}:{scheduled_at_ms}"), b"1").map_err(|error| error.to_string())?;
        result
    }
}

export_plugin!(Ticker, hooks: [Scheduled]);
