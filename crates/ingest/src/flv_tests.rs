use super::*;

/// Writes bits most significant first, for hand-made AudioSpecificConfigs.
struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    fn new() -> Self {
        Self {
            bytes: Vec::new(),
            bits: 0,
        }
    }
    fn put(mut self, n: u32, value: u32) -> Self {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= bit << (7 - (self.bits % 8));
            self.bits += 1;
        }
        self
    }
    fn done(self) -> Vec<u8> {
        self.bytes
    }
}

const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8];
const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

fn config_record(length_size_minus_one: u8, sps: &[&[u8]], pps: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![1, 0x42, 0xc0, 0x1e, 0xfc | length_size_minus_one];
    v.push(0xe0 | sps.len() as u8);
    for s in sps {
        v.extend_from_slice(&(s.len() as u16).to_be_bytes());
        v.extend_from_slice(s);
    }
    v.push(pps.len() as u8);
    for p in pps {
        v.extend_from_slice(&(p.len() as u16).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

#[test]
fn avc_sequence_header() {
    let mut tag = vec![0x17, 0, 0, 0, 0];
    tag.extend(config_record(3, &[SPS], &[PPS]));
    let VideoTag::SequenceHeader(config) = parse_video_tag(&tag).unwrap() else {
        panic!("not a sequence header");
    };
    assert_eq!(config.profile, 0x42);
    assert_eq!(config.level, 0x1e);
    assert_eq!(config.nal_length_size, 4);
    assert_eq!(config.sps, vec![SPS.to_vec()]);
    assert_eq!(config.pps, vec![PPS.to_vec()]);
}

#[test]
fn avc_nalus_with_composition_time() {
    let tag = [0x27, 1, 0x00, 0x00, 0x42, 0, 0, 0, 1, 0x41];
    let VideoTag::Nalus(n) = parse_video_tag(&tag).unwrap() else {
        panic!("not NALUs");
    };
    assert_eq!(n.frame_type, FrameType::Inter);
    assert!(!n.is_keyframe());
    assert_eq!(n.composition_time_ms, 66);
    assert_eq!(n.data, &[0, 0, 0, 1, 0x41]);
    // Negative composition times are sign-extended from 24 bits.
    let VideoTag::Nalus(n) = parse_video_tag(&[0x17, 1, 0xff, 0xff, 0xdf]).unwrap() else {
        panic!("not NALUs");
    };
    assert!(n.is_keyframe());
    assert_eq!(n.composition_time_ms, -33);
    assert!(n.data.is_empty());
}

#[test]
fn avc_end_of_sequence_and_command() {
    assert_eq!(
        parse_video_tag(&[0x17, 2, 0, 0, 0]),
        Ok(VideoTag::EndOfSequence)
    );
    assert_eq!(parse_video_tag(&[0x57, 1]), Ok(VideoTag::Command(1)));
}

#[test]
fn other_video_codecs_are_named() {
    let cases: &[(u8, &str)] = &[
        (12, "HEVC (12) is not supported, use H.264"),
        (2, "Sorenson H.263 (2) is not supported, use H.264"),
        (4, "On2 VP6 (4) is not supported, use H.264"),
        (13, "AV1 (13) is not supported, use H.264"),
        (9, "an unknown video codec (9) is not supported, use H.264"),
    ];
    for &(id, message) in cases {
        let err = parse_video_tag(&[0x10 | id, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn enhanced_rtmp_video() {
    let err = parse_video_tag(b"\x90hvc1\x00").unwrap_err();
    assert_eq!(
        err.to_string(),
        "HEVC (enhanced RTMP 'hvc1') is not supported, use H.264"
    );
    let err = parse_video_tag(b"\x91av01").unwrap_err();
    assert_eq!(
        err.to_string(),
        "AV1 (enhanced RTMP 'av01') is not supported, use H.264"
    );
    let err = parse_video_tag(b"\x91\x00\x01ab").unwrap_err();
    assert_eq!(
        err.to_string(),
        "an unknown codec (enhanced RTMP '??ab') is not supported, use H.264"
    );
    // avc1 coded frames, with and without a composition time.
    let VideoTag::Nalus(n) = parse_video_tag(b"\x91avc1\x00\x00\x21\x00\x00\x00\x01\x65").unwrap()
    else {
        panic!("not NALUs");
    };
    assert!(n.is_keyframe());
    assert_eq!(n.composition_time_ms, 33);
    assert_eq!(n.data, &[0, 0, 0, 1, 0x65]);
    let VideoTag::Nalus(n) = parse_video_tag(b"\xa3avc1\x00\x00\x00\x01\x41").unwrap() else {
        panic!("not NALUs");
    };
    assert_eq!(n.frame_type, FrameType::Inter);
    assert_eq!(n.composition_time_ms, 0);
    let mut tag = b"\x90avc1".to_vec();
    tag.extend(config_record(3, &[SPS], &[PPS]));
    assert!(matches!(
        parse_video_tag(&tag),
        Ok(VideoTag::SequenceHeader(_))
    ));
    assert_eq!(parse_video_tag(b"\x92avc1"), Ok(VideoTag::EndOfSequence));
    assert!(matches!(
        parse_video_tag(b"\x97avc1"),
        Err(FlvError::InvalidPacketType { packet_type: 7, .. })
    ));
}

#[test]
fn bad_video_headers() {
    assert!(matches!(
        parse_video_tag(&[]),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        parse_video_tag(&[0x17, 1, 0]),
        Err(FlvError::Truncated { needed: 5, .. })
    ));
    assert_eq!(
        parse_video_tag(&[0x07, 1, 0, 0, 0]),
        Err(FlvError::InvalidFrameType(0))
    );
    assert_eq!(
        parse_video_tag(&[0x67, 1, 0, 0, 0]),
        Err(FlvError::InvalidFrameType(6))
    );
    assert!(matches!(
        parse_video_tag(&[0x17, 3, 0, 0, 0]),
        Err(FlvError::InvalidPacketType { packet_type: 3, .. })
    ));
}

#[test]
fn config_record_errors() {
    let good = config_record(3, &[SPS], &[PPS]);
    // Every strict prefix is truncated.
    for n in 0..good.len() {
        assert!(
            matches!(
                AvcDecoderConfig::parse(&good[..n]),
                Err(FlvError::Truncated { .. })
            ),
            "prefix of {n} bytes"
        );
    }
    let mut bad_version = good.clone();
    bad_version[0] = 0;
    assert_eq!(
        AvcDecoderConfig::parse(&bad_version)
            .unwrap_err()
            .to_string(),
        "invalid AVC decoder configuration record: configuration version 0, expected 1"
    );
    let swapped = config_record(3, &[PPS], &[SPS]);
    assert_eq!(
        AvcDecoderConfig::parse(&swapped).unwrap_err().to_string(),
        "invalid AVC decoder configuration record: SPS has NAL unit type 8, expected 7"
    );
    let empty = config_record(3, &[&[]], &[PPS]);
    assert!(matches!(
        AvcDecoderConfig::parse(&empty),
        Err(FlvError::InvalidAvcConfig(_))
    ));
    // Other length sizes, several parameter sets, none at all, a trailing extension.
    let pps2: &[u8] = &[0x68, 0xee, 0x01];
    let mut two = config_record(1, &[SPS], &[PPS, pps2]);
    two.extend([0xfc, 0xf8, 0xf8, 0]);
    let c = AvcDecoderConfig::parse(&two).unwrap();
    assert_eq!(c.nal_length_size, 2);
    assert_eq!(c.pps.len(), 2);
    let none = AvcDecoderConfig::parse(&config_record(0, &[], &[])).unwrap();
    assert_eq!(none.nal_length_size, 1);
    assert!(none.sps.is_empty() && none.pps.is_empty());
}

#[test]
fn aac_lc_tags() {
    // 44.1 kHz stereo: 00010 0100 0010 000
    let AudioTag::SequenceHeader(c) = parse_audio_tag(&[0xaf, 0, 0x12, 0x10]).unwrap() else {
        panic!("not a sequence header");
    };
    assert_eq!(c.object_type, 2);
    assert_eq!(c.sample_rate, 44100);
    assert_eq!(c.sampling_frequency_index, Some(4));
    assert_eq!(c.channels(), Some(2));
    assert_eq!(c.frame_length, 1024);
    assert!(!c.sbr && !c.ps);
    assert_eq!(c.profile_name(), "AAC-LC (audio object type 2)");
    // 48 kHz mono
    let AudioTag::SequenceHeader(c) = parse_audio_tag(&[0xaf, 0, 0x11, 0x88]).unwrap() else {
        panic!("not a sequence header");
    };
    assert_eq!((c.sample_rate, c.channels()), (48000, Some(1)));
    assert_eq!(
        parse_audio_tag(&[0xaf, 1, 0x21, 0x10]),
        Ok(AudioTag::Raw(&[0x21, 0x10]))
    );
    assert!(matches!(
        parse_audio_tag(&[0xaf, 2]),
        Err(FlvError::InvalidPacketType { packet_type: 2, .. })
    ));
    assert!(matches!(
        parse_audio_tag(&[0xaf]),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        parse_audio_tag(&[0xaf, 0, 0x12]),
        Err(FlvError::Truncated { .. })
    ));
}

#[test]
fn other_audio_formats_are_named() {
    let cases: &[(u8, &str)] = &[
        (2, "MP3 (2) is not supported, use AAC-LC"),
        (11, "Speex (11) is not supported, use AAC-LC"),
        (6, "Nellymoser (6) is not supported, use AAC-LC"),
        (7, "G.711 A-law (7) is not supported, use AAC-LC"),
        (
            3,
            "Linear PCM (little endian) (3) is not supported, use AAC-LC",
        ),
        (
            12,
            "an unknown audio format (12) is not supported, use AAC-LC",
        ),
    ];
    for &(id, message) in cases {
        let err = parse_audio_tag(&[(id << 4) | 0x0f, 1, 2, 3]).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    let err = parse_audio_tag(b"\x91Opus\x00").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Opus (enhanced RTMP 'Opus') is not supported, use AAC-LC"
    );
    // Enhanced RTMP AAC is accepted.
    assert!(matches!(
        parse_audio_tag(b"\x90mp4a\x12\x10"),
        Ok(AudioTag::SequenceHeader(_))
    ));
    assert_eq!(parse_audio_tag(b"\x91mp4a\x01"), Ok(AudioTag::Raw(&[1])));
    assert_eq!(parse_audio_tag(b"\x92mp4a"), Ok(AudioTag::EndOfSequence));
}

#[test]
fn he_aac_hierarchical_is_refused() {
    // object type 5, 24 kHz core, stereo, 48 kHz SBR, core AAC-LC, GASpecificConfig.
    let asc = BitWriter::new()
        .put(5, 5)
        .put(4, 6)
        .put(4, 2)
        .put(4, 3)
        .put(5, 2)
        .put(3, 0)
        .done();
    let c = AudioSpecificConfig::parse(&asc).unwrap();
    assert!(c.sbr && !c.ps);
    assert_eq!(c.sample_rate, 24000);
    assert_eq!(c.extension_sample_rate, Some(48000));
    assert_eq!(c.core_object_type, 2);
    let mut tag = vec![0xaf, 0];
    tag.extend(&asc);
    assert_eq!(
        parse_audio_tag(&tag).unwrap_err().to_string(),
        "HE-AAC (SBR, audio object type 5) is not supported, use AAC-LC"
    );
    // HE-AAC v2: object type 29.
    let asc = BitWriter::new()
        .put(5, 29)
        .put(4, 6)
        .put(4, 1)
        .put(4, 3)
        .put(5, 2)
        .put(3, 0)
        .done();
    let c = AudioSpecificConfig::parse(&asc).unwrap();
    assert!(c.sbr && c.ps);
    assert_eq!(
        c.check_supported().unwrap_err().to_string(),
        "HE-AAC v2 (PS, audio object type 29) is not supported, use AAC-LC"
    );
}

#[test]
fn he_aac_as_ffmpeg_native_encoder_signals_it() {
    // `ffmpeg -c:a aac -profile:a aac_he` (no libfdk): object type 5, 44.1 kHz, mono, and
    // nothing else (see tests/fixtures/he_aac_signalled.flv).
    let c = AudioSpecificConfig::parse(&[0x2a, 0x08]).unwrap();
    assert!(c.sbr);
    assert_eq!(c.extension_sample_rate, None);
    assert!(matches!(
        parse_audio_tag(&[0xaf, 0, 0x2a, 0x08]),
        Err(FlvError::UnsupportedAac { .. })
    ));
}

#[test]
fn he_aac_backward_compatible_signalling_is_refused() {
    // AAC-LC 22.05 kHz stereo, then sync extension 0x2b7, SBR at 44.1 kHz, 0x548, PS.
    let lc = BitWriter::new().put(5, 2).put(4, 7).put(4, 2).put(3, 0);
    let sbr = lc.put(11, 0x2b7).put(5, 5).put(1, 1).put(4, 4);
    let sbr_only = sbr.bytes.clone();
    let c = AudioSpecificConfig::parse(&sbr_only).unwrap();
    assert!(c.sbr && !c.ps);
    assert_eq!(c.extension_sample_rate, Some(44100));
    assert_eq!(
        c.check_supported().unwrap_err().to_string(),
        "HE-AAC (SBR signalled in an AudioSpecificConfig extension) is not supported, use AAC-LC"
    );
    let ps = sbr.put(11, 0x548).put(1, 1).done();
    let c = AudioSpecificConfig::parse(&ps).unwrap();
    assert!(c.sbr && c.ps);
    // sbrPresentFlag = 0 is plain AAC-LC.
    let no_sbr = BitWriter::new()
        .put(5, 2)
        .put(4, 7)
        .put(4, 2)
        .put(3, 0)
        .put(11, 0x2b7)
        .put(5, 5)
        .put(1, 0)
        .done();
    let c = AudioSpecificConfig::parse(&no_sbr).unwrap();
    assert!(!c.sbr);
    assert_eq!(c.check_supported(), Ok(()));
}

#[test]
fn other_aac_profiles_and_odd_configs() {
    // AAC Main 48 kHz stereo.
    let main = AudioSpecificConfig::parse(&[0x09, 0x90]).unwrap();
    assert_eq!(
        main.check_supported().unwrap_err().to_string(),
        "AAC Main (audio object type 1) is not supported, use AAC-LC"
    );
    // Escaped object type 42 (USAC).
    let usac = BitWriter::new()
        .put(5, 31)
        .put(6, 10)
        .put(4, 3)
        .put(4, 2)
        .done();
    let c = AudioSpecificConfig::parse(&usac).unwrap();
    assert_eq!(c.object_type, 42);
    assert_eq!(
        c.check_supported().unwrap_err().to_string(),
        "USAC (xHE-AAC) (audio object type 42) is not supported, use AAC-LC"
    );
    // Explicit 24-bit rate.
    let explicit = BitWriter::new()
        .put(5, 2)
        .put(4, 15)
        .put(24, 37800)
        .put(4, 1)
        .put(3, 0)
        .done();
    let c = AudioSpecificConfig::parse(&explicit).unwrap();
    assert_eq!((c.sampling_frequency_index, c.sample_rate), (None, 37800));
    // 960-sample frames.
    let c = AudioSpecificConfig::parse(
        &BitWriter::new()
            .put(5, 2)
            .put(4, 3)
            .put(4, 2)
            .put(3, 0b100)
            .done(),
    )
    .unwrap();
    assert_eq!(c.frame_length, 960);
    assert!(c.check_supported().is_err());
    // Channel configuration 0 (program config element).
    let c = AudioSpecificConfig::parse(&[0x12, 0x00]).unwrap();
    assert_eq!(c.channels(), None);
    assert_eq!(
        c.check_supported().unwrap_err().to_string(),
        "AAC channel configuration 0 is not supported, use AAC-LC"
    );
    // Reserved sampling frequency index and a zero explicit rate.
    let reserved = BitWriter::new().put(5, 2).put(4, 13).put(4, 2).done();
    assert_eq!(
        AudioSpecificConfig::parse(&reserved)
            .unwrap_err()
            .to_string(),
        "invalid AAC AudioSpecificConfig: reserved sampling frequency index 13"
    );
    let zero = BitWriter::new()
        .put(5, 2)
        .put(4, 15)
        .put(24, 0)
        .put(4, 2)
        .done();
    assert!(matches!(
        AudioSpecificConfig::parse(&zero),
        Err(FlvError::InvalidAudioConfig(_))
    ));
    assert!(matches!(
        AudioSpecificConfig::parse(&[]),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        AudioSpecificConfig::parse(&[0x12]),
        Err(FlvError::Truncated { .. })
    ));
}
