//! An audio room spread over a cluster (issue 15): ten multisource speakers (s0…s9) on the
//! origin, listeners with three multiplexed audio slots on the origin and on two edges.
//! Voice-activity ranking happens once, at the origin, and edges fill their viewers' slots
//! from it, so every listener hears the same `vad` sequence (slot → sourceId) for the same
//! input, gets audio in its slots, and hears the cluster's total `viewercount`.
//!
//! Speakers send Opus-sized packets every 20 ms with an RFC 6464 level following a script
//! of turns: short talks with staggered onsets, each turn starting once the previous
//! talkers are silent, so slots fill, are reused and, in the last turn, one is taken over
//! by a fourth concurrent talker. The script keeps every decision away from the ranking's
//! thresholds, so the sequence does not depend on when a ranking reaches an edge; nothing
//! here asserts a timing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{admin, command, director, Server, Ws, TOKEN};
use crate::cluster::{host_of, node_with, open, settle, signaling_url, Redis};

const STREAM: &str = "room";
const SPEAKERS: usize = 10;
const SLOTS: usize = 3;
/// Loud speech (weight 1 in the ranking).
const LOUD: i8 = -20;
/// Length of a turn: its talkers are silent (ranked out) well before the next one.
const TURN_MS: u64 = 3000;
/// Turns of `(speaker, onset ms in the turn, talk ms)`. With 3 slots: s0, s1 fill two
/// slots; s2 takes the empty one, s3 and s4 reuse the silent ones (least recently switched
/// first); s5, s6 and s7, s8, s9 likewise; in the last turn s1, s3, s5 fill the slots and
/// s0, louder in score than the first of them once its 1.5 s dwell is over, takes its slot.
const TURNS: [&[(usize, u64, u64)]; 5] = [
    &[(0, 0, 700), (1, 250, 700)],
    &[(2, 0, 700), (3, 250, 700), (4, 500, 700)],
    &[(5, 0, 700), (6, 250, 700)],
    &[(7, 0, 700), (8, 250, 700), (9, 500, 700)],
    &[(1, 0, 1000), (3, 250, 1000), (5, 500, 1000), (0, 750, 1000)],
];

/// What a client saw: signaling events in order and, per receiving mid, the packets per
/// speaker (the payload's first byte).
#[derive(Default)]
struct Heard {
    connected: bool,
    events: Vec<Value>,
    packets: HashMap<String, BTreeMap<u8, usize>>,
}

type Shared = Arc<Mutex<Heard>>;

fn lock(h: &Shared) -> std::sync::MutexGuard<'_, Heard> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

/// A str0m peer (RTP mode) on its own UDP socket, run by a task: `count` audio m-lines in
/// `dir`; as a speaker it sends a packet tagged `tag` every 20 ms at the level `level`
/// holds (`None`: silence) once connected.
struct AudioPeer {
    offer: String,
    mids: Vec<Mid>,
    answer_tx: Option<oneshot::Sender<String>>,
    heard: Shared,
}

impl AudioPeer {
    async fn new(
        dir: Direction,
        count: usize,
        speaker: Option<(u8, watch::Receiver<Option<i8>>)>,
    ) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mut rtc = RtcConfig::new().set_rtp_mode(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mids: Vec<Mid> = (0..count)
            .map(|_| api.add_media(MediaKind::Audio, dir, None, None, None))
            .collect();
        let (offer, pending) = api.apply().unwrap();
        let (answer_tx, answer_rx) = oneshot::channel();
        let heard = Shared::default();
        let send = speaker.map(|(tag, level)| (mids[0], tag, level));
        tokio::spawn(drive(
            rtc,
            socket,
            addr,
            pending,
            answer_rx,
            heard.clone(),
            send,
        ));
        Self {
            offer: offer.to_sdp_string(),
            mids,
            answer_tx: Some(answer_tx),
            heard,
        }
    }

    fn answer(&mut self, sdp: &str) {
        self.answer_tx.take().unwrap().send(sdp.to_owned()).unwrap();
    }
}

async fn drive(
    mut rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    pending: SdpPendingOffer,
    answer_rx: oneshot::Receiver<String>,
    heard: Shared,
    send: Option<(Mid, u8, watch::Receiver<Option<i8>>)>,
) {
    let Ok(answer) = answer_rx.await else { return };
    let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
    rtc.sdp_api().accept_answer(pending, answer).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut n: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut connected = false;
    loop {
        let deadline = loop {
            match rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Event(Event::Connected)) => {
                    connected = true;
                    lock(&heard).connected = true;
                }
                Ok(Output::Event(Event::RtpPacket(p))) => {
                    let mid = rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                    if let (Some(mid), Some(&tag)) = (mid, p.payload.first()) {
                        *lock(&heard)
                            .packets
                            .entry(mid.to_string())
                            .or_default()
                            .entry(tag)
                            .or_default() += 1;
                    }
                }
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        };
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((len, source)) = r else { continue };
                let Ok(contents) = buf[..len].try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: addr, contents });
                if rtc.handle_input(input).is_err() { return; }
            }
            _ = tick.tick(), if connected && send.is_some() => {
                let (mid, tag, level) = send.as_ref().expect("guarded");
                n += 1;
                let level = *level.borrow();
                let pt = rtc.codec_config().params().iter().find(|p| p.spec().codec == Codec::Opus).unwrap().pt();
                let ext = ExtensionValues {
                    audio_level: Some(level.unwrap_or(-127)),
                    voice_activity: Some(level.is_some()),
                    ..Default::default()
                };
                // An Opus-sized frame: the speaker's tag, a counter, filler.
                let mut payload = vec![0u8; 60];
                payload[0] = *tag;
                payload[1] = n as u8;
                let mut api = rtc.direct_api();
                if let Some(tx) = api.stream_tx_by_mid(*mid, None) {
                    tx.write_rtp(RtpWrite::new(pt, SeqNo::from(n), (n * 960) as u32, Instant::now(), payload).ext_vals(ext));
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                if rtc.handle_input(Input::Timeout(Instant::now())).is_err() { return; }
            }
        }
    }
}

/// Keeps reading a signaling socket, recording its events.
fn record_events(mut ws: Ws, heard: Shared) {
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "event" {
                    lock(&heard).events.push(v);
                }
            }
        }
    });
}

struct Speaker {
    level: watch::Sender<Option<i8>>,
    heard: Shared,
    at: String,
}

/// Publishes speaker `i` (sourceId `s{i}`, audio only) through `base`'s Director.
async fn speak(base: &str, i: usize) -> Speaker {
    let source = format!("s{i}");
    let (status, body) = director(
        base,
        "publish",
        Some(TOKEN),
        json!({"streamName": STREAM, "sourceId": source}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = signaling_url(&body);
    let (level, level_rx) = watch::channel(None);
    let mut peer = AudioPeer::new(Direction::SendOnly, 1, Some((i as u8, level_rx))).await;
    let data = json!({"name": STREAM, "sdp": peer.offer, "sourceId": source});
    negotiate(&url, &mut peer, "publish", data).await;
    Speaker {
        level,
        heard: peer.heard,
        at: host_of(&url),
    }
}

struct Listener {
    /// The node serving it (host:port of its signaling URL).
    at: String,
    /// Its slots' mids, in the order of its m-lines.
    slots: Vec<String>,
    heard: Shared,
}

impl Listener {
    /// Its `vad` events from `from` on, as (slot index, sourceId).
    fn vads(&self, from: usize) -> Vec<(usize, Option<String>)> {
        lock(&self.heard).events[from..]
            .iter()
            .filter(|e| e["name"] == "vad")
            .map(|e| {
                let mid = e["data"]["mediaId"].as_str().unwrap();
                let slot = self
                    .slots
                    .iter()
                    .position(|m| m == mid)
                    .unwrap_or_else(|| panic!("vad for {mid}, not a slot: {e}"));
                (slot, e["data"]["sourceId"].as_str().map(str::to_owned))
            })
            .collect()
    }

    fn last_count(&self) -> Option<u64> {
        lock(&self.heard)
            .events
            .iter()
            .rev()
            .find(|e| e["name"] == "viewercount")
            .and_then(|e| e["data"]["viewercount"].as_u64())
    }
}

/// Views the room through `base`'s Director with a default audio m-line and `SLOTS` slots.
async fn listen(base: &str) -> Listener {
    let (status, body) = director(base, "subscribe", None, json!({"streamName": STREAM})).await;
    assert_eq!(status, 200, "{body}");
    let url = signaling_url(&body);
    let mut peer = AudioPeer::new(Direction::RecvOnly, 1 + SLOTS, None).await;
    let data = json!({"streamId": STREAM, "sdp": peer.offer, "multiplexedAudioTracks": SLOTS});
    negotiate(&url, &mut peer, "view", data).await;
    Listener {
        at: host_of(&url),
        slots: peer.mids[1..].iter().map(|m| m.to_string()).collect(),
        heard: peer.heard,
    }
}

/// Opens signaling at `url`, sends `name` with `data` (the peer's offer in it), hands the
/// answer to the peer and records what the socket hears from then on.
async fn negotiate(url: &str, peer: &mut AudioPeer, name: &str, data: Value) {
    let mut ws = open(url).await;
    let mut events = Vec::new();
    let reply = command(&mut ws, 1, name, data, &mut events).await;
    assert_eq!(reply["type"], "response", "{reply}");
    peer.answer(reply["data"]["sdp"].as_str().unwrap());
    lock(&peer.heard).events.extend(events);
    record_events(ws, peer.heard.clone());
}

/// Polls `done` every 50 ms until it holds; panics with `what()` after `secs`.
async fn wait_until(secs: u64, mut done: impl FnMut() -> bool, what: impl Fn() -> String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{}", what());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until Redis records `expected` viewers of the room per node (as the Directors
/// read them), so the next placement sees every listener placed so far.
async fn wait_recorded(node: &Server, expected: &BTreeMap<String, u64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = admin(&node.base, reqwest::Method::GET, "cluster", None).await;
        assert_eq!(status, 200, "{body}");
        let recorded: BTreeMap<String, u64> = body["data"]["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stream"] == STREAM)
            .and_then(|s| s["viewers"].as_object())
            .map(|v| {
                v.iter()
                    .map(|(n, c)| (n.clone(), c.as_u64().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        if &recorded == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "recorded {recorded:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays [`TURNS`]: each speaker's level follows the script from its start.
async fn play_script(speakers: &[Speaker]) {
    let mut plan: Vec<(usize, u64, u64)> = Vec::new();
    for (turn, talks) in TURNS.iter().enumerate() {
        let base = turn as u64 * TURN_MS;
        plan.extend(
            talks
                .iter()
                .map(|&(s, on, len)| (s, base + on, base + on + len)),
        );
    }
    let end = plan.iter().map(|p| p.2).max().unwrap() + 1000;
    let start = tokio::time::Instant::now();
    loop {
        let t = start.elapsed().as_millis() as u64;
        if t > end {
            break;
        }
        for (i, s) in speakers.iter().enumerate() {
            let loud = plan
                .iter()
                .any(|&(p, from, to)| p == i && (from..to).contains(&t));
            let level = loud.then_some(LOUD);
            s.level
                .send_if_modified(|l| std::mem::replace(l, level) != level);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for s in speakers {
        s.level.send_replace(None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_on_the_origin_and_two_edges_hear_the_same_vad_sequence_and_the_cluster_count() {
    let redis = Redis::start();
    // The origin keeps one viewer; an edge is full with two (80 % of 3, the placements of
    // the last 5 s counted too), so the next ones open the other edge.
    let tune = |a: &mut podium_server::ServeArgs| {
        a.origin_max_viewers = Some(1);
        a.node_max_viewers = Some(3);
    };
    let nodes = [
        node_with(&redis, 1, tune).await,
        node_with(&redis, 2, tune).await,
        node_with(&redis, 3, tune).await,
    ];
    let name_of = |host: &str| {
        let i = nodes
            .iter()
            .position(|n| n.running.http_addr.to_string() == host)
            .unwrap_or_else(|| panic!("{host} is not a node"));
        format!("node{}", i + 1)
    };
    settle().await;

    // Ten speakers through node 1's Director: one origin for all of them.
    let mut speakers = Vec::new();
    for i in 0..SPEAKERS {
        speakers.push(speak(&nodes[0].base, i).await);
    }
    let origin = speakers[0].at.clone();
    for (i, s) in speakers.iter().enumerate() {
        assert_eq!(s.at, origin, "speaker s{i} on the origin");
    }
    wait_until(
        10,
        || speakers.iter().all(|s| lock(&s.heard).connected),
        || "speakers connected".into(),
    )
    .await;

    // The first listener stays on the origin; the next ones go to edges until each of the
    // two edges has two (more if a placement lands on an edge with room left).
    let mut listeners = Vec::new();
    let mut recorded: BTreeMap<String, u64> = BTreeMap::new();
    let first = listen(&nodes[0].base).await;
    assert_eq!(first.at, origin, "the first listener is on the origin");
    *recorded.entry(name_of(&first.at)).or_default() += 1;
    listeners.push(first);
    wait_recorded(&nodes[0], &recorded).await;
    let edges_full = |listeners: &[Listener]| {
        let mut per_edge: BTreeMap<&str, usize> = BTreeMap::new();
        for l in listeners.iter().filter(|l| l.at != origin) {
            *per_edge.entry(&l.at).or_default() += 1;
        }
        per_edge.len() == 2 && per_edge.values().all(|&n| n >= 2)
    };
    while !edges_full(&listeners) {
        assert!(listeners.len() < 8, "placements: {:?}", recorded);
        let via = &nodes[listeners.len() % 3].base;
        let l = listen(via).await;
        assert_ne!(l.at, origin, "the origin keeps one viewer");
        *recorded.entry(name_of(&l.at)).or_default() += 1;
        listeners.push(l);
        wait_recorded(&nodes[0], &recorded).await;
    }
    let total = listeners.len() as u64;
    eprintln!("listeners per node: {recorded:?}");

    // Settled: every listener connected and hearing the cluster's total.
    wait_until(
        20,
        || {
            listeners
                .iter()
                .all(|l| lock(&l.heard).connected && l.last_count() == Some(total))
        },
        || {
            let counts: Vec<_> = listeners
                .iter()
                .map(|l| (name_of(&l.at), lock(&l.heard).connected, l.last_count()))
                .collect();
            format!("listeners (node, connected, last viewercount) {counts:?}, total {total}")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let marks: Vec<usize> = listeners
        .iter()
        .map(|l| lock(&l.heard).events.len())
        .collect();
    for (i, l) in listeners.iter().enumerate() {
        let early = l.vads(0);
        if !early.is_empty() {
            eprintln!("listener {i}: vad before the script: {early:?}");
        }
    }

    play_script(&speakers).await;

    // Every edge listener's sequence catches up with the origin listener's, and is equal.
    let reference = listeners[0].vads(marks[0]);
    eprintln!("vad sequence on the origin: {reference:?}");
    wait_until(
        10,
        || {
            listeners
                .iter()
                .zip(&marks)
                .all(|(l, &m)| l.vads(m).len() >= reference.len())
        },
        || {
            let seqs: Vec<_> = listeners
                .iter()
                .zip(&marks)
                .map(|(l, &m)| (name_of(&l.at), l.vads(m)))
                .collect();
            format!("vad sequences {seqs:?}")
        },
    )
    .await;
    let sources: BTreeSet<&str> = reference.iter().filter_map(|(_, s)| s.as_deref()).collect();
    assert_eq!(
        sources.len(),
        SPEAKERS,
        "every speaker had a slot: {reference:?}"
    );
    for (i, (l, &m)) in listeners.iter().zip(&marks).enumerate().skip(1) {
        assert_eq!(
            l.vads(m),
            reference,
            "listener {i} on {} (origin: {})",
            name_of(&l.at),
            name_of(&origin)
        );
    }

    // Audio in every slot, only from the sources its `vad` events named.
    for (i, l) in listeners.iter().enumerate() {
        let vads = l.vads(0);
        let heard = lock(&l.heard);
        let per_slot: Vec<usize> = l
            .slots
            .iter()
            .map(|m| heard.packets.get(m).map_or(0, |p| p.values().sum()))
            .collect();
        eprintln!(
            "listener {i} on {}: packets per slot {per_slot:?}",
            name_of(&l.at)
        );
        for (slot, mid) in l.slots.iter().enumerate() {
            let got = heard.packets.get(mid).cloned().unwrap_or_default();
            let count: usize = got.values().sum();
            assert!(
                count >= 25,
                "listener {i} on {}: {count} packets in slot {slot}",
                name_of(&l.at)
            );
            let named: BTreeSet<u8> = vads
                .iter()
                .filter(|(s, _)| *s == slot)
                .filter_map(|(_, src)| src.as_deref()?.strip_prefix('s')?.parse().ok())
                .collect();
            for tag in got.keys() {
                assert!(
                    named.contains(tag),
                    "listener {i}: s{tag} in slot {slot}, named {named:?}"
                );
            }
        }
    }

    // The last count each listener heard is the cluster's total.
    for (i, l) in listeners.iter().enumerate() {
        assert_eq!(
            l.last_count(),
            Some(total),
            "listener {i} on {}",
            name_of(&l.at)
        );
    }
}
