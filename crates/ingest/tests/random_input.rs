//! Random and mangled input: the parsers return errors and never panic, and the packetizer
//! round-trips any access unit at any payload budget.

mod common;

use common::{depacketize, fixture, read_flv, AUDIO, VIDEO};
use podium_ingest::flv::{
    parse_audio_tag, parse_video_tag, AudioSpecificConfig, AvcDecoderConfig, VideoTag,
};
use podium_ingest::h264::{sps_id, H264Packetizer};
use podium_ingest::timestamp::{Step, TimestampMapper};
use proptest::prelude::*;

/// Feeds bytes to every parser, and to a configured packetizer.
fn feed(bytes: &[u8]) {
    let _ = parse_video_tag(bytes);
    let _ = parse_audio_tag(bytes);
    let _ = AvcDecoderConfig::parse(bytes);
    if let Ok(c) = AudioSpecificConfig::parse(bytes) {
        let _ = c.check_supported();
        let _ = c.profile_name();
    }
    let _ = sps_id(bytes);
    for size in 1..=4 {
        let mut p = H264Packetizer::new(bytes.first().map_or(1200, |&b| usize::from(b)));
        let config = AvcDecoderConfig {
            profile: 66,
            compatibility: 0,
            level: 30,
            nal_length_size: size,
            sps: vec![vec![0x67, 0x42, 0, 0x1e, 0x80]],
            pps: vec![vec![0x68, 0x80]],
        };
        p.set_config(&config).unwrap();
        if let Ok(out) = p.packetize(bytes) {
            assert!(out
                .payloads
                .iter()
                .all(|x| x.payload.len() <= p.max_payload()));
        }
    }
}

/// Random bytes, most of them behind a header the parsers take (AVC sequence header or
/// frame, AAC, enhanced RTMP) so that the inner fields get exercised.
fn tag_like() -> impl Strategy<Value = Vec<u8>> {
    let headers: Vec<&'static [u8]> = vec![
        &[],
        &[0x17, 0, 0, 0, 0],
        &[0x17, 0, 0, 0, 0, 1],
        &[0x27, 1],
        &[0xaf, 0],
        &[0xaf, 1],
        b"\x90avc1",
        b"\x91avc1",
        b"\x90mp4a",
        b"\x90hvc1",
    ];
    (
        proptest::sample::select(headers),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(header, rest)| [header, &rest].concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in tag_like()) {
        feed(&bytes);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mangled_fixture_tags_never_panic(
        index in 0usize..200,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let tags = read_flv(&fixture("main_stereo_bframes_inband.flv"));
        let tag = &tags[index % tags.len()];
        prop_assume!(tag.kind == AUDIO || tag.kind == VIDEO);
        let mut body = tag.body.clone();
        for (at, value) in flips {
            let len = body.len();
            if len > 0 {
                body[at % len] = value;
            }
        }
        body.truncate(cut % (body.len() + 1));
        feed(&body);
    }

    #[test]
    fn any_access_unit_round_trips(
        nals in proptest::collection::vec(
            (1u8..24, proptest::collection::vec(any::<u8>(), 0..3000)), 1..6),
        budget in 16usize..1600,
        header_bits in any::<u8>(),
    ) {
        let mut p = H264Packetizer::new(budget);
        let config = AvcDecoderConfig {
            profile: 66,
            compatibility: 0,
            level: 30,
            nal_length_size: 4,
            sps: vec![vec![0x67, 0x42, 0, 0x1e, 0x80]],
            pps: vec![vec![0x68, 0x80]],
        };
        p.set_config(&config).unwrap();
        // NAL units of any type but the parameter sets, delimiters and filler, with random
        // F/NRI bits.
        let units: Vec<Vec<u8>> = nals
            .into_iter()
            .map(|(t, body)| {
                let t = if matches!(t, 7 | 8 | 9 | 12) { 1 } else { t };
                let mut nal = vec![(header_bits & 0xe0) | t];
                nal.extend(body);
                nal
            })
            .collect();
        let mut au = Vec::new();
        for nal in &units {
            au.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            au.extend_from_slice(nal);
        }
        let out = p.packetize(&au).unwrap();
        for (i, x) in out.payloads.iter().enumerate() {
            prop_assert!(x.payload.len() <= budget);
            prop_assert_eq!(x.marker, i + 1 == out.payloads.len());
        }
        let d = depacketize(out.payloads.iter().map(|x| x.payload.as_slice()));
        let mut expected = Vec::new();
        if out.idr {
            expected.push(config.sps[0].clone());
            expected.push(config.pps[0].clone());
        }
        expected.extend(units);
        prop_assert_eq!(d.nals, expected);
    }

    #[test]
    fn mapped_dts_never_goes_back(
        start in any::<u32>(),
        steps in proptest::collection::vec(-3000i64..3000, 1..200),
        tolerance in 0u32..500,
    ) {
        let mut m = TimestampMapper::video(0).with_backward_tolerance(tolerance);
        let mut dts = start;
        let mut last = m.map(dts, 0).dts_ms;
        for step in steps {
            dts = dts.wrapping_add(step as u32);
            let x = m.map(dts, 0);
            prop_assert!(x.dts_ms > last);
            if step > 0 && x.step == Step::Forward {
                prop_assert!(x.dts_ms - last <= step);
            }
            last = x.dts_ms;
        }
    }
}

#[test]
fn every_prefix_of_every_fixture_tag() {
    for name in [
        "baseline_mono.flv",
        "main_stereo_bframes_inband.flv",
        "he_aac_signalled.flv",
    ] {
        for tag in read_flv(&fixture(name)) {
            for n in 0..=tag.body.len().min(64) {
                feed(&tag.body[..n]);
            }
            if tag.kind == VIDEO {
                // A cut-short access unit is an error, never a panic or a short frame.
                if let Ok(VideoTag::Nalus(au)) = parse_video_tag(&tag.body) {
                    let mut p = H264Packetizer::default();
                    p.set_config(&AvcDecoderConfig {
                        profile: 66,
                        compatibility: 0,
                        level: 30,
                        nal_length_size: 4,
                        sps: vec![],
                        pps: vec![],
                    })
                    .unwrap();
                    if au.data.len() > 4 {
                        assert!(p.packetize(&au.data[..au.data.len() - 1]).is_err());
                    }
                }
            }
        }
    }
}
