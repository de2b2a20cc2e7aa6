//! Access list: request middleware that lets only listed client addresses and listed
//! users use the API and refuses everyone else with 403 and the operator's message.
//!
//! The client address is the TCP peer the host reports in `x-plugboard-client-ip` (a
//! client cannot set that header: the host drops one sent to it). `X-Forwarded-For` is
//! read only when that peer is one of `trusted_proxies`, from the right: the nearest
//! address that is not itself a trusted proxy is the client, so an address a client
//! writes into the header itself is never believed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use plugboard_sdk::{
    CallContext, HttpRequest, HttpResponse, Plugin, RequestOutcome, SelfTestResult, Settings, chat, export_plugin,
};
use serde::Deserialize;

/// The header in which the host tells the TCP peer's address.
const CLIENT_IP: &str = "x-plugboard-client-ip";

/// How many user names an instance remembers before it starts over.
const MAX_REMEMBERED_USERS: usize = 1024;

#[derive(Deserialize)]
struct Config {
    allowed_ips: Vec<String>,
    allowed_users: Vec<String>,
    trusted_proxies: Vec<String>,
    open_paths: Vec<String>,
    message: String,
}

/// An IP address range: a network and the length of its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Reads `192.0.2.7`, `10.0.0.0/8`, `2001:db8::1` or `fd00::/8`.
    fn parse(text: &str) -> Result<IpRange, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or range; write 192.0.2.7, 10.0.0.0/8 or fd00::/8"))?;
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("`{text}`: the prefix length must be a number from 0 to {bits}"))?,
        };
        Ok(IpRange { network, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

fn parse_ranges(field: &str, texts: &[String]) -> Result<Vec<IpRange>, String> {
    texts
        .iter()
        .enumerate()
        .map(|(index, text)| IpRange::parse(text).map_err(|error| format!("setting `{field}[{index}]`: {error}")))
        .collect()
}

/// An address as written in `X-Forwarded-For`: an IP, possibly with a port.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>().ok().or_else(|| text.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
}

struct AccessList {
    allowed_ips: Vec<IpRange>,
    /// Lower-case usernames.
    allowed_users: Vec<String>,
    trusted_proxies: Vec<IpRange>,
    open_paths: Vec<String>,
    message: String,
    /// Whether each user id seen so far is on `allowed_users` (names do not change).
    users: HashMap<String, bool>,
}

impl AccessList {
    fn new(config: Config) -> Result<AccessList, String> {
        Ok(AccessList {
            allowed_ips: parse_ranges("allowed_ips", &config.allowed_ips)?,
            allowed_users: config.allowed_users.iter().map(|name| name.trim().to_lowercase()).collect(),
            trusted_proxies: parse_ranges("trusted_proxies", &config.trusted_proxies)?,
            open_paths: config.open_paths,
            message: config.message,
            users: HashMap::new(),
        })
    }

    fn is_trusted_proxy(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|range| range.contains(address))
    }

    /// The client's address: the TCP peer, or, when the peer is a trusted proxy, the
    /// nearest address of `X-Forwarded-For` that is not one. `None` when unknown.
    fn client_address(&self, request: &HttpRequest) -> Option<IpAddr> {
        let peer = parse_address(request.header(CLIENT_IP)?)?;
        if !self.is_trusted_proxy(peer) {
            return Some(peer);
        }
        let forwarded: Vec<&str> = request
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
            .flat_map(|(_, value)| value.split(','))
            .collect();
        let mut client = peer;
        for entry in forwarded.iter().rev() {
            // An entry that is not an address: nothing to its left can be trusted.
            client = parse_address(entry)?;
            if !self.is_trusted_proxy(client) {
                break;
            }
        }
        Some(client)
    }

    /// Whether the request may pass the address check.
    fn address_allowed(&self, request: &HttpRequest) -> bool {
        self.allowed_ips.is_empty()
            || self.client_address(request).is_some_and(|address| self.allowed_ips.iter().any(|r| r.contains(address)))
    }

    fn is_open_path(&self, uri: &str) -> bool {
        let path = uri.split_once('?').map_or(uri, |(path, _)| path);
        self.open_paths.iter().any(|prefix| path.starts_with(prefix.as_str()))
    }

    /// Whether user `name` is listed.
    fn user_listed(&self, name: &str) -> bool {
        self.allowed_users.iter().any(|allowed| *allowed == name.to_lowercase())
    }

    /// Whether the signed-in user `user_id` may pass; looks the name up once per id.
    fn user_allowed(&mut self, user_id: &str) -> Result<bool, String> {
        if self.allowed_users.is_empty() || user_id.is_empty() {
            return Ok(true);
        }
        if let Some(allowed) = self.users.get(user_id) {
            return Ok(*allowed);
        }
        let user = chat::get_user(user_id).map_err(|error| format!("cannot look up user `{user_id}`: {error}"))?;
        let allowed = self.user_listed(&user.display_name);
        if self.users.len() >= MAX_REMEMBERED_USERS {
            self.users.clear();
        }
        self.users.insert(user_id.to_owned(), allowed);
        Ok(allowed)
    }

    fn refuse(&self) -> RequestOutcome {
        RequestOutcome::Respond(HttpResponse::text(403, self.message.clone()))
    }
}

impl Plugin for AccessList {
    fn init(settings: Settings) -> Result<Self, String> {
        AccessList::new(settings.parse_as()?)
    }

    fn before_request(&mut self, context: &CallContext, request: HttpRequest) -> RequestOutcome {
        if self.is_open_path(&request.uri) {
            return RequestOutcome::Keep;
        }
        if !self.address_allowed(&request) {
            return self.refuse();
        }
        match self.user_allowed(&context.user_id) {
            Ok(true) => RequestOutcome::Keep,
            Ok(false) => self.refuse(),
            Err(error) => {
                // Not knowing who it is must not let them through.
                plugboard_sdk::warn!("{error}");
                self.refuse()
            }
        }
    }

    fn self_test(&mut self) -> Vec<SelfTestResult> {
        let ranges = self.allowed_ips.len();
        let users = self.allowed_users.len();
        let summary = match (ranges, users) {
            (0, 0) => "no list is set: every request passes".to_owned(),
            _ => format!("{ranges} address entries, {users} users"),
        };
        vec![SelfTestResult::new("settings", true, summary)]
    }
}

export_plugin!(AccessList, hooks: [BeforeRequest, SelfTest]);

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ips: &[&str], proxies: &[&str]) -> AccessList {
        let strings = |items: &[&str]| items.iter().map(|item| (*item).to_owned()).collect();
        AccessList::new(Config {
            allowed_ips: strings(ips),
            allowed_users: Vec::new(),
            trusted_proxies: strings(proxies),
            open_paths: vec!["/api/plugins/github-webhook/http/".into()],
            message: "no".into(),
        })
        .unwrap()
    }

    fn request(uri: &str, headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            uri: uri.into(),
            headers: headers.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn ranges_match_their_addresses_only() {
        let range = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(range.contains("10.200.3.4".parse().unwrap()));
        assert!(range.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!range.contains("11.0.0.1".parse().unwrap()));
        assert!(!range.contains("::1".parse().unwrap()));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains("192.0.2.1".parse().unwrap()));
        assert!(IpRange::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(IpRange::parse("192.0.2.7").unwrap().contains("192.0.2.7".parse().unwrap()));
        assert!(!IpRange::parse("192.0.2.7").unwrap().contains("192.0.2.8".parse().unwrap()));
    }

    #[test]
    fn bad_entries_are_refused_with_the_setting_named() {
        let error = AccessList::new(Config {
            allowed_ips: vec!["10.0.0.0/8".into(), "10.0.0.0/33".into()],
            allowed_users: Vec::new(),
            trusted_proxies: Vec::new(),
            open_paths: Vec::new(),
            message: "no".into(),
        })
        .err()
        .unwrap();
        assert!(error.contains("allowed_ips[1]") && error.contains("0 to 32"), "{error}");
        assert!(IpRange::parse("example.org").unwrap_err().contains("not an IP address"));
    }

    #[test]
    fn empty_lists_allow_everyone() {
        let open = list(&[], &[]);
        assert!(open.address_allowed(&request("/api/me", &[])));
        assert!(open.address_allowed(&request("/api/me", &[(CLIENT_IP, "203.0.113.5")])));
    }

    #[test]
    fn the_peer_decides_and_forwarded_for_is_ignored_from_untrusted_peers() {
        let gate = list(&["10.0.0.0/8"], &[]);
        assert!(gate.address_allowed(&request("/api/me", &[(CLIENT_IP, "10.0.0.7")])));
        assert!(!gate.address_allowed(&request("/api/me", &[(CLIENT_IP, "127.0.0.1")])));
        let spoofed = request("/api/me", &[(CLIENT_IP, "127.0.0.1"), ("x-forwarded-for", "10.0.0.7")]);
        assert!(!gate.address_allowed(&spoofed));
        // No peer address known: refused, not guessed.
        assert!(!gate.address_allowed(&request("/api/me", &[])));
    }

    #[test]
    fn behind_a_trusted_proxy_the_nearest_untrusted_forwarded_address_counts() {
        let gate = list(&["10.0.0.0/8"], &["127.0.0.1", "192.168.0.0/16"]);
        let via = |forwarded: &str| request("/api/me", &[(CLIENT_IP, "127.0.0.1"), ("x-forwarded-for", forwarded)]);
        assert!(gate.address_allowed(&via("10.0.0.7")));
        assert!(gate.address_allowed(&via("10.0.0.7, 192.168.1.1")));
        // A client that writes an allowed address in front of its own is still itself.
        assert!(!gate.address_allowed(&via("10.0.0.7, 203.0.113.5")));
        assert!(!gate.address_allowed(&via("not-an-address")));
        assert_eq!(gate.client_address(&request("/api/me", &[(CLIENT_IP, "127.0.0.1")])), "127.0.0.1".parse().ok());
    }

    #[test]
    fn open_paths_and_listed_names() {
        let gate = list(&["10.0.0.0/8"], &[]);
        assert!(gate.is_open_path("/api/plugins/github-webhook/http/github?x=1"));
        assert!(!gate.is_open_path("/api/me"));
        let mut users = list(&[], &[]);
        users.allowed_users = vec!["alice".into()];
        assert!(users.user_listed("Alice") && !users.user_listed("bob"));
        // Signed-out requests pass the user check without a lookup.
        assert_eq!(users.user_allowed(""), Ok(true));
    }
}
