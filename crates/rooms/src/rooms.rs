//! The state machine: [`Rooms::apply`].

use crate::command::{Ack, Command, JoinTokens, Outcome, PublishTokenRequest, ViewTokenRequest};
use crate::effect::{Audience, Effect, Event, Group, MediaAction};
use crate::error::RoomError;
use crate::ids::{RoomId, UserId};
use crate::limits::Limits;
use crate::model::{Room, User};
use crate::validate::{
    is_usable_room_id, normalize_room_name, normalize_username, username_keys, UsernameKeys,
};
use std::collections::HashMap;

/// An authenticated connection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    user: User,
    /// The rooms this user is in, in join order (disconnect leaves them in that order).
    rooms: Vec<RoomId>,
    /// Their entries in [`Rooms::usernames`] and [`Rooms::username_shapes`].
    keys: UsernameKeys,
}

/// Every connected user and every live room.
///
/// Drive it with [`Rooms::apply`]; read it with [`Rooms::room`], [`Rooms::user`] and
/// [`Rooms::live_rooms`](crate::Rooms::live_rooms). A refused command leaves it untouched.
/// It enforces the quotas of its [`Limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rooms {
    users: HashMap<UserId, Member>,
    /// [`UsernameKeys::folded`] → user: no two names equal up to case and look-alikes.
    usernames: HashMap<String, UserId>,
    /// [`UsernameKeys::shape`] → user: no two names that look alike as typed (`I` and `l`).
    username_shapes: HashMap<String, UserId>,
    rooms: HashMap<RoomId, Room>,
    /// Creation counter: orders rooms by age without trusting the clock.
    next_seq: u64,
    limits: Limits,
}

/// What an effect list is being built for.
type Effects = Vec<Effect>;

impl Rooms {
    /// No users, no rooms, the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// No users, no rooms, the given quotas.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The quotas in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Applies one command from connection `conn` at time `now_ms`.
    ///
    /// `now_ms` is any millisecond clock (the shell passes unix milliseconds); it is only
    /// recorded (room creation, speaker since) and reported, never compared, so a clock step
    /// cannot reorder anything. On `Err` nothing changed and the error's message is the ack's
    /// `{error}`; on `Ok` send the ack and carry out the effects in order.
    pub fn apply(
        &mut self,
        now_ms: u64,
        conn: &UserId,
        command: Command,
    ) -> Result<Outcome, RoomError> {
        match command {
            Command::Authenticate { username } => self.authenticate(conn, &username),
            Command::Disconnect => Ok(self.disconnect(conn)),
            Command::CreateRoom {
                room_id,
                name,
                audio_only,
            } => {
                let user = self.signed_in(conn)?;
                self.create_room(now_ms, user, room_id, &name, audio_only)
            }
            Command::JoinRoom { room_id } => {
                let user = self.signed_in(conn)?;
                self.join_room(user, room_id)
            }
            Command::LeaveRoom { room_id } => {
                let user = self.signed_in(conn)?;
                self.leave_room(&user.id, &room_id)
            }
            Command::RaiseHand { room_id, raised } => {
                let user = self.signed_in(conn)?;
                self.raise_hand(&user.id, &room_id, raised)
            }
            Command::PromoteUser {
                room_id,
                user_id,
                promote,
            } => {
                let user = self.signed_in(conn)?;
                self.promote(now_ms, &user.id, &room_id, &user_id, promote)
            }
            Command::KickUser { room_id, user_id } => {
                let user = self.signed_in(conn)?;
                self.kick(&user.id, &room_id, &user_id)
            }
            Command::MuteSpeaker { room_id, user_id } => {
                let user = self.signed_in(conn)?;
                self.mute_speaker(&user.id, &room_id, &user_id)
            }
            Command::Mute { room_id, muted } => {
                let user = self.signed_in(conn)?;
                self.mute(&user.id, &room_id, muted)
            }
        }
    }

    /// A live room.
    pub fn room(&self, id: &RoomId) -> Option<&Room> {
        self.rooms.get(id)
    }

    /// All live rooms, in no particular order (see [`Rooms::live_rooms`](crate::Rooms::live_rooms)
    /// for the listing).
    pub fn rooms(&self) -> impl Iterator<Item = &Room> {
        self.rooms.values()
    }

    /// An authenticated user.
    pub fn user(&self, id: &UserId) -> Option<&User> {
        self.users.get(id).map(|m| &m.user)
    }

    /// Number of authenticated users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The rooms `user` is in, in join order (empty if unknown).
    pub fn rooms_of(&self, user: &UserId) -> &[RoomId] {
        self.users.get(user).map_or(&[], |m| &m.rooms)
    }

    fn signed_in(&self, conn: &UserId) -> Result<User, RoomError> {
        self.users
            .get(conn)
            .map(|m| m.user.clone())
            .ok_or(RoomError::NotAuthenticated)
    }

    fn live(&self, room_id: &RoomId) -> Result<&Room, RoomError> {
        self.rooms.get(room_id).ok_or(RoomError::RoomNotFound)
    }

    fn live_mut(&mut self, room_id: &RoomId) -> &mut Room {
        self.rooms
            .get_mut(room_id)
            .expect("callers check that the room exists before mutating it")
    }

    /// The room, if the caller is a member.
    fn membership(&self, user: &UserId, room_id: &RoomId) -> Result<&Room, RoomError> {
        let room = self.live(room_id)?;
        if room.is_member(user) {
            Ok(room)
        } else {
            Err(RoomError::NotInRoom)
        }
    }

    /// The room, if the caller owns it and `target` is a member.
    fn owner_over(
        &self,
        user: &UserId,
        room_id: &RoomId,
        target: &UserId,
    ) -> Result<&Room, RoomError> {
        let room = self.membership(user, room_id)?;
        if room.owner_id() != user {
            return Err(RoomError::NotOwner);
        }
        if room.is_member(target) {
            Ok(room)
        } else if self.users.contains_key(target) {
            Err(RoomError::UserNotInRoom)
        } else {
            Err(RoomError::UserGone)
        }
    }

    fn authenticate(&mut self, conn: &UserId, raw: &str) -> Result<Outcome, RoomError> {
        if let Some(member) = self.users.get(conn) {
            let same =
                normalize_username(raw).is_ok_and(|name| username_keys(&name).clash(&member.keys));
            return if same {
                // A retried authenticate: answer again, change nothing.
                Ok(Outcome::ack(Ack::Authenticated {
                    user: member.user.clone(),
                    rooms: self.snapshots(),
                }))
            } else {
                Err(RoomError::AlreadyAuthenticated(
                    member.user.username.clone(),
                ))
            };
        }
        let username = normalize_username(raw)?;
        let keys = username_keys(&username);
        if self.usernames.contains_key(&keys.folded)
            || self.username_shapes.contains_key(&keys.shape)
        {
            return Err(RoomError::UsernameTaken(username));
        }
        let user = User {
            id: conn.clone(),
            username,
        };
        self.usernames.insert(keys.folded.clone(), conn.clone());
        self.username_shapes
            .insert(keys.shape.clone(), conn.clone());
        self.users.insert(
            conn.clone(),
            Member {
                user: user.clone(),
                rooms: Vec::new(),
                keys,
            },
        );
        let mut outcome = Outcome::ack(Ack::Authenticated {
            user,
            rooms: self.snapshots(),
        });
        outcome.effects.push(Effect::Join {
            user: conn.clone(),
            group: Group::Spaces,
        });
        Ok(outcome)
    }

    /// The first [`Limits::max_listed_rooms`] rooms in listing order, so that a sign-in's
    /// reply stays small however many rooms there are.
    fn snapshots(&self) -> Vec<Room> {
        self.listing_order(self.limits.max_listed_rooms)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Refuses a `create-room` beyond the caller's or the server's quotas.
    fn check_create_quota(&self, user: &UserId) -> Result<(), RoomError> {
        let max = self.limits.max_owned_rooms;
        // The owner is always a member, so their rooms list holds every room they own.
        let owned = self
            .rooms_of(user)
            .iter()
            .filter(|id| self.rooms.get(id).is_some_and(|r| r.owner_id() == user))
            .count();
        if owned >= max {
            return Err(RoomError::TooManyOwnedRooms { max });
        }
        self.check_join_quota(user)?;
        if self.rooms.len() >= self.limits.max_live_rooms {
            return Err(RoomError::TooManyLiveRooms);
        }
        Ok(())
    }

    /// Refuses entering one more room beyond [`Limits::max_joined_rooms`].
    fn check_join_quota(&self, user: &UserId) -> Result<(), RoomError> {
        let max = self.limits.max_joined_rooms;
        if self.rooms_of(user).len() >= max {
            Err(RoomError::TooManyJoinedRooms { max })
        } else {
            Ok(())
        }
    }

    fn create_room(
        &mut self,
        now_ms: u64,
        owner: User,
        room_id: RoomId,
        raw_name: &str,
        audio_only: bool,
    ) -> Result<Outcome, RoomError> {
        let name = normalize_room_name(raw_name)?;
        self.check_create_quota(&owner.id)?;
        if !is_usable_room_id(room_id.as_str()) || self.rooms.contains_key(&room_id) {
            return Err(RoomError::RoomIdUnavailable);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let room = Room::new(room_id.clone(), name, &owner, audio_only, now_ms, seq);
        self.member_mut(&owner.id).rooms.push(room_id.clone());
        let effects = vec![
            Effect::Join {
                user: owner.id,
                group: Group::Room(room_id.clone()),
            },
            Effect::Emit {
                to: Audience::Spaces,
                event: Event::RoomCreated(room.clone()),
            },
        ];
        self.rooms.insert(room_id.clone(), room);
        Ok(Outcome {
            ack: Ack::RoomCreated { room_id },
            effects,
        })
    }

    fn member_mut(&mut self, user: &UserId) -> &mut Member {
        self.users
            .get_mut(user)
            .expect("only authenticated users reach room handlers")
    }

    fn join_room(&mut self, user: User, room_id: RoomId) -> Result<Outcome, RoomError> {
        let room = self.live(&room_id)?;
        let tokens = JoinTokens {
            view: ViewTokenRequest {
                stream: room_id.clone(),
                viewer: user.id.clone(),
            },
            publish: room.is_speaker(&user.id).then(|| PublishTokenRequest {
                stream: room_id.clone(),
                source_id: user.id.clone(),
            }),
        };
        if room.is_member(&user.id) {
            // Already in (the creator, or a retry): hand out the grants again, nothing else.
            return Ok(Outcome::ack(Ack::Joined(tokens)));
        }
        self.check_join_quota(&user.id)?;
        self.live_mut(&room_id).add_participant(&user);
        self.member_mut(&user.id).rooms.push(room_id.clone());
        Ok(Outcome {
            ack: Ack::Joined(tokens),
            effects: vec![
                Effect::Join {
                    user: user.id.clone(),
                    group: Group::Room(room_id.clone()),
                },
                Effect::Emit {
                    to: Audience::Spaces,
                    event: Event::UserJoined { room_id, user },
                },
            ],
        })
    }

    fn leave_room(&mut self, user: &UserId, room_id: &RoomId) -> Result<Outcome, RoomError> {
        self.membership(user, room_id)?;
        let mut outcome = Outcome::done();
        self.remove_member(room_id, user, &mut outcome.effects);
        Ok(outcome)
    }

    fn raise_hand(
        &mut self,
        user: &UserId,
        room_id: &RoomId,
        raised: bool,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        if room.is_speaker(user) {
            // Lowering a hand one does not have is harmless; raising it on stage is a mistake.
            return if raised {
                Err(RoomError::AlreadySpeaker)
            } else {
                Ok(Outcome::done())
            };
        }
        let participant = self
            .live_mut(room_id)
            .participant_mut(user)
            .expect("membership was checked above");
        if participant.raised_hand == raised {
            return Ok(Outcome::done());
        }
        participant.raised_hand = raised;
        let mut outcome = Outcome::done();
        outcome.effects.push(raised_hand(room_id, user, raised));
        Ok(outcome)
    }

    fn promote(
        &mut self,
        now_ms: u64,
        owner: &UserId,
        room_id: &RoomId,
        target: &UserId,
        promote: bool,
    ) -> Result<Outcome, RoomError> {
        let room = self.owner_over(owner, room_id, target)?;
        if target == owner {
            return if promote {
                Ok(Outcome::done())
            } else {
                Err(RoomError::CannotDemoteSelf)
            };
        }
        let on_stage = room.is_speaker(target);
        let room = self.live_mut(room_id);
        let participant = room
            .participant_mut(target)
            .expect("owner_over checked membership");
        let had_hand = participant.raised_hand;
        participant.raised_hand = false;
        let mut outcome = Outcome::done();
        let effects = &mut outcome.effects;
        match (promote, on_stage) {
            (true, false) => {
                if had_hand {
                    effects.push(raised_hand(room_id, target, false));
                }
                room.add_speaker(target, now_ms);
                effects.push(Effect::SendPromoted {
                    user: target.clone(),
                    room_id: room_id.clone(),
                    request: PublishTokenRequest {
                        stream: room_id.clone(),
                        source_id: target.clone(),
                    },
                });
                effects.push(promoted(room_id, target, true));
            }
            (false, true) => {
                room.remove_speaker(target);
                effects.push(Effect::Media(MediaAction::EndPublication {
                    room_id: room_id.clone(),
                    user_id: target.clone(),
                }));
                effects.push(Effect::Emit {
                    to: Audience::User(target.clone()),
                    event: Event::Demoted {
                        room_id: room_id.clone(),
                    },
                });
                effects.push(promoted(room_id, target, false));
            }
            // Denying a raised hand: lower it for everyone in the room.
            (false, false) if had_hand => effects.push(raised_hand(room_id, target, false)),
            // Already in the requested place.
            _ => {}
        }
        Ok(outcome)
    }

    fn kick(
        &mut self,
        owner: &UserId,
        room_id: &RoomId,
        target: &UserId,
    ) -> Result<Outcome, RoomError> {
        self.owner_over(owner, room_id, target)?;
        if target == owner {
            return Err(RoomError::CannotKickSelf);
        }
        let mut outcome = Outcome::done();
        outcome.effects.push(Effect::Emit {
            to: Audience::User(target.clone()),
            event: Event::Kicked {
                room_id: room_id.clone(),
            },
        });
        self.remove_member(room_id, target, &mut outcome.effects);
        Ok(outcome)
    }

    fn mute_speaker(
        &mut self,
        owner: &UserId,
        room_id: &RoomId,
        target: &UserId,
    ) -> Result<Outcome, RoomError> {
        let room = self.owner_over(owner, room_id, target)?;
        if !room.is_speaker(target) {
            return Err(RoomError::TargetNotSpeaker);
        }
        let participant = self
            .live_mut(room_id)
            .participant_mut(target)
            .expect("owner_over checked membership");
        let changed = !participant.muted;
        participant.muted = true;
        let mut outcome = Outcome::done();
        // Always tell the speaker (their client may have drifted); tell the room on change.
        outcome.effects.push(Effect::Emit {
            to: Audience::User(target.clone()),
            event: Event::Muted {
                room_id: room_id.clone(),
            },
        });
        if changed {
            outcome.effects.push(muted(room_id, target, true));
        }
        Ok(outcome)
    }

    fn mute(&mut self, user: &UserId, room_id: &RoomId, mute: bool) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        if !room.is_speaker(user) {
            return Err(RoomError::NotSpeaker);
        }
        let participant = self
            .live_mut(room_id)
            .participant_mut(user)
            .expect("membership was checked above");
        if participant.muted == mute {
            return Ok(Outcome::done());
        }
        participant.muted = mute;
        let mut outcome = Outcome::done();
        outcome.effects.push(muted(room_id, user, mute));
        Ok(outcome)
    }

    fn disconnect(&mut self, conn: &UserId) -> Outcome {
        let mut outcome = Outcome::done();
        let Some(member) = self.users.get(conn) else {
            return outcome;
        };
        for room_id in member.rooms.clone() {
            self.remove_member(&room_id, conn, &mut outcome.effects);
        }
        outcome.effects.push(Effect::Leave {
            user: conn.clone(),
            group: Group::Spaces,
        });
        if let Some(member) = self.users.remove(conn) {
            self.usernames.remove(&member.keys.folded);
            self.username_shapes.remove(&member.keys.shape);
        }
        outcome
    }

    /// Takes `user` out of `room_id` (a checked member): stops their media, announces it, and
    /// then either deletes the emptied room, hands ownership over, or closes the room.
    fn remove_member(&mut self, room_id: &RoomId, user: &UserId, effects: &mut Effects) {
        let room = self.live_mut(room_id);
        let was_speaker = room.remove_participant(user);
        let now_empty = room.participants().is_empty();
        let owner_left = room.owner_id() == user;
        let successor = room.speakers().first().map(|s| s.id.clone());
        if let Some(member) = self.users.get_mut(user) {
            member.rooms.retain(|r| r != room_id);
        }
        leave_effects(room_id, user, was_speaker, effects);
        effects.push(Effect::Emit {
            to: Audience::Spaces,
            event: Event::UserLeft {
                room_id: room_id.clone(),
                user_id: user.clone(),
            },
        });
        if now_empty {
            self.delete_room(room_id, effects);
        } else if owner_left {
            match successor {
                Some(next) => {
                    let room = self.live_mut(room_id);
                    room.set_owner(next);
                    effects.push(Effect::Emit {
                        to: Audience::Spaces,
                        event: Event::RoomUpdated(room.clone()),
                    });
                }
                None => self.close_room(room_id, effects),
            }
        }
    }

    /// Ends a room whose owner left with nobody on stage: every remaining member (all
    /// listeners) is told `room-closed`, loses their view and leaves the group.
    fn close_room(&mut self, room_id: &RoomId, effects: &mut Effects) {
        effects.push(Effect::Emit {
            to: Audience::Room(room_id.clone()),
            event: Event::RoomClosed {
                room_id: room_id.clone(),
            },
        });
        let room = self.live_mut(room_id);
        let remaining: Vec<(UserId, bool)> = room
            .participants()
            .iter()
            .map(|p| (p.id.clone(), room.is_speaker(&p.id)))
            .collect();
        for (user, was_speaker) in remaining {
            if let Some(member) = self.users.get_mut(&user) {
                member.rooms.retain(|r| r != room_id);
            }
            leave_effects(room_id, &user, was_speaker, effects);
        }
        self.delete_room(room_id, effects);
    }

    fn delete_room(&mut self, room_id: &RoomId, effects: &mut Effects) {
        self.rooms.remove(room_id);
        effects.push(Effect::Emit {
            to: Audience::Spaces,
            event: Event::RoomDeleted {
                room_id: room_id.clone(),
            },
        });
    }

    /// The two username indexes: by folded key and by shape key.
    #[cfg(test)]
    pub(crate) fn username_indexes(&self) -> [&HashMap<String, UserId>; 2] {
        [&self.usernames, &self.username_shapes]
    }

    #[cfg(test)]
    pub(crate) fn users_iter(&self) -> impl Iterator<Item = (&User, &[RoomId])> {
        self.users.values().map(|m| (&m.user, m.rooms.as_slice()))
    }
}

/// A member stops being one: their media ends and they leave the room's group.
fn leave_effects(room_id: &RoomId, user: &UserId, was_speaker: bool, effects: &mut Effects) {
    if was_speaker {
        effects.push(Effect::Media(MediaAction::EndPublication {
            room_id: room_id.clone(),
            user_id: user.clone(),
        }));
    }
    effects.push(Effect::Media(MediaAction::EndView {
        room_id: room_id.clone(),
        user_id: user.clone(),
    }));
    effects.push(Effect::Leave {
        user: user.clone(),
        group: Group::Room(room_id.clone()),
    });
}

fn raised_hand(room_id: &RoomId, user: &UserId, raised: bool) -> Effect {
    Effect::Emit {
        to: Audience::Room(room_id.clone()),
        event: Event::UserRaisedHand {
            room_id: room_id.clone(),
            user_id: user.clone(),
            raised,
        },
    }
}

fn promoted(room_id: &RoomId, user: &UserId, promoted: bool) -> Effect {
    Effect::Emit {
        to: Audience::Spaces,
        event: Event::UserPromoted {
            room_id: room_id.clone(),
            user_id: user.clone(),
            promoted,
        },
    }
}

fn muted(room_id: &RoomId, user: &UserId, muted: bool) -> Effect {
    Effect::Emit {
        to: Audience::Room(room_id.clone()),
        event: Event::UserMuted {
            room_id: room_id.clone(),
            user_id: user.clone(),
            muted,
        },
    }
}
