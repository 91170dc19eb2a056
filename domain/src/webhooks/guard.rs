//! Where webhooks may go: `https` URLs whose host resolves only to public addresses — never
//! loopback, private, link-local, site-local, shared (CGNAT), multicast, unspecified, or
//! IPv6 forms that carry an IPv4 address (mapped, compatible, 6to4, NAT64). Checked when
//! an endpoint is saved and again when every request connects: the sending client resolves
//! through [`GuardedResolver`], which drops forbidden addresses, so a name that later
//! resolves somewhere private (DNS rebinding) reaches nothing. `WEBHOOK_ALLOW_PRIVATE=true`
//! (tests, local development) lifts both rules and also allows `http`.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

use crate::error::{Error, Result};

pub const URL_MAX: usize = 2048;

/// Whether a request must never be sent to this address.
pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 of any v4 address
                || s[..6].iter().all(|&x| x == 0) // IPv4-compatible ::/96
                || s[0] == 0x2002 // 6to4 2002::/16 (carries any v4 address)
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

fn refuse(code: &'static str, message: &str) -> Error {
    Error::field("url", code, message)
}

/// Parses an endpoint URL and checks its shape: `https` (or `http` when private targets are
/// allowed), a host, no credentials, and — when the host is an address — a public one.
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(refuse("required", "must not be empty"));
    }
    if raw.len() > URL_MAX {
        return Err(refuse(
            "too_long",
            &format!("must be at most {URL_MAX} characters"),
        ));
    }
    let url = Url::parse(raw).map_err(|_| refuse("invalid_url", "must be an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(refuse("https_required", "must be an https:// URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "invalid_url",
            "must not carry a user name or password",
        ));
    }
    let forbidden = "must not point to a loopback, private or link-local address";
    match url.host() {
        None => return Err(refuse("invalid_url", "must name a host")),
        Some(url::Host::Ipv4(ip)) if !allow_private && forbidden_ip(ip.into()) => {
            return Err(refuse("private_address", forbidden));
        }
        Some(url::Host::Ipv6(ip)) if !allow_private && forbidden_ip(ip.into()) => {
            return Err(refuse("private_address", forbidden));
        }
        Some(url::Host::Domain(d))
            if !allow_private
                && (d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost")) =>
        {
            return Err(refuse("private_address", forbidden));
        }
        Some(_) => {}
    }
    Ok(url)
}

/// Resolves the URL's host now and refuses it when any address it names is forbidden (the
/// check at creation; the resolver re-checks at every send).
pub async fn check_resolves(url: &Url, allow_private: bool) -> Result<()> {
    if allow_private {
        return Ok(());
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| refuse("unresolvable_host", "the host name does not resolve"))?
        .collect();
    if addrs.is_empty() {
        return Err(refuse(
            "unresolvable_host",
            "the host name does not resolve",
        ));
    }
    if addrs.iter().any(|a| forbidden_ip(a.ip())) {
        return Err(refuse(
            "private_address",
            "must not resolve to a loopback, private or link-local address",
        ));
    }
    Ok(())
}

/// The sending client's resolver: keeps only the addresses a webhook may reach.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow || !forbidden_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err("the host resolves to no public address".into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(!forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_https_to_a_public_host() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert_eq!(
            check_url("http://example.com/hook", false)
                .unwrap_err()
                .fields["url"]
                .code,
            "https_required"
        );
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        for u in [
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://localhost/x",
        ] {
            assert_eq!(
                check_url(u, false).unwrap_err().fields["url"].code,
                "private_address",
                "{u}"
            );
        }
    }
}
