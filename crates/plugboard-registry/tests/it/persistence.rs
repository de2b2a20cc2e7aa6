//! What survives a restart: enabled state, settings, KV data, fault history, and a
//! circuit breaker that opened.

use plugboard_host::api::{CallContext, FilterOutcome};
use plugboard_registry::PluginState;
use serde_json::json;

use crate::{Setup, eventually, id, kv_text, stop};

#[tokio::test]
async fn enabled_state_settings_and_kv_data_survive_a_restart() {
    let setup = Setup::with(&["example-tagger", "host-probe", "calculator"]);
    let registry = setup.start().await;
    registry.disable(&id("calculator")).await.unwrap();
    registry.update_settings(&id("example-tagger"), &json!({"tag": "saved"})).await.unwrap();
    let probe = registry.plugin(&id("host-probe")).unwrap();
    probe.call_tool(&CallContext::default(), "kv_set", json!({"key": "visits", "value": "41"})).await.unwrap();
    stop(registry).await;

    let registry = setup.start().await;
    assert_eq!(registry.entry(&id("calculator")).unwrap().state, PluginState::Disabled);
    assert_eq!(registry.entry(&id("example-tagger")).unwrap().state, PluginState::Enabled);
    let tagger = registry.plugin(&id("example-tagger")).unwrap();
    let outcome = tagger.before_prompt(&CallContext::default(), "hi").await.unwrap();
    assert_eq!(outcome, FilterOutcome::Rewrite("[saved] hi".into()));
    let probe = registry.plugin(&id("host-probe")).unwrap();
    let read = probe.call_tool(&CallContext::default(), "kv_get", json!({"key": "visits"})).await.unwrap();
    assert!(read.contains("41"), "{read}");
    assert_eq!(kv_text(&registry, "host-probe", "visits").await.as_deref(), Some("41"));
    stop(registry).await;
}

#[tokio::test]
async fn fault_history_and_an_open_breaker_survive_a_restart() {
    let setup = Setup::with(&["trapper"]);
    let registry = setup.start().await;
    let trapper = registry.plugin(&id("trapper")).unwrap();
    for _ in 0..5 {
        let error = trapper.call_tool(&CallContext::default(), "trap", json!({})).await.unwrap_err();
        assert_eq!(error.kind.code(), "trap", "{error}");
    }
    assert_eq!(registry.entry(&id("trapper")).unwrap().state, PluginState::Failed);
    // Faults and the breaker are recorded by a background task: wait for them.
    eventually("the breaker to be saved", async || {
        let record = registry.store().plugin_record("trapper").await.unwrap()?;
        (!record.enabled).then_some(())
    })
    .await;
    eventually("five faults saved", async || {
        (registry.faults(&id("trapper"), 100).await.unwrap().len() == 5).then_some(())
    })
    .await;
    stop(registry).await;

    let registry = setup.start().await;
    let entry = registry.describe(&id("trapper")).await.unwrap();
    assert_eq!(entry.state, PluginState::Failed);
    assert_eq!(entry.error, entry.disabled_reason);
    let listed = registry.list().await.into_iter().find(|entry| entry.id.as_str() == "trapper").unwrap();
    assert_eq!(listed.state, PluginState::Failed);
    let trapper = registry.plugin(&id("trapper")).unwrap();
    let refused = trapper.call_tool(&CallContext::default(), "ok", json!({})).await.unwrap_err();
    assert_eq!(refused.kind.code(), "disabled", "no call reaches it after the restart");
    let reason = entry.disabled_reason.unwrap();
    assert!(reason.contains("circuit breaker opened") && reason.contains("trap"), "{reason}");
    let faults = registry.faults(&id("trapper"), 100).await.unwrap();
    assert_eq!(faults.len(), 5);
    assert!(faults.iter().all(|fault| fault.version == "0.1.0" && fault.error.contains("trap")));

    // An operator enabling it again clears the reason.
    registry.enable(&id("trapper")).await.unwrap();
    let entry = registry.describe(&id("trapper")).await.unwrap();
    assert_eq!((entry.state, entry.disabled_reason), (PluginState::Enabled, None));
    let trapper = registry.plugin(&id("trapper")).unwrap();
    assert_eq!(trapper.call_tool(&CallContext::default(), "ok", json!({})).await.unwrap(), "fine");
    stop(registry).await;
}

#[tokio::test]
async fn saved_settings_that_a_new_version_refuses_are_reported_and_can_be_fixed() {
    let setup = Setup::with(&["example-tagger"]);
    let registry = setup.start().await;
    registry.update_settings(&id("example-tagger"), &json!({"tag": "a-rather-long-tag"})).await.unwrap();
    stop(registry).await;

    // The new version only accepts short tags.
    setup.edit_manifest("example-tagger", |text| text.replace("maxLength = 40", "maxLength = 8"));
    let registry = setup.start().await;
    let entry = registry.entry(&id("example-tagger")).unwrap();
    assert_eq!(entry.state, PluginState::Failed);
    let error = entry.error.unwrap();
    assert!(error.contains("/tag"), "{error}");

    // Saving valid settings loads it.
    registry.update_settings(&id("example-tagger"), &json!({"tag": "short"})).await.unwrap();
    assert_eq!(registry.entry(&id("example-tagger")).unwrap().state, PluginState::Enabled);
    stop(registry).await;
}
