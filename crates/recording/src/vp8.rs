//! VP8 (RFC 7741): the payload descriptor is stripped, the VP8 payloads of one frame are
//! joined.

use crate::assembler::{video_depacketizer_api, Assembler, FrameCodec};
use crate::DepacketizeError;

/// VP8 depacketizer.
#[derive(Debug)]
pub struct Vp8Depacketizer {
    inner: Assembler<Vp8Codec>,
}

video_depacketizer_api!(Vp8Depacketizer);

impl Default for Vp8Depacketizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Vp8Depacketizer {
    /// A new depacketizer, waiting for a keyframe.
    pub fn new() -> Self {
        Self {
            inner: Assembler::new(Vp8Codec::default()),
        }
    }

    /// Width and height from the latest keyframe (scaling bits left out).
    pub fn size(&self) -> Option<(u32, u32)> {
        self.inner.codec.size
    }
}

#[derive(Debug, Default)]
struct Vp8Codec {
    data: Vec<u8>,
    /// The frame's first packet (S = 1, PID = 0) was seen.
    started: bool,
    size: Option<(u32, u32)>,
}

/// The payload descriptor (RFC 7741 section 4.2): whether the packet starts a frame and
/// where the VP8 payload begins.
fn descriptor(payload: &[u8]) -> Result<(bool, usize), DepacketizeError> {
    let &b0 = payload.first().ok_or(DepacketizeError::Empty)?;
    let get = |i: usize| payload.get(i).copied().ok_or(DepacketizeError::Truncated);
    let start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    let mut len = 1;
    if b0 & 0x80 != 0 {
        // X: the extension byte |I|L|T|K|RSV|.
        let ext = get(len)?;
        len += 1;
        if ext & 0x80 != 0 {
            // I: picture id, 15 bits when M is set.
            let m = get(len)? & 0x80 != 0;
            len += if m { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            len += 1; // L: TL0PICIDX
        }
        if ext & 0x30 != 0 {
            len += 1; // T or K: TID|Y|KEYIDX
        }
    }
    if payload.len() <= len {
        return Err(DepacketizeError::Truncated);
    }
    Ok((start, len))
}

impl FrameCodec for Vp8Codec {
    fn starts_frame(&self, payload: &[u8]) -> bool {
        descriptor(payload).is_ok_and(|(start, _)| start)
    }

    fn push(&mut self, payload: &[u8]) -> Result<(), DepacketizeError> {
        let (start, len) = descriptor(payload)?;
        if start {
            if self.started {
                return Err(DepacketizeError::Malformed(
                    "two VP8 frames with one timestamp",
                ));
            }
            self.started = true;
        } else if !self.started {
            return Err(DepacketizeError::MissingStart);
        }
        self.data.extend_from_slice(&payload[len..]);
        Ok(())
    }

    fn finish(&mut self) -> Result<Option<(Vec<u8>, bool)>, DepacketizeError> {
        let data = std::mem::take(&mut self.data);
        if !std::mem::take(&mut self.started) {
            return Ok(None);
        }
        // The frame tag (RFC 6386 section 9.1): bit 0 of the first byte is 0 on keyframes,
        // which follow the tag with a start code and the 14-bit width and height.
        if data.len() < 3 {
            return Err(DepacketizeError::Truncated);
        }
        let keyframe = data[0] & 1 == 0;
        if keyframe {
            let header = data.get(3..10).ok_or(DepacketizeError::Truncated)?;
            if header[..3] != [0x9d, 0x01, 0x2a] {
                return Err(DepacketizeError::Malformed(
                    "VP8 keyframe without its start code",
                ));
            }
            let width = u16::from_le_bytes([header[3], header[4]]) & 0x3fff;
            let height = u16::from_le_bytes([header[5], header[6]]) & 0x3fff;
            self.size = Some((u32::from(width), u32::from(height)));
        }
        Ok(Some((data, keyframe)))
    }

    fn reset(&mut self) {
        self.data.clear();
        self.started = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{feed, summary, Run, P};

    /// A keyframe: tag (key, shown), start code, 640x480, then some bytes.
    const KEY: [u8; 12] = [
        0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0xaa, 0xbb,
    ];
    const INTER: [u8; 5] = [0x31, 0x01, 0x00, 0xcc, 0xdd];

    fn with(descriptor: &[u8], data: &[u8]) -> Vec<u8> {
        descriptor.iter().chain(data).copied().collect()
    }

    /// A depacketizer that took a keyframe at sequence number 0 (see the H.264 tests).
    fn primed() -> Vp8Depacketizer {
        let mut d = Vp8Depacketizer::new();
        let (frames, _) = run(&mut d, &[(0, 1_000_000, true, with(&[0x10], &KEY))]);
        assert_eq!(frames.len(), 1);
        d
    }

    fn run(d: &mut Vp8Depacketizer, packets: &[P]) -> Run {
        let (frames, results) = feed(|p, out| d.push(p, out), packets);
        (summary(&frames), results)
    }

    #[test]
    fn every_descriptor_extension_is_stripped() {
        let descriptors: [&[u8]; 7] = [
            &[0x10],                               // S, PID 0
            &[0x90, 0x80, 0x05],                   // X, I 7-bit
            &[0x90, 0x80, 0x81, 0x23],             // X, I 15-bit
            &[0x90, 0x40, 0x07],                   // X, L
            &[0x90, 0x20, 0x40],                   // X, T
            &[0x90, 0x10, 0x05],                   // X, K
            &[0xb0, 0xf0, 0xff, 0xff, 0x07, 0x9f], // X, N, I 15-bit, L, T and K
        ];
        for descriptor in descriptors {
            let mut d = Vp8Depacketizer::new();
            let (frames, results) = run(&mut d, &[(1, 0, true, with(descriptor, &KEY))]);
            assert_eq!(results, [Ok(())], "{descriptor:?}");
            assert_eq!(frames, [(0, true, KEY.to_vec())], "{descriptor:?}");
        }
    }

    #[test]
    fn frames_span_packets_and_keyframes_give_the_size() {
        let mut d = Vp8Depacketizer::new();
        let desc = [0x90, 0x80, 0x11];
        let (frames, results) = run(
            &mut d,
            &[
                (1, 0, false, with(&desc, &KEY[..6])),
                (2, 0, false, with(&[0x80, 0x80, 0x11], &KEY[6..9])),
                (3, 0, true, with(&[0x81, 0x80, 0x11], &KEY[9..])), // partition 1
                (4, 3000, true, with(&[0x90, 0x80, 0x12], &INTER)),
            ],
        );
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(
            frames,
            [(0, true, KEY.to_vec()), (3000, false, INTER.to_vec())]
        );
        assert_eq!(d.size(), Some((640, 480)));
        assert!(!d.waiting_for_keyframe());
    }

    #[test]
    fn a_loss_drops_frames_until_a_keyframe() {
        let mut d = Vp8Depacketizer::new();
        let (frames, _) = run(
            &mut d,
            &[
                (1, 0, true, with(&[0x10], &KEY)),
                (2, 3000, false, with(&[0x10], &INTER[..2])),
                // 3 lost.
                (4, 3000, true, with(&[0x00], &INTER[4..])),
                (5, 6000, true, with(&[0x10], &INTER)),
                // A new frame right after a gap: its start is visible, so it is whole.
                (7, 9000, true, with(&[0x10], &KEY)),
                (8, 12_000, true, with(&[0x10], &INTER)),
            ],
        );
        let keys: Vec<_> = frames.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(keys, [(0, true), (9000, true), (12_000, false)]);
        let stats = d.stats();
        assert_eq!((stats.gaps, stats.dropped_frames, stats.errors), (2, 2, 0));
    }

    #[test]
    fn a_frame_without_its_start_is_an_error() {
        let mut d = primed();
        let (frames, results) = run(
            &mut d,
            &[
                (1, 0, true, with(&[0x00], &KEY)),
                (2, 3000, false, with(&[0x10], &KEY)),
                (3, 3000, true, with(&[0x10], &KEY)),
                (4, 6000, true, with(&[0x11], &KEY)), // S with PID 1: not a frame start
                (5, 9000, true, with(&[0x10], &KEY)),
            ],
        );
        assert_eq!(results[0], Err(DepacketizeError::MissingStart));
        assert!(matches!(results[2], Err(DepacketizeError::Malformed(_))));
        assert_eq!(results[3], Err(DepacketizeError::MissingStart));
        assert_eq!(frames, [(9000, true, KEY.to_vec())]);
        assert_eq!(d.stats().errors, 3);
    }

    #[test]
    fn malformed_payloads_are_errors() {
        let cases: [(&[u8], DepacketizeError); 6] = [
            (&[], DepacketizeError::Empty),
            (&[0x10], DepacketizeError::Truncated),
            (&[0x90], DepacketizeError::Truncated),
            (&[0x90, 0x80, 0x80], DepacketizeError::Truncated),
            (&[0x10, 0x10, 0x02], DepacketizeError::Truncated),
            (
                &[0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2b, 0, 0, 0, 0],
                DepacketizeError::Malformed("VP8 keyframe without its start code"),
            ),
        ];
        for (payload, want) in cases {
            let mut d = primed();
            let (frames, results) = run(&mut d, &[(1, 0, true, payload.to_vec())]);
            assert_eq!(results, [Err(want)], "{payload:?}");
            assert!(frames.is_empty());
            assert_eq!(d.stats().errors, 1);
        }
    }
}
