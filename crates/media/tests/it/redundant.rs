//! Redundant ingest: publications of one source with `priority` (Millicast semantics). Viewers
//! get the highest priority that is sending, fail over when it stalls or closes, and come back
//! when it returns; without priorities the newest flowing publication wins as before.

use std::sync::Arc;
use std::time::Duration;

use podium_media::{LocalPacket, LocalPublishParams, LocalTrack, MediaEvent, PeerId};
use podium_testkit::{Net, Seen};
use str0m::media::MediaKind;

const AUDIO: usize = 0;
const VIDEO: usize = 1;
const TICK: Duration = Duration::from_millis(20);

/// An audio+video local publication of the main source of `s`.
fn publish(net: &mut Net, priority: Option<i32>) -> PeerId {
    net.sfu
        .publish_local(
            net.now,
            LocalPublishParams {
                stream: "s".into(),
                source: None,
                tracks: vec![LocalTrack::opus(), LocalTrack::h264(None)],
                priority,
            },
        )
        .expect("local publication accepted")
}

/// An encoder behind a local publication: per tick one Opus packet and a one-packet video
/// frame, payloads `[tag, n]`, with its own timestamp base.
struct Encoder {
    peer: PeerId,
    tag: u8,
    n: u32,
}

impl Encoder {
    fn new(peer: PeerId, tag: u8) -> Self {
        Self { peer, tag, n: 0 }
    }

    fn push(&mut self, net: &mut Net) {
        let n = self.n;
        self.n += 1;
        let base = u32::from(self.tag) * 1_000_003;
        for (track, step) in [(AUDIO, 960), (VIDEO, 1800)] {
            let audio = track == AUDIO;
            net.sfu.push_local(
                net.now,
                self.peer,
                track,
                LocalPacket {
                    captured: None,
                    rtp_timestamp: base.wrapping_add(n * step),
                    marker: !audio,
                    audio_level: audio.then_some(-30),
                    voice_activity: audio.then_some(true),
                    payload: Arc::from(&[self.tag, n as u8][..]),
                },
            );
        }
    }
}

/// `ticks` rounds of 20 ms in which every encoder in `sending` pushes its packets.
fn run(net: &mut Net, sending: &mut [&mut Encoder], ticks: usize) {
    for _ in 0..ticks {
        for e in sending.iter_mut() {
            e.push(net);
        }
        net.run(TICK);
    }
}

fn tags(seen: &[Seen]) -> Vec<u8> {
    seen.iter().map(|s| s.payload[0]).collect()
}

/// The tags the viewer got on `kind` from packet `from` on.
fn tags_since(net: &Net, v: usize, kind: MediaKind, from: usize) -> Vec<u8> {
    tags(&net.clients[v].seen(kind)[from..])
}

/// One SSRC, sequence numbers +1 each, timestamps never going back.
fn assert_continuous(seen: &[Seen]) {
    assert!(!seen.is_empty());
    for w in seen.windows(2) {
        assert_eq!(w[1].ssrc, w[0].ssrc, "one SSRC for the viewer's track");
        assert_eq!(w[1].seq, w[0].seq + 1, "sequence numbers continue by one");
        let step = w[1].ts.wrapping_sub(w[0].ts);
        assert!(step < u32::MAX / 2, "timestamps never go back: {step}");
    }
}

fn keyframe_requests(net: &Net, local: PeerId) -> usize {
    net.events_for(local)
        .iter()
        .filter(|e| matches!(e, MediaEvent::KeyframeRequested { .. }))
        .count()
}

fn inactive_count(net: &Net, v: usize) -> usize {
    net.events_for(net.clients[v].peer)
        .iter()
        .filter(|e| matches!(e, MediaEvent::SourceInactive { .. }))
        .count()
}

/// A viewer of `s` and two prioritized publications, both sending for 200 ms: the primary
/// (priority 2, tag 2, published first) and the backup (priority 1, tag 1).
fn primary_and_backup() -> (Net, usize, Encoder, Encoder) {
    let mut net = Net::new();
    let v = net.view("s", None);
    net.connect_all();
    let mut primary = Encoder::new(publish(&mut net, Some(2)), 2);
    let mut backup = Encoder::new(publish(&mut net, Some(1)), 1);
    run(&mut net, &mut [&mut primary], 5);
    // The backup starts later: being the newest does not make it win.
    run(&mut net, &mut [&mut primary, &mut backup], 10);
    (net, v, primary, backup)
}

#[test]
fn the_highest_priority_sending_publication_is_forwarded() {
    let (mut net, v, mut primary, mut backup) = primary_and_backup();
    run(&mut net, &mut [&mut backup, &mut primary], 20);
    for kind in [MediaKind::Audio, MediaKind::Video] {
        let seen = net.clients[v].seen(kind);
        assert_eq!(seen.len(), 35, "every packet of the primary forwarded");
        assert!(tags(&seen).iter().all(|t| *t == 2), "{:?}", tags(&seen));
        assert_continuous(&seen);
    }
    assert_eq!(
        net.sfu.counters().rtp_dropped_not_current,
        60,
        "the backup's"
    );
    assert_eq!(keyframe_requests(&net, backup.peer), 0, "never current");
    assert_eq!(net.sfu.publication_count(), 2);
    assert_eq!(net.sfu.source_count(), 1);
}

#[test]
fn a_stalled_publication_fails_over_to_the_next_priority_and_back_when_it_resumes() {
    let (mut net, v, mut primary, mut backup) = primary_and_backup();
    let seen_before = net.clients[v].seen(MediaKind::Audio).len();
    let kf_backup = keyframe_requests(&net, backup.peer);
    // The primary stops sending (a dead encoder or path, not a close).
    run(&mut net, &mut [&mut backup], 45);
    assert_eq!(
        net.clients[v].seen(MediaKind::Audio).len(),
        seen_before,
        "no failover within the stall time (1 s)"
    );
    run(&mut net, &mut [&mut backup], 15);
    let after: Vec<u8> = tags_since(&net, v, MediaKind::Audio, seen_before);
    assert!(
        (10..=11).contains(&after.len()) && after.iter().all(|t| *t == 1),
        "the backup's packets once the primary stalled: {after:?}"
    );
    assert_eq!(
        keyframe_requests(&net, backup.peer),
        kf_backup + 1,
        "the new current video is asked for a keyframe"
    );
    for kind in [MediaKind::Audio, MediaKind::Video] {
        let seen = net.clients[v].seen(kind);
        assert_continuous(&seen);
        let switch = seen.iter().position(|s| s.payload[0] == 1).unwrap();
        // Timestamps advance by the real time without media (about the stall time).
        let (gap, clock) = (seen[switch].ts.wrapping_sub(seen[switch - 1].ts), {
            if kind == MediaKind::Audio {
                48
            } else {
                90
            }
        });
        assert!(
            (1000 * clock..=1040 * clock).contains(&gap),
            "{kind:?} timestamp gap {gap}"
        );
    }
    let audio = net.clients[v].seen(MediaKind::Audio);
    let switch = audio.iter().position(|s| s.payload[0] == 1).unwrap();
    assert!(
        audio[switch].marker,
        "marker on the first audio packet after a switch"
    );

    // The primary comes back: viewers return to it at its first packet.
    let back_from = net.clients[v].seen(MediaKind::Audio).len();
    let kf_primary = keyframe_requests(&net, primary.peer);
    run(&mut net, &mut [&mut backup, &mut primary], 10);
    let t = tags_since(&net, v, MediaKind::Audio, back_from);
    assert_eq!(
        t,
        vec![1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2],
        "back to the primary"
    );
    assert_eq!(keyframe_requests(&net, primary.peer), kf_primary + 1);
    for kind in [MediaKind::Audio, MediaKind::Video] {
        assert_continuous(&net.clients[v].seen(kind));
    }
    assert_eq!(inactive_count(&net, v), 0, "the source never went inactive");
}

#[test]
fn closing_the_current_publication_fails_over_at_once_and_the_last_close_ends_the_source() {
    let (mut net, v, primary, mut backup) = primary_and_backup();
    let from = net.clients[v].seen(MediaKind::Audio).len();
    net.sfu.close_peer(net.now, primary.peer);
    run(&mut net, &mut [&mut backup], 5);
    assert_eq!(
        tags_since(&net, v, MediaKind::Audio, from),
        vec![1; 5],
        "the backup's very next packet is forwarded"
    );
    assert_eq!(keyframe_requests(&net, backup.peer), 1);
    for kind in [MediaKind::Audio, MediaKind::Video] {
        assert_continuous(&net.clients[v].seen(kind));
    }
    assert_eq!(
        inactive_count(&net, v),
        0,
        "no inactive while a publication is live"
    );

    net.sfu.close_peer(net.now, backup.peer);
    net.step();
    let events = net.events_for(net.clients[v].peer);
    assert_eq!(inactive_count(&net, v), 1);
    assert!(events
        .iter()
        .any(|e| matches!(e, MediaEvent::StreamStopped { .. })));
    assert_eq!(net.sfu.source_count(), 0);
}

#[test]
fn without_priorities_the_newest_flowing_publication_wins_even_while_silent() {
    let mut net = Net::new();
    let v = net.view("s", None);
    net.connect_all();
    let mut older = Encoder::new(publish(&mut net, None), 1);
    run(&mut net, &mut [&mut older], 5);
    let mut newer = Encoder::new(publish(&mut net, None), 2);
    run(&mut net, &mut [&mut older, &mut newer], 5);
    // The newer one goes silent for 3 s: no stall rule without priorities.
    run(&mut net, &mut [&mut older], 150);
    let t = tags(&net.clients[v].seen(MediaKind::Audio));
    // In the tick both send, the older one's packet comes first.
    assert_eq!(t, [vec![1; 6], vec![2; 5]].concat());
    assert_eq!(keyframe_requests(&net, newer.peer), 1, "on the replacement");
    assert_eq!(keyframe_requests(&net, older.peer), 0);
    // Its close hands the source back to the older one at once, as before.
    net.sfu.close_peer(net.now, newer.peer);
    run(&mut net, &mut [&mut older], 3);
    let t = tags(&net.clients[v].seen(MediaKind::Audio));
    assert_eq!(t[11..], [1, 1, 1]);
    assert_eq!(inactive_count(&net, v), 0);
}

#[test]
fn a_higher_priority_publication_that_never_sent_does_not_take_over() {
    let mut net = Net::new();
    let v = net.view("s", None);
    net.connect_all();
    // The high one is registered first, so the source went live with it, but it is silent.
    let mut high = Encoder::new(publish(&mut net, Some(5)), 5);
    let mut low = Encoder::new(publish(&mut net, Some(1)), 1);
    run(&mut net, &mut [&mut low], 100);
    let t = tags(&net.clients[v].seen(MediaKind::Audio));
    assert_eq!(
        t,
        vec![1; 100],
        "the sending one is forwarded, without flapping"
    );
    assert_eq!(keyframe_requests(&net, high.peer), 0);
    assert_eq!(keyframe_requests(&net, low.peer), 1, "on taking over");
    // Once it sends, it takes over.
    run(&mut net, &mut [&mut low, &mut high], 5);
    let t = tags(&net.clients[v].seen(MediaKind::Audio));
    assert_eq!(t[100..], [1, 5, 5, 5, 5, 5]);
    assert_continuous(&net.clients[v].seen(MediaKind::Video));
}

#[test]
fn a_priority_of_zero_outranks_no_priority() {
    let mut net = Net::new();
    let v = net.view("s", None);
    net.connect_all();
    let mut none = Encoder::new(publish(&mut net, None), 1);
    run(&mut net, &mut [&mut none], 5);
    let mut zero = Encoder::new(publish(&mut net, Some(0)), 2);
    run(&mut net, &mut [&mut none, &mut zero], 5);
    // A newer publication without priority stays below it.
    let mut newest = Encoder::new(publish(&mut net, None), 3);
    run(&mut net, &mut [&mut none, &mut zero, &mut newest], 5);
    let t = tags(&net.clients[v].seen(MediaKind::Audio));
    assert_eq!(t, [vec![1; 6], vec![2; 10]].concat());
    // When Some(0) stalls, the newest of the unprioritized ones takes over.
    run(&mut net, &mut [&mut none, &mut newest], 60);
    let t = tags(&net.clients[v].seen(MediaKind::Audio));
    assert!(t[16..].iter().all(|x| *x == 3) && t.len() > 20, "{t:?}");
    assert_eq!(keyframe_requests(&net, none.peer), 0);
}

#[test]
fn between_equal_priorities_the_newest_flowing_wins() {
    let mut net = Net::new();
    let v = net.view("s", None);
    net.connect_all();
    let mut a = Encoder::new(publish(&mut net, Some(1)), 1);
    let mut b = Encoder::new(publish(&mut net, Some(1)), 2);
    run(&mut net, &mut [&mut a], 5);
    run(&mut net, &mut [&mut a, &mut b], 5);
    // b stalls: a takes over; b returns: b again (its place is kept).
    run(&mut net, &mut [&mut a], 60);
    run(&mut net, &mut [&mut a, &mut b], 5);
    let t = tags(&net.clients[v].seen(MediaKind::Audio));
    let switches = t.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(switches, 3, "{t:?}");
    assert_eq!(t[..11], [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    assert_eq!(t[t.len() - 5..], [2; 5]);
}

#[test]
fn a_webrtc_backup_is_asked_for_a_keyframe_when_it_becomes_current() {
    let mut net = Net::new();
    let v = net.view("s", None);
    // A browser publishing without priority: the lowest rank.
    let w = net.publish("s", None, true);
    net.connect_all();
    let mut local = Encoder::new(publish(&mut net, Some(1)), 9);
    for _ in 0..10 {
        local.push(&mut net);
        net.talk(&[(w, 4)], 1);
    }
    let audio = tags(&net.clients[v].seen(MediaKind::Audio));
    let first_local = audio.iter().position(|t| *t == 9).expect("the local one");
    assert!(audio[first_local..].iter().all(|t| *t == 9), "{audio:?}");
    let kf = net.clients[w].keyframe_requests.len();
    // The prioritized one stalls: the browser's feed takes over, with a keyframe request.
    net.talk(&[(w, 4)], 60);
    let audio = tags(&net.clients[v].seen(MediaKind::Audio));
    assert_eq!(audio.last(), Some(&4), "{audio:?}");
    assert!(
        net.clients[w].keyframe_requests.len() > kf,
        "FIR to the browser"
    );
    assert_continuous(&net.clients[v].seen(MediaKind::Audio));
    assert_continuous(&net.clients[v].seen(MediaKind::Video));
    // Closing the browser publication while the local one is stalled keeps the source live.
    net.sfu.close_peer(net.now, net.clients[w].peer);
    net.step();
    assert_eq!(inactive_count(&net, v), 0);
    local.push(&mut net);
    net.run(TICK);
    assert_eq!(
        net.clients[v]
            .seen(MediaKind::Audio)
            .last()
            .unwrap()
            .payload[0],
        9
    );
}

#[test]
fn a_close_hands_over_to_the_best_sending_publication_not_the_previous_current() {
    let mut net = Net::new();
    let v = net.view("s", None);
    net.connect_all();
    let mut two = Encoder::new(publish(&mut net, Some(2)), 2);
    let mut one = Encoder::new(publish(&mut net, Some(1)), 1);
    let mut three = Encoder::new(publish(&mut net, Some(3)), 3);
    run(&mut net, &mut [&mut two, &mut one], 5);
    run(&mut net, &mut [&mut one], 55); // two stalls: one
    run(&mut net, &mut [&mut one, &mut three], 5); // three
    run(&mut net, &mut [&mut one, &mut three, &mut two], 5); // two is back, below three
    let from = net.clients[v].seen(MediaKind::Audio).len();
    net.sfu.close_peer(net.now, three.peer);
    run(&mut net, &mut [&mut one, &mut two], 3);
    assert_eq!(
        tags_since(&net, v, MediaKind::Audio, from),
        [1, 2, 2, 2][1..]
    );
    assert_eq!(inactive_count(&net, v), 0);
}

/// Drains the core's output (events kept) and returns its next deadline.
fn next_deadline(net: &mut Net) -> std::time::Instant {
    loop {
        match net.sfu.poll_output() {
            podium_media::Output::Timeout(at) => return at,
            podium_media::Output::Event(e) => net.events.push(e),
            podium_media::Output::Transmit(_) => {}
        }
    }
}

#[test]
fn the_stall_check_is_a_deadline_of_the_sans_io_core() {
    let stall = Duration::from_millis(300);
    let mut net = Net::with_config(|c| c.redundant_stall_timeout = stall);
    let mut primary = Encoder::new(publish(&mut net, Some(2)), 2);
    let mut backup = Encoder::new(publish(&mut net, Some(1)), 1);
    let t0 = net.now;
    primary.push(&mut net);
    backup.push(&mut net);
    // A new priority makes the core check its source at once, then at the stall deadline.
    let at = next_deadline(&mut net);
    assert!(at <= t0);
    net.sfu.handle_timeout(at);
    assert_eq!(next_deadline(&mut net), t0 + stall);
    // Only the backup keeps sending; packets leave the deadline alone (no per-packet cost).
    for ms in [100, 200] {
        net.now = t0 + Duration::from_millis(ms);
        backup.push(&mut net);
        assert_eq!(next_deadline(&mut net), t0 + stall);
    }
    net.now = t0 + stall;
    net.sfu.handle_timeout(net.now);
    assert_eq!(
        next_deadline(&mut net),
        t0 + Duration::from_millis(200) + stall,
        "the next check: the backup's last packet plus the stall time"
    );
    assert_eq!(keyframe_requests(&net, backup.peer), 1, "failed over");
    assert_eq!(keyframe_requests(&net, primary.peer), 0);
}
