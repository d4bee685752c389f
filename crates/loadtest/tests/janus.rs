//! The Janus adapter against a real Janus (Debian's `janus` package): str0m publishers and
//! subscribers over real ICE, DTLS and SRTP through the VideoRoom.
//!
//! `cargo test -p podium-loadtest --test janus -- --ignored --nocapture`
//! (`PODIUM_JANUS_INTERFACE` picks the ICE interface, default eth0).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use podium_loadtest::janus::{JanusClient, JanusHandle};
use podium_loadtest::janus_process::{JanusOptions, JanusProcess};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

const ROOM: u64 = 4321;

/// What a peer saw, shared with the test.
#[derive(Default)]
struct Stats {
    connected: Option<Instant>,
    first_rtp: Option<Instant>,
    /// Received RTP packets by mid.
    rx: HashMap<Mid, (MediaKind, u64)>,
    /// Sent RTP packets.
    tx: u64,
}

type Shared = Arc<Mutex<Stats>>;

/// A str0m peer on its own UDP socket bound to the ICE address.
struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
}

impl Peer {
    async fn new(ip: IpAddr) -> Self {
        let socket = UdpSocket::bind((ip, 0)).await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mut rtc = RtcConfig::new().set_rtp_mode(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        Self { rtc, socket, addr }
    }

    /// A sendonly offer with one m-line per kind.
    fn offer(&mut self, kinds: &[MediaKind]) -> (String, SdpPendingOffer, Vec<(Mid, MediaKind)>) {
        let mut api = self.rtc.sdp_api();
        let mids = kinds
            .iter()
            .map(|k| (api.add_media(*k, Direction::SendOnly, None, None, None), *k))
            .collect();
        let (offer, pending) = api.apply().unwrap();
        (offer.to_sdp_string(), pending, mids)
    }

    /// Runs the peer; sends audio/video on `send` every 20 ms once connected.
    fn spawn(self, send: Vec<(Mid, MediaKind)>) -> (Shared, JoinHandle<()>) {
        let stats = Shared::default();
        let task = tokio::spawn(drive(self, send, stats.clone()));
        (stats, task)
    }
}

async fn drive(peer: Peer, send: Vec<(Mid, MediaKind)>, stats: Shared) {
    let Peer {
        mut rtc,
        socket,
        addr,
    } = peer;
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut sending = false;
    let mut n: u64 = 0;
    loop {
        let deadline = loop {
            match rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Event(e)) => match e {
                    Event::Connected => {
                        stats.lock().unwrap().connected = Some(Instant::now());
                        sending = !send.is_empty();
                    }
                    Event::RtpPacket(p) => {
                        let mid = rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                        let kind = mid.and_then(|m| rtc.media(m)).map(|m| m.kind());
                        let mut s = stats.lock().unwrap();
                        s.first_rtp.get_or_insert_with(Instant::now);
                        if let (Some(mid), Some(kind)) = (mid, kind) {
                            s.rx.entry(mid).or_insert((kind, 0)).1 += 1;
                        }
                    }
                    _ => {}
                },
                Err(e) => {
                    eprintln!("peer {addr}: {e}");
                    return;
                }
            }
        };
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((len, source)) = r else { continue };
                let Ok(contents) = buf[..len].try_into() else { continue };
                let input = Input::Receive(
                    Instant::now(),
                    Receive { proto: Protocol::Udp, source, destination: addr, contents },
                );
                if rtc.handle_input(input).is_err() {
                    return;
                }
            }
            _ = tick.tick(), if sending => {
                n += 1;
                for (mid, kind) in &send {
                    write_media(&mut rtc, *mid, *kind, n);
                }
                stats.lock().unwrap().tx += send.len() as u64;
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                if rtc.handle_input(Input::Timeout(Instant::now())).is_err() {
                    return;
                }
            }
        }
    }
}

/// Packet `n` of a 50 pps Opus or a 50 fps, one-packet-per-frame VP8 stream (a keyframe
/// every 50 frames; the payload starts with a valid VP8 descriptor and frame header).
fn write_media(rtc: &mut Rtc, mid: Mid, kind: MediaKind, n: u64) {
    let codec = match kind {
        MediaKind::Audio => Codec::Opus,
        MediaKind::Video => Codec::Vp8,
    };
    let pt = rtc
        .codec_config()
        .params()
        .iter()
        .find(|p| p.spec().codec == codec)
        .unwrap()
        .pt();
    let (payload, clock, marker) = match kind {
        MediaKind::Audio => (vec![0xfc; 60], 960, false),
        MediaKind::Video => {
            let key = n % 50 == 1;
            // Descriptor S=1 PID=0; payload header: P bit 0 = keyframe.
            let mut p = vec![0x10, if key { 0x50 } else { 0x51 }, 0x02, 0x00];
            if key {
                // Start code and 320x240.
                p.extend_from_slice(&[0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
            }
            p.resize(800, 0x55);
            (p, 1800, true)
        }
    };
    let ext = ExtensionValues {
        audio_level: (kind == MediaKind::Audio).then_some(-30),
        voice_activity: (kind == MediaKind::Audio).then_some(true),
        ..Default::default()
    };
    if let Some(tx) = rtc.direct_api().stream_tx_by_mid(mid, None) {
        let w = RtpWrite::new(
            pt,
            SeqNo::from(n),
            (n * clock) as u32,
            Instant::now(),
            payload,
        )
        .ext_vals(ext)
        .marker(marker);
        tx.write_rtp(w);
    }
}

/// Publishes `kinds` as `display`; returns the feed, the peer's stats and its task.
async fn publish(
    client: &JanusClient,
    ip: IpAddr,
    display: &str,
    kinds: &[MediaKind],
) -> (JanusHandle, u64, Shared, JoinHandle<()>) {
    let mut peer = Peer::new(ip).await;
    let (offer, pending, mids) = peer.offer(kinds);
    let t = Instant::now();
    let (handle, feed, answer) = client.publish(ROOM, display, &offer).await.unwrap();
    println!(
        "publish {display}: feed {feed}, joined in {:?}",
        t.elapsed()
    );
    let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
    peer.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    let (stats, task) = peer.spawn(mids);
    // VideoRoom refuses subscriptions ("No such feed") until the publisher's PC is up.
    let mut handle = handle;
    handle
        .wait_for("webrtcup", Duration::from_secs(5))
        .await
        .unwrap();
    println!("publish {display}: webrtcup after {:?}", t.elapsed());
    (handle, feed, stats, task)
}

struct Sub {
    handle: JanusHandle,
    stats: Shared,
    task: JoinHandle<()>,
    started: Instant,
    feeds: Vec<u64>,
}

/// Subscribes to `feeds` and answers Janus's offer.
async fn subscribe(client: JanusClient, ip: IpAddr, feeds: Vec<u64>) -> Sub {
    let started = Instant::now();
    let (handle, offer) = client.subscribe(ROOM, &feeds).await.unwrap();
    if print_sdp() {
        println!("OFFER\n{offer}");
    }
    let joined = started.elapsed();
    let mut peer = Peer::new(ip).await;
    let offer = SdpOffer::from_sdp_string(&offer).unwrap();
    let answer = peer.rtc.sdp_api().accept_offer(offer).unwrap();
    if print_sdp() {
        println!("ANSWER\n{}", answer.to_sdp_string());
    }
    let (stats, task) = peer.spawn(Vec::new());
    client
        .start(&handle, &answer.to_sdp_string())
        .await
        .unwrap();
    println!(
        "subscribe {feeds:?}: handle {}, offer after {joined:?}, started after {:?}",
        handle.id,
        started.elapsed()
    );
    Sub {
        handle,
        stats,
        task,
        started,
        feeds,
    }
}

fn print_sdp() -> bool {
    std::env::var_os("PODIUM_JANUS_PRINT_SDP").is_some()
}

/// Audio and video packet counts over all m-lines.
fn counts(stats: &Shared) -> (u64, u64) {
    let s = stats.lock().unwrap();
    s.rx.values().fold((0, 0), |(a, v), (k, n)| match k {
        MediaKind::Audio => (a + n, v),
        MediaKind::Video => (a, v + n),
    })
}

async fn start_janus() -> JanusProcess {
    let interface = std::env::var("PODIUM_JANUS_INTERFACE").unwrap_or_else(|_| "eth0".into());
    let t = Instant::now();
    let janus = JanusProcess::spawn(&JanusOptions {
        http_port: 0,
        event_loops: 2,
        interface,
        cpus: std::env::var("PODIUM_JANUS_CPUS").ok(),
    })
    .await
    .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", janus.pid())).unwrap();
    let cpus = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("?")
        .trim();
    println!(
        "janus pid {} at {} (ICE on {}, CPUs {cpus}) up in {:?}",
        janus.pid(),
        janus.http_base(),
        janus.ice_ip(),
        t.elapsed()
    );
    janus
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the janus Debian package; run by scripts/bench-janus.sh"]
async fn videoroom_carries_str0m_media() {
    let janus = start_janus().await;
    let ip = janus.ice_ip();

    // A second Janus on the same port fails clearly, with its log.
    let port = janus.http_port();
    let err = JanusProcess::spawn(&JanusOptions {
        http_port: port,
        ..JanusOptions::default()
    })
    .await
    .err()
    .expect("a second Janus on a busy port must fail");
    println!("busy port: {err:#}");
    assert!(format!("{err:#}").contains("is busy"), "{err:#}");

    let client = JanusClient::connect(&janus.http_base()).await.unwrap();
    client.create_room(ROOM, 4, 2_000_000, false).await.unwrap();
    // Creating it again replaces it.
    client.create_room(ROOM, 4, 2_000_000, false).await.unwrap();

    let av = [MediaKind::Audio, MediaKind::Video];
    let (pub_a, feed_a, pub_a_stats, pub_a_task) = publish(&client, ip, "pub-a", &av).await;
    let (pub_b, feed_b, pub_b_stats, pub_b_task) =
        publish(&client, ip, "pub-b", &[MediaKind::Audio]).await;
    let mut listed = client.publishers(ROOM).await.unwrap();
    listed.sort();
    let mut expected = vec![feed_a, feed_b];
    expected.sort();
    assert_eq!(listed, expected);

    // Three subscribers of A and one of A+B in one peer connection, concurrently.
    let plans = [
        vec![feed_a],
        vec![feed_a],
        vec![feed_a],
        vec![feed_a, feed_b],
    ];
    let joins: Vec<_> = plans
        .iter()
        .map(|feeds| tokio::spawn(subscribe(client.clone(), ip, feeds.clone())))
        .collect();
    let mut subs = Vec::new();
    for j in joins {
        subs.push(j.await.unwrap());
    }

    // Every subscriber gets audio (and video from A) within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let done = subs.iter().all(|s| {
            let (a, v) = counts(&s.stats);
            let lines = s.stats.lock().unwrap().rx.len();
            a >= 25 * s.feeds.len() as u64 && v >= 25 && lines == s.feeds.len() + 1
        });
        if done {
            break;
        }
        if Instant::now() > deadline {
            for s in &subs {
                let st = s.stats.lock().unwrap();
                eprintln!("sub {:?}: rx {:?}", s.feeds, st.rx);
            }
            eprintln!(
                "pub-a sent {}, connected {:?}",
                pub_a_stats.lock().unwrap().tx,
                pub_a_stats.lock().unwrap().connected.is_some()
            );
            panic!(
                "subscribers got no media within 10 s; janus log tail:\n{}",
                janus.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for s in &mut subs {
        let st = s.stats.lock().unwrap();
        let since = |t: Option<Instant>| t.map(|t| t.duration_since(s.started));
        println!(
            "sub {:?}: connected after {:?}, first RTP after {:?}, rx by mid {:?}",
            s.feeds,
            since(st.connected),
            since(st.first_rtp),
            st.rx
        );
    }
    for s in &mut subs {
        s.handle
            .wait_for("webrtcup", Duration::from_secs(5))
            .await
            .unwrap();
    }
    println!(
        "publishers sent {} (a) and {} (b) packets",
        pub_a_stats.lock().unwrap().tx,
        pub_b_stats.lock().unwrap().tx
    );

    // A subscription to a feed that does not exist fails with VideoRoom's error.
    let err = client.subscribe(ROOM, &[424242]).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("videoroom error 428"), "{text}");
    println!("unknown feed: {text}");

    for s in subs {
        s.task.abort();
        client.detach(s.handle).await.unwrap();
    }
    pub_a_task.abort();
    pub_b_task.abort();
    client.detach(pub_a).await.unwrap();
    client.detach(pub_b).await.unwrap();
    client.destroy_room(ROOM).await.unwrap();
    client.destroy().await.unwrap();
    let log = std::fs::read_to_string(janus.log_path()).unwrap_or_default();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[WARN]") || l.contains("[ERR]"))
        .filter(|l| !l.contains("has been disabled"))
        .collect();
    println!("janus warnings/errors ({}):", warnings.len());
    for w in warnings.iter().take(20) {
        println!("  {w}");
    }
    janus.stop().await;
}

/// Many subscribers join concurrently through one session (one long-poll).
/// `PODIUM_JANUS_SUBSCRIBERS` sets how many (default 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the janus Debian package; run by scripts/bench-janus.sh"]
async fn many_subscribers_share_one_session() {
    let n: usize = std::env::var("PODIUM_JANUS_SUBSCRIBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let janus = start_janus().await;
    let ip = janus.ice_ip();
    let client = JanusClient::connect(&janus.http_base()).await.unwrap();
    client.create_room(ROOM, 1, 2_000_000, false).await.unwrap();
    let av = [MediaKind::Audio, MediaKind::Video];
    let (pub_h, feed, _pub_stats, pub_task) = publish(&client, ip, "pub", &av).await;

    let t = Instant::now();
    let joins: Vec<_> = (0..n)
        .map(|_| tokio::spawn(subscribe_quiet(client.clone(), ip, feed)))
        .collect();
    let mut subs = Vec::new();
    for j in joins {
        subs.push(j.await.unwrap());
    }
    let all_started = t.elapsed();
    let mut started: Vec<Duration> = subs.iter().map(|s| s.1).collect();
    started.sort();
    let pct = |v: &[Duration], p: usize| v[(v.len() - 1) * p / 100];
    println!(
        "{n} subscribers started in {all_started:?}: per join p50 {:?} p95 {:?} max {:?}",
        pct(&started, 50),
        pct(&started, 95),
        pct(&started, 100)
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = subs
            .iter()
            .filter(|s| {
                let (a, v) = counts(&s.0.stats);
                a >= 25 && v >= 25
            })
            .count();
        if ready == n {
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "{ready} of {n} subscribers got media; janus log tail:\n{}",
                janus.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut first: Vec<Duration> = subs
        .iter()
        .filter_map(|s| {
            let st = s.0.stats.lock().unwrap();
            st.first_rtp.map(|f| f.duration_since(s.0.started))
        })
        .collect();
    first.sort();
    println!(
        "all {n} receive audio+video {:?} after the first join; first RTP per subscriber p50 {:?} p95 {:?} max {:?}",
        t.elapsed(),
        pct(&first, 50),
        pct(&first, 95),
        pct(&first, 100)
    );

    let t = Instant::now();
    let detaches: Vec<_> = subs
        .into_iter()
        .map(|(s, _)| {
            let c = client.clone();
            s.task.abort();
            tokio::spawn(async move { c.detach(s.handle).await })
        })
        .collect();
    for d in detaches {
        d.await.unwrap().unwrap();
    }
    println!("{n} detaches in {:?}", t.elapsed());
    pub_task.abort();
    client.detach(pub_h).await.unwrap();
    client.destroy().await.unwrap();
    janus.stop().await;
}

/// [`subscribe`] without the output; also returns the time to `started`.
async fn subscribe_quiet(client: JanusClient, ip: IpAddr, feed: u64) -> (Sub, Duration) {
    let started = Instant::now();
    let (handle, offer) = client.subscribe(ROOM, &[feed]).await.unwrap();
    let mut peer = Peer::new(ip).await;
    let offer = SdpOffer::from_sdp_string(&offer).unwrap();
    let answer = peer.rtc.sdp_api().accept_offer(offer).unwrap();
    let (stats, task) = peer.spawn(Vec::new());
    client
        .start(&handle, &answer.to_sdp_string())
        .await
        .unwrap();
    let took = started.elapsed();
    let sub = Sub {
        handle,
        stats,
        task,
        started,
        feeds: vec![feed],
    };
    (sub, took)
}
