//! Who may publish or view what: the Director's decisions, made from the bootstrap token,
//! the stored API tokens and the streams that require auth to view.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use podium_tokens::{Action, TokenRecord, Tokens};
use subtle::ConstantTimeEq;

use crate::policy::connections::client_key;
use crate::policy::forwarded::Forwarding;
use crate::policy::rate::{KeyedRate, Rate};
use crate::policy::room_grants::RoomGrants;
use crate::policy::Refusal;

/// What an authorised Director request may do; goes into the JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The API token behind the request (`None` for open viewing).
    pub token_id: Option<String>,
    /// Whether `sourceId` may be used.
    pub multisource: bool,
    /// Whether the publisher may record: the API token's `record` permission (always for the
    /// bootstrap token; never for viewing, open or with a subscribe token).
    pub record: bool,
}

/// Who is asking, as the Director sees a request.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The `Authorization: Bearer` secret, if any.
    pub bearer: Option<&'a str>,
    /// The browser's `Origin`, if any.
    pub origin: Option<&'a str>,
    /// The client's address.
    pub ip: IpAddr,
    /// Now, in unix seconds (token expiry).
    pub now: u64,
    /// Now, on the monotonic clock (rate limits).
    pub at: Instant,
}

/// Requests per second allowed on the Director.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Per client IP address.
    pub per_ip: u32,
    /// Per API token.
    pub per_token: u32,
    /// For everyone together: a ceiling that many source addresses cannot get around.
    pub global: u32,
}

/// Access control state shared by the Director and signaling.
pub struct Access {
    /// Stored API tokens (this server's SQLite, or the cluster's).
    pub store: Arc<dyn Tokens>,
    bootstrap_token: String,
    private_streams: Vec<String>,
    /// Keyed by client (an IPv6 /64 is one client: it can pick any address in it).
    by_ip: KeyedRate<IpAddr>,
    global: Rate,
    by_token: KeyedRate<String>,
    /// The rooms server's streams and grants.
    pub rooms: RoomGrants,
    /// Which forwarding headers are believed, and the public URL.
    pub forwarding: Forwarding,
}

/// Why the Director and signaling refuse to open a room's stream.
const PRIVATE_ROOM: &str = "This stream is a private room: join the room to listen";

/// The id put in JWTs minted from the bootstrap `--publish-token`.
pub const BOOTSTRAP_TOKEN_ID: &str = "bootstrap";

impl Access {
    /// Access control over `store`; `private_streams` are patterns of streams that require
    /// a subscribe token to view. Rate limits count time from `origin` (bursts of twice the
    /// rate absorb an app opening a few connections at once).
    pub fn new(
        store: Arc<dyn Tokens>,
        bootstrap_token: String,
        private_streams: Vec<String>,
        (limits, origin): (RateLimits, Instant),
        forwarding: Forwarding,
    ) -> Self {
        Self {
            store,
            bootstrap_token,
            private_streams,
            by_ip: KeyedRate::new(limits.per_ip, origin),
            global: Rate::new(limits.global, origin),
            by_token: KeyedRate::new(limits.per_token, origin),
            rooms: RoomGrants::default(),
            forwarding,
        }
    }

    /// Whether viewing `stream` needs a subscribe token.
    pub fn view_requires_auth(&self, stream: &str) -> bool {
        self.private_streams
            .iter()
            .any(|p| podium_tokens::pattern_matches(p, stream))
    }

    /// Refuses a client that exceeds its request rate, or any request past the global one.
    pub fn check_ip_rate(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        if !self.by_ip.check(&client_key(ip), now) {
            return Err(Refusal::too_many("Too many requests, slow down"));
        }
        if !self.global.check(now) {
            return Err(Refusal::too_many("The server is busy, try again shortly"));
        }
        Ok(())
    }

    /// Forgets rate-limit state that has fully recovered by `now` (clients and tokens gone
    /// quiet), so the tables only hold recent callers. The shell calls this every few seconds.
    pub fn forget_idle(&self, now: Instant) {
        self.by_ip.forget_idle(now);
        self.by_token.forget_idle(now);
    }

    /// Clients and tokens with rate-limit state (what the tables cost).
    pub fn rate_limited_keys(&self) -> usize {
        self.by_ip.len() + self.by_token.len()
    }

    /// Decides a `POST /api/director/publish`.
    pub fn authorize_publish(
        &self,
        who: &Requester<'_>,
        stream: &str,
    ) -> Result<Authorized, Refusal> {
        let Some(secret) = who.bearer else {
            return Err(unauthorized("Unauthorized: Missing token"));
        };
        if bool::from(secret.as_bytes().ct_eq(self.bootstrap_token.as_bytes())) {
            self.check_token_rate(BOOTSTRAP_TOKEN_ID, who.at)?;
            return Ok(Authorized {
                token_id: Some(BOOTSTRAP_TOKEN_ID.into()),
                multisource: true,
                record: true,
            });
        }
        let record = self.authenticate(secret, who)?;
        self.check(&record, Action::Publish, stream, who)
    }

    /// Decides a publish of `source` (`None` = the main source) on `stream`, as the Director
    /// and WHIP both ask: a `sourceId` signaling would refuse (400), the API token's checks
    /// ([`Self::authorize_publish`]), then multisource for a `sourceId` (403).
    pub fn authorize_publish_source(
        &self,
        who: &Requester<'_>,
        stream: &str,
        source: Option<&str>,
    ) -> Result<Authorized, Refusal> {
        if let Some(source) = source {
            validate_source_id(source).map_err(Refusal::bad_request)?;
        }
        let auth = self.authorize_publish(who, stream)?;
        if source.is_some() && !auth.multisource {
            return Err(Refusal::forbidden(
                "Token does not allow multisource publishing (sourceId)",
            ));
        }
        Ok(auth)
    }

    /// Decides a `POST /api/director/subscribe`. Open streams need no token; a token that is
    /// given must still be valid.
    pub fn authorize_view(&self, who: &Requester<'_>, stream: &str) -> Result<Authorized, Refusal> {
        if self.rooms.is_room(stream) {
            return Err(Refusal::forbidden(PRIVATE_ROOM));
        }
        match who.bearer {
            None if self.view_requires_auth(stream) => Err(unauthorized(
                "Unauthorized: This stream requires a subscribe token",
            )),
            None => Ok(Authorized {
                token_id: None,
                multisource: false,
                record: false,
            }),
            Some(secret) => {
                let record = self.authenticate(secret, who)?;
                self.check(&record, Action::Subscribe, stream, who)
            }
        }
    }

    /// Whether a verified JWT may open a signaling session now: its API token (or rooms
    /// grant) is still in force, and a room's stream is viewed only with the rooms
    /// server's grants.
    pub fn admit_session(
        &self,
        role: podium_auth::TokenType,
        stream: &str,
        token_id: Option<&str>,
    ) -> Result<(), Refusal> {
        if !self.token_still_valid(token_id) {
            return Err(unauthorized("Unauthorized: Token revoked"));
        }
        let rooms_token = token_id.is_some_and(RoomGrants::is_rooms_token);
        if role == podium_auth::TokenType::Subscribe && !rooms_token && self.rooms.is_room(stream) {
            return Err(Refusal::forbidden(PRIVATE_ROOM));
        }
        Ok(())
    }

    /// Whether a JWT minted from API token `token_id` may still open a connection.
    pub fn token_still_valid(&self, token_id: Option<&str>) -> bool {
        match token_id {
            None | Some(BOOTSTRAP_TOKEN_ID) => true,
            Some(id) if RoomGrants::is_rooms_token(id) => self.rooms.is_live(id),
            // Storage errors refuse: better a retry than a revoked token getting through.
            Some(id) => !self.store.is_revoked(id).unwrap_or(true),
        }
    }

    fn authenticate(&self, secret: &str, who: &Requester<'_>) -> Result<TokenRecord, Refusal> {
        let record = self.store.authenticate(secret, who.now).map_err(|e| {
            if e.is_unauthorized() {
                unauthorized(&e.to_string())
            } else {
                tracing::error!(error = %e, "token store failed");
                Refusal(StatusCode::INTERNAL_SERVER_ERROR, "Internal error".into())
            }
        })?;
        self.check_token_rate(&record.id, who.at)?;
        Ok(record)
    }

    fn check_token_rate(&self, id: &str, now: Instant) -> Result<(), Refusal> {
        if self.by_token.check(&id.to_owned(), now) {
            Ok(())
        } else {
            Err(Refusal::too_many(
                "Too many requests for this token, slow down",
            ))
        }
    }

    fn check(
        &self,
        record: &TokenRecord,
        action: Action,
        stream: &str,
        who: &Requester<'_>,
    ) -> Result<Authorized, Refusal> {
        record
            .check(action, stream, who.origin, who.ip)
            .map_err(|r| Refusal(StatusCode::FORBIDDEN, r.to_string()))?;
        Ok(Authorized {
            token_id: Some(record.id.clone()),
            multisource: record.multisource,
            // Only publish tokens have it (the store refuses it on others); viewing never records.
            record: action == Action::Publish && record.record,
        })
    }
}

fn unauthorized(message: &str) -> Refusal {
    Refusal(StatusCode::UNAUTHORIZED, message.into())
}

/// Source ids: at most 128 bytes, no control characters (signaling and the Director apply
/// the same rule, so the Director never mints a JWT signaling would refuse).
pub fn validate_source_id(s: &str) -> Result<(), String> {
    if s.len() <= 128 && !s.chars().any(char::is_control) {
        Ok(())
    } else {
        Err("Invalid sourceId: at most 128 printable characters".into())
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an arbitrary origin for simulated time
mod tests {
    use super::*;
    use podium_tokens::TokenStore;

    fn access(per_ip: u32, global: u32, origin: Instant) -> Access {
        let dir =
            std::env::temp_dir().join(format!("podium-access-{}-{per_ip}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = TokenStore::open(dir.join("t.db")).unwrap();
        Access::new(
            Arc::new(store),
            "bootstrap-token".into(),
            vec![],
            (
                RateLimits {
                    per_ip,
                    per_token: 10,
                    global,
                },
                origin,
            ),
            Forwarding::default(),
        )
    }

    #[test]
    fn the_record_permission_comes_from_the_token() {
        let t0 = Instant::now();
        let a = Access::new(
            Arc::new(TokenStore::open_in_memory().unwrap()),
            "bootstrap-token".into(),
            vec![],
            (
                RateLimits {
                    per_ip: 100,
                    per_token: 100,
                    global: 100,
                },
                t0,
            ),
            Forwarding::default(),
        );
        let new = |action, record| {
            let mut t = podium_tokens::NewToken::new("t", action, ["*"]);
            t.record = record;
            a.store.create(t, 1_700_000_000).unwrap().1
        };
        let recording = new(Action::Publish, true);
        let plain = new(Action::Publish, false);
        let view = new(Action::Subscribe, false);
        let who = |bearer| Requester {
            bearer,
            origin: None,
            ip: IpAddr::from([192, 0, 2, 1]),
            now: 1_700_000_001,
            at: t0,
        };
        let publish = |bearer| a.authorize_publish(&who(Some(bearer)), "s").unwrap();
        assert!(publish(&recording).record);
        assert!(!publish(&plain).record);
        assert!(
            publish("bootstrap-token").record,
            "the bootstrap token may record"
        );
        let source = a
            .authorize_publish_source(&who(Some(&recording)), "s", None)
            .unwrap();
        assert!(source.record);
        assert!(!a.authorize_view(&who(Some(&view)), "s").unwrap().record);
        assert!(!a.authorize_view(&who(None), "s").unwrap().record);
    }

    #[test]
    fn an_ipv6_client_is_limited_by_its_slash_64() {
        let t0 = Instant::now();
        let a = access(1, 1000, t0);
        let mut refused = 0;
        for i in 0..20u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, i, 0, 0, 1));
            refused += usize::from(a.check_ip_rate(ip, t0).is_err());
        }
        assert!(refused >= 17, "only {refused} of 20 refused");
    }

    #[test]
    fn many_addresses_meet_the_global_ceiling_and_idle_ones_are_forgotten() {
        let t0 = Instant::now();
        let a = access(1000, 5, t0);
        let mut refused = 0;
        for i in 0..100u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            refused += usize::from(a.check_ip_rate(ip, t0).is_err());
        }
        assert!(refused >= 85, "only {refused} of 100 refused");
        assert_eq!(a.rate_limited_keys(), 100);
        // A key is forgotten once its bucket has refilled (burst / rate = 2 s).
        a.forget_idle(t0 + std::time::Duration::from_millis(2100));
        assert_eq!(a.rate_limited_keys(), 0);
    }
}
