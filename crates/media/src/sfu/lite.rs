//! A viewer without its str0m `Rtc`. Once Podium's egress carries a viewer's media and its
//! DTLS handshake is known to be done on the viewer's side too, all str0m still did for it
//! was answer ICE consent checks (a STUN Binding request every few seconds) — while holding
//! ≈ 80 KiB of session state (stream tables, resend caches, ICE, DTLS and SDP). So the `Rtc`
//! goes, and Podium answers consent itself with the ICE password of the answer, using the
//! STUN code of `is`, the ICE crate str0m is built on: the request must carry our ufrag and
//! authenticate with our password (MESSAGE-INTEGRITY); the answer carries the address it
//! came from, MESSAGE-INTEGRITY and FINGERPRINT (RFC 8445 §7.3, RFC 7675).
//!
//! "Done on the viewer's side": its first authenticated SRTCP (it can only protect RTCP with
//! keys from a finished handshake), or [`KEEP_RTC`] after connecting if it sends none, long
//! enough for DTLS to retransmit a lost final flight.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use is::stun::StunMessage;

use super::Sfu;
use crate::demux::{self, Route};
use crate::PeerId;

/// How long a viewer's `Rtc` outlives its connection when the viewer sends no RTCP.
pub const KEEP_RTC: Duration = Duration::from_secs(5);

/// Largest STUN answer written (an answer to a Binding request is under 100 bytes).
const STUN_ANSWER_MAX: usize = 256;

impl Sfu {
    /// Drops the viewer's `Rtc` once its handshake is done on both sides (see above).
    pub(super) fn drop_rtc_if_done(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let (Some(egress), Some(_)) = (peer.egress.as_deref(), peer.rtc.as_ref()) else {
            return;
        };
        let aged = peer
            .connected_at
            .is_some_and(|t| now.saturating_duration_since(t) >= KEEP_RTC);
        if egress.heard_rtcp() || aged {
            peer.rtc = None;
            // No str0m timers any more; its deadline is its idle limit and its reports.
            peer.next_timeout = now + Duration::from_secs(3600);
            self.counters.viewers_without_rtc += 1;
        }
    }

    /// A datagram of a viewer whose `Rtc` is gone: consent checks are answered, RTCP went
    /// to the egress before this; late DTLS (a close alert) needs no answer.
    pub(super) fn on_lite_datagram(
        &mut self,
        now: Instant,
        id: PeerId,
        route: Route,
        source: SocketAddr,
        data: &[u8],
    ) {
        if !demux::is_stun(data) {
            if !(20..=63).contains(&data[0]) {
                self.counters.datagrams_rejected += 1;
            }
            return;
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Ok(msg) = StunMessage::parse(data) else {
            self.counters.datagrams_rejected += 1;
            return;
        };
        let ours = msg
            .split_username()
            .is_some_and(|(local, _)| local == peer.ufrag);
        let pass = peer.ice_pass.as_bytes();
        if !msg.is_binding_request() || !ours || !msg.verify(pass, sha1_hmac) {
            self.counters.datagrams_rejected += 1;
            return;
        }
        let mut buf = self.pool.take();
        buf.resize(STUN_ANSWER_MAX, 0);
        let reply = StunMessage::binding_reply(msg.trans_id(), source);
        let Ok(n) = reply.to_bytes(Some(pass), &mut buf, sha1_hmac) else {
            self.pool.put(buf);
            return;
        };
        buf.truncate(n);
        // Authenticated with the peer's password: the address is the peer's.
        peer.last_received = now;
        if msg.use_candidate() {
            peer.set_send_to(source);
        }
        if route != Route::Known(id) {
            self.demux.learn(source, id);
        }
        let local = self.config.candidate_addr;
        self.transmits
            .push_back(super::egress::transmit(local, source, buf));
    }
}

/// HMAC-SHA1 over `parts` (STUN's MESSAGE-INTEGRITY), with aws-lc-rs.
fn sha1_hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}
