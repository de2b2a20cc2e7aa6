//! What a reload takes from the new files: the manifest's failure mode (unless an
//! operator overrode it), and a broken edit's error gone once the edit is reverted.

use plugboard_manifest::FailMode;
use plugboard_registry::{PluginState, SyncOutcome};

use crate::{Setup, id, stop};

#[tokio::test]
async fn a_reload_applies_a_changed_on_error() {
    let setup = Setup::with(&["example-tagger"]);
    let registry = setup.start().await;
    let tagger = id("example-tagger");
    assert!(!registry.plugin(&tagger).unwrap().fails_closed(), "the manifest says open");

    setup.edit_manifest("example-tagger", |text| text.replace(r#"on_error = "open""#, r#"on_error = "closed""#));
    registry.reload(&tagger).await.unwrap();
    assert!(registry.plugin(&tagger).unwrap().fails_closed(), "the new manifest says closed");

    // An operator's override wins over the manifest, across reloads.
    registry.set_fail_mode(&tagger, FailMode::Open).await.unwrap();
    registry.reload(&tagger).await.unwrap();
    assert!(!registry.plugin(&tagger).unwrap().fails_closed());
    stop(registry).await;
}

#[tokio::test]
async fn a_broken_edit_that_is_reverted_clears_its_error() {
    let setup = Setup::with(&["calculator"]);
    let registry = setup.start().await;
    let calculator = id("calculator");
    let folder = setup.folder("calculator");
    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();

    // A manifest that does not parse, then one whose dependency is missing: each leaves
    // the running version with an error, and reverting the file clears it.
    for broken in [format!("{manifest}\nthis is not toml"), format!("{manifest}\n[dependencies]\nnowhere = \"^1\"\n")] {
        crate::write_atomically(&folder.join("plugin.toml"), broken.as_bytes());
        registry.sync_folder(&folder).await.unwrap_err();
        let entry = registry.entry(&calculator).unwrap();
        assert_eq!(entry.state, PluginState::Enabled, "the running version stays");
        assert!(entry.error.is_some(), "the failed edit is shown");

        crate::write_atomically(&folder.join("plugin.toml"), manifest.as_bytes());
        assert_eq!(registry.sync_folder(&folder).await.unwrap(), SyncOutcome::Unchanged);
        let entry = registry.entry(&calculator).unwrap();
        assert_eq!((entry.state, entry.error), (PluginState::Enabled, None));
        assert!(registry.broken_folders().is_empty());
    }
    stop(registry).await;
}
