//! Simulcast in simulated time: a publisher's encodings are kept apart, viewers hear of them
//! in `layers` events, get the highest that fits their estimate, and switch (forced or
//! automatic) only at a keyframe of the target encoding, with a continuous stream.

use std::time::Duration;

use podium_media::{LayerRequest, MediaEvent};
use str0m::media::MediaKind;

use podium_testkit::projection::layer_tag;
use podium_testkit::{Net, Seen};

/// One encoding of the test publisher: rid, tag in its frames, keyframe size, bytes a frame.
struct Enc(&'static str, u8, (u16, u16), usize);

/// Low (tag 1, 320x180, ≈ 53 kbit/s at 33 fps) and high (tag 2, 1280x720, ≈ 293 kbit/s);
/// one packet a frame.
const LOW: Enc = Enc("l", 1, (320, 180), 200);
const HIGH: Enc = Enc("h", 2, (1280, 720), 1100);

/// A simulcast publisher and a viewer that has been receiving it for a second (until the
/// first choice is made a track takes the first keyframe of any encoding; that start is
/// forgotten).
fn setup() -> (Net, usize, usize) {
    let mut net = Net::new();
    let p = net.publish_simulcast("s", None, &["l", "h"]);
    let v = net.view("s", None);
    net.connect_all();
    send(&mut net, p, &[&LOW, &HIGH], 30, |n| n == 0 || n == 15);
    let seen = video(&net, v);
    assert_eq!(
        layer_tag(seen.last().unwrap()),
        2,
        "the highest without an estimate"
    );
    net.clients[v].seen.clear();
    (net, p, v)
}

/// `frames` frames of 30 ms on every encoding in `encs`, keyframes where `key` says.
fn send(net: &mut Net, p: usize, encs: &[&Enc], frames: usize, key: impl Fn(usize) -> bool) {
    for n in 0..frames {
        for e in encs {
            let now = net.now;
            net.clients[p].send_layer(now, e.0, e.1, key(n), e.2, e.3);
        }
        let now = net.now;
        net.clients[p].send(now, MediaKind::Audio, 0, Some(-30));
        net.run(Duration::from_millis(30));
    }
}

fn video(net: &Net, v: usize) -> Vec<Seen> {
    net.clients[v].seen(MediaKind::Video)
}

fn tags(seen: &[Seen]) -> Vec<u8> {
    seen.iter().map(layer_tag).collect()
}

fn assert_continuous(seen: &[Seen]) {
    assert_continuous_within(seen, 90_000);
}

/// Continuous, with timestamps advancing by less than `max_step` (a pause of the encoder is
/// a gap in time, not in numbering).
fn assert_continuous_within(seen: &[Seen], max_step: u32) {
    for w in seen.windows(2) {
        assert_eq!(w[1].ssrc, w[0].ssrc, "one SSRC");
        assert_eq!(w[1].seq, w[0].seq + 1, "sequence numbers continue by one");
        let step = w[1].ts.wrapping_sub(w[0].ts);
        assert!(step > 0 && step < max_step, "timestamps advance: {step}");
    }
}

fn layers_events(net: &Net, v: usize) -> Vec<(Vec<String>, Vec<String>)> {
    net.events_of(v)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Layers {
                active, inactive, ..
            } => Some((
                active.into_iter().map(|l| l.encoding_id).collect(),
                inactive.into_iter().map(|l| l.encoding_id).collect(),
            )),
            _ => None,
        })
        .collect()
}

fn forced(id: &str) -> Option<LayerRequest> {
    Some(LayerRequest {
        encoding_id: Some(id.into()),
        ..Default::default()
    })
}

#[test]
fn encodings_are_kept_apart_described_and_the_highest_is_sent_without_an_estimate() {
    let (mut net, p, v) = setup();
    send(&mut net, p, &[&LOW, &HIGH], 40, |n| n == 0);
    let seen = video(&net, v);
    assert!(!seen.is_empty());
    assert!(tags(&seen).iter().all(|t| *t == 2), "{:?}", tags(&seen));
    assert_continuous(&seen);
    let events: Vec<MediaEvent> = net
        .events_of(v)
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::Layers { .. }))
        .collect();
    let Some(MediaEvent::Layers {
        active, inactive, ..
    }) = events.last()
    else {
        panic!("a layers event");
    };
    assert!(inactive.is_empty());
    let ids: Vec<_> = active.iter().map(|l| l.encoding_id.as_str()).collect();
    assert_eq!(ids, ["l", "h"], "lowest first");
    assert_eq!(active[0].size, Some((320, 180)));
    assert_eq!(active[1].size, Some((1280, 720)));
    assert_eq!((active[0].simulcast_idx, active[1].simulcast_idx), (0, 1));
    let (low, high) = (active[0].bitrate, active[1].bitrate);
    assert!(low > 35_000 && low < 80_000, "low at {low}");
    assert!(high > 200_000 && high < 400_000, "high at {high}");
}

#[test]
fn a_forced_layer_is_switched_to_at_its_keyframe_and_automatic_returns_to_the_highest() {
    let (mut net, p, v) = setup();
    send(&mut net, p, &[&LOW, &HIGH], 20, |n| n == 0);
    let before = net.clients[p].keyframe_requests.len();
    net.select(v, forced("l")).expect("select accepted");
    // Deltas only: the viewer keeps getting the high encoding, a keyframe is asked for.
    send(&mut net, p, &[&LOW, &HIGH], 20, |_| false);
    assert!(
        net.clients[p].keyframe_requests.len() > before,
        "keyframe asked for"
    );
    assert!(tags(&video(&net, v)).iter().all(|t| *t == 2));
    // The high encoding's keyframe alone does not switch; the low one's does.
    send(&mut net, p, &[&HIGH], 1, |_| true);
    send(&mut net, p, &[&LOW, &HIGH], 1, |_| false);
    assert_eq!(*tags(&video(&net, v)).last().unwrap(), 2);
    send(&mut net, p, &[&LOW], 1, |_| true);
    send(&mut net, p, &[&LOW, &HIGH], 10, |_| false);
    let all = video(&net, v);
    let t = tags(&all);
    let first_low = t.iter().position(|t| *t == 1).expect("switched to low");
    assert!(t[first_low..].iter().all(|t| *t == 1), "{t:?}");
    assert_eq!(all[first_low].payload[1] & 0x01, 0, "at a keyframe");
    assert_continuous(&all);
    // Automatic again: back up (no estimate: the highest) at the high keyframe.
    net.select(v, None).expect("select accepted");
    send(&mut net, p, &[&LOW, &HIGH], 10, |_| false);
    assert_eq!(
        *tags(&video(&net, v)).last().unwrap(),
        1,
        "no switch without a keyframe"
    );
    send(&mut net, p, &[&LOW, &HIGH], 10, |n| n == 0);
    let all = video(&net, v);
    assert_eq!(*tags(&all).last().unwrap(), 2);
    assert_continuous(&all);
}

#[test]
fn a_forced_layer_that_does_not_arrive_leaves_the_choice_automatic() {
    let (mut net, p, v) = setup();
    send(&mut net, p, &[&LOW, &HIGH], 10, |n| n == 0);
    net.select(v, forced("nope"))
        .expect("accepted: the encoding may start later");
    send(&mut net, p, &[&LOW, &HIGH], 10, |n| n == 0);
    assert!(tags(&video(&net, v)).iter().all(|t| *t == 2));
}

#[test]
fn the_estimate_moves_a_viewer_down_at_once_and_back_up_after_the_hold() {
    let (mut net, p, v) = setup();
    send(&mut net, p, &[&LOW, &HIGH], 20, |n| n == 0);
    // The receiver's estimate had room, then falls to 150 kbit/s: the high encoding no longer
    // fits.
    net.remb(v, 1_000_000);
    send(&mut net, p, &[&LOW, &HIGH], 5, |_| false);
    for _ in 0..3 {
        net.remb(v, 150_000);
        send(&mut net, p, &[&LOW, &HIGH], 5, |_| false);
    }
    send(&mut net, p, &[&LOW, &HIGH], 3, |n| n == 0);
    let t = tags(&video(&net, v));
    assert_eq!(*t.last().unwrap(), 1, "down to low: {t:?}");
    let low_from = t.iter().position(|t| *t == 1).unwrap();
    // 1 Mbit/s again: up, but not before the hold.
    net.remb(v, 1_000_000);
    send(&mut net, p, &[&LOW, &HIGH], 10, |n| n % 5 == 0);
    let t = tags(&video(&net, v));
    assert!(
        t[low_from..].iter().all(|t| *t == 1),
        "held low for a while: {t:?}"
    );
    // After a down-switch the way up opens after a hold, then needs room for a hold.
    for _ in 0..8 {
        net.remb(v, 1_000_000);
        send(&mut net, p, &[&LOW, &HIGH], 20, |n| n % 10 == 0);
    }
    let all = video(&net, v);
    assert_eq!(*tags(&all).last().unwrap(), 2, "back up to high");
    assert_continuous(&all);
}

#[test]
fn a_stopped_encoding_is_reported_inactive_and_the_viewer_follows_the_one_left() {
    let (mut net, p, v) = setup();
    send(&mut net, p, &[&LOW, &HIGH], 20, |n| n == 0);
    // The encoder pauses its high encoding (bandwidth limited publisher).
    send(&mut net, p, &[&LOW], 100, |n| n % 30 == 0);
    let events = layers_events(&net, v);
    assert_eq!(
        events.last().unwrap(),
        &(vec!["l".to_string()], vec!["h".to_string()])
    );
    let all = video(&net, v);
    assert_eq!(*tags(&all).last().unwrap(), 1, "now on low");
    assert_continuous_within(&all, 90_000 * 3);
}

#[test]
fn a_projection_names_its_layer_and_its_mid_gets_its_own_layers_events() {
    let mut net = Net::new();
    let main = net.publish("s", None, true);
    let p = net.publish_simulcast("s", Some("cam"), &["l", "h"]);
    let v = net.view("s", None);
    net.connect_all();
    let mid = net.add_transceiver(v, MediaKind::Video);
    net.project(
        v,
        podium_media::ProjectParams {
            source: Some("cam".into()),
            mappings: vec![podium_media::Projection {
                track_id: Some("video0".into()),
                mid: Some(mid.to_string()),
                layer: forced("l"),
                ..Default::default()
            }],
        },
    )
    .expect("projected");
    for n in 0..30 {
        let now = net.now;
        net.clients[main].send_frame(now, 9, n == 0);
        send(&mut net, p, &[&LOW, &HIGH], 1, |_| n % 10 == 0);
    }
    let projected = net.clients[v].seen_on(&mid);
    assert!(!projected.is_empty());
    assert!(
        tags(&projected).iter().all(|t| *t == 1),
        "the low encoding only"
    );
    assert_continuous(&projected);
    let told: Vec<String> = net
        .events_of(v)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Layers { mid, .. } => Some(mid),
            _ => None,
        })
        .collect();
    assert!(told.contains(&mid.to_string()), "{told:?}");
    assert!(
        net.clients[v].seen(MediaKind::Video).len() >= 25,
        "the main source goes on, unlayered"
    );
}

#[test]
fn a_layer_chosen_before_connecting_is_the_first_one_sent() {
    let mut net = Net::new();
    let p = net.publish_simulcast("s", None, &["l", "h"]);
    net.connect_all();
    send(&mut net, p, &[&LOW, &HIGH], 10, |n| n == 0);
    // As signaling does for `view` with a `layer`: select right after the view.
    let v = net.view("s", None);
    net.select(v, forced("l")).expect("select accepted");
    net.connect_all();
    send(&mut net, p, &[&LOW, &HIGH], 20, |n| n % 10 == 0);
    let seen = video(&net, v);
    assert!(!seen.is_empty());
    assert!(tags(&seen).iter().all(|t| *t == 1), "{:?}", tags(&seen));
    assert_continuous(&seen);
}

#[test]
fn an_encoding_whose_first_keyframe_was_missed_gets_one_asked_for_to_learn_its_size() {
    let mut net = Net::new();
    let p = net.publish_simulcast("s", None, &["l", "h"]);
    let v = net.view("s", None);
    net.connect_all();
    // `frames` frames of both encodings; the low one's first keyframe was lost.
    let run = |net: &mut Net, frames: usize, low_key: bool| {
        for n in 0..frames {
            let now = net.now;
            net.clients[p].send_layer(now, LOW.0, LOW.1, low_key && n == 0, LOW.2, LOW.3);
            net.clients[p].send_layer(now, HIGH.0, HIGH.1, n == 0, HIGH.2, HIGH.3);
            net.run(Duration::from_millis(30));
        }
    };
    let sizes = |net: &Net| match net.events_of(v).into_iter().rev().find_map(|e| match e {
        MediaEvent::Layers { active, .. } => Some(active),
        _ => None,
    }) {
        Some(active) => active.iter().map(|l| l.size).collect::<Vec<_>>(),
        None => Vec::new(),
    };
    run(&mut net, 40, false);
    assert_eq!(sizes(&net), [None, Some((1280, 720))]);
    let before = net.clients[p].keyframe_requests.len();
    // About 6 s of deltas: asked again (every 5 s while the size is unknown).
    run(&mut net, 200, false);
    let asked = net.clients[p].keyframe_requests.len();
    assert!(asked > before, "a keyframe asked for the unknown size");
    // Not forever (a size that cannot be read, an encrypted payload's, would cost a keyframe
    // every 5 s): three asks at most.
    run(&mut net, 400, false);
    let asked = net.clients[p].keyframe_requests.len();
    run(&mut net, 400, false);
    assert_eq!(
        net.clients[p].keyframe_requests.len(),
        asked,
        "asking stopped"
    );
    // The publisher answers: the size is told, and nothing more is asked.
    run(&mut net, 1, true);
    run(&mut net, 200, false);
    assert_eq!(sizes(&net), [Some((320, 180)), Some((1280, 720))]);
    assert_eq!(
        net.clients[p].keyframe_requests.len(),
        asked,
        "no more once every size is known"
    );
}
