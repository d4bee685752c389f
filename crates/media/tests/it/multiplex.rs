//! Audio multiplexing scenarios with scripted talk patterns in simulated time.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use podium_media::{MediaEvent, SourceKey};

use podium_testkit::{Net, Seen};

const LOUD: Option<Option<i8>> = Some(Some(-25));
const SILENT: Option<Option<i8>> = Some(None);
const DTX: Option<Option<i8>> = None;

/// A stream with `n` audio-only publishers `s0..s{n-1}` and one viewer with `slots` slots.
fn room(
    n: usize,
    slots: usize,
    pinned: Option<&str>,
    excluded: &[&str],
) -> (Net, Vec<usize>, usize) {
    let mut net = Net::new();
    let pubs: Vec<usize> = (0..n)
        .map(|i| net.publish("room", Some(&format!("s{i}")), false))
        .collect();
    let viewer = net.view_with_slots("room", pinned, slots, excluded);
    net.connect_all();
    (net, pubs, viewer)
}

/// `vad` events of a viewer in order: (mid, source) where source `None` = emptied.
fn vads(net: &Net, viewer: usize) -> Vec<(String, Option<SourceKey>)> {
    net.events_for(net.clients[viewer].peer)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::SlotChanged { mid, source, .. } => Some((mid, source)),
            _ => None,
        })
        .collect()
}

fn named(i: usize) -> Option<SourceKey> {
    Some(Some(format!("s{i}")))
}

/// Current slot → source map rebuilt from the events.
fn slot_state(net: &Net, viewer: usize) -> Vec<Option<SourceKey>> {
    let mids = net.slot_mids(viewer);
    let mut state = vec![None; mids.len()];
    for (mid, source) in vads(net, viewer) {
        let i = mids
            .iter()
            .position(|m| m.to_string() == mid)
            .expect("a slot mid");
        state[i] = source;
    }
    state
}

fn assert_slot_streams_continuous(net: &Net, viewer: usize) {
    for mid in net.slot_mids(viewer) {
        let seen: Vec<&Seen> = net.clients[viewer]
            .seen
            .iter()
            .filter(|s| s.mid == mid)
            .collect();
        for w in seen.windows(2) {
            assert_eq!(w[1].ssrc, w[0].ssrc, "fixed SSRC per slot");
            assert_eq!(
                w[1].seq,
                w[0].seq + 1,
                "sequence continues by one in slot {mid}"
            );
            assert!(
                w[1].ts.wrapping_sub(w[0].ts) < u32::MAX / 2 && w[1].ts != w[0].ts,
                "timestamps advance"
            );
        }
    }
}

#[test]
fn ten_speakers_three_slots_carry_the_three_talkers() {
    let (mut net, pubs, v) = room(10, 3, None, &[]);
    let talkers = [1usize, 4, 7];
    for _ in 0..100 {
        net.audio_tick(&pubs, |i| if talkers.contains(&i) { LOUD } else { SILENT });
    }
    let state: HashSet<_> = slot_state(&net, v).into_iter().collect();
    let expected: HashSet<_> = talkers.iter().map(|&i| named(i)).collect();
    assert_eq!(state, expected);
    // Only the talkers' packets reach the slots, and each slot stream is continuous.
    let slot_mids = net.slot_mids(v);
    let tags: HashSet<u8> = net.clients[v]
        .seen
        .iter()
        .filter(|s| slot_mids.contains(&s.mid))
        .map(|s| s.payload[0])
        .collect();
    let talker_tags: HashSet<u8> = talkers.iter().map(|&i| pubs[i] as u8).collect();
    assert_eq!(tags, talker_tags);
    assert_slot_streams_continuous(&net, v);
}

#[test]
fn a_short_noise_burst_does_not_take_a_slot() {
    let (mut net, pubs, v) = room(2, 3, None, &[]);
    for t in 0..100 {
        // s0 talks; s1 coughs for 80 ms once.
        net.audio_tick(&pubs, |i| match i {
            0 => LOUD,
            _ if (50..54).contains(&t) => Some(Some(-5)),
            _ => DTX,
        });
    }
    assert_eq!(vads(&net, v).len(), 1, "{:?}", vads(&net, v));
    assert_eq!(vads(&net, v)[0].1, named(0));
}

#[test]
fn two_talkers_over_one_slot_do_not_flap() {
    let (mut net, pubs, v) = room(2, 1, None, &[]);
    // Both talk at once for 10 s, with uneven loudness that keeps changing.
    for t in 0..500 {
        net.audio_tick(&pubs, |i| {
            let loud = (t / 10 + i) % 2 == 0;
            Some(Some(if loud { -20 } else { -40 }))
        });
    }
    assert_eq!(
        vads(&net, v).len(),
        1,
        "the first talker keeps the slot: {:?}",
        vads(&net, v)
    );
}

#[test]
fn alternating_turns_switch_once_per_turn() {
    let (mut net, pubs, v) = room(3, 1, None, &[]);
    // Five turns of 2 s each with 0.5 s pauses; more speakers than slots.
    for turn in 0..5usize {
        for _ in 0..100 {
            net.audio_tick(&pubs, |i| if i == turn % 3 { LOUD } else { DTX });
        }
        for _ in 0..25 {
            net.audio_tick(&pubs, |_| DTX);
        }
    }
    let order: Vec<_> = vads(&net, v).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        order,
        vec![named(0), named(1), named(2), named(0), named(1)]
    );
}

#[test]
fn dtx_silence_frees_the_slot_for_the_next_speaker_but_keeps_it_while_all_are_silent() {
    let (mut net, pubs, v) = room(2, 1, None, &[]);
    for _ in 0..50 {
        net.audio_tick(&pubs, |i| if i == 0 { LOUD } else { DTX });
    }
    // Everyone silent (DTX: no packets at all) for 5 s: the slot keeps s0.
    for _ in 0..250 {
        net.audio_tick(&pubs, |_| DTX);
    }
    assert_eq!(vads(&net, v).len(), 1);
    // s1 speaks: s0 is silent, so s1 takes the slot at once.
    for _ in 0..20 {
        net.audio_tick(&pubs, |i| if i == 1 { LOUD } else { DTX });
    }
    assert_eq!(slot_state(&net, v), vec![named(1)]);
}

#[test]
fn pinned_and_excluded_sources_never_appear_in_slots() {
    let (mut net, pubs, v) = room(4, 3, Some("s0"), &["s1"]);
    for t in 0..200 {
        net.audio_tick(&pubs, |i| if (t / 20 + i) % 2 == 0 { LOUD } else { SILENT });
    }
    let events = vads(&net, v);
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|(_, s)| *s != named(0) && *s != named(1)),
        "{events:?}"
    );
    // The main audio transceiver carries the pinned source only.
    let main_mid = net.clients[v]
        .mids
        .iter()
        .find(|(_, k)| *k == str0m::media::MediaKind::Audio)
        .unwrap()
        .0;
    let main_tags: HashSet<u8> = net.clients[v]
        .seen
        .iter()
        .filter(|s| s.mid == main_mid)
        .map(|s| s.payload[0])
        .collect();
    assert_eq!(main_tags, HashSet::from([pubs[0] as u8]));
}

#[test]
fn many_switches_keep_each_slot_continuous_and_sources_unique() {
    let (mut net, pubs, v) = room(6, 2, None, &[]);
    // Rotating pairs of talkers with DTX in between, 40 turns.
    for turn in 0..40usize {
        for _ in 0..30 {
            net.audio_tick(&pubs, |i| {
                if i == turn % 6 || i == (turn + 3) % 6 {
                    LOUD
                } else {
                    DTX
                }
            });
        }
        for _ in 0..5 {
            net.audio_tick(&pubs, |_| DTX);
        }
    }
    assert!(vads(&net, v).len() > 20, "many switches happened");
    assert_slot_streams_continuous(&net, v);
    // Replaying the events, a source is never in two slots at once.
    let mids = net.slot_mids(v);
    let mut state = vec![None; mids.len()];
    for (mid, source) in vads(&net, v) {
        let i = mids.iter().position(|m| m.to_string() == mid).unwrap();
        state[i] = source.clone();
        let live: Vec<_> = state.iter().flatten().collect();
        let unique: HashSet<_> = live.iter().collect();
        assert_eq!(live.len(), unique.len(), "duplicate source in {state:?}");
    }
    // The first packet after each switch carries the marker bit.
    let slot0: Vec<&Seen> = net.clients[v]
        .seen
        .iter()
        .filter(|s| s.mid == mids[0])
        .collect();
    for w in slot0.windows(2) {
        if w[1].payload[0] != w[0].payload[0] {
            assert!(w[1].marker, "marker on the first packet of a new source");
        }
    }
}

#[test]
fn unpublishing_empties_the_slot() {
    let (mut net, pubs, v) = room(2, 2, None, &[]);
    for _ in 0..30 {
        net.audio_tick(&pubs, |_| LOUD);
    }
    let gone = net.clients[pubs[1]].peer;
    net.sfu.close_peer(net.now, gone);
    net.step();
    let state = slot_state(&net, v);
    assert!(
        state.contains(&named(0)) && !state.contains(&named(1)),
        "{state:?}"
    );
    assert!(state.contains(&None));
}

/// Speaker-switch time in simulated time: from a new speaker's first speech packet to its
/// first packet forwarded in a slot and to the `vad` event.
#[test]
fn speaker_switch_time_is_under_150_ms() {
    let (mut net, pubs, v) = room(2, 1, None, &[]);
    for _ in 0..100 {
        net.audio_tick(&pubs, |i| if i == 0 { LOUD } else { DTX });
    }
    for _ in 0..75 {
        net.audio_tick(&pubs, |_| DTX);
    }
    let start: Instant = net.now;
    let before_events = vads(&net, v).len();
    let before_seen = net.clients[v].seen.len();
    let mut vad_at = None;
    let mut forwarded_at = None;
    for _ in 0..50 {
        net.audio_tick(&pubs, |i| if i == 1 { LOUD } else { DTX });
        if vad_at.is_none() && vads(&net, v).len() > before_events {
            vad_at = Some(net.now - start);
        }
        let tag = pubs[1] as u8;
        if forwarded_at.is_none()
            && net.clients[v].seen[before_seen..]
                .iter()
                .any(|s| s.payload[0] == tag)
        {
            forwarded_at = Some(net.now - start);
        }
    }
    let (vad_at, forwarded_at) = (vad_at.unwrap(), forwarded_at.unwrap());
    println!(
        "switch time (simulated): vad event {vad_at:?}, first forwarded packet {forwarded_at:?}"
    );
    assert!(vad_at <= Duration::from_millis(150) && forwarded_at <= Duration::from_millis(150));
    // The speech that won the slot is replayed into it: the very first packet is heard.
    let tag = pubs[1] as u8;
    let first = net.clients[v].seen[before_seen..]
        .iter()
        .find(|s| s.payload[0] == tag)
        .unwrap();
    assert_eq!(
        u64::from_be_bytes(first.payload[1..9].try_into().unwrap()),
        1
    );
    assert_slot_streams_continuous(&net, v);
}
