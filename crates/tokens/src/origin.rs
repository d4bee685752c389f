//! Origin allow-lists: `scheme://host[:port]`, optionally `scheme://*.domain[:port]`.
//!
//! Entries and request origins are normalised the same way before comparison: lower case, one
//! trailing `/` dropped, default ports (80 for http/ws, 443 for https/wss) dropped, IPv6 hosts in
//! canonical bracketed form. Non-ASCII hosts must be given in punycode, as browsers send them.

use std::net::Ipv6Addr;

/// Longest accepted origin, in bytes.
const MAX_ORIGIN_LEN: usize = 300;

/// A parsed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    /// `*.` prefix: matches any subdomain of `host` (allow-list entries only).
    wildcard: bool,
    /// Lower-case DNS name or IPv4 literal, or `[v6]`.
    host: String,
    /// `None` when absent or the scheme's default.
    port: Option<u16>,
}

impl Origin {
    fn parse(input: &str, allow_wildcard: bool) -> Option<Origin> {
        if input.is_empty() || input.len() > MAX_ORIGIN_LEN || !input.is_ascii() {
            return None;
        }
        let lower = input.to_ascii_lowercase();
        let s = lower.strip_suffix('/').unwrap_or(&lower);
        let (scheme, authority) = s.split_once("://")?;
        if !valid_scheme(scheme) || authority.is_empty() {
            return None;
        }
        if authority
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\') || b.is_ascii_whitespace())
        {
            return None;
        }
        let (host, port, wildcard) = if let Some(rest) = authority.strip_prefix('[') {
            let (v6, after) = rest.split_once(']')?;
            let addr: Ipv6Addr = v6.parse().ok()?;
            let port = match after {
                "" => None,
                _ => Some(parse_port(after.strip_prefix(':')?)?),
            };
            (format!("[{addr}]"), port, false)
        } else {
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(parse_port(port)?)),
                None => (authority, None),
            };
            let (name, wildcard) = match host.strip_prefix("*.") {
                Some(name) if allow_wildcard => (name, true),
                _ => (host, false),
            };
            if !valid_dns_name(name) {
                return None;
            }
            (name.to_owned(), port, wildcard)
        };
        let default_port = match scheme {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        };
        let port = port.filter(|p| Some(*p) != default_port);
        Some(Origin {
            scheme: scheme.to_owned(),
            wildcard,
            host,
            port,
        })
    }

    fn covers(&self, request: &Origin) -> bool {
        if self.scheme != request.scheme || self.port != request.port || request.wildcard {
            return false;
        }
        if self.wildcard {
            request
                .host
                .strip_suffix(&self.host)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        } else {
            self.host == request.host
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

fn valid_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    scheme.len() <= 32
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'.' | b'-')
        })
}

fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().filter(|p| *p != 0)
}

/// Normalises an allow-list entry; `None` if it is not a valid origin.
pub(crate) fn normalize_allowed(entry: &str) -> Option<String> {
    Origin::parse(entry, true).map(|o| o.to_string())
}

/// Whether the allow-list `entries` (normalised) admits the request's `Origin` header value.
/// An empty list admits anything, including no origin; a non-empty list refuses a missing or
/// malformed origin (such as `null`).
pub(crate) fn allowed(entries: &[String], origin: Option<&str>) -> bool {
    if entries.is_empty() {
        return true;
    }
    let Some(request) = origin.and_then(|o| Origin::parse(o, false)) else {
        return false;
    };
    entries
        .iter()
        .filter_map(|e| Origin::parse(e, true))
        .any(|e| e.covers(&request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        let cases = [
            ("https://example.com", "https://example.com"),
            ("HTTPS://Example.COM/", "https://example.com"),
            ("https://example.com:443", "https://example.com"),
            ("http://example.com:80", "http://example.com"),
            ("http://example.com:443", "http://example.com:443"),
            ("http://localhost:5173", "http://localhost:5173"),
            ("https://*.example.com", "https://*.example.com"),
            ("http://192.0.2.1:8080", "http://192.0.2.1:8080"),
            ("http://[2001:DB8:0::1]:8080", "http://[2001:db8::1]:8080"),
            ("https://[::1]", "https://[::1]"),
            ("app://podium", "app://podium"),
            (
                "https://xn--bcher-kva.example",
                "https://xn--bcher-kva.example",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize_allowed(input).as_deref(),
                Some(expected),
                "{input:?}"
            );
        }
    }

    #[test]
    fn invalid_origins() {
        let long = format!("https://{}.com", "a".repeat(300));
        let bad = [
            "",
            "null",
            "example.com",
            "https://",
            "https:///",
            "https://example.com/path",
            "https://example.com//",
            "https://example.com?x=1",
            "https://example.com#x",
            "https://user@example.com",
            "https://exa mple.com",
            "https://example.com:",
            "https://example.com:0",
            "https://example.com:65536",
            "https://example.com:+80",
            "https://example.com:8o",
            "https://-example.com",
            "https://example-.com",
            "https://example..com",
            "https://exam_ple.com",
            "https://bücher.example",
            "https://*.",
            "https://*",
            "https://a.*.example.com",
            "https://[::1",
            "https://[zz::1]",
            "https://[::1]x",
            "1https://example.com",
            "ht tp://example.com",
            long.as_str(),
        ];
        for input in bad {
            assert_eq!(
                normalize_allowed(input),
                None,
                "{input:?} should be invalid"
            );
        }
    }

    #[test]
    fn allow_list() {
        let entries: Vec<String> = [
            "https://example.com",
            "https://*.apps.example.org",
            "http://localhost:5173",
            "http://[::1]:8080",
        ]
        .iter()
        .map(|e| normalize_allowed(e).unwrap())
        .collect();
        let yes = [
            "https://example.com",
            "https://EXAMPLE.com",
            "https://example.com:443",
            "https://a.apps.example.org",
            "https://b.a.apps.example.org",
            "http://localhost:5173",
            "http://[0:0::1]:8080",
        ];
        for o in yes {
            assert!(allowed(&entries, Some(o)), "{o:?} should be allowed");
        }
        let no = [
            "http://example.com",
            "https://example.com:8443",
            "https://www.example.com",
            "https://evilexample.com",
            "https://apps.example.org",
            "https://xapps.example.org",
            "https://a.apps.example.org.evil.com",
            "https://*.apps.example.org",
            "http://localhost:5174",
            "http://localhost",
            "null",
            "",
        ];
        for o in no {
            assert!(!allowed(&entries, Some(o)), "{o:?} should be refused");
        }
        assert!(
            !allowed(&entries, None),
            "missing origin refused by a non-empty list"
        );
        assert!(allowed(&[], None), "empty list admits no origin");
        assert!(allowed(&[], Some("null")), "empty list admits anything");
    }
}
