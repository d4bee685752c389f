//! The rooms server over socket.io (the "millicast-spaces" protocol), mounted on the same
//! HTTP port. The room logic is the pure `podium-rooms` state machine; this module only
//! turns socket.io messages into its commands and carries out its effects: socket.io room
//! membership, broadcasts, in-process Director tokens, and ending media through the
//! session registry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use podium_auth::{MillicastClaims, TokenType};
use podium_rooms::{
    Ack, Audience, Command, ConnId, Effect, Event, JoinTokens, MediaAction, RoomId, Rooms, UserId,
};
use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::DisconnectReason;
use socketioxide::{SendError, SocketError, SocketIo};

pub mod commands;
pub mod content;
pub mod delivery;
pub mod throttle;

pub use commands::{new_secret, parse_command};
use delivery::Sent;
use throttle::{CommandRates, Throttle};

use crate::director::connection_data;
use crate::policy::connections::{Admission, ConnectionLimits, Permit};
use crate::policy::room_grants::{GrantKind, RoomGrants};
use crate::policy::sessions::EndReason;
use crate::state::AppState;

/// Namespaces served: the Spaces client connects to `/socket.io/` (its URL path), other
/// socket.io clients to `/`. Users of both share the same rooms.
const NAMESPACES: [&str; 2] = ["/", "/socket.io/"];

/// Largest socket.io message (or polling request body) a client may send.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// The client→server events, each carrying an ack callback.
pub const EVENTS: [&str; 14] = [
    "authenticate",
    "create-room",
    "join-room",
    "leave-room",
    "raise-hand",
    "promote-user",
    "kick-user",
    "mute-speaker",
    "mute",
    "answer-invite",
    "leave-stage",
    "mic-state",
    "set-content",
    "sign-out",
];

/// How often the server pings each client, and how long it waits for the pong. A frozen or
/// vanished client (no FIN) is noticed within their sum (7 s), and its user leaves their
/// rooms at [`podium_rooms::Limits::hold_ms`] (8.5 s) after it was last heard; a client busy
/// for up to the timeout (4 s) is not dropped. socket.io's defaults (25 s + 20 s) took 45 s.
pub const PING_INTERVAL: Duration = Duration::from_secs(3);
/// See [`PING_INTERVAL`].
pub const PING_TIMEOUT: Duration = Duration::from_secs(4);

/// How often users who are away are checked against their deadline.
const EXPIRE_EVERY: Duration = Duration::from_millis(250);

/// Shared by every socket handler.
#[derive(Clone)]
struct Spaces {
    app: AppState,
    rooms: Arc<Mutex<Rooms>>,
    io: SocketIo,
    throttle: Arc<Throttle>,
    /// Open sockets per client address: long-polling clients hold no TCP connection between
    /// polls, so the HTTP port's own cap does not see them.
    sockets: Admission,
    /// The rooms domain's clock: milliseconds since this instant.
    epoch: Instant,
}

/// A command's outcome with the grants created and revoked for it (see [`Spaces::apply`]).
struct Applied {
    outcome: podium_rooms::Outcome,
    /// For `join-room`: the view grant and, for a speaker, the publish grant.
    joined: Option<(String, Option<String>)>,
    /// Per effect: the grant it hands out (`SendPromoted`) or ended (media actions).
    tokens: Vec<Option<String>>,
}

/// How the rooms server is limited (see [`podium_rooms::Limits`] and [`CommandRates`]).
#[derive(Debug, Clone, Copy)]
pub struct RoomsSettings {
    /// Quotas of the rooms domain.
    pub limits: podium_rooms::Limits,
    /// Command rates.
    pub rates: CommandRates,
    /// Most open sockets per client address (the HTTP port's per-address cap).
    pub max_sockets_per_ip: Option<usize>,
}

/// Packets queued per socket.io client before it counts as not reading.
const CLIENT_QUEUE: usize = 256;

/// The socket.io layer for the router. The Spaces client connects with its URL path as the
/// namespace (`/socket.io/`), so that namespace is served as well as `/`.
pub fn layer(app: AppState, settings: RoomsSettings) -> SocketIoLayer {
    // The rooms protocol's messages are a few hundred bytes: refuse anything bigger than
    // MAX_MESSAGE when its frame header (or its polling body) says so, before buffering it.
    let (layer, io) = SocketIo::builder()
        .ws_max_frame_size(MAX_MESSAGE)
        .ws_max_message_size(MAX_MESSAGE)
        .max_payload(MAX_MESSAGE as u64)
        .max_buffer_size(CLIENT_QUEUE)
        .ping_interval(PING_INTERVAL)
        .ping_timeout(PING_TIMEOUT)
        .build_layer();
    let spaces = Spaces {
        throttle: Arc::new(Throttle::new(settings.rates, std::time::Instant::now())),
        sockets: Admission::new(ConnectionLimits {
            per_client: settings.max_sockets_per_ip,
            total: usize::MAX,
            exempt: vec![],
        }),
        app,
        rooms: Arc::new(Mutex::new(Rooms::with_limits(settings.limits))),
        io: io.clone(),
        epoch: Instant::now(),
    };
    let expiring = spaces.clone();
    tokio::spawn(crate::every(
        EXPIRE_EVERY,
        spaces.app.shutdown.clone(),
        move || {
            if let Some((outcome, tokens)) = expiring.expire() {
                let spaces = expiring.clone();
                tokio::spawn(async move { spaces.carry_out(outcome.effects, tokens).await });
            }
        },
    ));
    let throttle = spaces.throttle.clone();
    tokio::spawn(crate::every(
        crate::FORGET_IDLE_EVERY,
        spaces.app.shutdown.clone(),
        move || throttle.forget_idle(std::time::Instant::now()),
    ));
    for ns in NAMESPACES {
        let spaces = spaces.clone();
        // The message handlers are registered in a connect middleware, which socketioxide
        // awaits *before* answering CONNECT: the connect handler itself runs in a task spawned
        // after the answer, so a message sent right after connecting could find no handler.
        let register = move |socket: SocketRef| {
            let spaces = spaces.clone();
            async move {
                let permit = spaces
                    .sockets
                    .admit(spaces.client_ip(&socket))
                    .map_err(|_| "Too many connections from your address".to_owned())?;
                // Held by the socket; released when it disconnects.
                socket.extensions.insert(Arc::new(permit));
                spaces.connected(socket);
                Ok::<(), String>(())
            }
        };
        io.ns(ns, (async |_: SocketRef| {}).with(register));
    }
    layer
}

/// Every argument of a message, however many the client sent (the events have 1 to 3).
struct Args(Vec<Value>);

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("message arguments")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Args, S::Error> {
                let mut args = Vec::new();
                while let Some(v) = seq.next_element()? {
                    args.push(v);
                }
                Ok(Args(args))
            }
        }
        // A tuple, so socketioxide hands over every argument rather than the first.
        d.deserialize_tuple(16, ArgsVisitor)
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A tuple is emitted as separate socket.io arguments: `emit("user-left", room, user)`.
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in &self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

impl Spaces {
    fn connected(&self, socket: SocketRef) {
        for event in EVENTS {
            let spaces = self.clone();
            socket.on(
                event,
                async move |s: SocketRef, args: TryData<Args>, ack: AckSender| {
                    let reply = match args.0 {
                        Ok(Args(args)) => spaces.handle(&s, event, args).await,
                        Err(_) => json!({"error": format!("Invalid arguments for {event}")}),
                    };
                    if let Err(SendError::Socket(SocketError::InternalChannelFull)) =
                        ack.send(&reply)
                    {
                        spaces.overflowed(&s);
                    }
                },
            );
        }
        let spaces = self.clone();
        socket.on_disconnect(async move |s: SocketRef, reason: DisconnectReason| {
            s.extensions.remove::<Arc<Permit>>();
            let command = match reason {
                // The client closed its socket on purpose (the demo's way to sign out), or
                // the server did (a client that stopped reading, a socket whose user resumed
                // elsewhere: then the connection is no longer theirs and nothing happens).
                DisconnectReason::ClientNSDisconnect | DisconnectReason::ServerNSDisconnect => {
                    Command::Disconnect
                }
                DisconnectReason::HeartbeatTimeout => Command::ConnectionLost {
                    silent_ms: (PING_INTERVAL + PING_TIMEOUT).as_millis() as u64,
                },
                // Closed or broken (a reload, a network change): their seats wait for them.
                _ => Command::ConnectionLost { silent_ms: 0 },
            };
            spaces.apply_and_carry_out(&conn_id(&s), command).await;
            spaces.app.rooms_overflow.forget(&s);
        });
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Users away past their hold leave their rooms; departed secrets expire. Returns the
    /// effects to carry out and their grant changes (made under the rooms lock, as in
    /// [`Spaces::apply`]), if anything was due.
    fn expire(&self) -> Option<(podium_rooms::Outcome, Vec<Option<String>>)> {
        let now = self.now_ms();
        let mut rooms = self.lock();
        if rooms.next_deadline().is_none_or(|t| t > now) {
            return None;
        }
        let outcome = rooms.expire(now);
        let tokens = self.grant_changes(&outcome);
        Some((outcome, tokens))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rooms> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies a command and, under the same lock, the grant bookkeeping it implies: rooms
    /// opened and closed, grants created for the tokens it hands out and revoked for the
    /// memberships it ends. Done apart, a revocation by one message could land between
    /// another message's change and its grant, leaving a grant no membership backs.
    fn apply(&self, conn: &ConnId, command: Command) -> Result<Applied, podium_rooms::RoomError> {
        let mut rooms = self.lock();
        let outcome = rooms.apply(self.now_ms(), conn, command)?;
        let grants = self.grants();
        let joined = match &outcome.ack {
            Ack::Joined(t) => Some((
                grants.grant(
                    t.view.stream.as_str(),
                    t.view.viewer.as_str(),
                    GrantKind::View,
                ),
                t.publish.as_ref().map(|p| {
                    grants.grant(p.stream.as_str(), p.source_id.as_str(), GrantKind::Publish)
                }),
            )),
            _ => None,
        };
        let tokens = self.grant_changes(&outcome);
        Ok(Applied {
            outcome,
            joined,
            tokens,
        })
    }

    /// Per effect: the grant it hands out (`SendPromoted`) or ends (media actions), with
    /// rooms' grants opened and closed as they are created and deleted.
    fn grant_changes(&self, outcome: &podium_rooms::Outcome) -> Vec<Option<String>> {
        let grants = self.grants();
        outcome
            .effects
            .iter()
            .map(|effect| match effect {
                Effect::Emit { event, .. } => {
                    match event {
                        Event::RoomCreated(room) => grants.open_room(room.id().as_str()),
                        Event::RoomDeleted { room_id } => grants.close_room(room_id.as_str()),
                        _ => {}
                    }
                    None
                }
                Effect::SendPromoted { request, .. } => Some(grants.grant(
                    request.stream.as_str(),
                    request.source_id.as_str(),
                    GrantKind::Publish,
                )),
                Effect::Media(MediaAction::EndPublication { room_id, user_id }) => {
                    grants.revoke(room_id.as_str(), user_id.as_str(), GrantKind::Publish)
                }
                Effect::Media(MediaAction::EndView { room_id, user_id }) => {
                    grants.revoke(room_id.as_str(), user_id.as_str(), GrantKind::View)
                }
                _ => None,
            })
            .collect()
    }

    /// Applies a command that is never refused (a connection's end) and carries it out.
    async fn apply_and_carry_out(&self, conn: &ConnId, command: Command) {
        if let Ok(applied) = self.apply(conn, command) {
            self.carry_out(applied.outcome.effects, applied.tokens)
                .await;
        }
    }

    /// A socket stopped reading: it is treated as gone from now on (see [`delivery`]).
    fn overflowed(&self, socket: &SocketRef) {
        delivery::mark_overflowed(&self.app.rooms_overflow, socket);
        let spaces = self.clone();
        let conn = conn_id(socket);
        // A task of its own: this runs in the middle of carrying out other effects. A client
        // that does not read is gone for good: it could not follow the room anyway.
        tokio::spawn(async move { spaces.apply_and_carry_out(&conn, Command::Disconnect).await });
    }

    /// Emits to one client, handling a client that is not reading.
    fn emit_to(&self, socket: &SocketRef, event: &str, args: &Args) {
        if delivery::emit(&self.app.rooms_overflow, socket, event, args) == Sent::Overflowed {
            self.overflowed(socket);
        }
    }

    /// The TCP peer `socket`'s connection came from.
    fn peer(&self, socket: &SocketRef) -> SocketAddr {
        socket
            .req_parts()
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(self.app.http_addr, |c| c.0)
    }

    fn client_ip(&self, socket: &SocketRef) -> std::net::IpAddr {
        let headers = &socket.req_parts().headers;
        self.app
            .access
            .forwarding
            .client_ip(self.peer(socket), headers)
    }

    /// One client message: parse, apply, carry out the effects, build the ack.
    async fn handle(&self, socket: &SocketRef, event: &str, args: Vec<Value>) -> Value {
        if self.app.rooms_overflow.is_overflowed(socket) {
            return json!({ "error": "Disconnected for not reading: reconnect" });
        }
        if !self.throttle.allow(
            socket.id.as_str(),
            self.client_ip(socket),
            std::time::Instant::now(),
        ) {
            return json!({ "error": "Too many requests, slow down" });
        }
        let secret = if event == "authenticate" {
            new_secret()
        } else {
            String::new()
        };
        let command = match parse_command(event, &args, &secret) {
            Ok(c) => c,
            Err(message) => return json!({ "error": message }),
        };
        if let (Command::SetContent { .. }, (Some(stream), token)) =
            (&command, content::request(&args))
        {
            let headers = &socket.req_parts().headers;
            let who = crate::policy::access::Requester {
                bearer: token,
                origin: headers.get("origin").and_then(|h| h.to_str().ok()),
                ip: self.client_ip(socket),
                now: crate::state::unix_now(),
                at: std::time::Instant::now(),
            };
            if let Err(message) = content::check(&self.app, &who, stream) {
                return json!({ "error": message });
            }
        }
        let applied = match self.apply(&conn_id(socket), command) {
            Ok(a) => a,
            Err(e) => return e.to_ack(),
        };
        let ack = match (&applied.outcome.ack, &applied.joined) {
            (Ack::Joined(tokens), Some(grants)) => {
                json!({ "data": self.join_tokens(&self.ws_base(socket), tokens, grants) })
            }
            (signed_in @ (Ack::Authenticated { .. } | Ack::Resumed { .. }), _)
                if args.get(1).is_some_and(Value::is_object) =>
            {
                // The secret this client presents to resume later (a reload, a new network).
                let mut data = signed_in.data().unwrap_or(Value::Null);
                data["resumeSecret"] = json!(secret);
                json!({ "data": data })
            }
            (other, _) => json!({ "data": other.data().unwrap_or(Value::Null) }),
        };
        self.carry_out(applied.outcome.effects, applied.tokens)
            .await;
        ack
    }

    /// Carries out `effects` in order; `tokens[i]` is the grant `apply` created or revoked
    /// for effect `i`.
    async fn carry_out(&self, effects: Vec<Effect>, tokens: Vec<Option<String>>) {
        for (effect, token_id) in effects.into_iter().zip(tokens) {
            match effect {
                Effect::Join { user, group } => {
                    if let Some(s) = self.socket(&user) {
                        s.join(group.name().to_owned());
                    }
                }
                Effect::Leave { user, group } => {
                    if let Some(s) = self.socket(&user) {
                        s.leave(group.name().to_owned());
                    }
                }
                Effect::Emit { to, event } => {
                    let args = Args(event.args());
                    match to {
                        Audience::Spaces => {
                            self.broadcast(podium_rooms::Group::Spaces.name(), event.name(), &args)
                                .await
                        }
                        Audience::Room(room) => {
                            self.broadcast(room.as_str(), event.name(), &args).await
                        }
                        Audience::User(user) => {
                            if let Some(s) = self.socket(&user) {
                                self.emit_to(&s, event.name(), &args);
                            }
                        }
                    }
                }
                Effect::SendPromoted {
                    user,
                    room_id,
                    request,
                } => {
                    if let (Some(s), Some(token_id)) = (self.socket(&user), token_id) {
                        let token = self.member_token(
                            &self.ws_base(&s),
                            (&request.stream, &request.source_id),
                            GrantKind::Publish,
                            token_id,
                        );
                        let args = Args(vec![
                            json!(room_id.as_str()),
                            json!({ "publisherToken": token }),
                        ]);
                        self.emit_to(&s, "promoted", &args);
                    }
                }
                Effect::Media(_) => {
                    // Revoked in `apply`: end the sessions opened with it and their media.
                    if let Some(token_id) = token_id {
                        self.app
                            .end_token_sessions(&token_id, EndReason::GrantRevoked);
                    }
                }
                Effect::CloseConnection { conn } => {
                    if let Some(s) = self.socket_of_conn(&conn) {
                        // Its user resumed elsewhere; its own disconnect changes nothing.
                        let _ = s.disconnect();
                    }
                }
                _ => {}
            }
        }
    }

    /// Emits to every member of a delivery group, one socket at a time so a client that is
    /// not reading is found and dealt with (a library broadcast only says that some failed).
    async fn broadcast(&self, room: &str, event: &str, args: &Args) {
        for ns in NAMESPACES {
            let Some(op) = self.io.of(ns) else { continue };
            for socket in op.to(room.to_owned()).sockets() {
                self.emit_to(&socket, event, args);
            }
        }
    }

    /// The socket `user` is connected on now (none while they are away).
    fn socket(&self, user: &UserId) -> Option<SocketRef> {
        let conn = self.lock().conn_of(user)?.clone();
        self.socket_of_conn(&conn)
    }

    fn socket_of_conn(&self, conn: &ConnId) -> Option<SocketRef> {
        let sid = conn.as_str().parse().ok()?;
        NAMESPACES
            .iter()
            .find_map(|ns| self.io.of(ns)?.get_socket(sid))
    }

    /// Where `socket`'s client reaches signaling (as it reached us).
    fn ws_base(&self, socket: &SocketRef) -> String {
        crate::director::ws_base(&self.app, self.peer(socket), &socket.req_parts().headers)
    }

    fn join_tokens(
        &self,
        ws_base: &str,
        tokens: &JoinTokens,
        (view_grant, publish_grant): &(String, Option<String>),
    ) -> Value {
        let view = self.member_token(
            ws_base,
            (&tokens.view.stream, &tokens.view.viewer),
            GrantKind::View,
            view_grant.clone(),
        );
        let publish = tokens
            .publish
            .as_ref()
            .zip(publish_grant.clone())
            .map(|(p, grant)| {
                self.member_token(
                    ws_base,
                    (&p.stream, &p.source_id),
                    GrantKind::Publish,
                    grant,
                )
            });
        json!({ "viewerToken": view, "publisherToken": publish })
    }

    fn grants(&self) -> &RoomGrants {
        &self.app.access.rooms
    }

    /// A JWT for `user` in `room` under grant `token_id`: a publish JWT bound to the user's
    /// own source, or a view JWT whose bound source names the viewer.
    fn member_token(
        &self,
        ws_base: &str,
        (room, user): (&RoomId, &UserId),
        kind: GrantKind,
        token_id: String,
    ) -> Value {
        let publish = kind == GrantKind::Publish;
        let grant = MillicastClaims {
            token_type: if publish {
                TokenType::Publish
            } else {
                TokenType::Subscribe
            },
            stream_account_id: self.app.account_id.clone(),
            stream_name: room.as_str().to_owned(),
            record: false,
            multisource: publish,
            source_id: Some(user.as_str().to_owned()),
            token_id: Some(token_id),
        };
        let role = if publish { "pub" } else { "sub" };
        let mut data = connection_data(&self.app, ws_base, grant, role);
        if publish {
            // Rooms are private: only members get view tokens.
            data.subscribe_requires_auth = Some(true);
        }
        serde_json::to_value(data).expect("connection data serialises")
    }
}

/// The connection a socket is.
fn conn_id(socket: &SocketRef) -> ConnId {
    ConnId::new(socket.id.to_string())
}
