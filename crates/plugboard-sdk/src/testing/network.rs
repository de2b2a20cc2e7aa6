//! The fake host's outbound network policy: `allowed_hosts` entries and URLs, read and
//! matched as the server reads and matches them.

use crate::{ErrorKind, HostError};

/// One `allowed_hosts` entry: `example.com`, `*.example.com` (subdomains only), an IP
/// address; without a port only the scheme's default port (80 or 443), with `:port` that
/// port, with `:*` any port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPattern {
    host: String,
    any_subdomain: bool,
    port: PortRule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortRule {
    Default,
    Exactly(u16),
    Any,
}

impl HostPattern {
    /// Parses an entry; the message says what is wrong with it.
    pub(crate) fn parse(value: &str) -> Result<HostPattern, String> {
        if value.contains("://") || value.contains('/') {
            return Err(format!("`{value}` is a URL, not a host name"));
        }
        let (host_part, port) = match value.rsplit_once(':') {
            Some((host, "*")) if !host.contains(':') || host.ends_with(']') => (host, PortRule::Any),
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                let port: u16 = port.parse().map_err(|_| format!("`{value}` has an invalid port `{port}`"))?;
                (host, PortRule::Exactly(port))
            }
            _ => (value, PortRule::Default),
        };
        let (any_subdomain, host) = match host_part.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host_part),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let valid_name = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !(valid_name || host.parse::<std::net::IpAddr>().is_ok()) || host.contains('*') {
            return Err(format!("`{value}` is not a host name, `*.domain` pattern or IP address"));
        }
        Ok(HostPattern { host, any_subdomain, port })
    }

    fn matches(&self, url: &Target) -> bool {
        let port_ok = match self.port {
            PortRule::Default => url.port == default_port(&url.scheme),
            PortRule::Exactly(port) => url.port == port,
            PortRule::Any => true,
        };
        port_ok && self.matches_host(url)
    }

    fn matches_host(&self, url: &Target) -> bool {
        if self.any_subdomain {
            url.host.len() > self.host.len() + 1
                && url.host.ends_with(&self.host)
                && url.host.as_bytes()[url.host.len() - self.host.len() - 1] == b'.'
        } else {
            url.host == self.host
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.any_subdomain {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        match self.port {
            PortRule::Default => Ok(()),
            PortRule::Exactly(port) => write!(f, ":{port}"),
            PortRule::Any => f.write_str(":*"),
        }
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// Where a URL goes: scheme, lower-case host and port (the scheme's default when absent).
#[derive(Debug)]
struct Target {
    scheme: String,
    host: String,
    port: u16,
}

fn invalid_url(uri: &str, why: &str) -> HostError {
    HostError { kind: ErrorKind::InvalidInput, message: format!("`{uri}` is not an absolute URL: {why}") }
}

fn target(uri: &str) -> Result<Target, HostError> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(invalid_url(uri, "it has no scheme such as `https://`"));
    };
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| invalid_url(uri, "an IPv6 address lacks `]`"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid_url(uri, "it has no host"));
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| invalid_url(uri, &format!("`{port}` is not a port")))?,
        None => default_port(&scheme),
    };
    Ok(Target { scheme, host: host.to_ascii_lowercase(), port })
}

/// Checks `uri` against `allowed` as the server does; the refusal reads as the server's.
pub(crate) fn check(plugin: &str, allowed: &[HostPattern], uri: &str) -> Result<(), HostError> {
    let target = target(uri)?;
    let web = matches!(target.scheme.as_str(), "http" | "https");
    if web && allowed.iter().any(|pattern| pattern.matches(&target)) {
        return Ok(());
    }
    let only_port_refused = web && allowed.iter().any(|pattern| pattern.matches_host(&target));
    let allowed = allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let Target { scheme, host, port } = target;
    let message = if only_port_refused {
        format!(
            "plugin `{plugin}` may not reach `{host}` on port {port} ({scheme}): allowed hosts are [{allowed}], and an entry without a port allows only port 80 (http) or 443 (https); add `{host}:{port}` (or `{host}:*`) to `[network] allowed_hosts` in plugin.toml"
        )
    } else {
        format!(
            "plugin `{plugin}` may not reach `{host}` ({scheme}): allowed hosts are [{allowed}]; add it to `[network] allowed_hosts` in plugin.toml"
        )
    };
    Err(HostError { kind: ErrorKind::PermissionDenied, message })
}

#[cfg(test)]
mod tests {
    use super::{HostPattern, check};

    fn allows(entries: &[&str], uri: &str) -> bool {
        let patterns: Vec<HostPattern> = entries.iter().map(|entry| HostPattern::parse(entry).unwrap()).collect();
        check("p", &patterns, uri).is_ok()
    }

    #[test]
    fn hosts_ports_and_subdomains_match_as_the_server_matches_them() {
        assert!(allows(&["api.example.org"], "https://api.example.org/v1?q=1"));
        assert!(allows(&["api.example.org"], "http://API.example.org"));
        assert!(!allows(&["api.example.org"], "https://api.example.org:8443/"));
        assert!(allows(&["api.example.org:8443"], "https://api.example.org:8443/"));
        assert!(allows(&["api.example.org:*"], "https://api.example.org:9/"));
        assert!(allows(&["*.example.org"], "https://a.b.example.org/"));
        assert!(!allows(&["*.example.org"], "https://example.org/"));
        assert!(!allows(&["api.example.org"], "https://evil.org/?api.example.org"));
        assert!(!allows(&["api.example.org"], "https://api.example.org@evil.org/"));
        assert!(allows(&["[::1]:8080"], "http://[::1]:8080/x"));
        assert!(!allows(&["api.example.org"], "ftp://api.example.org/"));
        assert!(!allows(&[], "https://api.example.org/"));
    }

    #[test]
    fn bad_entries_and_urls_say_what_is_wrong() {
        assert!(HostPattern::parse("https://example.org").unwrap_err().contains("is a URL"));
        assert!(HostPattern::parse("example.org:http").unwrap_err().contains("invalid port"));
        let patterns = [HostPattern::parse("api.example.org").unwrap()];
        let error = check("p", &patterns, "https://api.example.org:8443/").unwrap_err();
        assert!(error.message.contains("add `api.example.org:8443` (or `api.example.org:*`)"), "{}", error.message);
        let error = check("p", &[], "example.org/path").unwrap_err();
        assert!(error.message.contains("not an absolute URL"), "{}", error.message);
    }
}
