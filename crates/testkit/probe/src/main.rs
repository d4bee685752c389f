//! Measures Podium's media core with a counting allocator, in the simulated network of
//! `podium-testkit` (no sockets, simulated clock):
//!
//! * `memory N [video]`: heap per viewer peer. N listeners (audio main + 3 slots; with `video`
//!   also a video m-line) join a room of 10 audio publishers, 3 of them talking, and listen for
//!   6 simulated seconds. Then the SFU closes every listener (what is freed is the core's cost
//!   per viewer), then the listener clients are dropped (the str0m client's cost).
//! * `allocs`: heap allocations per forwarded packet: one publisher packet in, written into a
//!   slot of N listeners, drained out; the median over 400 packets for several N. The slope
//!   over N is the cost per forwarded copy, the intercept the cost per incoming packet.
//!
//! Timings are not measured here (criterion does that: `cargo bench -p podium-media`), but
//! instruction counts can be, repeatably whatever the machine's load, with callgrind:
//! `valgrind --tool=callgrind --toggle-collect='podium_testkit::Net::bench_sfu_input'
//! --dump-before='podium_probe::room' podium-probe allocs` writes one part per listener count.
//! `PROBE_STOP_JOINED=1 valgrind --tool=dhat podium-probe memory 100` shows, by allocation
//! site, what each viewer costs.
#![allow(clippy::disallowed_methods)]

use std::alloc::System;
use std::time::Duration;

use podium_media::Output;
use podium_testkit::Net;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes currently allocated on the heap.
fn live() -> i64 {
    let s = GLOBAL.stats();
    // stats_alloc already books a realloc's growth or shrink in these two.
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

fn room(viewers: usize, video: bool) -> (Net, Vec<usize>, Vec<usize>) {
    let mut net = Net::with_config(|c| c.idle_timeout = Duration::from_secs(3600));
    let pubs: Vec<usize> = (0..10)
        .map(|i| net.publish("room", Some(&format!("s{i}")), false))
        .collect();
    let listeners = (0..viewers)
        .map(|_| {
            if video {
                net.view_with_slots("room", None, 3, &[])
            } else {
                net.listen("room", None, 3, &[])
            }
        })
        .collect();
    net.connect_all();
    (net, pubs, listeners)
}

fn drain(net: &mut Net) {
    while !matches!(net.sfu.poll_output(), Output::Timeout(_)) {}
}

fn memory(n: usize, video: bool) {
    // Baseline: the publishers alone.
    let (mut net, pubs, _) = room(0, video);
    net.events = Vec::new();
    let before = live();
    let listeners: Vec<usize> = (0..n)
        .map(|_| {
            if video {
                net.view_with_slots("room", None, 3, &[])
            } else {
                net.listen("room", None, 3, &[])
            }
        })
        .collect();
    net.connect_all();
    // Six seconds of three talkers: slots taken, send buffers and statistics at steady state,
    // and every viewer past its handshake (its `Rtc` dropped; `sfu/lite.rs`).
    for _ in 0..300 {
        net.audio_tick(&pubs, |i| (i < 3).then_some(Some(-25)));
    }
    net.events = Vec::new();
    let joined = live();
    if std::env::var_os("PROBE_STOP_JOINED").is_some() {
        // For heap profilers (valgrind --tool=dhat): stop with every viewer connected.
        std::process::exit(0);
    }
    let forwarded = net.sfu.counters().rtp_forwarded;
    for &v in &listeners {
        let peer = net.clients[v].peer;
        let now = net.now;
        net.sfu.close_peer(now, peer);
        drain(&mut net);
    }
    let closed = live();
    net.clients.truncate(pubs.len());
    let dropped = live();
    let per = |b: i64| b as f64 / n as f64 / 1024.0;
    println!(
        "memory: {n} {} listeners, {forwarded} packets forwarded in 6 s",
        if video {
            "video+audio+3-slot"
        } else {
            "audio+3-slot"
        }
    );
    println!(
        "  SFU side (freed by closing the viewer peers): {:.1} KiB per viewer",
        per(joined - closed)
    );
    println!(
        "  client side (str0m client Rtc, testkit):       {:.1} KiB per viewer",
        per(closed - dropped)
    );
    println!(
        "  total growth while joining and listening:     {:.1} KiB per viewer",
        per(joined - before)
    );
    println!(
        "  size_of::<str0m::Rtc>() = {} bytes",
        std::mem::size_of::<str0m::Rtc>()
    );
}

fn median(v: &mut [usize]) -> usize {
    v.sort_unstable();
    v[v.len() / 2]
}

fn allocs() {
    println!("allocs: per step = one publisher packet in, one slot copy per listener out");
    println!("  listeners  sent  allocations/step (median)  bytes allocated/step (median)");
    let mut points = Vec::new();
    for n in [1usize, 10, 100] {
        let (mut net, pubs, _) = room(n, true);
        for _ in 0..50 {
            net.audio_tick(&pubs, |i| (i < 3).then_some(Some(-25)));
        }
        for _ in 0..100 {
            net.sfu_only_audio_step(pubs[0], -25);
        }
        let (mut counts, mut bytes, mut sent) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..400 {
            let datagrams = net.bench_client_send(pubs[0], -25);
            let region = Region::new(GLOBAL);
            sent.push(net.bench_sfu_input(pubs[0], &datagrams));
            let c = region.change();
            counts.push(c.allocations + c.reallocations);
            bytes.push(c.bytes_allocated);
            drop(datagrams);
        }
        let (a, b, sent) = (median(&mut counts), median(&mut bytes), median(&mut sent));
        println!("  {n:>9}  {sent:>4}  {a:>25}  {b:>29}");
        points.push((n as f64, a as f64, b as f64));
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let slope = (last.1 - first.1) / (last.0 - first.0);
    let slope_b = (last.2 - first.2) / (last.0 - first.0);
    println!(
        "  per forwarded copy: {slope:.2} allocations, {slope_b:.0} bytes; per incoming packet: {:.1} allocations",
        first.1 - slope * first.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("memory") => {
            let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500);
            memory(n, args.get(2).is_some_and(|s| s == "video"));
        }
        Some("allocs") => allocs(),
        _ => {
            eprintln!("usage: podium-probe memory [N] [video] | allocs");
            std::process::exit(2);
        }
    }
}
