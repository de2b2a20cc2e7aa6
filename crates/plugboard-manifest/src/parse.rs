//! Turning `plugin.toml` text into a [`Manifest`]: TOML syntax and shape first (serde,
//! with the path of the failing field), then every semantic rule, collecting all problems.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{
    AbiVersion, Command, FailMode, FilterPolicy, HostPattern, InvalidManifest, KNOWN_ABI_VERSIONS, Limits, Manifest,
    ManifestError, MountPoint, NetworkPolicy, Permission, Permissions, PluginId, Route, RouteAuth, SettingsSchema,
    UiMount,
};

/// The file name of a plugin manifest inside a plugin folder.
pub const MANIFEST_FILE_NAME: &str = "plugin.toml";

const MAX_MEMORY_MB: u64 = 4096;
const MAX_TIMEOUT_MS: u64 = 600_000;
const BUILT_IN_COMMANDS: &[&str] = &["help", "run"];
/// Ids that would collide with fixed paths under `/api/plugins/`.
const RESERVED_IDS: &[&str] = &["available", "events", "execute", "health", "index", "install", "load", "upload"];
const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: String,
    name: String,
    version: String,
    description: String,
    #[serde(default)]
    authors: Vec<String>,
    license: Option<String>,
    homepage: Option<String>,
    category: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    icon: Option<String>,
    abi: String,
    min_plugboard_version: Option<String>,
    component: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    filters: RawFilters,
    settings: Option<toml::Table>,
    #[serde(default)]
    ui: Vec<RawUi>,
    #[serde(default)]
    schedules: Vec<RawSchedule>,
    #[serde(default)]
    commands: Vec<RawCommand>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    events: Option<Vec<String>>,
    enabled_by_default: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    #[serde(default)]
    allowed_hosts: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    max_calls_per_minute: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFilters {
    priority: Option<i32>,
    on_error: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    mount: String,
    entry: String,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    pub(crate) name: String,
    pub(crate) cron: Option<String>,
    pub(crate) every: Option<String>,
    pub(crate) timezone: Option<String>,
    pub(crate) catch_up: Option<bool>,
    pub(crate) deadline: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    name: String,
    usage: Option<String>,
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    method: String,
    path: String,
    #[serde(default)]
    summary: String,
    auth: Option<String>,
}

/// Reads and parses `<folder>/plugin.toml`, then checks that the files it names (the
/// component, the icon, UI entries) exist inside the folder.
pub fn read_manifest(folder: &Path) -> Result<Manifest, InvalidManifest> {
    let file = folder.join(MANIFEST_FILE_NAME);
    let text = std::fs::read_to_string(&file).map_err(|error| {
        let reporter = Reporter::new(&file, folder_name(&file));
        let fix = if error.kind() == std::io::ErrorKind::NotFound {
            "every plugin folder needs a plugin.toml; see docs/plugin-manifest.md"
        } else {
            "check the file's permissions"
        };
        reporter.single("", format!("cannot read the manifest: {error}"), fix)
    })?;
    let manifest = parse_manifest(&text, &file)?;
    let mut reporter = Reporter::new(&file, manifest.id.to_string());
    let mut wanted: Vec<(&str, &Path, String)> = vec![(
        "component",
        &manifest.component,
        "build the plugin: `plugboard plugin build` (or `cargo build --release --target wasm32-wasip2` and copy its .wasm here)".to_owned(),
    )];
    if let Some(icon) = &manifest.icon {
        wanted.push(("icon", icon, "add the icon file or remove `icon`".to_owned()));
    }
    for (index, ui) in manifest.ui.iter().enumerate() {
        wanted.push(("ui", &ui.entry, format!("add the file or fix `ui[{index}].entry`")));
    }
    for (field, relative, fix) in wanted {
        if !folder.join(relative).is_file() {
            reporter.error(field, format!("file `{}` does not exist", relative.display()), fix);
        }
    }
    reporter.finish(manifest)
}

/// Parses manifest text. `file` is only used in error messages and to name a plugin
/// whose id is unusable (by its folder name).
pub fn parse_manifest(text: &str, file: &Path) -> Result<Manifest, InvalidManifest> {
    let raw = deserialize(text, file)?;
    let plugin_name = match PluginId::parse(&raw.id) {
        Ok(id) => id.to_string(),
        Err(_) => folder_name(file),
    };
    let mut reporter = Reporter::new(file, plugin_name);
    let manifest = validate(raw, &mut reporter);
    match manifest {
        Some(manifest) => reporter.finish(manifest),
        None => Err(reporter.into_error()),
    }
}

fn folder_name(file: &Path) -> String {
    file.parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "<unknown>".to_owned())
}

fn deserialize(text: &str, file: &Path) -> Result<RawManifest, InvalidManifest> {
    let reporter = || Reporter::new(file, folder_name(file));
    let deserializer = toml::Deserializer::parse(text).map_err(|error| {
        let line = error.span().map(|span| line_of(text, span.start));
        let mut invalid =
            reporter().single("", format!("invalid TOML: {}", error.message().trim()), "fix the syntax at that line");
        invalid.errors[0].line = line;
        invalid
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.message().trim().to_owned();
        // A missing field has no place of its own: its span is the enclosing table.
        let line = inner.span().filter(|_| !message.starts_with("missing field")).map(|span| line_of(text, span.start));
        let field = if path == "." { String::new() } else { path };
        let fix = shape_fix(&message, &field);
        let mut invalid = reporter().single(&field, message, fix);
        invalid.errors[0].line = line;
        // The id is the best name for the plugin when it was readable.
        if let Ok(table) = text.parse::<toml::Table>()
            && let Some(id) = table.get("id").and_then(toml::Value::as_str)
            && PluginId::parse(id).is_ok()
        {
            invalid.errors[0].plugin = id.to_owned();
        }
        invalid
    })
}

fn shape_fix(message: &str, field: &str) -> String {
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let example = match name {
            "id" => "id = \"my-plugin\"",
            "name" => "name = \"My plugin\"",
            "version" => "version = \"0.1.0\"",
            "description" => "description = \"What the plugin does\"",
            "abi" => "abi = \"0.1\"",
            "mount" => "mount = \"sidebar\"",
            "entry" => "entry = \"ui/index.html\"",
            "method" => "method = \"POST\"",
            "path" => "path = \"/webhook\"",
            _ => "",
        };
        if example.is_empty() { format!("add `{name}`") } else { format!("add `{example}`") }
    } else if message.starts_with("unknown field") {
        let field = if field.is_empty() { "it" } else { field };
        format!("remove `{field}` or correct its spelling; docs/plugin-manifest.md lists every field")
    } else if message.starts_with("invalid type") {
        "give the field the type shown in docs/plugin-manifest.md".to_owned()
    } else {
        "see docs/plugin-manifest.md".to_owned()
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Collects problems for one manifest file.
pub(crate) struct Reporter {
    file: PathBuf,
    plugin: String,
    errors: Vec<ManifestError>,
}

impl Reporter {
    fn new(file: &Path, plugin: String) -> Reporter {
        Reporter { file: file.to_owned(), plugin, errors: Vec::new() }
    }

    pub(crate) fn error(&mut self, field: &str, problem: impl Into<String>, fix: impl Into<String>) {
        self.errors.push(ManifestError {
            plugin: self.plugin.clone(),
            file: self.file.clone(),
            line: None,
            field: field.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    fn single(mut self, field: &str, problem: impl Into<String>, fix: impl Into<String>) -> InvalidManifest {
        self.error(field, problem, fix);
        self.into_error()
    }

    fn into_error(self) -> InvalidManifest {
        InvalidManifest { errors: self.errors }
    }

    fn finish(self, manifest: Manifest) -> Result<Manifest, InvalidManifest> {
        if self.errors.is_empty() { Ok(manifest) } else { Err(self.into_error()) }
    }
}

fn validate(raw: RawManifest, reporter: &mut Reporter) -> Option<Manifest> {
    let id = PluginId::parse(&raw.id).map_err(|error| reporter.error("id", error.to_string(), "change `id`")).ok();
    let id = match id {
        Some(id) if RESERVED_IDS.contains(&id.as_str()) => {
            reporter.error(
                "id",
                format!("`{id}` is reserved: it names a part of the plugin API (/api/plugins/{id})"),
                "choose another id",
            );
            None
        }
        other => other,
    };
    let version = parse_version(&raw.version, "version", reporter);
    let name = non_empty(raw.name, "name", "add a short name, such as `name = \"Word stats\"`", reporter);
    let description =
        non_empty(raw.description, "description", "add one or two sentences on what the plugin does", reporter);
    let homepage = raw.homepage.and_then(|homepage| match url::Url::parse(&homepage) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
        _ => {
            reporter.error(
                "homepage",
                format!("`{homepage}` is not an http(s) URL"),
                "use a full URL such as `https://example.com/my-plugin`",
            );
            None
        }
    });
    let icon = raw.icon.and_then(|icon| inside_folder(&icon, "icon", reporter));
    let abi = parse_abi(&raw.abi, reporter);
    let min_plugboard_version =
        raw.min_plugboard_version.and_then(|text| parse_version(&text, "min_plugboard_version", reporter));
    let component = inside_folder(raw.component.as_deref().unwrap_or("plugin.wasm"), "component", reporter);
    if let Some(component) = &component
        && component.extension().and_then(|e| e.to_str()) != Some("wasm")
    {
        reporter.error(
            "component",
            format!("`{}` is not a .wasm file", component.display()),
            "point `component` at the compiled WebAssembly component",
        );
    }
    let permissions = parse_permissions(&raw.permissions, reporter);
    let dependencies = parse_dependencies(raw.dependencies, id.as_ref(), reporter);
    let network = parse_network(raw.network, &permissions, reporter);
    let limits = parse_limits(raw.limits, reporter);
    let filters = parse_filters(raw.filters, reporter);
    let settings = parse_settings(raw.settings, reporter);
    let ui = parse_ui(raw.ui, reporter);
    let schedules = crate::schedule::parse_schedules(raw.schedules, reporter);
    let commands = parse_commands(raw.commands, reporter);
    let routes = parse_routes(raw.routes, reporter);
    let events = parse_events(raw.events, reporter);

    Some(Manifest {
        id: id?,
        name: name?,
        version: version?,
        description: description?,
        authors: raw.authors,
        license: raw.license,
        homepage,
        category: raw.category,
        tags: raw.tags,
        icon,
        abi: abi?,
        min_plugboard_version,
        component: component?,
        dependencies,
        permissions,
        network,
        limits,
        filters,
        settings: settings?,
        ui,
        schedules,
        commands,
        routes,
        events,
        enabled_by_default: raw.enabled_by_default.unwrap_or(true),
    })
}

/// The names of the events a plugin can subscribe to (the cases of `events.event` and
/// `account-events.account-event`).
pub const EVENT_NAMES: &[&str] = &[
    "conversation-started",
    "conversation-ended",
    "message-received",
    "message-sent",
    "message-edited",
    "message-deleted",
    "file-attached",
    "file-deleted",
    "plugin-loaded",
    "plugin-unloaded",
    "plugin-enabled",
    "plugin-disabled",
    "plugin-failed",
    "user-created",
    "user-disabled",
    "user-enabled",
    "user-deleted",
];

fn parse_events(raw: Option<Vec<String>>, reporter: &mut Reporter) -> Option<BTreeSet<String>> {
    let raw = raw?;
    let mut events = BTreeSet::new();
    for (index, name) in raw.into_iter().enumerate() {
        if EVENT_NAMES.contains(&name.as_str()) {
            events.insert(name);
        } else {
            reporter.error(
                &format!("events[{index}]"),
                format!("`{name}` is not an event"),
                format!("use one of {}", EVENT_NAMES.join(", ")),
            );
        }
    }
    Some(events)
}

fn non_empty(value: String, field: &str, fix: &str, reporter: &mut Reporter) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        reporter.error(field, "is empty", fix);
        None
    } else {
        Some(trimmed.to_owned())
    }
}

fn parse_version(text: &str, field: &str, reporter: &mut Reporter) -> Option<semver::Version> {
    semver::Version::parse(text)
        .map_err(|error| {
            reporter.error(
                field,
                format!("`{text}` is not a semantic version ({error})"),
                "use MAJOR.MINOR.PATCH, such as `1.0.0`",
            )
        })
        .ok()
}

fn parse_abi(text: &str, reporter: &mut Reporter) -> Option<AbiVersion> {
    let known = KNOWN_ABI_VERSIONS.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let mut parts = text.split('.');
    let parsed = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(major), Some(minor), patch, None) if patch.is_none_or(|p| p.parse::<u64>().is_ok()) => {
            major.parse().ok().zip(minor.parse().ok())
        }
        _ => None,
    };
    let Some((major, minor)) = parsed else {
        reporter.error(
            "abi",
            format!("`{text}` is not an ABI version"),
            format!("write the `plugboard:plugin` version the plugin was built against, such as `abi = \"0.1\"` (known: {known})"),
        );
        return None;
    };
    let abi = AbiVersion { major, minor };
    if !KNOWN_ABI_VERSIONS.contains(&abi) {
        reporter.error(
            "abi",
            format!("ABI version {abi} is not known to this Plugboard"),
            format!("rebuild the plugin with an SDK for a supported ABI ({known}) or upgrade Plugboard"),
        );
        return None;
    }
    Some(abi)
}

fn inside_folder(text: &str, field: &str, reporter: &mut Reporter) -> Option<PathBuf> {
    let path = Path::new(text);
    let escapes = text.is_empty()
        || path.components().any(|component| !matches!(component, Component::Normal(_)))
        || text.contains('\\');
    if escapes {
        reporter.error(
            field,
            format!("`{text}` is not a relative path inside the plugin folder"),
            "use a path such as `ui/index.html`, without `..`, a leading `/` or backslashes",
        );
        None
    } else {
        Some(path.to_owned())
    }
}

fn parse_permissions(raw: &[String], reporter: &mut Reporter) -> Permissions {
    let mut granted = Vec::new();
    for (index, text) in raw.iter().enumerate() {
        match Permission::parse(text) {
            Some(permission) => granted.push(permission),
            None => {
                let known = Permission::ALL.map(Permission::as_str).join(", ");
                reporter.error(
                    &format!("permissions[{index}]"),
                    format!("unknown permission `{text}`"),
                    format!("use one of: {known}"),
                );
            }
        }
    }
    Permissions::new(granted)
}

fn parse_dependencies(
    raw: BTreeMap<String, String>,
    own_id: Option<&PluginId>,
    reporter: &mut Reporter,
) -> BTreeMap<PluginId, semver::VersionReq> {
    let mut dependencies = BTreeMap::new();
    for (name, range) in raw {
        let field = format!("dependencies.{name}");
        let id = PluginId::parse(&name)
            .map_err(|error| reporter.error(&field, error.to_string(), "use the dependency's plugin id as the key"))
            .ok();
        if id.is_some() && id.as_ref() == own_id {
            reporter.error(&field, "a plugin cannot depend on itself", "remove this line");
            continue;
        }
        let requirement = semver::VersionReq::parse(&range)
            .map_err(|error| {
                reporter.error(
                    &field,
                    format!("`{range}` is not a version range ({error})"),
                    "use a semver range such as `\"^1.2\"` or `\">=0.3, <0.5\"`",
                )
            })
            .ok();
        if let (Some(id), Some(requirement)) = (id, requirement) {
            dependencies.insert(id, requirement);
        }
    }
    dependencies
}

fn parse_network(raw: RawNetwork, permissions: &Permissions, reporter: &mut Reporter) -> NetworkPolicy {
    let mut allowed_hosts = Vec::new();
    for (index, entry) in raw.allowed_hosts.iter().enumerate() {
        match HostPattern::parse(entry) {
            Ok(pattern) => allowed_hosts.push(pattern),
            Err(problem) => reporter.error(
                &format!("network.allowed_hosts[{index}]"),
                problem,
                "list host names only, such as `api.github.com`, `*.example.com` or `127.0.0.1:8080`",
            ),
        }
    }
    let wants_network = permissions.contains(Permission::Network);
    if wants_network && raw.allowed_hosts.is_empty() {
        reporter.error(
            "network.allowed_hosts",
            "permission `network` is granted but no host is allowed",
            "list the hosts the plugin talks to in `[network] allowed_hosts`",
        );
    }
    if !wants_network && !raw.allowed_hosts.is_empty() {
        reporter.error(
            "network.allowed_hosts",
            "hosts are listed but permission `network` is not granted",
            "add \"network\" to `permissions`",
        );
    }
    NetworkPolicy { allowed_hosts }
}

fn parse_limits(raw: RawLimits, reporter: &mut Reporter) -> Limits {
    if let Some(memory) = raw.memory_mb
        && !(1..=MAX_MEMORY_MB).contains(&memory)
    {
        reporter.error(
            "limits.memory_mb",
            format!("{memory} is out of range"),
            format!("use 1 to {MAX_MEMORY_MB} (MiB)"),
        );
    }
    if let Some(timeout) = raw.timeout_ms
        && !(1..=MAX_TIMEOUT_MS).contains(&timeout)
    {
        reporter.error(
            "limits.timeout_ms",
            format!("{timeout} is out of range"),
            format!("use 1 to {MAX_TIMEOUT_MS} (milliseconds)"),
        );
    }
    if raw.max_calls_per_minute == Some(0) {
        reporter.error(
            "limits.max_calls_per_minute",
            "0 would refuse every call",
            "use a positive number, or remove it for no rate limit",
        );
    }
    Limits {
        memory_bytes: raw.memory_mb.map(|mb| mb * 1024 * 1024),
        timeout: raw.timeout_ms.map(Duration::from_millis),
        max_calls_per_minute: raw.max_calls_per_minute,
    }
}

fn parse_filters(raw: RawFilters, reporter: &mut Reporter) -> FilterPolicy {
    let default = FilterPolicy::default();
    let on_error = match raw.on_error.as_deref() {
        None => default.on_error,
        Some("open") => FailMode::Open,
        Some("closed") => FailMode::Closed,
        Some(other) => {
            reporter.error(
                "filters.on_error",
                format!("`{other}` is not a failure mode"),
                "use `\"open\"` (skip a failing filter) or `\"closed\"` (refuse the request)",
            );
            default.on_error
        }
    };
    FilterPolicy { priority: raw.priority.unwrap_or(default.priority), on_error }
}

fn parse_settings(raw: Option<toml::Table>, reporter: &mut Reporter) -> Option<SettingsSchema> {
    let Some(table) = raw else { return Some(SettingsSchema::empty()) };
    let json = match serde_json::to_value(&table) {
        Ok(json) => json,
        Err(error) => {
            reporter.error(
                "settings",
                format!("cannot be expressed as JSON: {error}"),
                "remove TOML dates from the schema",
            );
            return None;
        }
    };
    SettingsSchema::new(json)
        .map_err(|problem| {
            reporter.error(
                "settings",
                problem,
                "write `[settings]` as a JSON Schema object; see docs/plugin-manifest.md",
            )
        })
        .ok()
}

fn parse_ui(raw: Vec<RawUi>, reporter: &mut Reporter) -> Vec<UiMount> {
    let mut mounts = Vec::new();
    for (index, ui) in raw.into_iter().enumerate() {
        let mount = MountPoint::ALL.into_iter().find(|point| point.as_str() == ui.mount);
        if mount.is_none() {
            let known = MountPoint::ALL.map(MountPoint::as_str).join(", ");
            reporter.error(
                &format!("ui[{index}].mount"),
                format!("unknown mount point `{}`", ui.mount),
                format!("use one of: {known}"),
            );
        }
        let entry = inside_folder(&ui.entry, &format!("ui[{index}].entry"), reporter);
        if let Some(entry) = &entry
            && !matches!(entry.extension().and_then(|e| e.to_str()), Some("html" | "htm"))
        {
            reporter.error(
                &format!("ui[{index}].entry"),
                format!("`{}` is not an HTML file", entry.display()),
                "point `entry` at the HTML page to load in the frame",
            );
        }
        if let (Some(mount), Some(entry)) = (mount, entry) {
            mounts.push(UiMount { mount, entry, title: ui.title });
        }
    }
    mounts
}

pub(crate) fn is_simple_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.len() <= 64
}

fn parse_commands(raw: Vec<RawCommand>, reporter: &mut Reporter) -> Vec<Command> {
    let mut commands = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, command) in raw.into_iter().enumerate() {
        let field = format!("commands[{index}].name");
        let name = command.name.trim_start_matches('/').to_owned();
        if !is_simple_name(&name) {
            reporter.error(
                &field,
                format!("`{}` is not a command name", command.name),
                "use lower-case letters, digits, `-` and `_`, starting with a letter",
            );
            continue;
        }
        if BUILT_IN_COMMANDS.contains(&name.as_str()) {
            reporter.error(&field, format!("`/{name}` is built into Plugboard"), "choose another name");
            continue;
        }
        if !seen.insert(name.clone()) {
            reporter.error(&field, format!("`/{name}` is declared twice"), "remove one of them");
            continue;
        }
        let usage = command.usage.unwrap_or_else(|| format!("/{name}"));
        commands.push(Command { name, usage, description: command.description });
    }
    commands
}

fn parse_routes(raw: Vec<RawRoute>, reporter: &mut Reporter) -> Vec<Route> {
    let mut routes = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, route) in raw.into_iter().enumerate() {
        let field = format!("routes[{index}]");
        let method = route.method.to_ascii_uppercase();
        let mut ok = true;
        if !HTTP_METHODS.contains(&method.as_str()) {
            reporter.error(
                &format!("{field}.method"),
                format!("`{}` is not a supported method", route.method),
                format!("use one of: {}", HTTP_METHODS.join(", ")),
            );
            ok = false;
        }
        let path_ok = route.path.starts_with('/')
            && !route.path.split('/').any(|segment| segment == ".." || segment == ".")
            && route.path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.{}".contains(&b));
        if !path_ok {
            reporter.error(
                &format!("{field}.path"),
                format!("`{}` is not a route path", route.path),
                "start with `/` and use letters, digits, `-`, `_`, `.` and `{name}` parameters",
            );
            ok = false;
        }
        let auth = match route.auth.as_deref() {
            None | Some("user") => RouteAuth::User,
            Some("none") => RouteAuth::None,
            Some(other) => {
                reporter.error(
                    &format!("{field}.auth"),
                    format!("`{other}` is not a route auth mode"),
                    "use `\"user\"` (signed-in users) or `\"none\"` (webhooks)",
                );
                ok = false;
                RouteAuth::User
            }
        };
        if ok && !seen.insert((method.clone(), route.path.clone())) {
            reporter.error(&field, format!("`{method} {}` is declared twice", route.path), "remove one of them");
            ok = false;
        }
        if ok {
            routes.push(Route { method, path: route.path, summary: route.summary, auth });
        }
    }
    routes
}
