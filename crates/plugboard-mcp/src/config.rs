//! [`McpServerConfig`]: one MCP server an administrator added, as the configuration file's
//! `[[mcp_servers]]`, the API and the store give it. Validation names the field and the
//! fix; the values of `env` and `headers` are secrets (tokens live there) and are never
//! shown back, only their names ([`McpServerConfig::redacted`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The longest a server's name may be.
pub const MAX_NAME_LEN: usize = 32;

/// A tool call's deadline unless the server's configuration sets one.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// The most text a tool result may give the model unless the configuration sets it.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 64 * 1024;

/// Headers the streamable HTTP transport sets itself, which a configuration may not.
const RESERVED_HEADERS: [&str; 4] = ["accept", "mcp-session-id", "mcp-protocol-version", "last-event-id"];

/// What a secret's value is shown as.
pub const REDACTED: &str = "(secret)";

/// One MCP server whose tools Plugboard offers beside the plugins' tools.
///
/// Read through `RawConfig`: serde cannot refuse unknown fields of a struct with a
/// flattened enum, and every field name (a typo) must be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct McpServerConfig {
    /// Unique among the servers: lowercase letters, digits and dashes, starting with a
    /// letter. Its tools are offered as `mcp_<name>__<tool>` (dashes as underscores).
    pub name: String,
    /// How Plugboard reaches it.
    #[serde(flatten)]
    pub transport: Transport,
    /// Whether its tools are offered (a disabled server is not started).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A tool call's deadline in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// The most text a tool result gives the model, in bytes; past it the text is cut and
    /// the model told so.
    #[serde(default = "default_max_result_bytes")]
    pub max_result_bytes: usize,
}

/// How an MCP server is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transport {
    /// A child process speaking MCP on its standard input and output. It gets exactly
    /// `env` as its environment (nothing of Plugboard's own), and `cwd` as its working
    /// folder (the server's data folder when unset).
    Stdio {
        /// The program: a path, or a name looked up in the server's `PATH`.
        command: String,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
        /// Its whole environment. Secret: shown back by name only.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Its working folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<PathBuf>,
    },
    /// A remote server over streamable HTTP.
    Http {
        /// Its MCP endpoint, `http://` or `https://`.
        url: String,
        /// Headers sent with every request, such as `Authorization`. Secret: shown back by
        /// name only.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

/// [`McpServerConfig`] as written: every field of both transports, none unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    transport: TransportKind,
    command: Option<String>,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    cwd: Option<PathBuf>,
    url: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "default_timeout_secs")]
    timeout_secs: u64,
    #[serde(default = "default_max_result_bytes")]
    max_result_bytes: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum TransportKind {
    Stdio,
    Http,
}

impl TryFrom<RawConfig> for McpServerConfig {
    type Error = String;

    fn try_from(raw: RawConfig) -> Result<McpServerConfig, String> {
        let transport = match raw.transport {
            TransportKind::Stdio => {
                if raw.url.is_some() || raw.headers.is_some() {
                    return Err("`url` and `headers` are for `http` servers; a `stdio` server takes `command`, \
                                `args`, `env` and `cwd`"
                        .to_owned());
                }
                Transport::Stdio {
                    command: raw.command.ok_or("a `stdio` server needs `command`, the program to start")?,
                    args: raw.args.unwrap_or_default(),
                    env: raw.env.unwrap_or_default(),
                    cwd: raw.cwd,
                }
            }
            TransportKind::Http => {
                if raw.command.is_some() || raw.args.is_some() || raw.env.is_some() || raw.cwd.is_some() {
                    return Err("`command`, `args`, `env` and `cwd` are for `stdio` servers; an `http` server takes \
                                `url` and `headers`"
                        .to_owned());
                }
                Transport::Http {
                    url: raw.url.ok_or("an `http` server needs `url`, its MCP endpoint")?,
                    headers: raw.headers.unwrap_or_default(),
                }
            }
        };
        Ok(McpServerConfig {
            name: raw.name,
            transport,
            enabled: raw.enabled,
            timeout_secs: raw.timeout_secs,
            max_result_bytes: raw.max_result_bytes,
        })
    }
}

fn yes() -> bool {
    true
}

fn default_timeout_secs() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

fn default_max_result_bytes() -> usize {
    DEFAULT_MAX_RESULT_BYTES
}

/// What is wrong with a configuration: the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MCP server `{server}`: `{field}` {problem}")]
pub struct ConfigError {
    /// The server's name as given.
    pub server: String,
    /// The field.
    pub field: &'static str,
    /// What is wrong and what to do.
    pub problem: String,
}

impl McpServerConfig {
    /// Every problem of this configuration, or none.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problem = |field: &'static str, problem: String| ConfigError { server: self.name.clone(), field, problem };
        if !valid_name(&self.name) {
            return Err(problem(
                "name",
                format!(
                    "must be 1 to {MAX_NAME_LEN} lowercase letters, digits and dashes, starting with a letter \
                     (such as `github` or `files-2`)"
                ),
            ));
        }
        if self.timeout_secs == 0 || self.timeout_secs > 3600 {
            return Err(problem("timeout_secs", "must be between 1 and 3600 seconds".to_owned()));
        }
        if self.max_result_bytes < 256 || self.max_result_bytes > 16 * 1024 * 1024 {
            return Err(problem("max_result_bytes", "must be between 256 bytes and 16 MiB".to_owned()));
        }
        match &self.transport {
            Transport::Stdio { command, args, env, .. } => {
                if command.trim().is_empty() {
                    return Err(problem("command", "is empty: give the program to start, such as `npx`".to_owned()));
                }
                if command.contains('\0') || args.iter().any(|arg| arg.contains('\0')) {
                    return Err(problem("command", "holds a NUL character".to_owned()));
                }
                if let Some(name) = env.keys().find(|name| name.is_empty() || name.contains(['=', '\0'])) {
                    return Err(problem("env", format!("has the invalid variable name `{name}`")));
                }
            }
            Transport::Http { url, headers } => {
                let parsed = url::Url::parse(url).map_err(|error| {
                    problem("url", format!("is not a URL ({error}): give the server's MCP endpoint"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(problem("url", "must be an http:// or https:// address".to_owned()));
                }
                for (name, value) in headers {
                    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return Err(problem("headers", format!("has the invalid header name `{name}`")));
                    }
                    if RESERVED_HEADERS.iter().any(|reserved| name.eq_ignore_ascii_case(reserved)) {
                        return Err(problem(
                            "headers",
                            format!("sets `{name}`, which the MCP transport sets itself: remove it"),
                        ));
                    }
                    if http::HeaderValue::from_str(value).is_err() {
                        return Err(problem("headers", format!("has an invalid value for `{name}`")));
                    }
                }
            }
        }
        Ok(())
    }

    /// This configuration with every secret value replaced by [`REDACTED`], to show.
    pub fn redacted(&self) -> McpServerConfig {
        let hide = |values: &BTreeMap<String, String>| {
            values.keys().map(|name| (name.clone(), REDACTED.to_owned())).collect::<BTreeMap<_, _>>()
        };
        let transport = match &self.transport {
            Transport::Stdio { command, args, env, cwd } => {
                Transport::Stdio { command: command.clone(), args: args.clone(), env: hide(env), cwd: cwd.clone() }
            }
            Transport::Http { url, headers } => Transport::Http { url: url.clone(), headers: hide(headers) },
        };
        McpServerConfig { transport, ..self.clone() }
    }

    /// This configuration with the secrets left as [`REDACTED`] (or left out) taken from
    /// `previous`: an edit that shows the redacted form back keeps the stored secrets.
    pub fn keeping_secrets_of(mut self, previous: &McpServerConfig) -> McpServerConfig {
        let keep = |values: &mut BTreeMap<String, String>, old: &BTreeMap<String, String>| {
            for (name, value) in values.iter_mut() {
                if value == REDACTED
                    && let Some(old) = old.get(name)
                {
                    value.clone_from(old);
                }
            }
        };
        match (&mut self.transport, &previous.transport) {
            (Transport::Stdio { env, .. }, Transport::Stdio { env: old, .. }) => keep(env, old),
            (Transport::Http { headers, .. }, Transport::Http { headers: old, .. }) => keep(headers, old),
            _ => {}
        }
        self
    }
}

/// Whether `name` is a valid server name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= MAX_NAME_LEN
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio(name: &str) -> McpServerConfig {
        serde_json::from_value(serde_json::json!({
            "name": name, "transport": "stdio", "command": "npx", "args": ["-y", "server"],
            "env": {"TOKEN": "s3cret"}
        }))
        .unwrap()
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let config = stdio("files");
        assert!(config.enabled);
        assert_eq!(config.timeout_secs, DEFAULT_TIMEOUT_SECS);
        assert_eq!(config.max_result_bytes, DEFAULT_MAX_RESULT_BYTES);
        config.validate().unwrap();
    }

    #[test]
    fn bad_names_and_urls_name_the_field() {
        let error = stdio("Files").validate().unwrap_err();
        assert_eq!(error.field, "name");
        let http: McpServerConfig = serde_json::from_value(serde_json::json!({
            "name": "remote", "transport": "http", "url": "ftp://example.com/mcp"
        }))
        .unwrap();
        let error = http.validate().unwrap_err();
        assert_eq!(error.field, "url");
        assert!(error.to_string().contains("http:// or https://"), "{error}");
        let http: McpServerConfig = serde_json::from_value(serde_json::json!({
            "name": "remote", "transport": "http", "url": "https://example.com/mcp",
            "headers": {"Mcp-Session-Id": "x"}
        }))
        .unwrap();
        let error = http.validate().unwrap_err();
        assert_eq!(error.field, "headers");
        assert!(error.to_string().contains("sets `Mcp-Session-Id`, which the MCP transport sets itself"), "{error}");
    }

    #[test]
    fn secrets_are_shown_by_name_and_kept_when_shown_back() {
        let config = stdio("files");
        let shown = config.redacted();
        let Transport::Stdio { env, .. } = &shown.transport else { panic!() };
        assert_eq!(env["TOKEN"], REDACTED);
        assert!(!serde_json::to_string(&shown).unwrap().contains("s3cret"));
        assert_eq!(shown.keeping_secrets_of(&config), config);
    }

    #[test]
    fn each_transport_takes_only_its_fields() {
        let http: McpServerConfig = serde_json::from_value(serde_json::json!({
            "name": "remote", "transport": "http", "url": "https://example.com/mcp",
            "headers": {"Authorization": "Bearer x"}, "timeout_secs": 5
        }))
        .unwrap();
        assert!(matches!(&http.transport, Transport::Http { headers, .. } if headers.len() == 1));
        assert_eq!(http.timeout_secs, 5);
        // What is written is read back the same.
        let written = serde_json::to_value(&http).unwrap();
        assert_eq!(serde_json::from_value::<McpServerConfig>(written).unwrap(), http);
        let written = serde_json::to_value(stdio("files")).unwrap();
        assert_eq!(serde_json::from_value::<McpServerConfig>(written).unwrap(), stdio("files"));

        let mixed: Result<McpServerConfig, _> = serde_json::from_value(serde_json::json!({
            "name": "x", "transport": "http", "url": "https://example.com/mcp", "command": "npx"
        }));
        let error = mixed.unwrap_err().to_string();
        assert!(error.contains("are for `stdio` servers"), "{error}");
        let missing: Result<McpServerConfig, _> =
            serde_json::from_value(serde_json::json!({"name": "x", "transport": "stdio"}));
        let error = missing.unwrap_err().to_string();
        assert!(error.contains("needs `command`"), "{error}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let result: Result<McpServerConfig, _> = serde_json::from_value(serde_json::json!({
            "name": "x", "transport": "stdio", "command": "a", "comand": "typo"
        }));
        assert!(result.is_err());
    }
}
