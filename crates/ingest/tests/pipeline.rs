//! The whole FLV → RTP pipeline of one publication on ffmpeg-made fixtures: when the tracks
//! are announced, what is held until then, timestamps of both tracks on one axis, fatal and
//! non-fatal errors.
#![allow(clippy::disallowed_methods)] // an arbitrary origin for simulated time

mod common;

use std::time::{Duration, Instant};

use common::{fixture, read_flv, Tag, AUDIO, VIDEO};
use podium_ingest::flv::AvcDecoderConfig;
use podium_ingest::pipeline::{
    profile_level_id, IngestError, MediaKind, MediaPacket, Output, Pipeline, PipelineSettings,
    TrackSet,
};

fn feed(p: &mut Pipeline, now: Instant, tag: &Tag) -> Result<(), IngestError> {
    match tag.kind {
        VIDEO => p.video(now, tag.timestamp, &tag.body),
        AUDIO => p.audio(now, tag.timestamp, &tag.body),
        _ => Ok(()),
    }
}

fn drain(p: &mut Pipeline) -> Vec<Output> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

fn packets(out: &[Output], kind: MediaKind) -> Vec<&MediaPacket> {
    out.iter()
        .filter_map(|o| match o {
            Output::Media(m) if m.kind == kind => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn metadata_announces_both_tracks_before_the_first_frame_is_lost() {
    let now = Instant::now();
    let mut p = Pipeline::new(1000, 2000, PipelineSettings::default());
    // ffmpeg's onMetaData: videocodecid 7 (AVC), audiocodecid 10 (AAC).
    p.metadata(now, Some(7), Some(10));
    let mut out = Vec::new();
    for tag in read_flv(&fixture("baseline_mono.flv")) {
        feed(&mut p, now, &tag).unwrap();
        out.extend(drain(&mut p));
    }
    let publishes: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Publish(t) => Some(*t),
            _ => None,
        })
        .collect();
    // Constrained baseline (constraint_set1) as browsers name it, level 1.3 (13 = 0x0d)
    // or whatever x264 picked: only the profile bytes are fixed.
    assert_eq!(publishes.len(), 1, "{publishes:?}");
    assert!(publishes[0].audio);
    assert_eq!(publishes[0].video.map(|v| v >> 8), Some(0x42e0));
    assert!(matches!(out[0], Output::Publish(_)), "announced first");

    let video = packets(&out, MediaKind::Video);
    let audio = packets(&out, MediaKind::Audio);
    // The first video payload is the parameter sets (STAP-A, type 24) of the first IDR.
    assert_eq!(video[0].payload[0] & 0x1f, 24);
    // The RTP timestamp is the presentation time (FLV time + composition offset) from base.
    assert_eq!(video[0].rtp_timestamp, 1000 + 90 * video[0].pts_ms as u32);
    // 30 frames at 90 kHz: steps of 33 or 34 ms (FLV time is in ms).
    let mut stamps: Vec<u32> = video.iter().map(|v| v.rtp_timestamp).collect();
    stamps.dedup();
    assert_eq!(stamps.len(), 30);
    assert!(
        stamps
            .windows(2)
            .all(|w| [2970, 3060].contains(&(w[1] - w[0]))),
        "{stamps:?}"
    );
    // About a second of 20 ms Opus frames (AAC priming included).
    assert!(
        (45..=52).contains(&audio.len()),
        "{} opus frames",
        audio.len()
    );
    assert_eq!(audio[0].rtp_timestamp, 2000);
    assert!(audio
        .windows(2)
        .all(|w| w[1].rtp_timestamp - w[0].rtp_timestamp == 960));
    // A 440 Hz sine: loud, flagged as voice activity.
    assert!(
        audio[5].audio_level.unwrap() > -30,
        "{:?}",
        audio[5].audio_level
    );
    assert_eq!(audio[5].voice_activity, Some(true));
    // One time axis: both tracks' pts in ms from FLV 0.
    assert!((0..100).contains(&video[0].pts_ms), "{}", video[0].pts_ms);
    assert_eq!(audio[0].pts_ms, 0);
    let stats = p.stats();
    assert_eq!(stats.video_frames, 30);
    assert_eq!(stats.held_dropped, 0);
}

#[test]
fn without_metadata_it_waits_for_both_sequence_headers_then_for_the_deadline() {
    let t0 = Instant::now();
    let tags = read_flv(&fixture("baseline_mono.flv"));
    let video_only: Vec<&Tag> = tags.iter().filter(|t| t.kind == VIDEO).collect();
    let mut p = Pipeline::new(0, 0, PipelineSettings::default());
    for tag in &video_only[..10] {
        feed(&mut p, t0, tag).unwrap();
    }
    // No metadata, no audio yet: held.
    assert!(drain(&mut p).is_empty());
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    p.handle_timeout(t0 + Duration::from_millis(999));
    assert!(drain(&mut p).is_empty());
    p.handle_timeout(t0 + Duration::from_secs(1));
    let out = drain(&mut p);
    let Output::Publish(tracks) = out[0] else {
        panic!("{:?}", out[0])
    };
    assert!(!tracks.audio && tracks.video.is_some());
    // The held frames come out right after, from the first IDR.
    let video = packets(&out, MediaKind::Video);
    assert_eq!(video[0].payload[0] & 0x1f, 24);
    assert_eq!(p.poll_timeout(), None);

    // Audio that starts later is a new track: announced again, with video kept.
    for tag in tags.iter().filter(|t| t.kind == AUDIO).take(3) {
        feed(&mut p, t0, tag).unwrap();
    }
    let out = drain(&mut p);
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::Publish(_)))
            .collect::<Vec<_>>(),
        vec![&Output::Publish(TrackSet {
            audio: true,
            video: tracks.video
        })]
    );
}

#[test]
fn the_hold_is_bounded() {
    let t0 = Instant::now();
    let settings = PipelineSettings {
        max_held: 8,
        ..Default::default()
    };
    let mut p = Pipeline::new(0, 0, settings);
    p.metadata(t0, Some(7), Some(10)); // audio announced but never sent
    for tag in read_flv(&fixture("baseline_mono.flv"))
        .iter()
        .filter(|t| t.kind == VIDEO)
    {
        feed(&mut p, t0, tag).unwrap();
    }
    assert!(drain(&mut p).is_empty());
    assert!(p.stats().held_dropped > 0);
    // The deadline publishes what there is, with the newest 8 packets.
    p.handle_timeout(t0 + Duration::from_secs(1));
    let out = drain(&mut p);
    assert_eq!(out.len(), 9);
}

#[test]
fn refused_codecs_are_fatal_and_named() {
    let now = Instant::now();
    let mut p = Pipeline::new(0, 0, PipelineSettings::default());
    // FLV video codec 12 (HEVC, the non-standard id) and MP3 audio.
    let e = p.video(now, 0, &[0x1c, 0, 0, 0, 0]).unwrap_err();
    assert!(e.is_fatal());
    assert!(e.to_string().contains("HEVC"), "{e}");
    let e = p.audio(now, 0, &[0x2f, 0xff]).unwrap_err();
    assert!(e.is_fatal() && e.to_string().contains("MP3"), "{e}");
    // HE-AAC, as ffmpeg signals it.
    let tags = read_flv(&fixture("he_aac_signalled.flv"));
    let header = tags.iter().find(|t| t.kind == AUDIO).unwrap();
    let e = p.audio(now, 0, &header.body).unwrap_err();
    assert!(e.is_fatal() && e.to_string().contains("HE-AAC"), "{e}");
    // Garbage.
    let e = p.video(now, 0, &[0x17, 0x07]).unwrap_err();
    assert!(e.is_fatal(), "{e}");
}

#[test]
fn frames_before_their_sequence_header_are_dropped_not_fatal() {
    let now = Instant::now();
    let mut p = Pipeline::new(0, 0, PipelineSettings::default());
    let e = p
        .video(now, 0, &[0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88])
        .unwrap_err();
    assert!(!e.is_fatal(), "{e}");
    let e = p.audio(now, 0, &[0xaf, 1, 0x21, 0x10]).unwrap_err();
    assert_eq!(e, IngestError::AudioBeforeConfig);
    assert!(!e.is_fatal());
    assert_eq!(p.stats().video_frames_dropped, 1);
    assert_eq!(p.stats().audio_frames_dropped, 1);
}

#[test]
fn profiles_are_named_as_browsers_offer_them() {
    let config = |profile, compatibility, level| AvcDecoderConfig {
        profile,
        compatibility,
        level,
        nal_length_size: 4,
        sps: vec![],
        pps: vec![],
    };
    assert_eq!(profile_level_id(&config(66, 0xc0, 0x1e)), Ok(0x42e01e));
    assert_eq!(profile_level_id(&config(66, 0x40, 0x1f)), Ok(0x42e01f));
    assert_eq!(profile_level_id(&config(66, 0x00, 0x1f)), Ok(0x42001f));
    assert_eq!(profile_level_id(&config(77, 0x40, 0x28)), Ok(0x4d0028));
    assert_eq!(profile_level_id(&config(100, 0x00, 0x33)), Ok(0x640033));
    let e = profile_level_id(&config(110, 0, 0x1f)).unwrap_err();
    assert!(e.to_string().contains("High 10"), "{e}");
}
