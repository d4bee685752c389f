//! The recording tap: a recorded publication's packets (WebRTC or local) come out of the
//! core in order with their track and payload type, an end marks the file complete, and
//! nothing comes out of publications that are not recorded.

use std::sync::Arc;
use std::time::Duration;

use podium_media::{
    Kind, LocalPacket, LocalPublishParams, LocalTrack, MediaError, RecordCodec, Recorded,
};
use str0m::media::MediaKind;

use podium_testkit::Net;

fn drain(net: &mut Net) -> Vec<Recorded> {
    net.sfu.take_recorded().collect()
}

fn opus(ts: u32) -> LocalPacket {
    LocalPacket {
        captured: None,
        rtp_timestamp: ts,
        marker: false,
        audio_level: Some(-30),
        voice_activity: Some(true),
        payload: Arc::from(&[0xfc, 1, 2][..]),
    }
}

#[test]
fn a_recorded_local_publication_is_tapped_until_stopped() {
    let mut net = Net::new();
    let local = net
        .sfu
        .publish_local(
            net.now,
            LocalPublishParams {
                stream: "s".into(),
                source: None,
                tracks: vec![LocalTrack::opus(), LocalTrack::h264(Some(0x42e01f))],
                priority: None,
            },
        )
        .unwrap();
    // Not recorded: nothing.
    net.sfu.push_local(net.now, local, 0, opus(u32::MAX - 960));
    assert!(drain(&mut net).is_empty());

    let tracks = net.sfu.start_recording(local).unwrap();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].kind, Kind::Audio);
    assert!(matches!(
        tracks[0].payloads[0].codec,
        RecordCodec::Opus { .. }
    ));
    assert_eq!(tracks[0].payloads[0].clock_rate, 48_000);
    assert_eq!(
        tracks[1].payloads[0].codec,
        RecordCodec::H264 {
            profile_level_id: Some(0x42e01f)
        }
    );
    // Across the 32-bit wrap: extended timestamps keep growing.
    net.sfu.push_local(net.now, local, 0, opus(u32::MAX));
    net.sfu.push_local(net.now, local, 0, opus(959));
    let got = drain(&mut net);
    assert!(
        matches!(&got[0], Recorded::Started { publication, tracks: t } if *publication == local && *t == tracks),
        "{got:?}"
    );
    // Starting again is harmless: no second start.
    net.sfu.start_recording(local).unwrap();
    assert!(drain(&mut net).is_empty());
    let packets: Vec<_> = got[1..]
        .iter()
        .map(|r| match r {
            Recorded::Packet(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].publication, local);
    assert_eq!(packets[0].track_idx, 0);
    assert_eq!(packets[1].seq, packets[0].seq + 1);
    assert!(packets[1].ts > packets[0].ts && packets[1].ts - packets[0].ts < 48_000);
    assert_eq!(&packets[0].payload[..], &[0xfc, 1, 2]);

    net.sfu.stop_recording(local);
    net.sfu.stop_recording(local); // twice: one end
    net.sfu.push_local(net.now, local, 0, opus(2000));
    let got = drain(&mut net);
    assert!(
        matches!(&got[..], [Recorded::Ended { publication }] if *publication == local),
        "{got:?}"
    );
}

#[test]
fn a_recorded_webrtc_publication_is_tapped_and_its_close_ends_the_recording() {
    let mut net = Net::new();
    let publisher = net.publish("s", Some("cam"), true);
    let viewer = net.view("s", Some("cam"));
    net.connect_all();
    let peer = net.clients[publisher].peer;
    // Past the keyframe request throttle (the viewer's connection asked for one).
    net.run(Duration::from_secs(3));
    let asked = net.clients[publisher].keyframe_requests.len();
    let tracks = net.sfu.start_recording(peer).unwrap();
    assert_eq!(
        tracks.iter().map(|t| t.kind).collect::<Vec<_>>(),
        vec![Kind::Audio, Kind::Video]
    );
    // Media payload types only (no RTX), with their codecs.
    assert!(tracks[1]
        .payloads
        .iter()
        .any(|p| p.codec == RecordCodec::Vp8 && p.clock_rate == 90_000));
    for _ in 0..5 {
        net.clients[publisher].send(net.now, MediaKind::Audio, 7, Some(-20));
        net.clients[publisher].send(net.now, MediaKind::Video, 7, None);
        net.run(Duration::from_millis(20));
    }
    // The file starts at a keyframe: the publisher was asked for one.
    assert!(net.clients[publisher].keyframe_requests.len() > asked);
    let got = drain(&mut net);
    let audio = got
        .iter()
        .filter(|r| matches!(r, Recorded::Packet(p) if p.track_idx == 0))
        .count();
    let video = got
        .iter()
        .filter(|r| matches!(r, Recorded::Packet(p) if p.track_idx == 1))
        .count();
    assert_eq!((audio, video), (5, 5), "{got:?}");
    // Forwarding is unaffected.
    assert!(!net.clients[viewer].seen(MediaKind::Video).is_empty());

    net.sfu.close_peer(net.now, peer);
    let got = drain(&mut net);
    assert!(
        matches!(got.last(), Some(Recorded::Ended { publication }) if *publication == peer),
        "{got:?}"
    );
    // Viewers cannot be recorded; ended publications are unknown.
    let viewer_peer = net.clients[viewer].peer;
    assert_eq!(
        net.sfu.start_recording(viewer_peer),
        Err(MediaError::UnknownPeer)
    );
    assert_eq!(net.sfu.start_recording(peer), Err(MediaError::UnknownPeer));
}
