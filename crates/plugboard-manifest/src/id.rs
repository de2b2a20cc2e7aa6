//! `PluginId`: the validated identity of a plugin.

use std::fmt;

/// A plugin id: 2 to 64 characters of lower-case ASCII letters, digits and single
/// hyphens, starting with a letter. It names the plugin in URLs, logs and the KV store,
/// so it is checked once, here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginId(String);

/// Why a string is not a plugin id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{value}` is not a valid plugin id: use 2 to 64 lower-case letters, digits and single hyphens, starting with a letter (like `pii-redactor`)"
)]
pub struct InvalidPluginId {
    /// The rejected value.
    pub value: String,
}

impl PluginId {
    /// Parses and validates a plugin id.
    pub fn parse(value: &str) -> Result<PluginId, InvalidPluginId> {
        let bytes = value.as_bytes();
        let well_formed = (2..=64).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes[bytes.len() - 1] != b'-'
            && bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !value.contains("--");
        if well_formed { Ok(PluginId(value.to_owned())) } else { Err(InvalidPluginId { value: value.to_owned() }) }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for PluginId {
    type Err = InvalidPluginId;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        PluginId::parse(value)
    }
}

impl AsRef<str> for PluginId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for PluginId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for PluginId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        PluginId::parse(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::PluginId;

    #[test]
    fn accepts_and_refuses() {
        for good in ["ab", "pii-redactor", "a1", "word-stats-2"] {
            assert!(PluginId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "A", "1a", "a-", "a--b", "a_b", "a.b", &"a".repeat(65)] {
            assert!(PluginId::parse(bad).is_err(), "{bad}");
        }
    }
}
