//! Settings: validated against the plugin's JSON Schema with every violation listed,
//! delivered live, refused by `init` without harm, and secrets never read back.

use plugboard_host::api::{CallContext, FilterOutcome};
use plugboard_registry::RegistryError;
use serde_json::json;

use crate::{Setup, id, stop};

async fn tag_prompt(registry: &plugboard_registry::Registry, prompt: &str) -> String {
    let plugin = registry.plugin(&id("example-tagger")).unwrap();
    match plugin.before_prompt(&CallContext::default(), prompt).await.unwrap() {
        FilterOutcome::Rewrite(text) => text,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn new_settings_reach_the_running_plugin_with_defaults_applied() {
    let setup = Setup::with(&["example-tagger"]);
    let registry = setup.start().await;
    let plugin_id = id("example-tagger");
    assert_eq!(registry.settings(&plugin_id).await.unwrap(), json!({"tag": "tagged"}));
    assert_eq!(tag_prompt(&registry, "hi").await, "[tagged] hi");

    let in_force = registry.update_settings(&plugin_id, &json!({"tag": "live"})).await.unwrap();
    assert_eq!(in_force, json!({"tag": "live"}));
    assert_eq!(tag_prompt(&registry, "hi").await, "[live] hi");

    // Saving an empty object goes back to the defaults.
    registry.update_settings(&plugin_id, &json!({})).await.unwrap();
    assert_eq!(tag_prompt(&registry, "hi").await, "[tagged] hi");
    stop(registry).await;
}

#[tokio::test]
async fn invalid_settings_are_refused_with_every_violation_and_change_nothing() {
    let setup = Setup::with(&["example-tagger"]);
    let registry = setup.start().await;
    let plugin_id = id("example-tagger");
    registry.update_settings(&plugin_id, &json!({"tag": "good"})).await.unwrap();

    let error = registry.update_settings(&plugin_id, &json!({"tag": "", "colour": "red"})).await.unwrap_err();
    let RegistryError::InvalidSettings { violations, .. } = &error else { panic!("{error}") };
    let paths: Vec<&str> = violations.iter().map(|violation| violation.path.as_str()).collect();
    assert_eq!(paths, ["/tag", ""], "{error}");
    assert_eq!(error.code(), "invalid_settings");
    assert!(error.to_string().starts_with("invalid settings for plugin `example-tagger`: "), "{error}");
    assert!(error.to_string().contains("/tag: "), "{error}");

    assert_eq!(registry.settings(&plugin_id).await.unwrap(), json!({"tag": "good"}));
    assert_eq!(tag_prompt(&registry, "hi").await, "[good] hi");
    let saved = registry.store().plugin_record("example-tagger").await.unwrap().unwrap();
    assert_eq!(saved.settings, Some(json!({"tag": "good"})));
    stop(registry).await;
}

#[tokio::test]
async fn settings_the_plugin_refuses_in_init_are_not_saved() {
    let setup = Setup::with(&["all-hooks"]);
    let registry = setup.start().await;
    let plugin_id = id("all-hooks");

    let error = registry.update_settings(&plugin_id, &json!({"suffix": "refuse"})).await.unwrap_err();
    assert_eq!(error.code(), "plugin_hook_failed");
    assert!(error.to_string().contains("suffix `refuse` is refused by init"), "{error}");
    assert_eq!(registry.settings(&plugin_id).await.unwrap(), json!({"suffix": "!"}));
    assert_eq!(registry.store().plugin_record("all-hooks").await.unwrap(), None);
    stop(registry).await;
}

#[tokio::test]
async fn secrets_are_never_read_back_and_survive_a_form_saved_without_them() {
    let setup = Setup::with(&["example-tagger"]);
    setup.edit_manifest("example-tagger", |text| {
        format!(
            "{text}\n[settings.properties.api_key]\ntype = \"string\"\nformat = \"password\"\n\n\
             [settings.properties.webhook_secret]\ntype = \"string\"\nwriteOnly = true\n"
        )
    });
    let registry = setup.start().await;
    let plugin_id = id("example-tagger");

    let shown = registry
        .update_settings(&plugin_id, &json!({"tag": "t", "api_key": "sk-123", "webhook_secret": "whs"}))
        .await
        .unwrap();
    assert_eq!(shown, json!({"tag": "t", "api_key": null, "webhook_secret": null}));
    assert_eq!(
        registry.settings(&plugin_id).await.unwrap(),
        json!({"tag": "t", "api_key": null, "webhook_secret": null})
    );
    let listed = serde_json::to_string(&registry.list().await).unwrap();
    assert!(!listed.contains("sk-123") && !listed.contains("whs"), "{listed}");

    // The form sends back what it was shown: the secrets stay as they were.
    registry.update_settings(&plugin_id, &json!({"tag": "u", "api_key": null})).await.unwrap();
    let in_plugin = registry.plugin(&plugin_id).unwrap().settings();
    assert_eq!(in_plugin, json!({"tag": "u", "api_key": "sk-123", "webhook_secret": "whs"}));

    // A new value replaces the secret.
    registry.update_settings(&plugin_id, &json!({"tag": "u", "api_key": "sk-456"})).await.unwrap();
    assert_eq!(registry.plugin(&plugin_id).unwrap().settings()["api_key"], "sk-456");
    stop(registry).await;
}

#[tokio::test]
async fn settings_of_an_unknown_plugin_are_refused_without_hanging() {
    let setup = Setup::with(&["example-tagger"]);
    let registry = setup.start().await;
    let error = registry.settings(&id("no-such-plugin")).await.unwrap_err();
    assert_eq!(error.code(), "plugin_not_found");
    let error = registry.update_settings(&id("no-such-plugin"), &json!({})).await.unwrap_err();
    assert_eq!(error.code(), "plugin_not_found");
    // The registry still answers.
    assert_eq!(registry.list().await.len(), 1);
    stop(registry).await;
}
