//! Audio fan-out through a real server in this process: `--streams` streams, each with one
//! publisher sending 50 packets/s and `--viewers` viewers, over loopback with real signaling,
//! ICE, DTLS and SRTP. Reports what `/metrics` says over the measured window: datagrams out
//! per second, per-worker CPU and datagrams per CPU-second, in-server forwarding latency.
//!
//! Viewers are cheap on purpose: once connected they count media datagrams without
//! decrypting them (STUN and DTLS still go to their str0m peer), so most of the machine is
//! left to the server. They still share the two cores with it: compare runs with each other,
//! not with a dedicated server.
//!
//! Run: `cargo run --release -p podium-server --example fanout -- --workers 2 --streams 4
//! --viewers 250 --seconds 10`
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use podium_server::{Config, ServeArgs};
use serde_json::{json, Value};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "fanout-publish-token";

struct Args {
    workers: usize,
    streams: usize,
    viewers: usize,
    seconds: u64,
    payload: usize,
}

fn args() -> Args {
    let mut a = Args {
        workers: 2,
        streams: 4,
        viewers: 100,
        seconds: 10,
        payload: 100,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let v: u64 = pair.get(1).and_then(|v| v.parse().ok()).expect("a number");
        match pair[0].as_str() {
            "--workers" => a.workers = v as usize,
            "--streams" => a.streams = v as usize,
            "--viewers" => a.viewers = v as usize,
            "--seconds" => a.seconds = v,
            "--payload" => a.payload = v as usize,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = args();
    let dir = std::env::temp_dir().join(format!("podium-fanout-{}", std::process::id()));
    let config = Config::resolve(ServeArgs {
        http_addr: Some("127.0.0.1:0".parse()?),
        udp_addr: Some("127.0.0.1:0".parse()?),
        data_dir: Some(dir.clone()),
        publish_token: Some(TOKEN.into()),
        media_workers: Some(a.workers),
        rate_per_ip: Some(1_000_000),
        rate_per_token: Some(1_000_000),
        ..Default::default()
    })?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = podium_server::start(config, async {
        let _ = stop_rx.await;
    })
    .await?;
    let base = format!("http://{}", running.http_addr);
    let received = Arc::new(AtomicU64::new(0));
    let mut keep = Vec::new();
    let setup = Instant::now();
    for s in 0..a.streams {
        let stream = format!("fanout-{s}");
        let mut joins = Vec::new();
        for _ in 0..a.viewers {
            let (base, stream, received) = (base.clone(), stream.clone(), received.clone());
            joins.push(tokio::spawn(async move {
                join(&base, &stream, false, a.payload, received).await
            }));
            if joins.len() % 50 == 0 {
                // Let handshakes finish before starting more.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        for j in joins {
            keep.push(j.await??);
        }
        keep.push(join(&base, &stream, true, a.payload, received.clone()).await?);
    }
    println!(
        "{} streams x ({} viewers + 1 publisher) connected in {:.1} s, {} media workers",
        a.streams,
        a.viewers,
        setup.elapsed().as_secs_f64(),
        a.workers
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (m0, r0, t0) = measure(&base, &received).await?;
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let (m1, r1, t1) = measure(&base, &received).await?;
    let secs = (t1 - t0).as_secs_f64();
    let delta =
        |name: &str| m1.get(name).copied().unwrap_or(0.0) - m0.get(name).copied().unwrap_or(0.0);
    let sent = delta("podium_udp_datagrams_sent_total");
    let expected = (a.streams * a.viewers) as f64 * 50.0 * secs;
    println!(
        "datagrams out {:.0}/s (expected media {:.0}/s), viewers got {:.0}/s, rtp forwarded {:.0}/s",
        sent / secs,
        expected / secs,
        (r1 - r0) as f64 / secs,
        delta("podium_rtp_forwarded_total") / secs
    );
    let mut cpu_total = 0.0;
    for w in 0..a.workers {
        let cpu = delta(&format!(
            "podium_media_worker_cpu_seconds_total{{worker=\"{w}\"}}"
        ));
        let out = delta(&format!(
            "podium_media_worker_datagrams_sent_total{{worker=\"{w}\"}}"
        ));
        cpu_total += cpu;
        println!(
            "  worker {w}: {:.0}% of a core, {:.0} datagrams out/s, {:.0} datagrams per CPU-second",
            100.0 * cpu / secs,
            out / secs,
            if cpu > 0.0 { out / cpu } else { 0.0 }
        );
    }
    println!(
        "  all workers: {:.0}% of a core, {:.0} datagrams per CPU-second; send batch {:.1}, receive batch {:.1} datagrams per call",
        100.0 * cpu_total / secs,
        sent / cpu_total.max(1e-9),
        delta("podium_udp_send_batch_size_sum") / delta("podium_udp_send_batch_size_count").max(1.0),
        delta("podium_udp_receive_batch_size_sum") / delta("podium_udp_receive_batch_size_count").max(1.0),
    );
    println!(
        "  of that CPU time, in sendmmsg {:.0}%, in recvmmsg {:.0}%",
        100.0 * delta("podium_udp_send_seconds_total") / cpu_total.max(1e-9),
        100.0 * delta("podium_udp_receive_seconds_total") / cpu_total.max(1e-9),
    );
    let lat: Vec<(f64, f64)> = m1
        .iter()
        .filter_map(|(k, v)| {
            let le = k
                .strip_prefix("podium_forwarding_latency_seconds_bucket{le=\"")?
                .strip_suffix("\"}")?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, v - m0.get(k).copied().unwrap_or(0.0)))
        })
        .collect();
    let mut lat = lat;
    lat.sort_by(|x, y| x.0.total_cmp(&y.0));
    let count = delta("podium_forwarding_latency_seconds_count");
    let q = |p: f64| {
        lat.iter()
            .find(|(_, c)| *c >= p * count)
            .map_or(f64::NAN, |(b, _)| *b * 1e6)
    };
    println!(
        "  forwarding latency: mean {:.0} µs, p50 <= {:.0} µs, p99 <= {:.0} µs, p99.9 <= {:.0} µs",
        1e6 * delta("podium_forwarding_latency_seconds_sum") / count.max(1.0),
        q(0.5),
        q(0.99),
        q(0.999)
    );
    let _ = stop_tx.send(());
    drop(keep);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// A scrape, the viewers' count and the time, taken halfway through the scrape (a slow
/// answer on a busy machine must not stretch the window).
async fn measure(
    base: &str,
    received: &AtomicU64,
) -> anyhow::Result<(HashMap<String, f64>, u64, Instant)> {
    let start = Instant::now();
    let m = scrape(base).await?;
    let at = start + start.elapsed() / 2;
    let spent = start.elapsed();
    anyhow::ensure!(
        spent < Duration::from_millis(500),
        "/metrics took {spent:?}: the machine is too busy to measure"
    );
    Ok((m, received.load(Ordering::Relaxed), at))
}

/// `/metrics` as sample name (with labels) → value.
async fn scrape(base: &str) -> anyhow::Result<HashMap<String, f64>> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect())
}

/// Director, WebSocket, offer/answer, then a task driving the peer; returns what must stay
/// alive (the signaling socket and the task).
async fn join(
    base: &str,
    stream: &str,
    publish: bool,
    payload: usize,
    received: Arc<AtomicU64>,
) -> anyhow::Result<impl Drop> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let addr = socket.local_addr()?;
    let mut rtc = RtcConfig::new().set_rtp_mode(true).build(Instant::now());
    rtc.add_local_candidate(Candidate::host(addr, "udp")?);
    let mut api = rtc.sdp_api();
    let dir = if publish {
        Direction::SendOnly
    } else {
        Direction::RecvOnly
    };
    let mid = api.add_media(MediaKind::Audio, dir, None, None, None);
    let (offer, pending) = api.apply().expect("an offer");

    let path = if publish { "publish" } else { "subscribe" };
    let mut req = reqwest::Client::new()
        .post(format!("{base}/api/director/{path}"))
        .json(&json!({"streamName": stream}));
    if publish {
        req = req.bearer_auth(TOKEN);
    }
    let body: Value = req.send().await?.json().await?;
    let url = format!(
        "{}?token={}",
        body["data"]["urls"][0].as_str().unwrap_or_default(),
        body["data"]["jwt"].as_str().unwrap_or_default()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await?;
    let cmd = if publish {
        json!({"type":"cmd","transId":0,"name":"publish","data":{"name":stream,"sdp":offer.to_sdp_string()}})
    } else {
        json!({"type":"cmd","transId":0,"name":"view","data":{"streamId":stream,"sdp":offer.to_sdp_string()}})
    };
    ws.send(Message::Text(cmd.to_string().into())).await?;
    let answer = loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            anyhow::bail!("signaling closed");
        };
        let v: Value = serde_json::from_str(&t)?;
        if v["type"] == "response" {
            break v["data"]["sdp"].as_str().unwrap_or_default().to_owned();
        }
        anyhow::ensure!(v["type"] != "error", "refused: {v}");
    };
    rtc.sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer)?)?;
    let task = tokio::spawn(async move {
        // Keep reading signaling so the server never blocks on us.
        let _ws = tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
        drive(rtc, socket, addr, publish.then_some(mid), payload, received).await;
    });
    Ok(Guard(task))
}

struct Guard(tokio::task::JoinHandle<()>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn drive(
    mut rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    send_mid: Option<str0m::media::Mid>,
    payload: usize,
    received: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut connected = false;
    let mut n: u64 = 0;
    loop {
        let deadline = loop {
            match rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Event(Event::Connected)) => connected = true,
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        };
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((len, source)) = r else { continue };
                // A connected viewer counts media without decrypting it.
                if connected && send_mid.is_none() && (128..192).contains(&buf[0]) {
                    received.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let Ok(contents) = buf[..len].try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: addr, contents });
                if rtc.handle_input(input).is_err() { return; }
            }
            _ = tick.tick(), if connected && send_mid.is_some() => {
                n += 1;
                let Some(mid) = send_mid else { continue };
                let Some(pt) = rtc.codec_config().params().iter().find(|p| p.spec().codec == Codec::Opus).map(|p| p.pt()) else { return };
                let ext = ExtensionValues { audio_level: Some(-25), voice_activity: Some(true), ..Default::default() };
                let mut api = rtc.direct_api();
                if let Some(tx) = api.stream_tx_by_mid(mid, None) {
                    let mut data = vec![0u8; payload];
                    data[..8].copy_from_slice(&n.to_be_bytes());
                    tx.write_rtp(RtpWrite::new(pt, SeqNo::from(n), (n * 960) as u32, Instant::now(), data).ext_vals(ext));
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                if rtc.handle_input(Input::Timeout(Instant::now())).is_err() { return; }
            }
        }
    }
}
