//! VP9 depacketizer tests on hand-built RFC 9628 packets.

use super::*;
use crate::h264_sps::tests::BitWriter;
use crate::testutil::{feed, summary, Run, P};

/// A profile 0 keyframe header of the given size, and some data.
fn keyframe(width: u32, height: u32) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.bits(2, 2)
        .bits(2, 0)
        .bit(false)
        .bit(false)
        .bit(true)
        .bit(false);
    w.bits(24, 0x49_83_42).bits(3, 1).bit(false);
    w.bits(16, width - 1).bits(16, height - 1);
    let mut data = w.finish();
    data.extend([0xaa, 0xbb, 0xcc]);
    data
}

/// An inter frame: marker 2, profile 0, not shown-existing, frame_type 1.
const INTER: [u8; 4] = [0x86, 0x11, 0x22, 0x33];

fn with(descriptor: &[u8], data: &[u8]) -> Vec<u8> {
    descriptor.iter().chain(data).copied().collect()
}

/// A depacketizer that took a keyframe at sequence number 0 (see the H.264 tests).
fn primed() -> Vp9Depacketizer {
    let mut d = Vp9Depacketizer::new();
    let (frames, _) = run(
        &mut d,
        &[(0, 1_000_000, true, with(&[0x0c], &keyframe(64, 64)))],
    );
    assert_eq!(frames.len(), 1);
    d
}

fn run(d: &mut Vp9Depacketizer, packets: &[P]) -> Run {
    let (frames, results) = feed(|p, out| d.push(p, out), packets);
    (summary(&frames), results)
}

#[test]
fn descriptors_of_every_shape_are_stripped() {
    let key = keyframe(640, 480);
    let descriptors: [&[u8]; 7] = [
        &[0x0c],                         // B, E
        &[0x8c, 0x05],                   // I 7-bit
        &[0x8c, 0x81, 0x02],             // I 15-bit
        &[0xac, 0x81, 0x02, 0x20, 0x07], // I, L non-flexible: TID 1, SID 0, TL0PICIDX
        &[0xbc, 0x81, 0x02, 0x00],       // I, L flexible (no TL0PICIDX)
        // I, V: N_S 2 layers with sizes, G with 2 pictures (R 1 and 2 P_DIFFs).
        &[
            0x8e, 0x05, 0x38, 0x01, 0x40, 0x00, 0xf0, 0x02, 0x80, 0x01, 0xe0, 0x02, 0x04, 0x01,
            0x08, 0x01, 0x02,
        ],
        &[0xae, 0x05, 0x00, 0x07, 0x08, 0x01, 0x00], // I, L, V: SS without Y, G with 1 picture
    ];
    for descriptor in descriptors {
        let mut d = Vp9Depacketizer::new();
        let (frames, results) = run(&mut d, &[(1, 0, true, with(descriptor, &key))]);
        assert_eq!(results, [Ok(())], "{descriptor:?}");
        assert_eq!(frames, [(0, true, key.clone())], "{descriptor:?}");
        assert_eq!(d.size(), Some((640, 480)));
        assert_eq!(d.profile(), Some(0));
    }
}

#[test]
fn flexible_mode_reference_indices_are_skipped() {
    let mut d = Vp9Depacketizer::new();
    let key = keyframe(320, 240);
    let (frames, results) = run(
        &mut d,
        &[
            (1, 0, true, with(&[0x9c, 0x01], &key)),
            // I, P, F, B, E with three P_DIFFs chained by N.
            (2, 3000, true, with(&[0xdc, 0x02, 0x03, 0x05, 0x06], &INTER)),
            (3, 6000, true, with(&[0xdc, 0x03, 0x02], &INTER)),
        ],
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        frames,
        [
            (0, true, key),
            (3000, false, INTER.to_vec()),
            (6000, false, INTER.to_vec())
        ]
    );
    // A fourth chained index is refused.
    let (_, results) = run(
        &mut d,
        &[(
            4,
            9000,
            true,
            with(&[0xdc, 0x04, 0x03, 0x03, 0x03, 0x02], &INTER),
        )],
    );
    assert!(matches!(results[0], Err(DepacketizeError::Malformed(_))));
}

#[test]
fn a_layer_frame_spans_packets_from_b_to_e() {
    let mut d = Vp9Depacketizer::new();
    let key = keyframe(640, 360);
    let (frames, results) = run(
        &mut d,
        &[
            (1, 0, false, with(&[0x88, 0x01], &key[..6])),
            (2, 0, false, with(&[0x80, 0x01], &key[6..9])),
            (3, 0, true, with(&[0x84, 0x01], &key[9..])),
            (4, 3000, true, with(&[0xcc, 0x02], &INTER)),
        ],
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(frames, [(0, true, key), (3000, false, INTER.to_vec())]);
    assert_eq!(d.size(), Some((640, 360)));
}

#[test]
fn svc_keeps_spatial_layer_0_only() {
    let mut d = Vp9Depacketizer::new();
    let key0 = keyframe(320, 180);
    let key1 = keyframe(640, 360);
    let (frames, results) = run(
        &mut d,
        &[
            // Picture 0: SL0 keyframe, SL1 inter-layer predicted (P 0, D 1).
            (1, 0, false, with(&[0xac, 0x01, 0x00, 0x00], &key0)),
            (2, 0, true, with(&[0xac, 0x01, 0x03, 0x00], &key1)),
            // Picture 1: both layers inter.
            (3, 3000, false, with(&[0xec, 0x02, 0x00, 0x00], &INTER)),
            (
                4,
                3000,
                true,
                with(&[0xec, 0x02, 0x02, 0x00], &[0x86, 0xff]),
            ),
        ],
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(frames, [(0, true, key0), (3000, false, INTER.to_vec())]);
    assert_eq!(d.size(), Some((320, 180)));
}

#[test]
fn a_loss_drops_pictures_until_a_keyframe() {
    let mut d = Vp9Depacketizer::new();
    let key = keyframe(640, 480);
    let (frames, _) = run(
        &mut d,
        &[
            (1, 0, true, with(&[0x0c], &key)),
            (2, 3000, false, with(&[0x48], &INTER)),
            (4, 3000, true, with(&[0x44], &INTER)),
            (5, 6000, true, with(&[0x4c], &INTER)),
            // A picture with P 0 but an inter frame header is no keyframe.
            (6, 9000, true, with(&[0x0c], &INTER)),
            (7, 12_000, true, with(&[0x0c], &key)),
        ],
    );
    let keys: Vec<_> = frames.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(keys, [(0, true), (12_000, true)]);
    assert_eq!(d.stats().dropped_frames, 3);
}

#[test]
fn broken_layer_frames_are_errors() {
    let key = keyframe(640, 480);
    let cases: [(&[P], DepacketizeError); 4] = [
        (
            &[(1, 0, true, with(&[0x04], &key))],
            DepacketizeError::MissingStart,
        ),
        (
            &[
                (1, 0, false, with(&[0x08], &key)),
                (2, 0, true, with(&[0x08], &key)),
            ],
            DepacketizeError::IncompleteFragment,
        ),
        (
            &[(1, 0, true, with(&[0x08], &key))],
            DepacketizeError::IncompleteFragment,
        ),
        (
            &[(1, 0, true, with(&[0x0c], &[0x06, 1]))],
            DepacketizeError::Malformed("VP9 frame marker"),
        ),
    ];
    for (packets, want) in cases {
        let mut d = primed();
        let (frames, results) = run(&mut d, packets);
        assert!(
            results.contains(&Err(want.clone())),
            "{want:?}: {results:?}"
        );
        assert!(frames.is_empty());
        assert_eq!(d.stats().errors, 1);
    }
    let truncated: [&[u8]; 7] = [
        &[],
        &[0x0c],
        &[0x8c],
        &[0x8c, 0x80],
        &[0xac, 0x01, 0x00],
        &[0x1e, 0x10],                   // V with Y and one layer, no sizes
        &[0x0e, 0x08, 0x02, 0x0c, 0x01], // V with G: 2 pictures, the second cut
    ];
    for payload in truncated {
        let mut d = primed();
        let (_, results) = run(&mut d, &[(1, 0, true, payload.to_vec())]);
        assert!(
            matches!(
                results[0],
                Err(DepacketizeError::Truncated | DepacketizeError::Empty)
            ),
            "{payload:?}: {results:?}"
        );
    }
    // A keyframe header cut short.
    let mut d = primed();
    let (_, results) = run(&mut d, &[(1, 0, true, with(&[0x0c], &key[..5]))]);
    assert_eq!(results[0], Err(DepacketizeError::Truncated));
}
