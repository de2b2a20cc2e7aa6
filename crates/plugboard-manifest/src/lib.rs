//! The plugin manifest, `plugin.toml`: parsed once, at the edge, into validated types.
//!
//! Every other crate works with [`Manifest`] and never sees raw TOML. Parsing reports
//! every problem it finds as a [`ManifestError`] naming the plugin, the file, the field
//! and the fix, so an operator can correct a manifest in one pass.

mod error;
mod id;
mod network;
mod parse;
mod permission;
mod schedule;
mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

pub use error::{InvalidManifest, ManifestError};
pub use id::{InvalidPluginId, PluginId};
pub use network::{HostPattern, NetworkPolicy};
pub use parse::{EVENT_NAMES, MANIFEST_FILE_NAME, parse_manifest, read_manifest};
pub use permission::{Permission, Permissions};
pub use schedule::{Schedule, ScheduleError, Trigger};
pub use settings::{SettingsSchema, SettingsViolation};

/// The plugin ABI versions (`plugboard:plugin@<major>.<minor>.x`) this crate knows of.
/// A manifest naming another version is refused; the host decides which of these it runs.
pub const KNOWN_ABI_VERSIONS: &[AbiVersion] = &[AbiVersion { major: 0, minor: 1 }];

/// A validated `plugin.toml`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Manifest {
    /// Unique id, also the plugin's URL segment and KV namespace.
    pub id: PluginId,
    /// Human-readable name.
    pub name: String,
    /// The plugin's own version.
    pub version: semver::Version,
    /// One or two sentences on what it does.
    pub description: String,
    /// Who wrote it.
    pub authors: Vec<String>,
    /// SPDX license expression.
    pub license: Option<String>,
    /// Project page.
    pub homepage: Option<url::Url>,
    /// Broad category for the plugin list, such as `privacy` or `tools`.
    pub category: Option<String>,
    /// Free-form tags for search.
    pub tags: Vec<String>,
    /// Icon file inside the plugin folder.
    pub icon: Option<PathBuf>,
    /// The plugin ABI the component was built against.
    pub abi: AbiVersion,
    /// The oldest Plugboard version the plugin runs on.
    pub min_plugboard_version: Option<semver::Version>,
    /// The compiled component inside the plugin folder (default `plugin.wasm`).
    pub component: PathBuf,
    /// Plugins this one needs, with the versions it accepts.
    pub dependencies: BTreeMap<PluginId, semver::VersionReq>,
    /// Host services the plugin may use.
    pub permissions: Permissions,
    /// Where outbound HTTP may go (needs [`Permission::Network`]).
    pub network: NetworkPolicy,
    /// Resource limits the plugin asks for; the host caps them.
    pub limits: Limits,
    /// How the plugin's filters are ordered and what their failure means.
    pub filters: FilterPolicy,
    /// JSON Schema of the plugin's settings.
    pub settings: SettingsSchema,
    /// Web UI the plugin contributes.
    pub ui: Vec<UiMount>,
    /// Tasks the host runs on a schedule.
    pub schedules: Vec<Schedule>,
    /// Slash commands.
    pub commands: Vec<Command>,
    /// HTTP routes served by the plugin's HTTP handler.
    pub routes: Vec<Route>,
    /// The events the plugin's event hook receives (`None`: every event).
    pub events: Option<BTreeSet<String>>,
    /// Whether the plugin starts enabled the first time it is found (`enabled_by_default`,
    /// true unless set): a demonstration plugin ships disabled until an operator enables it.
    pub enabled_by_default: bool,
}

impl Manifest {
    /// Whether the plugin's event hook wants `event` (an [`EVENT_NAMES`] name).
    pub fn wants_event(&self, event: &str) -> bool {
        self.events.as_ref().is_none_or(|events| events.contains(event))
    }

    /// Whether the manifest grants `permission`.
    pub fn grants(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }
}

/// A plugin ABI version: the `major.minor` of the `plugboard:plugin` WIT package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbiVersion {
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
}

impl serde::Serialize for AbiVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::fmt::Display for AbiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Resource limits a plugin asks for. `None` means the operator's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Limits {
    /// Memory ceiling of each instance, in bytes.
    pub memory_bytes: Option<u64>,
    /// Deadline of each call.
    #[serde(rename = "timeout_ms", serialize_with = "serialize_millis")]
    pub timeout: Option<Duration>,
    /// Most calls per minute across all hooks.
    pub max_calls_per_minute: Option<u32>,
}

/// Filter ordering and failure policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FilterPolicy {
    /// Lower runs first; ties are broken by plugin id.
    pub priority: i32,
    /// What a failing filter means for the request.
    pub on_error: FailMode,
}

impl Default for FilterPolicy {
    fn default() -> Self {
        FilterPolicy { priority: 100, on_error: FailMode::Open }
    }
}

/// What happens to a request when one of its filters fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailMode {
    /// Skip the failed filter and go on, as if it had kept the text.
    Open,
    /// Refuse the request.
    Closed,
}

/// Where a plugin's UI appears in the web UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MountPoint {
    /// A panel beside the conversation.
    Sidebar,
    /// A button or small widget in the top bar.
    Toolbar,
    /// Next to the message input.
    ChatInput,
    /// In the actions menu of each message.
    MessageActions,
    /// A full page of its own.
    Page,
}

impl MountPoint {
    /// All mount points, in the order the UI lays them out.
    pub const ALL: [MountPoint; 5] =
        [MountPoint::Sidebar, MountPoint::Toolbar, MountPoint::ChatInput, MountPoint::MessageActions, MountPoint::Page];

    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MountPoint::Sidebar => "sidebar",
            MountPoint::Toolbar => "toolbar",
            MountPoint::ChatInput => "chat-input",
            MountPoint::MessageActions => "message-actions",
            MountPoint::Page => "page",
        }
    }
}

/// A UI the plugin mounts in the web UI, loaded in a sandboxed frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UiMount {
    /// Where it appears.
    pub mount: MountPoint,
    /// The HTML file inside the plugin folder.
    pub entry: PathBuf,
    /// Title shown above it or in menus.
    pub title: String,
}

/// A slash command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Command {
    /// Name without the slash.
    pub name: String,
    /// How to call it, such as `/stats [conversation]`.
    pub usage: String,
    /// What it does.
    pub description: String,
}

/// Who may call a plugin route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteAuth {
    /// Signed-in users; the plugin gets the verified user id.
    User,
    /// Anyone, for webhooks; the plugin must check a signature itself.
    None,
}

/// An HTTP route the plugin serves, listed in the OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path below the plugin's mount point, starting with `/`; `{name}` marks a parameter.
    pub path: String,
    /// One-line summary for the API reference.
    pub summary: String,
    /// Who may call it.
    pub auth: RouteAuth,
}

fn serialize_millis<S: serde::Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_some(&(duration.as_millis() as u64)),
        None => serializer.serialize_none(),
    }
}
