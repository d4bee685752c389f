//! What every video depacketizer shares: grouping packets into frames by timestamp and
//! marker, noticing sequence gaps, dropping damaged frames and waiting for a keyframe after
//! a loss. The codec part only parses payloads.

use std::time::Instant;

use crate::{DepacketizeError, DepacketizerStats, Frame, Packet, MAX_FRAME_BYTES};

/// The codec-specific half of a video depacketizer: it sees the payloads of one frame,
/// in sequence order, without gaps.
pub(crate) trait FrameCodec {
    /// Whether this payload visibly begins a frame (checked on the first packet after a
    /// gap: if not, the frame's head may be lost).
    fn starts_frame(&self, payload: &[u8]) -> bool;
    /// Adds one packet of the current frame.
    fn push(&mut self, payload: &[u8]) -> Result<(), DepacketizeError>;
    /// The assembled frame and whether it is a keyframe; `None` when it carried nothing
    /// to record (only dropped units or layers).
    fn finish(&mut self) -> Result<Option<(Vec<u8>, bool)>, DepacketizeError>;
    /// Forgets the current frame.
    fn reset(&mut self);
}

/// The frame being assembled.
#[derive(Debug)]
struct Current {
    ts: u64,
    pt: u8,
    arrival: Instant,
    /// Payload bytes so far (the size cap).
    bytes: usize,
    /// A loss or an error hit it: it is dropped when it ends.
    damaged: bool,
}

#[derive(Debug)]
pub(crate) struct Assembler<C> {
    pub(crate) codec: C,
    last_seq: Option<u64>,
    /// A gap was seen and no packet has been taken since.
    after_gap: bool,
    waiting_for_keyframe: bool,
    current: Option<Current>,
    pub(crate) stats: DepacketizerStats,
}

impl<C: FrameCodec> Assembler<C> {
    pub(crate) fn new(codec: C) -> Self {
        Self {
            codec,
            last_seq: None,
            // The first packet may be anywhere in a frame (a recording starts mid-stream):
            // like after a gap, its frame is kept only if it visibly starts there.
            after_gap: true,
            // A recording may start mid-stream.
            waiting_for_keyframe: true,
            current: None,
            stats: DepacketizerStats::default(),
        }
    }

    pub(crate) fn waiting_for_keyframe(&self) -> bool {
        self.waiting_for_keyframe
    }

    pub(crate) fn push(
        &mut self,
        pkt: &Packet<'_>,
        out: &mut Vec<Frame>,
    ) -> Result<(), DepacketizeError> {
        self.sequence(pkt.seq);
        let mut result = Ok(());
        if self.current.as_ref().is_some_and(|c| c.ts != pkt.ts) {
            // The previous frame ended without its marker.
            result = self.finish(out);
        }
        if self.current.is_none() {
            let damaged = self.after_gap && !self.codec.starts_frame(pkt.payload);
            self.codec.reset();
            self.current = Some(Current {
                ts: pkt.ts,
                pt: pkt.pt,
                arrival: pkt.arrival,
                bytes: 0,
                damaged,
            });
        }
        self.after_gap = false;
        if let Some(cur) = self.current.as_mut() {
            cur.arrival = cur.arrival.min(pkt.arrival);
            cur.bytes = cur.bytes.saturating_add(pkt.payload.len());
            if !cur.damaged {
                let pushed = if cur.bytes > MAX_FRAME_BYTES {
                    Err(DepacketizeError::TooLarge)
                } else {
                    self.codec.push(pkt.payload)
                };
                if let Err(e) = pushed {
                    cur.damaged = true;
                    self.stats.errors += 1;
                    result = result.and(Err(e));
                }
            }
        }
        if pkt.marker {
            result = result.and(self.finish(out));
        }
        result
    }

    /// A packet of this stream that carries nothing for us (another payload type): it
    /// keeps the sequence numbers continuous.
    pub(crate) fn skip(&mut self, seq: u64) {
        self.sequence(seq);
    }

    /// The end: a frame still waiting for its marker cannot be known to be whole.
    pub(crate) fn flush(&mut self) {
        if self.current.take().is_some() {
            self.stats.dropped_frames += 1;
        }
        self.codec.reset();
    }

    fn sequence(&mut self, seq: u64) {
        let gap = self
            .last_seq
            .is_some_and(|last| seq != last.wrapping_add(1));
        self.last_seq = Some(seq);
        if gap {
            self.stats.gaps += 1;
            self.after_gap = true;
            self.waiting_for_keyframe = true;
            if let Some(cur) = self.current.as_mut() {
                cur.damaged = true;
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Frame>) -> Result<(), DepacketizeError> {
        let Some(cur) = self.current.take() else {
            return Ok(());
        };
        if cur.damaged {
            self.codec.reset();
            self.drop_frame();
            return Ok(());
        }
        match self.codec.finish() {
            Ok(None) => Ok(()),
            Ok(Some((data, keyframe))) => {
                if self.waiting_for_keyframe && !keyframe {
                    self.stats.dropped_frames += 1;
                    return Ok(());
                }
                self.waiting_for_keyframe = false;
                self.stats.frames += 1;
                out.push(Frame {
                    pt: cur.pt,
                    ts: cur.ts,
                    arrival: cur.arrival,
                    keyframe,
                    data,
                });
                Ok(())
            }
            Err(e) => {
                self.stats.errors += 1;
                self.drop_frame();
                Err(e)
            }
        }
    }

    /// A frame is lost: the ones after it reference it.
    fn drop_frame(&mut self) {
        self.stats.dropped_frames += 1;
        self.waiting_for_keyframe = true;
    }
}

/// The methods every video depacketizer shares, forwarded to its `inner` [`Assembler`].
macro_rules! video_depacketizer_api {
    ($name:ident) => {
        impl $name {
            /// Takes one packet, in sequence order (a gap in `seq` is a loss); finished
            /// frames are appended to `out`. An error means the packet was refused and its
            /// frame dropped (and counted); frames may still have been appended.
            pub fn push(
                &mut self,
                pkt: &$crate::Packet<'_>,
                out: &mut Vec<$crate::Frame>,
            ) -> Result<(), $crate::DepacketizeError> {
                self.inner.push(pkt, out)
            }

            /// A packet of the same RTP stream with another payload type (RTX, FEC,
            /// ...): only its sequence number counts, so it does not look like a loss.
            pub fn skip(&mut self, seq: u64) {
                self.inner.skip(seq)
            }

            /// The end of the stream: drops a frame that has not seen its marker.
            pub fn flush(&mut self) {
                self.inner.flush()
            }

            /// Frames are being dropped until a keyframe (after a loss, an error, or
            /// at the start): a recorder may ask the publisher for one.
            pub fn waiting_for_keyframe(&self) -> bool {
                self.inner.waiting_for_keyframe()
            }

            /// The counters.
            pub fn stats(&self) -> $crate::DepacketizerStats {
                self.inner.stats
            }
        }
    };
}
pub(crate) use video_depacketizer_api;

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy codec: payload `[start, key, bytes...]`.
    #[derive(Default)]
    struct Toy {
        data: Vec<u8>,
        key: bool,
    }

    impl FrameCodec for Toy {
        fn starts_frame(&self, payload: &[u8]) -> bool {
            payload.first() == Some(&1)
        }
        fn push(&mut self, payload: &[u8]) -> Result<(), DepacketizeError> {
            let [start, key, rest @ ..] = payload else {
                return Err(DepacketizeError::Truncated);
            };
            if self.data.is_empty() {
                self.key = *key == 1;
            }
            if *start == 1 && !self.data.is_empty() {
                return Err(DepacketizeError::Malformed("two starts"));
            }
            self.data.extend_from_slice(rest);
            Ok(())
        }
        fn finish(&mut self) -> Result<Option<(Vec<u8>, bool)>, DepacketizeError> {
            Ok(Some((std::mem::take(&mut self.data), self.key)))
        }
        fn reset(&mut self) {
            self.data.clear();
        }
    }

    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn run(
        a: &mut Assembler<Toy>,
        packets: &[(u64, u64, bool, &[u8])],
    ) -> Vec<(u64, Vec<u8>, bool)> {
        let (mut out, t) = (Vec::new(), t0());
        for &(seq, ts, marker, payload) in packets {
            let pkt = Packet {
                pt: 96,
                seq,
                ts,
                marker,
                arrival: t,
                payload,
            };
            let _ = a.push(&pkt, &mut out);
        }
        out.into_iter()
            .map(|f| (f.ts, f.data, f.keyframe))
            .collect()
    }

    #[test]
    fn frames_end_at_the_marker_or_a_new_timestamp() {
        let mut a = Assembler::new(Toy::default());
        let frames = run(
            &mut a,
            &[
                (1, 100, false, &[1, 1, 0xa]),
                (2, 100, true, &[0, 0, 0xb]),
                (3, 200, false, &[1, 0, 0xc]),
                (4, 300, true, &[1, 0, 0xd]),
            ],
        );
        assert_eq!(
            frames,
            [
                (100, vec![0xa, 0xb], true),
                (200, vec![0xc], false),
                (300, vec![0xd], false)
            ]
        );
        assert!(!a.waiting_for_keyframe());
    }

    #[test]
    fn a_gap_drops_frames_until_a_keyframe() {
        let mut a = Assembler::new(Toy::default());
        let frames = run(
            &mut a,
            &[
                (1, 100, true, &[1, 1, 1]),
                (2, 200, false, &[1, 0, 2]),
                // 3 lost: frame 200 damaged.
                (4, 200, true, &[0, 0, 2]),
                (5, 300, true, &[1, 0, 3]),
                (6, 400, true, &[1, 1, 4]),
            ],
        );
        assert_eq!(frames, [(100, vec![1], true), (400, vec![4], true)]);
        assert_eq!(a.stats.gaps, 1);
        assert_eq!(a.stats.dropped_frames, 2);
    }

    #[test]
    fn a_frame_right_after_a_gap_needs_a_visible_start() {
        let mut a = Assembler::new(Toy::default());
        let frames = run(
            &mut a,
            &[
                (1, 100, true, &[1, 1, 1]),
                // 2 lost: the head of keyframe 200.
                (3, 200, true, &[0, 1, 2]),
                // 4 lost between frames: 300 starts visibly.
                (5, 300, true, &[1, 1, 3]),
            ],
        );
        assert_eq!(frames, [(100, vec![1], true), (300, vec![3], true)]);
    }

    #[test]
    fn errors_drop_the_frame_and_wait_for_a_keyframe() {
        let mut a = Assembler::new(Toy::default());
        let frames = run(
            &mut a,
            &[
                (1, 100, true, &[1, 1, 1]),
                (2, 200, false, &[1, 0, 2]),
                (3, 200, true, &[1]),
                (4, 300, true, &[1, 0, 3]),
                (5, 400, true, &[1, 1, 4]),
            ],
        );
        assert_eq!(frames, [(100, vec![1], true), (400, vec![4], true)]);
        assert_eq!(a.stats.errors, 1);
        assert_eq!(a.stats.dropped_frames, 2);
    }

    #[test]
    fn a_stream_joined_mid_frame_drops_that_frame() {
        let mut a = Assembler::new(Toy::default());
        let frames = run(
            &mut a,
            &[
                (7, 100, false, &[0, 1, 1]),
                (8, 100, true, &[0, 1, 2]),
                (9, 200, true, &[1, 1, 3]),
            ],
        );
        assert_eq!(frames, [(200, vec![3], true)]);
        assert_eq!((a.stats.dropped_frames, a.stats.errors), (1, 0));
    }

    #[test]
    fn the_first_frames_wait_for_a_keyframe_and_flush_drops_a_half_frame() {
        let mut a = Assembler::new(Toy::default());
        assert!(a.waiting_for_keyframe());
        let frames = run(
            &mut a,
            &[(1, 100, true, &[1, 0, 1]), (2, 200, false, &[1, 1, 2])],
        );
        assert!(frames.is_empty());
        a.flush();
        assert_eq!(a.stats.dropped_frames, 2);
    }
}
