//! Resource limits a hostile client runs into: frame and message sizes, timeouts,
//! connection caps.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{connect, server};

/// The header of a masked client text frame announcing `len` bytes, then its mask.
fn frame_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x81, 0xFF];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[1, 2, 3, 4]);
    h
}

/// A WebSocket handshake on a raw TCP stream, so the test can then write raw frames.
async fn raw_websocket(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(tcp.read(&mut b).await.unwrap(), 1, "handshake cut short");
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// Reads until the server closes; returns everything it sent. Panics if it stays open.
async fn read_until_closed(tcp: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open; it sent {got:?}"),
        }
    }
}

#[tokio::test]
async fn an_oversized_signaling_frame_is_refused_at_its_header_with_close_1009() {
    let srv = server().await;
    // A whole message over the limit: close 1009 with a reason, not a bare disconnect.
    let mut ws = connect(&srv.base, false, "s").await;
    let big = "x".repeat(300 * 1024);
    let _ = ws.send(Message::Text(big.into())).await;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.expect("a close frame"),
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Size);
    assert!(close.reason.contains("too big"), "{}", close.reason);

    // A 16 MiB frame announced but never sent: refused from the header, so nothing of it
    // is buffered while the client dawdles.
    let url = crate::client::subscribe_url(&srv.base, "s").await;
    let path = url
        .split_once("/ws/")
        .map(|(_, p)| format!("/ws/{p}"))
        .unwrap();
    let mut tcp = raw_websocket(srv.running.http_addr, &path).await;
    tcp.write_all(&frame_header(16 << 20)).await.unwrap();
    tcp.write_all(&[b'x'; 1000]).await.unwrap();
    let sent = read_until_closed(&mut tcp, Duration::from_secs(3)).await;
    // A close frame: 0x88, length, then the code 1009 (0x03F1).
    assert!(
        sent.windows(2).any(|w| w == [0x03, 0xF1]),
        "close 1009 expected, got {sent:?}"
    );
}

#[tokio::test]
async fn an_oversized_socket_io_frame_or_poll_body_is_refused_before_it_is_buffered() {
    let srv = server().await;
    let mut tcp = raw_websocket(
        srv.running.http_addr,
        "/socket.io/?EIO=4&transport=websocket",
    )
    .await;
    // 1 MiB announced (the library's default limits were 16 MiB per frame, 64 MiB per
    // message); the rooms protocol needs a few KiB.
    tcp.write_all(&frame_header(1 << 20)).await.unwrap();
    tcp.write_all(&[b'x'; 1000]).await.unwrap();
    read_until_closed(&mut tcp, Duration::from_secs(3)).await;

    // Long polling: a body over the limit is refused too.
    let http = reqwest::Client::new();
    let open = http
        .get(format!("{}/socket.io/?EIO=4&transport=polling", srv.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a handshake with a sid");
    let post = http
        .post(format!(
            "{}/socket.io/?EIO=4&transport=polling&sid={sid}",
            srv.base
        ))
        .body(format!("4{}", "x".repeat(64 * 1024)))
        .send()
        .await
        .unwrap();
    assert!(post.status().is_client_error(), "{}", post.status());
}

/// A TCP connection to `to` from the loopback address `from` (another client).
async fn connect_from(from: &str, to: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the server closed `tcp` within `limit` (whatever it sent before).
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut b = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn silent_connections_from_one_address_cannot_lock_out_everyone_else() {
    let srv = crate::client::server_with(|a| {
        a.max_connections_per_ip = Some(20);
        a.connection_timeout = Some(2);
    })
    .await;
    let addr = srv.running.http_addr;
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(connect_from("127.0.0.2", addr).await);
    }
    let refused = futures_util::future::join_all(
        held.iter_mut()
            .map(|tcp| closed_within(tcp, Duration::from_millis(500))),
    )
    .await;
    assert_eq!(
        refused.iter().filter(|r| **r).count(),
        20,
        "the address keeps its 20 and no more"
    );

    // Meanwhile another client is served: plain requests, the Director, signaling.
    let http = reqwest::Client::new();
    for _ in 0..5 {
        let r = http
            .get(format!("{}/healthz", srv.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let mut ws = connect(&srv.base, false, "s").await;
    let r = crate::client::send_raw(&mut ws, r#"{"type":"cmd","transId":1,"name":"nope"}"#).await;
    assert_eq!(r["type"], "error");

    // The silent ones are closed once the header timeout passes.
    let closed = futures_util::future::join_all(
        held.iter_mut()
            .map(|tcp| closed_within(tcp, Duration::from_secs(4))),
    )
    .await;
    assert!(
        closed.iter().all(|c| *c),
        "a connection that never sent its headers stays open"
    );
    held.clear();
    let mut again = connect_from("127.0.0.2", addr).await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = vec![0u8; 256];
    let n = again.read(&mut reply).await.unwrap();
    assert!(
        String::from_utf8_lossy(&reply[..n]).starts_with("HTTP/1.1 200"),
        "the address is served again once its connections closed"
    );
    // An idle keep-alive connection is closed by the same timeout.
    assert!(closed_within(&mut again, Duration::from_secs(4)).await);
}

#[tokio::test]
async fn a_signaling_socket_that_never_sends_a_command_is_closed() {
    let srv = crate::client::server_with(|a| a.connection_timeout = Some(1)).await;
    let mut ws = connect(&srv.base, false, "s").await;
    let started = std::time::Instant::now();
    let reason = crate::client::closed_reason(&mut ws).await;
    assert_eq!(reason.as_deref(), Some("No publish or view within 1 s"));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn websockets_keep_their_place_in_the_connection_cap() {
    let srv = crate::client::server_with(|a| a.max_connections_per_ip = Some(3)).await;
    let mut urls = Vec::new();
    for _ in 0..3 {
        urls.push(crate::client::subscribe_url(&srv.base, "s").await);
    }
    // The Director calls' connections are closed by now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sockets = Vec::new();
    for url in &urls {
        sockets.push(tokio_tungstenite::connect_async(url).await.unwrap().0);
    }
    // Every place of this client is taken by an upgraded socket now.
    let err = tokio_tungstenite::connect_async(&urls[0])
        .await
        .unwrap_err();
    assert!(
        !err.to_string().contains("HTTP"),
        "refused before any request was read: {err}"
    );
    sockets.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = reqwest::get(format!("{}/healthz", srv.base)).await.unwrap();
    assert_eq!(r.status(), 200, "a closed WebSocket frees its place");
}

/// A metric's value from `/metrics` on `base` (with the admin secret if `auth`).
async fn metric(base: &str, name: &str) -> f64 {
    let text = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(crate::client::ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_health_check_flood_costs_the_media_workers_one_reading_a_second() {
    let srv = crate::client::server_with(|a| {
        a.media_workers = Some(1);
        a.max_connections_per_ip = Some(0);
    })
    .await;
    let before = metric(&srv.base, "podium_media_snapshots_total").await;
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let checks = (0..300).map(|_| {
        let http = http.clone();
        let url = format!("{}/healthz", srv.base);
        async move { http.get(url).send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(checks).await;
    let secs = started.elapsed().as_secs_f64();
    assert!(statuses.iter().all(|s| *s == 200));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let taken = metric(&srv.base, "podium_media_snapshots_total").await - before;
    // This scrape's own reading, plus one health reading per started second.
    assert!(
        taken <= 2.0 + secs.ceil(),
        "{taken} readings for 300 health checks in {secs:.2} s"
    );
}

#[tokio::test]
async fn metrics_can_require_the_admin_secret_or_a_port_of_their_own() {
    let srv = crate::client::server_with(|a| a.metrics_auth = Some(true)).await;
    let open = reqwest::get(format!("{}/metrics", srv.base)).await.unwrap();
    assert_eq!(open.status(), 401);
    assert!(metric(&srv.base, "podium_peers").await >= 0.0);

    let srv = crate::client::server_with(|a| {
        a.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let main = reqwest::get(format!("{}/metrics", srv.base)).await.unwrap();
    assert_eq!(main.status(), 404, "not on the public port");
    let private = format!("http://{}", srv.running.metrics_addr.unwrap());
    assert!(metric(&private, "podium_peers").await >= 0.0);
    let health = reqwest::get(format!("{}/healthz", srv.base)).await.unwrap();
    assert_eq!(health.status(), 200, "health stays on the public port");
}

async fn view(ws: &mut crate::client::Ws, i: u64, offer: &str) -> serde_json::Value {
    let data = serde_json::json!({"streamId":"s","sdp":offer});
    crate::client::command(ws, i, "view", data, &mut Vec::new()).await
}

#[tokio::test]
async fn one_jwt_or_one_address_cannot_hold_many_views_that_never_connect() {
    let srv = crate::client::server_with(|a| {
        a.max_pending_per_token = Some(3);
        a.max_pending_per_ip = Some(5);
    })
    .await;
    let url = crate::client::subscribe_url(&srv.base, "s").await;
    // Views whose ICE never starts: the offers are real, nobody answers the server.
    let offer = crate::client::Peer::new(false).await.offer;
    let mut held = Vec::new();
    for i in 0..4 {
        let mut ws = tokio_tungstenite::connect_async(&url).await.unwrap().0;
        let r = view(&mut ws, i, &offer).await;
        if i < 3 {
            assert_eq!(r["type"], "response", "{r}");
        } else {
            assert_eq!(r["type"], "error");
            assert!(r["data"].as_str().unwrap().contains("this token"), "{r}");
        }
        held.push(ws);
    }
    // Fresh JWTs from the same address meet the address cap.
    let mut refused = None;
    for i in 0..4 {
        let mut ws = connect(&srv.base, false, "s").await;
        let r = view(&mut ws, 10 + i, &offer).await;
        if r["type"] == "error" {
            refused = Some((i, r["data"].clone()));
            break;
        }
        held.push(ws);
    }
    let (at, message) = refused.expect("the address cap");
    assert_eq!(at, 2, "3 pending with the first JWT + 2 more = 5");
    assert!(
        message.as_str().unwrap().contains("your address"),
        "{message}"
    );
    // Closing pending views frees their places.
    held.clear();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ws = tokio_tungstenite::connect_async(&url).await.unwrap().0;
    assert_eq!(view(&mut ws, 99, &offer).await["type"], "response");
}

#[tokio::test]
async fn a_director_request_whose_body_trickles_in_is_cut_off() {
    let srv = crate::client::server_with(|a| a.connection_timeout = Some(1)).await;
    let mut tcp = TcpStream::connect(srv.running.http_addr).await.unwrap();
    tcp.write_all(
        b"POST /api/director/subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"streamName\":",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(6), tcp.read(&mut buf))
            .await
            .expect("the server answers before the body is complete")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        reply.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_kick_ends_the_media_of_a_client_that_stopped_reading() {
    let srv = crate::client::server().await;
    let url = crate::client::publish_url(&srv.base, serde_json::json!({"streamName":"s"})).await;
    // A small receive buffer, so the server's replies back up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(srv.running.http_addr).await.unwrap();
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (mut ws, _) = tokio_tungstenite::client_async(&url, tcp).await.unwrap();
    let offer = crate::client::Peer::new(true).await.offer;
    let r = crate::client::command(
        &mut ws,
        1,
        "publish",
        serde_json::json!({"name":"s","sdp":offer}),
        &mut Vec::new(),
    )
    .await;
    assert_eq!(r["type"], "response", "{r}");
    assert_eq!(metric(&srv.base, "podium_publications").await, 1.0);
    // Commands whose replies are never read: the server's writes to this client block.
    let flood = tokio::spawn(async move {
        for i in 0..60_000u32 {
            let frame = format!(r#"{{"type":"cmd","transId":{i},"name":"nope"}}"#);
            if ws.send(Message::Text(frame.into())).await.is_err() {
                break;
            }
        }
        ws
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, _) = crate::client::admin(
        &srv.base,
        reqwest::Method::POST,
        "kick",
        Some(serde_json::json!({"streamName":"s","sourceId":null})),
    )
    .await;
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while metric(&srv.base, "podium_publications").await > 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the kicked publication still lives while its client does not read"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    flood.abort();
}
