//! Local publications: media produced in-process (an RTMP ingest) with no WebRTC peer.

use std::sync::Arc;
use std::time::Duration;

use podium_media::{
    CloseReason, Kind, LocalPacket, LocalPublishParams, LocalTrack, MediaError, MediaEvent, PeerId,
    SourceKey,
};
use str0m::media::{KeyframeRequestKind, MediaKind};

use podium_testkit::{Net, Seen};

const AUDIO: usize = 0;
const VIDEO: usize = 1;

fn publish_local(net: &mut Net, source: Option<&str>, tracks: Vec<LocalTrack>) -> PeerId {
    net.sfu
        .publish_local(
            net.now,
            LocalPublishParams {
                stream: "s".into(),
                source: source.map(Into::into),
                tracks,
                priority: None,
            },
        )
        .expect("local publication accepted")
}

fn av() -> Vec<LocalTrack> {
    vec![LocalTrack::opus(), LocalTrack::h264(None)]
}

/// What a packetizer does per 20 ms: one Opus packet and a two-packet video frame.
struct Source {
    peer: PeerId,
    tag: u8,
    n: u32,
    ts_base: u32,
}

impl Source {
    fn new(peer: PeerId, tag: u8) -> Self {
        // Starts close to the 32-bit wrap, so the test crosses it.
        Self {
            peer,
            tag,
            n: 0,
            ts_base: u32::MAX - 20_000,
        }
    }

    fn audio(&mut self, net: &mut Net, level: Option<i8>) {
        let ts = self.ts_base.wrapping_add(self.n * 960);
        net.sfu.push_local(
            net.now,
            self.peer,
            AUDIO,
            LocalPacket {
                captured: None,
                rtp_timestamp: ts,
                marker: false,
                audio_level: level,
                voice_activity: level.map(|l| l > -127),
                payload: Arc::from(&[self.tag, self.n as u8, 0xAA][..]),
            },
        );
    }

    fn video(&mut self, net: &mut Net) {
        let ts = self.ts_base.wrapping_add(self.n * 1800);
        for last in [false, true] {
            net.sfu.push_local(
                net.now,
                self.peer,
                VIDEO,
                LocalPacket {
                    captured: None,
                    rtp_timestamp: ts,
                    marker: last,
                    audio_level: None,
                    voice_activity: None,
                    // FU-A fragments of an IDR slice: indicator 28 | NRI, header with S/E.
                    payload: Arc::from(&[self.tag, 0x85 | if last { 0x40 } else { 0x80 }][..]),
                },
            );
        }
    }

    /// `n` ticks of 20 ms with audio at -30 dBov and video.
    fn run(&mut self, net: &mut Net, n: usize) {
        for _ in 0..n {
            self.audio(net, Some(-30));
            self.video(net);
            self.n += 1;
            net.run(Duration::from_millis(20));
        }
    }
}

fn tags(seen: &[Seen]) -> Vec<u8> {
    seen.iter().map(|s| s.payload[0]).collect()
}

fn assert_seq_continuous(seen: &[Seen]) {
    assert!(!seen.is_empty());
    for w in seen.windows(2) {
        assert_eq!(w[1].ssrc, w[0].ssrc, "one SSRC for the viewer's track");
        assert_eq!(w[1].seq, w[0].seq + 1, "sequence numbers continue by one");
    }
}

fn keyframe_requests(net: &Net, local: PeerId) -> usize {
    net.events_for(local)
        .iter()
        .filter(|e| matches!(e, MediaEvent::KeyframeRequested { .. }))
        .count()
}

fn video_mid(net: &Net, v: usize) -> str0m::media::Mid {
    net.clients[v]
        .mids
        .iter()
        .find(|(_, k)| *k == MediaKind::Video)
        .unwrap()
        .0
}

#[test]
fn a_local_publication_reaches_an_h264_viewer_like_a_webrtc_one() {
    let mut net = Net::new();
    let v = net.view("s", None);
    net.connect_all();
    assert!(
        net.clients[v].answer.contains("H264/90000"),
        "the viewer's answer keeps the H.264 it offered"
    );
    let local = publish_local(&mut net, None, av());
    assert_eq!(net.sfu.publication_count(), 1);
    assert_eq!(net.sfu.source_count(), 1);
    assert!(net.sfu.is_local_publication(local));
    let mut src = Source::new(local, 9);
    src.run(&mut net, 50);

    let viewer = &net.clients[v];
    let audio = viewer.seen(MediaKind::Audio);
    let video = viewer.seen(MediaKind::Video);
    assert_eq!(audio.len(), 50, "every audio packet forwarded");
    assert_eq!(video.len(), 100, "every video packet forwarded");
    assert!(tags(&audio).iter().chain(&tags(&video)).all(|t| *t == 9));
    assert!(audio.iter().all(|s| s.audio_level == Some(-30)));
    assert_eq!(audio[0].payload, vec![9, 0, 0xAA], "payload byte for byte");
    assert_seq_continuous(&audio);
    assert_seq_continuous(&video);
    for w in audio.windows(2) {
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts), 960, "audio clock kept");
    }
    for (i, s) in video.iter().enumerate() {
        assert_eq!(s.marker, i % 2 == 1, "marker on the last packet of a frame");
    }
    for w in video.chunks(2).collect::<Vec<_>>().windows(2) {
        assert_eq!(w[0][0].ts, w[0][1].ts, "one timestamp per frame");
        assert_eq!(
            w[1][0].ts.wrapping_sub(w[0][0].ts),
            1800,
            "video clock kept"
        );
    }
    assert_eq!(net.sfu.counters().rtp_dropped_no_codec, 0);
    assert_eq!(net.sfu.counters().rtp_received, 150);

    let viewer_peer = net.clients[v].peer;
    let active: Vec<_> = net
        .events_for(viewer_peer)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::SourceActive { source, tracks, .. } => Some((source, tracks)),
            _ => None,
        })
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].0, None);
    let ids: Vec<_> = active[0]
        .1
        .iter()
        .map(|t| (t.kind, t.track_id.as_str()))
        .collect();
    assert_eq!(ids, vec![(Kind::Audio, "audio0"), (Kind::Video, "video0")]);

    // A local publication never times out: the shell owns its lifetime.
    net.run(Duration::from_secs(30));
    assert!(net.sfu.is_local_publication(local));

    net.sfu.close_peer(net.now, local);
    net.step();
    let events = net.events_for(viewer_peer);
    assert!(events
        .iter()
        .any(|e| matches!(e, MediaEvent::SourceInactive { source: None, .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, MediaEvent::StreamStopped { .. })));
    assert!(net.events_for(local).iter().any(|e| matches!(
        e,
        MediaEvent::PeerClosed {
            reason: CloseReason::Requested,
            ..
        }
    )));
    assert_eq!(net.sfu.publication_count(), 0);
    assert!(!net.sfu.is_local_publication(local));
    // Packets for a closed publication are ignored.
    src.run(&mut net, 1);
    assert_eq!(net.sfu.counters().rtp_received, 150);
}

#[test]
fn a_viewer_joining_a_live_local_source_hears_it_active() {
    let mut net = Net::new();
    let local = publish_local(&mut net, Some("rtmp"), vec![LocalTrack::opus()]);
    let v = net.view("s", Some("rtmp"));
    net.connect_all();
    let mut src = Source::new(local, 3);
    for _ in 0..10 {
        src.audio(&mut net, Some(-30));
        src.n += 1;
        net.run(Duration::from_millis(20));
    }
    let peer = net.clients[v].peer;
    assert!(net.events_for(peer).iter().any(|e| matches!(
        e,
        MediaEvent::SourceActive { source: Some(s), tracks, .. } if s == "rtmp" && tracks.len() == 1
    )));
    assert_eq!(net.clients[v].seen(MediaKind::Audio).len(), 10);
    assert!(net.clients[v].seen(MediaKind::Video).is_empty());
    // Audio only: nothing to ask a keyframe of.
    assert_eq!(keyframe_requests(&net, local), 0);
}

#[test]
fn viewer_keyframe_requests_reach_the_shell_throttled() {
    let mut net = Net::with_config(|c| c.keyframe_request_interval = Duration::from_millis(300));
    let v = net.view("s", None);
    net.connect_all();
    let local = publish_local(&mut net, None, av());
    let mut src = Source::new(local, 1);
    src.run(&mut net, 5);
    assert_eq!(keyframe_requests(&net, local), 0, "nobody asked yet");

    let mid = video_mid(&net, v);
    let pli = |net: &mut Net| {
        let mut api = net.clients[v].rtc.direct_api();
        api.stream_rx_by_mid(mid, None)
            .expect("the viewer receives video")
            .request_keyframe(KeyframeRequestKind::Pli);
    };
    pli(&mut net);
    src.run(&mut net, 2);
    assert_eq!(keyframe_requests(&net, local), 1, "a PLI becomes an event");
    // Within the interval, more requests are folded into the first.
    pli(&mut net);
    src.run(&mut net, 2);
    pli(&mut net);
    src.run(&mut net, 2);
    assert_eq!(keyframe_requests(&net, local), 1, "throttled");
    src.run(&mut net, 15);
    pli(&mut net);
    src.run(&mut net, 2);
    assert_eq!(
        keyframe_requests(&net, local),
        2,
        "asked again after the interval"
    );

    // A viewer that connects later asks too (after the interval).
    src.run(&mut net, 20);
    let before = keyframe_requests(&net, local);
    let _late = net.view("s", None);
    net.connect_all();
    assert_eq!(
        keyframe_requests(&net, local),
        before + 1,
        "a joining viewer"
    );
    // The events go to the local publication only.
    assert!(net
        .events
        .iter()
        .filter(|e| matches!(e, MediaEvent::KeyframeRequested { .. }))
        .all(|e| e.recipient() == local));
}

#[test]
fn a_replacing_local_publication_continues_seamlessly_and_gets_a_keyframe_request() {
    let mut net = Net::new();
    let v = net.view("s", None);
    net.connect_all();
    let a = publish_local(&mut net, None, av());
    let mut src_a = Source::new(a, 1);
    src_a.run(&mut net, 10);

    // A reconnecting RTMP encoder: the new publication takes over at its first packet.
    let b = publish_local(&mut net, None, av());
    assert_eq!(keyframe_requests(&net, b), 0, "not before its media flows");
    let mut src_b = Source::new(b, 2);
    src_b.ts_base = 12_345;
    src_b.run(&mut net, 10);
    assert_eq!(
        keyframe_requests(&net, b),
        1,
        "asked for a keyframe on the switch"
    );
    src_a.run(&mut net, 5);
    assert!(net.sfu.counters().rtp_dropped_not_current > 0);
    net.sfu.close_peer(net.now, a);
    src_b.run(&mut net, 10);

    for kind in [MediaKind::Audio, MediaKind::Video] {
        let seen = net.clients[v].seen(kind);
        assert_seq_continuous(&seen);
        let t = tags(&seen);
        let switch = t.iter().position(|x| *x == 2).expect("switched to b");
        assert!(t[..switch].iter().all(|x| *x == 1) && t[switch..].iter().all(|x| *x == 2));
        for w in seen.windows(2) {
            let step = w[1].ts.wrapping_sub(w[0].ts);
            assert!(step < u32::MAX / 2, "timestamps never go back: {step}");
        }
    }
    let audio = net.clients[v].seen(MediaKind::Audio);
    let switch = audio.iter().position(|s| s.payload[0] == 2).unwrap();
    assert!(
        audio[switch].marker,
        "marker on the first audio packet after the switch"
    );
    let peer = net.clients[v].peer;
    assert!(!net
        .events_for(peer)
        .iter()
        .any(|e| matches!(e, MediaEvent::SourceInactive { .. })));
}

#[test]
fn a_webrtc_publisher_and_a_local_one_replace_each_other() {
    let mut net = Net::new();
    let p = net.publish("s", None, true);
    let v = net.view("s", None);
    net.connect_all();
    net.talk(&[(p, 1)], 10);
    let local = publish_local(&mut net, None, av());
    let mut src = Source::new(local, 2);
    src.run(&mut net, 10);
    let p_peer = net.clients[p].peer;
    net.sfu.close_peer(net.now, p_peer);
    src.run(&mut net, 5);
    // The local publication closes: the source ends for the viewer.
    net.sfu.close_peer(net.now, local);
    net.step();
    let audio = net.clients[v].seen(MediaKind::Audio);
    assert_seq_continuous(&audio);
    let t = tags(&audio);
    let switch = t
        .iter()
        .position(|x| *x == 2)
        .expect("switched to the local one");
    assert!(t[..switch].iter().all(|x| *x == 1) && t[switch..].iter().all(|x| *x == 2));
    // VP8 from the browser, then H.264 from the local one, on the same video m-line.
    let video = net.clients[v].seen(MediaKind::Video);
    assert!(tags(&video).contains(&2));
    assert_seq_continuous(&video);
    let events = net.events_for(net.clients[v].peer);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, MediaEvent::SourceInactive { .. }))
            .count(),
        1
    );
}

#[test]
fn local_publications_follow_the_sources_limit_and_validate_tracks() {
    let mut net = Net::with_config(|c| c.max_sources_per_stream = Some(1));
    publish_local(&mut net, None, vec![LocalTrack::opus()]);
    let refused = net.sfu.publish_local(
        net.now,
        LocalPublishParams {
            stream: "s".into(),
            source: Some("other".into()),
            tracks: vec![LocalTrack::opus()],
            priority: None,
        },
    );
    assert!(matches!(refused, Err(MediaError::LimitReached(_))));
    // Replacing the live source is allowed.
    publish_local(&mut net, None, vec![LocalTrack::opus()]);
    for tracks in [
        vec![],
        vec![LocalTrack {
            kind: Kind::Audio,
            ..LocalTrack::h264(None)
        }],
        vec![LocalTrack {
            clock_rate: 8000,
            ..LocalTrack::opus()
        }],
    ] {
        assert!(net
            .sfu
            .publish_local(
                net.now,
                LocalPublishParams {
                    stream: "s".into(),
                    source: None,
                    tracks,
                    priority: None,
                },
            )
            .is_err());
    }
}

#[test]
fn a_loud_local_source_takes_a_viewer_slot() {
    let mut net = Net::new();
    let quiet = net.publish("s", Some("webrtc"), false);
    let v = net.view_with_slots("s", Some("nobody"), 1, &[]);
    net.connect_all();
    let local = publish_local(&mut net, Some("rtmp"), vec![LocalTrack::opus()]);
    let mut src = Source::new(local, 42);
    for _ in 0..100 {
        src.audio(&mut net, Some(-20));
        src.n += 1;
        net.audio_tick(&[quiet], |_| Some(None));
    }
    let slot = net.slot_mids(v)[0];
    let vads: Vec<(String, Option<SourceKey>)> = net
        .events_for(net.clients[v].peer)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::SlotChanged { mid, source, .. } => Some((mid, source)),
            _ => None,
        })
        .collect();
    assert_eq!(
        vads,
        vec![(slot.to_string(), Some(Some("rtmp".to_string())))]
    );
    let in_slot: Vec<Seen> = net.clients[v]
        .seen
        .iter()
        .filter(|s| s.mid == slot)
        .cloned()
        .collect();
    assert!(in_slot.len() > 50, "{}", in_slot.len());
    assert!(tags(&in_slot).iter().all(|t| *t == 42));
    assert_seq_continuous(&in_slot);
}
