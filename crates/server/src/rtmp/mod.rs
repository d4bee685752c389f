//! RTMP ingest for broadcasters' encoders (OBS, ffmpeg, hardware encoders).
//!
//! A publisher connects to `rtmp://HOST:1935/live` and publishes the stream key
//! `STREAM?token=TOKEN[&sourceId=ID][&priority=N]` (so ffmpeg's
//! `rtmp://HOST:1935/live/STREAM?token=…` works too). The token is a publish API token with
//! the Director's checks ([`crate::policy::access`]); the publication is a local publication
//! of the media workers, seen by WebRTC viewers like any other source.
//!
//! The shell here only moves bytes: `rml_rtmp` does the handshake and the chunk stream,
//! `podium_ingest` turns FLV tags into RTP payloads (H.264 repacketized, AAC transcoded to
//! Opus), the media workers forward them. A connection is refused or closed with a logged
//! reason (and, for a refused `connect` or `publish`, an RTMP error status the encoder shows)
//! on a bad key or token, an unsupported codec, malformed input, or silence (no bytes for
//! `--connection-timeout`, default 10 s; no audio or video for as long after `publish`).

mod connection;
mod publication;

pub use connection::session_input;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::AppState;

/// The RTMP application name publishers use (`rtmp://HOST:1935/live`).
pub const APP: &str = "live";

/// How long connections get to close when the server stops.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Why a connection ended (logged, counted).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Closed {
    /// A `connect` or `publish` was refused (bad key, token, stream, …).
    #[error("{0}")]
    Refused(String),
    /// Malformed handshake or chunk stream.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An unsupported codec or undecodable stream.
    #[error("{0}")]
    Media(String),
    /// Silence.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The socket failed.
    #[error("connection error: {0}")]
    Io(String),
    /// The publisher stopped publishing.
    #[error("unpublished")]
    Unpublished,
    /// Kicked, revoked or closed by the server.
    #[error("ended: {0}")]
    Ended(&'static str),
    /// The server is stopping.
    #[error("server shutting down")]
    Shutdown,
}

/// RTMP counters for `/metrics`.
#[derive(Debug, Default)]
pub struct RtmpCounters {
    accepted: AtomicU64,
    refused_connections: AtomicU64,
    publishing: AtomicU64,
    refused_publishes: AtomicU64,
    media_errors: AtomicU64,
    fatal_errors: AtomicU64,
    timeouts: AtomicU64,
    live: AtomicU64,
}

/// A reading of [`RtmpCounters`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RtmpStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused by the connection caps.
    pub refused_connections: u64,
    /// Publish requests accepted.
    pub publishes: u64,
    /// Connections refused (`connect` or `publish`: key, token, stream).
    pub refused_publishes: u64,
    /// Media tags dropped or replaced (counted, not fatal).
    pub media_errors: u64,
    /// Connections closed for malformed input or an unsupported codec.
    pub fatal_errors: u64,
    /// Connections closed for silence.
    pub timeouts: u64,
    /// Connections open now.
    pub open: u64,
}

impl RtmpCounters {
    fn opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.live.fetch_add(1, Ordering::Relaxed);
    }

    fn publishing(&self) {
        self.publishing.fetch_add(1, Ordering::Relaxed);
    }

    fn media_error(&self) {
        self.media_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn closed(&self, how: &Result<(), Closed>) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        let counter = match how {
            Err(Closed::Refused(_)) => &self.refused_publishes,
            Err(Closed::Protocol(_) | Closed::Media(_)) => &self.fatal_errors,
            Err(Closed::Timeout(_)) => &self.timeouts,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn read(&self) -> RtmpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RtmpStats {
            accepted: get(&self.accepted),
            refused_connections: get(&self.refused_connections),
            publishes: get(&self.publishing),
            refused_publishes: get(&self.refused_publishes),
            media_errors: get(&self.media_errors),
            fatal_errors: get(&self.fatal_errors),
            timeouts: get(&self.timeouts),
            open: get(&self.live),
        }
    }
}

/// Accepts RTMP connections until the server stops. Each takes a place in the connection
/// caps (`--max-connections-per-ip`, `--max-connections`) like an HTTP connection.
pub async fn serve(listener: TcpListener, state: AppState, mut stop: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match state.connections.admit(peer.ip()) {
                    Ok(permit) => {
                        state.rtmp.opened();
                        conns.spawn(connection::run(state.clone(), tcp, peer, permit));
                    }
                    Err(why) => {
                        state.rtmp.refused_connections.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, ?why, "RTMP connection refused");
                    }
                },
                Err(e) => {
                    tracing::debug!(error = %e, "RTMP accept failed");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_LIMIT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}
