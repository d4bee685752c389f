//! One stream's fan-out spread over two media workers: the home receives the publishers'
//! packets and relays them once per following worker; every viewer, wherever it is, gets
//! every packet exactly once and in order, the same `vad` decisions and the stream's total
//! viewer count.

use std::time::Duration;

use podium_media::{home_worker, MediaEvent};
use podium_testkit::{Net, Seen};
use str0m::media::MediaKind;

/// The packet counters a client saw on `kind`: the payload is `[tag, n (8 bytes)]`.
fn counters(seen: &[Seen]) -> Vec<u64> {
    seen.iter()
        .map(|s| u64::from_be_bytes(s.payload[1..9].try_into().unwrap()))
        .collect()
}

fn other(w: usize) -> usize {
    1 - w
}

#[test]
fn every_viewer_on_either_worker_gets_every_packet_once_in_order() {
    let mut net = Net::with_workers(2);
    let home = home_worker("s", 2);
    let p = net.publish("s", None, true);
    assert_eq!(net.clients[p].worker, home);
    let viewers: Vec<usize> = (0..6).map(|i| net.view_at(i % 2, "s", 0)).collect();
    net.connect_all();
    net.talk(&[(p, 1)], 100);
    let sent = 100u64;
    for &v in &viewers {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let seen = net.clients[v].seen(kind);
            let got = counters(&seen);
            // Every packet from the first one the viewer got, once, in order.
            let first = got[0];
            assert!(
                first <= 3,
                "viewer {v} on worker {} started at {first}",
                net.clients[v].worker
            );
            assert_eq!(
                got,
                (first..=sent).collect::<Vec<_>>(),
                "viewer {v} {kind:?}"
            );
            for w in seen.windows(2) {
                assert_eq!(w[1].seq, w[0].seq + 1, "continuous sequence numbers");
                assert_eq!(w[1].ssrc, w[0].ssrc);
            }
        }
        let events = net.events_of(v);
        assert!(
            events.iter().any(|e| matches!(e, MediaEvent::SourceActive { source: None, tracks, .. } if tracks.len() == 2)),
            "viewer {v}: {events:?}"
        );
        let last_count = events.iter().rev().find_map(|e| match e {
            MediaEvent::ViewerCount { count, .. } => Some(*count),
            _ => None,
        });
        assert_eq!(last_count, Some(6), "the stream's total, whichever worker");
    }
    // One copy per packet crossed to the follower, whatever its number of viewers.
    let follower = other(home);
    let relayed = net.worker(follower).counters().rtp_relayed_in;
    assert!(
        (2 * sent - 4..=2 * sent).contains(&relayed),
        "{relayed} relayed"
    );
    assert_eq!(net.worker(home).counters().rtp_relayed_in, 0);
    // The publisher hears the total too.
    let publisher_count = net.events_of(p).iter().rev().find_map(|e| match e {
        MediaEvent::ViewerCount { count, .. } => Some(*count),
        _ => None,
    });
    assert_eq!(publisher_count, Some(6));
}

#[test]
fn a_follower_viewers_keyframe_request_reaches_the_publisher_and_the_end_reaches_them() {
    let mut net = Net::with_workers(2);
    let home = home_worker("s", 2);
    let p = net.publish("s", None, true);
    let v = net.view_at(other(home), "s", 0);
    net.connect_all();
    net.talk(&[(p, 1)], 20);
    // The viewer's connection asked for a keyframe on connecting, through the home.
    assert!(!net.clients[p].keyframe_requests.is_empty());
    // The publisher leaves: the follower's viewer hears the source end and the stream stop.
    let peer = net.clients[p].peer;
    let now = net.now;
    net.worker(home).close_peer(now, peer);
    net.run(Duration::from_millis(100));
    let events = net.events_of(v);
    assert!(events
        .iter()
        .any(|e| matches!(e, MediaEvent::SourceInactive { source: None, .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, MediaEvent::StreamStopped { .. })));
    // The last viewer there leaves: the home stops relaying.
    let viewer_peer = net.clients[v].peer;
    let follower = other(home);
    net.worker(follower).close_peer(now, viewer_peer);
    let p2 = net.publish("s", None, true);
    net.connect_all();
    let before = net.worker(follower).counters().rtp_relayed_in;
    net.talk(&[(p2, 2)], 20);
    assert_eq!(net.worker(follower).counters().rtp_relayed_in, before);
}

/// `vad` events of a client: (slot index, source).

#[test]
fn listeners_on_both_workers_hear_the_same_speakers_ranked_once() {
    let mut net = Net::with_workers(2);
    let home = home_worker("room", 2);
    let pubs: Vec<usize> = (0..4)
        .map(|i| net.publish("room", Some(&format!("s{i}")), false))
        .collect();
    let here = net.listen_at(home, "room", 2);
    let there = net.listen_at(other(home), "room", 2);
    net.connect_all();
    // Turns: s0 and s1 talk, then s2 and s3, then s1 alone.
    let plan = [(0..2usize), (2..4), (1..2)];
    net.speak_in_turns(&pubs, &plan, 60);
    let a = net.vad_slots(here);
    let b = net.vad_slots(there);
    assert!(a.len() >= 4, "{a:?}");
    assert_eq!(a, b, "the same decisions on both workers");
    // The follower's listener hears the speakers in its slots.
    let slots = net.slot_mids(there);
    let in_slots = net.clients[there]
        .seen
        .iter()
        .filter(|s| slots.contains(&s.mid))
        .count();
    assert!(in_slots > 100, "{in_slots} packets in the follower's slots");
}

#[test]
fn the_viewer_cap_counts_the_viewers_of_every_worker() {
    let mut net = Net::with_workers_config(2, |c| c.max_viewers_per_stream = Some(2));
    let home = home_worker("s", 2);
    let p = net.publish("s", None, true);
    net.view_at(home, "s", 0);
    net.view_at(other(home), "s", 0);
    net.connect_all();
    // Counts travel with the viewer-count batching (once a second).
    net.talk(&[(p, 1)], 150);
    for w in [home, other(home)] {
        let now = net.now;
        let offer = String::new();
        let refused = net.worker(w).view(
            now,
            podium_media::ViewParams {
                stream: "s".into(),
                pinned: None,
                offer,
                excluded: vec![],
                max_slots: 0,
            },
        );
        assert!(
            matches!(refused, Err(podium_media::MediaError::LimitReached(_))),
            "worker {w}: {refused:?}"
        );
    }
}
