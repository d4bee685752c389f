//! Finds the peer a datagram belongs to with two hash lookups, never a scan of all peers.
//!
//! Known remote addresses map straight to their peer. A datagram from an unknown address can
//! only be a STUN binding request (ICE-lite: the browser always starts); its USERNAME is
//! `<our ufrag>:<their ufrag>`, and our ufrag is unique per peer.
//!
//! The ufrag is not a secret (anyone who sees one request knows it), so a request that only
//! names it is routed to its peer but does not teach us its address: the caller
//! [`Demux::learn`]s the address once the peer's ICE agent has accepted the request (its
//! MESSAGE-INTEGRITY checked with the peer's password), and a peer keeps at most
//! [`MAX_ADDRS_PER_PEER`] addresses, the oldest forgotten first.

use std::collections::HashMap;
use std::net::SocketAddr;

use str0m::ice::StunMessage;

use crate::PeerId;

/// Most remote addresses remembered per peer (a browser uses one or two; NAT rebinding
/// and network changes add a few over a session).
pub const MAX_ADDRS_PER_PEER: usize = 8;

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// From an address the peer is known to use.
    Known(PeerId),
    /// A STUN request from a new address naming the peer's ufrag: deliver it, and
    /// [`Demux::learn`] the address only if the peer accepts it.
    Unverified(PeerId),
}

impl Route {
    /// The peer, either way.
    pub fn peer(self) -> PeerId {
        match self {
            Self::Known(p) | Self::Unverified(p) => p,
        }
    }
}

/// Address and ufrag tables.
#[derive(Debug, Default)]
pub struct Demux {
    by_addr: HashMap<SocketAddr, PeerId>,
    by_ufrag: HashMap<String, PeerId>,
    /// The addresses each peer has used, so forgetting a peer never scans all addresses.
    addrs: HashMap<PeerId, Vec<SocketAddr>>,
}

impl Demux {
    /// Registers a peer's local ICE ufrag.
    pub fn add_peer(&mut self, ufrag: String, peer: PeerId) {
        self.by_ufrag.insert(ufrag, peer);
    }

    /// Forgets a peer and every address it used.
    pub fn remove_peer(&mut self, ufrag: &str, peer: PeerId) {
        self.by_ufrag.remove(ufrag);
        for addr in self.addrs.remove(&peer).unwrap_or_default() {
            if self.by_addr.get(&addr) == Some(&peer) {
                self.by_addr.remove(&addr);
            }
        }
    }

    /// The peer for a datagram, if any.
    pub fn lookup(&self, source: SocketAddr, data: &[u8]) -> Option<Route> {
        let known = self.by_addr.get(&source).copied();
        if !is_stun(data) {
            return known.map(Route::Known);
        }
        // STUN may come from a new address of a known peer (NAT rebinding, ICE restart), or
        // from an address another peer used before (a NAT reusing a port).
        match (known, self.peer_for_stun(data)) {
            (Some(old), Some(named)) if named != old => Some(Route::Unverified(named)),
            (Some(old), _) => Some(Route::Known(old)),
            (None, named) => named.map(Route::Unverified),
        }
    }

    /// Records that `peer` uses `source` (its ICE agent accepted a request from there); an
    /// address it already had becomes its most recent, so the one in use is never the one
    /// forgotten.
    pub fn learn(&mut self, source: SocketAddr, peer: PeerId) {
        match self.by_addr.insert(source, peer) {
            Some(old) if old == peer => {
                if let Some(list) = self.addrs.get_mut(&peer) {
                    if let Some(i) = list.iter().position(|a| *a == source) {
                        let a = list.remove(i);
                        list.push(a);
                    }
                }
                return;
            }
            Some(old) => {
                // Taken over from another peer (the address was reassigned by a NAT).
                if let Some(list) = self.addrs.get_mut(&old) {
                    list.retain(|a| *a != source);
                }
            }
            None => {}
        }
        let list = self.addrs.entry(peer).or_default();
        list.push(source);
        if list.len() > MAX_ADDRS_PER_PEER {
            let oldest = list.remove(0);
            if self.by_addr.get(&oldest) == Some(&peer) {
                self.by_addr.remove(&oldest);
            }
        }
    }

    /// Addresses known for `peer`.
    pub fn addrs_of(&self, peer: PeerId) -> &[SocketAddr] {
        self.addrs.get(&peer).map_or(&[], Vec::as_slice)
    }

    /// Addresses known for all peers.
    pub fn addr_count(&self) -> usize {
        self.by_addr.len()
    }

    fn peer_for_stun(&self, data: &[u8]) -> Option<PeerId> {
        let msg = StunMessage::parse(data).ok()?;
        let (local, _remote) = msg.split_username()?;
        self.by_ufrag.get(local).copied()
    }
}

/// RFC 7983 demultiplexing: STUN messages start with a byte in 0..=3.
pub(crate) fn is_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] < 4
}

/// Whether a STUN message is a Binding request carrying USE-CANDIDATE (RFC 8445 §7.1.2):
/// the controlling agent nominating the pair it came on. An ICE-lite agent sends media on
/// the pair nominated last.
pub(crate) fn stun_nominates(data: &[u8]) -> bool {
    if !is_stun(data) || data[0..2] != [0x00, 0x01] {
        return false;
    }
    let mut attrs = &data[20..];
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        if kind == 0x0025 {
            return true;
        }
        let len = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let skip = 4 + len.div_ceil(4) * 4;
        if skip > attrs.len() {
            return false;
        }
        attrs = &attrs[skip..];
    }
    false
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    #[test]
    fn unknown_non_stun_traffic_is_not_routed() {
        let mut d = Demux::default();
        d.add_peer("abcd".into(), PeerId(1));
        d.learn("127.0.0.1:6000".parse().unwrap(), PeerId(1));
        let addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(d.lookup(addr, &[0x80; 40]), None);
        assert_eq!(d.lookup(addr, &[0u8; 3]), None);
        assert_eq!(
            d.lookup(addr, &[0u8; 64]),
            None,
            "garbage that looks like STUN"
        );
    }

    #[test]
    fn a_peer_keeps_a_bounded_set_of_addresses() {
        let mut d = Demux::default();
        d.add_peer("abcd".into(), PeerId(1));
        let addr = |i: u16| SocketAddr::from(([10, 0, 0, 1], 1000 + i));
        for i in 0..20 {
            d.learn(addr(i), PeerId(1));
        }
        assert_eq!(d.addrs_of(PeerId(1)).len(), MAX_ADDRS_PER_PEER);
        assert_eq!(d.addr_count(), MAX_ADDRS_PER_PEER);
        assert_eq!(
            d.lookup(addr(0), &[0x80; 40]),
            None,
            "the oldest is forgotten"
        );
        assert_eq!(
            d.lookup(addr(19), &[0x80; 40]),
            Some(Route::Known(PeerId(1)))
        );
        // Another peer taking over an address removes it from the first one's list.
        d.add_peer("efgh".into(), PeerId(2));
        d.learn(addr(19), PeerId(2));
        assert_eq!(d.addrs_of(PeerId(1)).len(), MAX_ADDRS_PER_PEER - 1);
        assert_eq!(
            d.lookup(addr(19), &[0x80; 40]),
            Some(Route::Known(PeerId(2)))
        );
        d.remove_peer("abcd", PeerId(1));
        assert_eq!(d.addr_count(), 1);
    }
}
