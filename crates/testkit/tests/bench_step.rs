//! The benchmark step really exercises the SFU.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use podium_testkit::Net;

#[test]
fn sfu_only_step_forwards_to_every_viewer() {
    let mut net = Net::with_config(|c| c.idle_timeout = Duration::from_secs(3600));
    let pubs: Vec<usize> = (0..10)
        .map(|i| net.publish("room", Some(&format!("s{i}")), false))
        .collect();
    for _ in 0..10 {
        net.view_with_slots("room", None, 3, &[]);
    }
    net.connect_all();
    for _ in 0..50 {
        net.audio_tick(&pubs, |i| (i < 3).then_some(Some(-25)));
    }
    let counters = net.sfu.counters().clone();
    let sent: Vec<usize> = (0..20)
        .map(|_| net.sfu_only_audio_step(pubs[0], -25))
        .collect();
    eprintln!("{counters:?} -> {:?} ; sent {sent:?}", net.sfu.counters());
    assert!(sent.iter().all(|&s| s >= 10), "{sent:?}");
}

/// The benchmark rebuilds its net every 1000 steps; one net must last that long.
#[test]
fn sfu_only_step_keeps_forwarding_for_a_thousand_steps() {
    let mut net = Net::with_config(|c| c.idle_timeout = Duration::from_secs(36000));
    let pubs: Vec<usize> = (0..3)
        .map(|i| net.publish("room", Some(&format!("s{i}")), false))
        .collect();
    net.view_with_slots("room", None, 3, &[]);
    net.connect_all();
    for _ in 0..50 {
        net.audio_tick(&pubs, |_| Some(Some(-25)));
    }
    for i in 0..1_000 {
        let sent = net.sfu_only_audio_step(pubs[0], -25);
        assert!(
            sent >= 1,
            "iteration {i}: {:?} {:?}",
            net.sfu.counters(),
            net.events.last()
        );
    }
}
