//! Bad input over HTTP and WebSocket: clear errors, nothing else disturbed.

use serde_json::json;

use crate::client::{command, connect, director, send_raw, server, Peer, TOKEN};

#[tokio::test]
async fn director_refusals_have_the_millicast_shape() {
    let srv = server().await;
    let (s, b) = director(&srv.base, "publish", None, json!({"streamName":"a"})).await;
    assert_eq!((s, b["status"].as_str()), (401, Some("fail")));
    assert_eq!(b["data"]["message"], "Unauthorized: Missing token");
    let (s, b) = director(
        &srv.base,
        "publish",
        Some("wrong-token"),
        json!({"streamName":"a"}),
    )
    .await;
    assert_eq!(
        (s, b["data"]["message"].as_str()),
        (401, Some("Unauthorized: Invalid token"))
    );
    let (s, b) = director(&srv.base, "publish", Some(TOKEN), json!({"streamName":""})).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = director(&srv.base, "subscribe", None, json!({"nope":1})).await;
    assert_eq!(s, 400);
    assert!(b["data"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid request body"));
    let (s, b) = director(
        &srv.base,
        "subscribe",
        None,
        json!({"streamName":"a","streamAccountId":"other"}),
    )
    .await;
    assert_eq!((s, b["status"].as_str()), (404, Some("fail")));
    let (s, b) = director(
        &srv.base,
        "subscribe",
        None,
        json!({"streamName":"a","streamAccountId":"podium"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["streamAccountId"], "podium");
    assert!(b["data"]["urls"][0]
        .as_str()
        .unwrap()
        .ends_with("/ws/v2/sub"));
    assert_eq!(b["data"]["jwt"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn websocket_refuses_bad_tokens_before_upgrade() {
    let srv = server().await;
    let ws_base = srv.base.replace("http", "ws");
    for url in [
        format!("{ws_base}/ws/v2/pub"),
        format!("{ws_base}/ws/v2/pub?token=garbage"),
        format!("{ws_base}/ws/v2/sub?token=a.b.c"),
    ] {
        let err = tokio_tungstenite::connect_async(&url).await.unwrap_err();
        assert!(err.to_string().contains("401"), "{url}: {err}");
    }
    // A view token does not open the publish endpoint.
    let (_, body) = director(&srv.base, "subscribe", None, json!({"streamName":"a"})).await;
    let jwt = body["data"]["jwt"].as_str().unwrap();
    let err = tokio_tungstenite::connect_async(format!("{ws_base}/ws/v2/pub?token={jwt}"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"));
}

#[tokio::test]
async fn malformed_commands_get_error_frames_and_the_socket_stays_usable() {
    let srv = server().await;
    let mut ws = connect(&srv.base, false, "s").await;
    let e = send_raw(&mut ws, "{not json").await;
    assert_eq!(e["type"], "error");
    assert!(e["data"].as_str().unwrap().starts_with("Invalid JSON"));
    let e = send_raw(&mut ws, r#"{"type":"cmd","transId":4,"name":"dance"}"#).await;
    assert_eq!(
        (e["type"].as_str(), e["transId"].as_u64()),
        (Some("error"), Some(4))
    );
    assert_eq!(e["data"], "Unknown command: dance");
    let e = send_raw(
        &mut ws,
        r#"{"type":"cmd","transId":5,"name":"view","data":{"sdp":"x"}}"#,
    )
    .await;
    assert!(
        e["data"]
            .as_str()
            .unwrap()
            .contains("missing field `streamId`"),
        "{e}"
    );
    let e = send_raw(
        &mut ws,
        r#"{"type":"cmd","transId":6,"name":"view","data":{"streamId":"other","sdp":"x"}}"#,
    )
    .await;
    assert_eq!(e["data"], "StreamName is not valid for token");
    let e = send_raw(&mut ws, r#"{"type":"cmd","transId":7,"name":"view","data":{"streamId":"s","sdp":"v=0\r\nm=audio 1 RTP/AVP 0\r\n"}}"#).await;
    assert!(
        e["data"].as_str().unwrap().starts_with("Invalid SDP offer"),
        "{e}"
    );
    let e = send_raw(
        &mut ws,
        r#"{"type":"cmd","transId":8,"name":"publish","data":{"name":"s","sdp":"x"}}"#,
    )
    .await;
    assert_eq!(e["data"], "Command publish is not allowed with this token");

    // After all that, a valid view works on the same socket.
    let peer = Peer::new(false).await;
    let mut events = Vec::new();
    let r = command(
        &mut ws,
        9,
        "view",
        json!({"streamId":"s","sdp":peer.offer}),
        &mut events,
    )
    .await;
    assert_eq!(r["type"], "response", "{r}");
    let r = command(
        &mut ws,
        10,
        "view",
        json!({"streamId":"s","sdp":peer.offer}),
        &mut events,
    )
    .await;
    assert_eq!(r["data"], "This connection already views; open a new one");
}

#[tokio::test]
async fn publish_checks_stream_and_garbage_udp_is_harmless() {
    let srv = server().await;
    let mut ws = connect(&srv.base, true, "mine").await;
    let peer = Peer::new(true).await;
    let mut events = Vec::new();
    let r = command(
        &mut ws,
        1,
        "publish",
        json!({"name":"theirs","sdp":peer.offer}),
        &mut events,
    )
    .await;
    assert_eq!(r["data"], "StreamName is not valid for token");
    let r = command(
        &mut ws,
        2,
        "publish",
        json!({"name":"mine","sdp":peer.offer,"codec":"theora"}),
        &mut events,
    )
    .await;
    assert_eq!(r["data"], "Unsupported codec: theora");

    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for len in [0usize, 1, 20, 100, 1500] {
        let junk: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        udp.send_to(&junk, srv.running.udp_addr).await.unwrap();
    }
    let r = command(
        &mut ws,
        3,
        "publish",
        json!({"name":"mine","sdp":peer.offer,"sourceId":"cam"}),
        &mut events,
    )
    .await;
    assert_eq!(r["type"], "response", "{r}");
}

#[tokio::test]
async fn shutdown_closes_idle_signaling_sockets_and_stops() {
    let mut srv = server().await;
    let mut ws = connect(&srv.base, false, "s").await;
    srv.stop();
    assert!(
        crate::client::next_frame(&mut ws).await.is_none(),
        "socket closed by the server"
    );
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), &mut srv.running.done)
        .await
        .expect("server stops promptly");
    done.unwrap().unwrap();
}

#[tokio::test]
async fn a_client_that_closes_gets_the_closing_handshake_answered() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let srv = server().await;
    let mut ws = connect(&srv.base, false, "close-me").await;
    ws.send(Message::Close(None)).await.unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("an answer within 5 s");
    assert!(
        matches!(answer, Some(Ok(Message::Close(_)))),
        "a close frame back, not a dropped connection: {answer:?}"
    );
}
