//! Refusals. Each message is the `{error}` text of the socket.io ack, written for the person
//! who caused it; none echoes unvalidated input.

use crate::validate::{MAX_ROOM_NAME_CHARS, MAX_USERNAME_CHARS};
use thiserror::Error;

/// Why a command was refused. A refused command changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The connection has not authenticated yet.
    #[error("Not signed in: choose a username first")]
    NotAuthenticated,
    /// The connection already authenticated under another name.
    #[error("You are already signed in as {0}")]
    AlreadyAuthenticated(String),
    /// The username is empty (or only spaces).
    #[error("Missing username")]
    UsernameMissing,
    /// The username is longer than [`MAX_USERNAME_CHARS`].
    #[error("Usernames can be at most {MAX_USERNAME_CHARS} characters long")]
    UsernameTooLong,
    /// The username contains a character no name needs (a control or invisible character, a
    /// symbol); the text describes it.
    #[error("Names can use letters, digits, emoji, spaces and ' - _ . (not {0})")]
    UsernameInvalidChar(String),
    /// The username has no letter or digit (for example `"..."`).
    #[error("Usernames need at least one letter or digit")]
    UsernameNoAlphanumeric,
    /// Another connected user has this name or one that looks the same (compared by
    /// case-insensitive confusable skeleton, see [`normalize_username`](crate::normalize_username)).
    #[error("The username {0} is already taken (or looks too much like one that is)")]
    UsernameTaken(String),
    /// The account is signed in on another connection (another tab or device); the client
    /// may take over with `authenticate(username, {takeOver: true})`.
    #[error("You are in Podium in another tab or window: use it there, or take over here")]
    OpenElsewhere,
    /// The room name is empty (or only whitespace).
    #[error("Missing room name")]
    RoomNameMissing,
    /// The room name is longer than [`MAX_ROOM_NAME_CHARS`].
    #[error("Room names can be at most {MAX_ROOM_NAME_CHARS} characters long")]
    RoomNameTooLong,
    /// The room name contains a control or invisible formatting character.
    #[error("Room names cannot contain control or invisible formatting characters")]
    RoomNameInvalidChar,
    /// The room id the shell supplied is empty, too long, reserved or already used.
    #[error("Could not create the room: its id is unavailable, please try again")]
    RoomIdUnavailable,
    /// No room has this id (it may have closed).
    #[error("This room does not exist (it may have closed)")]
    RoomNotFound,
    /// The caller is not a member of the room.
    #[error("You are not in this room")]
    NotInRoom,
    /// The action is reserved to the room's owner and moderators.
    #[error("Only the room's host and moderators can do that")]
    NotOwner,
    /// Recording a room whose host has no account: replays are kept on the host's profile.
    #[error(
        "Only a room opened by someone signed in can be recorded: replays go on the host's profile"
    )]
    RecordingNeedsAccount,
    /// A moderator tried to act on the room's owner.
    #[error("Moderators cannot do that to the room's host")]
    TargetIsOwner,
    /// The room's host blocked the joiner.
    #[error("The host of this room does not allow you in their rooms")]
    BlockedByHost,
    /// An invite-only room, joined without its link's secret (or with a wrong one).
    #[error("This room is invite-only: you need its link to join")]
    InviteRequired,
    /// A followers-only room, joined by someone who does not follow its host.
    #[error("Only followers of this room's host can join it")]
    FollowersOnly,
    /// A guest tried to open a followers-only room.
    #[error("Sign in with an account to open a followers-only room")]
    FollowersNeedAccount,
    /// A chat message (or a hand-raise reason) with nothing in it.
    #[error("The message is empty")]
    ChatEmpty,
    /// A chat message or a reason longer than allowed.
    #[error("Too long: at most {max} characters")]
    ChatTooLong {
        /// The limit in force.
        max: usize,
    },
    /// A chat message or a reason with a control or invisible formatting character.
    #[error("Messages cannot contain control or invisible formatting characters")]
    ChatInvalidChar,
    /// A moderator muted the caller's chat.
    #[error("A moderator turned off your chat messages in this room")]
    ChatMuted,
    /// Chat messages (or reactions) faster than the room allows.
    #[error("You are sending too fast; wait a moment")]
    TooFast,
    /// `delete-message` naming a message the room no longer keeps (or never had).
    #[error("That message is gone")]
    MessageNotFound,
    /// Deleting someone else's message without moderating.
    #[error("Only its author and the room's moderators can delete a message")]
    NotYourMessage,
    /// `react` with something not among [`REACTIONS`](crate::REACTIONS).
    #[error("Unknown reaction")]
    UnknownReaction,
    /// The target user is no longer connected.
    #[error("That user is no longer connected")]
    UserGone,
    /// The target user is connected but not a member of the room.
    #[error("That user is not in this room")]
    UserNotInRoom,
    /// A speaker tried to raise their hand.
    #[error("You are already a speaker, there is no need to raise your hand")]
    AlreadySpeaker,
    /// A listener tried to mute or unmute themselves.
    #[error("Only speakers can mute or unmute their microphone")]
    NotSpeaker,
    /// The owner tried to mute a listener.
    #[error("That user is not a speaker")]
    TargetNotSpeaker,
    /// The owner tried to demote themselves.
    #[error("The owner always stays on stage and cannot be moved to the audience")]
    CannotDemoteSelf,
    /// The owner tried to kick themselves.
    #[error("You cannot kick yourself; leave the room instead")]
    CannotKickSelf,
    /// The caller already owns [`Limits::max_owned_rooms`](crate::Limits::max_owned_rooms)
    /// rooms.
    #[error("You can host at most {} at a time; close one first", rooms(*max))]
    TooManyOwnedRooms {
        /// The limit in force.
        max: usize,
    },
    /// The caller is already in [`Limits::max_joined_rooms`](crate::Limits::max_joined_rooms)
    /// rooms.
    #[error("You can be in at most {} at a time; leave one first", rooms(*max))]
    TooManyJoinedRooms {
        /// The limit in force.
        max: usize,
    },
    /// The owner removed this user (or someone with a name that looks like theirs) from the
    /// room earlier.
    #[error("The host removed you from this room, so you cannot join it again")]
    Banned,
    /// `answer-invite` with no pending invitation.
    #[error("There is no invitation to answer (the host may have withdrawn it)")]
    NotInvited,
    /// `authenticate` with a resume secret that matches nobody (unknown, or more than
    /// [`Limits::resume_ms`](crate::Limits::resume_ms) passed): sign in afresh.
    #[error("Your previous session has expired: sign in again")]
    ResumeExpired,
    /// The server holds [`Limits::max_live_rooms`](crate::Limits::max_live_rooms) rooms.
    #[error("The server has too many live rooms right now; please try again later")]
    TooManyLiveRooms,
    /// `set-content` with a stream name that is empty, too long or has characters stream
    /// names do not.
    #[error("Invalid stream name: 1 to 64 letters, digits, '-', '_' or '.'")]
    ContentStreamInvalid,
    /// `set-content` naming a room's stream (rooms are private).
    #[error("That stream is a room: attach a stream anyone may watch")]
    ContentIsARoom,
}

/// "1 room", "3 rooms".
fn rooms(n: usize) -> String {
    if n == 1 {
        "1 room".to_owned()
    } else {
        format!("{n} rooms")
    }
}

impl RoomError {
    /// The socket.io ack payload for this refusal: `{"error": "<message>"}`.
    pub fn to_ack(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.to_string() })
    }
}
