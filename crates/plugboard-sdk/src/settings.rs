//! [`Settings`]: a plugin's validated settings, with typed access.

use serde::de::DeserializeOwned;

/// A plugin's settings: a JSON object validated by the host against the manifest's
/// schema, defaults applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings(serde_json::Map<String, serde_json::Value>);

impl Settings {
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn from_map(map: serde_json::Map<String, serde_json::Value>) -> Settings {
        Settings(map)
    }

    pub(crate) fn parse(json: &str) -> Result<Settings, String> {
        match serde_json::from_str(json) {
            Ok(serde_json::Value::Object(map)) => Ok(Settings(map)),
            Ok(_) => Err("the host sent settings that are not a JSON object".into()),
            Err(error) => Err(format!("the host sent settings that are not JSON: {error}")),
        }
    }

    /// The current settings of this plugin, fetched from the host (in a native test, from
    /// the installed [`FakeHost`](crate::testing::FakeHost); without one this panics,
    /// saying so).
    pub fn current() -> Settings {
        let json = crate::sys::settings_get();
        Settings::parse(&json).unwrap_or_default()
    }

    /// The raw value of setting `name`.
    pub fn value(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.get(name)
    }

    /// Setting `name` as `T`; none when absent or of another type.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.0.get(name).and_then(|value| serde_json::from_value(value.clone()).ok())
    }

    /// The whole settings object as a typed struct.
    pub fn parse_as<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(serde_json::Value::Object(self.0.clone()))
            .map_err(|error| format!("unexpected settings: {error}"))
    }

    /// The settings as a JSON object.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}
