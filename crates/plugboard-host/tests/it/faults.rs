//! Misbehaving plugins are stopped with the right typed error, the host keeps serving,
//! and a plugin that keeps faulting is disabled by its circuit breaker.

use std::time::{Duration, Instant};

use plugboard_host::api::FilterOutcome;
use plugboard_host::{BreakerConfig, BreakerState, CallErrorKind, Hook, RuntimeConfig, RuntimeEvent};
use serde_json::json;

use super::{context, load, runtime, runtime_with, test_config};

/// Calls `tool` of `plugin`, expecting a fault of `code`; then checks that the same plugin
/// and another plugin still answer.
async fn faults_then_recovers(name: &str, expected_code: &str) -> String {
    let runtime = runtime();
    let plugin = load(&runtime, name).await;
    let calculator = load(&runtime, "calculator").await;
    let ctx = context();
    let error = plugin.call_tool(&ctx, "misbehave", json!({})).await.unwrap_err();
    assert_eq!(error.kind.code(), expected_code, "{error}");
    assert_eq!(error.plugin.as_str(), name);
    assert_eq!(error.hook, Hook::Tools);
    assert!(error.kind.is_fault());
    assert_eq!(plugin.call_tool(&ctx, "ok", json!({})).await.unwrap(), "fine", "the next call works");
    assert_eq!(calculator.call_tool(&ctx, "calculate", json!({"expression": "1+1"})).await.unwrap(), "2");
    let status = plugin.status();
    assert_eq!(status.faults, 1);
    assert_eq!(status.breaker.last_fault.unwrap().error, error.to_string());
    error.to_string()
}

#[tokio::test]
async fn a_trap_fails_the_call_only() {
    let message = faults_then_recovers("trapper", "trap").await;
    assert_eq!(message, "plugin `trapper` hook `tools`: trapped: executed an `unreachable` instruction");
}

#[tokio::test]
async fn a_panic_is_reported_with_its_message() {
    let message = faults_then_recovers("panicker", "panic").await;
    assert!(
        message.starts_with("plugin `panicker` hook `tools`: panicked: the panicker plugin panicked on purpose (at "),
        "{message}"
    );
}

#[tokio::test]
async fn endless_recursion_overflows_the_stack() {
    let message = faults_then_recovers("recurser", "stack_overflow").await;
    assert_eq!(message, "plugin `recurser` hook `tools`: overflowed its stack (endless recursion?) and was stopped");
}

#[tokio::test]
async fn endless_allocation_hits_the_memory_ceiling() {
    let message = faults_then_recovers("hog", "memory_limit").await;
    assert_eq!(message, "plugin `hog` hook `tools`: tried to use more than its 32 MiB memory ceiling and was stopped");
}

#[tokio::test]
async fn a_huge_result_is_refused() {
    let message = faults_then_recovers("flood", "output_too_large").await;
    assert_eq!(
        message,
        format!("plugin `flood` hook `tools`: returned {} bytes, more than the {} byte limit", 64 << 20, 16 << 20)
    );
    // Within the limit, the same plugin's output is accepted.
    let runtime = runtime();
    let flood = load(&runtime, "flood").await;
    let text = flood.call_tool(&context(), "misbehave", json!({"megabytes": 1})).await.unwrap();
    assert_eq!(text.len(), 1 << 20);
}

#[tokio::test]
async fn an_endless_loop_is_stopped_close_to_its_deadline() {
    let runtime = runtime();
    let looper = load(&runtime, "looper").await;
    assert_eq!(looper.limits().timeout, Duration::from_millis(200));
    let started = Instant::now();
    let error = looper.call_tool(&context(), "spin", json!({})).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.kind, CallErrorKind::Deadline { timeout: Duration::from_millis(200) });
    assert_eq!(error.to_string(), "plugin `looper` hook `tools`: exceeded its 200 ms deadline and was stopped");
    assert!(elapsed >= Duration::from_millis(200), "stopped early: {elapsed:?}");
    // Epoch ticks are 5 ms; allow for a busy machine, but not for a missing deadline.
    assert!(elapsed < Duration::from_millis(1200), "stopped late: {elapsed:?}");
    // A filter that loops is stopped the same way, and the plugin then answers.
    let error = looper.before_prompt(&context(), "hi").await.unwrap_err();
    assert_eq!(error.kind.code(), "deadline");
    assert_eq!(looper.call_tool(&context(), "ok", json!({})).await.unwrap(), "fine");
}

#[tokio::test]
async fn concurrent_loops_do_not_starve_other_plugins() {
    let runtime = runtime();
    let looper = load(&runtime, "looper").await;
    let calculator = load(&runtime, "calculator").await;
    let spinning: Vec<_> = (0..4)
        .map(|_| {
            let looper = looper.clone();
            tokio::spawn(async move { looper.call_tool(&context(), "spin", json!({})).await })
        })
        .collect();
    // While four calls spin, another plugin keeps answering.
    for _ in 0..20 {
        assert_eq!(calculator.call_tool(&context(), "calculate", json!({"expression": "6*7"})).await.unwrap(), "42");
    }
    for task in spinning {
        assert_eq!(task.await.unwrap().unwrap_err().kind.code(), "deadline");
    }
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_faults_and_an_operator_can_reset_it() {
    let config =
        RuntimeConfig { breaker: BreakerConfig { max_faults: 3, window: Duration::from_secs(60) }, ..test_config() };
    let runtime = runtime_with(config);
    let mut events = runtime.subscribe();
    let panicker = load(&runtime, "panicker").await;
    let ctx = context();
    for _ in 0..3 {
        assert_eq!(panicker.call_tool(&ctx, "misbehave", json!({})).await.unwrap_err().kind.code(), "panic");
    }
    let status = panicker.status();
    assert_eq!(status.breaker.state, BreakerState::Open);
    assert!(!status.enabled);
    assert!(status.breaker.last_fault.unwrap().error.contains("panicked on purpose"));
    let error = panicker.call_tool(&ctx, "ok", json!({})).await.unwrap_err();
    match &error.kind {
        CallErrorKind::BreakerOpen { faults, last_error, .. } => {
            assert_eq!(*faults, 3);
            assert!(last_error.contains("panicked on purpose"));
        }
        other => panic!("expected the breaker to refuse, got {other:?}"),
    }
    assert!(error.to_string().contains("was disabled after 3 faults in 60 s"), "{error}");
    // Filters of a failed plugin are left out of chains.
    assert!(!panicker.is_enabled());

    let mut saw_breaker_event = false;
    while let Ok(event) = events.try_recv() {
        saw_breaker_event |=
            matches!(event, RuntimeEvent::BreakerOpened { ref plugin, .. } if plugin.as_str() == "panicker");
    }
    assert!(saw_breaker_event, "subscribers hear of the breaker opening");

    panicker.enable().await.unwrap();
    assert_eq!(panicker.status().breaker.state, BreakerState::Closed);
    assert_eq!(panicker.before_prompt(&ctx, "fine").await.unwrap(), FilterOutcome::Rewrite("fine (checked)".into()));
}

#[tokio::test]
async fn polite_refusals_do_not_count_as_faults() {
    let config =
        RuntimeConfig { breaker: BreakerConfig { max_faults: 2, window: Duration::from_secs(60) }, ..test_config() };
    let runtime = runtime_with(config);
    let calculator = load(&runtime, "calculator").await;
    for _ in 0..5 {
        assert!(calculator.call_tool(&context(), "calculate", json!({"expression": "1/0"})).await.is_err());
    }
    assert_eq!(calculator.status().breaker.state, BreakerState::Closed);
    assert!(calculator.is_enabled());
}

#[tokio::test]
async fn rate_limits_refuse_calls_past_the_budget() {
    let runtime = runtime();
    let calculator = super::load_with(&runtime, "calculator", |m| {
        m.replace("timeout_ms = 200", "timeout_ms = 200\nmax_calls_per_minute = 3")
    })
    .await;
    let ctx = context();
    for _ in 0..3 {
        calculator.call_tool(&ctx, "calculate", json!({"expression": "1"})).await.unwrap();
    }
    let error = calculator.call_tool(&ctx, "calculate", json!({"expression": "1"})).await.unwrap_err();
    assert_eq!(error.kind, CallErrorKind::RateLimited { per_minute: 3 });
}
