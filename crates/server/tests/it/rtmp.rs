//! RTMP ingest: a publisher (rml_rtmp's client, sending ffmpeg-made FLV fixtures) seen by
//! a str0m WebRTC viewer through signaling, and the connections that must be refused or
//! closed: bad keys and tokens, garbage, truncated handshakes, unsupported codecs, silence,
//! kicks.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::client::{
    admin, command, connect, create_token, server_with, wait_event, Peer, PeerReport, Server, TOKEN,
};
use crate::rtmp_client::{closed_within, fixture_tags, Outcome, Publisher, Tag, AUDIO, VIDEO};

async fn rtmp_server(timeout_s: u64) -> (Server, SocketAddr) {
    let srv = server_with(|a| a.connection_timeout = Some(timeout_s)).await;
    let addr = srv.running.rtmp_addr.expect("RTMP listens");
    (srv, addr)
}

async fn publisher(addr: SocketAddr, key: &str) -> Publisher {
    let mut p = Publisher::connect(addr, "live").await.unwrap();
    assert_eq!(p.publish(key).await.unwrap(), Outcome::Accepted);
    p
}

fn baseline() -> Vec<Tag> {
    fixture_tags("baseline_mono.flv")
}

/// Collects a viewer's RTP packets until both kinds got `n`.
async fn receive_both(viewer: &mut Peer, n: usize, base: &str) -> (Vec<Vec<u8>>, Vec<Option<i8>>) {
    let (mut video, mut levels) = (Vec::new(), Vec::new());
    while video.len() < n || levels.len() < n {
        let report = tokio::time::timeout(Duration::from_secs(10), viewer.reports.recv()).await;
        let Ok(Some(report)) = report else {
            let m = reqwest::get(format!("{base}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let m: Vec<&str> = m
                .lines()
                .filter(|l| l.contains("rtp") && !l.starts_with('#'))
                .collect();
            panic!(
                "{} video and {} audio packets {m:#?}",
                video.len(),
                levels.len()
            );
        };
        if let PeerReport::Rtp {
            mid,
            payload,
            audio_level,
            ..
        } = report
        {
            // Only the audio track carries the level extension.
            let _ = mid;
            match audio_level {
                None => video.push(payload),
                Some(_) => levels.push(audio_level),
            }
        }
    }
    (video, levels)
}

async fn metric(base: &str, name: &str) -> u64 {
    let body = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("podium_{name} ")))
        .or_else(|| {
            body.lines()
                .find_map(|l| l.strip_prefix(&format!("podium_{name}_total ")))
        })
        .unwrap_or_else(|| panic!("{name} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmp_publication_reaches_a_webrtc_viewer_with_h264_and_opus() {
    let (srv, addr) = rtmp_server(10).await;
    let mut events = Vec::new();
    let mut ws = connect(&srv.base, false, "r").await;
    let mut viewer = Peer::new(false).await;
    let r = command(
        &mut ws,
        0,
        "view",
        json!({"streamId":"r","sdp":viewer.offer}),
        &mut events,
    )
    .await;
    assert_eq!(r["type"], "response", "{r}");
    viewer.answer(r["data"]["sdp"].as_str().unwrap());

    let mut rtmp = publisher(addr, &format!("r?token={TOKEN}")).await;
    rtmp.metadata(true, true).await.unwrap();
    let tags = baseline();
    let feed = tokio::spawn(async move {
        rtmp.stream(&tags, 0, 4, 2.0).await.unwrap();
        rtmp
    });
    let active = wait_event(&mut ws, "active", &mut events).await;
    assert_eq!(
        active["data"]["sourceId"],
        serde_json::Value::Null,
        "{active}"
    );
    let (video, levels) = receive_both(&mut viewer, 20, &srv.base).await;
    // H.264 in RFC 6184 payloads: the first is the parameter sets (STAP-A) of an IDR.
    let types: Vec<u8> = video.iter().map(|p| p[0] & 0x1f).collect();
    assert_eq!(types[0], 24, "{types:?}");
    // Slices, SEI (x264's), STAP-A, FU-A.
    assert!(
        types.iter().all(|t| [1, 5, 6, 24, 28].contains(t)),
        "{types:?}"
    );
    // Opus with the RFC 6464 level of the decoded sine (loud).
    assert!(
        levels.iter().skip(3).all(|l| l.is_some_and(|l| l > -40)),
        "{levels:?}"
    );
    let mut rtmp = feed.await.unwrap();
    assert!(metric(&srv.base, "rtmp_publishes").await >= 1);
    assert_eq!(metric(&srv.base, "rtmp_connections").await, 1);
    // Unpublishing (closing) ends the source.
    drop(rtmp.raw(&[]).await);
    drop(rtmp);
    wait_event(&mut ws, "inactive", &mut events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secondary_rtmp_source_and_a_refused_publisher_beside_a_live_one() {
    let (srv, addr) = rtmp_server(10).await;
    let (multi, _) = create_token(
        &srv.base,
        json!({"label":"m","streams":["s*"],"action":"publish","multisource":true}),
    )
    .await;
    let (single, _) = create_token(
        &srv.base,
        json!({"label":"one","streams":["s*"],"action":"publish"}),
    )
    .await;
    let (other, _) = create_token(
        &srv.base,
        json!({"label":"o","streams":["elsewhere"],"action":"publish"}),
    )
    .await;
    let mut events = Vec::new();
    let mut ws = connect(&srv.base, false, "s1").await;
    let mut viewer = Peer::new(false).await;
    let r = command(
        &mut ws,
        0,
        "view",
        json!({"streamId":"s1","sdp":viewer.offer,"pinnedSourceId":"cam2"}),
        &mut events,
    )
    .await;
    viewer.answer(r["data"]["sdp"].as_str().unwrap());

    let mut cam = publisher(addr, &format!("s1?token={multi}&sourceId=cam2")).await;
    cam.metadata(true, true).await.unwrap();
    let tags = baseline();
    let feed = tokio::spawn(async move { cam.stream(&tags, 0, 6, 1.0).await });
    let active = wait_event(&mut ws, "active", &mut events).await;
    assert_eq!(active["data"]["sourceId"], "cam2", "{active}");

    // Refusals, each with a reason the encoder shows, while cam2 streams on.
    let mut refusals = Vec::new();
    for key in [
        "s1?token=wrong-token-123".to_owned(),
        "s1".to_owned(),
        format!("s1?token={single}&sourceId=cam3"),
        format!("s1?token={other}"),
        format!("bad/name?token={multi}"),
        format!("s1?token={multi}&priority=high"),
    ] {
        let mut p = Publisher::connect(addr, "live").await.unwrap();
        let Outcome::Refused(why) = p.publish(&key).await.unwrap() else {
            panic!("{key} accepted")
        };
        assert!(p.closed_within(Duration::from_secs(2)).await, "{key}");
        refusals.push(why);
    }
    let joined = refusals.join(" | ");
    for part in [
        "Unauthorized",
        "multisource",
        "not valid for token",
        "streamName",
        "priority",
    ] {
        assert!(joined.contains(part), "{part} in {joined}");
    }
    // Another application name is refused at connect.
    let e = Publisher::connect(addr, "app2").await.err().unwrap();
    assert!(e.contains("/live"), "{e}");
    assert!(metric(&srv.base, "rtmp_publishes_refused").await >= 7);
    // cam2 kept streaming to the viewer through all that.
    let mut got = 0;
    while got < 50 {
        if let PeerReport::Rtp { .. } = viewer.next_report().await {
            got += 1;
        }
    }
    feed.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_handshakes_unsupported_codecs_and_silence_are_closed() {
    let (srv, addr) = rtmp_server(1).await;
    // Not RTMP at all (an HTTP request): the version byte is wrong.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut tcp, Duration::from_secs(3)).await);
    // Half a handshake, then nothing: closed by the timeout (1 s here).
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&[3; 700]).await.unwrap();
    assert!(closed_within(&mut tcp, Duration::from_secs(3)).await);
    // Garbage after a good handshake and connect.
    let mut p = Publisher::connect(addr, "live").await.unwrap();
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    p.raw(&noise).await.unwrap();
    assert!(p.closed_within(Duration::from_secs(3)).await);
    // HEVC (FLV codec id 12) and MP3 are named and closed.
    for (kind, body) in [
        (VIDEO, vec![0x1c, 0, 0, 0, 0]),
        (AUDIO, vec![0x2f, 0xff, 0xfb]),
    ] {
        let mut p = publisher(addr, &format!("c?token={TOKEN}")).await;
        p.tag(kind, 0, &body).await.unwrap();
        assert!(p.closed_within(Duration::from_secs(3)).await);
    }
    // HE-AAC as ffmpeg signals it.
    let he = fixture_tags("he_aac_signalled.flv");
    let mut p = publisher(addr, &format!("c?token={TOKEN}")).await;
    p.tag(AUDIO, 0, &he[0].body).await.unwrap();
    assert!(p.closed_within(Duration::from_secs(3)).await);
    // (The noise may read as the start of a long message: then the timeout closes it.)
    assert!(metric(&srv.base, "rtmp_closed_malformed").await >= 4);

    // Connected, never publishing; publishing, then silent: both closed after the timeout.
    let mut idle = Publisher::connect(addr, "live").await.unwrap();
    let mut silent = publisher(addr, &format!("c?token={TOKEN}")).await;
    silent.stream(&baseline()[..10], 0, 1, 10.0).await.unwrap();
    assert!(idle.closed_within(Duration::from_secs(3)).await);
    assert!(silent.closed_within(Duration::from_secs(3)).await);
    assert!(metric(&srv.base, "rtmp_closed_timeout").await >= 3);
    // Nothing is left open.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(metric(&srv.base, "rtmp_connections").await, 0);
    assert_eq!(metric(&srv.base, "publications").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_ends_an_rtmp_publication() {
    let (srv, addr) = rtmp_server(10).await;
    let mut p = publisher(addr, &format!("k?token={TOKEN}")).await;
    p.metadata(true, true).await.unwrap();
    p.stream(&baseline(), 0, 1, 4.0).await.unwrap();
    let (status, body) = admin(
        &srv.base,
        Method::POST,
        "kick",
        Some(json!({"streamName":"k"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["sessionsEnded"], 1, "{body}");
    assert!(p.closed_within(Duration::from_secs(3)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_can_be_turned_off() {
    let srv = server_with(|a| {
        a.rtmp_addr = Some(podium_server::config::RtmpAddr::Off);
    })
    .await;
    assert_eq!(srv.running.rtmp_addr, None);
}
