//! State shared by the HTTP handlers.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use podium_auth::{JwtKeys, MillicastClaims};

use crate::media_handle::MediaHandle;
use crate::policy::access::Access;
use crate::policy::sessions::{EndReason, KickTarget, Sessions};

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Signs and verifies signaling JWTs; replaced when the key ring file changes.
    pub keys: Arc<RwLock<Arc<JwtKeys>>>,
    /// Who may publish or view what.
    pub access: Arc<Access>,
    /// People's accounts, sessions and follows.
    pub accounts: Arc<crate::account::AccountService>,
    /// Rooms being recorded for their replays.
    pub replays: Arc<crate::replays::RoomRecorder>,
    /// Live signaling sessions (kick, revocation).
    pub sessions: Arc<Sessions>,
    /// Live WHIP and WHEP session resources.
    pub whip: Arc<crate::whip::Resources>,
    /// Recordings (the recorder thread, the files).
    pub recordings: Arc<crate::recordings::Recordings>,
    /// RTMP ingest counters.
    pub rtmp: Arc<crate::rtmp::RtmpCounters>,
    /// Admin API secret.
    pub admin_secret: Arc<str>,
    /// Wrong admin secrets, per client.
    pub admin_guard: Arc<crate::policy::admin_guard::AdminGuard>,
    /// Whether revoking an API token ends the sessions it opened.
    pub revoke_ends_sessions: bool,
    /// Account id of every stream.
    pub account_id: String,
    /// JWT lifetime in seconds.
    pub jwt_ttl: u64,
    /// Where HTTP listens (fallback host for URLs).
    pub http_addr: SocketAddr,
    /// The media worker.
    pub media: MediaHandle,
    /// The latest media workers' reading, shared by `/healthz` and `/metrics`.
    pub snapshots: Arc<crate::metrics::SnapshotCache>,
    /// Whether `/metrics` needs the admin secret.
    pub metrics_auth: bool,
    /// socket.io clients that stopped reading.
    pub rooms_overflow: Arc<crate::rooms_server::delivery::Overflow>,
    /// Caps on media connections still being set up.
    pub pending_limits: crate::policy::sessions::PendingLimits,
    /// Open HTTP connections (caps and counts).
    pub connections: crate::policy::connections::Admission,
    /// How long a signaling WebSocket may stay open without sending its first command.
    pub connection_timeout: std::time::Duration,
    /// The cluster this node is part of, if any.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Becomes true when the server shuts down; open signaling sockets then close.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    /// The current keys.
    pub fn keys(&self) -> Arc<JwtKeys> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Ends the sessions of `stream` matching `target` and their media; returns how many.
    /// In a cluster the other nodes end theirs too (a subscriber id names a session of this
    /// node only).
    pub fn kick(&self, stream: &str, target: &KickTarget) -> usize {
        let ended = self.sessions.kick(stream, target);
        self.close_media(&ended.peers);
        if let Some(cluster) = &self.cluster {
            let source = match target {
                KickTarget::Stream => Some(None),
                KickTarget::Source(source) => Some(Some(source.clone())),
                KickTarget::Subscriber(_) => None,
            };
            if let Some(source) = source {
                cluster.order(crate::cluster::broadcast::Order::Kick {
                    from: cluster.order_from(),
                    stream: stream.to_owned(),
                    source,
                });
            }
        }
        ended.count
    }

    /// Ends the sessions (and media) opened under API token or rooms grant `token_id`; in a
    /// cluster, on every node.
    pub fn end_token_sessions(&self, token_id: &str, reason: EndReason) -> usize {
        let count = self.end_token_sessions_here(token_id, reason);
        if let Some(cluster) = &self.cluster {
            cluster.order(crate::cluster::broadcast::Order::EndToken {
                from: cluster.order_from(),
                token_id: token_id.to_owned(),
                grant: reason == EndReason::GrantRevoked,
            });
        }
        count
    }

    /// Ends the sessions (and media) opened under `token_id` on this node only (every node
    /// does so for a rooms decision it receives).
    pub fn end_token_sessions_here(&self, token_id: &str, reason: EndReason) -> usize {
        let ended = self.sessions.end_token_sessions(token_id, reason);
        self.close_media(&ended.peers);
        ended.count
    }

    /// Ends every session (and its media) without banning its JWT; returns how many.
    pub fn end_all_sessions(&self, reason: EndReason) -> usize {
        let ended = self.sessions.end_all(reason);
        self.close_media(&ended.peers);
        ended.count
    }

    fn close_media(&self, peers: &[podium_media::PeerId]) {
        for &peer in peers {
            self.media.close(peer);
        }
    }

    /// Mints a JWT for `grant`, valid from now for the configured lifetime, with a fresh id
    /// (so a kick can ban the JWTs it ends).
    pub fn mint(&self, grant: MillicastClaims) -> String {
        let mut jti = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut jti);
        self.keys()
            .mint(grant, unix_now(), self.jwt_ttl, hex::encode(jti))
    }
}

/// Milliseconds since the Unix epoch: the rooms domain's clock, comparable across the nodes
/// of a cluster (a new rooms authority keeps its predecessor's deadlines).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch (the shell owns the clock).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
