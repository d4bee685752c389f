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
    let (_, body) = crate::client::director(
        &srv.base,
        "subscribe",
        None,
        serde_json::json!({"streamName":"s"}),
    )
    .await;
    let jwt = body["data"]["jwt"].as_str().unwrap();
    let mut tcp = raw_websocket(srv.running.http_addr, &format!("/ws/v2/sub?token={jwt}")).await;
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
