//! `allowed_outbound_hosts`: parsing the allow-list and checking an outbound URL against it.
//!
//! Follows Spin's outbound-networking rules (scheme, host, port; `*` wildcards, `*.domain`,
//! CIDR ranges, well-known default ports, `rediss` having none) and its error wording, since
//! the component shows those errors to users.

use std::net::IpAddr;

use anyhow::{bail, ensure, Context, Result};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use url::Host;

/// What stays as it is in a URL's userinfo: RFC 3986's unreserved characters. The test host's
/// own encoding, not the component's, so that it checks the component's.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A scheme's default port, when it has a well-known one.
fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemePattern {
    Any,
    Exactly(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`, stored as `.example.com`.
    AnySubdomain(String),
    /// `self`: requests to the app itself (never matches an absolute URL).
    ToSelf,
    Exactly(Host),
    Cidr(Cidr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exactly(u16),
    /// `start..end`, end excluded.
    Range(u16, u16),
}

/// An IP network such as `10.0.0.0/8`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (ip, prefix) = text.split_once('/')?;
        let network: IpAddr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, width: u32, prefix: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - u32::from(prefix))
            }
        }
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix)
                    == masked(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// One entry of `allowed_outbound_hosts`, after templating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHostConfig {
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

impl AllowedHostConfig {
    /// Parses `<scheme>://<host>[:<port>]`, with Spin's messages for each kind of mistake.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let Some((scheme, rest)) = text.split_once("://") else {
            if matches!(text, "*" | ":" | "" | "?") {
                bail!("{text:?} is not an allowed outbound host format.\nHosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each.");
            }
            bail!("{text:?} does not contain a scheme (e.g., 'http://' or '*://')");
        };
        let (host, port_and_path) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port_and_path.split_once('/') {
            Some((_, path)) if !path.is_empty() => {
                bail!("{text:?} has a path but is not allowed to")
            }
            Some((port, _)) => port,
            None => port_and_path,
        };
        let port = parse_port(port, scheme)
            .with_context(|| format!("Invalid allowed host port {port:?}"))?;
        let scheme_pattern = parse_scheme(scheme)
            .with_context(|| format!("Invalid allowed host scheme {scheme:?}"))?;
        let host = parse_host(host).with_context(|| format!("Invalid allowed host {host:?}"))?;
        Ok(Self {
            scheme: scheme_pattern,
            host,
            port,
        })
    }

    fn allows(&self, url: &OutboundUrl) -> bool {
        let scheme_ok = match &self.scheme {
            SchemePattern::Any => true,
            SchemePattern::Exactly(s) => *s == url.scheme,
        };
        let host_ok = match Host::parse(&url.host) {
            Err(_) => false,
            Ok(host) => match (&self.host, host) {
                (HostPattern::Any, _) => true,
                (HostPattern::AnySubdomain(suffix), Host::Domain(d)) => {
                    d.ends_with(suffix.as_str())
                }
                (HostPattern::Exactly(expected), host) => host == *expected,
                (HostPattern::Cidr(c), Host::Ipv4(ip)) => c.contains(IpAddr::V4(ip)),
                (HostPattern::Cidr(c), Host::Ipv6(ip)) => c.contains(IpAddr::V6(ip)),
                _ => false,
            },
        };
        let port_ok = match &self.port {
            PortPattern::Any => true,
            pattern => match url.port.or_else(|| well_known_port(&url.scheme)) {
                None => false,
                Some(port) => match pattern {
                    PortPattern::Exactly(p) => *p == port,
                    PortPattern::Range(start, end) => (*start..*end).contains(&port),
                    PortPattern::Any => true,
                },
            },
        };
        scheme_ok && host_ok && port_ok
    }
}

fn parse_scheme(scheme: &str) -> Result<SchemePattern> {
    if scheme == "*" {
        return Ok(SchemePattern::Any);
    }
    ensure!(!scheme.starts_with('{'), "scheme lists are not supported");
    ensure!(
        scheme.chars().all(char::is_alphabetic),
        "only alphabetic characters are allowed"
    );
    Ok(SchemePattern::Exactly(scheme.to_string()))
}

fn parse_host(host: &str) -> Result<HostPattern> {
    let host = host.trim();
    match host {
        "*" => return Ok(HostPattern::Any),
        "self" | "self.alt" => return Ok(HostPattern::ToSelf),
        _ => {}
    }
    if host.starts_with('{') {
        ensure!(host.ends_with('}'), "host lists are not yet supported");
        bail!("host lists are not yet supported");
    }
    if let Some(cidr) = Cidr::parse(host) {
        return Ok(HostPattern::Cidr(cidr));
    }
    let host = host.trim_end_matches('/');
    ensure!(!host.contains('/'), "must not include a path");
    if let Some(domain) = host.strip_prefix("*.") {
        ensure!(
            !domain.contains('*'),
            "wildcards are allowed only as prefixes"
        );
        return Ok(HostPattern::AnySubdomain(format!(".{domain}")));
    }
    ensure!(
        !host.contains('*'),
        "wildcards are allowed only as subdomains"
    );
    Ok(HostPattern::Exactly(Host::parse(host)?))
}

fn parse_port(port: &str, scheme: &str) -> Result<PortPattern> {
    if port.is_empty() {
        return well_known_port(scheme).map(PortPattern::Exactly).with_context(|| {
            format!("no port was provided and the scheme {scheme:?} does not have a known default port number")
        });
    }
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    ensure!(!port.starts_with('{'), "port lists are not yet supported");
    if let Some((start, end)) = port.split_once("..") {
        let start = start
            .parse()
            .with_context(|| format!("port range {port:?} contains non-number"))?;
        let end = end
            .parse()
            .with_context(|| format!("port range {port:?} contains non-number"))?;
        return Ok(PortPattern::Range(start, end));
    }
    Ok(PortPattern::Exactly(port.parse().with_context(|| {
        format!("port {port:?} is not a number")
    })?))
}

/// The parts of an outbound URL the allow-list looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundUrl {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// Characters `urlencoding::encode` leaves alone: alphanumerics and `-_.~`.
impl OutboundUrl {
    /// Parses `url`; when it has no host, `default_scheme://` is put in front and it is
    /// tried again. Credentials are re-encoded first so they cannot confuse the parser.
    pub fn parse(url: &str, default_scheme: &str) -> Result<Self> {
        let mut url = url.to_string();
        if let Some(at) = url.find('@') {
            let userinfo_start = url.find("://").map(|i| i + 3).unwrap_or(0);
            let path_start = url[userinfo_start..]
                .find('/')
                .map(|i| i + userinfo_start)
                .unwrap_or(usize::MAX);
            if at < path_start && at >= userinfo_start {
                let encoded = utf8_percent_encode(&url[userinfo_start..at], USERINFO);
                url = format!("{}{encoded}{}", &url[..userinfo_start], &url[at..]);
            }
        }
        let parsed = match url::Url::parse(&url) {
            Ok(u) if u.has_host() => u,
            first => match url::Url::parse(&format!("{default_scheme}://{url}")) {
                Ok(u) => u,
                Err(second) => return Err(first.err().map_or_else(|| second.into(), Into::into)),
            },
        };
        let host = parsed
            .host_str()
            .with_context(|| format!("{url:?} does not have a host component"))?
            .to_string();
        Ok(Self {
            scheme: parsed.scheme().to_string(),
            host,
            port: parsed.port(),
        })
    }
}

/// A component's resolved allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<AllowedHostConfig>);

impl AllowedHosts {
    pub fn new(entries: Vec<AllowedHostConfig>) -> Self {
        Self(entries)
    }

    /// Spin's `check_url`: an unparsable URL is simply not allowed.
    pub fn allows_url(&self, url: &str, default_scheme: &str) -> bool {
        match OutboundUrl::parse(url, default_scheme) {
            Ok(url) => self.0.iter().any(|entry| entry.allows(&url)),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::new(
            entries
                .iter()
                .map(|e| AllowedHostConfig::parse(e).unwrap())
                .collect(),
        )
    }

    fn parse_error(text: &str) -> String {
        AllowedHostConfig::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn exact_redis_entry() {
        let allowed = hosts(&["redis://127.0.0.1:6379", "rediss://127.0.0.1:6379"]);
        assert!(allowed.allows_url("redis://127.0.0.1:6379", "redis"));
        assert!(allowed.allows_url("rediss://127.0.0.1:6379", "redis"));
        assert!(allowed.allows_url("redis://user:p%40ss@127.0.0.1:6379", "redis"));
        // Like Spin, only the text before the first '@' is taken as credentials: raw '@' and
        // '/' in a password break the check, so the component must percent-encode them.
        assert!(!allowed.allows_url("redis://:p@ss:w/rd@127.0.0.1:6379", "redis"));
        assert!(allowed.allows_url("redis://:p%40ss%3Aw%2Frd@127.0.0.1:6379", "redis"));
        assert!(!allowed.allows_url("redis://127.0.0.1:6380", "redis"));
        assert!(!allowed.allows_url("redis://localhost:6379", "redis"));
        assert!(!allowed.allows_url("http://127.0.0.1:6379", "redis"));
        // No port in the URL: redis's well-known port applies, rediss has none.
        assert!(allowed.allows_url("redis://127.0.0.1", "redis"));
        assert!(!allowed.allows_url("rediss://127.0.0.1", "redis"));
        // A bare address gets the default scheme.
        assert!(allowed.allows_url("127.0.0.1:6379", "redis"));
        assert!(!allowed.allows_url("not a url", "redis"));
    }

    #[test]
    fn wildcards_ranges_and_cidrs() {
        let allowed = hosts(&["redis://*.example.com:*", "*://10.0.0.0/8:6000..7000"]);
        assert!(allowed.allows_url("redis://cache.example.com:1", "redis"));
        assert!(!allowed.allows_url("redis://example.com:1", "redis"));
        assert!(allowed.allows_url("redis://10.1.2.3:6379", "redis"));
        assert!(!allowed.allows_url("redis://10.1.2.3:7000", "redis"));
        assert!(!allowed.allows_url("redis://11.1.2.3:6379", "redis"));
        assert!(hosts(&["*://*:*"]).allows_url("rediss://anything:1", "redis"));
    }

    #[test]
    fn entry_errors_read_like_spin() {
        assert_eq!(
            parse_error("redis://127.0.0.1:abc"),
            "Invalid allowed host port \"abc\""
        );
        assert_eq!(
            parse_error("redis://:x@h:6379"),
            "Invalid allowed host \":x@h\""
        );
        assert_eq!(
            parse_error("rediss://127.0.0.1"),
            "Invalid allowed host port \"\""
        );
        assert_eq!(
            parse_error("re-dis://h:1"),
            "Invalid allowed host scheme \"re-dis\""
        );
        assert_eq!(
            parse_error("redis://h:1/x"),
            "\"redis://h:1/x\" has a path but is not allowed to"
        );
        assert!(parse_error("127.0.0.1:6379").contains("does not contain a scheme"));
        assert_eq!(
            parse_error("redis://a.*.com:1"),
            "Invalid allowed host \"a.*.com\""
        );
    }
}
