//! An RTMP publisher for tests (rml_rtmp's client session over tokio), sending the FLV
//! fixtures that `podium-ingest` tests with (made by ffmpeg, see their README).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One FLV tag.
#[derive(Clone)]
pub struct Tag {
    /// 8 audio, 9 video.
    pub kind: u8,
    pub timestamp: u32,
    pub body: Vec<u8>,
}

pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;

/// The audio and video tags of an FLV fixture of `crates/ingest/tests/fixtures`.
pub fn fixture_tags(name: &str) -> Vec<Tag> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/fixtures")
        .join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut pos = u32::from_be_bytes(data[5..9].try_into().unwrap()) as usize + 4;
    let mut tags = Vec::new();
    while pos + 11 <= data.len() {
        let h = &data[pos..pos + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let kind = h[0] & 0x1f;
        if kind == AUDIO || kind == VIDEO {
            tags.push(Tag {
                kind,
                timestamp,
                body: data[pos + 11..pos + 11 + size].to_vec(),
            });
        }
        pos += 15 + size;
    }
    tags
}

/// How a publish attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// The server refused `connect` or `publish` (its description) or closed the connection.
    Refused(String),
}

pub struct Publisher {
    tcp: TcpStream,
    session: ClientSession,
}

impl Publisher {
    /// Handshakes and connects to application `app`.
    pub async fn connect(addr: SocketAddr, app: &str) -> Result<Self, String> {
        let mut tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake.generate_outbound_p0_and_p1().unwrap();
        tcp.write_all(&c0c1).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 8192];
        let leftover = loop {
            let n = read(&mut tcp, &mut buf).await?;
            match handshake
                .process_bytes(&buf[..n])
                .map_err(|e| format!("{e:?}"))?
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    tcp.write_all(&response_bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    tcp.write_all(&response_bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                    break remaining_bytes;
                }
            }
        };
        let (session, results) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        let mut p = Self { tcp, session };
        p.send(results).await?;
        let results = p
            .session
            .handle_input(&leftover)
            .map_err(|e| e.to_string())?;
        p.send(results).await?;
        let request = p.session.request_connection(app.to_owned()).unwrap();
        p.send(vec![request]).await?;
        match p.wait().await? {
            Outcome::Accepted => Ok(p),
            Outcome::Refused(why) => Err(why),
        }
    }

    /// Asks to publish `key`; waits for the answer.
    pub async fn publish(&mut self, key: &str) -> Result<Outcome, String> {
        let request = self
            .session
            .request_publishing(key.to_owned(), PublishRequestType::Live)
            .unwrap();
        self.send(vec![request]).await?;
        self.wait().await
    }

    /// Sends `onMetaData` announcing AVC video and AAC audio.
    pub async fn metadata(&mut self, video: bool, audio: bool) -> Result<(), String> {
        let mut m = StreamMetadata::new();
        m.video_codec_id = video.then_some(7);
        m.audio_codec_id = audio.then_some(10);
        let r = self.session.publish_metadata(&m).unwrap();
        self.send(vec![r]).await
    }

    /// Sends one tag at `timestamp`.
    pub async fn tag(&mut self, kind: u8, timestamp: u32, body: &[u8]) -> Result<(), String> {
        let data = bytes::Bytes::copy_from_slice(body);
        let ts = RtmpTimestamp::new(timestamp);
        let r = if kind == VIDEO {
            self.session.publish_video_data(data, ts, false)
        } else {
            self.session.publish_audio_data(data, ts, false)
        }
        .map_err(|e| e.to_string())?;
        self.send(vec![r]).await
    }

    /// Sends `tags` `loops` times in a row (timestamps continuing), paced at `speed` × real
    /// time; returns the FLV time after the last tag.
    pub async fn stream(
        &mut self,
        tags: &[Tag],
        start_ms: u32,
        loops: u32,
        speed: f64,
    ) -> Result<u32, String> {
        let span = tags.last().map_or(0, |t| t.timestamp) + 33;
        let started = tokio::time::Instant::now();
        for n in 0..loops {
            for t in tags {
                let at = start_ms + n * span + t.timestamp;
                let due = Duration::from_secs_f64(f64::from(at - start_ms) / 1000.0 / speed);
                tokio::time::sleep_until(started + due).await;
                self.tag(t.kind, at, &t.body).await?;
            }
        }
        Ok(start_ms + loops * span)
    }

    /// Writes raw bytes (after the handshake: they reach the server's chunk parser).
    pub async fn raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.tcp.write_all(bytes).await.map_err(|e| e.to_string())
    }

    /// Whether the server closes the connection within `limit` (reading and dropping
    /// whatever it sends).
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        closed_within(&mut self.tcp, limit).await
    }

    async fn send(&mut self, results: Vec<ClientSessionResult>) -> Result<(), String> {
        for r in results {
            if let ClientSessionResult::OutboundResponse(p) = r {
                self.tcp
                    .write_all(&p.bytes)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Reads until the server accepts or refuses the pending request.
    async fn wait(&mut self) -> Result<Outcome, String> {
        let mut buf = vec![0u8; 8192];
        loop {
            let n = match tokio::time::timeout(Duration::from_secs(10), self.tcp.read(&mut buf))
                .await
                .map_err(|_| "no answer within 10 s".to_owned())?
            {
                Ok(0) | Err(_) => return Ok(Outcome::Refused("connection closed".into())),
                Ok(n) => n,
            };
            let results = self
                .session
                .handle_input(&buf[..n])
                .map_err(|e| e.to_string())?;
            let mut outcome = None;
            let mut out = Vec::new();
            for r in results {
                match r {
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::ConnectionRequestAccepted
                        | ClientSessionEvent::PublishRequestAccepted,
                    ) => outcome = Some(Outcome::Accepted),
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::ConnectionRequestRejected { description },
                    ) => outcome = Some(Outcome::Refused(description)),
                    // A refused publish: `_error` with the status object.
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::UnknownTransactionResultReceived {
                            additional_values,
                            ..
                        },
                    ) => outcome = Some(Outcome::Refused(description(&additional_values))),
                    other => out.push(other),
                }
            }
            self.send(out).await?;
            if let Some(o) = outcome {
                return Ok(o);
            }
        }
    }
}

/// The `description` of a status object.
fn description(values: &[rml_amf0::Amf0Value]) -> String {
    values
        .iter()
        .find_map(|v| match v {
            rml_amf0::Amf0Value::Object(o) => match o.get("description") {
                Some(rml_amf0::Amf0Value::Utf8String(d)) => Some(d.clone()),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_else(|| format!("{values:?}"))
}

async fn read(tcp: &mut TcpStream, buf: &mut [u8]) -> Result<usize, String> {
    match tokio::time::timeout(Duration::from_secs(10), tcp.read(buf)).await {
        Err(_) => Err("no answer within 10 s".into()),
        Ok(Ok(0)) => Err("connection closed".into()),
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(e.to_string()),
    }
}

/// Whether the peer closes `tcp` within `limit`.
pub async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = vec![0u8; 8192];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}
