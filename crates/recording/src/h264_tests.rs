//! H.264 depacketizer tests on hand-built RFC 6184 packets.

use super::*;
use crate::h264_sps::tests::sps;
use crate::testutil::{feed, summary, Run, P};

const PPS_NAL: [u8; 4] = [0x68, 0xce, 0x3c, 0x80];
/// IDR slice, `first_mb_in_slice` 0 (first bit 1).
const IDR_NAL: [u8; 5] = [0x65, 0x88, 0x84, 0x21, 0x43];
/// Non-IDR slice, `first_mb_in_slice` 0.
const P_NAL: [u8; 4] = [0x41, 0x9a, 0x02, 0x03];
const AUD_NAL: [u8; 2] = [0x09, 0xf0];

/// AVCC: 4-byte length then the NAL unit, for each.
fn avcc(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nals {
        out.extend((nal.len() as u32).to_be_bytes());
        out.extend(*nal);
    }
    out
}

fn stap_a(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![0x78];
    for nal in nals {
        out.extend((nal.len() as u16).to_be_bytes());
        out.extend(*nal);
    }
    out
}

/// Splits a NAL unit into FU-A payloads of at most `chunk` bytes of NAL payload.
fn fu_a(nal: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let indicator = (nal[0] & 0xe0) | 28;
    let chunks: Vec<_> = nal[1..].chunks(chunk).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut fu = nal[0] & 0x1f;
            if i == 0 {
                fu |= 0x80;
            }
            if i == chunks.len() - 1 {
                fu |= 0x40;
            }
            let mut p = vec![indicator, fu];
            p.extend(*c);
            p
        })
        .collect()
}

/// A depacketizer that took a keyframe at sequence number 0, so that the packets of a
/// test (from 1) are not the first ones (which are kept only if they start a frame).
fn primed() -> H264Depacketizer {
    let mut d = H264Depacketizer::new();
    let (frames, _) = run(&mut d, &[(0, 1_000_000, true, IDR_NAL.to_vec())]);
    assert_eq!(frames.len(), 1);
    d
}

fn run(d: &mut H264Depacketizer, packets: &[P]) -> Run {
    let (frames, results) = feed(|p, out| d.push(p, out), packets);
    (summary(&frames), results)
}

/// A keyframe as Chrome sends it: STAP-A with SPS and PPS, then the IDR in FU-A.
fn keyframe_packets(seq: u64, ts: u64, idr: &[u8]) -> Vec<P> {
    let sps = sps(66, 40, 30, None);
    let mut packets = vec![(seq, ts, false, stap_a(&[&sps, &PPS_NAL]))];
    let fus = fu_a(idr, 2);
    let n = fus.len();
    for (i, fu) in fus.into_iter().enumerate() {
        packets.push((seq + 1 + i as u64, ts, i == n - 1, fu));
    }
    packets
}

#[test]
fn single_nal_unit_packets_make_an_avcc_access_unit() {
    let mut d = H264Depacketizer::new();
    let sps = sps(66, 40, 30, None);
    let (frames, results) = run(
        &mut d,
        &[
            (1, 3000, false, sps.clone()),
            (2, 3000, false, PPS_NAL.to_vec()),
            (3, 3000, true, IDR_NAL.to_vec()),
        ],
    );
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(frames, [(3000, true, avcc(&[&sps, &PPS_NAL, &IDR_NAL]))]);
    assert_eq!(d.parameter_sets(), Some((sps, PPS_NAL.to_vec())));
    assert_eq!(d.size(), Some((640, 480)));
    assert!(!d.waiting_for_keyframe());
}

#[test]
fn stap_a_is_split_and_fu_a_reassembled() {
    let mut d = H264Depacketizer::new();
    let idr: Vec<u8> = IDR_NAL.iter().copied().chain(0..20).collect();
    let mut packets = keyframe_packets(10, 9000, &idr);
    packets.push((packets.len() as u64 + 10, 12_000, true, P_NAL.to_vec()));
    let (frames, results) = run(&mut d, &packets);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let sps = sps(66, 40, 30, None);
    assert_eq!(
        frames,
        [
            (9000, true, avcc(&[&sps, &PPS_NAL, &idr])),
            (12_000, false, avcc(&[&P_NAL])),
        ]
    );
    let stats = d.stats();
    assert_eq!(
        (stats.frames, stats.errors, stats.dropped_frames),
        (2, 0, 0)
    );
}

#[test]
fn delimiters_and_filler_are_dropped() {
    let mut d = H264Depacketizer::new();
    let (frames, _) = run(
        &mut d,
        &[
            (1, 0, false, AUD_NAL.to_vec()),
            (
                2,
                0,
                false,
                stap_a(&[&[0x06, 0x05, 0x01], &IDR_NAL, &[0x0c, 0xff, 0xff]]),
            ),
            (3, 0, true, vec![0x1e, 1, 2]), // undefined type 30: ignored
            (4, 3000, true, stap_a(&[&AUD_NAL])),
        ],
    );
    assert_eq!(frames, [(0, true, avcc(&[&[0x06, 0x05, 0x01], &IDR_NAL]))]);
    // The access unit of only a delimiter is no frame at all.
    assert_eq!(d.stats().frames, 1);
    assert_eq!(d.stats().dropped_frames, 0);
}

#[test]
fn a_timestamp_change_ends_a_frame_without_marker() {
    let mut d = H264Depacketizer::new();
    let (frames, _) = run(
        &mut d,
        &[
            (1, 0, false, IDR_NAL.to_vec()),
            (2, 3000, false, P_NAL.to_vec()),
            (3, 6000, false, P_NAL.to_vec()),
        ],
    );
    assert_eq!(
        frames,
        [(0, true, avcc(&[&IDR_NAL])), (3000, false, avcc(&[&P_NAL]))]
    );
    // The last one has no marker and nothing after it: a half frame.
    d.flush();
    assert_eq!(d.stats().dropped_frames, 1);
}

#[test]
fn a_lost_fragment_drops_frames_until_the_next_idr() {
    let mut d = H264Depacketizer::new();
    let idr: Vec<u8> = IDR_NAL.iter().copied().chain(0..10).collect();
    let mut packets = keyframe_packets(1, 0, &idr);
    let next = packets.len() as u64 + 1;
    // A delta frame in three fragments, the middle one lost.
    let p: Vec<u8> = P_NAL.iter().copied().chain(0..6).collect();
    let fus = fu_a(&p, 3);
    packets.push((next, 3000, false, fus[0].clone()));
    packets.push((next + 2, 3000, true, fus[2].clone()));
    // A whole delta frame: still dropped, its reference is gone.
    packets.push((next + 3, 6000, true, P_NAL.to_vec()));
    packets.extend(keyframe_packets(next + 4, 9000, &idr));
    let (frames, results) = run(&mut d, &packets);
    assert!(results.iter().all(Result::is_ok));
    let keys: Vec<_> = frames.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(keys, [(0, true), (9000, true)]);
    let stats = d.stats();
    assert_eq!((stats.gaps, stats.dropped_frames, stats.errors), (1, 2, 0));
}

#[test]
fn waiting_for_keyframe_until_an_idr_arrives() {
    let mut d = H264Depacketizer::new();
    assert!(d.waiting_for_keyframe());
    let (frames, _) = run(&mut d, &[(1, 0, true, P_NAL.to_vec())]);
    assert!(frames.is_empty());
    assert!(d.waiting_for_keyframe());
    let (frames, _) = run(&mut d, &[(2, 3000, true, IDR_NAL.to_vec())]);
    assert_eq!(frames.len(), 1);
    assert!(!d.waiting_for_keyframe());
}

#[test]
fn an_idr_whose_head_was_lost_is_dropped() {
    let mut d = H264Depacketizer::new();
    // A second slice (first_mb_in_slice > 0: its first bit is 0) after a gap.
    let second_slice = [0x65, 0x0b, 0x12];
    let (frames, _) = run(
        &mut d,
        &[
            (1, 0, true, IDR_NAL.to_vec()),
            (3, 3000, true, second_slice.to_vec()),
            // After another gap, an IDR whose first packet opens the access unit.
            (5, 6000, false, IDR_NAL.to_vec()),
            (6, 6000, true, second_slice.to_vec()),
        ],
    );
    let keys: Vec<_> = frames.iter().map(|f| f.0).collect();
    assert_eq!(keys, [0, 6000]);
    assert_eq!(frames[1].2, avcc(&[&IDR_NAL, &second_slice]));
}

#[test]
fn fragments_without_a_start_or_an_end_are_errors() {
    let mut d = primed();
    let p: Vec<u8> = IDR_NAL.iter().copied().chain(0..6).collect();
    let fus = fu_a(&p, 4);
    assert_eq!(fus.len(), 3);
    let (frames, results) = run(
        &mut d,
        &[
            // A continuation without its start (and no gap to explain it).
            (1, 0, false, fus[1].clone()),
            (2, 0, true, fus[2].clone()),
            // The marker inside a fragment.
            (3, 3000, false, fus[0].clone()),
            (4, 3000, true, fus[1].clone()),
            // A new start inside a fragment.
            (5, 6000, false, fus[0].clone()),
            (6, 6000, false, fus[0].clone()),
            (7, 6000, true, fus[2].clone()),
            (8, 9000, false, fus[0].clone()),
            (9, 9000, false, fus[1].clone()),
            (10, 9000, true, fus[2].clone()),
        ],
    );
    assert_eq!(results[0], Err(DepacketizeError::MissingStart));
    assert_eq!(results[3], Err(DepacketizeError::IncompleteFragment));
    assert_eq!(results[5], Err(DepacketizeError::IncompleteFragment));
    assert_eq!(frames, [(9000, true, avcc(&[&p]))]);
    // The primed keyframe and the last one.
    let stats = d.stats();
    assert_eq!(
        (stats.errors, stats.dropped_frames, stats.frames),
        (3, 3, 2)
    );
}

#[test]
fn interleaved_mode_and_malformed_packets_are_refused() {
    for payload in [
        vec![0x79, 0, 1],    // STAP-B
        vec![0x7a, 0, 1],    // MTAP16
        vec![0x7b, 0, 1],    // MTAP24
        vec![0x7d, 0x85, 1], // FU-B
    ] {
        let mut d = primed();
        let (_, results) = run(&mut d, &[(1, 0, true, payload)]);
        assert!(matches!(results[0], Err(DepacketizeError::Unsupported(_))));
        assert_eq!(d.stats().errors, 1);
    }
    let malformed: [(&[u8], DepacketizeError); 7] = [
        (&[], DepacketizeError::Empty),
        (
            &[0xe5, 1],
            DepacketizeError::Malformed("forbidden_zero_bit set"),
        ),
        (&[0x78], DepacketizeError::Malformed("empty STAP-A")),
        (&[0x78, 0, 5, 0x65], DepacketizeError::Truncated),
        (&[0x78, 0, 1, 0x65, 0], DepacketizeError::Truncated),
        (
            &[0x78, 0, 0],
            DepacketizeError::Malformed("empty NAL unit in STAP-A"),
        ),
        (&[0x7c], DepacketizeError::Truncated),
    ];
    for (payload, want) in malformed {
        let mut d = primed();
        let (frames, results) = run(&mut d, &[(1, 0, true, payload.to_vec())]);
        assert_eq!(results[0], Err(want), "{payload:?}");
        assert!(frames.is_empty());
    }
    // A nested STAP-A inside a STAP-A.
    let mut d = primed();
    let (_, results) = run(&mut d, &[(1, 0, true, stap_a(&[&[0x78, 0, 1]]))]);
    assert!(matches!(results[0], Err(DepacketizeError::Malformed(_))));
}

#[test]
fn other_payload_types_keep_the_sequence_continuous() {
    let mut d = H264Depacketizer::new();
    let (frames, _) = run(&mut d, &[(1, 0, true, IDR_NAL.to_vec())]);
    assert_eq!(frames.len(), 1);
    d.skip(2);
    let (frames, _) = run(&mut d, &[(3, 3000, true, P_NAL.to_vec())]);
    assert_eq!(frames.len(), 1);
    assert_eq!(d.stats().gaps, 0);
}

#[test]
fn the_avcc_record_follows_the_latest_parameter_sets() {
    let mut d = H264Depacketizer::new();
    assert_eq!(d.avc_decoder_configuration_record(), None);
    let (_, _) = run(&mut d, &keyframe_packets(1, 0, &IDR_NAL));
    let first = d.avc_decoder_configuration_record().unwrap();
    assert_eq!(first[1], 66);
    let hd = sps(100, 80, 45, None);
    let (_, _) = run(
        &mut d,
        &[
            (4, 3000, false, hd.clone()),
            (5, 3000, true, IDR_NAL.to_vec()),
        ],
    );
    assert_eq!(d.size(), Some((1280, 720)));
    let second = d.avc_decoder_configuration_record().unwrap();
    assert_eq!(
        second,
        avc_decoder_configuration_record(&hd, &PPS_NAL).unwrap()
    );
}

#[test]
fn parameter_sets_on_their_own_go_before_the_next_picture() {
    let mut d = H264Depacketizer::new();
    let sps = sps(66, 40, 30, None);
    let sei = [0x06, 0x05, 0x01];
    let (frames, results) = run(
        &mut d,
        &[
            (1, 0, true, stap_a(&[&sps, &PPS_NAL])),
            (2, 3000, true, IDR_NAL.to_vec()),
            (3, 6000, true, sei.to_vec()),
            (4, 9000, true, P_NAL.to_vec()),
        ],
    );
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        frames,
        [
            (3000, true, avcc(&[&sps, &PPS_NAL, &IDR_NAL])),
            (9000, false, avcc(&[&sei, &P_NAL])),
        ]
    );
    let stats = d.stats();
    assert_eq!((stats.frames, stats.dropped_frames), (2, 0));
}
