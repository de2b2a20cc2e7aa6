//! Settings schemas: the JSON Schema a plugin's settings must satisfy, with defaults and
//! secret handling.

use serde_json::{Map, Value};

/// A validated JSON Schema for a plugin's settings. The root is an object schema.
#[derive(Debug, Clone)]
pub struct SettingsSchema {
    schema: Value,
    validator: std::sync::Arc<jsonschema::Validator>,
}

impl serde::Serialize for SettingsSchema {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.schema, serializer)
    }
}

impl PartialEq for SettingsSchema {
    fn eq(&self, other: &Self) -> bool {
        self.schema == other.schema
    }
}

/// One way settings break their schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SettingsViolation {
    /// JSON Pointer to the offending value, such as `/patterns/0`; empty for the root.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for SettingsViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() { "/" } else { &self.path };
        write!(f, "{path}: {}", self.message)
    }
}

impl SettingsSchema {
    /// The schema of a plugin without settings: an object with no properties.
    pub fn empty() -> SettingsSchema {
        let schema = serde_json::json!({"type": "object", "properties": {}});
        match SettingsSchema::new(schema) {
            Ok(schema) => schema,
            Err(message) => unreachable!("the empty settings schema is valid: {message}"),
        }
    }

    /// Checks `schema` against the JSON Schema meta-schema and compiles it. The root must
    /// describe an object, and every `default` must satisfy its own schema.
    pub fn new(schema: Value) -> Result<SettingsSchema, String> {
        if !schema.is_object() {
            return Err("the settings schema must be a table (a JSON Schema object)".into());
        }
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err("the settings schema must have `type = \"object\"` at its root".into());
        }
        match jsonschema::meta::try_validate(&schema) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                return Err(format!(
                    "not a valid JSON Schema at `{}`: {error}",
                    pointer_or_root(error.instance_path.as_str())
                ));
            }
            Err(error) => return Err(format!("not a valid JSON Schema: {error}")),
        }
        let validator =
            jsonschema::validator_for(&schema).map_err(|error| format!("not a valid JSON Schema: {error}"))?;
        let built = SettingsSchema { schema, validator: std::sync::Arc::new(validator) };
        built.check_defaults()?;
        Ok(built)
    }

    /// The schema as JSON.
    pub fn as_json(&self) -> &Value {
        &self.schema
    }

    /// The settings a plugin gets when the operator has set nothing: every top-level
    /// `default`. They may still miss required values.
    pub fn defaults(&self) -> Value {
        let mut settings = Map::new();
        for (name, property) in self.properties() {
            if let Some(default) = property.get("default") {
                settings.insert(name.clone(), default.clone());
            }
        }
        Value::Object(settings)
    }

    /// Applies defaults to `settings` and validates the result. Returns the settings the
    /// plugin should get, or every violation with its path. A violation's message never
    /// quotes a secret's value (it says `[secret]` instead), so errors can be shown and
    /// logged.
    pub fn validate(&self, settings: &Value) -> Result<Value, Vec<SettingsViolation>> {
        let Some(given) = settings.as_object() else {
            return Err(vec![SettingsViolation {
                path: String::new(),
                message: "settings must be a JSON object".into(),
            }]);
        };
        let mut merged = self.defaults();
        if let Some(merged) = merged.as_object_mut() {
            for (name, value) in given {
                merged.insert(name.clone(), value.clone());
            }
        }
        let secrets = self.secret_texts(&merged);
        let violations: Vec<SettingsViolation> = self
            .validator
            .iter_errors(&merged)
            .map(|error| SettingsViolation {
                path: error.instance_path.as_str().to_owned(),
                message: hide_secrets(error.to_string(), &secrets),
            })
            .collect();
        if violations.is_empty() { Ok(merged) } else { Err(violations) }
    }

    /// Top-level settings that are secrets (`format = "password"` or `writeOnly = true`):
    /// never returned by any read.
    pub fn secret_names(&self) -> Vec<&str> {
        self.properties()
            .filter(|(_, property)| {
                property.get("format").and_then(Value::as_str) == Some("password")
                    || property.get("writeOnly").and_then(Value::as_bool) == Some(true)
            })
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// How the secrets' values in `settings` may show in a validator's message: as JSON,
    /// and strings of four characters or more as they are; longest first.
    fn secret_texts(&self, settings: &Value) -> Vec<String> {
        let mut texts = Vec::new();
        for name in self.secret_names() {
            let Some(value) = settings.get(name) else { continue };
            if value.is_null() || value.as_str() == Some("") {
                continue;
            }
            texts.push(value.to_string());
            if let Some(text) = value.as_str().filter(|text| text.chars().count() >= 4) {
                texts.push(text.to_owned());
            }
        }
        texts.sort_by_key(|text| std::cmp::Reverse(text.len()));
        texts
    }

    /// `settings` with every secret that has a value replaced by `null`, for display.
    pub fn redact(&self, settings: &Value) -> Value {
        let mut redacted = settings.clone();
        if let Some(object) = redacted.as_object_mut() {
            for name in self.secret_names() {
                if let Some(value) = object.get_mut(name) {
                    *value = Value::Null;
                }
            }
        }
        redacted
    }

    fn properties(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.schema.get("properties").and_then(Value::as_object).into_iter().flat_map(|properties| properties.iter())
    }

    fn check_defaults(&self) -> Result<(), String> {
        for (name, property) in self.properties() {
            let Some(default) = property.get("default") else { continue };
            let validator = jsonschema::validator_for(property)
                .map_err(|error| format!("property `{name}` is not a valid schema: {error}"))?;
            if let Some(error) = validator.iter_errors(default).next() {
                return Err(format!("the default of `{name}` breaks its own schema: {error}"));
            }
        }
        Ok(())
    }
}

/// `message` with each of `secrets` replaced by `[secret]`.
fn hide_secrets(mut message: String, secrets: &[String]) -> String {
    for secret in secrets {
        if message.contains(secret.as_str()) {
            message = message.replace(secret.as_str(), "[secret]");
        }
    }
    message
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

#[cfg(test)]
mod tests {
    use super::SettingsSchema;
    use serde_json::json;

    fn schema() -> SettingsSchema {
        SettingsSchema::new(json!({
            "type": "object",
            "properties": {
                "mask": {"type": "string", "default": "[redacted]"},
                "limit": {"type": "integer", "minimum": 1, "default": 5},
                "token": {"type": "string", "format": "password"},
                "hook": {"type": "string", "writeOnly": true}
            },
            "required": ["token"],
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn applies_defaults_and_lists_every_violation() {
        let schema = schema();
        let ok = schema.validate(&json!({"token": "s3cret"})).unwrap();
        assert_eq!(ok, json!({"mask": "[redacted]", "limit": 5, "token": "s3cret"}));
        let errors = schema.validate(&json!({"limit": 0, "extra": 1})).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|v| v.path.as_str()).collect();
        assert!(paths.contains(&"/limit"), "{errors:?}");
        assert!(errors.iter().any(|v| v.message.contains("token")), "{errors:?}");
        assert!(errors.iter().any(|v| v.message.contains("extra")), "{errors:?}");
    }

    #[test]
    fn violations_never_quote_a_secret() {
        let schema = SettingsSchema::new(json!({
            "type": "object",
            "properties": {
                "token": {"type": "string", "format": "password", "maxLength": 4},
                "hook": {"type": "integer", "writeOnly": true}
            },
            "minProperties": 9
        }))
        .unwrap();
        let errors = schema.validate(&json!({"token": "hunter2-long", "hook": "not-a-number"})).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|v| v.path.as_str()).collect();
        assert!(paths.contains(&"/token") && paths.contains(&"/hook") && paths.contains(&""), "{errors:?}");
        for violation in &errors {
            assert!(!violation.message.contains("hunter2"), "{violation}");
            assert!(!violation.message.contains("not-a-number"), "{violation}");
        }
        assert!(errors.iter().any(|v| v.path == "/token" && v.message.contains("[secret]")), "{errors:?}");
    }

    #[test]
    fn redacts_password_and_write_only_values() {
        let schema = schema();
        let redacted = schema.redact(&json!({"token": "s3cret", "hook": "h", "mask": "x"}));
        assert_eq!(redacted, json!({"token": null, "hook": null, "mask": "x"}));
    }

    #[test]
    fn refuses_bad_schemas_and_defaults() {
        assert!(SettingsSchema::new(json!({"type": "string"})).is_err());
        assert!(SettingsSchema::new(json!({"type": "object", "properties": {"a": {"type": "bogus"}}})).is_err());
        let bad_default = json!({"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}});
        assert!(SettingsSchema::new(bad_default).unwrap_err().contains("default of `a`"));
    }
}
