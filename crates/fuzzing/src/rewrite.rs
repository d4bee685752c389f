//! The RTP header rewriter (`crates/media/src/rewrite.rs`).

use std::time::{Duration, Instant};

use podium_media::rewrite::{InPacket, InputKey, OutPacket, Rewriter};

use crate::Bytes;

/// The inputs a track can switch between: a replaced publisher (new generation, new SSRC) and
/// a new publication that reuses an SSRC (new generation, same SSRC).
const INPUTS: [InputKey; 4] = [
    InputKey {
        generation: 1,
        ssrc: 0x1111_1111,
    },
    InputKey {
        generation: 2,
        ssrc: 0x2222_2222,
    },
    InputKey {
        generation: 3,
        ssrc: 0x1111_1111,
    },
    InputKey {
        generation: 4,
        ssrc: 0xffff_ffff,
    },
];

/// Drives one `Rewriter` with packets as they come off the wire.
///
/// Byte 0 picks the clock rate (8, 16, 48 or 90 kHz, or any rate read from the next four
/// bytes). Then each packet takes 6 bytes:
/// - `op`: bits 0–1 pick the input ([`INPUTS`]), bit 2 calls `reset_input` first (the source
///   behind the track changed), bit 3 makes the time step seconds instead of milliseconds;
/// - a signed sequence number step (i8) and a signed timestamp step (i16 × 16) applied to
///   that input's 16- and 32-bit wire values, which are then unwrapped the way str0m extends
///   them;
/// - a signed time step (i16, ms or s).
///
/// Each input starts from wire values read from the first packet's bytes.
///
/// Checked against a model of the documented behaviour: the first packet after an input
/// change is flagged `switched` and continues at one past the highest sequence number sent,
/// its timestamp advanced by the real elapsed time (at least the minimum step) from that
/// packet's; within one input, output sequence numbers move exactly as the input's do, so
/// consecutive packets advance by one.
pub fn rtp_rewrite(data: &[u8]) {
    let mut b = Bytes::new(data);
    let clock_rate = match b.u8() % 5 {
        0 => 8_000,
        1 => 16_000,
        2 => 48_000,
        3 => 90_000,
        _ => b.u32(),
    };
    let mut rewriter = Rewriter::new(clock_rate);
    let effective_rate = clock_rate.max(1);
    let min_step = u64::from(effective_rate) / 50;
    let base = Instant::now();
    let mut t_ms: u64 = 1_000_000;

    let mut wire: [Option<Wire>; 4] = [None; 4];
    // The model: current input, the (out seq, out ts, arrival) of the highest packet sent,
    // and the last forwarded packet of the current input (in seq, out seq).
    let mut current: Option<InputKey> = None;
    let mut highest: Option<(u64, u32, u64)> = None;
    let mut last_of_current: Option<(u64, u64)> = None;

    while !b.is_empty() {
        let op = b.u8();
        let dseq = b.u8() as i8;
        let dts = b.u16() as i16;
        let dt = b.u16() as i16;
        let which = usize::from(op & 3);
        let input = INPUTS[which];
        if op & 4 != 0 {
            rewriter.reset_input();
            current = None;
        }
        let step_ms = if op & 8 != 0 {
            i64::from(dt) * 1000
        } else {
            i64::from(dt)
        };
        t_ms = t_ms.saturating_add_signed(step_ms);
        let now = base + Duration::from_millis(t_ms);

        let w = wire[which].get_or_insert(Wire {
            // A fresh input starts anywhere: its first steps set the bases.
            seq: (i32::from(dseq) * 257) as u16,
            ts: (i32::from(dts) as u32).wrapping_mul(65_537),
            ext_seq: None,
            ext_ts: None,
        });
        w.seq = w.seq.wrapping_add_signed(i16::from(dseq));
        w.ts = w.ts.wrapping_add_signed(i32::from(dts) * 16);
        let seq = extend(w.ext_seq, u64::from(w.seq), 16);
        let ts = extend(w.ext_ts, u64::from(w.ts), 32);
        w.ext_seq = Some(w.ext_seq.map_or(seq, |e| e.max(seq)));
        w.ext_ts = Some(w.ext_ts.map_or(ts, |e| e.max(ts)));

        let expect_switch = current != Some(input);
        assert_eq!(rewriter.current(), current, "current input");
        let out = rewriter.rewrite(InPacket {
            input,
            seq,
            ts,
            now,
        });
        if expect_switch {
            let out: OutPacket = out.expect("the first packet of an input is always forwarded");
            assert!(out.switched, "the first packet after a change is flagged");
            match highest {
                None => {
                    assert_eq!(out.seq, seq & 0xffff, "the first input keeps its low bits");
                    assert_eq!(out.ts, ts as u32, "the first input keeps its timestamps");
                }
                Some((hseq, hts, hat)) => {
                    assert_eq!(out.seq, hseq + 1, "a switch continues after the highest");
                    let elapsed = Duration::from_millis(t_ms.saturating_sub(hat));
                    let ticks =
                        (elapsed.as_micros() * u128::from(effective_rate) / 1_000_000) as u64;
                    let step = ticks.max(min_step);
                    assert_eq!(
                        out.ts,
                        hts.wrapping_add(step as u32),
                        "a switch advances the timestamp by the elapsed time"
                    );
                }
            }
            current = Some(input);
            last_of_current = Some((seq, out.seq));
        } else if let Some(out) = out {
            assert!(!out.switched, "only a change is flagged");
            if let Some((in_seq, out_seq)) = last_of_current {
                assert_eq!(
                    i128::from(out.seq) - i128::from(out_seq),
                    i128::from(seq) - i128::from(in_seq),
                    "within one input, sequence numbers move as the input's do"
                );
            }
            last_of_current = Some((seq, out.seq));
        }
        assert_eq!(rewriter.current(), current);
        if let Some(out) = out {
            if highest.is_none_or(|(hseq, _, _)| out.seq > hseq) {
                highest = Some((out.seq, out.ts, t_ms));
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Wire {
    seq: u16,
    ts: u32,
    ext_seq: Option<u64>,
    ext_ts: Option<u64>,
}

/// Unwraps a `bits`-bit wire value to the extended value closest to the highest seen, as an
/// RTP receiver does.
fn extend(highest: Option<u64>, wire: u64, bits: u32) -> u64 {
    let Some(highest) = highest else {
        return wire;
    };
    let roc = highest >> bits;
    [roc.wrapping_sub(1), roc, roc + 1]
        .into_iter()
        .filter(|r| *r <= roc + 1)
        .map(|r| (r << bits) | wire)
        .min_by_key(|v| v.abs_diff(highest))
        .unwrap_or(wire)
}
