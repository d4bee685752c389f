//! One RTMP connection: handshake, `rml_rtmp`'s server session, the publish request's
//! checks, and the FLV → RTP pipeline feeding a local publication.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use podium_auth::TokenType;
use podium_ingest::pipeline::{Output, Pipeline, PipelineSettings};
use podium_ingest::stream_key::StreamKey;
use podium_media::MediaEvent;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::publication::{MediaClock, OpenFailed, Publication};
use super::{Closed, APP};
use crate::media_handle::PushError;
use crate::policy::access::Requester;
use crate::policy::connections::Permit;
use crate::policy::sessions::{EndReason, MediaState, SessionInfo, NO_JWT};
use crate::state::{unix_now, AppState};

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Serves one connection until it closes; logs why.
pub(super) async fn run(state: AppState, tcp: TcpStream, peer: SocketAddr, permit: Permit) {
    let _ = tcp.set_nodelay(true);
    let mut conn = Connection {
        idle: state.connection_timeout,
        state,
        peer,
        tcp,
        session: None,
        publishing: None,
        _permit: permit,
    };
    let result = conn.drive().await;
    let ingest = conn.publishing.as_ref().map(|p| p.key.stream.clone());
    match &result {
        Err(Closed::Refused(why)) => {
            tracing::info!(%peer, stream = ?ingest, "RTMP publish refused: {why}")
        }
        Err(e) => tracing::info!(%peer, stream = ?ingest, "RTMP connection closed: {e}"),
        Ok(()) => tracing::debug!(%peer, stream = ?ingest, "RTMP connection ended"),
    }
    conn.state.rtmp.closed(&result);
    conn.finish();
}

/// A connection that is publishing.
struct Publishing {
    key: StreamKey,
    session: u64,
    ended: oneshot::Receiver<EndReason>,
    pipeline: Pipeline,
    publication: Option<Publication>,
    clock: MediaClock,
    last_media: Instant,
}

struct Connection {
    state: AppState,
    peer: SocketAddr,
    tcp: TcpStream,
    session: Option<ServerSession>,
    publishing: Option<Publishing>,
    idle: Duration,
    _permit: Permit,
}

/// What woke the connection.
enum Wake {
    Stop,
    /// Kicked or revoked (`None`: the session was forgotten).
    Ended(Option<EndReason>),
    Event(Option<MediaEvent>),
    Read(std::io::Result<usize>),
    Timer,
}

impl Connection {
    async fn drive(&mut self) -> Result<(), Closed> {
        let leftover = self.handshake().await?;
        let (session, results) = ServerSession::new(ServerSessionConfig::new())
            .map_err(|e| Closed::Protocol(format!("session: {e}")))?;
        self.session = Some(session);
        self.apply(results).await?;
        self.input(&leftover).await?;
        let connected_at = Instant::now();
        let mut last_read = connected_at;
        let mut buf = vec![0u8; READ_CHUNK];
        let mut stop = self.state.shutdown.clone();
        loop {
            let now = Instant::now();
            let mut deadline = last_read + self.idle;
            match &self.publishing {
                None => deadline = deadline.min(connected_at + self.idle),
                Some(p) => {
                    deadline = deadline.min(p.last_media + self.idle);
                    if let Some(t) = p.pipeline.poll_timeout() {
                        deadline = deadline.min(t);
                    }
                }
            }
            let (ended, events) = match self.publishing.as_mut() {
                Some(p) => (
                    Some(&mut p.ended),
                    p.publication.as_mut().map(|x| &mut x.events),
                ),
                None => (None, None),
            };
            let wake = tokio::select! {
                biased;
                _ = async { let _ = stop.wait_for(|s| *s).await; } => Wake::Stop,
                r = maybe(ended) => Wake::Ended(r),
                e = maybe_recv(events) => Wake::Event(e),
                r = self.tcp.read(&mut buf) => Wake::Read(r),
                _ = tokio::time::sleep_until(deadline.into()) => Wake::Timer,
            };
            match wake {
                Wake::Stop => return Err(Closed::Shutdown),
                Wake::Ended(reason) => {
                    return Err(Closed::Ended(
                        reason.map_or("session ended", EndReason::message),
                    ))
                }
                Wake::Event(event) => self.media_event(event)?,
                Wake::Read(Ok(0)) => return Ok(()),
                Wake::Read(Ok(n)) => {
                    last_read = Instant::now();
                    self.input(&buf[..n]).await?;
                }
                Wake::Read(Err(e)) => return Err(Closed::Io(e.to_string())),
                Wake::Timer => self.timer(now, connected_at, last_read).await?,
            }
        }
    }

    async fn timer(
        &mut self,
        now: Instant,
        connected_at: Instant,
        last_read: Instant,
    ) -> Result<(), Closed> {
        if now >= last_read + self.idle {
            return Err(Closed::Timeout("nothing received"));
        }
        let Some(p) = self.publishing.as_mut() else {
            if now >= connected_at + self.idle {
                return Err(Closed::Timeout("no publish request"));
            }
            return Ok(());
        };
        if now >= p.last_media + self.idle {
            return Err(Closed::Timeout("no audio or video"));
        }
        p.pipeline.handle_timeout(now);
        self.drain_pipeline().await
    }

    /// The RTMP handshake (C0–C2 / S0–S2); returns bytes that came after it.
    async fn handshake(&mut self) -> Result<Vec<u8>, Closed> {
        let mut handshake = Handshake::new(PeerType::Server);
        let deadline = tokio::time::Instant::now() + self.idle;
        let mut buf = vec![0u8; 4096];
        let mut first = true;
        loop {
            let n = tokio::time::timeout_at(deadline, self.tcp.read(&mut buf))
                .await
                .map_err(|_| Closed::Timeout("handshake not completed"))?
                .map_err(|e| Closed::Io(e.to_string()))?;
            if n == 0 {
                return Err(Closed::Protocol("closed during the handshake".into()));
            }
            // C0 is the version, 3; rml_rtmp would wait for all of C1 before saying so. (6 is
            // encrypted RTMPE, and an HTTP request starts with a letter.)
            if first && buf[0] != 3 {
                return Err(Closed::Protocol(format!(
                    "not plain RTMP (handshake version {}, expected 3)",
                    buf[0]
                )));
            }
            first = false;
            let step = handshake
                .process_bytes(&buf[..n])
                .map_err(|e| Closed::Protocol(format!("invalid handshake: {e:?}")))?;
            match step {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    self.write(&response_bytes).await?;
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    self.write(&response_bytes).await?;
                    return Ok(remaining_bytes);
                }
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Closed> {
        if bytes.is_empty() {
            return Ok(());
        }
        tokio::time::timeout(self.idle, self.tcp.write_all(bytes))
            .await
            .map_err(|_| Closed::Timeout("the client does not read"))?
            .map_err(|e| Closed::Io(e.to_string()))
    }

    /// Bytes of the chunk stream.
    async fn input(&mut self, bytes: &[u8]) -> Result<(), Closed> {
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let results = session_input(session, bytes).map_err(Closed::Protocol)?;
        self.apply(results).await
    }

    /// Sends the session's responses in order and handles its events.
    async fn apply(&mut self, results: Vec<ServerSessionResult>) -> Result<(), Closed> {
        let mut out = Vec::new();
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => out.extend(packet.bytes),
                ServerSessionResult::RaisedEvent(event) => {
                    let more = self.event(event).await?;
                    for r in more {
                        if let ServerSessionResult::OutboundResponse(packet) = r {
                            out.extend(packet.bytes);
                        }
                    }
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        self.write(&out).await?;
        self.drain_pipeline().await
    }

    fn session(&mut self) -> &mut ServerSession {
        self.session
            .as_mut()
            .expect("the session exists after the handshake")
    }

    fn accept(&mut self, request_id: u32) -> Result<Vec<ServerSessionResult>, Closed> {
        self.session()
            .accept_request(request_id)
            .map_err(|e| Closed::Protocol(format!("accepting a request: {e}")))
    }

    /// Refuses a request: the client gets the error status, then the connection closes.
    async fn refuse(&mut self, request_id: u32, code: &str, why: String) -> Closed {
        if let Ok(results) = self.session().reject_request(request_id, code, &why) {
            let mut out = Vec::new();
            for r in results {
                if let ServerSessionResult::OutboundResponse(p) = r {
                    out.extend(p.bytes);
                }
            }
            let _ = self.write(&out).await;
        }
        Closed::Refused(why)
    }

    async fn event(
        &mut self,
        event: ServerSessionEvent,
    ) -> Result<Vec<ServerSessionResult>, Closed> {
        let now = Instant::now();
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                if app_name.trim_matches('/') != APP {
                    let why = format!(
                        "unknown application {app_name:?}: publish to rtmp://HOST:PORT/{APP}"
                    );
                    return Err(self
                        .refuse(request_id, "NetConnection.Connect.Rejected", why)
                        .await);
                }
                self.accept(request_id)
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                stream_key,
                ..
            } => {
                if self.publishing.is_some() {
                    let why = "one publication per connection".to_owned();
                    return Err(self
                        .refuse(request_id, "NetStream.Publish.BadName", why)
                        .await);
                }
                match self.admit(&stream_key, now) {
                    Ok(publishing) => {
                        self.publishing = Some(publishing);
                        self.state.rtmp.publishing();
                        self.accept(request_id)
                    }
                    Err(why) => Err(self
                        .refuse(request_id, "NetStream.Publish.BadName", why)
                        .await),
                }
            }
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                let why =
                    "Podium does not play over RTMP: use WHEP or the Millicast protocol".to_owned();
                Err(self.refuse(request_id, "NetStream.Play.Failed", why).await)
            }
            ServerSessionEvent::PublishStreamFinished { .. } => Err(Closed::Unpublished),
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                if let Some(p) = self.publishing.as_mut() {
                    p.pipeline
                        .metadata(now, metadata.video_codec_id, metadata.audio_codec_id);
                }
                Ok(Vec::new())
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                self.media(now, |p| p.video(now, timestamp.value, &data))?;
                Ok(Vec::new())
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                self.media(now, |p| p.audio(now, timestamp.value, &data))?;
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Feeds a media tag; a fatal error closes the connection, others are counted.
    fn media(
        &mut self,
        now: Instant,
        feed: impl FnOnce(&mut Pipeline) -> Result<(), podium_ingest::IngestError>,
    ) -> Result<(), Closed> {
        let Some(p) = self.publishing.as_mut() else {
            return Ok(());
        };
        p.last_media = now;
        match feed(&mut p.pipeline) {
            Ok(()) => Ok(()),
            Err(e) if e.is_fatal() => Err(Closed::Media(e.to_string())),
            Err(e) => {
                self.state.rtmp.media_error();
                tracing::debug!(peer = %self.peer, stream = %p.key.stream, "RTMP media: {e}");
                Ok(())
            }
        }
    }

    /// Checks a publish request: the stream key, the API token (the Director's checks), the
    /// session registry. Returns what the connection publishes.
    fn admit(&mut self, stream_key: &str, now: Instant) -> Result<Publishing, String> {
        let key = StreamKey::parse(stream_key).map_err(|e| e.to_string())?;
        let refusal = |r: crate::policy::Refusal| r.1;
        let ip = self.peer.ip();
        let access = &self.state.access;
        access.check_ip_rate(ip, now).map_err(refusal)?;
        crate::director::validate_stream_name(&key.stream).map_err(refusal)?;
        let who = Requester {
            bearer: key.token.as_deref(),
            origin: None,
            ip,
            now: unix_now(),
            at: now,
        };
        let auth = access
            .authorize_publish_source(&who, &key.stream, key.source_id.as_deref())
            .map_err(refusal)?;
        if key.record && !auth.record {
            return Err("Token does not allow recording".into());
        }
        let (session, ended) = self.state.sessions.register(SessionInfo {
            stream: key.stream.clone(),
            role: TokenType::Publish,
            source: key.source_id.clone(),
            peer: None,
            jti: format!("rtmp-{}", random_hex(8)),
            jwt_exp: NO_JWT,
            token_id: auth.token_id.clone(),
            client_ip: ip,
            media: MediaState::Pending,
        });
        // A revocation between the checks and the registration would have found nothing.
        if let Err(r) =
            access.admit_session(TokenType::Publish, &key.stream, auth.token_id.as_deref())
        {
            self.state.sessions.remove(session);
            return Err(r.1);
        }
        let mut bases = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bases);
        let video_base = u32::from_be_bytes([bases[0], bases[1], bases[2], bases[3]]);
        let audio_base = u32::from_be_bytes([bases[4], bases[5], bases[6], bases[7]]);
        Ok(Publishing {
            key,
            session,
            ended,
            pipeline: Pipeline::new(video_base, audio_base, PipelineSettings::default()),
            publication: None,
            clock: MediaClock::default(),
            last_media: now,
        })
    }

    /// Carries out what the pipeline produced: (re)publishing, packets to the worker.
    async fn drain_pipeline(&mut self) -> Result<(), Closed> {
        let Some(p) = self.publishing.as_mut() else {
            return Ok(());
        };
        while let Some(output) = p.pipeline.poll_output() {
            match output {
                Output::Publish(tracks) => {
                    let source = p.key.source_id.clone();
                    crate::cluster::admit_publisher_here(&self.state, &p.key.stream)
                        .await
                        .map_err(Closed::Refused)?;
                    let opened = Publication::open(
                        &self.state.media,
                        &p.key.stream,
                        source,
                        p.key.priority,
                        tracks,
                    )
                    .await
                    .map_err(|OpenFailed(why)| Closed::Refused(why))?;
                    if p.key.record {
                        // A republished source is recorded on into a new file.
                        let recording = self
                            .state
                            .recordings
                            .record(
                                &self.state.media,
                                opened.peer,
                                &p.key.stream,
                                p.key.source_id.as_deref(),
                                None,
                            )
                            .await;
                        if let Err(e) = recording {
                            tracing::warn!(stream = %p.key.stream, error = %e, "RTMP recording did not start");
                        }
                    }
                    // The new publication replaces the old one seamlessly for viewers.
                    if let Some(old) = p.publication.replace(opened) {
                        self.state.media.close(old.peer);
                    }
                    let peer = p.publication.as_ref().map(|x| x.peer);
                    if let Some(peer) = peer {
                        self.state
                            .sessions
                            .set_peer(p.session, peer, p.key.source_id.clone());
                        self.state
                            .sessions
                            .set_media(p.session, MediaState::Connected);
                    }
                    tracing::info!(
                        peer = %self.peer, stream = %p.key.stream, source = ?p.key.source_id,
                        audio = tracks.audio, video = ?tracks.video.map(|v| format!("{v:06x}")),
                        "RTMP publishing"
                    );
                }
                Output::Media(packet) => {
                    let Some(publication) = p.publication.as_ref() else {
                        continue;
                    };
                    let captured = p.clock.captured(Instant::now(), packet.pts_ms);
                    match publication.push(&self.state.media, packet, captured) {
                        Ok(()) | Err(PushError::Full) => {}
                        Err(PushError::Gone) => return Err(Closed::Shutdown),
                    }
                }
            }
        }
        Ok(())
    }

    fn media_event(&mut self, event: Option<MediaEvent>) -> Result<(), Closed> {
        let Some(p) = self.publishing.as_mut() else {
            return Ok(());
        };
        match event {
            Some(MediaEvent::KeyframeRequested { .. }) => p.pipeline.request_keyframe(),
            Some(MediaEvent::PeerClosed { .. }) | None => {
                // Closed by the server (kick, limits): nothing left to publish to.
                p.publication = None;
                return Err(Closed::Ended("the publication was closed"));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Ends the publication and forgets the session.
    fn finish(&mut self) {
        if let Some(p) = self.publishing.take() {
            if let Some(publication) = p.publication {
                self.state.media.close(publication.peer);
            }
            self.state.sessions.remove(p.session);
        }
    }
}

/// Feeds chunk-stream bytes to `session`. rml_rtmp's chunk parser has arithmetic that hostile
/// input can overflow (and asserts); a panic there is this connection's malformed input, so it
/// becomes an error like any other, never a crashed task.
pub fn session_input(
    session: &mut ServerSession,
    bytes: &[u8],
) -> Result<Vec<ServerSessionResult>, String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| session.handle_input(bytes)))
        .map_err(|_| "malformed RTMP chunk stream".to_owned())?
        .map_err(|e| format!("invalid RTMP message: {e}"))
}

async fn maybe<T>(rx: Option<&mut oneshot::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.await.ok(),
        None => std::future::pending().await,
    }
}

async fn maybe_recv<T>(rx: Option<&mut tokio::sync::mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut buf);
    hex::encode(buf)
}
