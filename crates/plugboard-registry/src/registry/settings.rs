//! A plugin's settings: read with secrets blanked, and changed (validated, delivered live
//! to the running plugin, then saved), secrets left out keeping their saved values; and
//! loading a plugin that is not loaded with new settings, validated first.
//!
//! Secrets are sealed (`crate::secrets`) whenever settings go to the store and opened only
//! when they go to the plugin: `open_secrets` and `seal_secrets` are the two doors, and
//! every other path of the registry goes through them.

use plugboard_host::{Plugin, RuntimeEvent, SettingsError};
use plugboard_manifest::{Manifest, PluginId, SettingsSchema};
use plugboard_store::SettingsChange;
use serde_json::Value;

use super::{Persist, Registry, lock};
use crate::error::RegistryError;
use crate::secrets::{SecretError, is_sealed, sealed_key_id};

impl Registry {
    /// The settings schema of plugin `id`: the loaded version's, else the one found on
    /// disk.
    pub fn settings_schema(&self, id: &PluginId) -> Result<SettingsSchema, RegistryError> {
        match self.inner.runtime.plugin(id) {
            Some(plugin) => Ok(plugin.manifest().settings.clone()),
            None => Ok(self.known_manifest(id)?.settings),
        }
    }

    /// The settings of plugin `id` with defaults applied and secrets blanked (`null`):
    /// secrets are never returned.
    pub async fn settings(&self, id: &PluginId) -> Result<serde_json::Value, RegistryError> {
        if let Some(plugin) = self.inner.runtime.plugin(id) {
            return Ok(plugin.redacted_settings());
        }
        let manifest = self.known_manifest(id)?;
        let saved = self.inner.store.plugin_record(id.as_str()).await?.and_then(|record| record.settings);
        // Blanked anyway: a secret that does not open shows as unset.
        let saved = self.open_secrets_or_blank(id, saved).unwrap_or_else(|| serde_json::json!({}));
        let shown = manifest.settings.validate(&saved).unwrap_or(saved);
        Ok(manifest.settings.redact(&shown))
    }

    /// Saves new settings for plugin `id`: validated against its JSON Schema (every
    /// violation listed by path), delivered live to the running plugin (its `init` must
    /// accept them), then persisted. A secret left out or sent as `null` keeps its saved
    /// value, so a form that never shows secrets can be saved back as is. Returns the
    /// settings in force, secrets blanked. A plugin that failed to load is loaded again
    /// with the new settings.
    pub async fn update_settings(
        &self,
        id: &PluginId,
        settings: &serde_json::Value,
    ) -> Result<serde_json::Value, RegistryError> {
        self.change_settings(id, settings, Persist::Save).await
    }

    /// [`Registry::update_settings`], saving the settings or not: settings another process
    /// saved are applied here without being written back, which could overwrite a change
    /// saved meanwhile.
    pub(super) async fn change_settings(
        &self,
        id: &PluginId,
        settings: &serde_json::Value,
        persist: Persist,
    ) -> Result<serde_json::Value, RegistryError> {
        let _operation = self.inner.operations.lock().await;
        let loaded = self.inner.runtime.plugin(id);
        let manifest = match &loaded {
            Some(plugin) => plugin.manifest().clone(),
            None => self.known_manifest(id)?,
        };
        let saved = self.inner.store.plugin_record(id.as_str()).await?.and_then(|record| record.settings);
        // A secret given anew replaces the saved one, which then need not open.
        let merged = self.open_secrets(id, Some(keep_secrets(&manifest, settings, saved.as_ref())))?;
        let merged = merged.unwrap_or_default();
        let invalid = |violations| RegistryError::InvalidSettings { plugin: id.clone(), violations };
        let in_force = match &loaded {
            Some(plugin) => plugin.update_settings(&merged).await.map_err(|error| match error {
                SettingsError::Invalid(violations) => invalid(violations),
                SettingsError::Refused(error) => RegistryError::Hook(error),
            })?,
            None => manifest.settings.validate(&merged).map_err(invalid)?,
        };
        if persist == Persist::Save {
            let sealed = self.seal_secrets(&manifest, merged)?;
            self.save_record(id, |record| record.settings = Some(sealed)).await?;
        }
        tracing::info!(plugin = %id, "settings changed");
        self.inner.runtime.publish(RuntimeEvent::SettingsChanged { plugin: id.clone() });
        if loaded.is_none() && lock(&self.inner.known).get(id).is_some_and(|known| known.error.is_some()) {
            let candidate = self.fresh_candidate(id)?;
            if let Err(error) = self.load_new(candidate).await {
                tracing::warn!(plugin = %id, "still cannot load with the new settings: {error}");
            }
        }
        Ok(manifest.settings.redact(&in_force))
    }
}

impl Registry {
    /// Loads plugin `id`, known but not loaded, with `settings` (secrets left out keep
    /// their saved values). The settings are validated against its schema first: invalid
    /// ones load nothing, save nothing, and list every violation. Then they are saved and
    /// the plugin loads with them; when it cannot load (its `init` refuses them, say), the
    /// settings saved before are put back. Returns the plugin and its settings in force,
    /// secrets blanked.
    pub async fn load_with_settings(
        &self,
        id: &PluginId,
        settings: &serde_json::Value,
    ) -> Result<(Plugin, serde_json::Value), RegistryError> {
        let _operation = self.inner.operations.lock().await;
        let manifest = match self.inner.runtime.plugin(id) {
            Some(plugin) => plugin.manifest().clone(),
            None => self.known_manifest(id)?,
        };
        let saved = self.inner.store.plugin_record(id.as_str()).await?.and_then(|record| record.settings);
        let merged = self.open_secrets(id, Some(keep_secrets(&manifest, settings, saved.as_ref())))?;
        let merged = merged.unwrap_or_default();
        let in_force = manifest
            .settings
            .validate(&merged)
            .map_err(|violations| RegistryError::InvalidSettings { plugin: id.clone(), violations })?;
        if let Some(plugin) = self.inner.runtime.plugin(id) {
            return Err(RegistryError::AlreadyLoaded { plugin: id.clone(), version: plugin.version().clone() });
        }
        let candidate = self.fresh_candidate(id)?;
        let sealed = self.seal_secrets(&manifest, merged)?;
        self.save_record(id, |record| record.settings = Some(sealed)).await?;
        match self.load_new(candidate).await {
            Ok(plugin) => {
                tracing::info!(plugin = %id, "loaded with new settings");
                self.inner.runtime.publish(RuntimeEvent::SettingsChanged { plugin: id.clone() });
                let shown = manifest.settings.redact(&in_force);
                Ok((plugin, shown))
            }
            Err(error) => {
                if let Err(restore) = self.save_record(id, |record| record.settings = saved).await {
                    tracing::error!(plugin = %id, "cannot put the previous settings back: {restore}");
                }
                Err(error)
            }
        }
    }
}

impl Registry {
    /// Saved `settings` of plugin `id` as the plugin is to get them: every sealed value
    /// opened (whether or not the manifest still calls it secret), plain ones as they are.
    /// A value that does not open is an error naming the plugin and the setting; nothing
    /// is changed, so the secret is there again once the key is.
    pub(crate) fn open_secrets(&self, id: &PluginId, settings: Option<Value>) -> Result<Option<Value>, RegistryError> {
        let Some(mut settings) = settings else { return Ok(None) };
        if let Some(object) = settings.as_object_mut() {
            for (name, value) in object.iter_mut().filter(|(_, value)| is_sealed(value)) {
                *value = self.open_secret(id.as_str(), name, value).map_err(|error| {
                    RegistryError::SecretUnreadable { plugin: id.clone(), setting: name.clone(), error }
                })?;
            }
        }
        Ok(Some(settings))
    }

    /// [`Registry::open_secrets`], with a secret that does not open left unset (for
    /// display, where secrets are blanked anyway).
    fn open_secrets_or_blank(&self, id: &PluginId, settings: Option<Value>) -> Option<Value> {
        let mut settings = settings?;
        if let Some(object) = settings.as_object_mut() {
            for (name, value) in object.iter_mut().filter(|(_, value)| is_sealed(value)) {
                *value = self.open_secret(id.as_str(), name, value).unwrap_or(Value::Null);
            }
        }
        Some(settings)
    }

    fn open_secret(&self, plugin: &str, setting: &str, sealed: &Value) -> Result<Value, SecretError> {
        match &self.inner.config.secret_keys {
            Some(keys) => keys.open(plugin, setting, sealed),
            None => Err(SecretError::UnknownKey {
                key_id: sealed_key_id(sealed).unwrap_or("?").to_owned(),
                known: Vec::new(),
                hint: "give the registry the server key it was saved with".to_owned(),
            }),
        }
    }

    /// `settings` as they are to be stored: each secret of `manifest` that is set sealed
    /// under the current server key (left as given when the registry has no keys).
    pub(super) fn seal_secrets(&self, manifest: &Manifest, mut settings: Value) -> Result<Value, RegistryError> {
        let Some(keys) = &self.inner.config.secret_keys else { return Ok(settings) };
        let current = keys.current();
        if let Some(object) = settings.as_object_mut() {
            for name in manifest.settings.secret_names() {
                let Some(value) = object.get_mut(name) else { continue };
                if value.is_null() || sealed_key_id(value) == Some(current.id()) {
                    continue;
                }
                let plain =
                    if is_sealed(value) { self.open_secrets_value(&manifest.id, name, value)? } else { value.clone() };
                *value = current.seal(manifest.id.as_str(), name, &plain).map_err(|error| {
                    RegistryError::SecretNotSealed { plugin: manifest.id.clone(), setting: name.to_owned(), error }
                })?;
            }
        }
        Ok(settings)
    }

    fn open_secrets_value(&self, id: &PluginId, name: &str, value: &Value) -> Result<Value, RegistryError> {
        self.open_secret(id.as_str(), name, value).map_err(|error| RegistryError::SecretUnreadable {
            plugin: id.clone(),
            setting: name.to_owned(),
            error,
        })
    }

    /// At start: the secrets of the plugins found that are stored as plain text (saved by
    /// a version before secrets were encrypted) or under an older key (a rotation that was
    /// interrupted) are sealed under the current key, in one transaction. A secret that
    /// does not open is left as it is (its plugin reports it when it loads).
    pub(super) async fn seal_stored_secrets(&self, manifests: &[&Manifest], records: &[plugboard_store::PluginRecord]) {
        if self.inner.config.secret_keys.is_none() {
            return;
        }
        let mut changes = Vec::new();
        let mut count = 0;
        for record in records {
            let Some(manifest) = manifests.iter().find(|manifest| manifest.id.as_str() == record.plugin) else {
                continue;
            };
            let Some(settings) = &record.settings else { continue };
            let Ok(sealed) = self.seal_secrets(manifest, settings.clone()) else { continue };
            if &sealed != settings {
                count += manifest
                    .settings
                    .secret_names()
                    .iter()
                    .filter(|name| sealed.get(**name) != settings.get(**name))
                    .count();
                changes.push(SettingsChange {
                    plugin: record.plugin.clone(),
                    expected: record.settings.clone(),
                    new: Some(sealed),
                });
            }
        }
        if changes.is_empty() {
            return;
        }
        match self.inner.store.replace_settings(&changes).await {
            Ok(true) => tracing::info!(
                secrets = count,
                "encrypted the secret plugin settings stored unencrypted or under an older key"
            ),
            Ok(false) => tracing::info!(
                "plugin settings changed while their secrets were encrypted; they will be at the next start"
            ),
            Err(error) => tracing::warn!("cannot encrypt the stored secret plugin settings: {error}"),
        }
    }
}

/// `given`, with every secret it leaves out (or sends as `null`) taken from `saved`.
fn keep_secrets(
    manifest: &Manifest,
    given: &serde_json::Value,
    saved: Option<&serde_json::Value>,
) -> serde_json::Value {
    let mut merged = given.clone();
    let (Some(object), Some(saved)) = (merged.as_object_mut(), saved.and_then(serde_json::Value::as_object)) else {
        return merged;
    };
    for name in manifest.settings.secret_names() {
        let missing = object.get(name).is_none_or(serde_json::Value::is_null);
        if missing && let Some(value) = saved.get(name).filter(|value| !value.is_null()) {
            object.insert(name.to_owned(), value.clone());
        }
    }
    merged
}
