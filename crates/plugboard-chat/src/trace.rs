//! The plugin trace of a chat turn: every plugin step in order, as JSON text.
//!
//! The stored form is the served form less repetition: in a filter chain each step's
//! text before is the text after the chain's previous rewriting step, so a rewriting step
//! keeps its `before` only when it is the first of its chain. [`expand`] puts the omitted
//! ones back when the trace is read. (A turn through ten rewriting filters stores half the
//! text: a row of about 3 KB instead of 6 KB, the difference between fitting a database
//! page or spilling onto overflow pages on every turn.)

use std::collections::HashMap;

use plugboard_host::{FilterStep, StepOutcome};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// The trace of one turn being built, written as JSON as it comes.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// The steps so far, comma-separated.
    steps: Vec<u8>,
}

impl Trace {
    /// Appends a filter chain's steps under `stage`.
    pub(crate) fn filters(&mut self, stage: &str, steps: &[FilterStep]) {
        let mut rewritten = false;
        for step in steps {
            self.append(&StoredStep { stage, step, before_is_known: rewritten });
            rewritten |= matches!(step.outcome, StepOutcome::Rewrote { .. });
        }
    }

    /// Appends any other step (the model's, a tool's, a command's).
    pub(crate) fn push(&mut self, value: Value) {
        self.append(&value);
    }

    fn append(&mut self, step: &impl Serialize) {
        let len = self.steps.len();
        if len > 0 {
            self.steps.push(b',');
        }
        if let Err(error) = serde_json::to_writer(&mut self.steps, step) {
            tracing::warn!("a step left out of the plugin trace: {error}");
            self.steps.truncate(len);
        }
    }

    /// `{"steps": [...]}` as JSON text; the trace is empty afterwards.
    pub(crate) fn take_json(&mut self) -> String {
        let steps = String::from_utf8_lossy(&self.steps);
        let json = format!("{{\"steps\":[{steps}]}}");
        self.steps.clear();
        json
    }
}

/// A filter step as stored: the stage, then the step as [`FilterStep`] serializes it,
/// without `before` when an earlier step of the chain rewrote the text (it is that step's
/// `after`).
struct StoredStep<'a> {
    stage: &'a str,
    step: &'a FilterStep,
    before_is_known: bool,
}

impl Serialize for StoredStep<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let step = self.step;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("stage", self.stage)?;
        map.serialize_entry("plugin", &step.plugin)?;
        map.serialize_entry("hook", &step.hook)?;
        match &step.outcome {
            StepOutcome::Kept => map.serialize_entry("outcome", "kept")?,
            StepOutcome::Rewrote { before, after } => {
                map.serialize_entry("outcome", "rewrote")?;
                if !self.before_is_known {
                    map.serialize_entry("before", before)?;
                }
                map.serialize_entry("after", after)?;
            }
            StepOutcome::Rejected { reason } => {
                map.serialize_entry("outcome", "rejected")?;
                map.serialize_entry("reason", reason)?;
            }
            StepOutcome::Failed { error, fail_closed } => {
                map.serialize_entry("outcome", "failed")?;
                map.serialize_entry("error", error)?;
                map.serialize_entry("fail_closed", fail_closed)?;
            }
        }
        map.serialize_entry("elapsed_us", &(step.elapsed.as_micros() as u64))?;
        map.end()
    }
}

/// A stored trace as served: each rewriting step's omitted `before` put back (the
/// previous rewriting step's `after` in the same stage). Traces stored whole are left as
/// they are.
pub fn expand(trace: &mut Value) {
    let Some(steps) = trace.get_mut("steps").and_then(Value::as_array_mut) else {
        return;
    };
    let mut last_after: HashMap<String, Value> = HashMap::new();
    for step in steps {
        let Some(step) = step.as_object_mut() else { continue };
        if step.get("outcome").and_then(Value::as_str) != Some("rewrote") {
            continue;
        }
        let Some(stage) = step.get("stage").and_then(Value::as_str).map(str::to_owned) else { continue };
        if !step.contains_key("before")
            && let Some(before) = last_after.get(&stage)
        {
            step.insert("before".to_owned(), before.clone());
        }
        if let Some(after) = step.get("after") {
            last_after.insert(stage, after.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use plugboard_host::Hook;
    use serde_json::json;

    use super::*;

    fn step(plugin: &str, outcome: StepOutcome) -> FilterStep {
        FilterStep {
            plugin: plugin.parse().unwrap(),
            hook: Hook::BeforePrompt,
            outcome,
            elapsed: Duration::from_micros(7),
        }
    }

    fn rewrote(before: &str, after: &str) -> StepOutcome {
        StepOutcome::Rewrote { before: before.to_owned(), after: after.to_owned() }
    }

    /// What the trace served before the stored form left anything out: each step as
    /// `FilterStep` serializes, with its stage.
    fn whole(stage: &str, steps: &[FilterStep]) -> Vec<Value> {
        steps
            .iter()
            .map(|step| {
                let mut value = json!({"stage": stage});
                value.as_object_mut().unwrap().extend(serde_json::to_value(step).unwrap().as_object().unwrap().clone());
                value
            })
            .collect()
    }

    #[test]
    fn a_chain_is_stored_without_repeated_text_and_served_whole() {
        let prompt = vec![
            step("first", rewrote("hi", "[a] hi")),
            step("keeper", StepOutcome::Kept),
            step("broken", StepOutcome::Failed { error: "trap".into(), fail_closed: false }),
            step("second", rewrote("[a] hi", "[b] [a] hi")),
            step("third", rewrote("[b] [a] hi", "")),
        ];
        let reply = vec![
            step("first", rewrote("", "an answer")),
            step("second", rewrote("an answer", "an answer [b]")),
            step("refuser", StepOutcome::Rejected { reason: "no".into() }),
        ];
        let mut trace = Trace::default();
        trace.filters("before-prompt", &prompt);
        trace.push(json!({"stage": "model", "model": "m/x"}));
        trace.filters("after-response", &reply);
        let stored = trace.take_json();

        // Each text is stored once.
        assert_eq!(stored.matches("[a] hi\"").count(), 2, "{stored}");
        assert_eq!(stored.matches("\"an answer\"").count(), 1, "{stored}");
        assert_eq!(stored.matches("\"before\"").count(), 2, "the first rewrite of each chain: {stored}");

        let mut served: Value = serde_json::from_str(&stored).unwrap();
        expand(&mut served);
        let mut expected = whole("before-prompt", &prompt);
        expected.push(json!({"stage": "model", "model": "m/x"}));
        expected.extend(whole("after-response", &reply));
        assert_eq!(served, json!({"steps": expected}));
    }

    #[test]
    fn a_trace_stored_whole_is_served_as_it_is() {
        let steps = vec![step("first", rewrote("a", "b")), step("second", rewrote("b", "c"))];
        let mut stored = json!({"steps": whole("before-prompt", &steps)});
        let original = stored.clone();
        expand(&mut stored);
        assert_eq!(stored, original);
        let mut odd = json!({"something": "else"});
        expand(&mut odd);
        assert_eq!(odd, json!({"something": "else"}));
    }
}
