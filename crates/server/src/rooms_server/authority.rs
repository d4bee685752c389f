//! The rooms authority: the one place that applies the rooms domain's commands, and what it
//! decides, in a form any node can carry out.
//!
//! One process holds it (a single server, or the cluster's elected node); the socket.io
//! gateways of every node send it their clients' messages. A [`Decision`] names connections,
//! never sockets: the node whose prefix a connection id carries performs what concerns it
//! (joins, leaves, emits to it, its promotion token), every node performs the broadcasts,
//! the grant changes and the ends of revoked grants' sessions. Pure apart from the grant
//! registry it updates, and timed by the caller's `now`.

use podium_rooms::{
    Ack, Audience, Command, ConnId, Effect, Event, MediaAction, Outcome, Relations, RoomId, Rooms,
    UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::commands::{parse_command, Sender};
use crate::policy::room_grants::{GrantKind, GrantOp, RoomGrants};

/// What a gateway asks of the authority for one of its connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RequestKind {
    /// A client message; `secret` is the fresh resume secret a sign-in hands out.
    Message {
        event: String,
        args: Vec<Value>,
        secret: String,
        /// The account the client's session is signed in with (checked by its gateway).
        #[serde(default)]
        account: Option<String>,
        /// That account's follows and blocks, for the commands that need them (`join-room`,
        /// `send-message`), read by the gateway from the accounts store.
        #[serde(default)]
        relations: Option<Relations>,
    },
    /// The client signed out or was dropped on purpose.
    Disconnect,
    /// The connection broke (its user is held for a while).
    ConnectionLost { silent_ms: u64 },
    /// Live now, ranked for a signed-in viewer (read only): whom they follow and block.
    LiveNow {
        query: Option<String>,
        #[serde(default)]
        account: Option<String>,
        follows: Vec<String>,
        blocked: Vec<String>,
    },
}

impl RequestKind {
    /// Whether it only reads the state (answered without a decision to commit).
    pub fn is_read(&self) -> bool {
        matches!(self, Self::LiveNow { .. })
    }
}

/// Most cards a live-now answer lists.
const LIVE_NOW_LIMIT: usize = 100;

/// A member's media grant for a token the member's node mints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberGrant {
    /// The room (its stream).
    pub room: RoomId,
    /// The member (the source id a publish token binds, the viewer a view token names).
    pub user: UserId,
    /// The grant's `token_id`.
    pub token_id: String,
}

/// The answer to a message, before the requester's node adds what only it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Answer {
    /// Refused: the ack is `{error}`.
    Error { message: String },
    /// The ack's `data`.
    Data { data: Value },
    /// A sign-in by a client that keeps a resume secret: `data` plus that secret.
    SignedIn { data: Value },
    /// `join-room`: the node mints the view token and, for a speaker, the publish token;
    /// `room` is the room's JSON (a private room's members have no other way to get it).
    Joined {
        view: MemberGrant,
        publish: Option<MemberGrant>,
        #[serde(default)]
        room: Value,
    },
}

/// What the requester's node gets back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    /// The requesting connection.
    pub conn: ConnId,
    /// The request's number on its node.
    pub request: u64,
    pub answer: Answer,
}

/// One thing for a node to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Delivery {
    /// Add the connection to a delivery group (a socket.io room).
    Join { conn: ConnId, group: String },
    /// Remove it from one.
    Leave { conn: ConnId, group: String },
    /// Emit to one connection.
    Emit {
        conn: ConnId,
        event: String,
        args: Vec<Value>,
    },
    /// Emit to every member of a delivery group, on every node, except some connections.
    Broadcast {
        group: String,
        event: String,
        args: Vec<Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        except: Vec<ConnId>,
    },
    /// Mint a publish token under `grant` and emit `promoted(roomId, {publisherToken})`.
    Promoted { conn: ConnId, grant: MemberGrant },
    /// End the sessions opened under a revoked grant (on every node).
    EndGrant { token_id: String },
    /// Someone with an account went on stage (a room they opened, or a promotion): tell their
    /// followers who are connected (on every node, `followed-live`).
    FollowedLive {
        account: String,
        username: String,
        room: RoomId,
        room_name: String,
    },
    /// Close the connection (its user resumed on another one).
    Close { conn: ConnId },
    /// Recording for a replay started (with the room's details and its speakers) or stopped
    /// (on every node: the one holding the room's publications records them).
    Recording {
        room: RoomId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<crate::replays::RecordingStart>,
    },
    /// Someone came on stage in a room being recorded: record them too.
    RecordSpeaker {
        room: RoomId,
        speaker: crate::replays::RecordedSpeaker,
    },
}

/// Everything one command (or one expiry) decided, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Set by the authority when it commits (its boot id and a count), so a commit repeated
    /// after an unclear failure is recognised.
    #[serde(default)]
    pub id: String,
    /// The answer to the request, if this decides one.
    pub reply: Option<Reply>,
    /// Grant changes, applied before the deliveries (a token handed out is in force before
    /// its member can use it).
    pub grants: Vec<GrantOp>,
    pub deliveries: Vec<Delivery>,
}

impl Decision {
    /// Whether it changes nothing and tells no one anything.
    pub fn is_empty(&self) -> bool {
        self.reply.is_none() && self.grants.is_empty() && self.deliveries.is_empty()
    }
}

/// The rooms state and the decisions taken on it.
#[derive(Debug, Default)]
pub struct Authority {
    rooms: Rooms,
}

impl Authority {
    /// An authority over `rooms` (empty, or restored from a predecessor's snapshot).
    pub fn new(rooms: Rooms) -> Self {
        Self { rooms }
    }

    /// The state.
    pub fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    /// Applies the request `request` of connection `conn` at `now_ms`; `grants` is updated
    /// as the decision says.
    pub fn decide(
        &mut self,
        now_ms: u64,
        grants: &RoomGrants,
        conn: &ConnId,
        request: u64,
        kind: RequestKind,
    ) -> Decision {
        let (command, signs_in_with_secret) = match kind {
            RequestKind::Message {
                event,
                args,
                secret,
                account,
                relations,
            } => match parse_command(
                &event,
                &args,
                Sender {
                    secret: &secret,
                    account: account.as_deref(),
                    relations: relations.as_ref(),
                },
            ) {
                Ok(command) => (command, args.get(1).is_some_and(Value::is_object)),
                Err(message) => return refused(conn, request, message),
            },
            RequestKind::Disconnect => (Command::Disconnect, false),
            RequestKind::ConnectionLost { silent_ms } => {
                (Command::ConnectionLost { silent_ms }, false)
            }
            RequestKind::LiveNow {
                query,
                account,
                follows,
                blocked,
            } => {
                let viewer = podium_rooms::Viewer {
                    account,
                    follows: follows.into_iter().collect(),
                    blocked: blocked.into_iter().collect(),
                };
                let cards = self
                    .rooms
                    .live_for(now_ms, &viewer, query.as_deref(), LIVE_NOW_LIMIT);
                return Decision {
                    reply: Some(Reply {
                        conn: conn.clone(),
                        request,
                        answer: Answer::Data {
                            data: serde_json::to_value(cards).unwrap_or(Value::Null),
                        },
                    }),
                    ..Decision::default()
                };
            }
        };
        let outcome = match self.rooms.apply(now_ms, conn, command) {
            Ok(outcome) => outcome,
            Err(e) => return refused(conn, request, e.to_string()),
        };
        let mut decision = Decision::default();
        let answer = match &outcome.ack {
            Ack::Joined(tokens) => Answer::Joined {
                view: self.grant(
                    grants,
                    &mut decision,
                    (&tokens.view.stream, &tokens.view.viewer),
                    GrantKind::View,
                ),
                publish: tokens.publish.as_ref().map(|p| {
                    self.grant(
                        grants,
                        &mut decision,
                        (&p.stream, &p.source_id),
                        GrantKind::Publish,
                    )
                }),
                room: serde_json::to_value(self.rooms.room(&tokens.view.stream))
                    .unwrap_or(Value::Null),
            },
            signed_in @ (Ack::Authenticated { .. } | Ack::Resumed { .. })
                if signs_in_with_secret =>
            {
                Answer::SignedIn {
                    data: signed_in.data().unwrap_or(Value::Null),
                }
            }
            other => Answer::Data {
                data: other.data().unwrap_or(Value::Null),
            },
        };
        self.add_effects(grants, &mut decision, outcome);
        decision.reply = Some(Reply {
            conn: conn.clone(),
            request,
            answer,
        });
        decision
    }

    /// Users away past their hold leave their rooms; departed secrets expire. `None` when
    /// nothing was due.
    pub fn expire(&mut self, now_ms: u64, grants: &RoomGrants) -> Option<Decision> {
        if self.rooms.next_deadline().is_none_or(|t| t > now_ms) {
            return None;
        }
        let outcome = self.rooms.expire(now_ms);
        let mut decision = Decision::default();
        self.add_effects(grants, &mut decision, outcome);
        Some(decision)
    }

    /// Every connection `gone` says is lost (its node died): each user is held as after a
    /// broken connection silent for `silent_ms`.
    pub fn lose_connections(
        &mut self,
        now_ms: u64,
        grants: &RoomGrants,
        silent_ms: u64,
        gone: impl Fn(&ConnId) -> bool,
    ) -> Decision {
        let lost: Vec<ConnId> = self
            .rooms
            .connections()
            .filter(|c| gone(c))
            .cloned()
            .collect();
        let mut decision = Decision::default();
        for conn in lost {
            if let Ok(outcome) =
                self.rooms
                    .apply(now_ms, &conn, Command::ConnectionLost { silent_ms })
            {
                self.add_effects(grants, &mut decision, outcome);
            }
        }
        decision
    }

    /// Brings `grants` in line with the state (after restoring it from a snapshot that may
    /// be older than the grants): rooms opened and closed as they exist, grants revoked that
    /// no membership justifies.
    pub fn reconcile(&self, grants: &RoomGrants) -> Decision {
        let mut decision = Decision::default();
        let record = grants.export();
        let (rooms, members) = record.parts();
        let mut open = |op: GrantOp| {
            grants.apply(&op);
            decision.grants.push(op);
        };
        for room in rooms {
            if self.rooms.room(&RoomId::new(room.as_str())).is_none() {
                open(GrantOp::CloseRoom { room: room.clone() });
            }
        }
        for room in self.rooms.rooms() {
            if !rooms.contains(room.id().as_str()) {
                open(GrantOp::OpenRoom {
                    room: room.id().as_str().to_owned(),
                });
            }
        }
        // Recorders follow the restored state: a room recorded goes on being recorded (a
        // repeated start changes nothing), any other is stopped (a stop of a room not
        // recorded changes nothing), so no node records a room whose members see no REC.
        for room in rooms {
            if self.rooms.room(&RoomId::new(room.as_str())).is_none() {
                decision.deliveries.push(Delivery::Recording {
                    room: RoomId::new(room.as_str()),
                    start: None,
                });
            }
        }
        for room in self.rooms.rooms() {
            let event = Event::RoomRecording {
                room_id: room.id().clone(),
                recording: room.recording(),
            };
            decision.deliveries.extend(self.recording(&event));
        }
        for (room, user, kind, _) in members {
            let (room_id, user_id) = (RoomId::new(room.as_str()), UserId::new(user.as_str()));
            let justified = self.rooms.room(&room_id).is_some_and(|r| match kind {
                GrantKind::View => r.is_member(&user_id),
                GrantKind::Publish => r.is_speaker(&user_id),
            });
            if !justified {
                self.revoke(grants, &mut decision, room, user, *kind);
            }
        }
        decision
    }

    fn grant(
        &self,
        grants: &RoomGrants,
        decision: &mut Decision,
        (room, user): (&RoomId, &UserId),
        kind: GrantKind,
    ) -> MemberGrant {
        let (token_id, op) = grants.grant_op(room.as_str(), user.as_str(), kind);
        decision.grants.extend(op);
        MemberGrant {
            room: room.clone(),
            user: user.clone(),
            token_id,
        }
    }

    fn revoke(
        &self,
        grants: &RoomGrants,
        decision: &mut Decision,
        room: &str,
        user: &str,
        kind: GrantKind,
    ) {
        let op = GrantOp::Revoke {
            room: room.to_owned(),
            user: user.to_owned(),
            kind,
        };
        if let Some(token_id) = grants.apply(&op) {
            decision.grants.push(op);
            decision.deliveries.push(Delivery::EndGrant { token_id });
        }
    }

    /// The outcome's effects as deliveries and grant changes, connections resolved now.
    fn add_effects(&self, grants: &RoomGrants, decision: &mut Decision, outcome: Outcome) {
        let conn = |user: &UserId| self.rooms.conn_of(user).cloned();
        for effect in outcome.effects {
            let mut recording = None;
            let delivery = match effect {
                Effect::Join { user, group } => conn(&user).map(|conn| Delivery::Join {
                    conn,
                    group: group.name().to_owned(),
                }),
                Effect::Leave { user, group } => conn(&user).map(|conn| Delivery::Leave {
                    conn,
                    group: group.name().to_owned(),
                }),
                Effect::Emit { to, event } => {
                    let op = match &event {
                        Event::RoomCreated(room) => Some(GrantOp::OpenRoom {
                            room: room.id().as_str().to_owned(),
                        }),
                        Event::RoomDeleted { room_id } => Some(GrantOp::CloseRoom {
                            room: room_id.as_str().to_owned(),
                        }),
                        _ => None,
                    };
                    if let Some(op) = op {
                        grants.apply(&op);
                        decision.grants.push(op);
                    }
                    decision.deliveries.extend(self.followed_live(&event));
                    // After the event itself: members are told before recording starts.
                    recording = self.recording(&event);
                    let (name, args) = (event.name().to_owned(), event.args());
                    match to {
                        Audience::Spaces => Some(Delivery::Broadcast {
                            group: podium_rooms::Group::Spaces.name().to_owned(),
                            event: name,
                            args,
                            except: Vec::new(),
                        }),
                        Audience::Room(room) => Some(Delivery::Broadcast {
                            group: room.as_str().to_owned(),
                            event: name,
                            args,
                            except: Vec::new(),
                        }),
                        Audience::RoomExcept { room_id, except } => Some(Delivery::Broadcast {
                            group: room_id.as_str().to_owned(),
                            event: name,
                            args,
                            except: except.iter().filter_map(conn).collect(),
                        }),
                        Audience::User(user) => conn(&user).map(|conn| Delivery::Emit {
                            conn,
                            event: name,
                            args,
                        }),
                    }
                }
                Effect::SendPromoted { user, request, .. } => {
                    let grant = self.grant(
                        grants,
                        decision,
                        (&request.stream, &request.source_id),
                        GrantKind::Publish,
                    );
                    conn(&user).map(|conn| Delivery::Promoted { conn, grant })
                }
                Effect::Media(MediaAction::EndPublication { room_id, user_id }) => {
                    let (room, user) = (room_id.as_str(), user_id.as_str());
                    self.revoke(grants, decision, room, user, GrantKind::Publish);
                    None
                }
                Effect::Media(MediaAction::EndView { room_id, user_id }) => {
                    let (room, user) = (room_id.as_str(), user_id.as_str());
                    self.revoke(grants, decision, room, user, GrantKind::View);
                    None
                }
                Effect::CloseConnection { conn } => Some(Delivery::Close { conn }),
                _ => None,
            };
            decision.deliveries.extend(delivery);
            decision.deliveries.extend(recording.take());
        }
    }
}

impl Authority {
    /// The followers' notice an event calls for: a room opened by, or a promotion of,
    /// someone with an account.
    fn followed_live(&self, event: &Event) -> Option<Delivery> {
        let (room, user) = match event {
            Event::RoomCreated(room) => (room.id(), room.owner_id()),
            Event::UserPromoted {
                room_id,
                user_id,
                promoted: true,
            } => (room_id, user_id),
            _ => return None,
        };
        let room = self.rooms.room(room)?;
        let member = room.participant(user)?;
        // Only rooms the followers may find: a public room, or a followers-only room its
        // opener is live in (their followers may join). Invite-only rooms are told to nobody.
        let announced = match room.privacy() {
            podium_rooms::Privacy::Public => true,
            podium_rooms::Privacy::Followers => {
                member.account.is_some() && member.account.as_deref() == room.host_account()
            }
            _ => false,
        };
        if !announced {
            return None;
        }
        Some(Delivery::FollowedLive {
            account: member.account.clone()?,
            username: member.username.clone(),
            room: room.id().clone(),
            room_name: room.name().to_owned(),
        })
    }
}

impl Authority {
    /// What an event asks of the room recorders: start or stop, or one more speaker.
    fn recording(&self, event: &Event) -> Option<Delivery> {
        let speaker = |room: &podium_rooms::Room, user: &UserId| {
            let p = room.participant(user)?;
            Some(crate::replays::RecordedSpeaker {
                user: user.as_str().to_owned(),
                username: p.username.clone(),
                account: p.account.clone(),
            })
        };
        match event {
            Event::RoomRecording {
                room_id,
                recording: true,
            } => {
                let room = self.rooms.room(room_id)?;
                let start = crate::replays::RecordingStart {
                    host_account: room.host_account()?.to_owned(),
                    title: room.name().to_owned(),
                    privacy: room.privacy().name().to_owned(),
                    speakers: room
                        .speakers()
                        .iter()
                        .filter_map(|s| speaker(room, &s.id))
                        .collect(),
                };
                Some(Delivery::Recording {
                    room: room_id.clone(),
                    start: Some(start),
                })
            }
            Event::RoomRecording {
                room_id,
                recording: false,
            }
            | Event::RoomDeleted { room_id } => Some(Delivery::Recording {
                room: room_id.clone(),
                start: None,
            }),
            Event::UserPromoted {
                room_id,
                user_id,
                promoted: true,
            } => {
                let room = self.rooms.room(room_id)?;
                if !room.recording() {
                    return None;
                }
                Some(Delivery::RecordSpeaker {
                    room: room_id.clone(),
                    speaker: speaker(room, user_id)?,
                })
            }
            _ => None,
        }
    }
}

fn refused(conn: &ConnId, request: u64, message: String) -> Decision {
    Decision {
        reply: Some(Reply {
            conn: conn.clone(),
            request,
            answer: Answer::Error { message },
        }),
        ..Decision::default()
    }
}

#[cfg(test)]
#[path = "authority_tests.rs"]
mod tests;
