//! Who the client is and where it reaches us, believing forwarding headers
//! (`X-Forwarded-For`, `-Proto`, `-Host`) only from configured reverse proxies, and
//! building the URLs handed to clients from the configured public URL when there is one.
//!
//! Without this, any client could claim any address (escaping per-address limits and IP
//! allow-lists) and have the Director hand out URLs naming any host.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, Uri};
use ipnet::IpNet;

/// The configuration of trust.
#[derive(Debug, Clone, Default)]
pub struct Forwarding {
    trusted: Vec<IpNet>,
    /// `ws://host[:port]/prefix` or `wss://…`, without a trailing slash.
    public_ws: Option<String>,
}

/// A public URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--public-url must be an absolute http:// or https:// URL without query: {0:?}")]
pub struct BadPublicUrl(pub String);

impl Forwarding {
    /// Trusts `trusted` proxies; URLs are built from `public_url` when given.
    pub fn new(trusted: Vec<IpNet>, public_url: Option<&str>) -> Result<Self, BadPublicUrl> {
        let public_ws = public_url.map(public_ws_base).transpose()?;
        Ok(Self { trusted, public_ws })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`.
        let ip = ip.to_canonical();
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the TCP peer, or for a trusted proxy the last address in
    /// `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer_ip = peer.ip().to_canonical();
        if !self.trusts(peer_ip) {
            return peer_ip;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(parse_hop)
            .collect();
        // Every hop trusted: the nearest is the one no client could have written.
        hops.iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(hops.last())
            .copied()
            .unwrap_or(peer_ip)
    }

    /// The WebSocket base URL (`ws[s]://host[/prefix]`) a client reaches this server at.
    pub fn ws_base(&self, peer: SocketAddr, headers: &HeaderMap, fallback: SocketAddr) -> String {
        if let Some(base) = &self.public_ws {
            return base.clone();
        }
        let trusted = self.trusts(peer.ip());
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.split(',').next().unwrap_or("").trim().to_owned())
                .filter(|h| is_host(h))
        };
        let host = trusted
            .then(|| header("x-forwarded-host"))
            .flatten()
            .or_else(|| header("host"))
            .unwrap_or_else(|| fallback.to_string());
        let secure = trusted
            && headers
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        let scheme = if secure { "wss" } else { "ws" };
        format!("{scheme}://{host}")
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[v6]:port`, `v4:port`).
fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// `host`, `host:port`, `[v6]:port`: what may go into a URL's authority unescaped.
fn is_host(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
}

fn public_ws_base(text: &str) -> Result<String, BadPublicUrl> {
    let bad = || BadPublicUrl(text.to_owned());
    let uri: Uri = text.parse().map_err(|_| bad())?;
    let scheme = match uri.scheme_str() {
        Some("https") => "wss",
        Some("http") => "ws",
        _ => return Err(bad()),
    };
    let authority = uri.authority().ok_or_else(bad)?;
    if uri.query().is_some() || authority.as_str().contains('@') {
        return Err(bad());
    }
    let prefix = uri.path().trim_end_matches('/');
    Ok(format!("{scheme}://{authority}{prefix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    const PEER: &str = "203.0.113.9:5000";
    const PROXY: &str = "10.0.0.2:5000";

    fn trusting() -> Forwarding {
        Forwarding::new(vec!["10.0.0.0/8".parse().unwrap()], None).unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let f = trusting();
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("host", "podium.example:8080"),
        ]);
        let peer = PEER.parse().unwrap();
        assert_eq!(
            f.client_ip(peer, &h),
            peer.ip(),
            "a client cannot claim an address"
        );
        assert_eq!(
            f.ws_base(peer, &h, PEER.parse().unwrap()),
            "ws://podium.example:8080"
        );
        let proxy = PROXY.parse().unwrap();
        assert_eq!(f.client_ip(proxy, &h).to_string(), "1.2.3.4");
        assert_eq!(f.ws_base(proxy, &h, proxy), "wss://evil.example");
    }

    #[test]
    fn the_client_is_the_last_untrusted_hop() {
        let f = trusting();
        // The leftmost entries are whatever the client sent; the proxies append.
        let h = headers(&[
            ("x-forwarded-for", "9.9.9.9, 1.2.3.4"),
            ("x-forwarded-for", "10.0.0.7"),
        ]);
        let proxy = PROXY.parse().unwrap();
        assert_eq!(f.client_ip(proxy, &h).to_string(), "1.2.3.4");
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443, garbage")]);
        assert_eq!(f.client_ip(proxy, &h).to_string(), "2001:db8::1");
        assert_eq!(f.client_ip(proxy, &HeaderMap::new()), proxy.ip());
        // A dual-stack listener: the proxy appears IPv4-mapped, and is still trusted.
        let mapped: SocketAddr = "[::ffff:10.0.0.2]:5000".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(f.client_ip(mapped, &h).to_string(), "1.2.3.4");
        let h = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.7")]);
        assert_eq!(
            f.client_ip(proxy, &h).to_string(),
            "10.0.0.7",
            "the nearest hop"
        );
    }

    #[test]
    fn a_public_url_decides_the_urls_and_bad_hosts_are_ignored() {
        let f = Forwarding::new(vec![], Some("https://live.example.com/podium/")).unwrap();
        let peer = PEER.parse().unwrap();
        let h = headers(&[("host", "other.example")]);
        assert_eq!(f.ws_base(peer, &h, peer), "wss://live.example.com/podium");
        for bad in [
            "ftp://x",
            "live.example.com",
            "https://x/?a=b",
            "https://u@x/",
        ] {
            assert!(Forwarding::new(vec![], Some(bad)).is_err(), "{bad}");
        }
        let f = Forwarding::default();
        let h = headers(&[("host", "a b/c")]);
        assert_eq!(f.ws_base(peer, &h, peer), format!("ws://{PEER}"));
    }
}
