//! RTMP ingest: the chunk stream after the handshake (rml_rtmp's server session behind
//! Podium's guard) and the FLV → RTP pipeline with its stream keys.

use std::time::{Duration, Instant};

use podium_ingest::pipeline::{Output, Pipeline, PipelineSettings};
use podium_ingest::stream_key::StreamKey;
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};

/// The bytes after a completed handshake, split into reads at every `0xff 0xfe` pair (so the
/// fuzzer controls how chunks straddle reads), fed to a server session through
/// `podium_server::rtmp::session_input`; requests it raises are accepted, and the audio and
/// video data it delivers go to a pipeline, as the connection task does.
pub fn rtmp_chunks(data: &[u8]) {
    let Ok((mut session, _)) = ServerSession::new(ServerSessionConfig::new()) else {
        return;
    };
    #[allow(clippy::disallowed_methods)] // an arbitrary origin for simulated time
    let start = Instant::now();
    let mut pipeline = Pipeline::new(0, 0, PipelineSettings::default());
    let mut n = 0u64;
    for read in data.split_inclusive(|&b| b == 0xfe) {
        let Ok(results) = podium_server::rtmp::session_input(&mut session, read) else {
            return;
        };
        n += 1;
        let now = start + Duration::from_millis(n * 10);
        let mut queue = results;
        while let Some(r) = queue.pop() {
            let ServerSessionResult::RaisedEvent(event) = r else {
                continue;
            };
            match event {
                ServerSessionEvent::ConnectionRequested { request_id, .. }
                | ServerSessionEvent::PublishStreamRequested { request_id, .. } => {
                    if let Ok(more) = session.accept_request(request_id) {
                        queue.extend(more);
                    }
                }
                ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                    pipeline.metadata(now, metadata.video_codec_id, metadata.audio_codec_id)
                }
                ServerSessionEvent::VideoDataReceived {
                    data, timestamp, ..
                } => {
                    let _ = pipeline.video(now, timestamp.value, &data);
                }
                ServerSessionEvent::AudioDataReceived {
                    data, timestamp, ..
                } => {
                    let _ = pipeline.audio(now, timestamp.value, &data);
                }
                _ => {}
            }
        }
        drain(&mut pipeline);
    }
}

/// A stream key (the first line), then tags: each is a kind byte (even: video, odd: audio), a
/// 32-bit FLV timestamp, a 16-bit length and the body; now advances 100 ms per tag so the
/// wait for tracks can run out.
pub fn flv_ingest(data: &[u8]) {
    let (key, mut rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(k) = StreamKey::parse(&String::from_utf8_lossy(key)) {
        assert!(!k.stream.is_empty());
    }
    #[allow(clippy::disallowed_methods)] // an arbitrary origin for simulated time
    let start = Instant::now();
    let mut pipeline = Pipeline::new(0x1234_5678, 0x9abc_def0, PipelineSettings::default());
    let mut n = 0u64;
    while rest.len() >= 7 {
        let kind = rest[0];
        let ts = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(u16::from_be_bytes([rest[5], rest[6]])).min(rest.len() - 7);
        let body = &rest[7..7 + len];
        rest = &rest[7 + len..];
        n += 1;
        let now = start + Duration::from_millis(n * 100);
        let _ = if kind % 2 == 0 {
            pipeline.video(now, ts, body)
        } else {
            pipeline.audio(now, ts, body)
        };
        pipeline.handle_timeout(now);
        drain(&mut pipeline);
        if kind == 0xff {
            pipeline.request_keyframe();
        }
    }
}

fn drain(pipeline: &mut Pipeline) {
    while let Some(out) = pipeline.poll_output() {
        if let Output::Media(m) = out {
            assert!(m.payload.len() <= 1500, "payload {} bytes", m.payload.len());
        }
    }
}
