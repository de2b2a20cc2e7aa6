//! The server key of the data folder, end to end: made `0600` on first start, secret
//! settings of an older database encrypted then, `plugboard secrets rotate-key`
//! re-encrypting them under a new key file with the old one kept beside it, and a wrong,
//! malformed or exposed key refused with what to do.

use std::path::Path;

use plugboard_store::{PluginRecord, PluginStore, SqliteStore};
use serde_json::json;

use crate::plugboard;

const SECRET: &str = "gh-webhook-secret-0451-unique";

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn database_holds(data: &Path, text: &str) -> bool {
    ["plugboard.db", "plugboard.db-wal"].iter().any(|name| {
        std::fs::read(data.join(name))
            .is_ok_and(|bytes| bytes.windows(text.len()).any(|window| window == text.as_bytes()))
    })
}

fn run(dir: &tempfile::TempDir, args: &[&str], key: Option<&str>) -> (bool, String, String) {
    let mut command = plugboard(dir);
    command.args(args).env_remove("PLUGBOARD_NEW_SECRET_KEY");
    match key {
        Some(key) => command.env("PLUGBOARD_SECRET_KEY", key),
        None => command.env_remove("PLUGBOARD_SECRET_KEY"),
    };
    let output = command.output().unwrap();
    (output.status.success(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

#[tokio::test]
async fn rotate_key_re_encrypts_the_secrets_of_the_data_folder_under_a_new_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("plugboard-data");
    // A database an older version left: the webhook's secret in clear.
    let store = SqliteStore::open(&data.join("plugboard.db")).await.unwrap();
    let record = PluginRecord {
        plugin: "github-webhook".to_owned(),
        enabled: true,
        disabled_reason: None,
        settings: Some(json!({"secret": SECRET, "conversation_id": ""})),
        fail_mode: None,
        updated_at_ms: 1,
    };
    store.save_plugin_record(&record).await.unwrap();
    store.close().await;
    assert!(database_holds(&data, SECRET));

    // The first start makes the key file, private from its creation, and encrypts it.
    let (ok, stdout, stderr) = run(&dir, &["plugin", "list"], None);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("github-webhook 0.1.0 [enabled]"), "{stdout}");
    let key_file = data.join("secret.key");
    assert_eq!(mode(&key_file), 0o600);
    let first_key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(first_key.trim_end().len(), 64, "{first_key}");
    assert!(!database_holds(&data, SECRET), "the secret is still in the database file in clear");

    let (ok, stdout, stderr) = run(&dir, &["secrets", "rotate-key"], None);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.starts_with("re-encrypted 1 secret settings under the new server key `"), "{stdout}");
    let second_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(second_key, first_key);
    assert_eq!(std::fs::read_to_string(data.join("secret.key.old")).unwrap(), first_key);
    assert_eq!((mode(&key_file), mode(&data.join("secret.key.old"))), (0o600, 0o600));
    assert!(!data.join("secret.key.new").exists());

    // The plugin opens its secret under the new key (it fails to load otherwise).
    let (ok, stdout, stderr) = run(&dir, &["plugin", "list"], None);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("github-webhook 0.1.0 [enabled]"), "{stdout}");

    // Without the old key file, the old key is no use: a key given in the environment
    // that is not the data folder's fails the plugin, saying what to do.
    let other = "ab".repeat(32);
    let (ok, stdout, stderr) = run(&dir, &["plugin", "list"], Some(&other));
    assert!(!ok);
    assert!(stdout.contains("github-webhook 0.1.0 [failed]"), "{stdout}");
    assert!(stdout.contains("problem: cannot decrypt secret setting `secret` of plugin `github-webhook`: it was encrypted with server key"), "{stdout}");
    assert!(stdout.contains("set PLUGBOARD_SECRET_KEY to the key this database was saved with"), "{stdout}");
    assert!(stderr.contains("1 plugin(s) failed to load"), "{stderr}");

    // The data folder's key given in the environment works the same as the file.
    let (ok, stdout, stderr) = run(&dir, &["plugin", "list"], Some(second_key.trim_end()));
    assert!(ok, "{stdout}{stderr}");

    // An environment key cannot be rotated without the new one.
    let (ok, _, stderr) = run(&dir, &["secrets", "rotate-key"], Some(second_key.trim_end()));
    assert!(!ok);
    assert!(stderr.contains("set PLUGBOARD_NEW_SECRET_KEY to the new key"), "{stderr}");
}

#[test]
fn a_malformed_or_exposed_key_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(&dir, &["plugin", "list"], Some("not-a-key"));
    assert!(!ok);
    assert!(stderr.contains("error: PLUGBOARD_SECRET_KEY must be the server key as 64 hexadecimal characters (32 bytes), such as the output of `openssl rand -hex 32`; it has 9 characters"), "{stderr}");

    let (ok, stdout, stderr) = run(&dir, &["plugin", "list"], None);
    assert!(ok, "{stdout}{stderr}");
    let key_file = dir.path().join("plugboard-data/secret.key");
    let exposed = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o640);
    std::fs::set_permissions(&key_file, exposed).unwrap();
    let (ok, _, stderr) = run(&dir, &["plugin", "list"], None);
    assert!(!ok);
    assert!(stderr.contains("can be read by other users (mode 640)"), "{stderr}");
    // The data folder as configured: here the default, relative to the working directory.
    assert!(stderr.contains("`chmod 600 plugboard-data/secret.key`"), "{stderr}");
}
