//! Property tests: random and half-valid payloads through every depacketizer never panic
//! and keep the counters consistent; the reorder buffer always releases in order within
//! its bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use podium_media::{Kind, PeerId, RecordCodec, RecordPayload, RecordTrack, RecordedPacket};
use podium_recording::{
    Depacketizer, Packet, Released, ReorderBuffer, ReorderConfig, TrackDepacketizer,
};
use proptest::prelude::*;

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

const CODECS: [RecordCodec; 5] = [
    RecordCodec::Opus { channels: 2 },
    RecordCodec::H264 {
        profile_level_id: None,
    },
    RecordCodec::Vp8,
    RecordCodec::Vp9,
    RecordCodec::Av1,
];

/// First bytes that reach deeper into each payload format than random bytes would.
const INTERESTING_FIRST_BYTES: [u8; 20] = [
    // H.264: IDR, non-IDR, SPS, PPS, STAP-A, FU-A, FU-B
    0x65, 0x41, 0x67, 0x68, 0x78, 0x7c, 0x7d, // VP8: S with PID 0, X + S, continuation
    0x10, 0x90, 0x00, // VP9: B|E, I|L|B|E, I|P|F|B|E, B|E|V
    0x0c, 0xac, 0xdc, 0x0e, // AV1: W=1, W=2 + N, W=0, Z|Y|W=1, Y|W=1
    0x10, 0x28, 0x00, 0xd0, 0x50, 0x90,
];

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        (
            proptest::sample::select(&INTERESTING_FIRST_BYTES[..]),
            proptest::collection::vec(any::<u8>(), 0..48)
        )
            .prop_map(|(first, rest)| [vec![first], rest].concat()),
        // A valid-looking AV1 OBU element run: lengths that fit.
        proptest::collection::vec(
            (0u8..16, proptest::collection::vec(any::<u8>(), 1..8)),
            1..4
        )
        .prop_map(|obus| {
            let mut out = vec![0x00];
            for (ty, body) in obus {
                out.push(body.len() as u8 + 1);
                out.push(ty << 3);
                out.extend(body);
            }
            out
        }),
    ]
}

/// (sequence step, timestamp step, marker, payload): steps of 0..3 give duplicates,
/// in-order packets and gaps.
fn packets() -> impl Strategy<Value = Vec<(u64, u64, bool, Vec<u8>)>> {
    proptest::collection::vec(
        (
            0u64..3,
            prop_oneof![Just(0u64), Just(3000), any::<u32>().prop_map(u64::from)],
            any::<bool>(),
            payload(),
        ),
        0..40,
    )
}

proptest! {
    #[test]
    fn depacketizers_survive_anything(codec in 0usize..5, steps in packets()) {
        let mut d = Depacketizer::new(CODECS[codec]).unwrap();
        let (t, mut out) = (t0(), Vec::new());
        let (mut seq, mut ts) = (1000u64, 0u64);
        for (i, (seq_step, ts_step, marker, payload)) in steps.iter().enumerate() {
            seq += seq_step;
            ts += ts_step;
            let pkt = Packet {
                pt: 96,
                seq,
                ts,
                marker: *marker,
                arrival: t + Duration::from_millis(i as u64),
                payload,
            };
            let before = d.stats();
            let result = d.push(&pkt, &mut out);
            if result.is_err() {
                prop_assert!(d.stats().errors > before.errors);
            }
        }
        d.flush();
        let stats = d.stats();
        prop_assert_eq!(stats.frames, out.len() as u64);
        prop_assert!(out.windows(2).all(|w| w[0].ts <= w[1].ts));
        prop_assert!(out.iter().all(|f| !f.data.is_empty()));
        if let Some(first) = out.first() {
            prop_assert!(first.keyframe);
        }
        // Opus never waits; video frames out means the wait ended at a keyframe.
        if codec == 0 {
            prop_assert!(!d.waiting_for_keyframe());
        }
    }

    #[test]
    fn reorder_releases_in_order_and_stays_bounded(
        seqs in proptest::collection::vec(0u64..200, 0..300),
        max_packets in 1usize..32,
        times in proptest::collection::vec(0u64..50, 300),
    ) {
        let mut buf = ReorderBuffer::new(ReorderConfig { max_packets, max_delay: Duration::from_millis(100) });
        let t = t0();
        let (mut released, mut now) = (Vec::new(), t);
        for (i, &seq) in seqs.iter().enumerate() {
            now += Duration::from_millis(times[i]);
            buf.push(seq, now, seq);
            while let Some(r) = buf.pop() {
                released.push(r);
            }
            prop_assert!(buf.len() < max_packets.max(1) + 1);
        }
        buf.flush();
        while let Some(r) = buf.pop() {
            released.push(r);
        }
        prop_assert!(buf.is_empty());
        // Between resyncs, what comes out is strictly increasing and contiguous.
        let stats = buf.stats();
        let mut next: Option<u64> = None;
        let mut packets = 0u64;
        for r in &released {
            let (first, count) = match r {
                Released::Packet { seq, item } => {
                    prop_assert_eq!(seq, item);
                    packets += 1;
                    (*seq, 1)
                }
                Released::Lost { first, count } => (*first, *count),
            };
            if let Some(n) = next {
                prop_assert!(first == n || (stats.resyncs > 0 && first < n), "{} after {}", first, n);
            }
            next = Some(first + count);
        }
        prop_assert_eq!(packets, stats.accepted);
        prop_assert_eq!(stats.accepted + stats.duplicates + stats.late, seqs.len() as u64);
    }

    #[test]
    fn displaced_packets_within_the_window_are_all_recovered(
        swaps in proptest::collection::vec(0usize..199, 0..100),
    ) {
        // Adjacent swaps after the first packet: each packet moves a few places at most.
        let mut order: Vec<u64> = (0..200).collect();
        for s in swaps {
            let s = s.max(1);
            order.swap(s, s + 1);
        }
        let max_displacement = order.iter().enumerate().map(|(i, &s)| (i as i64 - s as i64).unsigned_abs()).max().unwrap_or(0);
        prop_assume!(max_displacement < 16);
        let mut buf = ReorderBuffer::new(ReorderConfig { max_packets: 32, max_delay: Duration::from_secs(10) });
        let t = t0();
        let mut out = Vec::new();
        for (i, &seq) in order.iter().enumerate() {
            buf.push(seq, t + Duration::from_millis(i as u64), seq);
            while let Some(r) = buf.pop() {
                out.push(r);
            }
        }
        let want: Vec<_> = (0..200).map(|seq| Released::Packet { seq, item: seq }).collect();
        prop_assert_eq!(out, want);
    }

    #[test]
    fn track_depacketizers_survive_shuffled_arrivals(
        codec in 0usize..5,
        steps in packets(),
        order in proptest::collection::vec(any::<proptest::sample::Index>(), 0..40),
    ) {
        let track = RecordTrack {
            kind: if codec == 0 { Kind::Audio } else { Kind::Video },
            payloads: vec![RecordPayload { pt: 96, codec: CODECS[codec], clock_rate: 90_000 }],
        };
        let mut d = TrackDepacketizer::new(&track);
        let t = t0();
        let (mut seq, mut ts) = (0u64, 0u64);
        let mut pkts: Vec<RecordedPacket> = steps
            .iter()
            .map(|(seq_step, ts_step, marker, payload)| {
                seq += seq_step;
                ts += ts_step;
                RecordedPacket {
                    publication: PeerId(1),
                    track_idx: 0,
                    pt: if payload.len() == 7 { 97 } else { 96 },
                    seq,
                    ts,
                    marker: *marker,
                    arrival: t,
                    audio_level: None,
                    voice_activity: None,
                    payload: Arc::from(&payload[..]),
                }
            })
            .collect();
        for (i, index) in order.iter().enumerate() {
            if !pkts.is_empty() {
                let (len, j) = (pkts.len(), index.index(pkts.len()));
                pkts.swap(i % len, j);
            }
        }
        let mut frames = 0;
        for (i, mut pkt) in pkts.into_iter().enumerate() {
            pkt.arrival = t + Duration::from_millis(i as u64 * 7);
            d.push(&pkt);
            while d.poll_frame().is_some() {
                frames += 1;
            }
        }
        d.advance(t + Duration::from_secs(60));
        d.flush();
        while d.poll_frame().is_some() {
            frames += 1;
        }
        let stats = d.stats();
        prop_assert_eq!(stats.frames, frames);
        prop_assert_eq!(stats.packets, steps.len() as u64);
    }
}
