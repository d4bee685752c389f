use std::time::Duration;

use podium_media::{CloseReason, MediaEvent, PeerId};
use str0m::media::MediaKind;

use podium_testkit::{Net, Seen};

fn tags(seen: &[Seen]) -> Vec<u8> {
    seen.iter().map(|s| s.payload[0]).collect()
}

fn assert_continuous(seen: &[Seen]) {
    assert!(!seen.is_empty());
    let ssrc = seen[0].ssrc;
    for w in seen.windows(2) {
        assert_eq!(w[1].ssrc, ssrc, "one SSRC for the viewer's track");
        assert_eq!(w[1].seq, w[0].seq + 1, "sequence numbers continue by one");
        assert!(
            w[1].ts.wrapping_sub(w[0].ts) < u32::MAX / 2 && w[1].ts != w[0].ts,
            "timestamps advance"
        );
    }
}

#[test]
fn publish_to_view_forwards_audio_and_video_with_levels() {
    let mut net = Net::new();
    let p = net.publish("s", None, true);
    let v = net.view("s", None);
    net.connect_all();
    net.talk(&[(p, 1)], 50);

    let viewer = &net.clients[v];
    let audio = viewer.seen(MediaKind::Audio);
    let video = viewer.seen(MediaKind::Video);
    assert!(audio.len() >= 45, "audio forwarded: {}", audio.len());
    assert!(video.len() >= 45, "video forwarded: {}", video.len());
    assert!(tags(&audio).iter().all(|t| *t == 1));
    assert!(
        audio.iter().all(|s| s.audio_level == Some(-30)),
        "audio level kept on egress"
    );
    assert_continuous(&audio);
    // Payloads are forwarded byte for byte.
    assert_eq!(audio[0].payload.len(), 9);

    let viewer_peer = net.clients[v].peer;
    let events = net.events_for(viewer_peer);
    assert!(
        matches!(&events[0], MediaEvent::SourceActive { source: None, tracks, .. } if tracks.len() == 2)
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, MediaEvent::ViewerCount { count: 1, .. })));
    // A joining viewer triggers a keyframe request to the publisher.
    assert!(!net.clients[p].keyframe_requests.is_empty());
}

#[test]
fn a_replaced_source_continues_seamlessly() {
    let mut net = Net::new();
    let a = net.publish("s", None, true);
    let v = net.view("s", None);
    net.connect_all();
    net.talk(&[(a, 1)], 20);

    let b = net.publish("s", None, true);
    net.connect_all();
    // Both encoders send for a while (an encoder swap), then the old one stops.
    net.talk(&[(a, 1), (b, 2)], 20);
    let kf_before = net.clients[b].keyframe_requests.len();
    assert!(kf_before > 0, "new publisher asked for a keyframe");
    let a_peer = net.clients[a].peer;
    net.sfu.close_peer(net.now, a_peer);
    net.talk(&[(b, 2)], 20);

    for kind in [MediaKind::Audio, MediaKind::Video] {
        let seen = net.clients[v].seen(kind);
        assert_continuous(&seen);
        let t = tags(&seen);
        let switch = t.iter().position(|x| *x == 2).expect("switched to b");
        assert!(
            t[..switch].iter().all(|x| *x == 1) && t[switch..].iter().all(|x| *x == 2),
            "one switch, no flapping"
        );
    }
    let audio = net.clients[v].seen(MediaKind::Audio);
    let switch = audio.iter().position(|s| s.payload[0] == 2).unwrap();
    assert!(
        audio[switch].marker,
        "marker bit on the first audio packet after a switch"
    );
    assert!(
        net.sfu.counters().rtp_dropped_not_current > 0,
        "old feed dropped after the switch"
    );
    // The source never went inactive.
    let viewer_peer = net.clients[v].peer;
    assert!(!net
        .events_for(viewer_peer)
        .iter()
        .any(|e| matches!(e, MediaEvent::SourceInactive { .. })));
}

#[test]
fn pinned_source_feeds_the_default_transceivers() {
    let mut net = Net::new();
    let main = net.publish("s", None, true);
    let guest = net.publish("s", Some("guest"), false);
    let v_main = net.view("s", None);
    let v_guest = net.view("s", Some("guest"));
    net.connect_all();
    net.talk(&[(main, 1), (guest, 7)], 30);

    let main_audio = tags(&net.clients[v_main].seen(MediaKind::Audio));
    let guest_audio = tags(&net.clients[v_guest].seen(MediaKind::Audio));
    assert!(main_audio.len() > 20 && main_audio.iter().all(|t| *t == 1));
    assert!(guest_audio.len() > 20 && guest_audio.iter().all(|t| *t == 7));
    assert!(
        net.clients[v_guest].seen(MediaKind::Video).is_empty(),
        "guest has no video"
    );

    // Both viewers hear about both sources, main first.
    for v in [v_main, v_guest] {
        let peer = net.clients[v].peer;
        let sources: Vec<_> = net
            .events_for(peer)
            .into_iter()
            .filter_map(|e| match e {
                MediaEvent::SourceActive { source, .. } => Some(source),
                _ => None,
            })
            .collect();
        assert_eq!(sources, vec![None, Some("guest".to_string())]);
    }
}

#[test]
fn a_viewer_waits_for_a_stream_that_is_not_live_yet() {
    let mut net = Net::new();
    let v = net.view("later", None);
    let viewer_peer = net.clients[v].peer;
    assert!(net
        .events_for(viewer_peer)
        .iter()
        .all(|e| !matches!(e, MediaEvent::SourceActive { .. })));
    let p = net.publish("later", None, false);
    net.connect_all();
    net.talk(&[(p, 3)], 20);
    assert!(net
        .events_for(viewer_peer)
        .iter()
        .any(|e| matches!(e, MediaEvent::SourceActive { source: None, .. })));
    assert!(net.clients[v].seen(MediaKind::Audio).len() > 10);
}

#[test]
fn teardown_sends_inactive_and_stopped() {
    let mut net = Net::new();
    let main = net.publish("s", None, false);
    let guest = net.publish("s", Some("guest"), false);
    let v = net.view("s", None);
    net.connect_all();
    net.talk(&[(main, 1), (guest, 2)], 10);
    let viewer_peer = net.clients[v].peer;

    // The guest's browser vanishes: ICE consent fails and the SFU ends the publication.
    net.clients[guest].online = false;
    net.run(Duration::from_secs(12));
    let guest_peer = net.clients[guest].peer;
    assert!(net.events.iter().any(|e| matches!(e, MediaEvent::PeerClosed { peer, reason: CloseReason::Disconnected } if *peer == guest_peer)));
    let events = net.events_for(viewer_peer);
    assert!(events
        .iter()
        .any(|e| matches!(e, MediaEvent::SourceInactive { source: Some(s), .. } if s == "guest")));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, MediaEvent::StreamStopped { .. })),
        "main is still live"
    );

    // The main publisher's socket closes.
    let main_peer = net.clients[main].peer;
    net.sfu.close_peer(net.now, main_peer);
    net.step();
    let events = net.events_for(viewer_peer);
    let lifecycle: Vec<_> = events
        .into_iter()
        .filter(|e| !matches!(e, MediaEvent::ViewerCount { .. }))
        .collect();
    let tail = &lifecycle[lifecycle.len() - 2..];
    assert!(matches!(
        tail[0],
        MediaEvent::SourceInactive { source: None, .. }
    ));
    assert!(matches!(tail[1], MediaEvent::StreamStopped { .. }));
    assert_eq!(net.sfu.peer_count(), 1, "only the viewer is left");
}

#[test]
fn garbage_datagrams_are_counted_and_harmless() {
    let mut net = Net::new();
    let p = net.publish("s", None, false);
    let v = net.view("s", None);
    net.connect_all();
    let known = net.clients[p].addr;
    let unknown = "10.9.9.9:1234".parse().unwrap();
    let mut x: u32 = 12345;
    for len in 0..400usize {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        net.sfu.handle_receive(net.now, known, net.sfu_addr, &data);
        net.sfu
            .handle_receive(net.now, unknown, net.sfu_addr, &data);
        let mut stun_like = data.clone();
        if stun_like.len() > 20 {
            stun_like[0] = 0;
            stun_like[1] = 1;
            net.sfu
                .handle_receive(net.now, unknown, net.sfu_addr, &stun_like);
        }
    }
    let c = net.sfu.counters().clone();
    assert!(
        c.datagrams_unroutable > 0 && c.datagrams_rejected > 0,
        "{c:?}"
    );
    // Everyone is still connected and media still flows.
    net.talk(&[(p, 4)], 20);
    assert!(net.clients[v].seen(MediaKind::Audio).len() > 10);
    assert_eq!(net.sfu.peer_count(), 2);
}

/// `(kind, mid, stream id, track id)` of every `a=msid` of an answer, in m-line order; also
/// checks each `a=ssrc … msid:` line agrees with its section's `a=msid`.
fn msids(answer: &str) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for section in answer.split("\r\nm=").skip(1) {
        let kind = section.split(' ').next().unwrap().to_string();
        let attr = |prefix: &str| {
            section
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .map(str::to_string)
        };
        let (Some(mid), Some(msid)) = (attr("a=mid:"), attr("a=msid:")) else {
            continue;
        };
        for line in section.lines().filter(|l| l.starts_with("a=ssrc:")) {
            if let Some((_, ssrc_msid)) = line.split_once(" msid:") {
                assert_eq!(ssrc_msid, msid, "{section}");
            }
        }
        let (stream, track) = msid.split_once(' ').expect("stream and track ids");
        out.push((kind, mid, stream.to_string(), track.to_string()));
    }
    out
}

#[test]
fn main_video_and_audio_share_one_media_stream_and_each_slot_has_its_own() {
    let mut net = Net::new();
    net.view_with_slots("s", None, 2, &[]);
    let answer = net.clients[0].answer.clone();
    let msids = msids(&answer);
    let kinds: Vec<_> = msids.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(kinds, ["video", "audio", "audio", "audio"], "{answer}");
    let streams: Vec<_> = msids.iter().map(|m| m.2.as_str()).collect();
    assert_eq!(streams[0], streams[1], "main video and audio: {streams:?}");
    assert!(
        streams[0] != streams[2] && streams[0] != streams[3] && streams[2] != streams[3],
        "each slot a stream of its own: {streams:?}"
    );
    let mut tracks: Vec<_> = msids.iter().map(|m| m.3.as_str()).collect();
    tracks.sort_unstable();
    tracks.dedup();
    assert_eq!(tracks.len(), 4, "one track id per m-line: {msids:?}");
    for id in streams.iter().chain(&tracks) {
        assert!(
            id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "a valid msid-id: {id}"
        );
    }
    let semantic = answer
        .lines()
        .find(|l| l.starts_with("a=msid-semantic:"))
        .expect("msid-semantic");
    assert_eq!(
        semantic,
        format!(
            "a=msid-semantic: WMS {} {} {}",
            streams[0], streams[2], streams[3]
        )
    );
}

/// Apps key elements by stream id (the Millicast Spaces app skips a stream whose id is already
/// in the page), so no two views may share a stream or track id, within a stream or not.
#[test]
fn views_never_share_stream_or_track_ids() {
    let mut net = Net::new();
    let a = net.view_with_slots("s", None, 2, &[]);
    let b = net.view_with_slots("s", None, 2, &[]);
    let c = net.view_with_slots("other", None, 2, &[]);
    let d = net.view("s", None);
    let mut seen_streams = std::collections::HashMap::new();
    let mut seen_tracks = std::collections::HashMap::new();
    for v in [a, b, c, d] {
        let msids = msids(&net.clients[v].answer);
        assert!(msids.len() >= 2, "{msids:?}");
        let mut streams: Vec<_> = msids.iter().map(|m| m.2.clone()).collect();
        streams.dedup(); // main video and audio, in a row
        for stream in streams {
            let other = seen_streams.insert(stream.clone(), v);
            assert_eq!(other, None, "stream id {stream} of views {other:?} and {v}");
        }
        for (_, _, _, track) in msids {
            let other = seen_tracks.insert(track.clone(), v);
            assert_eq!(other, None, "track id {track} of views {other:?} and {v}");
        }
    }
    assert_eq!(seen_streams.len(), 3 * 3 + 1);
    assert_eq!(seen_tracks.len(), 3 * 4 + 2);
}

/// The Millicast SDK puts its `multiopus` lines right after `m=audio`, before `c=`.
#[test]
fn a_millicast_sdk_style_viewer_offer_is_accepted() {
    use podium_media::ViewParams;
    use str0m::change::SdpOffer;
    let mut net = Net::new();
    let mut rtc = str0m::RtcConfig::new().build(net.now);
    let mut api = rtc.sdp_api();
    api.add_media(
        str0m::media::MediaKind::Video,
        str0m::media::Direction::RecvOnly,
        None,
        None,
        None,
    );
    api.add_media(
        str0m::media::MediaKind::Audio,
        str0m::media::Direction::RecvOnly,
        None,
        None,
        None,
    );
    let (offer, _) = api.apply().unwrap();
    let offer = offer.to_sdp_string();
    let mut munged = String::new();
    for line in offer.lines() {
        if let Some(rest) = line.strip_prefix("m=audio ") {
            munged.push_str(&format!("m=audio {rest} 105\r\n"));
            munged.push_str("a=rtpmap:105 multiopus/48000/6\r\n");
            munged.push_str(
                "a=fmtp:105 channel_mapping=0,4,1,2,3,5;coupled_streams=2;num_streams=4\r\n",
            );
        } else {
            munged.push_str(line);
            munged.push_str("\r\n");
        }
    }
    assert!(
        SdpOffer::from_sdp_string(&munged).is_err(),
        "str0m alone refuses this order"
    );
    let accepted = net
        .sfu
        .view(
            net.now,
            ViewParams {
                stream: "s".into(),
                pinned: None,
                offer: munged,
                excluded: vec![],
                max_slots: 0,
            },
        )
        .expect("accepted after normalisation");
    assert!(
        !accepted.answer.contains("multiopus"),
        "the answer picks plain Opus"
    );
}

#[test]
fn viewer_and_source_caps_refuse_with_clear_errors() {
    use podium_media::MediaError;
    let mut net = Net::with_config(|c| {
        c.max_viewers_per_stream = Some(1);
        c.max_sources_per_stream = Some(1);
    });
    net.publish("s", None, false);
    net.view("s", None);
    net.connect_all();
    // Replacing the live main source is allowed; a second source is not.
    net.publish("s", None, false);
    let offer = net.clients[0].answer.clone(); // any SDP: the cap is checked first
    let err = net
        .sfu
        .publish(
            net.now,
            podium_media::PublishParams {
                stream: "s".into(),
                source: Some("guest".into()),
                offer: offer.clone(),
                codec: None,
                priority: None,
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        MediaError::LimitReached("Too many sources in this stream (at most 1)".into())
    );
    let err = net
        .sfu
        .view(
            net.now,
            podium_media::ViewParams {
                stream: "s".into(),
                pinned: None,
                offer,
                excluded: vec![],
                max_slots: 0,
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        MediaError::LimitReached("Too many viewers of this stream (at most 1)".into())
    );
}

#[test]
fn viewers_still_connecting_do_not_hold_the_places_of_real_ones() {
    let mut net = Net::with_config(|c| c.max_viewers_per_stream = Some(2));
    net.publish("s", None, false);
    // Five viewers get answers, none has connected yet: none holds a place.
    let viewers: Vec<usize> = (0..5).map(|_| net.view("s", None)).collect();
    net.run(Duration::from_secs(2));
    // Only the first two to connect stay; the others are told the stream is full.
    let full: Vec<PeerId> = net
        .events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::PeerClosed {
                peer,
                reason: CloseReason::StreamFull,
            } => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(full.len(), 3, "{:?}", net.events);
    let connected = net
        .events
        .iter()
        .filter(|e| matches!(e, MediaEvent::Connected { .. }))
        .count();
    assert_eq!(
        connected, 3,
        "the publisher and two viewers: {:?}",
        net.events
    );
    assert_eq!(viewers.len(), 5);
    assert_eq!(net.sfu.viewer_count(), 2);
}

#[test]
fn viewer_counts_reach_everyone_in_batches_not_per_join() {
    let mut net = Net::new();
    let p = net.publish("crowd", None, false);
    let viewers: Vec<usize> = (0..40).map(|_| net.view("crowd", None)).collect();
    net.run(Duration::from_millis(1500));
    let total = net
        .events
        .iter()
        .filter(|e| matches!(e, MediaEvent::ViewerCount { .. }))
        .count();
    // Telling everyone at every join would be 1 + 2 + … + 40 events, plus the publisher's 40.
    assert!(total < 200, "{total} viewer-count events for 40 joins");
    for i in viewers.into_iter().chain([p]) {
        let last = net
            .events_for(net.clients[i].peer)
            .into_iter()
            .rev()
            .find_map(|e| match e {
                MediaEvent::ViewerCount { count, .. } => Some(count),
                _ => None,
            });
        assert_eq!(last, Some(40), "client {i} ends with the full count");
    }
}

#[test]
fn every_peer_presents_the_same_dtls_certificate() {
    let mut net = Net::new();
    let p = net.publish("cert", None, true);
    let v = net.view("cert", None);
    let fingerprint = |i: usize| {
        net.clients[i]
            .answer
            .lines()
            .find(|l| l.starts_with("a=fingerprint:"))
            .map(str::to_owned)
            .expect("answer has a fingerprint")
    };
    assert_eq!(fingerprint(p), fingerprint(v));
    // And DTLS still completes with it on both.
    net.connect_all();
    assert!(net.clients[p].connected && net.clients[v].connected);
}
