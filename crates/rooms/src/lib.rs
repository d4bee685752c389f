//! Podium's rooms domain: Clubhouse-style rooms with a **stage** (speakers), an **audience**
//! (listeners who may raise a hand) and a **live now** listing, as a pure state machine.
//!
//! It speaks the message set of the original "millicast-spaces" demo (protocol reference §9)
//! without doing any I/O: no sockets, no socket.io, no tasks, no clock, no id generation. The
//! shell decodes a socket.io message into a [`Command`], calls [`Rooms::apply`] with the
//! current time and the connection id, then answers the ack and carries out the
//! [`Outcome::effects`] in order:
//!
//! ```
//! use podium_rooms::{Ack, ClientInfo, Command, ConnId, Effect, Privacy, RoomId, Rooms};
//!
//! let mut rooms = Rooms::new();
//! let ann = ConnId::new("socket-ann");
//! let now = 42_000; // milliseconds (the server passes Unix milliseconds)
//! let client = ClientInfo::new("a fresh random resume secret");
//! rooms.apply(now, &ann, Command::Authenticate { username: "Ann".into(), client }).unwrap();
//! let outcome = rooms
//!     .apply(now, &ann, Command::CreateRoom {
//!         room_id: RoomId::new("7d0c…-uuid"),
//!         name: "Morning chat".into(),
//!         audio_only: true,
//!         privacy: Privacy::Public,
//!     })
//!     .unwrap();
//! assert_eq!(outcome.ack.data(), Some(serde_json::json!("7d0c…-uuid")));
//! for effect in &outcome.effects {
//!     match effect {
//!         Effect::Join { user, group } => { /* socket(user).join(group.name()) */ }
//!         Effect::Leave { user, group } => { /* socket(user).leave(group.name()) */ }
//!         Effect::Emit { to, event } => { /* io.to(..).emit(event.name(), event.args()) */ }
//!         Effect::SendPromoted { user, room_id, request } => { /* mint, emit "promoted" */ }
//!         Effect::Media(action) => { /* kick the publication / view in the SFU */ }
//!         Effect::CloseConnection { conn } => { /* disconnect that socket */ }
//!         _ => {}
//!     }
//! }
//! match rooms.apply(now, &ann, Command::Mute { room_id: "nope".into(), muted: true }) {
//!     Err(e) => assert_eq!(e.to_ack(), serde_json::json!({"error": e.to_string()})),
//!     Ok(_) => unreachable!(),
//! }
//! ```
//!
//! # Model
//! - A **user** signs in on a socket.io connection ([`ConnId`]): user id = the socket id they
//!   signed in on = the `sourceId` they publish with. Effects name users;
//!   [`Rooms::conn_of`] gives the connection each is on now.
//! - **Presence** (see the `presence` module): a lost connection
//!   ([`Command::ConnectionLost`]) leaves its user *away*: nobody else sees a change until
//!   [`Limits::hold_ms`] after they were last heard, when [`Rooms::expire`] takes them out of
//!   their rooms and frees their name. Coming back with the resume secret their client was
//!   given ([`Command::Resume`], [`ClientInfo`]) within the hold changes nothing for anyone;
//!   within [`Limits::resume_ms`] of the loss it gives back each seat the room still has
//!   (a host whose room was handed over comes back as a speaker). [`Command::Disconnect`]
//!   (sign-out) leaves at once for good. An account signed in on another connection is asked
//!   ([`RoomError::OpenElsewhere`]) before [`Command::TakeOver`] moves its user, seats and all,
//!   to the new one; an account's user already away moves without asking.
//! - A **room** is one stream (room id = stream name). Its JSON is exactly the demo's
//!   (`{id, name, ownerId, audioOnly, participants, speakers}`, see [`Room`]). The **owner**
//!   is always a participant and a speaker; **speakers** are participants on stage;
//!   everyone else is the **audience**. A user may be in several rooms at once, as in the
//!   demo.
//! - Media grants are *requested*, not minted: `join-room` acks [`JoinTokens`] (a view token
//!   for everyone, a publish token bound to `sourceId = user id` for the owner and speakers)
//!   and a promotion yields [`Effect::SendPromoted`].
//! - **Membership is the authority for media**: whenever a user stops being a speaker
//!   (demoted, kicked, left, disconnected) the outcome carries
//!   [`MediaAction::EndPublication`], and whenever they stop being a member (kicked, left,
//!   disconnected, room closed) [`MediaAction::EndView`]. The shell enforces both with the
//!   server-side kick, so a demoted or kicked user's media stops and their token stops
//!   working.
//! - **Delivery groups** mirror socket.io rooms: [`Group::Spaces`] (every authenticated
//!   connection) and [`Group::Room`] (a room's members). The outcome lists every join and
//!   leave, interleaved with the emits, so a shell that applies effects in order keeps its
//!   socket.io rooms equal to the domain's membership.
//!
//! # Choices (where the demo was silent or wrong)
//! - **Every command is checked** (signed in, room exists, caller is a member, caller owns
//!   the room, target is a member) and a refused command changes nothing; the
//!   [`RoomError`] message is the ack's `{error}`. Acting on a user who has disconnected is
//!   [`RoomError::UserGone`]; on one who is connected but not in the room,
//!   [`RoomError::UserNotInRoom`].
//! - **Usernames**: NFKC-normalized, trimmed, inner spaces collapsed, 1–32 characters of
//!   letters, digits (any script), space, `_`, `-`, `.`, with at least one letter or digit.
//!   The name is *stored and shown* in NFKC, so fullwidth `ａｄｍｉｎ` appears as `admin`
//!   (compatibility variants are presentation, not identity); case and script are kept as
//!   typed. Names are **unique by look-alike**: two clash when they are equal after NFKC,
//!   lowercasing and the Unicode confusables skeleton (UTS #39), compared both
//!   case-insensitively and as typed, so `admin`, `Admin`, `ADMIN`, `аdmin` (Cyrillic `а`) and
//!   `ａｄｍｉｎ` exclude each other, as do `Bill`/`BiII` and `Bob`/`B0b`
//!   ([`RoomError::UsernameTaken`]). **Room names**: trimmed, 1–80 characters, no control or
//!   invisible formatting characters. See [`normalize_username`], [`normalize_room_name`].
//! - **`authenticate` twice** with the same name answers again; with another name it is
//!   [`RoomError::AlreadyAuthenticated`].
//! - **`create-room` seats the creator**: they become the first participant and speaker in
//!   the same step, so no room is ever empty and the `room-created` JSON already shows them.
//!   Their following `join-room` (as the demo client sends) and any repeated `join-room` by
//!   a member just returns the grants again, without broadcasts.
//! - **Consent**: an owner's invitation to a listener who did not raise a hand, on a client
//!   that answers invitations, only asks ([`Event::Invited`], `user-invited`); the listener
//!   goes on stage when they accept ([`Command::AnswerInvite`]). A raised hand is consent.
//!   The demo's app cannot answer, so its users are promoted at once as before. A speaker
//!   may step down ([`Command::LeaveStage`]) and report a missing microphone
//!   ([`Command::MicState`], `micUnavailable` in the room JSON).
//! - **Kicked means gone**: a removed user (by id, and anyone under a look-alike name) cannot
//!   join the room again while it lives ([`RoomError::Banned`]); a denied hand is told
//!   (`hand-denied`).
//! - **Only the owner** promotes, demotes, kicks and mutes others. The owner cannot demote
//!   or kick themselves (promoting themselves is a no-op). Promoting requires the target to
//!   be a member. A promotion clears the target's raised hand (announced with
//!   `user-raised-hand(…, false)` first); demoting a listener with a raised hand denies it
//!   (`user-raised-hand(…, false)`), as in the demo.
//! - **Raising a hand as a speaker** is [`RoomError::AlreadySpeaker`]; lowering it is a
//!   no-op. Muting oneself requires being a speaker; speakers may unmute after the owner
//!   muted them. `mute-speaker` always sends `muted` to the target (to re-sync a drifted
//!   client) but `user-muted` to the room only on change.
//! - **Unchanged state is silent**: a command that changes nothing succeeds with no
//!   broadcasts.
//! - **Owner hand-over**: when the owner leaves or disconnects, the longest-standing
//!   speaker (the one continuously on stage the longest; a demoted and re-promoted speaker
//!   starts over) becomes the owner. Everyone hears `user-left(roomId, oldOwner)` and then
//!   `room-updated(roomJson)` with the new `ownerId` (a Podium event: replace the cached
//!   room). The new owner already holds a publish grant.
//! - **Room closing**: if the owner leaves with nobody else on stage, the room closes: the
//!   remaining listeners receive `room-closed(roomId)` (a Podium event) and lose their view
//!   and group, then everyone receives `room-deleted(roomId)`. No `user-left` is sent for
//!   them; `room-deleted` covers it. A room whose last member leaves is deleted the same way
//!   (`user-left` then `room-deleted`).
//! - **Disconnect** removes the user from every room in join order (each with `user-left`,
//!   media actions, and hand-over, closing or deletion), leaves `spaces` and frees the
//!   username.
//! - **Time** is an input (`now_ms`, milliseconds): recorded ([`Room::created_at_ms`],
//!   [`Speaker::since_ms`]) and compared only for presence deadlines; ordering (stage
//!   seniority, newest room) follows the order of commands.
//! - **Live now** ([`Rooms::live_rooms`]): most participants first, then newest.
//! - **Quotas** ([`Limits`], set with [`Rooms::with_limits`]) keep one client from making
//!   the server hold and broadcast without bound (every room is announced to every user):
//!   - a user owns at most 3 rooms at once: one more `create-room` is
//!     [`RoomError::TooManyOwnedRooms`] (a hand-over may still make someone own more; only
//!     creating is refused);
//!   - a user is a member of at most 16 rooms at once, owned ones included: one more
//!     `join-room` or `create-room` is [`RoomError::TooManyJoinedRooms`] (a member's repeated
//!     `join-room` still answers);
//!   - at most 10,000 rooms are live: one more `create-room` is
//!     [`RoomError::TooManyLiveRooms`];
//!   - the `authenticate` ack lists at most 100 rooms, the first in listing order (busiest,
//!     then newest), so its size does not grow with the number of rooms. [`Rooms::live_rooms`]
//!     is the whole list, for the server's own use; anything sent to a client takes
//!     [`Rooms::live_rooms_page`] with [`Limits::max_listed_rooms`].
//!
//!   The per-user checks come first (they are the ones the user can act on), then the total.
//!   Rates (commands per second) are the shell's business: the domain has no clock.
#![deny(missing_docs)]

mod chat;
mod command;
mod content;
mod effect;
mod error;
mod ids;
mod limits;
mod listing;
mod model;
mod presence;
mod ranking;
mod recording;
mod rooms;
mod snapshot;
mod social;
mod stage;
mod validate;

pub use chat::{CHAT_BURST, CHAT_INTERVAL_MS, REACTIONS, REACTION_BURST, REACTION_INTERVAL_MS};
pub use command::{
    Ack, ClientInfo, Command, JoinTokens, Outcome, PublishTokenRequest, ViewTokenRequest,
};
pub use effect::{Audience, Effect, Event, Group, MediaAction};
pub use error::RoomError;
pub use ids::{ConnId, RoomId, UserId};
pub use limits::Limits;
pub use listing::LiveRoom;
pub use model::{ChatMessage, Participant, Privacy, Room, Speaker, User, CHAT_KEPT};
pub use ranking::{activity, CardSpeaker, RankedRoom, Viewer, MAX_QUERY_CHARS, RECENT_WINDOW_MS};
pub use rooms::Rooms;
pub use snapshot::SnapshotError;
pub use social::Relations;
pub use validate::{
    normalize_content_stream, normalize_room_name, normalize_text, normalize_username,
    username_keys, UsernameKeys, MAX_CHAT_CHARS, MAX_CONTENT_STREAM_LEN, MAX_REASON_CHARS,
    MAX_ROOM_ID_LEN, MAX_ROOM_NAME_CHARS, MAX_USERNAME_CHARS, SPACES,
};

#[cfg(test)]
mod tests;
