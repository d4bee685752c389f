//! Opus (RFC 7587): the RTP payload is one Opus packet, which is one frame.

use crate::{DepacketizeError, DepacketizerStats, Frame, Packet};

/// Opus depacketizer: passthrough. Losses need no special care (every Opus packet decodes
/// on its own; the decoder conceals what is missing), so every frame is a keyframe.
#[derive(Debug, Default)]
pub struct OpusDepacketizer {
    stats: DepacketizerStats,
    last_seq: Option<u64>,
}

impl OpusDepacketizer {
    /// A new depacketizer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one packet (in sequence order); its frame goes to `out`.
    pub fn push(&mut self, pkt: &Packet<'_>, out: &mut Vec<Frame>) -> Result<(), DepacketizeError> {
        self.skip(pkt.seq);
        // An Opus packet has at least its TOC byte (RFC 6716 section 3.1); DTX sends 1 byte.
        if pkt.payload.is_empty() {
            self.stats.errors += 1;
            self.stats.dropped_frames += 1;
            return Err(DepacketizeError::Empty);
        }
        self.stats.frames += 1;
        out.push(Frame {
            pt: pkt.pt,
            ts: pkt.ts,
            arrival: pkt.arrival,
            keyframe: true,
            data: pkt.payload.to_vec(),
        });
        Ok(())
    }

    /// A packet of another payload type in the same stream (counts gaps only).
    pub fn skip(&mut self, seq: u64) {
        if self
            .last_seq
            .is_some_and(|last| seq != last.wrapping_add(1))
        {
            self.stats.gaps += 1;
        }
        self.last_seq = Some(seq);
    }

    /// Nothing is ever pending.
    pub fn flush(&mut self) {}

    /// Never: audio has no keyframes to wait for.
    pub fn waiting_for_keyframe(&self) -> bool {
        false
    }

    /// The counters.
    pub fn stats(&self) -> DepacketizerStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn every_packet_is_a_keyframe() {
        let (mut d, mut out, t) = (OpusDepacketizer::new(), Vec::new(), Instant::now());
        let pkt = |seq, ts, payload| Packet {
            pt: 111,
            seq,
            ts,
            marker: false,
            arrival: t,
            payload,
        };
        d.push(&pkt(1, 960, &[0xfc, 1, 2]), &mut out).unwrap();
        d.push(&pkt(3, 2880, &[0xf8]), &mut out).unwrap();
        assert_eq!(
            d.push(&pkt(4, 3840, &[]), &mut out),
            Err(DepacketizeError::Empty)
        );
        let frames: Vec<_> = out
            .iter()
            .map(|f| (f.ts, f.data.clone(), f.keyframe))
            .collect();
        assert_eq!(
            frames,
            [(960, vec![0xfc, 1, 2], true), (2880, vec![0xf8], true)]
        );
        let stats = d.stats();
        assert_eq!(
            (stats.frames, stats.errors, stats.gaps, stats.dropped_frames),
            (2, 1, 1, 1)
        );
        assert!(!d.waiting_for_keyframe());
    }
}
