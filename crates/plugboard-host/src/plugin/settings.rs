//! A plugin's settings: the current ones (with the generation instances are tagged
//! with, so the pool can tell a stale instance), and taking new ones, which a fresh
//! instance's `init` must accept first.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use plugboard_manifest::SettingsViolation;

use super::Plugin;
use super::pool::Instance;
use crate::api::Hook;
use crate::error::CallError;

#[derive(Debug)]
pub(super) struct SettingsState {
    pub(super) generation: u64,
    pub(super) value: serde_json::Value,
    pub(super) json: Arc<str>,
}

impl Plugin {
    /// The current settings, secrets included (for the host; use `redacted_settings` for display).
    pub fn settings(&self) -> serde_json::Value {
        self.current_settings().value.clone()
    }

    /// The current settings with secrets blanked.
    pub fn redacted_settings(&self) -> serde_json::Value {
        self.manifest().settings.redact(&self.current_settings().value)
    }

    pub(super) fn current_settings(&self) -> Arc<SettingsState> {
        self.inner.settings.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Validates `settings` against the schema (defaults applied), has a fresh instance's
    /// `init` accept them, then makes them current: every instance is re-initialised with
    /// them before its next call.
    pub async fn update_settings(&self, settings: &serde_json::Value) -> Result<serde_json::Value, SettingsError> {
        let validated = self.manifest().settings.validate(settings).map_err(SettingsError::Invalid)?;
        let json: Arc<str> = validated.to_string().into();
        let instance = self
            .new_instance_making_room(Hook::Init, json.clone(), None)
            .await
            .map_err(|kind| SettingsError::Refused(self.error(Hook::Init, kind)))?;
        let generation = {
            let mut current = self.inner.settings.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            let generation = current.generation + 1;
            *current = Arc::new(SettingsState { generation, value: validated.clone(), json });
            self.inner.settings_generation.store(generation, Ordering::Release);
            generation
        };
        self.release(Instance { settings_generation: generation, ..instance });
        Ok(validated)
    }
}

/// Why new settings were not taken.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// They break the schema; every violation is listed.
    #[error("invalid settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SettingsViolation>),
    /// The plugin's `init` refused them (or failed).
    #[error(transparent)]
    Refused(CallError),
}
