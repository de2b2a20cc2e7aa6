//! Filter chains: deterministic order (priority, then id), fail open or closed per plugin,
//! a trace of every step.

use plugboard_host::api::{Message, Role};
use plugboard_host::{StepOutcome, TextFilter, run_stream_filters, run_text_filters};
use plugboard_manifest::FailMode;

use super::{context, load, load_with, runtime};

fn step_summary(result: &plugboard_host::ChainResult) -> Vec<(String, &'static str)> {
    result
        .steps
        .iter()
        .map(|step| {
            let what = match &step.outcome {
                StepOutcome::Kept => "kept",
                StepOutcome::Rewrote { .. } => "rewrote",
                StepOutcome::Rejected { .. } => "rejected",
                StepOutcome::Failed { fail_closed: false, .. } => "failed-open",
                StepOutcome::Failed { fail_closed: true, .. } => "failed-closed",
            };
            (step.plugin.to_string(), what)
        })
        .collect()
}

#[tokio::test]
async fn filters_run_by_priority_then_id_and_failures_fail_open_by_default() {
    let runtime = runtime();
    // Loaded in an order unrelated to the chain order.
    let plugins = vec![
        load(&runtime, "looper").await,
        load(&runtime, "example-tagger").await,
        load(&runtime, "pii-redactor").await,
        load(&runtime, "all-hooks").await,
        load(&runtime, "calculator").await,
    ];
    let result = run_text_filters(&plugins, &TextFilter::BeforePrompt, &context(), "mail ada@example.com").await;
    assert_eq!(result.rejection, None);
    assert_eq!(result.text, "[tagged] MAIL [EMAIL]! (conversation c1)");
    assert_eq!(
        step_summary(&result),
        [
            ("pii-redactor".to_owned(), "rewrote"),
            ("all-hooks".to_owned(), "rewrote"),
            ("example-tagger".to_owned(), "rewrote"),
            ("looper".to_owned(), "failed-open"),
        ]
    );
    match &result.steps[0].outcome {
        StepOutcome::Rewrote { before, after } => {
            assert_eq!(before, "mail ada@example.com");
            assert_eq!(after, "mail [email]");
        }
        other => panic!("{other:?}"),
    }
    match &result.steps[3].outcome {
        StepOutcome::Failed { error, .. } => assert!(error.contains("deadline"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_rejection_stops_the_chain() {
    let runtime = runtime();
    let plugins = vec![load(&runtime, "all-hooks").await, load(&runtime, "example-tagger").await];
    let result = run_text_filters(&plugins, &TextFilter::BeforePrompt, &context(), "something forbidden").await;
    let rejection = result.rejection.clone().expect("rejected");
    assert_eq!(rejection.plugin.as_str(), "all-hooks");
    assert_eq!(rejection.reason, "prompts may not say forbidden");
    assert_eq!(step_summary(&result), [("all-hooks".to_owned(), "rejected")]);
}

#[tokio::test]
async fn a_failing_fail_closed_filter_refuses_the_turn() {
    let runtime = runtime();
    let panicker = load_with(&runtime, "panicker", |m| format!("{m}\n[filters]\non_error = \"closed\"\n")).await;
    let tagger = load(&runtime, "example-tagger").await;
    let plugins = vec![panicker.clone(), tagger];
    let result = run_text_filters(&plugins, &TextFilter::BeforePrompt, &context(), "please panic").await;
    let rejection = result.rejection.clone().expect("refused");
    assert_eq!(rejection.plugin.as_str(), "panicker");
    assert!(
        rejection.reason.starts_with("the `panicker` filter failed and is configured to fail closed: panicked:"),
        "{}",
        rejection.reason
    );
    assert_eq!(
        step_summary(&result),
        [("example-tagger".to_owned(), "rewrote"), ("panicker".to_owned(), "failed-closed")]
    );

    // The operator can override the manifest.
    panicker.set_fail_mode(FailMode::Open);
    let result = run_text_filters(&plugins, &TextFilter::BeforePrompt, &context(), "please panic").await;
    assert_eq!(result.rejection, None);
    assert_eq!(result.text, "[tagged] please panic");
}

#[tokio::test]
async fn disabled_plugins_are_left_out() {
    let runtime = runtime();
    let tagger = load(&runtime, "example-tagger").await;
    tagger.disable().await.unwrap();
    let result = run_text_filters(&[tagger], &TextFilter::AfterResponse, &context(), "reply").await;
    assert_eq!(result.text, "reply");
    assert!(result.steps.is_empty());
}

#[tokio::test]
async fn will_be_posted_and_stream_chains() {
    let runtime = runtime();
    let plugins = vec![load(&runtime, "all-hooks").await, load(&runtime, "example-tagger").await];
    let message = Message {
        id: Default::default(),
        conversation_id: "c1".into(),
        role: Role::User,
        author: "user:u1".into(),
        content: "the colour".into(),
        created_at_ms: 0,
    };
    let result = run_text_filters(&plugins, &TextFilter::MessageWillBePosted(message), &context(), "the colour").await;
    assert_eq!(result.text, "the color");
    assert_eq!(run_stream_filters(&plugins, &context(), "top secret").await, "top ******");
}
