//! Director → WebSocket → publish → view, with str0m peers on real loopback UDP.

use serde_json::{json, Value};

use crate::client::{command, connect, server, server_with, wait_event, Peer, PeerReport, Ws};
use podium_server::media_handle::shard_of;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_view_over_loopback() {
    let srv = server().await;
    let mut events = Vec::new();

    // Viewer first: it waits for the stream and hears `active` when the publisher arrives.
    let mut view_ws = connect(&srv.base, false, "loop").await;
    let mut viewer = Peer::new(false).await;
    let reply = command(
        &mut view_ws,
        0,
        "view",
        json!({"streamId":"loop","sdp":viewer.offer}),
        &mut events,
    )
    .await;
    assert_eq!(reply["type"], "response", "{reply}");
    assert_eq!(reply["transId"], 0);
    assert_eq!(reply["data"]["streamId"], "podium/loop");
    let answer = reply["data"]["sdp"].as_str().unwrap();
    assert!(answer.contains("a=ice-lite"), "ICE-lite answer");
    let addrs = &srv.running.udp_addrs;
    let port = addrs[shard_of("loop", addrs.len())].port();
    assert!(
        answer.contains(&format!(" {port} typ host")),
        "candidate on the port of the worker owning the stream: {answer}"
    );
    viewer.answer(answer);

    let mut pub_ws = connect(&srv.base, true, "loop").await;
    let mut publisher = Peer::new(true).await;
    let mut pub_events = Vec::new();
    let reply = command(
        &mut pub_ws,
        7,
        "publish",
        json!({"name":"loop","sdp":publisher.offer,"codec":"vp8"}),
        &mut pub_events,
    )
    .await;
    assert_eq!(reply["type"], "response", "{reply}");
    assert_eq!(reply["transId"], 7);
    for key in ["publisherId", "clusterId", "feedId", "streamId", "uuid"] {
        assert!(reply["data"].get(key).is_some(), "publish reply has {key}");
    }
    publisher.answer(reply["data"]["sdp"].as_str().unwrap());

    let active = wait_event(&mut view_ws, "active", &mut events).await;
    assert_eq!(active["data"]["streamId"], "podium/loop");
    assert_eq!(active["data"]["sourceId"], Value::Null);
    assert_eq!(active["data"]["tracks"].as_array().unwrap().len(), 2);

    assert!(matches!(
        publisher.next_report().await,
        PeerReport::Connected
    ));
    loop {
        if matches!(viewer.next_report().await, PeerReport::Connected) {
            break;
        }
    }
    publisher.start_sending(9);
    let (mut audio, mut video) = (0, 0);
    let mut last_seq = std::collections::HashMap::new();
    while audio < 20 || video < 20 {
        if let PeerReport::Rtp {
            mid,
            payload,
            seq,
            audio_level,
        } = viewer.next_report().await
        {
            assert_eq!(payload[0], 9, "payload forwarded untouched");
            if let Some(prev) = last_seq.insert(mid, seq) {
                assert!(seq > prev, "sequence numbers increase per track");
            }
            match audio_level {
                Some(level) => {
                    assert_eq!(level, -25, "audio level kept on egress");
                    audio += 1;
                }
                None => video += 1,
            }
        }
    }

    // The metrics show the peers, the forwarded packets and the UDP traffic behind them.
    let metrics = scrape(&srv.base).await;
    assert_eq!(metric(&metrics, "podium_peers"), 2.0, "{metrics}");
    assert_eq!(metric(&metrics, "podium_streams"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "podium_sources"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "podium_publications"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "podium_viewers"), 1.0, "{metrics}");
    assert!(
        metric(&metrics, "podium_rtp_forwarded_total") >= 40.0,
        "{metrics}"
    );
    for name in [
        "podium_udp_datagrams_received_total",
        "podium_udp_received_bytes_total",
        "podium_udp_datagrams_sent_total",
        "podium_udp_sent_bytes_total",
        "podium_forwarding_latency_seconds_count",
        "podium_udp_receive_batch_size_count",
        "podium_udp_send_batch_size_count",
    ] {
        assert!(metric(&metrics, name) > 0.0, "{name} moved: {metrics}");
    }
    assert!(
        metrics.contains("podium_forwarding_latency_seconds_bucket{le=\"1e-5\"}")
            || metrics.contains("podium_forwarding_latency_seconds_bucket{le=\"0.00001\"}"),
        "latency buckets start at 10 µs: {metrics}"
    );
    assert!(metrics.contains("podium_media_worker_cpu_seconds_total{worker=\"0\"}"));
    let health = reqwest::get(format!("{}/healthz", srv.base)).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    // Counters keep moving while media flows.
    let sent = metric(&metrics, "podium_udp_datagrams_sent_total");
    let mut more = 0;
    while more < 10 {
        if let PeerReport::Rtp { .. } = viewer.next_report().await {
            more += 1;
        }
    }
    let later = scrape(&srv.base).await;
    assert!(
        metric(&later, "podium_udp_datagrams_sent_total") > sent,
        "{later}"
    );

    // The publisher's socket closes: the viewer hears `inactive` then `stopped`.
    drop(pub_ws);
    let inactive = wait_event(&mut view_ws, "inactive", &mut events).await;
    assert_eq!(inactive["data"]["sourceId"], Value::Null);
    wait_event(&mut view_ws, "stopped", &mut events).await;
}

/// The OpenMetrics text of `/metrics`.
async fn scrape(base: &str) -> String {
    let resp = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// The value of the sample named exactly `name` (labels included, if any).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in {text}"))
}

/// A publisher and a viewer of `stream`, connected, with media flowing.
async fn flowing_pair(base: &str, stream: &str, tag: u8) -> (Ws, Ws, Peer) {
    let mut events = Vec::new();
    let mut view_ws = connect(base, false, stream).await;
    let mut viewer = Peer::new(false).await;
    let reply = command(
        &mut view_ws,
        0,
        "view",
        json!({"streamId":stream,"sdp":viewer.offer}),
        &mut events,
    )
    .await;
    viewer.answer(reply["data"]["sdp"].as_str().unwrap());
    let mut pub_ws = connect(base, true, stream).await;
    let mut publisher = Peer::new(true).await;
    let reply = command(
        &mut pub_ws,
        1,
        "publish",
        json!({"name":stream,"sdp":publisher.offer,"codec":"vp8"}),
        &mut events,
    )
    .await;
    publisher.answer(reply["data"]["sdp"].as_str().unwrap());
    assert!(matches!(
        publisher.next_report().await,
        PeerReport::Connected
    ));
    publisher.start_sending(tag);
    let mut got = 0;
    while got < 10 {
        if let PeerReport::Rtp { payload, .. } = viewer.next_report().await {
            assert_eq!(payload[0], tag, "{stream} carries its own media");
            got += 1;
        }
    }
    (pub_ws, view_ws, publisher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_spread_over_media_workers() {
    let srv = server_with(|a| a.media_workers = Some(3)).await;
    let addrs = srv.running.udp_addrs.clone();
    assert_eq!(addrs.len(), 3);
    // One stream per worker.
    let streams: Vec<String> = (0..3)
        .map(|w| {
            (0..)
                .map(|i| format!("shard-{i}"))
                .find(|s| shard_of(s, 3) == w)
                .unwrap()
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        pairs.push(flowing_pair(&srv.base, stream, 10 + i as u8).await);
    }
    let metrics = scrape(&srv.base).await;
    assert_eq!(metric(&metrics, "podium_media_workers"), 3.0);
    assert_eq!(metric(&metrics, "podium_streams"), 3.0, "{metrics}");
    assert_eq!(metric(&metrics, "podium_viewers"), 3.0, "{metrics}");
    for w in 0..3 {
        let label = format!("{{worker=\"{w}\"}}");
        assert_eq!(
            metric(&metrics, &format!("podium_media_worker_peers{label}")),
            2.0,
            "{metrics}"
        );
        assert!(
            metric(
                &metrics,
                &format!("podium_media_worker_datagrams_sent_total{label}")
            ) > 0.0
        );
        metric(
            &metrics,
            &format!("podium_media_worker_cpu_seconds_total{label}"),
        );
    }
    let health = reqwest::get(format!("{}/healthz", srv.base)).await.unwrap();
    assert_eq!(health.status(), 200);

    // Closing a publisher of one worker ends its peer there only.
    let (pub_ws, mut view_ws, _publisher) = pairs.remove(1);
    drop(pub_ws);
    let mut events = Vec::new();
    wait_event(&mut view_ws, "stopped", &mut events).await;
    let metrics = scrape(&srv.base).await;
    assert_eq!(metric(&metrics, "podium_publications"), 2.0, "{metrics}");
    assert_eq!(
        metric(&metrics, "podium_media_worker_peers{worker=\"1\"}"),
        1.0,
        "{metrics}"
    );
}
