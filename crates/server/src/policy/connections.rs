//! Admission of TCP connections on the HTTP port: at most so many per client and so many in
//! all, so one client holding silent connections cannot use up the process's file
//! descriptors and lock everyone else out.
//!
//! A client is an IPv4 address or an IPv6 /64 (one subscriber's prefix: a host can pick any
//! of its 2^64 addresses). Trusted reverse proxies are exempt from the per-client cap: every
//! client behind them shares their address, so the proxy must enforce its own limits.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

/// The caps.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Most open connections from one client (`None` = no cap).
    pub per_client: Option<usize>,
    /// Most open connections in all.
    pub total: usize,
    /// Addresses exempt from `per_client` (trusted reverse proxies).
    pub exempt: Vec<IpNet>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client already holds its share.
    PerClient,
    /// The server holds all it may.
    Total,
}

/// Open connections, counted per client.
#[derive(Debug, Clone)]
pub struct Admission {
    limits: Arc<ConnectionLimits>,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    refused_per_client: u64,
    refused_total: u64,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    client: Option<IpAddr>,
    counts: Arc<Mutex<Counts>>,
}

impl Admission {
    /// Counting from zero under `limits`.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits: Arc::new(limits),
            counts: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        lock(&self.counts)
    }

    /// Admits a connection from `ip`, or says which cap it hits.
    pub fn admit(&self, ip: IpAddr) -> Result<Permit, Refused> {
        let ip = ip.to_canonical();
        let client = (!self.limits.exempt.iter().any(|n| n.contains(&ip))).then(|| client_key(ip));
        let mut counts = self.lock();
        if counts.total >= self.limits.total {
            counts.refused_total += 1;
            return Err(Refused::Total);
        }
        if let (Some(key), Some(cap)) = (client, self.limits.per_client) {
            if counts.per_client.get(&key).copied().unwrap_or(0) >= cap {
                counts.refused_per_client += 1;
                return Err(Refused::PerClient);
            }
        }
        counts.total += 1;
        if let Some(key) = client {
            *counts.per_client.entry(key).or_default() += 1;
        }
        Ok(Permit {
            client,
            counts: self.counts.clone(),
        })
    }

    /// Open connections in all.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Connections refused so far: (over a client's cap, over the total cap).
    pub fn refused(&self) -> (u64, u64) {
        let c = self.lock();
        (c.refused_per_client, c.refused_total)
    }

    /// Clients with an open connection (what the per-client table costs).
    pub fn clients(&self) -> usize {
        self.lock().per_client.len()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        counts.total -= 1;
        if let Some(key) = self.client {
            if let Some(n) = counts.per_client.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    // Forgotten at once, so the table only holds clients that are connected.
                    counts.per_client.remove(&key);
                }
            }
        }
    }
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The client an address belongs to: itself for IPv4 (and IPv4-mapped IPv6), its /64 for
/// IPv6.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(per_client: usize, total: usize, exempt: &[&str]) -> Admission {
        Admission::new(ConnectionLimits {
            per_client: Some(per_client),
            total,
            exempt: exempt.iter().map(|n| n.parse().unwrap()).collect(),
        })
    }

    #[test]
    fn a_client_gets_its_share_and_no_more() {
        let a = admission(2, 10, &[]);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let first = a.admit(ip).unwrap();
        let _second = a.admit(ip).unwrap();
        assert_eq!(a.admit(ip).unwrap_err(), Refused::PerClient);
        assert!(
            a.admit("10.0.0.2".parse().unwrap()).is_ok(),
            "others still get in"
        );
        drop(first);
        assert!(a.admit(ip).is_ok(), "a closed connection frees its place");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_slash_64() {
        let a = admission(1, 10, &[]);
        let _p = a.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(
            a.admit("2001:db8:1:2:ffff::9".parse().unwrap())
                .unwrap_err(),
            Refused::PerClient
        );
        assert!(a.admit("2001:db8:1:3::1".parse().unwrap()).is_ok());
        let _m = a.admit("::ffff:10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            a.admit("10.0.0.1".parse().unwrap()).unwrap_err(),
            Refused::PerClient,
            "IPv4-mapped is the IPv4 client"
        );
    }

    #[test]
    fn the_total_caps_everyone_and_proxies_are_exempt_per_client() {
        let a = admission(1, 3, &["192.168.0.0/24"]);
        let proxy: IpAddr = "192.168.0.7".parse().unwrap();
        let permits: Vec<_> = (0..3).map(|_| a.admit(proxy).unwrap()).collect();
        assert_eq!(a.admit(proxy).unwrap_err(), Refused::Total);
        assert_eq!(
            a.admit("10.0.0.1".parse().unwrap()).unwrap_err(),
            Refused::Total
        );
        assert_eq!((a.open(), a.clients()), (3, 0));
        drop(permits);
        assert_eq!((a.open(), a.clients()), (0, 0));
    }
}
