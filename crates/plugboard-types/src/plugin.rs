//! What plugins report about themselves: export formats and files, health and self-tests.

use serde::{Deserialize, Serialize};

/// An export format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFormat {
    /// Id within the plugin.
    pub id: String,
    /// Menu label.
    pub display_name: String,
    /// Media type.
    pub media_type: String,
    /// Extension without the dot.
    pub extension: String,
}

/// An exported file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFile {
    /// Suggested name.
    pub file_name: String,
    /// Media type.
    pub media_type: String,
    /// Contents.
    pub data: Vec<u8>,
}

/// Health a plugin reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Working.
    Healthy,
    /// Working with reduced function.
    Degraded,
    /// Not working.
    Unhealthy,
}

/// A plugin's report on its own health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Overall state.
    pub status: HealthStatus,
    /// Explanation.
    pub message: String,
    /// Extra details (a JSON object).
    pub details: serde_json::Value,
}

/// One self-test result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTestResult {
    /// Test name.
    pub name: String,
    /// Passed or not.
    pub passed: bool,
    /// Details.
    pub message: String,
}
