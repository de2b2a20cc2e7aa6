//! Outbound network policy: which hosts a plugin may reach.

use std::fmt;

/// One entry of `allowed_hosts`: `example.com`, `*.example.com` (any subdomain, not the
/// domain itself), an IP address; without a port only the scheme's default port (80 for
/// `http`, 443 for `https`, as Spin's allowed outbound hosts), with `:port` that port,
/// with `:*` any port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    host: String,
    any_subdomain: bool,
    port: PortRule,
}

/// Which ports an entry allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PortRule {
    /// No port written: the scheme's default port only.
    SchemeDefault,
    /// `host:8080`.
    Exactly(u16),
    /// `host:*`.
    Any,
}

impl HostPattern {
    /// Parses an `allowed_hosts` entry. Returns a message on failure.
    pub fn parse(value: &str) -> Result<HostPattern, String> {
        if value.contains("://") || value.contains('/') {
            return Err(format!("`{value}` is a URL, not a host name"));
        }
        let (host_part, port) = match value.rsplit_once(':') {
            Some((host, "*")) if !host.contains(':') || host.ends_with(']') => (host, PortRule::Any),
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                let port: u16 = port.parse().map_err(|_| format!("`{value}` has an invalid port `{port}`"))?;
                (host, PortRule::Exactly(port))
            }
            _ => (value, PortRule::SchemeDefault),
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

    /// Whether a request to `host` (lower-case) on `port` matches this entry, where
    /// `default_port` is the port of the request's scheme (80 for `http`, 443 for `https`).
    pub fn matches(&self, host: &str, port: u16, default_port: u16) -> bool {
        self.matches_host(host) && self.allows_port(port, default_port)
    }

    /// Whether `host` (lower-case) is this entry's host, whatever the port.
    pub fn matches_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if self.any_subdomain {
            host.len() > self.host.len() + 1
                && host.ends_with(&self.host)
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
        } else {
            host.eq_ignore_ascii_case(&self.host)
        }
    }

    fn allows_port(&self, port: u16, default_port: u16) -> bool {
        match self.port {
            PortRule::SchemeDefault => port == default_port,
            PortRule::Exactly(allowed) => port == allowed,
            PortRule::Any => true,
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
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        match self.port {
            PortRule::SchemeDefault => Ok(()),
            PortRule::Exactly(port) => write!(f, ":{port}"),
            PortRule::Any => f.write_str(":*"),
        }
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
    /// an allowed entry (an entry without a port allows only the scheme's default port).
    pub fn allows(&self, url: &url::Url) -> bool {
        let Some((host, port, default_port)) = target(url) else { return false };
        self.allowed_hosts.iter().any(|pattern| pattern.matches(&host, port, default_port))
    }

    /// Whether an entry names `url`'s host but not its port: the refusal should say how
    /// to allow the port.
    pub fn only_port_refused(&self, url: &url::Url) -> bool {
        let Some((host, _, _)) = target(url) else { return false };
        !self.allows(url) && self.allowed_hosts.iter().any(|pattern| pattern.matches_host(&host))
    }
}

/// The lower-case host, the port and the scheme's default port of an `http(s)` URL.
fn target(url: &url::Url) -> Option<(String, u16, u16)> {
    let default_port = match url.scheme() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = url.host_str()?.to_ascii_lowercase();
    Some((host, url.port_or_known_default()?, default_port))
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
        let p = policy(&["api.github.com", "*.example.com", "127.0.0.1:8080", "[::1]:*"]);
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
    fn an_entry_without_a_port_allows_only_the_schemes_default_port() {
        let p = policy(&["api.example.org"]);
        assert!(allows(&p, "https://api.example.org/"));
        assert!(allows(&p, "https://api.example.org:443/"));
        assert!(allows(&p, "http://api.example.org/"));
        assert!(!allows(&p, "https://api.example.org:8443/"));
        assert!(!allows(&p, "http://api.example.org:8080/"));
        // A default port belongs to its scheme: 443 is not http's.
        assert!(!allows(&p, "http://api.example.org:443/"));
        assert!(!allows(&p, "https://api.example.org:80/"));
        assert!(p.only_port_refused(&url::Url::parse("https://api.example.org:8443/").unwrap()));
        assert!(!p.only_port_refused(&url::Url::parse("https://other.example.org/").unwrap()));
    }

    #[test]
    fn a_port_or_a_star_widens_an_entry() {
        let p = policy(&["api.example.org:8443", "*.internal:*", "10.0.0.1:*"]);
        assert!(allows(&p, "https://api.example.org:8443/"));
        assert!(allows(&p, "http://api.example.org:8443/"));
        assert!(!allows(&p, "https://api.example.org/"));
        assert!(allows(&p, "http://db.internal:5984/"));
        assert!(allows(&p, "https://db.internal/"));
        assert!(allows(&p, "http://10.0.0.1:9000/"));
        assert!(!allows(&p, "http://internal:9000/"));
    }

    #[test]
    fn entries_read_back_as_written() {
        for entry in ["api.example.org", "api.example.org:8080", "*.example.org:*", "[::1]:*", "[::1]", "10.0.0.1:*"] {
            assert_eq!(HostPattern::parse(entry).unwrap().to_string(), entry);
        }
    }

    #[test]
    fn refuses_malformed_entries() {
        for bad in ["https://x.com", "x.com/path", "*", "*.", "a..b", "x.com:http", "*.*.com", "x.com:**", "*:*"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
