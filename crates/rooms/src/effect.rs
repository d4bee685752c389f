//! Effects: what the shell must do after an accepted command.

use crate::command::PublishTokenRequest;
use crate::ids::{ConnId, RoomId, UserId};
use crate::model::{ChatMessage, Room, User};
use crate::validate::SPACES;
use serde_json::{json, Value};

/// One thing for the shell to do. An [`crate::Outcome`] lists them in the order they must
/// happen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// Effects live for one command's outcome and are carried out at once: boxing the room
// snapshots inside would cost an allocation each for no saving that matters.
#[allow(clippy::large_enum_variant)]
pub enum Effect {
    /// Add the user's connection to a delivery group (`socket.join(group.name())`). Effects
    /// name users; [`Rooms::conn_of`](crate::Rooms::conn_of) gives their connection (none
    /// while they are away: skip the effect).
    Join {
        /// The user.
        user: UserId,
        /// The group.
        group: Group,
    },
    /// Remove the user's connection from a delivery group (`socket.leave(group.name())`).
    /// Harmless if the connection is already gone (disconnect).
    Leave {
        /// The user.
        user: UserId,
        /// The group.
        group: Group,
    },
    /// Emit an event to an audience.
    Emit {
        /// Who receives it.
        to: Audience,
        /// What.
        event: Event,
    },
    /// Mint a publish token for `request` and emit `promoted(roomId, {publisherToken})` to
    /// `user` only: they were moved onto the stage.
    SendPromoted {
        /// The promoted user.
        user: UserId,
        /// The room.
        room_id: RoomId,
        /// The token to mint.
        request: PublishTokenRequest,
    },
    /// Stop some media server-side.
    Media(MediaAction),
    /// Close this connection: its user resumed on another one. Its own `disconnect` then
    /// changes nothing.
    CloseConnection {
        /// The replaced connection.
        conn: ConnId,
    },
}

/// A delivery group, kept in sync by [`Effect::Join`]/[`Effect::Leave`]: a socket.io room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Every authenticated connection (the demo's `"spaces"` room).
    Spaces,
    /// The members of one room (the socket.io room named by the room id).
    Room(RoomId),
}

impl Group {
    /// The socket.io room name: `"spaces"` or the room id (never `"spaces"`, see
    /// [`crate::RoomError::RoomIdUnavailable`]).
    pub fn name(&self) -> &str {
        match self {
            Self::Spaces => SPACES,
            Self::Room(id) => id.as_str(),
        }
    }
}

/// Who receives an [`Effect::Emit`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Every authenticated connection: [`Group::Spaces`].
    Spaces,
    /// The members of the room at this point of the effect list: [`Group::Room`].
    Room(RoomId),
    /// One connection.
    User(UserId),
    /// The members of the room except some (people in a block with a chat message's author).
    RoomExcept {
        /// The room.
        room_id: RoomId,
        /// Who does not get it.
        except: Vec<UserId>,
    },
}

/// Media the shell must stop, because the domain no longer allows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaAction {
    /// End `user`'s publication (`sourceId = user`) in stream `room_id` and refuse their
    /// publish token from now on: they were demoted or kicked, or they left.
    EndPublication {
        /// The stream.
        room_id: RoomId,
        /// The source.
        user_id: UserId,
    },
    /// End `user`'s view of stream `room_id`: they are no longer a member (kicked, left,
    /// disconnected or the room closed).
    EndView {
        /// The stream.
        room_id: RoomId,
        /// The viewer.
        user_id: UserId,
    },
}

/// A server → client event, with the demo's name and argument shapes (see [`Event::name`],
/// [`Event::args`]). `room-updated` and `room-closed` are Podium additions; clients written
/// for the demo ignore them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `room-created(roomJson)`, to [`Audience::Spaces`].
    RoomCreated(Room),
    /// `room-updated(roomJson)`, to [`Audience::Spaces`]: the room changed in a way no demo
    /// event describes (its owner changed). Replace the cached room with this snapshot.
    RoomUpdated(Room),
    /// `room-deleted(roomId)`, to [`Audience::Spaces`].
    RoomDeleted {
        /// The room.
        room_id: RoomId,
    },
    /// `room-closed(roomId)`, to the remaining members right before the room is deleted
    /// because its owner left with nobody on stage to take over. Leave the room page.
    RoomClosed {
        /// The room.
        room_id: RoomId,
    },
    /// `user-joined(roomId, {id, username})`, to [`Audience::Spaces`].
    UserJoined {
        /// The room.
        room_id: RoomId,
        /// Who joined.
        user: User,
    },
    /// `user-left(roomId, userId)`, to [`Audience::Spaces`].
    UserLeft {
        /// The room.
        room_id: RoomId,
        /// Who left.
        user_id: UserId,
    },
    /// `user-promoted(roomId, userId, promoted)`, to [`Audience::Spaces`].
    UserPromoted {
        /// The room.
        room_id: RoomId,
        /// Who moved.
        user_id: UserId,
        /// Onto the stage (`true`) or off it.
        promoted: bool,
    },
    /// `user-raised-hand(roomId, userId, raised, reason?)`, to the room's members (the
    /// reason, a Podium addition, only when one was given).
    UserRaisedHand {
        /// The room.
        room_id: RoomId,
        /// Whose hand.
        user_id: UserId,
        /// Raised or lowered.
        raised: bool,
        /// Why, if they said.
        reason: Option<String>,
    },
    /// `room-recording(roomId, recording)`, to the room's members: recording for a replay
    /// started or stopped.
    RoomRecording {
        /// The room.
        room_id: RoomId,
        /// On or off.
        recording: bool,
    },
    /// `user-moderator(roomId, userId, moderator)`, to the room's members: a speaker became
    /// a moderator or stopped being one (leaving the stage ends it without this event).
    UserModerator {
        /// The room.
        room_id: RoomId,
        /// Which speaker.
        user_id: UserId,
        /// Moderator or not.
        moderator: bool,
    },
    /// `chat-message(roomId, message)`, to the room's members (not to those in a block with
    /// its author).
    ChatMessage {
        /// The room.
        room_id: RoomId,
        /// The message.
        message: ChatMessage,
    },
    /// `chat-history(roomId, [message…])`, to a member who just joined: the kept messages.
    ChatHistory {
        /// The room.
        room_id: RoomId,
        /// Oldest first.
        messages: Vec<ChatMessage>,
    },
    /// `chat-deleted(roomId, messageId)`, to the room's members.
    ChatDeleted {
        /// The room.
        room_id: RoomId,
        /// The message's number.
        message_id: u64,
    },
    /// `user-chat-muted(roomId, userId, muted)`, to the room's members.
    UserChatMuted {
        /// The room.
        room_id: RoomId,
        /// Which member.
        user_id: UserId,
        /// Muted or not.
        muted: bool,
    },
    /// `reaction(roomId, userId, emoji, targetUserId | null)`, to the room's members.
    Reaction {
        /// The room.
        room_id: RoomId,
        /// Who reacted.
        user_id: UserId,
        /// One of [`REACTIONS`](crate::REACTIONS).
        emoji: String,
        /// The speaker it is for, if any.
        target: Option<UserId>,
    },
    /// `user-muted(roomId, userId, muted)`, to the room's members.
    UserMuted {
        /// The room.
        room_id: RoomId,
        /// Which speaker.
        user_id: UserId,
        /// Muted or unmuted.
        muted: bool,
    },
    /// `demoted(roomId)`, to the demoted user: stop publishing.
    Demoted {
        /// The room.
        room_id: RoomId,
    },
    /// `kicked(roomId)`, to the kicked user: leave the room page.
    Kicked {
        /// The room.
        room_id: RoomId,
    },
    /// `muted(roomId)`, to the speaker the owner muted: disable the microphone track.
    Muted {
        /// The room.
        room_id: RoomId,
    },
    /// `invited(roomId)`, to a listener the owner invites to speak: ask them, then send
    /// `answer-invite`. Their microphone stays closed until they accept.
    Invited {
        /// The room.
        room_id: RoomId,
    },
    /// `user-invited(roomId, userId, invited)`, to the room's members: an invitation is
    /// pending (`true`) or over (`false`: declined, cancelled, or accepted right before
    /// `user-promoted`).
    UserInvited {
        /// The room.
        room_id: RoomId,
        /// The invited listener.
        user_id: UserId,
        /// Pending or over.
        invited: bool,
    },
    /// `hand-denied(roomId)`, to a listener whose raised hand the owner denied.
    HandDenied {
        /// The room.
        room_id: RoomId,
    },
    /// `user-mic(roomId, userId, available)`, to the room's members: a speaker's microphone
    /// became unavailable (`false`: denied or failed) or works again.
    UserMic {
        /// The room.
        room_id: RoomId,
        /// Which speaker.
        user_id: UserId,
        /// Whether their microphone works.
        available: bool,
    },
}

impl Event {
    /// The socket.io event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RoomCreated(_) => "room-created",
            Self::RoomUpdated(_) => "room-updated",
            Self::RoomDeleted { .. } => "room-deleted",
            Self::RoomClosed { .. } => "room-closed",
            Self::UserJoined { .. } => "user-joined",
            Self::UserLeft { .. } => "user-left",
            Self::UserPromoted { .. } => "user-promoted",
            Self::UserRaisedHand { .. } => "user-raised-hand",
            Self::UserMuted { .. } => "user-muted",
            Self::Demoted { .. } => "demoted",
            Self::Kicked { .. } => "kicked",
            Self::Muted { .. } => "muted",
            Self::Invited { .. } => "invited",
            Self::UserInvited { .. } => "user-invited",
            Self::HandDenied { .. } => "hand-denied",
            Self::UserMic { .. } => "user-mic",
            Self::UserModerator { .. } => "user-moderator",
            Self::RoomRecording { .. } => "room-recording",
            Self::ChatMessage { .. } => "chat-message",
            Self::ChatHistory { .. } => "chat-history",
            Self::ChatDeleted { .. } => "chat-deleted",
            Self::UserChatMuted { .. } => "user-chat-muted",
            Self::Reaction { .. } => "reaction",
        }
    }

    /// The room the event is about.
    pub fn room_id(&self) -> &RoomId {
        match self {
            Self::RoomCreated(room) | Self::RoomUpdated(room) => room.id(),
            Self::RoomDeleted { room_id }
            | Self::RoomClosed { room_id }
            | Self::UserJoined { room_id, .. }
            | Self::UserLeft { room_id, .. }
            | Self::UserPromoted { room_id, .. }
            | Self::UserRaisedHand { room_id, .. }
            | Self::UserMuted { room_id, .. }
            | Self::Demoted { room_id }
            | Self::Kicked { room_id }
            | Self::Muted { room_id }
            | Self::Invited { room_id }
            | Self::UserInvited { room_id, .. }
            | Self::HandDenied { room_id }
            | Self::UserMic { room_id, .. }
            | Self::UserModerator { room_id, .. }
            | Self::RoomRecording { room_id, .. }
            | Self::ChatMessage { room_id, .. }
            | Self::ChatHistory { room_id, .. }
            | Self::ChatDeleted { room_id, .. }
            | Self::UserChatMuted { room_id, .. }
            | Self::Reaction { room_id, .. } => room_id,
        }
    }

    /// The socket.io arguments, in order (each is one argument of the emit).
    pub fn args(&self) -> Vec<Value> {
        match self {
            Self::RoomCreated(room) | Self::RoomUpdated(room) => vec![json!(room)],
            Self::RoomDeleted { room_id }
            | Self::RoomClosed { room_id }
            | Self::Demoted { room_id }
            | Self::Kicked { room_id }
            | Self::Muted { room_id }
            | Self::Invited { room_id }
            | Self::HandDenied { room_id } => vec![json!(room_id)],
            Self::UserJoined { room_id, user } => vec![json!(room_id), json!(user)],
            Self::UserLeft { room_id, user_id } => vec![json!(room_id), json!(user_id)],
            Self::UserPromoted {
                room_id,
                user_id,
                promoted: flag,
            }
            | Self::UserModerator {
                room_id,
                user_id,
                moderator: flag,
            }
            | Self::UserChatMuted {
                room_id,
                user_id,
                muted: flag,
            }
            | Self::UserMuted {
                room_id,
                user_id,
                muted: flag,
            }
            | Self::UserInvited {
                room_id,
                user_id,
                invited: flag,
            }
            | Self::UserMic {
                room_id,
                user_id,
                available: flag,
            } => vec![json!(room_id), json!(user_id), json!(flag)],
            Self::UserRaisedHand {
                room_id,
                user_id,
                raised,
                reason,
            } => {
                let mut args = vec![json!(room_id), json!(user_id), json!(raised)];
                if let Some(reason) = reason {
                    args.push(json!(reason));
                }
                args
            }
            Self::RoomRecording { room_id, recording } => vec![json!(room_id), json!(recording)],
            Self::ChatMessage { room_id, message } => vec![json!(room_id), json!(message)],
            Self::ChatHistory { room_id, messages } => vec![json!(room_id), json!(messages)],
            Self::ChatDeleted {
                room_id,
                message_id,
            } => vec![json!(room_id), json!(message_id)],
            Self::Reaction {
                room_id,
                user_id,
                emoji,
                target,
            } => vec![json!(room_id), json!(user_id), json!(emoji), json!(target)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> RoomId {
        "r1".into()
    }

    #[test]
    fn names_and_args_match_the_demo() {
        let cases = [
            (
                Event::RoomDeleted { room_id: r() },
                "room-deleted",
                json!(["r1"]),
            ),
            (
                Event::RoomClosed { room_id: r() },
                "room-closed",
                json!(["r1"]),
            ),
            (
                Event::UserJoined {
                    room_id: r(),
                    user: User {
                        id: "s1".into(),
                        username: "Ann".into(),
                        account: None,
                    },
                },
                "user-joined",
                json!(["r1", {"id": "s1", "username": "Ann"}]),
            ),
            (
                Event::UserLeft {
                    room_id: r(),
                    user_id: "s1".into(),
                },
                "user-left",
                json!(["r1", "s1"]),
            ),
            (
                Event::UserPromoted {
                    room_id: r(),
                    user_id: "s1".into(),
                    promoted: true,
                },
                "user-promoted",
                json!(["r1", "s1", true]),
            ),
            (
                Event::UserRaisedHand {
                    room_id: r(),
                    user_id: "s1".into(),
                    raised: false,
                    reason: None,
                },
                "user-raised-hand",
                json!(["r1", "s1", false]),
            ),
            (
                Event::UserMuted {
                    room_id: r(),
                    user_id: "s1".into(),
                    muted: true,
                },
                "user-muted",
                json!(["r1", "s1", true]),
            ),
            (Event::Demoted { room_id: r() }, "demoted", json!(["r1"])),
            (Event::Kicked { room_id: r() }, "kicked", json!(["r1"])),
            (Event::Muted { room_id: r() }, "muted", json!(["r1"])),
            (Event::Invited { room_id: r() }, "invited", json!(["r1"])),
            (
                Event::HandDenied { room_id: r() },
                "hand-denied",
                json!(["r1"]),
            ),
            (
                Event::UserInvited {
                    room_id: r(),
                    user_id: "s1".into(),
                    invited: true,
                },
                "user-invited",
                json!(["r1", "s1", true]),
            ),
            (
                Event::UserMic {
                    room_id: r(),
                    user_id: "s1".into(),
                    available: false,
                },
                "user-mic",
                json!(["r1", "s1", false]),
            ),
        ];
        for (event, name, args) in cases {
            assert_eq!(event.name(), name);
            assert_eq!(Value::Array(event.args()), args, "{name}");
            assert_eq!(event.room_id(), &r());
        }
    }

    #[test]
    fn group_names() {
        assert_eq!(Group::Spaces.name(), "spaces");
        assert_eq!(Group::Room(r()).name(), "r1");
    }
}
