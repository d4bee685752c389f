//! Writes the seed inputs of the RTMP ingest fuzz targets into `fuzz/corpus/<target>/seed-*`
//! (`make_seeds` writes the others).
//!
//! `cargo run -p podium-fuzzing --example make_ingest_seeds`. The seeds are real publishes:
//! rml_rtmp's client session talks to its server session in memory (connect, publish,
//! metadata, then the audio and video tags of the ffmpeg-made FLV fixtures of
//! `crates/ingest/tests/fixtures`), and the client's bytes are the `rtmp_chunks` seed; the
//! same tags, in `flv_ingest`'s framing behind a stream key, are its seeds.

use std::path::{Path, PathBuf};

use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionResult, PublishRequestType, ServerSession,
    ServerSessionConfig, ServerSessionEvent, ServerSessionResult, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;

/// Tags per seed: enough for sequence headers, an IDR and some audio, small enough to fuzz fast.
const TAGS: usize = 24;

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), data).expect("seed written");
}

/// (kind, timestamp, body) of an FLV file's audio (8) and video (9) tags.
fn tags(name: &str) -> Vec<(u8, u32, Vec<u8>)> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/fixtures")
        .join(name);
    let data = std::fs::read(&path).expect("fixture");
    let mut pos = u32::from_be_bytes(data[5..9].try_into().expect("4 bytes")) as usize + 4;
    let mut out = Vec::new();
    while pos + 11 <= data.len() {
        let h = &data[pos..pos + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        if matches!(h[0] & 0x1f, 8 | 9) {
            out.push((h[0] & 0x1f, ts, data[pos + 11..pos + 11 + size].to_vec()));
        }
        pos += 15 + size;
    }
    out
}

/// The client's side of a publish of `fixture`: every byte after the handshake.
fn publish(fixture: &str, key: &str) -> Vec<u8> {
    let (mut server, init) = ServerSession::new(ServerSessionConfig::new()).expect("server");
    let (mut client, _) = ClientSession::new(ClientSessionConfig::new()).expect("client");
    let mut wire = Vec::new();
    let mut server_out = Vec::new();
    // The server's opening messages (chunk size, window) reach the client first.
    collect(init, &mut server, &mut server_out);
    client
        .handle_input(&server_out)
        .expect("client takes the server's opening");
    // The client needs the server's answers to move on: they are passed back.
    let connect = client.request_connection("live".into()).expect("connect");
    let mut pending = vec![connect];
    let mut published = false;
    for step in 0..8 {
        for r in std::mem::take(&mut pending) {
            let ClientSessionResult::OutboundResponse(p) = r else {
                continue;
            };
            wire.extend_from_slice(&p.bytes);
            let answers = server.handle_input(&p.bytes).expect("server input");
            server_out.clear();
            collect(answers, &mut server, &mut server_out);
            let back = client.handle_input(&server_out).expect("client input");
            for b in back {
                match b {
                    ClientSessionResult::OutboundResponse(_) => pending.push(b),
                    ClientSessionResult::RaisedEvent(e) => {
                        let e = format!("{e:?}");
                        if e.contains("ConnectionRequestAccepted") {
                            pending.push(
                                client
                                    .request_publishing(key.into(), PublishRequestType::Live)
                                    .expect("publish request"),
                            );
                        }
                        if e.contains("PublishRequestAccepted") {
                            published = true;
                        }
                    }
                    ClientSessionResult::UnhandleableMessageReceived(_) => {}
                }
            }
        }
        if published || step == 7 {
            break;
        }
    }
    assert!(published, "the in-memory publish went through");
    let mut metadata = StreamMetadata::new();
    metadata.video_codec_id = Some(7);
    metadata.audio_codec_id = Some(10);
    let mut out = vec![client.publish_metadata(&metadata).expect("metadata")];
    for (kind, ts, body) in tags(fixture).into_iter().take(TAGS) {
        let data = bytes::Bytes::from(body);
        let ts = RtmpTimestamp::new(ts);
        out.push(if kind == 9 {
            client.publish_video_data(data, ts, false).expect("video")
        } else {
            client.publish_audio_data(data, ts, false).expect("audio")
        });
    }
    for r in out {
        if let ClientSessionResult::OutboundResponse(p) = r {
            wire.extend_from_slice(&p.bytes);
        }
    }
    wire
}

fn collect(results: Vec<ServerSessionResult>, server: &mut ServerSession, out: &mut Vec<u8>) {
    for r in results {
        match r {
            ServerSessionResult::OutboundResponse(p) => out.extend_from_slice(&p.bytes),
            ServerSessionResult::RaisedEvent(
                ServerSessionEvent::ConnectionRequested { request_id, .. }
                | ServerSessionEvent::PublishStreamRequested { request_id, .. },
            ) => {
                let more = server.accept_request(request_id).expect("accepted");
                collect(more, server, out);
            }
            _ => {}
        }
    }
}

/// `flv_ingest`'s framing: the key line, then kind, timestamp, length, body per tag.
fn framed(fixture: &str, key: &str) -> Vec<u8> {
    let mut out = format!("{key}\n").into_bytes();
    for (kind, ts, body) in tags(fixture).into_iter().take(TAGS) {
        let body = &body[..body.len().min(usize::from(u16::MAX))];
        out.push(if kind == 9 { 0 } else { 1 });
        out.extend_from_slice(&ts.to_be_bytes());
        out.extend_from_slice(&u16::try_from(body.len()).expect("cut").to_be_bytes());
        out.extend_from_slice(body);
    }
    out
}

fn main() {
    for (name, fixture, key) in [
        (
            "baseline",
            "baseline_mono.flv",
            "studio?token=abc&sourceId=cam+2",
        ),
        (
            "main-bframes",
            "main_stereo_bframes_inband.flv",
            "s?token=t&priority=2",
        ),
        ("he-aac", "he_aac_signalled.flv", "s?token=t&record=true"),
    ] {
        write("rtmp_chunks", name, &publish(fixture, key));
        write("flv_ingest", name, &framed(fixture, key));
    }
    println!("RTMP ingest seeds written under fuzz/corpus/");
}
