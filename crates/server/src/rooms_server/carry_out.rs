//! Carrying out the authority's decisions on this node: its sockets' groups and emits, the
//! broadcasts to its members of each group, the member tokens it mints, the grant changes
//! (in a cluster each node keeps its own registry, applied in `cluster::rooms`) and the
//! sessions of revoked grants that run here.

use podium_auth::{MillicastClaims, TokenType};
use podium_rooms::ConnId;
use serde_json::{json, Value};
use socketioxide::extract::SocketRef;

use super::authority::{Decision, Delivery, MemberGrant};
use super::delivery::{self, Sent};
use super::{EmitArgs, Gateway, NAMESPACES};
use crate::director::{connection_data, node_base, Placing};
use crate::policy::room_grants::GrantKind;
use crate::policy::sessions::EndReason;

/// Longest wait for the Director's placement of a member.
const PLACEMENT_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

impl Gateway {
    /// Performs what `decision` asks of this node, in order.
    pub(super) async fn carry_out(&self, decision: &Decision) {
        for delivery in &decision.deliveries {
            match delivery {
                Delivery::Join { conn, group } => {
                    if let Some(s) = self.socket_of_conn(conn) {
                        s.join(group.clone());
                    }
                }
                Delivery::Leave { conn, group } => {
                    if let Some(s) = self.socket_of_conn(conn) {
                        s.leave(group.clone());
                    }
                }
                Delivery::Emit { conn, event, args } => {
                    if let Some(s) = self.socket_of_conn(conn) {
                        self.emit_to(&s, event, args);
                    }
                }
                Delivery::Broadcast {
                    group,
                    event,
                    args,
                    except,
                } => self.broadcast(group, event, args, except),
                Delivery::Promoted { conn, grant } => {
                    if let Some(s) = self.socket_of_conn(conn) {
                        let token = self.member_token(&s, grant, GrantKind::Publish).await;
                        let args = [json!(grant.room), json!({ "publisherToken": token })];
                        self.emit_to(&s, "promoted", &args);
                    }
                }
                Delivery::FollowedLive {
                    account,
                    username,
                    room,
                    room_name,
                } => {
                    let args = [json!({
                        "accountId": account,
                        "username": username,
                        "roomId": room,
                        "roomName": room_name,
                    })];
                    self.tell_followers(account, &args);
                }
                Delivery::EndGrant { token_id } => {
                    self.app
                        .end_token_sessions_here(token_id, EndReason::GrantRevoked);
                }
                Delivery::Recording { room, start } => match start {
                    Some(start) => self.app.replays.start(&self.app, room, start.clone()),
                    None => self.app.replays.stop(&self.app, room),
                },
                Delivery::RecordSpeaker { room, speaker } => {
                    self.app.replays.speaker(&self.app, room, speaker.clone());
                }
                Delivery::Close { conn } => {
                    if let Some(s) = self.socket_of_conn(conn) {
                        // Its user resumed or was taken over elsewhere (another tab or device):
                        // told why, so the page offers to come back rather than to sign in.
                        // Its own disconnect changes nothing.
                        delivery::emit(&self.app.rooms_overflow, &s, "signed-in-elsewhere", &());
                        delivery::close(s);
                    }
                }
            }
        }
    }

    /// Tells the followers of `account` that they went live: `followed-live` to this node's
    /// sockets whose account follows them, and a Web Push to the others (their app is
    /// closed, or open elsewhere). The followers are read off the decision path (a popular
    /// account has many).
    fn tell_followers(&self, account: &str, args: &[Value]) {
        let mut local = Vec::new();
        for ns in NAMESPACES {
            let Some(op) = self.io.of(ns) else { continue };
            for socket in op.sockets() {
                if let Some(tag) = socket.extensions.get::<super::AccountTag>() {
                    local.push((socket, tag.account));
                }
            }
        }
        let (gateway, account, args) = (self.clone(), account.to_owned(), args.to_vec());
        tokio::spawn(async move {
            let store = gateway.app.accounts.store.clone();
            let who = account.clone();
            let read = tokio::task::spawn_blocking(move || store.follower_ids(&who)).await;
            let followers: std::collections::HashSet<String> = match read {
                Ok(Ok(ids)) => ids.into_iter().collect(),
                _ => {
                    tracing::warn!("followers not read");
                    return;
                }
            };
            // Once per cooldown per follower and host (on and off stage is not news), to every
            // socket of theirs here.
            let (sender, now) = (&gateway.app.accounts.push.sender, std::time::Instant::now());
            let in_app = format!("app:{account}");
            let mut told: std::collections::HashMap<String, bool> = Default::default();
            for (socket, follower) in local {
                if !followers.contains(&follower) {
                    continue;
                }
                let due = *told
                    .entry(follower.clone())
                    .or_insert_with(|| sender.due(&follower, &in_app, now));
                if due {
                    gateway.emit_to(&socket, "followed-live", &args);
                }
            }
            let away: Vec<String> = followers
                .iter()
                .filter(|f| !told.contains_key(*f))
                .cloned()
                .collect();
            if let Some(notice) = followed_notice(&args) {
                let push = &gateway.app.accounts.push;
                push.sender.notify(
                    push.store.clone(),
                    &account,
                    away,
                    notice,
                    std::time::Instant::now(),
                );
            }
        });
    }

    /// Emits to one client, handling a client that is not reading.
    pub(super) fn emit_to(&self, socket: &SocketRef, event: &str, args: &[Value]) {
        if delivery::emit(&self.app.rooms_overflow, socket, event, &EmitArgs(args))
            == Sent::Overflowed
        {
            self.overflowed(socket);
        }
    }

    /// Emits to every member of a delivery group on this node, one socket at a time so a
    /// client that is not reading is found and dealt with (a library broadcast only says
    /// that some failed).
    fn broadcast(&self, group: &str, event: &str, args: &[Value], except: &[ConnId]) {
        for ns in NAMESPACES {
            let Some(op) = self.io.of(ns) else { continue };
            for socket in op.to(group.to_owned()).sockets() {
                if except.is_empty() || !except.contains(&self.conn_id(&socket)) {
                    self.emit_to(&socket, event, args);
                }
            }
        }
    }

    /// `join-room`'s data: a view token and, for a speaker, a publish token.
    pub(super) async fn join_tokens(
        &self,
        socket: &SocketRef,
        view: MemberGrant,
        publish: Option<MemberGrant>,
    ) -> Value {
        let view = self.member_token(socket, &view, GrantKind::View).await;
        let publish = match publish {
            Some(grant) => Some(self.member_token(socket, &grant, GrantKind::Publish).await),
            None => None,
        };
        json!({ "viewerToken": view, "publisherToken": publish })
    }

    /// A JWT for a member under `grant`: a publish JWT bound to the member's own source, or
    /// a view JWT whose bound source names the viewer. Its URL is this node as the client
    /// reached it, or in a cluster the node the Director places the member on (a room's
    /// publishers all on its origin).
    async fn member_token(
        &self,
        socket: &SocketRef,
        grant: &MemberGrant,
        kind: GrantKind,
    ) -> Value {
        let publish = kind == GrantKind::Publish;
        let room = grant.room.as_str();
        let placing = if publish {
            Placing::Publisher(room)
        } else {
            Placing::Viewer(room)
        };
        let (peer, headers) = (self.peer(socket), &socket.req_parts().headers);
        // Bounded: a promotion is carried out in the order of decisions, which must not wait
        // long on a slow Redis. Unplaced, the member is sent to this node.
        let placed =
            tokio::time::timeout(PLACEMENT_WAIT, node_base(&self.app, peer, headers, placing));
        let base = match placed.await {
            Ok(Ok(base)) => base,
            Ok(Err(refusal)) => {
                tracing::warn!(reason = %refusal.1, "member not placed: this node's URL");
                crate::director::ws_base(&self.app, peer, headers)
            }
            Err(_) => {
                tracing::warn!("member placement timed out: this node's URL");
                crate::director::ws_base(&self.app, peer, headers)
            }
        };
        let claims = MillicastClaims {
            token_type: if publish {
                TokenType::Publish
            } else {
                TokenType::Subscribe
            },
            stream_account_id: self.app.account_id.clone(),
            stream_name: room.to_owned(),
            record: false,
            multisource: publish,
            source_id: Some(grant.user.as_str().to_owned()),
            token_id: Some(grant.token_id.clone()),
        };
        let role = if publish { "pub" } else { "sub" };
        let mut data = connection_data(&self.app, &base, claims, role);
        if publish {
            // Rooms are private: only members get view tokens.
            data.subscribe_requires_auth = Some(true);
        }
        serde_json::to_value(data).expect("connection data serialises")
    }
}

/// The push notification for a `followed-live` notice.
fn followed_notice(args: &[Value]) -> Option<crate::push::Notice> {
    let notice = args.first()?;
    let (name, room, room_name) = (
        notice["username"].as_str()?,
        notice["roomId"].as_str()?,
        notice["roomName"].as_str()?,
    );
    Some(crate::push::Notice {
        title: format!("{name} is live"),
        body: format!("On stage in “{room_name}”. Tap to listen."),
        url: format!("/#/room/{}", urlencode(room)),
        tag: format!("followed-{}", notice["accountId"].as_str().unwrap_or(name)),
    })
}

/// Percent-encodes a room id for the app's address (ids are UUIDs; this keeps any safe).
fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
