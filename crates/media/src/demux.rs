//! Finds the peer a datagram belongs to with two hash lookups, never a scan of all peers.
//!
//! Known remote addresses map straight to their peer. A datagram from an unknown address can
//! only be a STUN binding request (ICE-lite: the browser always starts); its USERNAME is
//! `<our ufrag>:<their ufrag>`, and our ufrag is unique per peer.

use std::collections::HashMap;
use std::net::SocketAddr;

use str0m::ice::StunMessage;

use crate::PeerId;

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

    /// The peer for a datagram, learning the source address from STUN when it is new.
    pub fn lookup(&mut self, source: SocketAddr, data: &[u8]) -> Option<PeerId> {
        if is_stun(data) {
            // STUN may come from a new address of a known peer (NAT rebinding, ICE restart).
            let peer = self.peer_for_stun(data)?;
            match self.by_addr.insert(source, peer) {
                Some(old) if old == peer => {}
                previous => {
                    // A new address of this peer, possibly taken over from another one.
                    if let Some(list) = previous.and_then(|old| self.addrs.get_mut(&old)) {
                        list.retain(|a| *a != source);
                    }
                    self.addrs.entry(peer).or_default().push(source);
                }
            }
            return Some(peer);
        }
        self.by_addr.get(&source).copied()
    }

    fn peer_for_stun(&self, data: &[u8]) -> Option<PeerId> {
        let msg = StunMessage::parse(data).ok()?;
        let (local, _remote) = msg.split_username()?;
        self.by_ufrag.get(local).copied()
    }
}

/// RFC 7983 demultiplexing: STUN messages start with a byte in 0..=3.
fn is_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] < 4
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    #[test]
    fn unknown_non_stun_traffic_is_not_routed() {
        let mut d = Demux::default();
        d.add_peer("abcd".into(), PeerId(1));
        let addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(d.lookup(addr, &[0x80; 40]), None);
        assert_eq!(d.lookup(addr, &[0u8; 3]), None);
        assert_eq!(
            d.lookup(addr, &[0u8; 64]),
            None,
            "garbage that looks like STUN"
        );
    }
}
