//! Test clients: a running server, Director calls, a signaling socket, and a str0m peer
//! on a real UDP socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use podium_server::{Config, Running, ServeArgs};
use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TOKEN: &str = "test-publish-token";

pub struct Server {
    pub running: Running,
    pub base: String,
    pub dir: std::path::PathBuf,
    stop: Option<oneshot::Sender<()>>,
    /// Leave the data directory on drop (a restart test hands it to the next server).
    pub keep_dir: bool,
}

impl Server {
    /// Asks the server to shut down (as Ctrl-C does).
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub const ADMIN: &str = "it-admin-5f0c2e9a7b41d8e3c6a92f17";

pub async fn server() -> Server {
    server_with(|_| {}).await
}

/// A server whose flags are adjusted by `tune`.
pub async fn server_with(tune: impl FnOnce(&mut ServeArgs)) -> Server {
    // Random, not only the process id: ids are reused across runs, and a directory left by
    // an earlier run would hand this server its tokens and accounts.
    let dir = std::env::temp_dir().join(format!(
        "podium-it-{}-{}-{:016x}",
        std::process::id(),
        rand_suffix(),
        rand::random::<u64>()
    ));
    let mut args = ServeArgs {
        http_addr: Some("127.0.0.1:0".parse().unwrap()),
        udp_addr: Some("127.0.0.1:0".parse().unwrap()),
        rtmp_addr: Some(podium_server::config::RtmpAddr::At(
            "127.0.0.1:0".parse().unwrap(),
        )),
        data_dir: Some(dir.clone()),
        publish_token: Some(TOKEN.into()),
        admin_secret: Some(ADMIN.into()),
        ..Default::default()
    };
    tune(&mut args);
    let config = Config::resolve(args).unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let running = podium_server::start(config, async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    let base = format!("http://{}", running.http_addr);
    Server {
        running,
        base,
        dir,
        stop: Some(tx),
        keep_dir: false,
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// POSTs to the Director; returns (HTTP status, JSON body).
pub async fn director(base: &str, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/api/director/{path}"))
        .json(&body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Director call + WebSocket connect, the way the SDKs do it.
pub async fn connect(base: &str, publish: bool, stream: &str) -> Ws {
    let bearer = if publish { Some(TOKEN) } else { None };
    connect_with(base, publish, stream, bearer).await.1
}

/// Director call with `bearer` + WebSocket connect; returns the signaling URL too.
pub async fn connect_with(
    base: &str,
    publish: bool,
    stream: &str,
    bearer: Option<&str>,
) -> (String, Ws) {
    let path = if publish { "publish" } else { "subscribe" };
    let (status, body) = director(base, path, bearer, json!({"streamName": stream})).await;
    assert_eq!(status, 200, "{body}");
    let url = format!(
        "{}?token={}",
        body["data"]["urls"][0].as_str().unwrap(),
        body["data"]["jwt"].as_str().unwrap()
    );
    let ws = tokio_tungstenite::connect_async(&url).await.unwrap().0;
    (url, ws)
}

/// A Director publish with the bootstrap token and `body`; returns the signaling URL with
/// its JWT.
pub async fn publish_url(base: &str, body: Value) -> String {
    let (status, b) = director(base, "publish", Some(TOKEN), body).await;
    assert_eq!(status, 200, "{b}");
    format!(
        "{}?token={}",
        b["data"]["urls"][0].as_str().unwrap(),
        b["data"]["jwt"].as_str().unwrap()
    )
}

/// A Director subscribe (no token) for `stream`; returns the signaling URL with its JWT.
pub async fn subscribe_url(base: &str, stream: &str) -> String {
    let (status, b) = director(base, "subscribe", None, json!({ "streamName": stream })).await;
    assert_eq!(status, 200, "{b}");
    format!(
        "{}?token={}",
        b["data"]["urls"][0].as_str().unwrap(),
        b["data"]["jwt"].as_str().unwrap()
    )
}

/// An admin API call; returns (HTTP status, JSON body).
pub async fn admin(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}/api/admin/{path}"))
        .bearer_auth(ADMIN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Creates an API token through the admin API; returns its secret and id.
pub async fn create_token(base: &str, spec: Value) -> (String, String) {
    let (status, body) = admin(base, reqwest::Method::POST, "tokens", Some(spec)).await;
    assert_eq!(status, 201, "{body}");
    (
        body["data"]["secret"].as_str().unwrap().to_owned(),
        body["data"]["token"]["id"].as_str().unwrap().to_owned(),
    )
}

/// Waits for the server to close the socket; returns the close reason.
pub async fn closed_reason(ws: &mut Ws) -> Option<String> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .ok()??;
        match msg {
            Ok(Message::Close(frame)) => {
                return Some(frame.map(|f| f.reason.to_string()).unwrap_or_default())
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Sends a command and waits for its response or error, collecting events seen meanwhile.
pub async fn command(
    ws: &mut Ws,
    trans_id: u64,
    name: &str,
    data: Value,
    events: &mut Vec<Value>,
) -> Value {
    let frame = json!({"type":"cmd","transId":trans_id,"name":name,"data":data});
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
    loop {
        let v = next_frame(ws).await.expect("reply");
        if v["type"] == "event" {
            events.push(v);
        } else {
            return v;
        }
    }
}

pub async fn send_raw(ws: &mut Ws, text: &str) -> Value {
    ws.send(Message::Text(text.to_owned().into()))
        .await
        .unwrap();
    next_frame(ws).await.expect("reply")
}

/// Next JSON frame, or None when the socket closes or 10 s pass.
pub async fn next_frame(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .ok()??
            .ok()?;
        match msg {
            Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Waits for an event named `name`.
pub async fn wait_event(ws: &mut Ws, name: &str, events: &mut Vec<Value>) -> Value {
    if let Some(i) = events.iter().position(|e| e["name"] == name) {
        return events.remove(i);
    }
    loop {
        let v = next_frame(ws)
            .await
            .unwrap_or_else(|| panic!("socket closed waiting for {name}"));
        if v["name"] == name {
            return v;
        }
        events.push(v);
    }
}

/// What a peer task reports.
#[derive(Debug)]
pub enum PeerReport {
    Connected,
    Rtp {
        mid: Mid,
        payload: Vec<u8>,
        seq: u64,
        audio_level: Option<i8>,
    },
}

/// A str0m peer on its own UDP socket, run by a task.
pub struct Peer {
    pub offer: String,
    pub reports: mpsc::UnboundedReceiver<PeerReport>,
    answer_tx: Option<oneshot::Sender<String>>,
    send_tx: mpsc::UnboundedSender<u8>,
}

impl Peer {
    /// `send`: sendonly audio+video (publisher) or recvonly video+audio (viewer).
    pub async fn new(send: bool) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mut rtc = RtcConfig::new().set_rtp_mode(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let dir = if send {
            Direction::SendOnly
        } else {
            Direction::RecvOnly
        };
        let kinds = if send {
            [MediaKind::Audio, MediaKind::Video]
        } else {
            [MediaKind::Video, MediaKind::Audio]
        };
        let mids: Vec<(Mid, MediaKind)> = kinds
            .iter()
            .map(|k| (api.add_media(*k, dir, None, None, None), *k))
            .collect();
        let (offer, pending) = api.apply().unwrap();
        let (answer_tx, answer_rx) = oneshot::channel();
        let (report_tx, reports) = mpsc::unbounded_channel();
        let (send_tx, send_rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(
            rtc, socket, addr, pending, answer_rx, report_tx, send_rx, mids,
        ));
        Self {
            offer: offer.to_sdp_string(),
            reports,
            answer_tx: Some(answer_tx),
            send_tx,
        }
    }

    pub fn answer(&mut self, sdp: &str) {
        self.answer_tx.take().unwrap().send(sdp.to_owned()).unwrap();
    }

    /// Starts sending audio+video packets tagged `tag` every 20 ms.
    pub fn start_sending(&self, tag: u8) {
        self.send_tx.send(tag).unwrap();
    }

    pub async fn next_report(&mut self) -> PeerReport {
        tokio::time::timeout(Duration::from_secs(10), self.reports.recv())
            .await
            .expect("peer report within 10 s")
            .expect("peer task alive")
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    mut rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    pending: SdpPendingOffer,
    answer_rx: oneshot::Receiver<String>,
    reports: mpsc::UnboundedSender<PeerReport>,
    mut send_rx: mpsc::UnboundedReceiver<u8>,
    mids: Vec<(Mid, MediaKind)>,
) {
    let Ok(answer) = answer_rx.await else { return };
    let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
    rtc.sdp_api().accept_answer(pending, answer).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut sending: Option<u8> = None;
    let mut n: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        let deadline = loop {
            match rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Event(e)) => {
                    let report = match e {
                        Event::Connected => Some(PeerReport::Connected),
                        Event::RtpPacket(p) => {
                            let mid = rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                            mid.map(|mid| PeerReport::Rtp {
                                mid,
                                payload: p.payload.to_vec(),
                                seq: *p.seq_no,
                                audio_level: p.header.ext_vals.audio_level,
                            })
                        }
                        _ => None,
                    };
                    if let Some(r) = report {
                        if reports.send(r).is_err() {
                            return;
                        }
                    }
                }
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
            tag = send_rx.recv() => match tag {
                Some(t) => sending = Some(t),
                None => return,
            },
            _ = tick.tick(), if sending.is_some() => {
                n += 1;
                let tag = sending.expect("guarded");
                for (mid, kind) in &mids {
                    let codec = if *kind == MediaKind::Audio { Codec::Opus } else { Codec::Vp8 };
                    let pt = rtc.codec_config().params().iter().find(|p| p.spec().codec == codec).unwrap().pt();
                    let ext = ExtensionValues { audio_level: Some(-25), voice_activity: Some(true), ..Default::default() };
                    let clock = if *kind == MediaKind::Audio { 960 } else { 1800 };
                    let mut api = rtc.direct_api();
                    if let Some(tx) = api.stream_tx_by_mid(*mid, None) {
                        tx.write_rtp(RtpWrite::new(pt, SeqNo::from(n), (n * clock) as u32, Instant::now(), vec![tag, n as u8]).ext_vals(ext).marker(*kind == MediaKind::Video));
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                if rtc.handle_input(Input::Timeout(Instant::now())).is_err() { return; }
            }
        }
    }
}
