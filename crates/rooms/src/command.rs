//! What goes in ([`Command`]) and what comes out ([`Outcome`]: the ack and the effects).

use crate::effect::{Effect, Event, MediaAction};
use crate::ids::{RoomId, UserId};
use crate::model::{Room, User};
use serde::Serialize;

/// One client message (or the end of a connection), already decoded by the shell.
///
/// Names mirror the demo's socket.io events; see [`Command::event_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `authenticate(username)`: sign in under a name.
    Authenticate {
        /// The requested username, as typed (it is trimmed and validated).
        username: String,
    },
    /// `create-room(name, audioOnly)`: open a room owned (and joined) by the caller.
    CreateRoom {
        /// A fresh id minted by the shell (a UUID v4); the domain never invents ids.
        room_id: RoomId,
        /// The room name, as typed (it is trimmed and validated).
        name: String,
        /// Audio only, or audio plus the owner's video.
        audio_only: bool,
    },
    /// `join-room(roomId)`: enter a room as a listener (or re-fetch one's media grants).
    JoinRoom {
        /// The room.
        room_id: RoomId,
    },
    /// `leave-room(roomId)`.
    LeaveRoom {
        /// The room.
        room_id: RoomId,
    },
    /// `raise-hand(roomId, raised)`: a listener asks for (or stops asking for) the mic.
    RaiseHand {
        /// The room.
        room_id: RoomId,
        /// Raise (`true`) or lower (`false`).
        raised: bool,
    },
    /// `promote-user(roomId, userId, promote)`: the owner moves a member onto the stage
    /// (`true`) or off it (`false`; for a listener this denies their raised hand).
    PromoteUser {
        /// The room.
        room_id: RoomId,
        /// The member to move.
        user_id: UserId,
        /// Onto the stage, or off it.
        promote: bool,
    },
    /// `kick-user(roomId, userId)`: the owner removes a member.
    KickUser {
        /// The room.
        room_id: RoomId,
        /// The member to remove.
        user_id: UserId,
    },
    /// `mute-speaker(roomId, userId)`: the owner mutes a speaker.
    MuteSpeaker {
        /// The room.
        room_id: RoomId,
        /// The speaker to mute.
        user_id: UserId,
    },
    /// `mute(roomId, muted)`: a speaker mutes or unmutes themselves.
    Mute {
        /// The room.
        room_id: RoomId,
        /// Mute (`true`) or unmute (`false`).
        muted: bool,
    },
    /// The connection is gone (socket.io `disconnect`). Never refused.
    Disconnect,
}

impl Command {
    /// The socket.io event this command comes from (`"disconnect"` for [`Command::Disconnect`]).
    pub fn event_name(&self) -> &'static str {
        match self {
            Self::Authenticate { .. } => "authenticate",
            Self::CreateRoom { .. } => "create-room",
            Self::JoinRoom { .. } => "join-room",
            Self::LeaveRoom { .. } => "leave-room",
            Self::RaiseHand { .. } => "raise-hand",
            Self::PromoteUser { .. } => "promote-user",
            Self::KickUser { .. } => "kick-user",
            Self::MuteSpeaker { .. } => "mute-speaker",
            Self::Mute { .. } => "mute",
            Self::Disconnect => "disconnect",
        }
    }
}

/// A view token the shell must mint: subscribe to `stream` (the room id) for `viewer`.
///
/// Binding the token to the viewer lets the shell find and end this view later
/// ([`MediaAction::EndView`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewTokenRequest {
    /// The stream: the room id.
    pub stream: RoomId,
    /// Who will view.
    pub viewer: UserId,
}

/// A publish token the shell must mint: publish to `stream` (the room id) with
/// `sourceId = source_id` (the user id) and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishTokenRequest {
    /// The stream: the room id.
    pub stream: RoomId,
    /// The only `sourceId` the token may publish: the user id.
    pub source_id: UserId,
}

/// The media grants a member needs after `join-room`: the shell mints them and acks
/// `{viewerToken, publisherToken}` (the latter `null`/absent for listeners).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinTokens {
    /// Every member views the room.
    pub view: ViewTokenRequest,
    /// Only the owner and speakers publish.
    pub publish: Option<PublishTokenRequest>,
}

/// The data of a successful ack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ack {
    /// `authenticate`: `{user, rooms}` — the user and every live room (in listing order).
    Authenticated {
        /// The signed-in user.
        user: User,
        /// Snapshots of all rooms, most participants first, then newest.
        rooms: Vec<Room>,
    },
    /// `create-room`: the new room's id.
    RoomCreated {
        /// The id.
        room_id: RoomId,
    },
    /// `join-room`: the tokens to mint before acking.
    Joined(JoinTokens),
    /// Every other command: `null`.
    Done,
}

impl Ack {
    /// The ack's `data` as JSON, or `None` for [`Ack::Joined`], whose data
    /// (`{viewerToken, publisherToken}`) only exists once the shell has minted the tokens.
    pub fn data(&self) -> Option<serde_json::Value> {
        match self {
            Self::Authenticated { user, rooms } => Some(serde_json::json!({
                "user": user,
                "rooms": rooms,
            })),
            Self::RoomCreated { room_id } => Some(serde_json::json!(room_id)),
            Self::Joined(_) => None,
            Self::Done => Some(serde_json::Value::Null),
        }
    }
}

/// The result of an accepted command: the ack, then effects to carry out **in order**.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What to answer the caller.
    pub ack: Ack,
    /// Group changes, broadcasts, publish grants and media actions, in the order they must
    /// happen (a broadcast to a room reaches the members at that point of the list).
    pub effects: Vec<Effect>,
}

impl Outcome {
    pub(crate) fn done() -> Self {
        Self::ack(Ack::Done)
    }

    pub(crate) fn ack(ack: Ack) -> Self {
        Self {
            ack,
            effects: Vec::new(),
        }
    }

    /// The events to emit, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Emit { event, .. } => Some(event),
            _ => None,
        })
    }

    /// The media actions, in order.
    pub fn media_actions(&self) -> impl Iterator<Item = &MediaAction> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Media(action) => Some(action),
            _ => None,
        })
    }
}
