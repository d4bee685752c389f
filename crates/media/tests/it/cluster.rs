//! Nodes of a cluster in simulated time, relay messages crossing between them as bytes:
//! listeners on edges hear every speaker, get the `vad` decisions of the origin's ranking
//! (ranked once, there) and the cluster-wide viewer count; when the stream's origin moves
//! to another node, an edge's viewers keep their connections, hear `inactive` then
//! `active`, and get media again on the same RTP streams.

use std::time::Duration;

use podium_media::MediaEvent;
use podium_testkit::Net;

fn last_count(net: &Net, idx: usize) -> Option<usize> {
    net.events_of(idx).iter().rev().find_map(|e| match e {
        MediaEvent::ViewerCount { count, .. } => Some(*count),
        _ => None,
    })
}

fn in_slots(net: &Net, idx: usize) -> usize {
    let slots = net.slot_mids(idx);
    net.clients[idx]
        .seen
        .iter()
        .filter(|s| slots.contains(&s.mid))
        .count()
}

#[test]
fn listeners_on_edges_hear_the_origins_ranking_and_the_cluster_count() {
    let mut net = Net::cluster(3);
    for edge in [1, 2] {
        net.set_origin(edge, "room", Some(0));
    }
    let pubs: Vec<usize> = (0..4)
        .map(|i| net.publish_on(0, "room", Some(&format!("s{i}"))))
        .collect();
    let on_origin = net.listen_at(0, "room", 2);
    let on_edges: Vec<usize> = (0..4)
        .map(|i| net.listen_at(1 + i % 2, "room", 2))
        .collect();
    net.connect_all();
    let plan = [(0..2usize), (2..4), (1..2)];
    net.speak_in_turns(&pubs, &plan, 60);
    net.run(Duration::from_millis(1500));
    let reference = net.vad_slots(on_origin);
    assert!(reference.len() >= 4, "{reference:?}");
    for &l in &on_edges {
        assert_eq!(
            net.vad_slots(l),
            reference,
            "listener {l} on node {}",
            net.clients[l].worker
        );
        assert!(
            in_slots(&net, l) > 100,
            "listener {l}: {} packets",
            in_slots(&net, l)
        );
        assert_eq!(last_count(&net, l), Some(5), "the cluster's total");
    }
    assert_eq!(last_count(&net, on_origin), Some(5));
    // One copy of each packet per edge, whatever its listeners.
    let relayed: Vec<u64> = (1..3)
        .map(|n| net.worker(n).counters().rtp_relayed_in)
        .collect();
    let published = 4 * 180;
    for r in relayed {
        assert!(r <= published, "{r} relayed for {published} published");
        assert!(r > published / 2, "{r} relayed for {published} published");
    }
}

#[test]
fn an_edge_follows_a_new_origin_without_its_viewers_reconnecting() {
    let mut net = Net::cluster(3);
    net.set_origin(2, "s", Some(0));
    let p = net.publish_on(0, "s", None);
    let v = net.listen_at(2, "s", 0);
    net.connect_all();
    net.talk(&[(p, 1)], 50);
    let before = net.clients[v].seen.len();
    assert!(before > 40, "{before} packets before the move");
    // The origin dies: its publisher comes back on node 1, the edge is told the new origin.
    let peer = net.clients[p].peer;
    let now = net.now;
    net.worker(0).close_peer(now, peer);
    net.clients[p].online = false;
    let p2 = net.publish_on(1, "s", None);
    net.set_origin(2, "s", Some(1));
    net.connect_all();
    net.talk(&[(p2, 2)], 50);
    let events = net.events_of(v);
    let inactive = events
        .iter()
        .position(|e| matches!(e, MediaEvent::SourceInactive { source: None, .. }));
    let active = events
        .iter()
        .rposition(|e| matches!(e, MediaEvent::SourceActive { source: None, .. }));
    assert!(
        matches!((inactive, active), (Some(i), Some(a)) if i < a),
        "{events:?}"
    );
    let seen = &net.clients[v].seen;
    let after: Vec<_> = seen[before..]
        .iter()
        .filter(|s| s.payload[0] == 2)
        .collect();
    assert!(
        after.len() > 40,
        "{} packets from the new origin",
        after.len()
    );
    // The same RTP stream continues: one SSRC, sequence numbers without a gap.
    assert!(seen.iter().all(|s| s.ssrc == seen[0].ssrc));
    for w in seen.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
    }
}

#[test]
fn an_edge_that_starts_following_asks_the_origin_for_a_keyframe() {
    let mut net = Net::cluster(2);
    let p = net.publish_kinds_on(0, "s", None, true);
    // A viewer already connected on the other node, which learns of the origin only now
    // (as when the stream's origin moved): its mirror of the video source appears long
    // after the publisher's first keyframe went by.
    let v = net.view_at(1, "s", 0);
    net.connect_all();
    net.talk(&[(p, 1)], 20);
    assert!(net.clients[v].seen.is_empty());
    let before = net.clients[p].keyframe_requests.len();
    net.set_origin(1, "s", Some(0));
    net.talk(&[(p, 1)], 5);
    assert!(
        net.clients[p].keyframe_requests.len() > before,
        "the publisher was asked for a keyframe for the edge"
    );
    assert!(!net.clients[v].seen.is_empty());
}

#[test]
fn an_edge_spreads_a_pulled_stream_over_its_workers_with_one_copy_from_the_origin() {
    // Two nodes of two workers: the edge's home worker for the stream follows the origin,
    // its other worker follows that home worker.
    let mut net = Net::cluster_of(2, 2);
    let pubs: Vec<usize> = (0..3)
        .map(|i| net.publish_on(0, "room", Some(&format!("s{i}"))))
        .collect();
    net.set_origin(1, "room", Some(0));
    let home = podium_media::home_worker("room", 2);
    let origin_listener = net.listen_at(net.node_worker(0, 1 - home), "room", 2);
    let edge_listeners: Vec<usize> = (0..4)
        .map(|i| {
            let worker = net.node_worker(1, i % 2);
            net.listen_at(worker, "room", 2)
        })
        .collect();
    net.connect_all();
    net.speak_in_turns(&pubs, &[(0..1usize), (1..3), (2..3)], 60);
    net.run(Duration::from_millis(1500));
    let reference = net.vad_slots(origin_listener);
    assert!(reference.len() >= 3, "{reference:?}");
    for &l in &edge_listeners {
        assert_eq!(
            net.vad_slots(l),
            reference,
            "listener {l} (worker {})",
            net.clients[l].worker
        );
        assert!(
            in_slots(&net, l) > 100,
            "listener {l}: {} packets",
            in_slots(&net, l)
        );
        assert_eq!(
            last_count(&net, l),
            Some(5),
            "the cluster's total on every worker"
        );
    }
    assert_eq!(last_count(&net, origin_listener), Some(5));
    // The packets crossed to the edge once (its home worker) and on to its other worker once.
    let edge_home = net.node_worker(1, home);
    let edge_other = net.node_worker(1, 1 - home);
    let (a, b) = (
        net.worker(edge_home).counters().rtp_relayed_in,
        net.worker(edge_other).counters().rtp_relayed_in,
    );
    let published = 3 * 180;
    assert!(
        a <= published && a > published / 2,
        "edge home got {a} of {published}"
    );
    assert!(
        b <= published && b > published / 2,
        "edge's other worker got {b}"
    );
}

#[test]
fn on_an_edge_a_viewer_projects_another_source_and_it_arrives_from_its_keyframe() {
    use podium_media::{ProjectParams, Projection};
    use podium_testkit::projection::frame_tag;
    use str0m::media::MediaKind;
    let mut net = Net::cluster(2);
    net.set_origin(1, "s", Some(0));
    let a = net.publish_kinds_on(0, "s", None, true);
    let b = net.publish_kinds_on(0, "s", Some("b"), true);
    let v = net.view_with_at(1, "s", None, &[MediaKind::Video, MediaKind::Audio]);
    net.connect_all();
    net.frames(&[(a, 1), (b, 2)], 10, |n| n == 0);
    let mid = net.add_transceiver(v, MediaKind::Video);
    let before = net.clients[b].keyframe_requests.len();
    net.project(
        v,
        ProjectParams {
            source: Some("b".into()),
            mappings: vec![Projection {
                track_id: Some("video0".into()),
                mid: Some(mid.to_string()),
                ..Default::default()
            }],
        },
    )
    .expect("projected on the edge");
    net.run(Duration::from_millis(50));
    assert!(
        net.clients[b].keyframe_requests.len() > before,
        "the edge's request reached b's publisher on the origin"
    );
    net.frames(&[(a, 1), (b, 2)], 20, |n| n == 0);
    let projected = net.clients[v].seen_on(&mid);
    assert!(projected.len() >= 19, "{} frames of b", projected.len());
    assert!(projected.iter().all(|s| frame_tag(s) == 2));
    let main = net.clients[v].seen(MediaKind::Video);
    assert!(
        main.iter().all(|s| frame_tag(s) == 1),
        "main goes on with a"
    );
}
