//! Manifest errors: each names the plugin, the file, the field and the fix.

use std::fmt;
use std::path::PathBuf;

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The plugin's id, or its folder name when the id itself is unusable.
    pub plugin: String,
    /// The manifest file.
    pub file: PathBuf,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// Dotted path of the field, such as `limits.memory_mb`; empty for the whole file.
    pub field: String,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin `{}`: {}", self.plugin, self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.problem)?;
        if !self.fix.is_empty() {
            write!(f, "; {}", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestError {}

/// A manifest that could not be used, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidManifest {
    /// The problems, in file order where known. Never empty.
    pub errors: Vec<ManifestError>,
}

impl InvalidManifest {
    /// The plugin the manifest belongs to (id, or folder name).
    pub fn plugin(&self) -> &str {
        self.errors.first().map(|error| error.plugin.as_str()).unwrap_or("")
    }
}

impl fmt::Display for InvalidManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}
