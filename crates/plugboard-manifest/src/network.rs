//! Outbound network policy: which hosts a plugin may reach.

use std::fmt;

/// One entry of `allowed_hosts`: `example.com`, `*.example.com` (any subdomain, not the
/// domain itself), an IP address, each optionally with `:port` (any port when absent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    host: String,
    any_subdomain: bool,
    port: Option<u16>,
}

impl HostPattern {
    /// Parses an `allowed_hosts` entry. Returns a message on failure.
    pub fn parse(value: &str) -> Result<HostPattern, String> {
        if value.contains("://") || value.contains('/') {
            return Err(format!("`{value}` is a URL, not a host name"));
        }
        let (host_part, port) = match value.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                let port: u16 = port.parse().map_err(|_| format!("`{value}` has an invalid port `{port}`"))?;
                (host, Some(port))
            }
            _ => (value, None),
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

    /// Whether a request to `host` (lower-case) on `port` matches this entry.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|allowed| allowed != port) {
            return false;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if self.any_subdomain {
            host.len() > self.host.len() + 1
                && host.ends_with(&self.host)
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
        } else {
            host.eq_ignore_ascii_case(&self.host)
        }
    }
}

impl serde::Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.any_subdomain {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// Where a plugin's outbound HTTP requests may go.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct NetworkPolicy {
    /// The allowed hosts; empty means none.
    pub allowed_hosts: Vec<HostPattern>,
}

impl NetworkPolicy {
    /// Whether `url` may be requested: an `http` or `https` URL whose host and port match
    /// an allowed entry.
    pub fn allows(&self, url: &url::Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        self.allowed_hosts.iter().any(|pattern| pattern.matches(&host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::{HostPattern, NetworkPolicy};

    fn policy(entries: &[&str]) -> NetworkPolicy {
        NetworkPolicy { allowed_hosts: entries.iter().map(|e| HostPattern::parse(e).unwrap()).collect() }
    }

    fn allows(policy: &NetworkPolicy, url: &str) -> bool {
        policy.allows(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn exact_wildcard_and_port() {
        let p = policy(&["api.github.com", "*.example.com", "127.0.0.1:8080", "[::1]"]);
        assert!(allows(&p, "https://api.github.com/repos"));
        assert!(allows(&p, "https://API.GitHub.com/"));
        assert!(!allows(&p, "https://github.com/"));
        assert!(!allows(&p, "https://api.github.com.evil.net/"));
        assert!(allows(&p, "https://a.b.example.com/"));
        assert!(!allows(&p, "https://example.com/"));
        assert!(!allows(&p, "https://badexample.com/"));
        assert!(allows(&p, "http://127.0.0.1:8080/x"));
        assert!(!allows(&p, "http://127.0.0.1:8081/x"));
        assert!(allows(&p, "http://[::1]:9000/"));
        assert!(!allows(&p, "ftp://api.github.com/"));
        assert!(!allows(&p, "file:///etc/passwd"));
    }

    #[test]
    fn refuses_malformed_entries() {
        for bad in ["https://x.com", "x.com/path", "*", "*.", "a..b", "x.com:http", "*.*.com"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
