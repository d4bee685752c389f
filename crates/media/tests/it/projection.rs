//! Projection in simulated time: any source onto any transceiver of a viewer, including one
//! the client added and answered itself; video switches at keyframes, streams stay
//! continuous, refused requests change nothing.

use podium_media::{Kind, MediaError, ProjectParams, Projection};
use str0m::media::{KeyframeRequestKind, MediaKind};

use podium_testkit::projection::frame_tag;
use podium_testkit::{Net, Seen};

fn video_of(source: Option<&str>, mid: Option<&str>) -> ProjectParams {
    ProjectParams {
        source: source.map(Into::into),
        mappings: vec![Projection {
            track_id: Some("video0".into()),
            mid: mid.map(Into::into),
            ..Default::default()
        }],
    }
}

fn tags(seen: &[Seen]) -> Vec<u8> {
    seen.iter().map(frame_tag).collect()
}

fn assert_continuous(seen: &[Seen]) {
    assert!(!seen.is_empty());
    for w in seen.windows(2) {
        assert_eq!(w[1].ssrc, seen[0].ssrc, "one SSRC per transceiver");
        assert_eq!(w[1].seq, w[0].seq + 1, "sequence numbers continue by one");
        let step = w[1].ts.wrapping_sub(w[0].ts);
        assert!(step > 0 && step < 90_000, "timestamps advance: {step}");
    }
}

/// Main source (tag 1) and source "b" (tag 2), both with video; a viewer pinned to main.
fn two_sources() -> (Net, usize, usize, usize) {
    let mut net = Net::new();
    let a = net.publish("s", None, true);
    let b = net.publish("s", Some("b"), true);
    let v = net.view("s", None);
    net.connect_all();
    (net, a, b, v)
}

#[test]
fn a_source_projected_onto_a_mid_the_client_added_itself_arrives_from_its_keyframe() {
    let (mut net, a, b, v) = two_sources();
    let mid = net.add_transceiver(v, MediaKind::Video);
    let before = net.clients[b].keyframe_requests.len();
    net.project(v, video_of(Some("b"), Some(&mid)))
        .expect("projected");
    net.run(std::time::Duration::from_millis(50));
    assert!(
        net.clients[b].keyframe_requests.len() > before,
        "a keyframe of the new feed is asked for"
    );
    // Delta frames first: nothing to decode from them, nothing sent.
    net.frames(&[(a, 1), (b, 2)], 10, |_| false);
    assert!(net.clients[v].seen_on(&mid).is_empty());
    net.frames(&[(a, 1), (b, 2)], 20, |n| n == 0);
    let projected = net.clients[v].seen_on(&mid);
    assert_eq!(projected.len(), 20, "every frame from the keyframe on");
    assert!(tags(&projected).iter().all(|t| *t == 2));
    assert_continuous(&projected);
    let main = net.clients[v].seen(MediaKind::Video);
    assert!(
        main.len() >= 30 && tags(&main).iter().all(|t| *t == 1),
        "main goes on"
    );
}

#[test]
fn reprojection_swaps_sources_with_continuous_streams() {
    let (mut net, a, b, v) = two_sources();
    let mid = net.add_transceiver(v, MediaKind::Video);
    net.project(v, video_of(Some("b"), Some(&mid))).unwrap();
    net.frames(&[(a, 1), (b, 2)], 10, |n| n == 0);
    // Swap: main onto the added mid, b onto the default video transceiver.
    net.project(v, video_of(None, Some(&mid))).unwrap();
    net.project(v, video_of(Some("b"), None)).unwrap();
    // Until the keyframes come each transceiver keeps what it had.
    net.frames(&[(a, 1), (b, 2)], 5, |_| false);
    net.frames(&[(a, 1), (b, 2)], 10, |n| n == 0);
    let main_mid = net.clients[v].mids_of(MediaKind::Video)[0];
    let main = net.clients[v].seen_on(&main_mid);
    let added = net.clients[v].seen_on(&mid);
    assert_eq!(tags(&added), [[2u8; 15].as_slice(), &[1u8; 10]].concat());
    let main_tags = tags(&main);
    assert!(main_tags.ends_with(&[2u8; 10]), "{main_tags:?}");
    assert!(main_tags[..main_tags.len() - 10].iter().all(|t| *t == 1));
    assert_continuous(&added);
    assert_continuous(&main);
}

#[test]
fn unproject_stops_a_transceiver_and_a_new_projection_continues_its_numbering() {
    let (mut net, a, b, v) = two_sources();
    let mid = net.add_transceiver(v, MediaKind::Video);
    net.project(v, video_of(Some("b"), Some(&mid))).unwrap();
    net.frames(&[(a, 1), (b, 2)], 5, |n| n == 0);
    net.unproject(v, &[&mid]).unwrap();
    net.frames(&[(a, 1), (b, 2)], 5, |n| n == 0);
    assert_eq!(
        net.clients[v].seen_on(&mid).len(),
        5,
        "nothing after unproject"
    );
    net.project(v, video_of(None, Some(&mid))).unwrap();
    net.frames(&[(a, 1), (b, 2)], 5, |n| n == 0);
    let seen = net.clients[v].seen_on(&mid);
    assert_eq!(tags(&seen), [[2u8; 5], [1u8; 5]].concat());
    assert_continuous(&seen);
}

#[test]
fn audio_is_projected_at_once_and_secondary_sources_reach_nobody_unprojected() {
    let mut net = Net::new();
    let a = net.publish("s", None, true);
    let b = net.publish("s", Some("b"), true);
    let v = net.view_with(
        "s",
        None,
        &[
            MediaKind::Video,
            MediaKind::Audio,
            MediaKind::Video,
            MediaKind::Audio,
        ],
    );
    net.connect_all();
    let spare_video = net.clients[v].mids_of(MediaKind::Video)[1];
    let spare_audio = net.clients[v].mids_of(MediaKind::Audio)[1];
    net.frames(&[(a, 1), (b, 2)], 10, |n| n == 0);
    assert!(net.clients[v].seen_on(&spare_video).is_empty());
    assert!(net.clients[v].seen_on(&spare_audio).is_empty());
    let both = ProjectParams {
        source: Some("b".into()),
        mappings: vec![
            Projection {
                media: Some(Kind::Audio),
                mid: Some(spare_audio.to_string()),
                ..Default::default()
            },
            Projection {
                track_id: Some("video0".into()),
                mid: Some(spare_video.to_string()),
                ..Default::default()
            },
        ],
    };
    net.project(v, both).unwrap();
    net.frames(&[(a, 1), (b, 2)], 3, |_| false);
    let audio = net.clients[v].seen_on(&spare_audio);
    assert_eq!(audio.len(), 3, "audio needs no keyframe");
    assert!(audio.iter().all(|s| s.payload[0] == 2));
    assert!(net.clients[v].seen_on(&spare_video).is_empty());
    net.frames(&[(a, 1), (b, 2)], 3, |n| n == 0);
    assert_eq!(net.clients[v].seen_on(&spare_video).len(), 3);
}

#[test]
fn a_feed_without_keyframes_is_switched_to_after_the_wait() {
    let (mut net, a, b, v) = two_sources();
    net.project(v, video_of(Some("b"), None)).unwrap();
    // 3 s of delta frames only: main goes on meanwhile, then b is taken anyway.
    net.frames(&[(a, 1), (b, 2)], 120, |_| false);
    let main = tags(&net.clients[v].seen(MediaKind::Video));
    assert!(main.starts_with(&[1; 80]), "{main:?}");
    assert_eq!(main.last(), Some(&2));
}

#[test]
fn a_keyframe_request_on_a_projected_track_reaches_its_source() {
    let (mut net, a, b, v) = two_sources();
    let mid = net.add_transceiver(v, MediaKind::Video);
    net.project(v, video_of(Some("b"), Some(&mid))).unwrap();
    net.frames(&[(a, 1), (b, 2)], 40, |n| n == 0);
    let (a_before, b_before) = (
        net.clients[a].keyframe_requests.len(),
        net.clients[b].keyframe_requests.len(),
    );
    let c = &mut net.clients[v];
    c.rtc
        .direct_api()
        .stream_rx_by_mid(mid, None)
        .expect("receiving on the added mid")
        .request_keyframe(KeyframeRequestKind::Pli);
    net.run(std::time::Duration::from_millis(100));
    assert_eq!(net.clients[b].keyframe_requests.len(), b_before + 1);
    assert_eq!(net.clients[a].keyframe_requests.len(), a_before);
}

#[test]
fn refused_projections_change_nothing() {
    let mut net = Net::new();
    let a = net.publish("s", None, true);
    let b = net.publish("s", Some("b"), true);
    let v = net.view_with_slots("s", None, 2, &[]);
    net.connect_all();
    let slot = net.slot_mids(v)[0].to_string();
    let good = Projection {
        track_id: Some("video0".into()),
        mid: Some("new".into()),
        ..Default::default()
    };
    let bad = |p: Projection| ProjectParams {
        source: Some("b".into()),
        mappings: vec![good.clone(), p],
    };
    let cases = [
        Projection {
            media: Some(Kind::Audio),
            mid: Some(slot),
            ..Default::default()
        },
        Projection {
            track_id: Some("screen0".into()),
            ..Default::default()
        },
        Projection {
            track_id: Some("video0".into()),
            media: Some(Kind::Audio),
            ..Default::default()
        },
        Projection::default(),
        good.clone(),
        Projection {
            media: Some(Kind::Video),
            mid: Some("x".repeat(17)),
            ..Default::default()
        },
        Projection {
            media: Some(Kind::Video),
            mid: Some("bad mid".into()),
            ..Default::default()
        },
        // The view's audio m-line is not a video transceiver.
        Projection {
            media: Some(Kind::Video),
            mid: Some(net.clients[v].mids_of(MediaKind::Audio)[0].to_string()),
            ..Default::default()
        },
    ];
    for case in cases {
        let err = net.project(v, bad(case.clone())).expect_err("refused");
        assert!(
            matches!(err, MediaError::InvalidRequest(_)),
            "{case:?}: {err}"
        );
    }
    let too_many = ProjectParams {
        source: Some("b".into()),
        mappings: (0..65)
            .map(|i| Projection {
                media: Some(Kind::Video),
                mid: Some(format!("m{i}")),
                ..Default::default()
            })
            .collect(),
    };
    assert!(matches!(
        net.project(v, too_many),
        Err(MediaError::LimitReached(_))
    ));
    assert!(net.unproject(v, &["nope"]).is_err());
    net.frames(&[(a, 1), (b, 2)], 10, |n| n == 0);
    let c = &net.clients[v];
    assert!(c.seen_on("new").is_empty());
    assert!(
        tags(&c.seen(MediaKind::Video)).iter().all(|t| *t == 1),
        "main untouched"
    );
    // The limit itself: 64 tracks beyond the default ones are fine.
    let most = ProjectParams {
        source: Some("b".into()),
        mappings: (0..64)
            .map(|i| Projection {
                media: Some(Kind::Video),
                mid: Some(format!("m{i}")),
                ..Default::default()
            })
            .collect(),
    };
    net.project(v, most).expect("64 projected transceivers");
}

#[test]
fn projection_works_for_a_viewer_on_a_following_worker() {
    let mut net = Net::with_workers(2);
    let a = net.publish("s", None, true);
    let b = net.publish("s", Some("b"), true);
    let home = podium_media::home_worker("s", 2);
    let v = net.view_at(1 - home, "s", 0);
    net.connect_all();
    let mid = net.add_transceiver(v, MediaKind::Video);
    net.project(v, video_of(Some("b"), Some(&mid))).unwrap();
    net.run(std::time::Duration::from_millis(50));
    assert!(
        !net.clients[b].keyframe_requests.is_empty(),
        "asked through the home"
    );
    net.frames(&[(a, 1), (b, 2)], 10, |n| n == 0);
    let seen = net.clients[v].seen_on(&mid);
    assert_eq!(tags(&seen), [2u8; 10]);
    assert_continuous(&seen);
}

#[test]
fn a_track_waiting_for_a_keyframe_asks_again_within_the_request_interval() {
    let (mut net, a, b, v) = two_sources();
    let before = net.clients[b].keyframe_requests.len();
    net.project(v, video_of(Some("b"), None)).unwrap();
    // An encoder may ignore a request (too soon after its last keyframe): without a
    // keyframe the track asks again, never more often than the request interval.
    net.frames(&[(a, 1), (b, 2)], 40, |_| false);
    let asked = net.clients[b].keyframe_requests.len() - before;
    assert!((2..=5).contains(&asked), "asked {asked} times in 1.2 s");
    net.frames(&[(a, 1), (b, 2)], 2, |n| n == 0);
    let after = net.clients[b].keyframe_requests.len();
    net.frames(&[(a, 1), (b, 2)], 40, |_| false);
    assert_eq!(
        net.clients[b].keyframe_requests.len(),
        after,
        "switched: no more asking"
    );
}
