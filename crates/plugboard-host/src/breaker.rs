//! The circuit breaker: counts a plugin's faults in a sliding window and opens (disabling
//! the plugin) when there are too many. It stays open until an operator resets it.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::config::BreakerConfig;

/// Whether calls reach the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Too many faults: calls are refused until the breaker is reset.
    Open,
}

/// A plugin's fault record, for operators.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// When it happened.
    pub at: SystemTime,
    /// What happened, as the call error reads.
    pub error: String,
}

/// What the breaker knows, for display.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerStatus {
    /// Open or closed.
    pub state: BreakerState,
    /// Faults within the current window.
    pub recent_faults: usize,
    /// Faults since the plugin was loaded.
    pub total_faults: u64,
    /// The last fault.
    pub last_fault: Option<FaultRecord>,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    recent: VecDeque<Instant>,
    state: BreakerState,
    total_faults: u64,
    last_fault: Option<FaultRecord>,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Breaker {
        Breaker { config, recent: VecDeque::new(), state: BreakerState::Closed, total_faults: 0, last_fault: None }
    }

    /// Records a fault; returns true when this fault opened the breaker.
    pub(crate) fn record_fault(&mut self, error: String) -> bool {
        let now = Instant::now();
        self.trim(now);
        self.recent.push_back(now);
        self.total_faults += 1;
        self.last_fault = Some(FaultRecord { at: SystemTime::now(), error });
        if self.state == BreakerState::Closed && self.recent.len() >= self.config.max_faults {
            self.state = BreakerState::Open;
            return true;
        }
        false
    }

    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.state == BreakerState::Open
    }

    pub(crate) fn reset(&mut self) {
        self.state = BreakerState::Closed;
        self.recent.clear();
    }

    pub(crate) fn window(&self) -> Duration {
        self.config.window
    }

    pub(crate) fn status(&mut self) -> BreakerStatus {
        self.trim(Instant::now());
        BreakerStatus {
            state: self.state,
            recent_faults: self.recent.len(),
            total_faults: self.total_faults,
            last_fault: self.last_fault.clone(),
        }
    }

    fn trim(&mut self, now: Instant) {
        while self.recent.front().is_some_and(|at| now.duration_since(*at) > self.config.window) {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_max_faults_and_stays_open_until_reset() {
        let mut breaker = Breaker::new(BreakerConfig { max_faults: 3, window: Duration::from_secs(60) });
        assert!(!breaker.record_fault("one".into()));
        assert!(!breaker.record_fault("two".into()));
        assert!(breaker.record_fault("three".into()));
        assert!(breaker.is_open());
        assert!(!breaker.record_fault("four".into()), "opens once");
        assert_eq!(breaker.status().total_faults, 4);
        breaker.reset();
        assert!(!breaker.is_open());
        assert_eq!(breaker.status().recent_faults, 0);
    }

    #[test]
    fn faults_outside_the_window_do_not_count() {
        let mut breaker = Breaker::new(BreakerConfig { max_faults: 2, window: Duration::ZERO });
        assert!(!breaker.record_fault("one".into()));
        std::thread::sleep(Duration::from_millis(2));
        assert!(!breaker.record_fault("two".into()));
        assert!(!breaker.is_open());
    }
}
