//! Joining through the real front doors: Podium's Director API and WebSocket signaling
//! (the Millicast protocol, with the shared wire types), or Janus's VideoRoom over HTTP.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use podium_proto::director::{DirectorReply, PublishRequest, SubscribeRequest};
use podium_proto::signal::{PublishCommand, ViewCommand};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open signaling connection; the peer lives as long as it stays open.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// A Podium server reached over HTTP(S).
#[derive(Clone)]
pub struct Podium {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Podium {
    /// `base` like `http://127.0.0.1:8080`; `token`: a publish API token.
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Director call, then WebSocket connect.
    async fn open(&self, publish: bool, stream: &str, source: Option<&str>) -> anyhow::Result<Ws> {
        let (path, body) = if publish {
            let req = PublishRequest {
                stream_name: stream.into(),
                stream_type: None,
                source_id: source.map(Into::into),
            };
            ("publish", serde_json::to_value(req)?)
        } else {
            let req = SubscribeRequest {
                stream_name: stream.into(),
                stream_account_id: None,
                account_id: None,
            };
            ("subscribe", serde_json::to_value(req)?)
        };
        let mut req = self
            .http
            .post(format!("{}/api/director/{path}", self.base))
            .json(&body);
        if publish {
            req = req.bearer_auth(&self.token);
        }
        let reply: DirectorReply = req
            .send()
            .await
            .context("Director unreachable")?
            .json()
            .await
            .context("Director reply is not JSON")?;
        let data = match reply {
            DirectorReply::Success(d) => d,
            DirectorReply::Fail(f) => bail!("Director refused: {}", f.message),
        };
        let url = format!(
            "{}?token={}",
            data.urls.first().context("no URL")?,
            data.jwt
        );
        let (ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .context("signaling WebSocket")?;
        Ok(ws)
    }

    /// Publishes `offer` as `source` of `stream`; returns the open connection and the answer.
    pub async fn publish(
        &self,
        stream: &str,
        source: Option<&str>,
        offer: String,
        video_codec: Option<&str>,
    ) -> anyhow::Result<(Ws, String)> {
        let mut ws = self.open(true, stream, source).await?;
        let cmd = PublishCommand {
            name: stream.into(),
            sdp: offer,
            codec: video_codec.map(Into::into),
            source_id: source.map(Into::into),
            priority: None,
            record: None,
            events: None,
        };
        let data = command(&mut ws, "publish", serde_json::to_value(cmd)?).await?;
        Ok((ws, sdp_of(&data)?))
    }

    /// Opens the signaling connection for a view (Director + WebSocket).
    pub async fn open_view(&self, stream: &str) -> anyhow::Result<Ws> {
        self.open(false, stream, None).await
    }

    /// Sends `view` with `slots` multiplexed audio tracks; returns the answer.
    pub async fn view(
        ws: &mut Ws,
        stream: &str,
        offer: String,
        slots: usize,
    ) -> anyhow::Result<String> {
        let cmd = ViewCommand {
            stream_id: stream.into(),
            sdp: offer,
            pinned_source_id: None,
            excluded_source_ids: None,
            vad: None,
            multiplexed_audio_tracks: (slots > 0).then_some(slots),
            events: None,
            layer: None,
        };
        let data = command(ws, "view", serde_json::to_value(cmd)?).await?;
        sdp_of(&data)
    }
}

fn sdp_of(data: &Value) -> anyhow::Result<String> {
    data["sdp"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("response has no sdp: {data}"))
}

/// Sends one command and waits for its response (events before it are skipped).
async fn command(ws: &mut Ws, name: &str, data: Value) -> anyhow::Result<Value> {
    let frame = json!({"type": "cmd", "transId": 1, "name": name, "data": data});
    ws.send(Message::text(frame.to_string())).await?;
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        let msg = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .map_err(|_| anyhow!("no reply to {name} within {REPLY_TIMEOUT:?}"))?
            .ok_or_else(|| anyhow!("signaling closed before the reply to {name}"))??;
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text)?;
        match v["type"].as_str() {
            Some("response") => return Ok(v["data"].clone()),
            Some("error") => bail!("{name} refused: {}", v["data"]),
            _ => {}
        }
    }
}

/// Keeps a signaling connection open until `stop` resolves (true), or until the server ends
/// it (false), counting `vad` events.
pub async fn hold(
    mut ws: Ws,
    stop: impl std::future::Future<Output = ()>,
    vad: &std::sync::atomic::AtomicU64,
) -> bool {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if t.contains("\"vad\"") {
                        vad.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Some(Ok(_)) => {}
                _ => return false,
            },
            _ = &mut stop => {
                let _ = ws.close(None).await;
                return true;
            }
        }
    }
}
