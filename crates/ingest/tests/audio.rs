//! The AAC → Opus transcoder on the AAC tracks of the ffmpeg fixtures (a 440 Hz sine at
//! ffmpeg's default amplitude 1/8, AAC-LC 44.1 kHz; see tests/fixtures/README.md).

mod common;

use common::{fixture, read_flv, Tag, AUDIO};
use podium_ingest::audio::{AacToOpus, OpusFrame, OpusSettings, FRAME_SAMPLES, OPUS_RATE};
use podium_ingest::flv::{parse_audio_tag, AudioSpecificConfig, AudioTag};
use proptest::prelude::*;

const BASE: u32 = 0xdead_0000;

/// The fixture's AAC config and its raw frames with their FLV timestamps.
fn aac_track(name: &str) -> (AudioSpecificConfig, Vec<(u32, Vec<u8>)>) {
    let tags: Vec<Tag> = read_flv(&fixture(name))
        .into_iter()
        .filter(|t| t.kind == AUDIO)
        .collect();
    let mut config = None;
    let mut frames = Vec::new();
    for t in &tags {
        match parse_audio_tag(&t.body).unwrap() {
            AudioTag::SequenceHeader(c) => config = Some(c),
            AudioTag::Raw(f) => frames.push((t.timestamp, f.to_vec())),
            AudioTag::EndOfSequence => {}
        }
    }
    (config.expect("an AAC sequence header"), frames)
}

fn transcode(
    config: &AudioSpecificConfig,
    frames: &[(u32, Vec<u8>)],
) -> (Vec<OpusFrame>, AacToOpus) {
    let mut t = AacToOpus::new(config, BASE, OpusSettings::default()).unwrap();
    let mut out = Vec::new();
    for (ts, f) in frames {
        t.push(*ts, f).unwrap();
        out.extend(std::iter::from_fn(|| t.poll_output()));
    }
    t.flush().unwrap();
    out.extend(std::iter::from_fn(|| t.poll_output()));
    (out, t)
}

/// Decodes the Opus frames into per-channel sample vectors.
fn decode(frames: &[OpusFrame], channels: usize) -> Vec<Vec<f32>> {
    let layout = if channels == 1 {
        opus::Channels::Mono
    } else {
        opus::Channels::Stereo
    };
    let mut dec = opus::Decoder::new(OPUS_RATE, layout).unwrap();
    let mut planes = vec![Vec::new(); channels];
    let mut buf = vec![0f32; 5760 * 2];
    for f in frames {
        let n = dec.decode_float(&f.payload, &mut buf, false).unwrap();
        assert_eq!(n, FRAME_SAMPLES);
        for (i, s) in buf[..n * channels].iter().enumerate() {
            planes[i % channels].push(*s);
        }
    }
    planes
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64).sqrt()
}

/// The frequency from the count of sign changes.
fn zero_crossing_hz(x: &[f32]) -> f64 {
    let crossings = x
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    crossings as f64 / 2.0 / (x.len() as f64 / f64::from(OPUS_RATE))
}

#[test]
fn fixture_aac_tracks_become_440hz_opus() {
    // ffmpeg made the stereo track by upmixing the mono sine at −3 dB per channel.
    for (name, channels, expected_rms, expected_level) in [
        ("baseline_mono.flv", 1, 0.125 / 2f64.sqrt(), 21),
        ("main_stereo_bframes_inband.flv", 2, 0.125 / 2.0, 24),
    ] {
        let (config, frames) = aac_track(name);
        let (out, t) = transcode(&config, &frames);
        assert_eq!(usize::from(t.channels()), channels, "{name}");
        let stats = t.stats();
        assert_eq!(stats.aac_frames, frames.len() as u64);
        assert_eq!(stats.undecodable_frames, 0, "{name}");
        // 45 AAC frames of 1024 samples at 44.1 kHz: 1045 ms → 53 Opus frames.
        let samples = frames.len() as u64 * 1024 * 48_000;
        assert_eq!(
            out.len() as u64,
            samples.div_ceil(44_100).div_ceil(960),
            "{name}"
        );
        // Anchored to the first frame's FLV time, then 960 ticks apart.
        let first_ms = frames[0].0;
        assert_eq!(
            out[0].rtp_timestamp,
            BASE.wrapping_add(first_ms * 48),
            "{name}"
        );
        assert_eq!(out[0].pts_ms, i64::from(first_ms));
        assert!(out[0].marker);
        for w in out.windows(2) {
            assert_eq!(w[1].rtp_timestamp.wrapping_sub(w[0].rtp_timestamp), 960);
            assert!(!w[1].marker);
        }
        let planes = decode(&out, channels);
        for (c, plane) in planes.iter().enumerate() {
            // Skip the start (AAC priming, libopus look-ahead) and the padded end.
            let steady = &plane[4800..plane.len() - 4800];
            let level = rms(steady);
            // A sine of peak 1/8 has RMS 0.088 (−21 dBov).
            println!(
                "{name} channel {c}: RMS {level:.4}, {:.1} Hz",
                zero_crossing_hz(steady)
            );
            assert!(
                (level / expected_rms - 1.0).abs() < 0.1,
                "{name} channel {c}: RMS {level}, expected {expected_rms}"
            );
            let hz = zero_crossing_hz(steady);
            assert!((430.0..450.0).contains(&hz), "{name} channel {c}: {hz} Hz");
        }
        // The RFC 6464 level of the steady frames, voice active.
        for f in &out[5..out.len() - 5] {
            assert!(
                f.level.abs_diff(expected_level) <= 1,
                "{name}: level {}, expected {expected_level}",
                f.level
            );
            assert_eq!(f.audio_level, -(f.level as i8));
            assert!(f.voice_activity);
        }
    }
}

#[test]
fn repeated_sequence_header_is_harmless() {
    let (config, frames) = aac_track("baseline_mono.flv");
    let (reference, _) = transcode(&config, &frames);
    let mut t = AacToOpus::new(&config, BASE, OpusSettings::default()).unwrap();
    for (i, (ts, f)) in frames.iter().enumerate() {
        if i % 10 == 0 {
            t.set_config(&config).unwrap();
        }
        t.push(*ts, f).unwrap();
    }
    t.flush().unwrap();
    let out: Vec<_> = std::iter::from_fn(|| t.poll_output()).collect();
    assert_eq!(out, reference);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Real AAC frames with flipped bits and cut ends: the decoder's deeper paths get garbage;
    /// errors are counted, nothing panics, the timeline stays whole.
    #[test]
    fn mangled_fixture_frames_never_panic(
        stereo in any::<bool>(),
        flips in proptest::collection::vec((0usize..45, any::<u16>(), 0u8..8), 1..40),
        cuts in proptest::collection::vec((0usize..45, any::<u16>()), 0..10),
    ) {
        let name = if stereo { "main_stereo_bframes_inband.flv" } else { "baseline_mono.flv" };
        let (config, mut frames) = aac_track(name);
        let count = frames.len();
        for (i, pos, bit) in flips {
            let f = &mut frames[i % count].1;
            if !f.is_empty() {
                let p = usize::from(pos) % f.len();
                f[p] ^= 1 << bit;
            }
        }
        for (i, len) in cuts {
            let f = &mut frames[i % count].1;
            f.truncate(usize::from(len) % (f.len() + 1));
        }
        let mut t = AacToOpus::new(&config, 0, OpusSettings::default()).unwrap();
        for (ts, f) in &frames {
            let _ = t.push(*ts, f);
        }
        t.flush().unwrap();
        let out: Vec<_> = std::iter::from_fn(|| t.poll_output()).collect();
        let samples = frames.len() as u64 * 1024 * 48_000;
        prop_assert_eq!(out.len() as u64, samples.div_ceil(44_100).div_ceil(960));
        for w in out.windows(2) {
            prop_assert_eq!(w[1].rtp_timestamp.wrapping_sub(w[0].rtp_timestamp), 960);
        }
    }
}

/// The CPU cost of the transcode: 60 s of the stereo fixture's audio, looped, through
/// `AacToOpus` on this thread. Not part of CI (timing depends on the machine); run it with
/// `cargo test --release -p podium-ingest --test audio -- --ignored --nocapture cpu_cost`.
#[test]
#[ignore = "a measurement, not a check: run by hand with --release"]
#[allow(clippy::disallowed_methods)] // measuring wall time is the point here
fn cpu_cost_per_second_of_audio() {
    for name in ["main_stereo_bframes_inband.flv", "baseline_mono.flv"] {
        let (config, frames) = aac_track(name);
        let seconds = 60u32;
        let frames_needed = (seconds * 44_100).div_ceil(1024) as usize;
        let mut t = AacToOpus::new(&config, 0, OpusSettings::default()).unwrap();
        let cpu_start = thread_cpu_ns();
        let wall_start = std::time::Instant::now();
        let mut produced = 0u64;
        for i in 0..frames_needed {
            let (_, f) = &frames[i % frames.len()];
            // Timestamps as the encoder would write them for a continuous stream.
            let ts = (i as u64 * 1024 * 1000 / 44_100) as u32;
            t.push(ts, f).unwrap();
            while t.poll_output().is_some() {
                produced += 1;
            }
        }
        t.flush().unwrap();
        produced += std::iter::from_fn(|| t.poll_output()).count() as u64;
        let wall = wall_start.elapsed();
        let cpu = thread_cpu_ns().map(|end| end - cpu_start.unwrap_or(end));
        let audio_s = frames_needed as f64 * 1024.0 / 44_100.0;
        println!(
            "{name}: {audio_s:.1} s of {}-channel audio → {produced} Opus frames; wall {:.0} µs \
             per second of audio{}",
            t.channels(),
            wall.as_micros() as f64 / audio_s,
            cpu.map(|ns| format!(
                ", thread CPU {:.0} µs per second of audio",
                ns as f64 / 1000.0 / audio_s
            ))
            .unwrap_or_default(),
        );
        assert_eq!(t.stats().undecodable_frames, 0);
    }
}

/// This thread's CPU time in ns (Linux `/proc/thread-self/schedstat`), if available.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}
