//! Authorization holes a hostile client looks for: tokens used where they do not belong.

use serde_json::{json, Value};

use crate::client::{command, director, server, Peer, Ws, TOKEN};

/// Director call with the bootstrap token; returns the signaling URL with its JWT.
async fn publish_url(base: &str, body: Value) -> String {
    let (s, b) = director(base, "publish", Some(TOKEN), body).await;
    assert_eq!(s, 200, "{b}");
    format!(
        "{}?token={}",
        b["data"]["urls"][0].as_str().unwrap(),
        b["data"]["jwt"].as_str().unwrap()
    )
}

async fn open(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

#[tokio::test]
async fn a_jwt_bound_to_a_source_cannot_publish_as_the_main_source() {
    let srv = server().await;
    let url = publish_url(&srv.base, json!({"streamName":"s","sourceId":"alice"})).await;
    let peer = Peer::new(true).await;
    // Without sourceId, with an empty one, with null: all are the main source, not alice.
    for (i, source) in [None, Some(json!("")), Some(Value::Null)]
        .into_iter()
        .enumerate()
    {
        let mut ws = open(&url).await;
        let mut data = json!({"name":"s","sdp":peer.offer});
        if let Some(s) = source {
            data["sourceId"] = s;
        }
        let r = command(&mut ws, i as u64, "publish", data, &mut Vec::new()).await;
        assert_eq!(r["type"], "error", "{r}");
        assert_eq!(r["data"], "sourceId is not valid for token");
    }
    // The bound source itself is fine.
    let mut ws = open(&url).await;
    let r = command(
        &mut ws,
        9,
        "publish",
        json!({"name":"s","sdp":peer.offer,"sourceId":"alice"}),
        &mut Vec::new(),
    )
    .await;
    assert_eq!(r["type"], "response", "{r}");
}
