//! Round trips: frames packetized by small RFC-following test packetizers, reordered and
//! thinned out at random, then depacketized by a `TrackDepacketizer`. Without loss every
//! frame comes back byte for byte; with loss, whatever comes back is still exact (never a
//! damaged frame), starts at a keyframe, and stays in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use podium_media::{Kind, PeerId, RecordCodec, RecordPayload, RecordTrack, RecordedPacket};
use podium_recording::TrackDepacketizer;
use proptest::prelude::*;

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

const MTU: usize = 100;

/// A real x264 SPS (High 3.1, 1280x720) and a PPS.
const SPS: [u8; 26] = [
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
    0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
];
const PPS: [u8; 4] = [0x68, 0xeb, 0xe3, 0xcb];

/// One frame: its packets' payloads and what should come out.
struct Packetized {
    payloads: Vec<Vec<u8>>,
    expected: Vec<u8>,
    /// Also acceptable (H.264: a keyframe whose parameter sets were lost, as they are known).
    also: Option<Vec<u8>>,
}

fn avcc(nals: &[&[u8]]) -> Vec<u8> {
    nals.iter()
        .flat_map(|n| {
            (n.len() as u32)
                .to_be_bytes()
                .into_iter()
                .chain(n.iter().copied())
        })
        .collect()
}

fn h264(key: bool, body: &[u8]) -> Packetized {
    // Up to three slices: the first with first_mb_in_slice 0 (first bit 1), the others not.
    let slices: Vec<Vec<u8>> = body
        .chunks(body.len().div_ceil(3).max(1))
        .enumerate()
        .map(|(k, part)| {
            let first = if k == 0 { 0x88 } else { 0x40 };
            [&[if key { 0x65 } else { 0x41 }, first][..], part].concat()
        })
        .collect();
    let mut payloads = Vec::new();
    if key {
        let mut stap = vec![0x78];
        for nal in [&SPS[..], &PPS[..]] {
            stap.extend((nal.len() as u16).to_be_bytes());
            stap.extend(nal);
        }
        payloads.push(stap);
    }
    for slice in &slices {
        if slice.len() <= MTU {
            payloads.push(slice.clone());
            continue;
        }
        let chunks: Vec<_> = slice[1..].chunks(MTU - 2).collect();
        for (i, c) in chunks.iter().enumerate() {
            let mut fu = slice[0] & 0x1f;
            fu |= if i == 0 { 0x80 } else { 0 } | if i + 1 == chunks.len() { 0x40 } else { 0 };
            payloads.push([&[(slice[0] & 0xe0) | 28, fu][..], c].concat());
        }
    }
    let nals: Vec<&[u8]> = slices.iter().map(Vec::as_slice).collect();
    let with_sets: Vec<&[u8]> = [&SPS[..], &PPS[..]]
        .into_iter()
        .chain(nals.iter().copied())
        .collect();
    Packetized {
        payloads,
        expected: avcc(if key { &with_sets } else { &nals }),
        also: key.then(|| avcc(&nals)),
    }
}

fn vp8(key: bool, picture_id: u16, body: &[u8]) -> Packetized {
    let frame: Vec<u8> = if key {
        [
            &[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01][..],
            body,
        ]
        .concat()
    } else {
        [&[0x31, 0x01, 0x00][..], body].concat()
    };
    let pid = (picture_id & 0x7fff) | 0x8000;
    let payloads = frame
        .chunks(MTU - 4)
        .enumerate()
        .map(|(i, c)| {
            let start = if i == 0 { 0x10 } else { 0 };
            [&[0x80 | start, 0x80][..], &pid.to_be_bytes(), c].concat()
        })
        .collect();
    Packetized {
        payloads,
        expected: frame,
        also: None,
    }
}

fn vp9(key: bool, picture_id: u16, body: &[u8]) -> Packetized {
    let frame: Vec<u8> = if key {
        // Profile 0 keyframe header, 640x480.
        [
            &[0x82, 0x49, 0x83, 0x42, 0x20, 0x27, 0xf0, 0x1d, 0xf0][..],
            body,
        ]
        .concat()
    } else {
        [&[0x86][..], body].concat()
    };
    let pid = (picture_id & 0x7fff) | 0x8000;
    let chunks: Vec<_> = frame.chunks(MTU - 3).collect();
    let payloads = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut b0 = 0x80 | if key { 0 } else { 0x40 };
            b0 |= if i == 0 { 0x08 } else { 0 } | if i + 1 == chunks.len() { 0x04 } else { 0 };
            [&[b0][..], &pid.to_be_bytes(), c].concat()
        })
        .collect();
    Packetized {
        payloads,
        expected: frame,
        also: None,
    }
}

fn av1(key: bool, body: &[u8]) -> Packetized {
    let mut obus = Vec::new();
    if key {
        obus.push(vec![
            0x08, 0x00, 0x00, 0x00, 0x24, 0xc4, 0xff, 0xdf, 0x00, 0x68, 0x02,
        ]);
    }
    obus.push([&[0x30][..], body].concat());
    let expected: Vec<u8> = obus
        .iter()
        .flat_map(|o| {
            let mut sized = vec![o[0] | 0x02];
            leb128(o.len() as u64 - 1, &mut sized);
            sized.extend(&o[1..]);
            sized
        })
        .collect();
    // Elements with lengths (W = 0); an OBU continues into the next packet when full.
    let n = |payloads: &Vec<Vec<u8>>| if key && payloads.is_empty() { 0x08 } else { 0 };
    let (mut payloads, mut packet, mut z) = (Vec::new(), Vec::new(), 0u8);
    for obu in &obus {
        let mut rest = &obu[..];
        while !rest.is_empty() {
            if packet.len() + 4 > MTU - 1 {
                // No room for a length and a byte: the packet ends between two OBUs.
                payloads.push([&[z | n(&payloads)][..], &packet].concat());
                (packet, z) = (Vec::new(), 0);
            }
            let take = rest.len().min(MTU - 1 - packet.len() - 2);
            leb128(take as u64, &mut packet);
            packet.extend(&rest[..take]);
            rest = &rest[take..];
            if !rest.is_empty() {
                payloads.push([&[z | 0x40 | n(&payloads)][..], &packet].concat());
                (packet, z) = (Vec::new(), 0x80);
            }
        }
    }
    payloads.push([&[z | n(&payloads)][..], &packet].concat());
    Packetized {
        payloads,
        expected,
        also: None,
    }
}

fn leb128(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

const CODECS: [RecordCodec; 4] = [
    RecordCodec::H264 {
        profile_level_id: None,
    },
    RecordCodec::Vp8,
    RecordCodec::Vp9,
    RecordCodec::Av1,
];

fn packetize(codec: usize, i: usize, key: bool, body: &[u8]) -> Packetized {
    match codec {
        0 => h264(key, body),
        1 => vp8(key, i as u16, body),
        2 => vp9(key, i as u16, body),
        _ => av1(key, body),
    }
}

/// Frames: (keyframe, body); the first is a keyframe.
fn frames() -> impl Strategy<Value = Vec<(bool, Vec<u8>)>> {
    proptest::collection::vec(
        (
            proptest::bool::weighted(0.15),
            proptest::collection::vec(any::<u8>(), 1..400),
        ),
        1..25,
    )
    .prop_map(|mut f| {
        f[0].0 = true;
        f
    })
}

/// A frame that came out: timestamp, keyframe, data.
type FrameOut = (u64, bool, Vec<u8>);

/// Runs the frames through a track depacketizer; the frames that came out and what was
/// sent.
fn run(
    codec: usize,
    frames: &[(bool, Vec<u8>)],
    drop: &[bool],
    swaps: &[usize],
) -> (Vec<FrameOut>, Vec<Packetized>) {
    let track = RecordTrack {
        kind: Kind::Video,
        payloads: vec![RecordPayload {
            pt: 96,
            codec: CODECS[codec],
            clock_rate: 90_000,
        }],
    };
    let mut d = TrackDepacketizer::new(&track);
    let t = t0();
    let packetized: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(i, (key, body))| packetize(codec, i, *key, body))
        .collect();
    let mut packets = Vec::new();
    for (i, p) in packetized.iter().enumerate() {
        for (j, payload) in p.payloads.iter().enumerate() {
            packets.push(RecordedPacket {
                publication: PeerId(7),
                track_idx: 0,
                pt: 96,
                seq: 5000 + packets.len() as u64,
                ts: 3000 * i as u64,
                marker: j + 1 == p.payloads.len(),
                arrival: t,
                audio_level: None,
                voice_activity: None,
                payload: Arc::from(&payload[..]),
            });
        }
    }
    // Reorder a little (never the first packet, which sets the sequence), then lose some.
    for &s in swaps {
        if packets.len() > 2 {
            let s = 1 + s % (packets.len() - 2);
            packets.swap(s, s + 1);
        }
    }
    let mut out = Vec::new();
    for (i, mut pkt) in packets.into_iter().enumerate() {
        if drop.get(i).copied().unwrap_or(false) {
            continue;
        }
        pkt.arrival = t + Duration::from_millis(i as u64);
        d.push(&pkt);
        while let Some(f) = d.poll_frame() {
            out.push((f.ts, f.keyframe, f.data));
        }
    }
    d.flush();
    while let Some(f) = d.poll_frame() {
        out.push((f.ts, f.keyframe, f.data));
    }
    let stats = d.stats();
    assert_eq!(stats.frames, out.len() as u64);
    (out, packetized)
}

proptest! {
    #[test]
    fn without_loss_every_frame_comes_back(
        codec in 0usize..4,
        frames in frames(),
        swaps in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let (out, packetized) = run(codec, &frames, &[], &swaps);
        let want: Vec<_> = packetized
            .into_iter()
            .zip(&frames)
            .enumerate()
            .map(|(i, (p, (key, _)))| (3000 * i as u64, *key, p.expected))
            .collect();
        prop_assert_eq!(out, want);
    }

    #[test]
    fn with_loss_what_comes_back_is_exact(
        codec in 0usize..4,
        frames in frames(),
        drop in proptest::collection::vec(proptest::bool::weighted(0.05), 0..400),
        swaps in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let (out, packetized) = run(codec, &frames, &drop, &swaps);
        if let Some(first) = out.first() {
            prop_assert!(first.1, "the first frame out is a keyframe");
        }
        prop_assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
        for (ts, key, data) in &out {
            let i = (*ts / 3000) as usize;
            prop_assert_eq!(*key, frames[i].0);
            let p = &packetized[i];
            prop_assert!(
                *data == p.expected || p.also.as_ref() == Some(data),
                "frame {} differs", i
            );
        }
    }
}
