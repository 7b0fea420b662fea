//! Where signed requests may go. A request signed with the management AccessKey can be replayed
//! against the real service inside its timestamp window, so sending one to an address nobody
//! vetted hands out the key's power (AssumeRole included). Three rules:
//!
//! - Base URLs other than the public Alibaba Cloud endpoints must be in the operator's own
//!   allow-list ([`AllowedEndpoints`], `--allowed-endpoints`, chart value `allowedEndpoints`);
//!   an `AccountDeletion` cannot widen it.
//! - Link-local and cloud metadata addresses are never contacted, allow-list or not: as IP
//!   literals they are refused before any connection ([`forbidden_ip`]), and a host name that
//!   resolves to them is refused by the resolver ([`GuardedResolver`]).
//! - Redirects are never followed (the transport builds its client with `Policy::none()`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address is never contacted, or `None` when it may be.
#[must_use]
pub fn forbidden_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None if v6.is_unspecified() => Some("the unspecified address"),
            // fe80::/10
            None if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some("a link-local address"),
            // fd00:ec2::254, the IPv6 metadata address of several clouds.
            None if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => {
                Some("a cloud metadata address")
            }
            None => None,
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_link_local() {
        // 169.254.0.0/16, 169.254.169.254 among them.
        Some("a link-local (metadata) address")
    } else if ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("the Alibaba Cloud ECS metadata address")
    } else if ip.is_unspecified() || ip.octets()[0] == 0 {
        Some("the unspecified address")
    } else if ip.is_broadcast() {
        Some("the broadcast address")
    } else {
        None
    }
}

/// The host part of a URL (brackets of IPv6 literals removed).
fn host_of(url: &reqwest::Url) -> Option<String> {
    url.host_str().map(|h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    })
}

/// `scheme://host[:port]` in canonical form (lower case, default port dropped, no trailing
/// slash), the form allow-list entries are compared in.
///
/// # Errors
/// A plain-words reason: not a URL, not http(s), no host, or a path or query.
pub fn normalize_base_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "{url:?} must start with https:// (or http:// for an emulator)"
        ));
    }
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err(format!("{url:?} has no host"));
    };
    if !(parsed.path().is_empty() || parsed.path() == "/") || parsed.query().is_some() {
        return Err(format!(
            "{url:?} must be scheme://host[:port] without a path or query"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url:?} must not carry user info"));
    }
    let host = host.to_ascii_lowercase();
    Ok(match parsed.port() {
        Some(p) => format!("{}://{host}:{p}", parsed.scheme()),
        None => format!("{}://{host}", parsed.scheme()),
    })
}

/// Refuses a base URL whose host is an IP literal that is never contacted.
///
/// # Errors
/// The reason, naming the host.
pub fn check_host(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    let host = host_of(&parsed).unwrap_or_default();
    if let Ok(ip) = host.parse::<IpAddr>()
        && let Some(why) = forbidden_ip(ip)
    {
        return Err(format!("{host} is {why}; signed requests are never sent there"));
    }
    if host == "metadata" || host.starts_with("metadata.") {
        return Err(format!(
            "{host} is a cloud metadata host; signed requests are never sent there"
        ));
    }
    Ok(())
}

/// The operator's allow-list of base URLs that `spec.endpoint` / `spec.endpoints.*` may name.
/// Empty by default: only the public endpoints are used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedEndpoints {
    entries: Vec<String>,
}

impl AllowedEndpoints {
    /// Parses the configured entries.
    ///
    /// # Errors
    /// The first malformed entry, as `--allowed-endpoints <entry>: <reason>`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedEndpoints, String> {
        let mut out = Vec::new();
        for e in entries.iter().map(AsRef::as_ref).filter(|e| !e.trim().is_empty()) {
            let n = normalize_base_url(e).map_err(|r| format!("--allowed-endpoints {r}"))?;
            check_host(&n).map_err(|r| format!("--allowed-endpoints {e:?}: {r}"))?;
            out.push(n);
        }
        out.sort();
        out.dedup();
        Ok(AllowedEndpoints { entries: out })
    }

    /// The normalised entries.
    #[must_use]
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Checks one override from a spec field: well-formed, not a forbidden host, and allowed.
    ///
    /// # Errors
    /// A message naming `field`, the host and the fix.
    pub fn check(&self, field: &str, url: &str) -> Result<String, EndpointRefusal> {
        let n = normalize_base_url(url).map_err(|r| EndpointRefusal::Malformed(format!("{field} {r}")))?;
        check_host(&n)
            .map_err(|r| EndpointRefusal::NotAllowed(format!("{field} {url:?} is refused: {r}")))?;
        if !self.entries.contains(&n) {
            let allowed = if self.entries.is_empty() {
                "the list is empty".to_string()
            } else {
                format!("it allows {}", self.entries.join(", "))
            };
            return Err(EndpointRefusal::NotAllowed(format!(
                "{field} {url:?} is not an endpoint this operator may use ({allowed}; operator flag \
                 --allowed-endpoints, chart value allowedEndpoints). Nothing was sent to it. Remove {field} to use \
                 the public Alibaba Cloud endpoints, or ask the operator's administrators to allow {n}"
            )));
        }
        Ok(n)
    }
}

/// Why a spec endpoint is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointRefusal {
    /// Not a base URL at all.
    Malformed(String),
    /// Well-formed but not allowed (or never allowed).
    NotAllowed(String),
}

impl EndpointRefusal {
    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            EndpointRefusal::Malformed(m) | EndpointRefusal::NotAllowed(m) => m,
        }
    }
}

/// A DNS resolver that drops link-local and metadata addresses from every answer, and fails when
/// nothing else is left: a host name cannot smuggle a request to a metadata service.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| forbidden_ip(a.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                let why = found
                    .first()
                    .and_then(|a| forbidden_ip(a.ip()))
                    .unwrap_or("unresolvable");
                return Err(format!("{host} resolves to {why}; signed requests are never sent there").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_are_never_allowed() {
        for ip in [
            "169.254.169.254",
            "169.254.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "::",
        ] {
            assert!(forbidden_ip(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in ["127.0.0.1", "127.0.0.2", "::1", "47.88.1.1"] {
            assert!(forbidden_ip(ip.parse().unwrap()).is_none(), "{ip}");
        }
        // Even an allow-list cannot name them.
        assert!(AllowedEndpoints::parse(&["http://169.254.169.254"]).is_err());
        assert!(AllowedEndpoints::parse(&["http://[fe80::1]:80"]).is_err());
        assert!(AllowedEndpoints::parse(&["http://metadata.google.internal"]).is_err());
    }

    #[test]
    fn overrides_must_be_in_the_list() {
        let a = AllowedEndpoints::parse(&["http://127.0.0.1:18080/", "HTTPS://Ram.Example.com:443"]).unwrap();
        assert_eq!(a.entries(), ["http://127.0.0.1:18080", "https://ram.example.com"]);
        assert_eq!(
            a.check("spec.endpoint", "http://127.0.0.1:18080").unwrap(),
            "http://127.0.0.1:18080"
        );
        assert!(a.check("spec.endpoints.ram", "https://ram.example.com/").is_ok());
        let e = a.check("spec.endpoint", "http://127.0.0.2:18080").unwrap_err();
        let EndpointRefusal::NotAllowed(m) = &e else {
            panic!("{e:?}")
        };
        assert!(
            m.starts_with("spec.endpoint \"http://127.0.0.2:18080\" is not an endpoint"),
            "{m}"
        );
        assert!(
            m.contains("--allowed-endpoints") && m.contains("allowedEndpoints"),
            "{m}"
        );
        let e = a.check("spec.endpoint", "http://169.254.169.254").unwrap_err();
        assert!(e.message().contains("spec.endpoint") && e.message().contains("169.254.169.254"));
        assert!(matches!(
            a.check("spec.endpoint", "ram.aliyuncs.com"),
            Err(EndpointRefusal::Malformed(_))
        ));
        let none = AllowedEndpoints::default();
        assert!(
            none.check("spec.endpoint", "http://127.0.0.1:18080")
                .unwrap_err()
                .message()
                .contains("the list is empty")
        );
    }

    #[test]
    fn base_urls_are_normalised() {
        assert_eq!(
            normalize_base_url("http://127.0.0.1:80/").unwrap(),
            "http://127.0.0.1"
        );
        assert_eq!(
            normalize_base_url("https://STS.aliyuncs.com").unwrap(),
            "https://sts.aliyuncs.com"
        );
        assert!(normalize_base_url("https://x.example.com/path").is_err());
        assert!(normalize_base_url("https://u:p@x.example.com").is_err());
        assert!(normalize_base_url("ftp://x.example.com").is_err());
    }
}
