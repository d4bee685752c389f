//! Keeps one outgoing RTP stream continuous while its input changes.
//!
//! A viewer's track has one SSRC for its whole life, but the packets that feed it come from
//! whichever publication is current: a replaced publisher has a new SSRC, a new random
//! sequence base and a new timestamp base. On every input change the rewriter re-bases
//! sequence numbers (+1 after the last one sent) and timestamps (advanced by the real
//! elapsed time) so the browser sees one continuous stream and never resets its jitter buffer.

use std::time::{Duration, Instant};

/// Identifies one input stream: a publication's SSRC plus a generation that changes
/// whenever the publication behind a track changes (SSRCs may be reused by a new publisher).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputKey {
    /// The publication that produced the packet.
    pub generation: u64,
    /// The SSRC of the incoming stream.
    pub ssrc: u32,
}

/// An incoming packet's position, as the rewriter needs it.
#[derive(Debug, Clone, Copy)]
pub struct InPacket {
    /// Which input it came from.
    pub input: InputKey,
    /// Extended (unwrapped) sequence number.
    pub seq: u64,
    /// Extended RTP timestamp in the codec clock.
    pub ts: u64,
    /// Arrival time.
    pub now: Instant,
}

/// The rewritten position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutPacket {
    /// Extended output sequence number (low 16 bits go on the wire).
    pub seq: u64,
    /// Output RTP timestamp (wraps at 32 bits on the wire).
    pub ts: u32,
    /// True for the first packet after an input change: audio sets the marker bit.
    pub switched: bool,
}

/// Per outgoing track rewriting state.
#[derive(Debug, Clone)]
pub struct Rewriter {
    clock_rate: u32,
    /// Smallest timestamp step on a switch, so the receiver never sees a repeated timestamp.
    min_step: u64,
    current: Option<InputKey>,
    seq_offset: i64,
    ts_offset: i64,
    /// Highest output sequence number and its timestamp/arrival: the base for the next switch.
    last: Option<(u64, u64, Instant)>,
    /// First output sequence number of the current input: resends map back only from here.
    since: u64,
}

impl Rewriter {
    /// A rewriter for a track whose codec runs at `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        let clock_rate = clock_rate.max(1);
        Self {
            clock_rate,
            // One 20 ms audio frame or one 90 kHz video tick at 50 fps.
            min_step: u64::from(clock_rate) / 50,
            current: None,
            seq_offset: 0,
            ts_offset: 0,
            last: None,
            since: 0,
        }
    }

    /// The input currently forwarded, if any.
    pub fn current(&self) -> Option<InputKey> {
        self.current
    }

    /// Rewrites one packet. Packets of an earlier input after a switch are refused (`None`):
    /// they would land in the middle of the new input's numbering.
    pub fn rewrite(&mut self, p: InPacket) -> Option<OutPacket> {
        let switched = self.current != Some(p.input);
        if switched {
            self.rebase(&p);
        }
        let seq = add(p.seq, self.seq_offset)?;
        let ts = add(p.ts, self.ts_offset)?;
        match self.last {
            Some((last_seq, _, _)) if seq <= last_seq => {}
            _ => self.last = Some((seq, ts, p.now)),
        }
        Some(OutPacket {
            seq,
            ts: ts as u32,
            switched,
        })
    }

    /// The input and its sequence number behind output `seq`, if it belongs to the current
    /// input (what a retransmission request is answered from).
    pub fn input_of(&self, seq: u64) -> Option<(InputKey, u64)> {
        let current = self.current?;
        if seq < self.since || self.last.is_none_or(|(last, _, _)| seq > last) {
            return None;
        }
        Some((current, add(seq, -self.seq_offset)?))
    }

    /// The output timestamp of the current input's timestamp `ts`.
    pub fn output_ts(&self, ts: u64) -> u32 {
        add(ts, self.ts_offset).unwrap_or(0) as u32
    }

    /// Forgets the current input, so the next packet from any input re-bases. Called when the
    /// source behind this track changes, even if the new one reuses an SSRC.
    pub fn reset_input(&mut self) {
        self.current = None;
    }

    fn rebase(&mut self, p: &InPacket) {
        self.current = Some(p.input);
        match self.last {
            None => {
                // First input: start at its own low 16 bits so the SRTP rollover counter is 0.
                self.seq_offset = (p.seq & 0xffff) as i64 - p.seq as i64;
                self.ts_offset = (p.ts & 0xffff_ffff) as i64 - p.ts as i64;
            }
            Some((last_seq, last_ts, last_at)) => {
                let elapsed = p.now.saturating_duration_since(last_at);
                let step = ticks(elapsed, self.clock_rate).max(self.min_step);
                self.seq_offset = (last_seq + 1) as i64 - p.seq as i64;
                self.ts_offset = (last_ts + step) as i64 - p.ts as i64;
            }
        }
        self.since = add(p.seq, self.seq_offset).unwrap_or(0);
    }
}

fn ticks(d: Duration, clock_rate: u32) -> u64 {
    (d.as_micros() * u128::from(clock_rate) / 1_000_000) as u64
}

fn add(v: u64, offset: i64) -> Option<u64> {
    u64::try_from(v as i128 + offset as i128).ok()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    fn pkt(gen: u64, ssrc: u32, seq: u64, ts: u64, now: Instant) -> InPacket {
        InPacket {
            input: InputKey {
                generation: gen,
                ssrc,
            },
            seq,
            ts,
            now,
        }
    }

    #[test]
    fn continuous_across_a_switch() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(48_000);
        let mut outs = vec![];
        for i in 0..10u64 {
            let now = t0 + Duration::from_millis(20 * i);
            outs.push(
                r.rewrite(pkt(1, 111, 65_530 + i, 1_000 + 960 * i, now))
                    .unwrap(),
            );
        }
        // New publisher with unrelated bases arrives 100 ms after the last packet.
        let t1 = t0 + Duration::from_millis(20 * 9 + 100);
        for i in 0..10u64 {
            let now = t1 + Duration::from_millis(20 * i);
            outs.push(
                r.rewrite(pkt(2, 222, 17 + i, 9_999_999 + 960 * i, now))
                    .unwrap(),
            );
        }
        for w in outs.windows(2) {
            assert_eq!(w[1].seq, w[0].seq + 1, "sequence continues by one");
            assert!(w[1].ts > w[0].ts, "timestamps increase");
        }
        assert!(outs[0].switched && outs[10].switched && !outs[11].switched);
        // The gap in timestamps matches the 100 ms of real time.
        assert_eq!(outs[10].ts - outs[9].ts, 4_800);
    }

    #[test]
    fn old_input_cannot_follow_a_switch_without_rebasing() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000);
        let a = r.rewrite(pkt(1, 1, 100, 0, t0)).unwrap();
        let b = r.rewrite(pkt(2, 2, 5, 0, t0)).unwrap();
        assert_eq!(b.seq, a.seq + 1);
        assert_eq!(
            u64::from(b.ts),
            u64::from(a.ts) + 1_800,
            "minimum step applied"
        );
        // Same SSRC, new generation: re-based too.
        let c = r.rewrite(pkt(3, 2, 6, 0, t0)).unwrap();
        assert_eq!(c.seq, b.seq + 1);
        assert!(c.switched);
    }

    #[test]
    fn reordered_packets_keep_their_place() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(48_000);
        let a = r.rewrite(pkt(1, 1, 10, 0, t0)).unwrap();
        let c = r.rewrite(pkt(1, 1, 12, 1920, t0)).unwrap();
        let b = r.rewrite(pkt(1, 1, 11, 960, t0)).unwrap();
        assert_eq!((a.seq, b.seq, c.seq), (10, 11, 12));
        // The next switch continues after the highest, not the last-arrived.
        let d = r.rewrite(pkt(2, 9, 500, 0, t0)).unwrap();
        assert_eq!(d.seq, 13);
    }

    #[test]
    fn output_maps_back_to_the_current_input_only() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000);
        assert_eq!(r.input_of(0), None);
        for i in 0..5 {
            r.rewrite(pkt(1, 1, 70_000 + i, 1_000 + 3000 * i, t0))
                .unwrap();
        }
        let key1 = InputKey {
            generation: 1,
            ssrc: 1,
        };
        let first = 70_000 & 0xffff;
        assert_eq!(r.input_of(first + 2), Some((key1, 70_002)));
        assert_eq!(r.input_of(first + 5), None, "not sent yet");
        let out = r.rewrite(pkt(2, 7, 10, 50, t0)).unwrap();
        assert_eq!(r.input_of(first + 2), None, "an earlier input");
        let key2 = InputKey {
            generation: 2,
            ssrc: 7,
        };
        assert_eq!(r.input_of(out.seq), Some((key2, 10)));
        assert_eq!(r.output_ts(50), out.ts);
    }
}
