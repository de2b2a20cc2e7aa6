//! Call counts and durations per plugin and hook, kept in plain atomics and read when
//! metrics are scraped.
//!
//! A call records three relaxed atomic additions. (Recording through the `metrics`
//! facade, a counter and a histogram sample behind a lock per call, was about 0.7% of a
//! ten-filter server's CPU under load.) The statistics of a plugin id outlive its
//! versions, so a reload does not reset its counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::api::Hook;

/// Upper bounds of the call-duration buckets, in seconds: from a warm filter call to a
/// long model reply.
pub const CALL_DURATION_BUCKETS: [f64; 12] =
    [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0];

/// The calls of one plugin id, by hook.
#[derive(Debug)]
pub(crate) struct CallStats {
    hooks: [HookCounters; Hook::ALL.len()],
}

#[derive(Debug, Default)]
struct HookCounters {
    calls: AtomicU64,
    nanos: AtomicU64,
    /// Calls per bucket (not cumulative); calls over the last bound are in none.
    buckets: [AtomicU64; CALL_DURATION_BUCKETS.len()],
}

/// One hook's calls so far, as Prometheus reads a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct HookCallStats {
    /// The hook.
    pub hook: Hook,
    /// Calls, failed ones included.
    pub calls: u64,
    /// Their total duration in seconds.
    pub seconds: f64,
    /// Calls that took at most each bound of [`CALL_DURATION_BUCKETS`] (cumulative).
    pub buckets: [u64; CALL_DURATION_BUCKETS.len()],
}

impl Default for CallStats {
    fn default() -> Self {
        CallStats { hooks: std::array::from_fn(|_| HookCounters::default()) }
    }
}

impl CallStats {
    pub(crate) fn record(&self, hook: Hook, elapsed: Duration) {
        let counters = &self.hooks[hook as usize];
        counters.calls.fetch_add(1, Ordering::Relaxed);
        counters.nanos.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = CALL_DURATION_BUCKETS.iter().position(|bound| seconds <= *bound) {
            counters.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The hooks called at least once.
    pub(crate) fn snapshot(&self) -> Vec<HookCallStats> {
        Hook::ALL
            .into_iter()
            .filter_map(|hook| {
                let counters = &self.hooks[hook as usize];
                let calls = counters.calls.load(Ordering::Relaxed);
                if calls == 0 {
                    return None;
                }
                let mut buckets = [0; CALL_DURATION_BUCKETS.len()];
                let mut below = 0;
                for (cumulative, count) in buckets.iter_mut().zip(&counters.buckets) {
                    below += count.load(Ordering::Relaxed);
                    *cumulative = below;
                }
                let seconds = Duration::from_nanos(counters.nanos.load(Ordering::Relaxed)).as_secs_f64();
                Some(HookCallStats { hook, calls, seconds, buckets })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_fall_into_cumulative_buckets_by_duration() {
        let stats = CallStats::default();
        stats.record(Hook::BeforePrompt, Duration::from_micros(50));
        stats.record(Hook::BeforePrompt, Duration::from_micros(100));
        stats.record(Hook::BeforePrompt, Duration::from_millis(3));
        stats.record(Hook::BeforePrompt, Duration::from_secs(200));
        stats.record(Hook::Tools, Duration::from_millis(20));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.len(), 2, "hooks never called are left out: {snapshot:?}");
        let prompt = &snapshot[0];
        assert_eq!((prompt.hook, prompt.calls), (Hook::BeforePrompt, 4));
        assert_eq!(prompt.buckets, [2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3], "200 s is over the last bound");
        assert!((prompt.seconds - 200.00315).abs() < 1e-9, "{}", prompt.seconds);
        assert_eq!(
            (snapshot[1].hook, snapshot[1].buckets[5], snapshot[1].buckets[4]),
            (Hook::Tools, 1, 0),
            "20 ms is in the 50 ms bucket"
        );
    }
}
