//! Rotating the server key: every sealed secret is opened and sealed again under a new key
//! in one store transaction, and the key files change only around it, so that at every
//! moment each key a stored secret may be sealed with is in a key file:
//!
//! 1. the new key is written to `secret.key.new` (atomically, `0600`); a `secret.key.new`
//!    an interrupted rotation left is used instead of a fresh key, since secrets may be
//!    sealed with it already;
//! 2. the transaction re-seals every secret under it (nothing changes if any secret does
//!    not open: the command lists them);
//! 3. the current key is written to `secret.key.old`, replacing an older one (nothing is
//!    sealed with that any more);
//! 4. `secret.key.new` is renamed to `secret.key`.
//!
//! A crash before 2 commits leaves the secrets under the old key; after it, under the new
//! one, which `secret.key.new` holds until 4. Every start reads all three files, and a
//! server running meanwhile reads them again when it meets a secret sealed with a key it
//! does not have.

use std::path::Path;

use plugboard_store::{McpSecretsChange, PluginStore, SettingsChange, StoreError};

use super::key_file::{self, KeyFileError, sync_folder};
use super::{KEY_FILE, NEW_KEY_FILE, OLD_KEY_FILE, SecretError, SecretKey, SecretKeys, is_sealed};

/// How often [`reseal_all`] reads and re-seals again when another process saved plugin
/// settings meanwhile.
const ATTEMPTS: usize = 5;

/// A stored secret that does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The plugin.
    pub plugin: String,
    /// The setting.
    pub setting: String,
    /// Why it does not open.
    pub error: SecretError,
}

/// Why the secrets were not re-encrypted. Nothing in the database changed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Some stored secrets do not open; re-encrypting the others would leave them behind
    /// under a key about to be dropped.
    #[error(
        "nothing was re-encrypted, because {}",
        .0.iter().map(|unreadable| format!("secret setting `{}` of plugin `{}` cannot be decrypted: {}", unreadable.setting, unreadable.plugin, unreadable.error)).collect::<Vec<_>>().join("; and ")
    )]
    Unreadable(Vec<Unreadable>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Plugin settings kept changing while they were re-encrypted.
    #[error("plugin settings kept changing while they were re-encrypted, so nothing was; try again")]
    Busy,
    /// Sealing failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A key file could not be read or written.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
}

/// Opens every sealed secret in `store` with `keys` and seals it again under `new`, all in
/// one transaction; returns how many. Plain values are left as they are: which settings
/// are secret is the manifests' to say, and the registry seals those when it starts.
pub async fn reseal_all(store: &dyn PluginStore, keys: &SecretKeys, new: &SecretKey) -> Result<usize, RotateError> {
    for _ in 0..ATTEMPTS {
        let mut changes = Vec::new();
        let mut unreadable = Vec::new();
        let mut count = 0;
        for record in store.plugin_records().await? {
            let Some(serde_json::Value::Object(settings)) = &record.settings else { continue };
            let mut resealed = settings.clone();
            for (name, value) in resealed.iter_mut().filter(|(_, value)| is_sealed(value)) {
                match keys.open(&record.plugin, name, value) {
                    Ok(plain) => {
                        *value = new.seal(&record.plugin, name, &plain)?;
                        count += 1;
                    }
                    Err(error) => {
                        unreadable.push(Unreadable { plugin: record.plugin.clone(), setting: name.clone(), error });
                    }
                }
            }
            if resealed != *settings {
                changes.push(SettingsChange {
                    plugin: record.plugin.clone(),
                    expected: record.settings.clone(),
                    new: Some(serde_json::Value::Object(resealed)),
                });
            }
        }
        // The MCP servers' secrets (sealed for `mcp:<name>`, one per `env` or `headers`
        // value), in a transaction of their own: both happen before the key files change,
        // so a crash between them leaves each secret under a key still on disk.
        let mut mcp_changes = Vec::new();
        for server in store.mcp_servers().await? {
            let serde_json::Value::Object(secrets) = &server.secrets else { continue };
            let place = format!("mcp:{}", server.name);
            let mut resealed = secrets.clone();
            for (name, value) in resealed.iter_mut().filter(|(_, value)| is_sealed(value)) {
                match keys.open(&place, name, value) {
                    Ok(plain) => {
                        *value = new.seal(&place, name, &plain)?;
                        count += 1;
                    }
                    Err(error) => unreadable.push(Unreadable { plugin: place.clone(), setting: name.clone(), error }),
                }
            }
            if resealed != *secrets {
                mcp_changes.push(McpSecretsChange {
                    name: server.name.clone(),
                    expected: server.secrets.clone(),
                    new: serde_json::Value::Object(resealed),
                });
            }
        }
        if !unreadable.is_empty() {
            return Err(RotateError::Unreadable(unreadable));
        }
        if (changes.is_empty() || store.replace_settings(&changes).await?)
            && (mcp_changes.is_empty() || store.replace_mcp_secrets(&mcp_changes).await?)
        {
            return Ok(count);
        }
    }
    Err(RotateError::Busy)
}

/// What [`rotate_key_files`] did.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The key before (now in `secret.key.old`).
    pub old: SecretKey,
    /// The key now (in `secret.key`).
    pub new: SecretKey,
    /// How many secrets were re-encrypted.
    pub secrets: usize,
}

/// Rotates the server key of the data folder `folder` whose database `store` is: a new
/// key, every secret re-sealed under it in one transaction, then the key files changed
/// (see the module's steps).
pub async fn rotate_key_files(store: &dyn PluginStore, folder: &Path) -> Result<Rotated, RotateError> {
    let keys = SecretKeys::for_data_folder(folder, None)?;
    let old = keys.current();
    let next_path = folder.join(NEW_KEY_FILE);
    let new = match read_next(&next_path)? {
        Some(interrupted) if interrupted != old => {
            tracing::info!(key = interrupted.id(), "finishing the key rotation that was interrupted");
            interrupted
        }
        _ => {
            let new = SecretKey::generate()?;
            key_file::write_key_file(&next_path, &new)?;
            new
        }
    };
    keys.add_older(new.clone());
    let secrets = reseal_all(store, &keys, &new).await?;
    key_file::write_key_file(&folder.join(OLD_KEY_FILE), &old)?;
    let current = folder.join(KEY_FILE);
    std::fs::rename(&next_path, &current).and_then(|()| sync_folder(&current)).map_err(|source| KeyFileError::Io {
        action: "write",
        path: current.clone(),
        source,
    })?;
    Ok(Rotated { old, new, secrets })
}

/// The key an interrupted rotation left in `secret.key.new`, if any.
fn read_next(path: &Path) -> Result<Option<SecretKey>, KeyFileError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    SecretKey::parse_hex(&text).map(Some).ok_or_else(|| KeyFileError::Malformed { path: path.to_owned() })
}

/// Rotates a key given in the environment: every secret opened with `keys` (the current
/// key, from `PLUGBOARD_SECRET_KEY`) and sealed again under `new` in one transaction. The
/// caller's operator then sets `PLUGBOARD_SECRET_KEY` to the new key. Running it again
/// after an interruption is safe: secrets already under `new` open with it too.
pub async fn rotate_environment_key(
    store: &dyn PluginStore,
    keys: &SecretKeys,
    new: &SecretKey,
) -> Result<usize, RotateError> {
    keys.add_older(new.clone());
    reseal_all(store, keys, new).await
}
