//! Director → WebSocket → publish → view, with str0m peers on real loopback UDP.

use serde_json::{json, Value};

use crate::client::{command, connect, server, wait_event, Peer, PeerReport};

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
    assert!(
        answer.contains(&format!("{}", srv.running.udp_addr.port())),
        "candidate on the media port"
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

    // The metrics show the peers and the forwarded packets.
    let metrics = reqwest::get(format!("{}/metrics", srv.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("podium_peers 2"), "{metrics}");
    let forwarded: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("podium_rtp_forwarded_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("forwarded counter");
    assert!(forwarded >= 40, "{metrics}");

    // The publisher's socket closes: the viewer hears `inactive` then `stopped`.
    drop(pub_ws);
    let inactive = wait_event(&mut view_ws, "inactive", &mut events).await;
    assert_eq!(inactive["data"]["sourceId"], Value::Null);
    wait_event(&mut view_ws, "stopped", &mut events).await;
}
