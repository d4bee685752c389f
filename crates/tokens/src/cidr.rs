//! IP allow-lists: single addresses or CIDR ranges, IPv4 and IPv6.
//!
//! Entries are normalised on creation: a range's host bits are cleared (`10.1.2.3/8` becomes
//! `10.0.0.0/8`), a full-length range becomes a plain address, IPv6 is written canonically.
//! Matching treats an IPv4 address and its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`, as seen on
//! dual-stack sockets) as the same client.

use ipnet::IpNet;
use std::net::IpAddr;

/// Longest accepted entry, in bytes.
const MAX_ENTRY_LEN: usize = 64;

fn parse(entry: &str) -> Option<IpNet> {
    if entry.is_empty() || entry.len() > MAX_ENTRY_LEN {
        return None;
    }
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Some(IpNet::from(addr));
    }
    entry.parse::<IpNet>().ok().map(|net| net.trunc())
}

/// Normalises an allow-list entry; `None` if it is neither an IP address nor a CIDR range.
pub(crate) fn normalize(entry: &str) -> Option<String> {
    let net = parse(entry)?;
    Some(if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    })
}

/// The other spelling of the same client address, if any (IPv4 ⇄ IPv4-mapped IPv6).
fn alternate(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
    }
}

/// Whether the allow-list `entries` (normalised) admits `ip`. An empty list admits any address.
pub(crate) fn allowed(entries: &[String], ip: IpAddr) -> bool {
    if entries.is_empty() {
        return true;
    }
    let candidates = [Some(ip), alternate(ip)];
    entries.iter().filter_map(|e| parse(e)).any(|net| {
        candidates
            .iter()
            .flatten()
            .any(|candidate| net.contains(candidate))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| normalize(e).unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn normalisation() {
        let cases = [
            ("192.0.2.7", "192.0.2.7"),
            ("192.0.2.7/32", "192.0.2.7"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:DB8::1", "2001:db8::1"),
            ("2001:db8:0:0::1/128", "2001:db8::1"),
            ("2001:db8::1/32", "2001:db8::/32"),
            ("::/0", "::/0"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input).as_deref(), Some(expected), "{input:?}");
        }
        let bad = [
            "",
            "192.0.2",
            "192.0.2.256",
            "192.0.2.0/33",
            "192.0.2.0/",
            "192.0.2.0/-1",
            "/24",
            " 192.0.2.1",
            "192.0.2.1 ",
            "2001:db8::/129",
            "2001:db8:::1",
            "example.com",
            "[::1]",
            "10.0.0.0/8/8",
        ];
        for input in bad {
            assert_eq!(normalize(input), None, "{input:?} should be invalid");
        }
    }

    #[test]
    fn ipv4_ranges() {
        let entries = list(&["192.0.2.7", "10.0.0.0/8", "198.51.100.0/24"]);
        for yes in ["192.0.2.7", "10.0.0.1", "10.255.255.255", "198.51.100.200"] {
            assert!(allowed(&entries, ip(yes)), "{yes} should be allowed");
        }
        for no in [
            "192.0.2.8",
            "11.0.0.1",
            "198.51.101.1",
            "2001:db8::1",
            "::1",
        ] {
            assert!(!allowed(&entries, ip(no)), "{no} should be refused");
        }
    }

    #[test]
    fn ipv6_ranges() {
        let entries = list(&["2001:db8:1::/48", "::1"]);
        for yes in ["2001:db8:1::5", "2001:db8:1:ffff::1", "::1"] {
            assert!(allowed(&entries, ip(yes)), "{yes} should be allowed");
        }
        for no in ["2001:db8:2::1", "2001:db9::1", "127.0.0.1", "192.0.2.1"] {
            assert!(!allowed(&entries, ip(no)), "{no} should be refused");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_match_both_ways() {
        let v4_list = list(&["192.0.2.0/24"]);
        assert!(allowed(&v4_list, ip("::ffff:192.0.2.9")));
        assert!(!allowed(&v4_list, ip("::ffff:192.0.3.9")));
        let mapped_list = list(&["::ffff:192.0.2.0/120"]);
        assert!(allowed(&mapped_list, ip("192.0.2.9")));
        assert!(!allowed(&mapped_list, ip("192.0.3.9")));
    }

    #[test]
    fn empty_list_admits_everyone_and_catch_all_ranges() {
        assert!(allowed(&[], ip("203.0.113.1")));
        assert!(allowed(&[], ip("2001:db8::1")));
        assert!(allowed(&list(&["0.0.0.0/0"]), ip("203.0.113.1")));
        assert!(allowed(&list(&["::/0"]), ip("2001:db8::1")));
    }
}
