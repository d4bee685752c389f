//! What goes in ([`Command`]) and what comes out ([`Outcome`]: the ack and the effects).

use crate::effect::{Effect, Event, MediaAction};
use crate::ids::{RoomId, UserId};
use crate::model::{Privacy, Room, User};
use crate::social::Relations;
use serde::Serialize;

/// One client message (or the end of a connection), already decoded by the shell.
///
/// Names mirror the demo's socket.io events; see [`Command::event_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `authenticate(username, options?)`: sign in under a name as a new user.
    Authenticate {
        /// The requested username, as typed (it is trimmed and validated).
        username: String,
        /// The secret that lets this user resume, and what the client supports.
        client: ClientInfo,
    },
    /// `authenticate(username, {resume})`: come back as the user a previous connection
    /// signed in as (a reload, a dropped network), with the secret that connection was
    /// given. The user keeps their id, rooms and roles (see the crate docs, *Presence*).
    Resume {
        /// The username, as typed: it must be the resumed user's.
        username: String,
        /// The secret the previous connection was given.
        secret: String,
        /// The new secret and what the client supports.
        client: ClientInfo,
        /// The rooms the client still shows (`None`: every one). The user leaves the others:
        /// a room walked out of while offline is not kept, nor given back.
        keep: Option<Vec<RoomId>>,
        /// The account's relations, read by the shell just now: a seat in a room whose host
        /// blocked them meanwhile is not given back.
        relations: Relations,
    },
    /// `authenticate(username, {takeOver: true})`: the account's user, signed in on another
    /// connection (another tab or device), moves to this one with its seats, as a resume
    /// would; the other connection is closed. A name nobody holds signs in as a new user.
    TakeOver {
        /// The username, as typed: the account's.
        username: String,
        /// The new secret, what the client supports and its account (required).
        client: ClientInfo,
    },
    /// `create-room(name, audioOnly)`: open a room owned (and joined) by the caller.
    CreateRoom {
        /// A fresh id minted by the shell (a UUID v4); the domain never invents ids.
        room_id: RoomId,
        /// The room name, as typed (it is trimmed and validated).
        name: String,
        /// Audio only, or audio plus the owner's video.
        audio_only: bool,
        /// Who may find and enter it (`{privacy}` in the options; the shell mints an invite
        /// link's secret).
        privacy: Privacy,
    },
    /// `join-room(roomId, {invite}?)`: enter a room as a listener (or re-fetch one's media
    /// grants).
    JoinRoom {
        /// The room.
        room_id: RoomId,
        /// The secret of the room's invite link, if the client has one.
        invite: Option<String>,
        /// The joiner's relations, read by the shell from the accounts store just now.
        relations: Relations,
    },
    /// `leave-room(roomId)`.
    LeaveRoom {
        /// The room.
        room_id: RoomId,
    },
    /// `raise-hand(roomId, raised, {reason}?)`: a listener asks for (or stops asking for)
    /// the mic, optionally saying why.
    RaiseHand {
        /// The room.
        room_id: RoomId,
        /// Raise (`true`) or lower (`false`).
        raised: bool,
        /// Why, as typed (validated like a chat message, shorter).
        reason: Option<String>,
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
    /// `kick-user(roomId, userId, {ban}?)`: a moderator removes a member; with `ban` (the
    /// default, as the demo's kick always lasted) they cannot come back while the room lives.
    KickUser {
        /// The room.
        room_id: RoomId,
        /// The member to remove.
        user_id: UserId,
        /// Refuse them (their id, look-alike names and account) for the room's lifetime.
        ban: bool,
    },
    /// `set-moderator(roomId, userId, moderator)`: a moderator makes a speaker a moderator
    /// (a co-host), or ends that role.
    SetModerator {
        /// The room.
        room_id: RoomId,
        /// The speaker.
        user_id: UserId,
        /// Moderator or not.
        moderator: bool,
    },
    /// `set-recording(roomId, recording)`: a moderator starts or stops recording the room for
    /// a replay on its host's profile.
    SetRecording {
        /// The room.
        room_id: RoomId,
        /// On or off.
        recording: bool,
    },
    /// `apply-blocks`: the caller has just blocked someone (the app sends it after a block):
    /// the accounts they block leave every room the caller owns, told `kicked`, and cannot
    /// come back while the block stands.
    ApplyBlocks {
        /// The caller's relations, read by the shell from the accounts store just now.
        relations: Relations,
    },
    /// `send-message(roomId, text)`: chat to everyone present.
    SendMessage {
        /// The room.
        room_id: RoomId,
        /// The text as typed (validated).
        text: String,
        /// The author's relations, read by the shell just now: people in a block with them
        /// do not get the message.
        relations: Relations,
    },
    /// `delete-message(roomId, messageId)`: its author or a moderator removes a message.
    DeleteMessage {
        /// The room.
        room_id: RoomId,
        /// The message's number.
        message_id: u64,
    },
    /// `mute-chat(roomId, userId, muted)`: a moderator stops (or allows again) a member's
    /// chat messages.
    MuteChat {
        /// The room.
        room_id: RoomId,
        /// The member.
        user_id: UserId,
        /// Muted or not.
        muted: bool,
    },
    /// `react(roomId, emoji, targetUserId?)`: a reaction floating over a speaker's tile (or
    /// the room's).
    React {
        /// The room.
        room_id: RoomId,
        /// One of [`REACTIONS`](crate::REACTIONS).
        emoji: String,
        /// The speaker it is for, if any.
        target: Option<UserId>,
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
    /// `answer-invite(roomId, accept)`: a listener the owner invited to speak accepts
    /// (they go on stage) or declines (they stay in the audience).
    AnswerInvite {
        /// The room.
        room_id: RoomId,
        /// Accept (`true`) or decline.
        accept: bool,
    },
    /// `leave-stage(roomId)`: a speaker moves themselves to the audience.
    LeaveStage {
        /// The room.
        room_id: RoomId,
    },
    /// `mic-state(roomId, available)`: a speaker says whether their microphone works
    /// (permission denied or device failed: `false`), so everyone sees it.
    MicState {
        /// The room.
        room_id: RoomId,
        /// Whether the microphone is available.
        available: bool,
    },
    /// `set-content(roomId, streamName | null)`: the owner attaches a stream for everyone in
    /// the room to watch while the room talks (watch party), or detaches it (`None`). The
    /// shell first checks the owner may publish to that stream and that anyone may view it.
    SetContent {
        /// The room.
        room_id: RoomId,
        /// The stream, as typed (trimmed and validated), or none.
        stream: Option<String>,
    },
    /// `sign-out`, or a connection the shell drops for good: the user leaves every room at
    /// once and cannot resume. Never refused.
    Disconnect,
    /// The connection is gone (socket.io `disconnect`: closed, or its heartbeat timed out).
    /// The user keeps their seats, unseen by others, until [`Limits::hold_ms`](crate::Limits)
    /// after they were last heard (see [`Rooms::expire`](crate::Rooms::expire)). Never refused.
    ConnectionLost {
        /// How long before now the client was last heard (the heartbeat's timeout for a
        /// timed-out connection, 0 for a closed one).
        silent_ms: u64,
    },
}

/// What a client brings when it signs in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ClientInfo {
    /// A fresh random secret minted by the shell and given to the client: presented later in
    /// [`Command::Resume`], it proves the client is the one that signed in. Empty = the user
    /// cannot resume.
    pub resume_secret: String,
    /// The client answers invitations (`invited` / `answer-invite`). The original demo app
    /// does not: the owner's invitation promotes its users at once, as it always did.
    pub answers_invitations: bool,
    /// The account the client is signed in with (the shell checked its session), if any.
    #[serde(default)]
    pub account: Option<String>,
}

impl ClientInfo {
    /// A client that can resume with `secret` and answers invitations.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            resume_secret: secret.into(),
            answers_invitations: true,
            account: None,
        }
    }
}

impl Command {
    /// The socket.io event this command comes from (`"disconnect"` for a lost connection).
    pub fn event_name(&self) -> &'static str {
        match self {
            Self::Authenticate { .. } | Self::Resume { .. } | Self::TakeOver { .. } => {
                "authenticate"
            }
            Self::CreateRoom { .. } => "create-room",
            Self::JoinRoom { .. } => "join-room",
            Self::LeaveRoom { .. } => "leave-room",
            Self::RaiseHand { .. } => "raise-hand",
            Self::PromoteUser { .. } => "promote-user",
            Self::KickUser { .. } => "kick-user",
            Self::SetModerator { .. } => "set-moderator",
            Self::SetRecording { .. } => "set-recording",
            Self::ApplyBlocks { .. } => "apply-blocks",
            Self::SendMessage { .. } => "send-message",
            Self::DeleteMessage { .. } => "delete-message",
            Self::MuteChat { .. } => "mute-chat",
            Self::React { .. } => "react",
            Self::MuteSpeaker { .. } => "mute-speaker",
            Self::Mute { .. } => "mute",
            Self::AnswerInvite { .. } => "answer-invite",
            Self::LeaveStage { .. } => "leave-stage",
            Self::MicState { .. } => "mic-state",
            Self::SetContent { .. } => "set-content",
            Self::Disconnect => "sign-out",
            Self::ConnectionLost { .. } => "disconnect",
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
    /// `authenticate` with a resume secret: `{user, rooms, seats}` — as
    /// [`Ack::Authenticated`], plus every room the user is (back) in.
    Resumed {
        /// The user, with the same id as before.
        user: User,
        /// Snapshots of the live rooms, in listing order.
        rooms: Vec<Room>,
        /// The rooms the user is in now, with their role in each (read from the snapshot).
        seats: Vec<Room>,
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
            Self::Resumed { user, rooms, seats } => Some(serde_json::json!({
                "user": user,
                "rooms": rooms,
                "seats": seats,
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
