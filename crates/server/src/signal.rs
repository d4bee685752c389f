//! WebSocket signaling (`urls[0] + "?token=" + jwt`): one publication or one view per socket.
//!
//! The JWT is checked before the upgrade; after that every frame gets a `response` or an
//! `error` with the same `transId`, and media events arrive as `event` frames. Closing the
//! socket ends the peer; the peer ending (ICE lost) closes the socket.

use std::collections::HashMap;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use podium_auth::{Claims, TokenType};
use podium_media::{
    Accepted, CloseReason, MediaError, MediaEvent, PeerId, PublishParams, ViewParams,
};
use podium_proto::signal::{
    ActiveEvent, CommandFrame, Event, InactiveEvent, PublishCommand, PublishResponse, ServerFrame,
    TrackInfo, VadEvent, ViewCommand, ViewResponse, ViewerCountEvent,
};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::media_handle::WorkerGone;
use crate::policy::sessions::{MediaState, SessionInfo};
use crate::policy::Refusal;
use crate::recordings::Notice;
use crate::state::{unix_now, AppState};

/// A recording notice as an event frame: `recording` with `status` `started`, `failed` (and
/// the `reason`) or `finished` (and its `bytes`), and the `file`.
fn recording_event(notice: Notice) -> ServerFrame {
    let data = match notice {
        Notice::Started { file, .. } => serde_json::json!({"status": "started", "file": file}),
        Notice::Failed { file, reason } => {
            serde_json::json!({"status": "failed", "file": file, "reason": reason})
        }
        Notice::Finished { file, bytes, .. } => {
            serde_json::json!({"status": "finished", "file": file, "bytes": bytes})
        }
    };
    ServerFrame::Event {
        name: "recording".into(),
        data,
    }
}

/// Resolves when this node starts draining (never outside a cluster).
async fn drained(draining: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match draining {
        Some(rx) => {
            if rx.wait_for(|d| *d).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// The refusal of `record` without the JWT's `record` claim.
const NOT_RECORDABLE: &str = "Token does not allow recording";

/// Most audio slots one viewer may have.
const MAX_SLOTS: usize = 16;

/// Largest text frame accepted (an SDP offer with many m-lines stays far below).
const MAX_FRAME: usize = 256 * 1024;
/// How long a socket closed for an oversized message stays open for its close frame to be read.
const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);
/// Read and write buffer of a signaling WebSocket; larger frames grow it.
const SESSION_BUFFER: usize = 4 * 1024;

/// `GET /ws/v2/pub?token=…`.
pub async fn publisher(
    state: State<AppState>,
    query: Query<HashMap<String, String>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let ip = state.access.forwarding.client_ip(peer, &headers);
    upgrade(state, query, ip, ws, TokenType::Publish)
}

/// `GET /ws/v2/sub?token=…`.
pub async fn subscriber(
    state: State<AppState>,
    query: Query<HashMap<String, String>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let ip = state.access.forwarding.client_ip(peer, &headers);
    upgrade(state, query, ip, ws, TokenType::Subscribe)
}

fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    client_ip: std::net::IpAddr,
    ws: WebSocketUpgrade,
    role: TokenType,
) -> Response {
    let Some(token) = query.get("token") else {
        return Refusal(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: Missing token".into(),
        )
        .into_response();
    };
    let now = unix_now();
    let claims = match state.keys().verify(token, now, role) {
        Ok(c) => c,
        Err(e) => return Refusal(StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
    };
    if let Err(refusal) = admit(&state, &claims, role, now) {
        return refusal.into_response();
    }
    // Small buffers: a session exchanges a few KiB of SDP, then idles for hours, and the
    // 128 KiB defaults would cost more per listener than its whole media state.
    // Both limits are checked as a frame's header arrives, so a peer announcing a huge frame
    // is refused before any of it is buffered.
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .read_buffer_size(SESSION_BUFFER)
        .write_buffer_size(SESSION_BUFFER)
        .on_upgrade(move |socket| Session::new(state, claims, role, client_ip).run(socket))
}

/// Whether a verified JWT may open a session now: its token or grant is in force, the stream
/// is open to it, and no kick banned it.
fn admit(state: &AppState, claims: &Claims, role: TokenType, now: u64) -> Result<(), Refusal> {
    state.access.admit_session(
        role,
        &claims.millicast.stream_name,
        claims.millicast.token_id.as_deref(),
    )?;
    if state.sessions.is_banned(&claims.jti, now) {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: This token's session was ended by the server".into(),
        ));
    }
    Ok(())
}

struct Session {
    state: AppState,
    claims: Claims,
    role: TokenType,
    /// Id in the session registry.
    id: u64,
    peer: Option<PeerId>,
    /// Event names the client asked for; `None` means all (what the Spaces demo relies on).
    wanted: Option<Vec<String>>,
    client_ip: std::net::IpAddr,
    /// The published `sourceId`.
    source: Option<String>,
    /// Where the recorder reports on this publication's recording.
    notices: mpsc::UnboundedSender<Notice>,
    notices_rx: Option<mpsc::UnboundedReceiver<Notice>>,
}

impl Session {
    fn new(state: AppState, claims: Claims, role: TokenType, client_ip: std::net::IpAddr) -> Self {
        let (notices, notices_rx) = mpsc::unbounded_channel();
        Self {
            client_ip,
            state,
            claims,
            role,
            id: 0,
            peer: None,
            wanted: None,
            source: None,
            notices,
            notices_rx: Some(notices_rx),
        }
    }

    fn stream_id(&self) -> String {
        format!(
            "{}/{}",
            self.claims.millicast.stream_account_id, self.claims.millicast.stream_name
        )
    }

    async fn run(mut self, socket: WebSocket) {
        let (id, mut ended) = self.state.sessions.register(SessionInfo {
            stream: self.claims.millicast.stream_name.clone(),
            role: self.role,
            source: None,
            peer: None,
            jti: self.claims.jti.clone(),
            jwt_exp: self.claims.exp,
            token_id: self.claims.millicast.token_id.clone(),
            client_ip: self.client_ip,
            media: MediaState::None,
        });
        self.id = id;
        let mut end_gone = false;
        let mut linger = false;
        let (mut sink, mut stream) = socket.split();
        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<MediaEvent>();
        let mut notices_rx = self.notices_rx.take().expect("run once");
        let mut shutdown = self.state.shutdown.clone();
        let mut draining = self.state.cluster.as_ref().map(|c| c.drain_signal());
        let mut migrated = false;
        // A socket that never publishes or views only holds a connection: it gets as long as
        // a new HTTP connection gets for its headers.
        let command_deadline = tokio::time::Instant::now() + self.state.connection_timeout;
        // A client that stops reading must not wedge this loop (and with it kick, revoke and
        // shutdown): a write that cannot finish within the connection timeout ends the session.
        let limit = self.state.connection_timeout;
        // A kick or revocation between the upgrade's checks and the registration above would
        // have found nothing to end: check again now that it would.
        if let Err(refused) = admit(&self.state, &self.claims, self.role, unix_now()) {
            let frame = CloseFrame {
                code: close_code::POLICY,
                reason: refused.1.into(),
            };
            let _ = send_within(&mut sink, Message::Close(Some(frame)), limit).await;
            self.state.sessions.remove(self.id);
            return;
        }
        loop {
            tokio::select! {
                // The server's end first: a kick also closes the media, whose own notice
                // must not win and close the socket without the kick's reason.
                biased;
                reason = &mut ended, if !end_gone => match reason {
                    Ok(reason) => {
                        let frame = CloseFrame { code: close_code::POLICY, reason: reason.message().into() };
                        let _ = send_within(&mut sink, Message::Close(Some(frame)), limit).await;
                        break;
                    }
                    Err(_) => end_gone = true,
                },
                _ = tokio::time::sleep_until(command_deadline), if self.peer.is_none() => {
                    let reason = format!(
                        "No publish or view within {} s",
                        self.state.connection_timeout.as_secs()
                    );
                    let frame = CloseFrame { code: close_code::POLICY, reason: reason.into() };
                    let _ = send_within(&mut sink, Message::Close(Some(frame)), limit).await;
                    break;
                }
                _ = drained(&mut draining), if !migrated => {
                    // This node is being drained: the client is asked to move (make-before-
                    // break); those who do not are disconnected after the grace period.
                    migrated = true;
                    let frame = ServerFrame::Event { name: "migrate".into(), data: serde_json::json!({"reason": "draining"}) };
                    if !send_within(&mut sink, Message::Text(frame.to_text().into()), limit).await { break; }
                }
                _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                    let frame = CloseFrame { code: close_code::AWAY, reason: "server shutting down".into() };
                    let _ = send_within(&mut sink, Message::Close(Some(frame)), limit).await;
                    break;
                }
                msg = stream.next() => {
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Binary(_))) => {
                            let frame = ServerFrame::Error { trans_id: Value::Null, data: "Binary frames are not supported".into() };
                            if !send_within(&mut sink, Message::Text(frame.to_text().into()), limit).await { break; }
                            continue;
                        }
                        Some(Err(e)) if is_too_big(&e) => {
                            let frame = CloseFrame {
                                code: close_code::SIZE,
                                reason: format!("Message too big (at most {} KiB)", MAX_FRAME / 1024).into(),
                            };
                            let _ = send_within(&mut sink, Message::Close(Some(frame)), limit).await;
                            let _ = tokio::time::timeout(limit, sink.close()).await;
                            linger = true;
                            break;
                        }
                        Some(Ok(Message::Close(_))) => {
                            // The closing handshake's answer (queued when the close was read)
                            // goes out, so the client sees a clean close.
                            let _ = tokio::time::timeout(limit, sink.close()).await;
                            break;
                        }
                        None | Some(Err(_)) => break,
                        Some(Ok(_)) => continue, // ping/pong are answered by the library
                    };
                    let reply = self.handle(text.as_str(), &events_tx).await;
                    if !send_within(&mut sink, Message::Text(reply.to_text().into()), limit).await {
                        break;
                    }
                }
                Some(notice) = notices_rx.recv() => {
                    let frame = recording_event(notice);
                    if !send_within(&mut sink, Message::Text(frame.to_text().into()), limit).await { break; }
                }
                Some(event) = events_rx.recv() => {
                    let closed = match &event {
                        MediaEvent::PeerClosed { reason, .. } => Some(*reason),
                        _ => None,
                    };
                    if let Some(frame) = self.event_frame(event) {
                        if !send_within(&mut sink, Message::Text(frame.to_text().into()), limit).await { break; }
                    }
                    if let Some(reason) = closed {
                        self.peer = None;
                        let frame = close_message(reason).map(|text| CloseFrame {
                            // 1013: the client may try again later, when a viewer has left.
                            code: if reason == CloseReason::StreamFull { close_code::AGAIN } else { close_code::NORMAL },
                            reason: text.into(),
                        });
                        let _ = send_within(&mut sink, Message::Close(frame), limit).await;
                        break;
                    }
                }
            }
        }
        if let Some(peer) = self.peer.take() {
            self.state.media.close(peer);
        }
        self.state.sessions.remove(self.id);
        if linger {
            // The rest of the refused message is still unread: closing the socket now would
            // answer with a TCP reset that can destroy the close frame before the client
            // reads it. Nothing more is read; only the kernel's buffers are held meanwhile.
            tokio::time::sleep(CLOSE_LINGER).await;
        }
        drop((sink, stream));
    }

    async fn handle(
        &mut self,
        text: &str,
        events: &mpsc::UnboundedSender<MediaEvent>,
    ) -> ServerFrame {
        let frame = match CommandFrame::parse(text) {
            Ok(f) => f,
            Err(e) => {
                return ServerFrame::Error {
                    trans_id: e.trans_id.unwrap_or(Value::Null),
                    data: e.message,
                }
            }
        };
        let trans_id = frame.trans_id.clone();
        let result = match (frame.name.as_str(), self.role) {
            ("publish", TokenType::Publish) => self.publish(&frame, events).await,
            ("view", TokenType::Subscribe) => self.view(&frame, events).await,
            ("publish", _) | ("view", _) => Err(format!(
                "Command {} is not allowed with this token",
                frame.name
            )),
            ("record", TokenType::Publish) => self.record(true).await,
            ("unrecord", TokenType::Publish) => self.record(false).await,
            ("project" | "unproject" | "select", TokenType::Subscribe) => {
                self.viewer_request(&frame).await
            }
            ("project" | "unproject" | "select" | "record" | "unrecord", _) => Err(format!(
                "Command {} is not allowed with this token",
                frame.name
            )),
            (other, _) => Err(format!(
                "Unknown command: {}",
                other.chars().take(64).collect::<String>()
            )),
        };
        match result {
            Ok(data) => ServerFrame::Response { trans_id, data },
            Err(data) => ServerFrame::Error { trans_id, data },
        }
    }

    async fn publish(
        &mut self,
        frame: &CommandFrame,
        events: &mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<Value, String> {
        let cmd: PublishCommand = frame.data_as()?;
        if self.peer.is_some() {
            return Err("This connection already publishes; open a new one".into());
        }
        let grant = &self.claims.millicast;
        if cmd.name != grant.stream_name {
            return Err("StreamName is not valid for token".into());
        }
        let source = cmd.source_id.filter(|s| !s.is_empty());
        // A JWT bound to a source publishes that source and nothing else: leaving `sourceId`
        // out (the main source) is a mismatch too, or a room speaker could publish as the
        // room's main source, beyond the reach of demote and kick.
        if let Some(only) = &grant.source_id {
            if source.as_ref() != Some(only) {
                return Err("sourceId is not valid for token".into());
            }
        }
        if let Some(s) = &source {
            if !grant.multisource {
                return Err("Token does not allow multisource (sourceId)".into());
            }
            crate::policy::access::validate_source_id(s)?;
        }
        let record = cmd.record == Some(true);
        if record && !self.claims.millicast.record {
            return Err(NOT_RECORDABLE.into());
        }
        let params = PublishParams {
            stream: cmd.name.clone(),
            source: source.clone(),
            offer: cmd.sdp,
            codec: cmd.codec,
            priority: cmd.priority,
        };
        // In a cluster every publisher of a stream is on its origin, so multisource works
        // across nodes; a publisher elsewhere goes back through the Director.
        crate::cluster::admit_publisher_here(&self.state, &cmd.name).await?;
        self.wanted = cmd.events;
        self.start_pending()?;
        let reply = self.state.media.publish(params, events.clone()).await;
        self.source = source.clone();
        let accepted = self.accepted(reply, source)?;
        // A speaker of a room being recorded for its replay.
        let replays = &self.state.replays;
        replays.published(
            &self.state,
            &cmd.name,
            self.source.as_deref(),
            accepted.peer,
        );
        if record {
            // The publication stands whatever happens to its recording (the client hears).
            let _ = self.record(true).await;
        }
        let response = PublishResponse {
            sdp: accepted.answer,
            publisher_id: accepted.peer.to_string(),
            cluster_id: self
                .state
                .cluster
                .as_ref()
                .map_or_else(|| "local".into(), |c| c.node().to_owned()),
            feed_id: accepted.peer.0,
            stream_id: self.stream_id(),
            uuid: format!("feeds://{}/{}", self.stream_id(), accepted.peer),
        };
        Ok(serde_json::to_value(response).expect("response serialises"))
    }

    /// `record` / `unrecord`: starts or stops recording this connection's publication.
    async fn record(&mut self, on: bool) -> Result<Value, String> {
        if !self.claims.millicast.record {
            return Err(NOT_RECORDABLE.into());
        }
        let Some(peer) = self.peer else {
            return Err("Not publishing yet".into());
        };
        let recordings = &self.state.recordings;
        if !on {
            recordings.stop(&self.state.media, peer);
            return Ok(Value::Object(Default::default()));
        }
        let grant = &self.claims.millicast;
        let source = self.source.clone();
        recordings
            .record(
                &self.state.media,
                peer,
                &grant.stream_name,
                source.as_deref(),
                Some(self.notices.clone()),
            )
            .await?;
        Ok(Value::Object(Default::default()))
    }

    async fn view(
        &mut self,
        frame: &CommandFrame,
        events: &mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<Value, String> {
        let cmd: ViewCommand = frame.data_as()?;
        if self.peer.is_some() {
            return Err("This connection already views; open a new one".into());
        }
        if cmd.stream_id != self.claims.millicast.stream_name {
            return Err("StreamName is not valid for token".into());
        }
        let pinned = cmd.pinned_source_id.filter(|s| !s.is_empty());
        if let Some(s) = &pinned {
            crate::policy::access::validate_source_id(s)?;
        }
        let excluded = cmd.excluded_source_ids.unwrap_or_default();
        if excluded.len() > MAX_SLOTS * 16 {
            return Err("Too many excludedSourceIds".into());
        }
        // `vad: true` takes every extra audio m-line; `multiplexedAudioTracks` caps the count.
        let max_slots = match (cmd.vad, cmd.multiplexed_audio_tracks) {
            (_, Some(n)) => n.min(MAX_SLOTS),
            (Some(true), None) => MAX_SLOTS,
            _ => 0,
        };
        let initial_layer = cmd
            .layer
            .map(crate::viewer_requests::layer)
            .transpose()?
            .flatten();
        let params = ViewParams {
            stream: cmd.stream_id.clone(),
            pinned,
            offer: cmd.sdp,
            excluded,
            max_slots,
        };
        self.wanted = cmd.events;
        self.start_pending()?;
        let reply = self.state.media.view(params, events.clone()).await;
        let accepted = self.accepted(reply, None)?;
        if let Some(layer) = initial_layer {
            // `layer` in `view`: the main video's first choice, as a `select` would make it.
            let request = crate::media_handle::ViewerRequest::Select(Some(layer));
            let _ = self
                .state
                .media
                .viewer_request(accepted.peer, request)
                .await;
        }
        let response = ViewResponse {
            sdp: accepted.answer,
            subscriber_id: accepted.peer.to_string(),
            cluster_id: self
                .state
                .cluster
                .as_ref()
                .map_or_else(|| "local".into(), |c| c.node().to_owned()),
            stream_view_id: accepted.peer.to_string(),
            stream_id: self.stream_id(),
        };
        Ok(serde_json::to_value(response).expect("response serialises"))
    }

    /// `project`, `unproject` or `select` of this connection's view.
    async fn viewer_request(&mut self, frame: &CommandFrame) -> Result<Value, String> {
        use crate::viewer_requests as requests;
        let request = match frame.name.as_str() {
            "project" => requests::project(frame.data_as()?)?,
            "unproject" => requests::unproject(frame.data_as()?)?,
            _ => requests::select(frame.data_as()?)?,
        };
        let Some(peer) = self.peer else {
            return Err("Not viewing yet".into());
        };
        match self.state.media.viewer_request(peer, request).await {
            Ok(Ok(())) => Ok(Value::Object(Default::default())),
            Ok(Err(e)) => Err(e.to_string()),
            Err(WorkerGone) => Err("The media server is shutting down".into()),
        }
    }

    fn start_pending(&self) -> Result<(), String> {
        self.state
            .sessions
            .start_pending(self.id, self.state.pending_limits)
    }

    /// Records the peer of an accepted publish or view; turns refusals into the error text.
    fn accepted(
        &mut self,
        reply: Result<Result<Accepted, MediaError>, WorkerGone>,
        source: Option<String>,
    ) -> Result<Accepted, String> {
        let refused = |e: String| {
            self.state.sessions.set_media(self.id, MediaState::None);
            e
        };
        let accepted = reply
            .map_err(|_| refused("Server is shutting down".to_string()))?
            .map_err(|e| refused(e.to_string()))?;
        self.peer = Some(accepted.peer);
        self.state.sessions.set_peer(self.id, accepted.peer, source);
        Ok(accepted)
    }

    fn event_frame(&self, event: MediaEvent) -> Option<ServerFrame> {
        let stream_id = self.stream_id();
        let event = match event {
            MediaEvent::SourceActive { source, tracks, .. } => Event::Active(ActiveEvent {
                stream_id,
                source_id: source,
                tracks: tracks
                    .into_iter()
                    .map(|t| TrackInfo {
                        track_id: t.track_id,
                        media: t.kind.as_str().into(),
                    })
                    .collect(),
            }),
            MediaEvent::SourceInactive { source, .. } => Event::Inactive(InactiveEvent {
                stream_id,
                source_id: source,
            }),
            MediaEvent::StreamStopped { .. } => Event::Stopped,
            MediaEvent::SlotChanged { mid, source, .. } => Event::Vad(VadEvent {
                media_id: mid,
                source_id: source,
            }),
            MediaEvent::ViewerCount { count, .. } => {
                Event::ViewerCount(ViewerCountEvent { viewercount: count })
            }
            MediaEvent::PeerClosed { reason, .. } => {
                tracing::debug!(?reason, "peer closed");
                return None;
            }
            MediaEvent::Connected { .. } => {
                self.state
                    .sessions
                    .set_media(self.id, MediaState::Connected);
                return None;
            }
            MediaEvent::Layers {
                mid,
                active,
                inactive,
                ..
            } => Event::Layers(crate::viewer_requests::layers_event(mid, active, inactive)),
            // For the task feeding a local (RTMP) publication; never a signaling session's.
            MediaEvent::KeyframeRequested { .. } => return None,
        };
        let wanted = self
            .wanted
            .as_ref()
            .is_none_or(|w| w.iter().any(|n| n == event.name()));
        wanted.then(|| ServerFrame::event(&event))
    }
}

/// Sends `msg` unless the client has not taken it within `limit`; false if it failed.
async fn send_within(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    msg: Message,
    limit: std::time::Duration,
) -> bool {
    matches!(
        tokio::time::timeout(limit, sink.send(msg)).await,
        Ok(Ok(()))
    )
}

/// What the client is told when its media connection ends on the server's side.
fn close_message(reason: CloseReason) -> Option<&'static str> {
    match reason {
        CloseReason::Requested => None,
        CloseReason::Disconnected => Some("Media connection lost"),
        CloseReason::ConnectTimeout => Some("Media connection not established in time"),
        CloseReason::Failed => Some("Media connection failed"),
        CloseReason::StreamFull => Some("Too many viewers of this stream"),
    }
}

/// Whether a read failed because the peer sent a frame or message over the limit.
fn is_too_big(e: &axum::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|inner| inner.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}
