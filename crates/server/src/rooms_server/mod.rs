//! The rooms server over socket.io (the "millicast-spaces" protocol), mounted on the same
//! HTTP port. The room logic is the pure `podium-rooms` state machine, applied by the rooms
//! [`authority`]; this module is the gateway in front of it: it admits sockets, turns their
//! messages into requests, and carries out the authority's decisions for its own sockets
//! ([`carry_out`]): socket.io room membership, emits and broadcasts, member tokens, ending
//! media through the session registry. On a single server the authority is in this process;
//! in a cluster it is the node holding the rooms lease (`cluster::rooms`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use podium_rooms::{ConnId, Rooms};
use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::DisconnectReason;
use socketioxide::{SendError, SocketError, SocketIo};

pub mod authority;
mod carry_out;
pub mod commands;
pub mod content;
pub mod delivery;
mod reminders;
pub mod throttle;

use authority::{Answer, Authority, RequestKind};
pub use commands::{new_secret, parse_command, Sender};
use throttle::{CommandRates, Throttle};

use crate::cluster::rooms::ClusterRooms;
use crate::policy::connections::{Admission, ConnectionLimits, Permit};
use crate::state::AppState;

/// Namespaces served: the Spaces client connects to `/socket.io/` (its URL path), other
/// socket.io clients to `/`. Users of both share the same rooms.
const NAMESPACES: [&str; 2] = ["/", "/socket.io/"];

/// Largest socket.io message (or polling request body) a client may send.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// The client→server events, each carrying an ack callback.
pub const EVENTS: [&str; 22] = [
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
    "live-now",
    "set-moderator",
    "send-message",
    "delete-message",
    "mute-chat",
    "react",
    "set-recording",
    "apply-blocks",
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

/// The account a socket signed in with and the session token it came with (kept in its
/// extensions; checked again every [`SESSION_CHECK_EVERY`]).
#[derive(Clone)]
pub(crate) struct AccountTag {
    pub account: String,
    token: String,
}

/// How often the sessions of signed-in sockets are checked: a socket whose session ended
/// (signed out elsewhere, password changed) is disconnected.
const SESSION_CHECK_EVERY: Duration = Duration::from_secs(5);
/// How often due reminders of scheduled rooms are looked for (a reminder is at most this late).
const REMINDERS_EVERY: Duration = Duration::from_secs(5);

/// Where the authority is.
#[derive(Clone)]
enum Route {
    /// In this process (a single server).
    Local(Arc<Mutex<Authority>>),
    /// Elected among the nodes of a cluster.
    Cluster(Arc<ClusterRooms>),
}

/// The socket.io side, shared by every socket handler.
#[derive(Clone)]
struct Gateway {
    app: AppState,
    io: SocketIo,
    throttle: Arc<Throttle>,
    /// Open sockets per client address: long-polling clients hold no TCP connection between
    /// polls, so the HTTP port's own cap does not see them.
    sockets: Admission,
    route: Route,
    /// What this node's connection ids start with (empty on a single server; a node's boot
    /// id and a dot in a cluster, so the authority knows whose connection it is).
    prefix: Arc<str>,
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
    let (route, prefix) = match &app.cluster {
        Some(cluster) => {
            let (rooms, decisions) = ClusterRooms::start(
                cluster.clone(),
                app.access.clone(),
                settings.limits,
                app.shutdown.clone(),
            );
            let prefix = rooms.conn_prefix();
            (Route::Cluster(rooms), (prefix, Some(decisions)))
        }
        None => (
            Route::Local(Arc::new(Mutex::new(Authority::new(Rooms::with_limits(
                settings.limits,
            ))))),
            (String::new(), None),
        ),
    };
    let (prefix, decisions) = prefix;
    let gateway = Gateway {
        throttle: Arc::new(Throttle::new(settings.rates, std::time::Instant::now())),
        sockets: Admission::new(ConnectionLimits {
            per_client: settings.max_sockets_per_ip,
            total: usize::MAX,
            exempt: vec![],
        }),
        app,
        io: io.clone(),
        route,
        prefix: prefix.into(),
    };
    match decisions {
        // The cluster's decisions, in order, for this node's sockets.
        Some(mut decisions) => {
            let gateway = gateway.clone();
            tokio::spawn(async move {
                while let Some(decision) = decisions.recv().await {
                    gateway.carry_out(&decision).await;
                    if let (Some(reply), Route::Cluster(rooms)) = (decision.reply, &gateway.route) {
                        if gateway.is_local(&reply.conn) {
                            rooms.answered(reply);
                        }
                    }
                }
            });
        }
        None => {
            let expiring = gateway.clone();
            tokio::spawn(crate::every(
                EXPIRE_EVERY,
                gateway.app.shutdown.clone(),
                move || {
                    let gateway = expiring.clone();
                    tokio::spawn(async move { gateway.expire().await });
                },
            ));
        }
    }
    let checking = gateway.clone();
    tokio::spawn(crate::every(
        SESSION_CHECK_EVERY,
        gateway.app.shutdown.clone(),
        move || checking.end_ended_sessions(),
    ));
    let reminding = gateway.clone();
    tokio::spawn(crate::every(
        REMINDERS_EVERY,
        gateway.app.shutdown.clone(),
        move || reminding.send_due_reminders(crate::state::unix_now()),
    ));
    let throttle = gateway.throttle.clone();
    tokio::spawn(crate::every(
        crate::FORGET_IDLE_EVERY,
        gateway.app.shutdown.clone(),
        move || throttle.forget_idle(std::time::Instant::now()),
    ));
    for ns in NAMESPACES {
        let gateway = gateway.clone();
        // The message handlers are registered in a connect middleware, which socketioxide
        // awaits *before* answering CONNECT: the connect handler itself runs in a task spawned
        // after the answer, so a message sent right after connecting could find no handler.
        let register = move |socket: SocketRef| {
            let gateway = gateway.clone();
            async move {
                let permit = gateway
                    .sockets
                    .admit(gateway.client_ip(&socket))
                    .map_err(|_| "Too many connections from your address".to_owned())?;
                // Held by the socket; released when it disconnects.
                socket.extensions.insert(Arc::new(permit));
                gateway.connected(socket);
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

/// Arguments to emit, each a socket.io argument of its own.
struct EmitArgs<'a>(&'a [Value]);

impl Serialize for EmitArgs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A tuple is emitted as separate socket.io arguments: `emit("user-left", room, user)`.
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

impl Gateway {
    fn connected(&self, socket: SocketRef) {
        for event in EVENTS {
            let gateway = self.clone();
            socket.on(
                event,
                async move |s: SocketRef, args: TryData<Args>, ack: AckSender| {
                    let reply = match args.0 {
                        Ok(Args(args)) => gateway.handle(&s, event, args).await,
                        Err(_) => json!({"error": format!("Invalid arguments for {event}")}),
                    };
                    if let Err(SendError::Socket(SocketError::InternalChannelFull)) =
                        ack.send(&reply)
                    {
                        gateway.overflowed(&s);
                    }
                },
            );
        }
        let gateway = self.clone();
        socket.on_disconnect(async move |s: SocketRef, reason: DisconnectReason| {
            s.extensions.remove::<Arc<Permit>>();
            let kind = match reason {
                // The client closed its socket on purpose (the demo's way to sign out), or
                // the server did (a client that stopped reading, a socket whose user resumed
                // elsewhere: then the connection is no longer theirs and nothing happens).
                DisconnectReason::ClientNSDisconnect | DisconnectReason::ServerNSDisconnect => {
                    RequestKind::Disconnect
                }
                DisconnectReason::HeartbeatTimeout => RequestKind::ConnectionLost {
                    silent_ms: (PING_INTERVAL + PING_TIMEOUT).as_millis() as u64,
                },
                // Closed or broken (a reload, a network change): their seats wait for them.
                _ => RequestKind::ConnectionLost { silent_ms: 0 },
            };
            gateway.end_connection(gateway.conn_id(&s), kind).await;
            gateway.app.rooms_overflow.forget(&s);
        });
    }

    /// Disconnects this node's sockets whose account session has ended (so a stolen
    /// cookie's socket does not outlive a sign-out or a password change).
    fn end_ended_sessions(&self) {
        let store = &self.app.accounts.store;
        let now = crate::state::unix_now();
        for ns in NAMESPACES {
            let Some(op) = self.io.of(ns) else { continue };
            for socket in op.sockets() {
                let Some(tag) = socket.extensions.get::<AccountTag>() else {
                    continue;
                };
                let live = store
                    .session(&tag.token, now)
                    .map(|s| s.is_some_and(|s| s.account.id == tag.account));
                if let Ok(false) = live {
                    tracing::info!(socket = %socket.id, "account session ended: disconnecting");
                    let _ = socket.disconnect();
                }
            }
        }
    }

    /// Asks the authority; on a single server the decision is carried out before this
    /// returns, in a cluster this node's gateway task carries it out first.
    async fn request(&self, conn: ConnId, kind: RequestKind) -> Result<Answer, String> {
        match &self.route {
            Route::Local(authority) => {
                let decision = {
                    let mut authority = authority.lock().unwrap_or_else(|e| e.into_inner());
                    authority.decide(
                        crate::state::unix_now_ms(),
                        &self.app.access.rooms,
                        &conn,
                        0,
                        kind,
                    )
                };
                self.carry_out(&decision).await;
                Ok(decision
                    .reply
                    .map_or(Answer::Data { data: Value::Null }, |r| r.answer))
            }
            Route::Cluster(rooms) => rooms.request(conn, kind).await,
        }
    }

    /// A connection ended: never refused, and in a cluster retried until the authority
    /// hears of it.
    async fn end_connection(&self, conn: ConnId, kind: RequestKind) {
        match &self.route {
            Route::Local(_) => {
                let _ = self.request(conn, kind).await;
            }
            Route::Cluster(rooms) => rooms.end_connection(conn, kind).await,
        }
    }

    /// Users away past their hold leave their rooms (a single server's timer; a cluster's
    /// authority runs its own).
    async fn expire(&self) {
        let Route::Local(authority) = &self.route else {
            return;
        };
        let decision = {
            let mut authority = authority.lock().unwrap_or_else(|e| e.into_inner());
            authority.expire(crate::state::unix_now_ms(), &self.app.access.rooms)
        };
        if let Some(decision) = decision {
            self.carry_out(&decision).await;
        }
    }

    /// A socket stopped reading: it is treated as gone from now on (see [`delivery`]).
    fn overflowed(&self, socket: &SocketRef) {
        delivery::mark_overflowed(&self.app.rooms_overflow, socket);
        let gateway = self.clone();
        let conn = self.conn_id(socket);
        // A task of its own: this runs in the middle of carrying out other effects. A client
        // that does not read is gone for good: it could not follow the room anyway.
        tokio::spawn(async move { gateway.end_connection(conn, RequestKind::Disconnect).await });
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

    /// One client message: checked here, decided by the authority, answered with its ack.
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
        if let ("set-content", (Some(stream), token)) = (event, content::request(&args)) {
            // The owner's right to the stream is proven here, where their token arrived.
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
        if event == "live-now" {
            return match self.live_now_request(socket, &args) {
                Ok(kind) => match self.request(self.conn_id(socket), kind).await {
                    Ok(answer) => self.ack(socket, answer, "").await,
                    Err(message) => json!({ "error": message }),
                },
                Err(message) => json!({ "error": message }),
            };
        }
        let mut args = args;
        let account = if event == "authenticate" {
            match self.sign_in_as(socket, &mut args) {
                Ok(account) => account,
                Err(message) => return json!({ "error": message }),
            }
        } else {
            None
        };
        let relations = match event {
            // A resume gives seats back only where the host has not blocked them meanwhile.
            "authenticate" | "join-room" | "send-message" | "apply-blocks" => {
                match self.relations(socket) {
                    Ok(relations) => relations,
                    Err(message) => return json!({ "error": message }),
                }
            }
            _ => None,
        };
        let kind = RequestKind::Message {
            event: event.to_owned(),
            args,
            secret: secret.clone(),
            account,
            relations,
        };
        match self.request(self.conn_id(socket), kind).await {
            Ok(answer) => self.ack(socket, answer, &secret).await,
            Err(message) => json!({ "error": message }),
        }
    }

    /// Who an `authenticate` signs in as: a client whose session (the cookie of its
    /// socket.io handshake) is signed in takes its account's username, whatever it typed; a
    /// guest may not take a name that belongs to an account.
    fn sign_in_as(
        &self,
        socket: &SocketRef,
        args: &mut Vec<Value>,
    ) -> Result<Option<String>, String> {
        let headers = &socket.req_parts().headers;
        let store = &self.app.accounts.store;
        let token = crate::account::session::token(headers);
        let session = match &token {
            Some(token) => store
                .session(token, crate::state::unix_now())
                .map_err(|e| e.to_string())?,
            None => None,
        };
        if let (Some(session), Some(token)) = (session, token) {
            // A page of another site could open this socket with the visitor's cookie (a
            // sibling subdomain is "same-site", so SameSite does not stop it): the session
            // counts only from our own pages, or from clients that are not pages (no Origin).
            crate::account::session::same_origin(&self.app, self.peer(socket), headers)
                .map_err(|refusal| refusal.1)?;
            // Who this socket is, for notices to the people it follows.
            socket.extensions.insert(AccountTag {
                account: session.account.id.clone(),
                token,
            });
            let name = json!(session.account.username);
            match args.first_mut() {
                Some(first) => *first = name,
                None => args.push(name),
            }
            return Ok(Some(session.account.id));
        }
        if let Some(name) = args.first().and_then(Value::as_str) {
            if store
                .account_named(name)
                .map_err(|e| e.to_string())?
                .is_some()
            {
                return Err(format!(
                    "The name {} belongs to an account: sign in to use it",
                    name.trim()
                ));
            }
        }
        Ok(None)
    }

    /// Whom this socket's account follows and is in a block with, read now (a guest has no
    /// relations): a block or a follow made a moment ago counts.
    fn relations(&self, socket: &SocketRef) -> Result<Option<podium_rooms::Relations>, String> {
        let Some(AccountTag { account: id, .. }) = socket.extensions.get::<AccountTag>() else {
            return Ok(None);
        };
        let store = &self.app.accounts.store;
        let read = |ids: podium_accounts::Result<Vec<String>>| {
            ids.map(|ids| ids.into_iter().collect())
                .map_err(|e| e.to_string())
        };
        Ok(Some(podium_rooms::Relations {
            follows: read(store.following_ids(&id))?,
            blocks: read(store.blocked_ids(&id))?,
            blocked_by: read(store.blocker_ids(&id))?,
        }))
    }

    /// `live-now(query?)`: the ranking asked of the authority with whom this socket's
    /// account follows and is in a block with (a guest's: nobody).
    fn live_now_request(&self, socket: &SocketRef, args: &[Value]) -> Result<RequestKind, String> {
        let query = match args.first() {
            None | Some(Value::Null) => None,
            Some(Value::String(q)) => Some(q.clone()),
            Some(_) => return Err("Invalid search: a string or null".into()),
        };
        let store = &self.app.accounts.store;
        let tag = socket.extensions.get::<AccountTag>();
        let (follows, blocked) = match &tag {
            Some(AccountTag { account: id, .. }) => (
                store.following_ids(id).map_err(|e| e.to_string())?,
                store.block_relations(id).map_err(|e| e.to_string())?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok(RequestKind::LiveNow {
            query,
            account: tag.map(|t| t.account),
            follows,
            blocked,
        })
    }

    /// The ack for an answer, with what only this node adds: the resume secret it handed
    /// out, the member tokens it mints (for the nodes the Director places the member on).
    async fn ack(&self, socket: &SocketRef, answer: Answer, secret: &str) -> Value {
        match answer {
            Answer::Error { message } => json!({ "error": message }),
            Answer::Data { data } => json!({ "data": data }),
            Answer::SignedIn { mut data } => {
                // The secret this client presents to resume later (a reload, a new network).
                data["resumeSecret"] = json!(secret);
                json!({ "data": data })
            }
            Answer::Joined {
                view,
                publish,
                room,
            } => {
                let mut data = self.join_tokens(socket, view, publish).await;
                data["room"] = room;
                json!({ "data": data })
            }
        }
    }

    /// The connection a socket of this node is.
    fn conn_id(&self, socket: &SocketRef) -> ConnId {
        ConnId::new(format!("{}{}", self.prefix, socket.id))
    }

    /// Whether `conn` is a socket of this node.
    fn is_local(&self, conn: &ConnId) -> bool {
        conn.as_str().starts_with(&*self.prefix)
    }

    /// The socket of this node `conn` names, if still open.
    fn socket_of_conn(&self, conn: &ConnId) -> Option<SocketRef> {
        let sid = conn.as_str().strip_prefix(&*self.prefix)?.parse().ok()?;
        NAMESPACES
            .iter()
            .find_map(|ns| self.io.of(ns)?.get_socket(sid))
    }
}
