//! Unit tests of the audio path on synthetic PCM (no AAC encoder is at hand, so the PCM
//! stage is driven directly; the AAC decoder is exercised in tests/audio.rs on the
//! fixtures).

use std::f64::consts::PI;

use proptest::prelude::*;

use super::level::{audio_level, is_active, to_str0m, SILENCE};
use super::*;
use crate::flv::AudioSpecificConfig;

const BASE: u32 = 0x1234_5678;

/// `frames` samples per channel of a sine (peak `amp`), interleaved, starting at sample `at`.
fn sine(freq: f64, amp: f64, rate: u32, channels: usize, at: u64, frames: usize) -> Vec<f32> {
    (0..frames)
        .flat_map(|i| {
            let t = (at + i as u64) as f64 / f64::from(rate);
            let s = (amp * (2.0 * PI * freq * t).sin()) as f32;
            std::iter::repeat_n(s, channels)
        })
        .collect()
}

/// The FLV timestamp of sample `at`: milliseconds, rounded as ffmpeg does.
fn flv_ms(at: u64, rate: u32) -> u32 {
    ((at as f64 * 1000.0 / f64::from(rate)).round()) as u32
}

/// Pushes `total` frames of a sine in chunks of the given sizes (cycled), starting at FLV
/// time `start_ms`; returns every Opus frame, after a flush.
fn run(
    rate: u32,
    channels: u8,
    amp: f64,
    chunks: &[usize],
    total: u64,
    start_ms: u32,
) -> (Vec<OpusFrame>, PcmToOpus) {
    let mut enc = PcmToOpus::new(rate, channels, BASE, OpusSettings::default()).unwrap();
    let ch = usize::from(channels);
    let mut at = 0u64;
    let mut out = Vec::new();
    for &n in chunks.iter().cycle() {
        if at >= total {
            break;
        }
        let n = n.min((total - at) as usize);
        let pcm = sine(440.0, amp, rate, ch, at, n);
        enc.push(start_ms + flv_ms(at, rate), &pcm).unwrap();
        at += n as u64;
        out.extend(std::iter::from_fn(|| enc.poll_output()));
    }
    enc.flush().unwrap();
    out.extend(std::iter::from_fn(|| enc.poll_output()));
    (out, enc)
}

fn decode_all(frames: &[OpusFrame], channels: u8) -> Vec<f32> {
    let opus_channels = if channels == 1 {
        opus::Channels::Mono
    } else {
        opus::Channels::Stereo
    };
    let mut dec = opus::Decoder::new(OPUS_RATE, opus_channels).unwrap();
    let mut pcm = Vec::new();
    let mut buf = vec![0f32; 5760 * 2];
    for f in frames {
        let n = dec.decode_float(&f.payload, &mut buf, false).unwrap();
        assert_eq!(n, FRAME_SAMPLES, "every payload decodes to 960 samples");
        pcm.extend_from_slice(&buf[..n * usize::from(channels)]);
    }
    pcm
}

fn assert_continuous(frames: &[OpusFrame]) {
    for w in frames.windows(2) {
        assert_eq!(
            w[1].rtp_timestamp.wrapping_sub(w[0].rtp_timestamp),
            960,
            "{:?} → {:?}",
            (w[0].rtp_timestamp, w[0].pts_ms),
            (w[1].rtp_timestamp, w[1].pts_ms)
        );
        assert_eq!(w[1].pts_ms - w[0].pts_ms, 20);
        assert!(!w[1].marker);
    }
}

#[test]
fn frames_are_20ms_and_decode_to_960_samples() {
    for (rate, channels) in [
        (44_100, 2),
        (44_100, 1),
        (48_000, 2),
        (32_000, 1),
        (8_000, 1),
    ] {
        let (frames, enc) = run(rate, channels, 0.5, &[1024], u64::from(rate), 0);
        // One second in: 50 frames (the last one completed by the flush).
        assert_eq!(frames.len(), 50, "{rate} Hz");
        assert_eq!(enc.stats().output_frames, 50);
        for f in &frames {
            assert_eq!(
                opus::packet::get_nb_samples(&f.payload, OPUS_RATE).unwrap(),
                FRAME_SAMPLES
            );
            let expected = if channels == 1 {
                opus::Channels::Mono
            } else {
                opus::Channels::Stereo
            };
            assert_eq!(opus::packet::get_nb_channels(&f.payload).unwrap(), expected);
            assert!(f.payload.len() > 10 && f.payload.len() <= 1275);
        }
        let pcm = decode_all(&frames, channels);
        assert_eq!(pcm.len(), 50 * 960 * usize::from(channels));
        assert!(frames[0].marker);
    }
}

#[test]
fn timestamps_continuous_across_resampler() {
    // 1024-sample AAC frames at 44.1 kHz: 1114.56 samples at 48 kHz each, so a 20 ms frame
    // never lines up with an input chunk; the FLV timestamps are rounded to the ms.
    let total = 44_100 * 10;
    let (frames, _) = run(44_100, 2, 0.5, &[1024], total, 1000);
    assert_eq!(frames.len(), 500);
    assert_continuous(&frames);
    // Anchored to the FLV time of the first input: 1000 ms after the base.
    assert_eq!(frames[0].rtp_timestamp, BASE.wrapping_add(1000 * 48));
    assert_eq!(frames[0].pts_ms, 1000);
    assert_eq!(frames[499].pts_ms, 1000 + 499 * 20);
    // Any chunking gives the same timestamps.
    let (odd, _) = run(44_100, 2, 0.5, &[333, 1, 4097, 960, 7], total, 1000);
    let stamps = |f: &[OpusFrame]| f.iter().map(|f| f.rtp_timestamp).collect::<Vec<_>>();
    assert_eq!(stamps(&odd), stamps(&frames));
}

#[test]
fn rtp_timestamps_wrap() {
    let mut enc = PcmToOpus::new(48_000, 1, u32::MAX - 1000, OpusSettings::default()).unwrap();
    enc.push(0, &vec![0.0; 960 * 3]).unwrap();
    let f: Vec<_> = std::iter::from_fn(|| enc.poll_output()).collect();
    assert_eq!(f.len(), 3);
    assert_eq!(f[1].rtp_timestamp, u32::MAX - 1000 + 960);
    assert_eq!(f[2].rtp_timestamp, 919);
}

/// Sample index of the first decoded sample above 0.1 (after a silent lead-in).
fn onset(rate: u32) -> usize {
    let lead = u64::from(rate) / 2; // 500 ms of silence, then the tone
    let mut enc = PcmToOpus::new(rate, 1, BASE, OpusSettings::default()).unwrap();
    let mut at = 0u64;
    while at < u64::from(rate) {
        let mut pcm = sine(1000.0, 0.8, rate, 1, at, 1024);
        for (i, s) in pcm.iter_mut().enumerate() {
            if at + (i as u64) < lead {
                *s = 0.0;
            }
        }
        enc.push(flv_ms(at, rate), &pcm).unwrap();
        at += 1024;
    }
    enc.flush().unwrap();
    let frames: Vec<_> = std::iter::from_fn(|| enc.poll_output()).collect();
    let pcm = decode_all(&frames, 1);
    pcm.iter().position(|s| s.abs() > 0.1).unwrap()
}

#[test]
fn resampler_delay_is_compensated() {
    // The same tone onset at 48 kHz (no resampler) and 44.1 kHz: the resampled one comes out
    // at the same place (libopus's own look-ahead is in both).
    let direct = onset(48_000);
    let resampled = onset(44_100);
    assert!(direct >= 24_000, "{direct}");
    assert!(
        direct < 24_000 + 480,
        "{direct}: more than libopus's look-ahead"
    );
    assert!(
        resampled.abs_diff(direct) <= 24,
        "44.1 kHz onset at {resampled}, 48 kHz at {direct}"
    );
}

#[test]
fn level_computation() {
    // RFC 6464: RMS relative to full scale. A full-scale sine has RMS 1/√2: 3 dBov.
    let full = sine(1000.0, 1.0, 48_000, 1, 0, 960);
    assert_eq!(audio_level(&full), 3);
    // A sine peaking at −30 dBFS: 30 + 3 dB below the overload point.
    let quiet = sine(1000.0, 10f64.powf(-30.0 / 20.0), 48_000, 2, 0, 960);
    assert_eq!(audio_level(&quiet), 33);
    // A full-scale square wave is the overload point itself.
    let square: Vec<f32> = (0..960)
        .map(|i| if i % 48 < 24 { 1.0 } else { -1.0 })
        .collect();
    assert_eq!(audio_level(&square), 0);
    assert_eq!(audio_level(&[0.0; 960]), SILENCE);
    assert_eq!(audio_level(&[]), SILENCE);
    // Below −127 dBov is 127; past full scale clamps.
    assert_eq!(audio_level(&[1e-8; 960]), SILENCE);
    assert_eq!(audio_level(&[4.0; 960]), 0);
    assert_eq!(audio_level(&[f32::NAN; 960]), SILENCE);
    assert_eq!(audio_level(&[f32::NEG_INFINITY; 960]), 0);
    assert_eq!(to_str0m(3), -3);
    assert_eq!(to_str0m(SILENCE), -127);
    assert!(is_active(33, 60) && is_active(60, 60));
    assert!(!is_active(61, 60) && !is_active(SILENCE, SILENCE));
}

#[test]
fn frame_levels_through_the_pipeline() {
    for (amp, level, active) in [
        (1.0, 3u8, true),
        (10f64.powf(-30.0 / 20.0), 33, true),
        (10f64.powf(-70.0 / 20.0), 73, false),
        (0.0, SILENCE, false),
    ] {
        let (frames, _) = run(44_100, 2, amp, &[1024], 44_100, 0);
        // The first and last frames hold the resampler's edges (and the flush padding).
        for f in &frames[1..frames.len() - 1] {
            assert_eq!(f.level, level, "amplitude {amp}");
            assert_eq!(f.audio_level, -(level as i8));
            assert_eq!(f.voice_activity, active);
        }
    }
}

#[test]
fn gap_rule() {
    let rate = 44_100;
    let mut enc = PcmToOpus::new(rate, 1, BASE, OpusSettings::default()).unwrap();
    let push_second = |enc: &mut PcmToOpus, start_ms: u32| {
        let mut at = 0u64;
        while at < 43 * 1024 {
            let pcm = sine(440.0, 0.5, rate, 1, at, 1024);
            enc.push(start_ms + flv_ms(at, rate), &pcm).unwrap();
            at += 1024;
        }
    };
    push_second(&mut enc, 0);
    // Small jitter in the timestamps is no gap (43 frames = 998.5 ms; 60 ms late).
    enc.push(1058, &sine(440.0, 0.5, rate, 1, 0, 1024)).unwrap();
    assert_eq!(enc.stats().gaps, 0);
    let before: Vec<_> = std::iter::from_fn(|| enc.poll_output()).collect();
    // The publisher pauses: the next frame is stamped 3010 ms.
    push_second(&mut enc, 3010);
    enc.flush().unwrap();
    let after: Vec<_> = std::iter::from_fn(|| enc.poll_output()).collect();
    assert_eq!(enc.stats().gaps, 1);
    let frames: Vec<_> = before.iter().chain(&after).cloned().collect();
    // The first run: 44 frames of 1024 at 44.1 kHz = 1021.5 ms → 52 frames, the last padded.
    let split = frames.iter().skip(1).position(|f| f.marker).unwrap() + 1;
    assert_eq!(split, 52);
    assert_continuous(&frames[..split]);
    assert_continuous(&frames[split..]);
    // The second run starts on the 20 ms grid nearest to 3010 ms (round half up: 3020).
    let resumed = &frames[split];
    assert_eq!(resumed.pts_ms, 3020);
    assert_eq!(resumed.rtp_timestamp, BASE.wrapping_add(3020 * 48));
    assert_eq!(
        resumed.rtp_timestamp.wrapping_sub(frames[0].rtp_timestamp) % 960,
        0,
        "on the frame grid"
    );
    assert_eq!(frames.len() - split, 50);
}

#[test]
fn late_input_never_overlaps() {
    // Input stamped earlier than where the samples end is laid out after them.
    let mut enc = PcmToOpus::new(48_000, 1, 0, OpusSettings::default()).unwrap();
    enc.push(0, &[0.1; 48_000]).unwrap();
    enc.push(500, &[0.1; 48_000]).unwrap();
    // A gap after that is measured from where the samples end (2000 ms).
    enc.push(2050, &[0.1; 960]).unwrap();
    assert_eq!(enc.stats().gaps, 0);
    enc.push(2250, &[0.1; 960]).unwrap();
    assert_eq!(enc.stats().gaps, 1);
    enc.flush().unwrap();
    let frames: Vec<_> = std::iter::from_fn(|| enc.poll_output()).collect();
    assert_continuous(&frames[..101]);
    assert_eq!(frames[101].pts_ms, 2260);
    assert!(frames[101].marker);
}

#[test]
fn non_finite_samples_are_silenced() {
    let mut enc = PcmToOpus::new(44_100, 1, 0, OpusSettings::default()).unwrap();
    let mut pcm = vec![f32::NAN; 2048];
    pcm[7] = f32::INFINITY;
    enc.push(0, &pcm).unwrap();
    enc.flush().unwrap();
    let frames: Vec<_> = std::iter::from_fn(|| enc.poll_output()).collect();
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.level == SILENCE));
    assert!(decode_all(&frames, 1).iter().all(|s| s.abs() < 1e-3));
}

#[test]
fn input_at_48khz_is_sample_exact() {
    let (frames, enc) = run(48_000, 2, 0.5, &[1000], 48_000, 0);
    assert_eq!(frames.len(), 50);
    assert_eq!(enc.stats().input_frames, 48_000);
    assert_continuous(&frames);
}

fn config(bytes: &[u8]) -> AudioSpecificConfig {
    AudioSpecificConfig::parse(bytes).unwrap()
}

#[test]
fn unsupported_configs_are_refused() {
    // HE-AAC (audio object type 5, as ffmpeg writes it).
    let err = AacToOpus::new(&config(&[0x2a, 0x08]), 0, OpusSettings::default()).unwrap_err();
    assert!(matches!(
        err,
        AudioError::UnsupportedConfig(FlvError::UnsupportedAac { .. })
    ));
    assert_eq!(
        err.to_string(),
        "HE-AAC (SBR, audio object type 5) is not supported, use AAC-LC"
    );
    // AAC-LC 5.1: the decoder does up to two channels.
    let err = AacToOpus::new(&config(&[0x11, 0xb0]), 0, OpusSettings::default()).unwrap_err();
    assert_eq!(err, AudioError::UnsupportedChannels(6));
    assert_eq!(
        err.to_string(),
        "AAC with channel configuration 6 is not supported, use mono or stereo"
    );
    assert_eq!(
        PcmToOpus::new(48_000, 3, 0, OpusSettings::default()).unwrap_err(),
        AudioError::UnsupportedChannels(3)
    );
    assert!(matches!(
        PcmToOpus::new(0, 1, 0, OpusSettings::default()),
        Err(AudioError::Resampler(_))
    ));
}

#[test]
fn undecodable_frames_become_counted_silence() {
    let mut t = AacToOpus::new(&config(&[0x12, 0x08]), BASE, OpusSettings::default()).unwrap();
    let mut errors = 0;
    for i in 0..100u32 {
        let garbage: Vec<u8> = (0..200u32).map(|b| (b * 37 + i * 11) as u8).collect();
        let frame: &[u8] = if i % 10 == 0 { &[] } else { &garbage };
        match t.push(i * 1024 * 1000 / 44_100, frame) {
            Ok(()) => {}
            Err(AudioError::Undecodable { frame, reason }) => {
                assert!(frame < 100 && !reason.is_empty());
                errors += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    t.flush().unwrap();
    let frames: Vec<_> = std::iter::from_fn(|| t.poll_output()).collect();
    let stats = t.stats();
    assert_eq!(stats.aac_frames, 100);
    assert_eq!(stats.undecodable_frames, errors);
    assert!(errors >= 10, "the empty frames at least");
    // The timeline is whole: 100 frames of 1024 at 44.1 kHz = 2322 ms → 117 frames.
    assert_eq!(frames.len(), 117);
    assert_continuous(&frames);
    assert_eq!(stats.gaps, 0);
}

#[test]
fn set_config_keeps_the_timeline() {
    let mono = config(&[0x12, 0x08]);
    let stereo_48k = config(&[0x11, 0x90]);
    let mut t = AacToOpus::new(&mono, 0, OpusSettings::default()).unwrap();
    assert_eq!(t.channels(), 1);
    t.set_config(&mono).unwrap();
    // Silence through the PCM stage's timeline: push undecodable (empty) frames.
    let _ = t.push(0, &[]);
    let _ = t.push(23, &[]);
    t.set_config(&stereo_48k).unwrap();
    assert_eq!(t.channels(), 2);
    assert_eq!(t.config(), &stereo_48k);
    let _ = t.push(46, &[]);
    t.flush().unwrap();
    let frames: Vec<_> = std::iter::from_fn(|| t.poll_output()).collect();
    // 2048 samples at 44.1 kHz (46.4 ms → 3 frames), then 1024 at 48 kHz from 60 ms (2 frames).
    assert_eq!(frames.len(), 5);
    assert_eq!(frames[3].pts_ms, 60);
    assert_eq!(
        opus::packet::get_nb_channels(&frames[4].payload).unwrap(),
        opus::Channels::Stereo
    );
    assert!(t.set_config(&config(&[0x2a, 0x08])).is_err());
    t.set_packet_loss(20).unwrap();
}

#[test]
fn settings_are_applied() {
    let settings = OpusSettings {
        bitrate: Some(16_000),
        fec: false,
        complexity: Some(0),
        application: opus::Application::Voip,
        ..OpusSettings::default()
    };
    let mut enc = PcmToOpus::new(48_000, 1, 0, settings).unwrap();
    enc.push(0, &sine(440.0, 0.5, 48_000, 1, 0, 48_000))
        .unwrap();
    let bytes: usize = std::iter::from_fn(|| enc.poll_output())
        .map(|f| f.payload.len())
        .sum();
    // About 16 kb/s for one second.
    assert!((1000..3000).contains(&bytes), "{bytes} bytes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random bytes as AAC frames: errors, never a panic, and an unbroken timeline.
    #[test]
    fn random_frames_never_panic(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 1..30),
        stereo in any::<bool>(),
    ) {
        let asc = if stereo { [0x12, 0x10] } else { [0x12, 0x08] };
        let mut t = AacToOpus::new(&config(&asc), 0, OpusSettings::default()).unwrap();
        for (i, f) in frames.iter().enumerate() {
            let _ = t.push(i as u32 * 23, f);
        }
        t.flush().unwrap();
        let out: Vec<_> = std::iter::from_fn(|| t.poll_output()).collect();
        prop_assert_eq!(t.stats().aac_frames, frames.len() as u64);
        for w in out.windows(2) {
            prop_assert_eq!(w[1].rtp_timestamp.wrapping_sub(w[0].rtp_timestamp), 960);
        }
    }
}
