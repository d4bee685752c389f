//! Track depacketizer tests: reordering, payload type choice, counters.

use std::sync::Arc;
use std::time::Duration;

use podium_media::PeerId;

use super::*;
use crate::testutil::t0;

/// VP8 keyframe and interframe payloads (descriptor `S`, PID 0).
const VP8_KEY: [u8; 11] = [
    0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01,
];
const VP8_INTER: [u8; 5] = [0x10, 0x31, 0x01, 0x00, 0xcc];

fn video_track() -> RecordTrack {
    RecordTrack {
        kind: Kind::Video,
        payloads: vec![
            RecordPayload {
                pt: 96,
                codec: RecordCodec::Vp8,
                clock_rate: 90_000,
            },
            RecordPayload {
                pt: 102,
                codec: RecordCodec::H264 {
                    profile_level_id: Some(0x42e01f),
                },
                clock_rate: 90_000,
            },
        ],
    }
}

struct Packets {
    t: Instant,
}

impl Packets {
    fn new() -> Self {
        Self { t: t0() }
    }

    fn at(
        &self,
        ms: u64,
        pt: u8,
        seq: u64,
        ts: u64,
        marker: bool,
        payload: &[u8],
    ) -> RecordedPacket {
        RecordedPacket {
            publication: PeerId(1),
            track_idx: 0,
            pt,
            seq,
            ts,
            marker,
            arrival: self.t + Duration::from_millis(ms),
            audio_level: None,
            voice_activity: None,
            payload: Arc::from(payload),
        }
    }
}

fn frames(d: &mut TrackDepacketizer) -> Vec<(u8, u64, bool)> {
    std::iter::from_fn(|| d.poll_frame())
        .map(|f| (f.pt, f.ts, f.keyframe))
        .collect()
}

#[test]
fn reordered_vp8_comes_out_in_order() {
    let (p, mut d) = (Packets::new(), TrackDepacketizer::new(&video_track()));
    assert!(d.waiting_for_keyframe());
    assert!(d.is_supported());
    // The first packet sets where the sequence starts.
    d.push(&p.at(0, 96, 9, 0, false, &VP8_KEY));
    // The keyframe's other two packets, the last arriving first.
    let more: Vec<u8> = [0x00].iter().chain(&VP8_KEY[1..]).copied().collect();
    d.push(&p.at(1, 96, 11, 0, true, &more));
    assert_eq!(frames(&mut d), []);
    d.push(&p.at(2, 96, 10, 0, false, &more));
    d.push(&p.at(3, 96, 12, 3000, true, &VP8_INTER));
    assert_eq!(frames(&mut d), [(96, 0, true), (96, 3000, false)]);
    assert!(!d.waiting_for_keyframe());
    assert_eq!(
        d.depacketizer().and_then(Depacketizer::size),
        Some((640, 480))
    );
    assert_eq!(d.active_payload().map(|p| p.pt), Some(96));
    let stats = d.stats();
    assert_eq!(
        (stats.packets, stats.frames, stats.lost, stats.errors),
        (4, 2, 0, 0)
    );
}

#[test]
fn a_loss_given_up_after_its_delay_waits_for_a_keyframe() {
    let (p, mut d) = (Packets::new(), TrackDepacketizer::new(&video_track()));
    d.push(&p.at(0, 96, 1, 0, true, &VP8_KEY));
    // 2 never arrives.
    d.push(&p.at(10, 96, 3, 6000, true, &VP8_INTER));
    assert_eq!(frames(&mut d), [(96, 0, true)]);
    assert_eq!(d.deadline(), Some(p.t + Duration::from_millis(110)));
    d.advance(p.t + Duration::from_millis(110));
    assert_eq!(frames(&mut d), []);
    assert!(d.waiting_for_keyframe());
    d.push(&p.at(120, 96, 4, 9000, true, &VP8_KEY));
    assert_eq!(frames(&mut d), [(96, 9000, true)]);
    let stats = d.stats();
    assert_eq!((stats.lost, stats.dropped_frames), (1, 1));
    // The lost packet turning up now is too late.
    assert_eq!(
        d.push(&p.at(130, 96, 2, 3000, true, &VP8_INTER)),
        Pushed::Late
    );
    d.push(&p.at(131, 96, 4, 9000, true, &VP8_KEY));
    let stats = d.stats();
    assert_eq!((stats.late, stats.duplicates), (2, 0));
}

#[test]
fn unknown_payload_types_are_ignored_without_a_gap() {
    let (p, mut d) = (Packets::new(), TrackDepacketizer::new(&video_track()));
    d.push(&p.at(0, 96, 1, 0, true, &VP8_KEY));
    d.push(&p.at(1, 127, 2, 0, false, &[1, 2, 3])); // FEC, say
    d.push(&p.at(2, 96, 3, 3000, true, &VP8_INTER));
    assert_eq!(frames(&mut d), [(96, 0, true), (96, 3000, false)]);
    let stats = d.stats();
    assert_eq!(
        (stats.ignored, stats.frames, stats.dropped_frames),
        (1, 2, 0)
    );
}

#[test]
fn a_codec_switch_starts_a_new_depacketizer() {
    let (p, mut d) = (Packets::new(), TrackDepacketizer::new(&video_track()));
    d.push(&p.at(0, 96, 1, 0, true, &VP8_KEY));
    d.push(&p.at(1, 96, 2, 3000, false, &VP8_INTER)); // half a frame
    d.push(&p.at(2, 102, 3, 6000, true, &[0x65, 0x88, 0x80]));
    assert_eq!(frames(&mut d), [(96, 0, true), (102, 6000, true)]);
    assert!(matches!(d.depacketizer(), Some(Depacketizer::H264(_))));
    let stats = d.stats();
    assert_eq!((stats.frames, stats.dropped_frames), (2, 1));
}

#[test]
fn flush_releases_the_buffer_and_drops_a_half_frame() {
    let (p, mut d) = (Packets::new(), TrackDepacketizer::new(&video_track()));
    d.push(&p.at(0, 96, 1, 0, true, &VP8_KEY));
    d.push(&p.at(1, 96, 3, 3000, true, &VP8_KEY));
    d.push(&p.at(2, 96, 4, 6000, false, &VP8_INTER));
    assert_eq!(frames(&mut d), [(96, 0, true)]);
    d.flush();
    // 3000 is a whole keyframe after the gap; 6000 never saw its marker.
    assert_eq!(frames(&mut d), [(96, 3000, true)]);
    let stats = d.stats();
    assert_eq!((stats.lost, stats.frames, stats.dropped_frames), (1, 2, 1));
}

#[test]
fn malformed_packets_are_counted_and_reported() {
    let (p, mut d) = (Packets::new(), TrackDepacketizer::new(&video_track()));
    d.push(&p.at(0, 96, 1, 0, true, &VP8_KEY));
    d.push(&p.at(1, 96, 2, 3000, true, &[0x90]));
    assert_eq!(d.take_error(), Some(DepacketizeError::Truncated));
    assert_eq!(d.take_error(), None);
    assert_eq!(d.stats().errors, 1);
}

#[test]
fn opus_passes_through_and_h265_is_ignored() {
    let p = Packets::new();
    let audio = RecordTrack {
        kind: Kind::Audio,
        payloads: vec![RecordPayload {
            pt: 111,
            codec: RecordCodec::Opus { channels: 2 },
            clock_rate: 48_000,
        }],
    };
    let mut d = TrackDepacketizer::new(&audio);
    assert!(!d.waiting_for_keyframe());
    for i in 0..3 {
        d.push(&p.at(i * 20, 111, 100 + i, 960 * i, false, &[0xfc, i as u8]));
    }
    assert_eq!(
        frames(&mut d),
        [(111, 0, true), (111, 960, true), (111, 1920, true)]
    );
    assert_eq!(d.payload(111).map(|p| p.clock_rate), Some(48_000));

    let h265 = RecordTrack {
        kind: Kind::Video,
        payloads: vec![RecordPayload {
            pt: 98,
            codec: RecordCodec::H265,
            clock_rate: 90_000,
        }],
    };
    let mut d = TrackDepacketizer::new(&h265);
    assert!(!d.is_supported());
    d.push(&p.at(0, 98, 1, 0, true, &[0x26, 0x01, 0xaf]));
    assert_eq!(frames(&mut d), []);
    assert_eq!(d.stats().ignored, 1);
    assert!(d.depacketizer().is_none());
}
