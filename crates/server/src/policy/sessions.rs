//! Live signaling sessions, so an admin can end them (kick, token revocation) and a kicked
//! client cannot come back with the JWT it used.

use std::collections::HashMap;
use std::sync::Mutex;

use podium_auth::TokenType;
use podium_media::PeerId;
use tokio::sync::oneshot;

/// Why a session is being ended by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// An admin kicked it.
    Kicked,
    /// The API token that authorised it was revoked.
    TokenRevoked,
    /// The rooms server revoked the grant behind it (demoted, kicked, left the room).
    GrantRevoked,
}

impl EndReason {
    /// The close reason sent to the client.
    pub fn message(self) -> &'static str {
        match self {
            Self::Kicked => "Kicked",
            Self::TokenRevoked => "Token revoked",
            Self::GrantRevoked => "No longer allowed in this room",
        }
    }
}

/// What is known of a session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Stream name.
    pub stream: String,
    /// Publish or view.
    pub role: TokenType,
    /// Published sourceId, once publishing.
    pub source: Option<String>,
    /// The media peer, once publishing or viewing.
    pub peer: Option<PeerId>,
    /// The JWT's id.
    pub jti: String,
    /// The JWT's expiry (unix seconds), to forget its ban once it cannot be used anyway.
    pub jwt_exp: u64,
    /// The API token behind the JWT.
    pub token_id: Option<String>,
    /// For a view: the identity the JWT was bound to (the rooms server's user id).
    pub viewer: Option<String>,
}

/// Which sessions a kick targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KickTarget {
    /// The publication(s) of a source (`None` = the main source).
    Source(Option<String>),
    /// One viewer, by the `subscriberId` of its `view` reply.
    Subscriber(PeerId),
    /// The views opened with JWTs bound to this viewer identity.
    Viewer(String),
    /// Everyone on the stream.
    Stream,
}

struct Entry {
    info: SessionInfo,
    end: Option<oneshot::Sender<EndReason>>,
}

/// The registry.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    live: HashMap<u64, Entry>,
    /// JWT ids that may not open a connection again, with their expiry.
    banned: HashMap<String, u64>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a session; the receiver fires when the server ends it.
    pub fn register(&self, info: SessionInfo) -> (u64, oneshot::Receiver<EndReason>) {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.live.insert(
            id,
            Entry {
                info,
                end: Some(tx),
            },
        );
        (id, rx)
    }

    /// Records what the session publishes or views.
    pub fn set_peer(&self, id: u64, peer: PeerId, source: Option<String>) {
        if let Some(e) = self.lock().live.get_mut(&id) {
            e.info.peer = Some(peer);
            e.info.source = source;
        }
    }

    /// Forgets a session that ended.
    pub fn remove(&self, id: u64) {
        self.lock().live.remove(&id);
    }

    /// Whether a JWT id was banned by a kick (and has not expired since).
    pub fn is_banned(&self, jti: &str, now: u64) -> bool {
        let mut inner = self.lock();
        inner.banned.retain(|_, exp| *exp > now);
        inner.banned.contains_key(jti)
    }

    /// Refuses a JWT that has not been used yet (or again), until it expires.
    pub fn ban(&self, jti: String, exp: u64) {
        self.lock().banned.insert(jti, exp);
    }

    /// Ends the sessions of `stream` matching `target`, bans their JWTs; returns how many.
    pub fn kick(&self, stream: &str, target: &KickTarget) -> usize {
        self.end_where(EndReason::Kicked, |info| {
            info.stream == stream
                && match target {
                    KickTarget::Stream => true,
                    KickTarget::Source(source) => {
                        info.role == TokenType::Publish
                            && info.peer.is_some()
                            && &info.source == source
                    }
                    KickTarget::Subscriber(peer) => {
                        info.role == TokenType::Subscribe && info.peer == Some(*peer)
                    }
                    KickTarget::Viewer(v) => {
                        info.role == TokenType::Subscribe && info.viewer.as_ref() == Some(v)
                    }
                }
        })
    }

    /// Ends the sessions opened with JWTs from API token (or rooms grant) `token_id`, for
    /// `reason`; returns how many.
    pub fn end_token_sessions(&self, token_id: &str, reason: EndReason) -> usize {
        self.end_where(reason, |info| info.token_id.as_deref() == Some(token_id))
    }

    /// Snapshot of the live sessions.
    pub fn list(&self) -> Vec<SessionInfo> {
        self.lock().live.values().map(|e| e.info.clone()).collect()
    }

    fn end_where(&self, reason: EndReason, matches: impl Fn(&SessionInfo) -> bool) -> usize {
        let mut inner = self.lock();
        let mut bans = Vec::new();
        let mut ended = 0;
        for entry in inner.live.values_mut().filter(|e| matches(&e.info)) {
            if let Some(end) = entry.end.take() {
                let _ = end.send(reason);
                ended += 1;
            }
            bans.push((entry.info.jti.clone(), entry.info.jwt_exp));
        }
        inner.banned.extend(bans);
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(
        stream: &str,
        role: TokenType,
        source: Option<&str>,
        peer: u64,
        jti: &str,
    ) -> SessionInfo {
        SessionInfo {
            stream: stream.into(),
            role,
            source: source.map(Into::into),
            peer: Some(PeerId(peer)),
            jti: jti.into(),
            jwt_exp: 100,
            token_id: Some("tok_a".into()),
            viewer: None,
        }
    }

    #[test]
    fn kick_ends_matching_sessions_and_bans_their_jwts_until_expiry() {
        let s = Sessions::default();
        let (_, mut guest) = s.register(info("room", TokenType::Publish, Some("guest"), 1, "j1"));
        let (_, mut main) = s.register(info("room", TokenType::Publish, None, 2, "j2"));
        let (_, mut viewer) = s.register(info("room", TokenType::Subscribe, None, 3, "j3"));
        assert_eq!(s.kick("room", &KickTarget::Source(Some("guest".into()))), 1);
        assert_eq!(guest.try_recv(), Ok(EndReason::Kicked));
        assert!(main.try_recv().is_err() && viewer.try_recv().is_err());
        assert!(s.is_banned("j1", 50) && !s.is_banned("j2", 50));
        assert!(!s.is_banned("j1", 100), "forgotten once the JWT expired");
        assert_eq!(s.kick("room", &KickTarget::Subscriber(PeerId(3))), 1);
        assert_eq!(s.kick("other", &KickTarget::Stream), 0);
        assert_eq!(
            s.end_token_sessions("tok_a", EndReason::TokenRevoked),
            1,
            "only main is still live"
        );
        assert_eq!(main.try_recv(), Ok(EndReason::TokenRevoked));
    }
}
