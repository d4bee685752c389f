//! Test helpers: feeding hand-built packets to a depacketizer.

use std::time::{Duration, Instant};

use crate::{DepacketizeError, Frame, Packet};

#[allow(clippy::disallowed_methods)]
pub(crate) fn t0() -> Instant {
    Instant::now()
}

/// One hand-built packet: sequence number, timestamp, marker, payload.
pub(crate) type P = (u64, u64, bool, Vec<u8>);

/// Feeds `packets` (arriving 1 ms apart) through `push`; the frames and each push's result.
pub(crate) fn feed(
    mut push: impl FnMut(&Packet<'_>, &mut Vec<Frame>) -> Result<(), DepacketizeError>,
    packets: &[P],
) -> (Vec<Frame>, Vec<Result<(), DepacketizeError>>) {
    let (t, mut out, mut results) = (t0(), Vec::new(), Vec::new());
    for (i, (seq, ts, marker, payload)) in packets.iter().enumerate() {
        let pkt = Packet {
            pt: 96,
            seq: *seq,
            ts: *ts,
            marker: *marker,
            arrival: t + Duration::from_millis(i as u64),
            payload,
        };
        results.push(push(&pkt, &mut out));
    }
    (out, results)
}

/// What a test run gives: (timestamp, keyframe, data) per frame, and each push's result.
pub(crate) type Run = (Vec<(u64, bool, Vec<u8>)>, Vec<Result<(), DepacketizeError>>);

/// The frames as (timestamp, keyframe, data).
pub(crate) fn summary(frames: &[Frame]) -> Vec<(u64, bool, Vec<u8>)> {
    frames
        .iter()
        .map(|f| (f.ts, f.keyframe, f.data.clone()))
        .collect()
}
