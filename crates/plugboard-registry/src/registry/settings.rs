//! A plugin's settings: read with secrets blanked, and changed (validated, delivered live
//! to the running plugin, then saved), secrets left out keeping their saved values; and
//! loading a plugin that is not loaded with new settings, validated first.

use plugboard_host::{Plugin, RuntimeEvent, SettingsError};
use plugboard_manifest::{Manifest, PluginId, SettingsSchema};

use super::{Registry, lock};
use crate::error::RegistryError;

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
        let saved = saved.unwrap_or_else(|| serde_json::json!({}));
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
        let _operation = self.inner.operations.lock().await;
        let loaded = self.inner.runtime.plugin(id);
        let manifest = match &loaded {
            Some(plugin) => plugin.manifest().clone(),
            None => self.known_manifest(id)?,
        };
        let saved = self.inner.store.plugin_record(id.as_str()).await?.and_then(|record| record.settings);
        let merged = keep_secrets(&manifest, settings, saved.as_ref());
        let invalid = |violations| RegistryError::InvalidSettings { plugin: id.clone(), violations };
        let in_force = match &loaded {
            Some(plugin) => plugin.update_settings(&merged).await.map_err(|error| match error {
                SettingsError::Invalid(violations) => invalid(violations),
                SettingsError::Refused(error) => RegistryError::Hook(error),
            })?,
            None => manifest.settings.validate(&merged).map_err(invalid)?,
        };
        self.save_record(id, |record| record.settings = Some(merged)).await?;
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
        let merged = keep_secrets(&manifest, settings, saved.as_ref());
        let in_force = manifest
            .settings
            .validate(&merged)
            .map_err(|violations| RegistryError::InvalidSettings { plugin: id.clone(), violations })?;
        if let Some(plugin) = self.inner.runtime.plugin(id) {
            return Err(RegistryError::AlreadyLoaded { plugin: id.clone(), version: plugin.version().clone() });
        }
        let candidate = self.fresh_candidate(id)?;
        self.save_record(id, |record| record.settings = Some(merged)).await?;
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
