//! Recent packets of one incoming video track, shared by all its viewers: a viewer's NACK
//! is answered from here (rewritten and protected for that viewer), so no viewer keeps a
//! resend buffer of its own.

use std::sync::Arc;

use str0m::media::Pt;

/// How many packets are kept: at 2.5 Mbit/s (about 250 packets/s) a second of video, which
/// covers a retransmission's round trip on any path a viewer can still watch over.
pub const HISTORY_LEN: usize = 512;

/// What a resend needs of an original packet.
#[derive(Debug, Clone)]
pub struct Kept {
    /// Extended sequence number at the input.
    pub seq: u64,
    /// The incoming SSRC (or a local track's key) it came with.
    pub ssrc: u32,
    pub pt: Pt,
    pub ts: u64,
    pub marker: bool,
    pub video_orientation: Option<u8>,
    pub payload: Arc<[u8]>,
}

/// A ring of recent packets indexed by sequence number.
#[derive(Debug, Default)]
pub struct PacketHistory {
    slots: Vec<Option<Kept>>,
}

impl PacketHistory {
    /// Remembers a packet (replacing whatever was kept `HISTORY_LEN` numbers before it).
    pub fn push(&mut self, kept: Kept) {
        if self.slots.is_empty() {
            self.slots.resize(HISTORY_LEN, None);
        }
        let i = kept.seq as usize % HISTORY_LEN;
        self.slots[i] = Some(kept);
    }

    /// The packet with extended sequence number `seq` of `ssrc`, if still kept.
    pub fn get(&self, ssrc: u32, seq: u64) -> Option<&Kept> {
        let kept = self.slots.get(seq as usize % HISTORY_LEN)?.as_ref()?;
        (kept.seq == seq && kept.ssrc == ssrc).then_some(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(seq: u64) -> Kept {
        Kept {
            seq,
            ssrc: 9,
            pt: Pt::from(96),
            ts: seq * 3000,
            marker: false,
            video_orientation: None,
            payload: Arc::from(&[seq as u8][..]),
        }
    }

    #[test]
    fn keeps_the_last_packets_and_forgets_older_ones() {
        let mut h = PacketHistory::default();
        assert!(h.get(9, 0).is_none());
        for seq in 1000..1000 + HISTORY_LEN as u64 + 10 {
            h.push(kept(seq));
        }
        assert!(h.get(9, 1009).is_none(), "overwritten");
        let newest = 1000 + HISTORY_LEN as u64 + 9;
        assert_eq!(h.get(9, newest).map(|k| k.ts), Some(newest * 3000));
        assert!(h.get(8, newest).is_none(), "another SSRC");
        assert!(h.get(9, 1010).is_some());
    }
}
