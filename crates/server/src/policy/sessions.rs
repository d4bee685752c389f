//! Live signaling sessions, so an admin can end them (kick, token revocation) and a kicked
//! client cannot come back with the JWT it used.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use podium_auth::TokenType;
use podium_media::PeerId;
use tokio::sync::oneshot;

use crate::policy::connections::client_key;

/// Why a session is being ended by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// An admin kicked it.
    Kicked,
    /// The API token that authorised it was revoked.
    TokenRevoked,
    /// The rooms server revoked the grant behind it (demoted, kicked, left the room).
    GrantRevoked,
    /// This node of a cluster is being drained: the client reconnects through the Director.
    Draining,
}

impl EndReason {
    /// The close reason sent to the client.
    pub fn message(self) -> &'static str {
        match self {
            Self::Kicked => "Kicked",
            Self::TokenRevoked => "Token revoked",
            Self::GrantRevoked => "No longer allowed in this room",
            Self::Draining => "This node is draining: reconnect",
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
    /// The JWT's expiry (unix seconds), to forget its ban once it cannot be used anyway;
    /// [`NO_JWT`] for a session opened without one (WHIP, WHEP): nothing to ban.
    pub jwt_exp: u64,
    /// The API token behind the JWT.
    pub token_id: Option<String>,
    /// The client's address (behind trusted proxies: the forwarded one).
    pub client_ip: IpAddr,
    /// Where its media connection stands.
    pub media: MediaState,
}

/// The `jwt_exp` of a session opened without a JWT (WHIP, WHEP): a kick bans nothing.
pub const NO_JWT: u64 = 0;

/// Where a session's media connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaState {
    /// No publish or view yet (or it was refused).
    #[default]
    None,
    /// Accepted (or being accepted), ICE/DTLS not up yet.
    Pending,
    /// Up.
    Connected,
}

/// Caps on media connections still being set up: one JWT, or one client address, cannot
/// hold many peers that never connect (each costs a WebRTC stack until it times out).
#[derive(Debug, Clone, Copy)]
pub struct PendingLimits {
    /// Per JWT.
    pub per_token: usize,
    /// Per client address (IPv6: /64).
    pub per_ip: usize,
}

/// Sessions a kick or revocation ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ended {
    /// How many.
    pub count: usize,
    /// Their media peers, which the caller closes at once: a session whose client stopped
    /// reading may take a while to notice it was ended, and its media must not flow meanwhile.
    pub peers: Vec<PeerId>,
}

/// Which sessions a kick targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KickTarget {
    /// The publication(s) of a source (`None` = the main source).
    Source(Option<String>),
    /// One viewer, by the `subscriberId` of its `view` reply.
    Subscriber(PeerId),
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
    /// Sessions whose media is pending, per JWT id and per client.
    pending_by_token: HashMap<String, usize>,
    pending_by_ip: HashMap<IpAddr, usize>,
}

impl Inner {
    /// Moves a session's media state, keeping the pending counts (entries at zero are
    /// removed, so the maps only hold clients with something pending).
    fn set_media(&mut self, id: u64, state: MediaState) {
        let Some(e) = self.live.get_mut(&id) else {
            return;
        };
        let was = std::mem::replace(&mut e.info.media, state);
        let (jti, ip) = (e.info.jti.clone(), client_key(e.info.client_ip));
        if was == MediaState::Pending && state != MediaState::Pending {
            decrement(&mut self.pending_by_token, jti);
            decrement(&mut self.pending_by_ip, ip);
        } else if was != MediaState::Pending && state == MediaState::Pending {
            *self.pending_by_token.entry(jti).or_default() += 1;
            *self.pending_by_ip.entry(ip).or_default() += 1;
        }
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
        }
    }
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

    /// Marks a session as setting up media, unless its JWT or its client address already
    /// has as many pending as `limits` allow; the refusal is the message for the client.
    pub fn start_pending(&self, id: u64, limits: PendingLimits) -> Result<(), String> {
        let mut inner = self.lock();
        let Some(me) = inner.live.get(&id).map(|e| &e.info) else {
            return Err("Session ended".into());
        };
        if me.media == MediaState::Pending {
            return Ok(());
        }
        let by_token = inner.pending_by_token.get(&me.jti).copied().unwrap_or(0);
        let by_ip = inner
            .pending_by_ip
            .get(&client_key(me.client_ip))
            .copied()
            .unwrap_or(0);
        if by_token >= limits.per_token {
            return Err(format!(
                "Too many connections being set up with this token (at most {}); wait for them to connect",
                limits.per_token
            ));
        }
        if by_ip >= limits.per_ip {
            return Err(format!(
                "Too many connections being set up from your address (at most {}); wait for them to connect",
                limits.per_ip
            ));
        }
        inner.set_media(id, MediaState::Pending);
        Ok(())
    }

    /// Records where a session's media connection stands now.
    pub fn set_media(&self, id: u64, state: MediaState) {
        self.lock().set_media(id, state);
    }

    /// Forgets a session that ended.
    pub fn remove(&self, id: u64) {
        let mut inner = self.lock();
        inner.set_media(id, MediaState::None);
        inner.live.remove(&id);
    }

    /// Whether a JWT id was banned by a kick (and has not expired since).
    pub fn is_banned(&self, jti: &str, now: u64) -> bool {
        let mut inner = self.lock();
        inner.banned.retain(|_, exp| *exp > now);
        inner.banned.contains_key(jti)
    }

    /// Ends the sessions of `stream` matching `target` and bans their JWTs.
    pub fn kick(&self, stream: &str, target: &KickTarget) -> Ended {
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
                }
        })
    }

    /// Ends the sessions opened with JWTs from API token (or rooms grant) `token_id`, for
    /// `reason`.
    pub fn end_token_sessions(&self, token_id: &str, reason: EndReason) -> Ended {
        self.end_where(reason, |info| info.token_id.as_deref() == Some(token_id))
    }

    /// Ends every session, banning nothing (a drained node's clients come back elsewhere
    /// with new JWTs, or the same ones).
    pub fn end_all(&self, reason: EndReason) -> Ended {
        let mut inner = self.lock();
        let mut ended = Ended::default();
        for entry in inner.live.values_mut() {
            if let Some(end) = entry.end.take() {
                let _ = end.send(reason);
                ended.count += 1;
                ended.peers.extend(entry.info.peer);
            }
        }
        ended
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Snapshot of the live sessions.
    pub fn list(&self) -> Vec<SessionInfo> {
        self.lock().live.values().map(|e| e.info.clone()).collect()
    }

    fn end_where(&self, reason: EndReason, matches: impl Fn(&SessionInfo) -> bool) -> Ended {
        let mut inner = self.lock();
        let mut bans = Vec::new();
        let mut ended = Ended::default();
        for entry in inner.live.values_mut().filter(|e| matches(&e.info)) {
            if let Some(end) = entry.end.take() {
                let _ = end.send(reason);
                ended.count += 1;
                ended.peers.extend(entry.info.peer);
            }
            if entry.info.jwt_exp != NO_JWT {
                bans.push((entry.info.jti.clone(), entry.info.jwt_exp));
            }
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
            client_ip: "10.0.0.1".parse().unwrap(),
            media: MediaState::None,
        }
    }

    #[test]
    fn pending_media_is_capped_per_jwt_and_per_address() {
        let s = Sessions::default();
        let limits = PendingLimits {
            per_token: 2,
            per_ip: 2,
        };
        let ids: Vec<u64> = (0..4)
            .map(|i| {
                s.register(info("room", TokenType::Subscribe, None, i, "j1"))
                    .0
            })
            .collect();
        assert!(s.start_pending(ids[0], limits).is_ok());
        assert!(s.start_pending(ids[1], limits).is_ok());
        let err = s.start_pending(ids[2], limits).unwrap_err();
        assert!(err.contains("token"), "{err}");
        s.set_media(ids[0], MediaState::Connected);
        assert!(
            s.start_pending(ids[2], limits).is_ok(),
            "a connected peer frees its place"
        );
        // Another JWT from the same address: the address cap.
        let mut other = info("room", TokenType::Subscribe, None, 9, "j2");
        let (o1, _) = s.register(other.clone());
        assert!(
            s.start_pending(o1, limits).is_err(),
            "2 pending from 10.0.0.1"
        );
        other.client_ip = "10.0.0.2".parse().unwrap();
        let (o2, _) = s.register(other);
        assert!(s.start_pending(o2, limits).is_ok());
        s.remove(ids[1]);
        assert!(
            s.start_pending(o1, limits).is_ok(),
            "an ended session frees its place"
        );
        let inner = s.lock();
        assert_eq!(inner.pending_by_token.values().sum::<usize>(), 3);
    }

    #[test]
    fn kick_ends_matching_sessions_and_bans_their_jwts_until_expiry() {
        let s = Sessions::default();
        let (_, mut guest) = s.register(info("room", TokenType::Publish, Some("guest"), 1, "j1"));
        let (_, mut main) = s.register(info("room", TokenType::Publish, None, 2, "j2"));
        let (_, mut viewer) = s.register(info("room", TokenType::Subscribe, None, 3, "j3"));
        let ended = s.kick("room", &KickTarget::Source(Some("guest".into())));
        assert_eq!((ended.count, ended.peers), (1, vec![PeerId(1)]));
        assert_eq!(guest.try_recv(), Ok(EndReason::Kicked));
        assert!(main.try_recv().is_err() && viewer.try_recv().is_err());
        assert!(s.is_banned("j1", 50) && !s.is_banned("j2", 50));
        assert!(!s.is_banned("j1", 100), "forgotten once the JWT expired");
        assert_eq!(s.kick("room", &KickTarget::Subscriber(PeerId(3))).count, 1);
        assert_eq!(s.kick("other", &KickTarget::Stream).count, 0);
        assert_eq!(
            s.end_token_sessions("tok_a", EndReason::TokenRevoked).count,
            1,
            "only main is still live"
        );
        assert_eq!(main.try_recv(), Ok(EndReason::TokenRevoked));
    }

    #[test]
    fn a_kicked_session_without_a_jwt_bans_nothing() {
        let s = Sessions::default();
        let mut whip = info("room", TokenType::Publish, None, 1, "whip-1");
        whip.jwt_exp = NO_JWT;
        let (_, mut ended) = s.register(whip);
        assert_eq!(s.kick("room", &KickTarget::Stream).count, 1);
        assert_eq!(ended.try_recv(), Ok(EndReason::Kicked));
        assert!(s.lock().banned.is_empty());
    }
}
