//! The building blocks on FLV files made with ffmpeg (see tests/fixtures/README.md).

mod common;

use common::{depacketize, fixture, read_flv, split_nals, Tag, AUDIO, VIDEO};
use podium_ingest::flv::{
    parse_audio_tag, parse_video_tag, AudioSpecificConfig, AudioTag, AvcDecoderConfig, VideoTag,
};
use podium_ingest::h264::{H264Packetizer, DEFAULT_MAX_PAYLOAD};
use podium_ingest::timestamp::{Step, TimestampMapper};
use podium_ingest::FlvError;

const BASELINE: &str = "baseline_mono.flv";
const MAIN: &str = "main_stereo_bframes_inband.flv";

fn tags(name: &str, kind: u8) -> Vec<Tag> {
    read_flv(&fixture(name))
        .into_iter()
        .filter(|t| t.kind == kind)
        .collect()
}

fn video_config(name: &str) -> AvcDecoderConfig {
    let first = &tags(name, VIDEO)[0];
    match parse_video_tag(&first.body) {
        Ok(VideoTag::SequenceHeader(c)) => c,
        other => panic!("first video tag of {name}: {other:?}"),
    }
}

fn audio_config(name: &str) -> AudioSpecificConfig {
    let first = &tags(name, AUDIO)[0];
    match parse_audio_tag(&first.body) {
        Ok(AudioTag::SequenceHeader(c)) => c,
        other => panic!("first audio tag of {name}: {other:?}"),
    }
}

#[test]
fn config_records_parse() {
    let c = video_config(BASELINE);
    assert_eq!(c.nal_length_size, 4);
    assert_eq!(c.profile, 66, "baseline");
    assert_eq!((c.sps.len(), c.pps.len()), (1, 1));
    assert_eq!(c.sps[0][0] & 0x1f, 7);
    assert_eq!(c.pps[0][0] & 0x1f, 8);
    let c = video_config(MAIN);
    assert_eq!(c.nal_length_size, 4);
    assert_eq!(c.profile, 77, "main");
    assert_eq!((c.sps.len(), c.pps.len()), (1, 1));
}

#[test]
fn aac_configs_are_lc_as_generated() {
    for (name, channels) in [(BASELINE, 1), (MAIN, 2)] {
        let c = audio_config(name);
        assert_eq!(c.object_type, 2, "{name}");
        assert_eq!(c.sample_rate, 44100, "{name}");
        assert_eq!(c.sampling_frequency_index, Some(4), "{name}");
        assert_eq!(c.channels(), Some(channels), "{name}");
        assert_eq!(c.frame_length, 1024, "{name}");
        assert!(!c.sbr && !c.ps, "{name}");
        assert_eq!(c.check_supported(), Ok(()));
        let frames = tags(name, AUDIO);
        assert!(frames.len() > 40, "{name}: about 43 AAC frames in 1 s");
        for t in &frames[1..] {
            match parse_audio_tag(&t.body) {
                Ok(AudioTag::Raw(frame)) => assert!(!frame.is_empty()),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}

#[test]
fn he_aac_fixture_is_refused() {
    let t = &tags("he_aac_signalled.flv", AUDIO)[0];
    let err = parse_audio_tag(&t.body).unwrap_err();
    assert!(matches!(err, FlvError::UnsupportedAac { .. }));
    assert_eq!(
        err.to_string(),
        "HE-AAC (SBR, audio object type 5) is not supported, use AAC-LC"
    );
}

/// Packetizes every video tag of `name` with `budget` and checks the payloads against the
/// original NAL units. Returns (access units, IDRs, FU-A fragments).
fn round_trip(name: &str, budget: usize) -> (usize, usize, usize) {
    let mut packetizer = H264Packetizer::new(budget);
    let (mut sps, mut pps) = (Vec::new(), Vec::new());
    let (mut units, mut idrs, mut fragments) = (0, 0, 0);
    let mut ended = false;
    for tag in tags(name, VIDEO) {
        match parse_video_tag(&tag.body).unwrap() {
            VideoTag::SequenceHeader(c) => {
                packetizer.set_config(&c).unwrap();
                sps = c.sps[0].clone();
                pps = c.pps[0].clone();
            }
            VideoTag::Nalus(au) => {
                assert!(!ended, "frames after the end of sequence");
                units += 1;
                let original = split_nals(au.data, 4);
                let types: Vec<u8> = original.iter().map(|n| n[0] & 0x1f).collect();
                let idr = types.contains(&5);
                assert_eq!(au.is_keyframe(), idr, "{name}: key flag of an access unit");
                for n in &original {
                    match n[0] & 0x1f {
                        7 => sps = n.clone(),
                        8 => pps = n.clone(),
                        _ => {}
                    }
                }
                let kept: Vec<Vec<u8>> = original
                    .iter()
                    .filter(|n| !matches!(n[0] & 0x1f, 9 | 12))
                    .filter(|n| !idr || !matches!(n[0] & 0x1f, 7 | 8))
                    .cloned()
                    .collect();
                let expected: Vec<Vec<u8>> = if idr {
                    [sps.clone(), pps.clone()].into_iter().chain(kept).collect()
                } else {
                    kept
                };

                let out = packetizer.packetize(au.data).unwrap();
                assert_eq!(out.idr, idr);
                assert_eq!(out.parameter_sets_sent, idr);
                assert_eq!(
                    out.dropped_nals,
                    types.iter().filter(|&&t| t == 9 || t == 12).count()
                );
                for (i, p) in out.payloads.iter().enumerate() {
                    assert!(p.payload.len() <= budget, "{name}: payload over {budget}");
                    assert_eq!(p.marker, i + 1 == out.payloads.len(), "{name}: marker");
                }
                let d = depacketize(out.payloads.iter().map(|p| p.payload.as_slice()));
                assert_eq!(d.nals, expected, "{name}: access unit {units}");
                if idr {
                    idrs += 1;
                    assert_eq!(d.packet_types[0], 24, "STAP-A first");
                    let stap = depacketize([out.payloads[0].payload.as_slice()]);
                    assert_eq!(stap.nals, vec![sps.clone(), pps.clone()]);
                }
                fragments += d.packet_types.iter().filter(|&&t| t == 28).count();
            }
            VideoTag::EndOfSequence => ended = true,
            VideoTag::Command(c) => panic!("command {c}"),
        }
    }
    assert!(ended, "{name}: ffmpeg ends with an AVC end of sequence");
    (units, idrs, fragments)
}

#[test]
fn video_tags_packetize_and_reassemble() {
    let (units, idrs, fragments) = round_trip(BASELINE, DEFAULT_MAX_PAYLOAD);
    assert_eq!((units, idrs), (30, 1));
    assert!(fragments > 0, "the IDR needs FU-A at 1200 bytes");
    let (units, idrs, fragments) = round_trip(MAIN, DEFAULT_MAX_PAYLOAD);
    assert_eq!((units, idrs), (30, 2));
    assert!(fragments > 0);
    for budget in [100, 500, 1400, 60_000] {
        round_trip(BASELINE, budget);
        round_trip(MAIN, budget);
    }
}

#[test]
fn in_band_parameter_sets_match_the_config() {
    let config = video_config(MAIN);
    let mut in_band = 0;
    for tag in tags(MAIN, VIDEO) {
        if let Ok(VideoTag::Nalus(au)) = parse_video_tag(&tag.body) {
            for n in split_nals(au.data, 4) {
                match n[0] & 0x1f {
                    7 => assert_eq!(n, config.sps[0]),
                    8 => assert_eq!(n, config.pps[0]),
                    _ => continue,
                }
                in_band += 1;
            }
        }
    }
    assert_eq!(in_band, 4, "SPS and PPS before each of the 2 IDRs");
}

#[test]
fn keyframe_request_is_answered_by_the_next_idr() {
    let mut packetizer = H264Packetizer::default();
    let mut answered_at = Vec::new();
    for (i, tag) in tags(MAIN, VIDEO).iter().enumerate() {
        match parse_video_tag(&tag.body).unwrap() {
            VideoTag::SequenceHeader(c) => packetizer.set_config(&c).unwrap(),
            VideoTag::Nalus(au) => {
                if i == 3 {
                    packetizer.request_keyframe();
                }
                let out = packetizer.packetize(au.data).unwrap();
                if out.answered_keyframe_request {
                    assert!(out.parameter_sets_sent);
                    answered_at.push(tag.timestamp);
                }
            }
            _ => {}
        }
    }
    // -g 15 at 30 fps: the second IDR, half a second in.
    assert_eq!(answered_at, vec![500]);
}

#[test]
fn video_timestamps_map_to_90khz() {
    let base = 0xffff_0000; // wraps within the first second
    for name in [BASELINE, MAIN] {
        let mut mapper = TimestampMapper::video(base);
        let mut previous_dts: Option<(u32, u32)> = None;
        for tag in tags(name, VIDEO) {
            let Ok(VideoTag::Nalus(au)) = parse_video_tag(&tag.body) else {
                continue;
            };
            let m = mapper.map(tag.timestamp, au.composition_time_ms);
            assert_eq!(m.dts_ms, i64::from(tag.timestamp));
            let expected_pts = i64::from(tag.timestamp) + i64::from(au.composition_time_ms);
            assert_eq!(m.pts_ms, expected_pts);
            assert_eq!(
                m.rtp_timestamp,
                base.wrapping_add((expected_pts * 90) as u32),
                "{name}"
            );
            // DTS steps of 33 or 34 ms: 2970 or 3060 ticks.
            let dts_ticks = mapper.rtp_at(m.dts_ms);
            if let Some((ms, ticks)) = previous_dts {
                assert_eq!(m.step, Step::Forward);
                let step = tag.timestamp - ms;
                assert!(step == 33 || step == 34, "{name}: step {step}");
                assert_eq!(
                    dts_ticks.wrapping_sub(ticks),
                    if step == 33 { 2970 } else { 3060 }
                );
            } else {
                assert_eq!(m.step, Step::First);
            }
            previous_dts = Some((tag.timestamp, dts_ticks));
        }
    }
}

#[test]
fn b_frames_have_composition_offsets() {
    let offsets: Vec<i32> = tags(MAIN, VIDEO)
        .iter()
        .filter_map(|t| match parse_video_tag(&t.body) {
            Ok(VideoTag::Nalus(au)) => Some(au.composition_time_ms),
            _ => None,
        })
        .collect();
    assert!(offsets.iter().all(|&c| c >= 0));
    assert!(offsets.iter().any(|&c| c > 0), "main profile uses B-frames");
    let baseline_offsets = tags(BASELINE, VIDEO)
        .iter()
        .filter_map(|t| match parse_video_tag(&t.body) {
            Ok(VideoTag::Nalus(au)) => Some(au.composition_time_ms),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert!(baseline_offsets.iter().all(|&c| c == 0));
}

#[test]
fn audio_timestamps_map_to_48khz() {
    for name in [BASELINE, MAIN] {
        let mut mapper = TimestampMapper::audio(7);
        let frames: Vec<Tag> = tags(name, AUDIO).into_iter().skip(1).collect();
        // The main fixture's audio starts at 44 ms: its video has B-frames, so ffmpeg delays
        // the first presentation (67 ms) and the audio with it (less the AAC priming).
        let start = frames[0].timestamp;
        let mut previous: Option<(u32, u32)> = None;
        for (n, tag) in frames.iter().enumerate() {
            let m = mapper.map(tag.timestamp, 0);
            assert_eq!(m.rtp_timestamp, 7 + tag.timestamp * 48);
            // 1024 samples at 44.1 kHz are 23.2 ms: FLV rounds to 23 or 24 ms.
            let exact_ms = n as f64 * 1024.0 / 44.1;
            let ms = f64::from(tag.timestamp - start);
            assert!((ms - exact_ms).abs() <= 1.0, "{name} frame {n}");
            if let Some((ms, rtp)) = previous {
                let step = tag.timestamp - ms;
                assert!(step == 23 || step == 24, "{name}: step {step}");
                assert_eq!(m.rtp_timestamp - rtp, step * 48);
            }
            previous = Some((tag.timestamp, m.rtp_timestamp));
        }
    }
}
