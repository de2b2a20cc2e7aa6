//! Settings: validated against the schema, checked by the plugin's init, delivered live,
//! secrets redacted for display.

use plugboard_host::SettingsError;
use plugboard_host::api::FilterOutcome;
use serde_json::json;

use super::{context, load, load_with, runtime};

#[tokio::test]
async fn new_settings_reach_every_instance() {
    let runtime = runtime();
    let tagger = load(&runtime, "example-tagger").await;
    assert_eq!(tagger.before_prompt(&context(), "a").await.unwrap(), FilterOutcome::Rewrite("[tagged] a".into()));
    let applied = tagger.update_settings(&json!({"tag": "checked"})).await.unwrap();
    assert_eq!(applied, json!({"tag": "checked"}));
    // Concurrent calls start several instances; all of them see the new tag.
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let tagger = tagger.clone();
            tokio::spawn(async move { tagger.before_prompt(&context(), "a").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), FilterOutcome::Rewrite("[checked] a".into()));
    }
    assert_eq!(tagger.settings(), json!({"tag": "checked"}));
}

#[tokio::test]
async fn invalid_settings_list_every_violation_and_change_nothing() {
    let runtime = runtime();
    let tagger = load(&runtime, "example-tagger").await;
    let error = tagger.update_settings(&json!({"tag": "", "colour": "red"})).await.unwrap_err();
    match &error {
        SettingsError::Invalid(violations) => {
            assert_eq!(violations.len(), 2, "{violations:?}");
            assert!(violations.iter().any(|v| v.path == "/tag"));
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().starts_with("invalid settings: "), "{error}");
    assert_eq!(tagger.settings(), json!({"tag": "tagged"}));
}

#[tokio::test]
async fn settings_refused_by_init_change_nothing() {
    let runtime = runtime();
    let plugin = load(&runtime, "all-hooks").await;
    let error = plugin.update_settings(&json!({"suffix": "refuse"})).await.unwrap_err();
    assert!(error.to_string().contains("init refused the settings: suffix `refuse` is refused by init"), "{error}");
    assert_eq!(
        plugin.before_prompt(&context(), "a").await.unwrap(),
        FilterOutcome::Rewrite("A! (conversation c1)".into())
    );
}

#[tokio::test]
async fn secrets_are_redacted_for_display() {
    let runtime = runtime();
    let plugin = load_with(&runtime, "host-probe", |m| {
        format!("{m}\n[settings.properties.token]\ntype = \"string\"\nformat = \"password\"\n")
    })
    .await;
    plugin.update_settings(&json!({"token": "s3cret"})).await.unwrap();
    assert_eq!(plugin.redacted_settings(), json!({"greeting": "hello", "token": null}));
    assert_eq!(plugin.settings()["token"], "s3cret", "the plugin itself gets the secret");
}
