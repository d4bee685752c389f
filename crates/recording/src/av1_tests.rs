//! AV1 depacketizer tests on hand-built packets (AOM RTP payload format, section 4).

use super::*;
use crate::av1_seq::tests::sequence_header;
use crate::testutil::{feed, summary, Run, P};

/// A frame OBU (type 6) without size field.
fn frame_obu(body: &[u8]) -> Vec<u8> {
    [0x30].iter().chain(body).copied().collect()
}

/// The sequence header OBU without its size field, as an RTP sender puts it.
fn seq_obu() -> Vec<u8> {
    let with_size = sequence_header(1280, 720, 8);
    [0x08].iter().chain(&with_size[2..]).copied().collect()
}

/// The same OBU in the low overhead format: size field set, LEB128 size.
fn sized(obu: &[u8]) -> Vec<u8> {
    let header_len = if obu[0] & 0x04 != 0 { 2 } else { 1 };
    let mut out = vec![obu[0] | 0x02];
    out.extend(&obu[1..header_len]);
    write_leb128((obu.len() - header_len) as u64, &mut out);
    out.extend(&obu[header_len..]);
    out
}

/// A packet: aggregation header, then elements with lengths except the last when `w` > 0.
fn packet(z: bool, y: bool, w: u8, n: bool, elements: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![u8::from(z) << 7 | u8::from(y) << 6 | w << 4 | u8::from(n) << 3];
    for (i, e) in elements.iter().enumerate() {
        if w == 0 || i + 1 < elements.len() {
            write_leb128(e.len() as u64, &mut out);
        }
        out.extend(*e);
    }
    out
}

/// A depacketizer that took a keyframe at sequence number 0 (see the H.264 tests).
fn primed() -> Av1Depacketizer {
    let mut d = Av1Depacketizer::new();
    let packet = packet(false, false, 1, true, &[&frame_obu(&[1])]);
    let (frames, _) = run(&mut d, &[(0, 1_000_000, true, packet)]);
    assert_eq!(frames.len(), 1);
    d
}

fn run(d: &mut Av1Depacketizer, packets: &[P]) -> Run {
    let (frames, results) = feed(|p, out| d.push(p, out), packets);
    (summary(&frames), results)
}

#[test]
fn a_keyframe_temporal_unit_in_one_packet() {
    let mut d = Av1Depacketizer::new();
    let (seq, frame) = (seq_obu(), frame_obu(&[1, 2, 3, 4]));
    let (frames, results) = run(
        &mut d,
        &[(1, 0, true, packet(false, false, 2, true, &[&seq, &frame]))],
    );
    assert_eq!(results, [Ok(())]);
    let want: Vec<u8> = sized(&seq).into_iter().chain(sized(&frame)).collect();
    assert_eq!(frames, [(0, true, want)]);
    assert_eq!(d.sequence_header(), Some(&sized(&seq)[..]));
    assert_eq!(d.size(), Some((1280, 720)));
    let av1c = d.av1c().unwrap();
    assert_eq!(&av1c[..4], [0x81, 0x08, 0x0c, 0x00]);
    assert_eq!(&av1c[4..], sized(&seq));
    assert!(!d.waiting_for_keyframe());
}

#[test]
fn elements_with_lengths_and_obus_split_across_packets() {
    let mut d = Av1Depacketizer::new();
    let seq = seq_obu();
    let big = frame_obu(&(0..50).collect::<Vec<u8>>());
    let delta = frame_obu(&[9, 9]);
    let (frames, results) = run(
        &mut d,
        &[
            // W = 0: every element has its length; the frame OBU continues (Y).
            (
                1,
                0,
                false,
                packet(false, true, 0, true, &[&seq, &big[..10]]),
            ),
            (2, 0, false, packet(true, true, 1, false, &[&big[10..30]])),
            (3, 0, true, packet(true, false, 1, false, &[&big[30..]])),
            (4, 3000, true, packet(false, false, 1, false, &[&delta])),
        ],
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let key: Vec<u8> = sized(&seq).into_iter().chain(sized(&big)).collect();
    assert_eq!(frames, [(0, true, key), (3000, false, sized(&delta))]);
}

#[test]
fn delimiters_tile_lists_and_padding_are_dropped_and_headers_kept() {
    let mut d = Av1Depacketizer::new();
    let td = [0x10];
    let tile_list = [0x40, 1, 2];
    let padding = [0x78, 0, 0, 0];
    // A frame OBU with an extension header (temporal 1, spatial 0) and one already sized.
    let with_ext = [0x34, 0x20, 7, 7, 7];
    let already_sized = [0x32, 0x02, 5, 6];
    let (frames, results) = run(
        &mut d,
        &[(
            1,
            0,
            true,
            packet(
                false,
                false,
                0,
                true,
                &[
                    &td,
                    &seq_obu(),
                    &tile_list,
                    &with_ext,
                    &padding,
                    &already_sized,
                ],
            ),
        )],
    );
    assert_eq!(results, [Ok(())]);
    let want: Vec<u8> = [
        sized(&seq_obu()),
        vec![0x36, 0x20, 3, 7, 7, 7],
        already_sized.to_vec(),
    ]
    .concat();
    assert_eq!(frames, [(0, true, want)]);
}

#[test]
fn keyframes_come_from_the_n_bit_or_a_sequence_header() {
    let mut d = Av1Depacketizer::new();
    let frame = frame_obu(&[1]);
    let (frames, _) = run(
        &mut d,
        &[
            (1, 0, true, packet(false, false, 1, true, &[&frame])),
            (2, 3000, true, packet(false, false, 1, false, &[&frame])),
            (
                3,
                6000,
                true,
                packet(false, false, 2, false, &[&seq_obu(), &frame]),
            ),
        ],
    );
    let keys: Vec<_> = frames.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(keys, [(0, true), (3000, false), (6000, true)]);
    // Before any keyframe, temporal units are dropped.
    let mut d = Av1Depacketizer::new();
    let (frames, _) = run(
        &mut d,
        &[(1, 0, true, packet(false, false, 1, false, &[&frame]))],
    );
    assert!(frames.is_empty());
    assert!(d.waiting_for_keyframe());
}

#[test]
fn a_loss_waits_for_a_temporal_unit_that_visibly_starts() {
    let mut d = Av1Depacketizer::new();
    let (seq, frame) = (seq_obu(), frame_obu(&[1, 2, 3]));
    let (frames, _) = run(
        &mut d,
        &[
            (1, 0, true, packet(false, false, 2, true, &[&seq, &frame])),
            // 2 lost; 3 is a whole delta TU: dropped.
            (3, 6000, true, packet(false, false, 1, false, &[&frame])),
            // 4 lost; 5 would be a keyframe, but it continues an OBU: its head is gone.
            (5, 9000, true, packet(true, false, 1, false, &[&frame])),
            // 7 starts a TU with a sequence header right after a gap: kept.
            (
                7,
                12_000,
                true,
                packet(false, false, 2, false, &[&seq, &frame]),
            ),
        ],
    );
    let keys: Vec<_> = frames.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(keys, [(0, true), (12_000, true)]);
    let stats = d.stats();
    assert_eq!((stats.gaps, stats.dropped_frames), (3, 2));
}

#[test]
fn broken_packets_are_errors() {
    let frame = frame_obu(&[1, 2]);
    let cases: Vec<(Vec<P>, DepacketizeError)> = vec![
        (vec![(1, 0, true, vec![])], DepacketizeError::Empty),
        (vec![(1, 0, true, vec![0x10])], DepacketizeError::Truncated),
        (
            vec![(1, 0, true, packet(true, false, 1, false, &[&frame]))],
            DepacketizeError::MissingStart,
        ),
        (
            vec![
                (1, 0, false, packet(false, true, 1, false, &[&frame])),
                (2, 0, true, packet(false, false, 1, false, &[&frame])),
            ],
            DepacketizeError::IncompleteFragment,
        ),
        (
            vec![(1, 0, true, packet(false, true, 1, false, &[&frame]))],
            DepacketizeError::IncompleteFragment,
        ),
        (
            vec![(1, 0, true, vec![0x00, 0x05, 0x30])],
            DepacketizeError::Truncated,
        ),
        (
            vec![(1, 0, true, vec![0x00, 0xff, 0xff])],
            DepacketizeError::Truncated,
        ),
        (
            vec![(1, 0, true, vec![0x00, 0x00])],
            DepacketizeError::Malformed("empty AV1 OBU element"),
        ),
        (
            // W = 2 but a single element, with its length.
            vec![(1, 0, true, vec![0x20, 3, 0x30, 1, 2])],
            DepacketizeError::Malformed("AV1 OBU element count differs from W"),
        ),
        (
            vec![(1, 0, true, packet(false, false, 1, false, &[&[0xb0, 1]]))],
            DepacketizeError::Malformed("AV1 obu_forbidden_bit set"),
        ),
        (
            vec![(
                1,
                0,
                true,
                packet(false, false, 1, false, &[&[0x32, 0x05, 1]]),
            )],
            DepacketizeError::Malformed("AV1 OBU size differs from its element"),
        ),
        (
            vec![(1, 0, true, packet(false, false, 1, false, &[&[0x34]]))],
            DepacketizeError::Truncated,
        ),
    ];
    for (packets, want) in cases {
        let mut d = primed();
        let (frames, results) = run(&mut d, &packets);
        assert!(
            results.contains(&Err(want.clone())),
            "{want:?}: {results:?}"
        );
        assert!(frames.is_empty());
        assert_eq!(d.stats().errors, 1, "{want:?}");
    }
}
