//! The state machine: [`Rooms::apply`].

use crate::command::{
    Ack, ClientInfo, Command, JoinTokens, Outcome, PublishTokenRequest, ViewTokenRequest,
};
use crate::effect::{Audience, Effect, Event, Group, MediaAction};
use crate::error::RoomError;
use crate::ids::{ConnId, RoomId, UserId};
use crate::limits::Limits;
use crate::model::Privacy;
use crate::model::{Room, User};
use crate::presence::{Away, Departed};
use crate::social::{check_entry, Budget, Relations};
use crate::validate::{
    is_usable_room_id, normalize_room_name, normalize_username, username_keys, UsernameKeys,
};
use std::collections::HashMap;

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Member {
    pub(crate) user: User,
    /// The rooms this user is in, in join order (disconnect leaves them in that order).
    pub(crate) rooms: Vec<RoomId>,
    /// Their entries in [`Rooms::usernames`] and [`Rooms::username_shapes`].
    pub(crate) keys: UsernameKeys,
    /// Their connection; `None` while they are away (see [`Rooms::expire`]).
    pub(crate) conn: Option<ConnId>,
    /// While away: when they were lost and when they leave for good.
    pub(crate) away: Option<Away>,
    /// Their resume secret (empty: cannot resume) and what their client supports.
    pub(crate) client: ClientInfo,
    /// The secret they presented last (empty: none): it keeps working until the one handed out
    /// with that answer is used, since the answer may be lost with its connection.
    pub(crate) previous_secret: String,
    /// Their pace of chat messages and of reactions.
    #[serde(default)]
    pub(crate) chat_budget: Budget,
    #[serde(default)]
    pub(crate) reaction_budget: Budget,
}

/// Every connected user and every live room.
///
/// Drive it with [`Rooms::apply`]; read it with [`Rooms::room`], [`Rooms::user`] and
/// [`Rooms::live_rooms`](crate::Rooms::live_rooms). A refused command leaves it untouched.
/// It enforces the quotas of its [`Limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rooms {
    pub(crate) users: HashMap<UserId, Member>,
    /// Connection → the user signed in on it.
    pub(crate) conns: HashMap<ConnId, UserId>,
    /// Resume secret → a signed-in user (connected or away).
    pub(crate) secrets: HashMap<String, UserId>,
    /// Resume secret → a user who was seen leaving but may still resume.
    pub(crate) departed: HashMap<String, Departed>,
    /// [`UsernameKeys::folded`] → user: no two names equal up to case and look-alikes.
    pub(crate) usernames: HashMap<String, UserId>,
    /// [`UsernameKeys::shape`] → user: no two names that look alike as typed (`I` and `l`).
    pub(crate) username_shapes: HashMap<String, UserId>,
    pub(crate) rooms: HashMap<RoomId, Room>,
    /// Creation counter: orders rooms by age without trusting the clock.
    pub(crate) next_seq: u64,
    pub(crate) limits: Limits,
}

/// What an effect list is being built for.
pub(crate) type Effects = Vec<Effect>;

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
    /// `now_ms` is a millisecond clock (the shell passes Unix milliseconds, so a successor
    /// restoring a [`Rooms::snapshot`] keeps the deadlines). It is recorded (room creation,
    /// speaker since), and compared only to time out users who are away ([`Rooms::expire`]);
    /// ordering (stage seniority, newest room) follows the order of commands. On `Err` nothing
    /// changed and the error's message is the ack's `{error}`; on `Ok` send the ack and carry
    /// out the effects in order.
    pub fn apply(
        &mut self,
        now_ms: u64,
        conn: &ConnId,
        command: Command,
    ) -> Result<Outcome, RoomError> {
        match command {
            Command::Authenticate { username, client } => {
                self.authenticate(conn, &username, client)
            }
            Command::TakeOver { username, client } => {
                self.take_over_account(conn, &username, client)
            }
            Command::Resume {
                username,
                secret,
                client,
                keep,
                relations,
            } => self.resume(
                now_ms,
                conn,
                (&username, &secret),
                client,
                keep.as_deref(),
                &relations,
            ),
            Command::Disconnect => Ok(self.disconnect(conn)),
            Command::ConnectionLost { silent_ms } => {
                Ok(self.connection_lost(now_ms, conn, silent_ms))
            }
            Command::CreateRoom {
                room_id,
                name,
                audio_only,
                privacy,
            } => {
                let user = self.signed_in(conn)?;
                self.create_room(now_ms, user, room_id, &name, audio_only, privacy)
            }
            Command::JoinRoom {
                room_id,
                invite,
                relations,
            } => {
                let user = self.signed_in(conn)?;
                self.join_room(now_ms, user, room_id, invite.as_deref(), &relations)
            }
            Command::LeaveRoom { room_id } => {
                let user = self.signed_in(conn)?;
                self.leave_room(&user.id, &room_id)
            }
            Command::RaiseHand {
                room_id,
                raised,
                reason,
            } => {
                let user = self.signed_in(conn)?;
                self.raise_hand(&user.id, &room_id, raised, reason.as_deref())
            }
            Command::PromoteUser {
                room_id,
                user_id,
                promote,
            } => {
                let user = self.signed_in(conn)?;
                self.promote(now_ms, &user.id, &room_id, &user_id, promote)
            }
            Command::KickUser {
                room_id,
                user_id,
                ban,
            } => {
                let user = self.signed_in(conn)?;
                self.kick(&user.id, &room_id, &user_id, ban)
            }
            Command::SetModerator {
                room_id,
                user_id,
                moderator,
            } => {
                let user = self.signed_in(conn)?;
                self.set_moderator(&user.id, &room_id, &user_id, moderator)
            }
            Command::ApplyBlocks { relations } => {
                let user = self.signed_in(conn)?;
                Ok(self.apply_blocks(&user.id, &relations))
            }
            Command::SetRecording { room_id, recording } => {
                let user = self.signed_in(conn)?;
                self.set_recording(&user.id, &room_id, recording)
            }
            Command::SendMessage {
                room_id,
                text,
                relations,
            } => {
                let user = self.signed_in(conn)?;
                self.send_message(now_ms, &user.id, &room_id, &text, &relations)
            }
            Command::DeleteMessage {
                room_id,
                message_id,
            } => {
                let user = self.signed_in(conn)?;
                self.delete_message(&user.id, &room_id, message_id)
            }
            Command::MuteChat {
                room_id,
                user_id,
                muted,
            } => {
                let user = self.signed_in(conn)?;
                self.mute_chat(&user.id, &room_id, &user_id, muted)
            }
            Command::React {
                room_id,
                emoji,
                target,
            } => {
                let user = self.signed_in(conn)?;
                self.react(now_ms, &user.id, &room_id, &emoji, target)
            }
            Command::MuteSpeaker { room_id, user_id } => {
                let user = self.signed_in(conn)?;
                self.mute_speaker(&user.id, &room_id, &user_id)
            }
            Command::Mute { room_id, muted } => {
                let user = self.signed_in(conn)?;
                self.mute(&user.id, &room_id, muted)
            }
            Command::AnswerInvite { room_id, accept } => {
                let user = self.signed_in(conn)?;
                self.answer_invite(now_ms, &user.id, &room_id, accept)
            }
            Command::LeaveStage { room_id } => {
                let user = self.signed_in(conn)?;
                self.leave_stage(&user.id, &room_id)
            }
            Command::MicState { room_id, available } => {
                let user = self.signed_in(conn)?;
                self.mic_state(&user.id, &room_id, available)
            }
            Command::SetContent { room_id, stream } => {
                let user = self.signed_in(conn)?;
                self.set_content(&user.id, &room_id, stream)
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

    /// The connection `user` is on now (`None` while away or once gone).
    pub fn conn_of(&self, user: &UserId) -> Option<&ConnId> {
        self.users.get(user)?.conn.as_ref()
    }

    /// The user signed in on `conn`.
    pub fn user_on(&self, conn: &ConnId) -> Option<&User> {
        self.users.get(self.conns.get(conn)?).map(|m| &m.user)
    }

    fn signed_in(&self, conn: &ConnId) -> Result<User, RoomError> {
        self.user_on(conn)
            .cloned()
            .ok_or(RoomError::NotAuthenticated)
    }

    pub(crate) fn live(&self, room_id: &RoomId) -> Result<&Room, RoomError> {
        self.rooms.get(room_id).ok_or(RoomError::RoomNotFound)
    }

    pub(crate) fn live_mut(&mut self, room_id: &RoomId) -> &mut Room {
        self.rooms
            .get_mut(room_id)
            .expect("callers check that the room exists before mutating it")
    }

    /// The room, if the caller is a member.
    pub(crate) fn membership(&self, user: &UserId, room_id: &RoomId) -> Result<&Room, RoomError> {
        let room = self.live(room_id)?;
        if room.is_member(user) {
            Ok(room)
        } else {
            Err(RoomError::NotInRoom)
        }
    }

    /// The room, if the caller moderates it (its owner or a moderator) and `target` is a
    /// member; a moderator may not act on the owner.
    pub(crate) fn moderator_over(
        &self,
        user: &UserId,
        room_id: &RoomId,
        target: &UserId,
    ) -> Result<&Room, RoomError> {
        let room = self.membership(user, room_id)?;
        if !room.is_moderator(user) {
            return Err(RoomError::NotOwner);
        }
        if !room.is_member(target) {
            return Err(if self.users.contains_key(target) {
                RoomError::UserNotInRoom
            } else {
                RoomError::UserGone
            });
        }
        if room.owner_id() == target && room.owner_id() != user {
            return Err(RoomError::TargetIsOwner);
        }
        Ok(room)
    }

    pub(crate) fn authenticate(
        &mut self,
        conn: &ConnId,
        raw: &str,
        client: ClientInfo,
    ) -> Result<Outcome, RoomError> {
        if self.conns.contains_key(conn) {
            let user = self.signed_in_again(conn, raw, client)?;
            return Ok(Outcome::ack(Ack::Authenticated {
                user,
                rooms: self.snapshots(),
            }));
        }
        if let Some(user) = self.account_holder(raw, &client) {
            // Another tab or device: it asks first. A connection already lost (a tab closed
            // a moment ago): its seats come here.
            if self.users[&user].conn.is_some() {
                return Err(RoomError::OpenElsewhere);
            }
            return self.account_moves_here(conn, &user, client);
        }
        let (username, keys) = self.available_username(raw)?;
        let id = UserId::new(conn.as_str());
        if self.users.contains_key(&id) || self.secrets.contains_key(&client.resume_secret) {
            // Connection ids and secrets are fresh random strings: a clash is the shell's bug.
            return Err(RoomError::ResumeExpired);
        }
        let user = User {
            id,
            username,
            account: client.account.clone(),
        };
        self.add_member(conn, user.clone(), keys, client);
        let mut outcome = Outcome::ack(Ack::Authenticated {
            user: user.clone(),
            rooms: self.snapshots(),
        });
        outcome.effects.push(Effect::Join {
            user: user.id,
            group: Group::Spaces,
        });
        Ok(outcome)
    }

    /// A valid username nobody signed in uses (or one that looks like it).
    pub(crate) fn available_username(
        &self,
        raw: &str,
    ) -> Result<(String, UsernameKeys), RoomError> {
        let username = normalize_username(raw)?;
        let keys = username_keys(&username);
        if self.usernames.contains_key(&keys.folded)
            || self.username_shapes.contains_key(&keys.shape)
        {
            return Err(RoomError::UsernameTaken(username));
        }
        Ok((username, keys))
    }

    /// Signs `user` in on `conn` (checked: name free, ids and secret unused).
    pub(crate) fn add_member(
        &mut self,
        conn: &ConnId,
        user: User,
        keys: UsernameKeys,
        client: ClientInfo,
    ) {
        let id = user.id.clone();
        self.usernames.insert(keys.folded.clone(), id.clone());
        self.username_shapes.insert(keys.shape.clone(), id.clone());
        self.conns.insert(conn.clone(), id.clone());
        if !client.resume_secret.is_empty() {
            self.secrets
                .insert(client.resume_secret.clone(), id.clone());
        }
        self.users.insert(
            id,
            Member {
                user,
                rooms: Vec::new(),
                keys,
                conn: Some(conn.clone()),
                away: None,
                client,
                previous_secret: String::new(),
                chat_budget: Budget::default(),
                reaction_budget: Budget::default(),
            },
        );
    }

    /// The first [`Limits::max_listed_rooms`] rooms in listing order, so that a sign-in's
    /// reply stays small however many rooms there are.
    pub(crate) fn snapshots(&self) -> Vec<Room> {
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
    pub(crate) fn check_join_quota(&self, user: &UserId) -> Result<(), RoomError> {
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
        privacy: Privacy,
    ) -> Result<Outcome, RoomError> {
        let name = normalize_room_name(raw_name)?;
        if privacy == Privacy::Followers && owner.account.is_none() {
            return Err(RoomError::FollowersNeedAccount);
        }
        if matches!(&privacy, Privacy::Invite { secret } if secret.len() < 16) {
            // The shell mints the secret: a short one is its bug, not the user's.
            return Err(RoomError::RoomIdUnavailable);
        }
        self.check_create_quota(&owner.id)?;
        if !is_usable_room_id(room_id.as_str()) || self.rooms.contains_key(&room_id) {
            return Err(RoomError::RoomIdUnavailable);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut room = Room::new(room_id.clone(), name, &owner, audio_only, now_ms, seq);
        room.set_privacy(privacy);
        self.member_mut(&owner.id).rooms.push(room_id.clone());
        let effects = vec![
            Effect::Join {
                user: owner.id,
                group: Group::Room(room_id.clone()),
            },
            Effect::Emit {
                to: room.audience(),
                event: Event::RoomCreated(room.clone()),
            },
        ];
        self.rooms.insert(room_id.clone(), room);
        Ok(Outcome {
            ack: Ack::RoomCreated { room_id },
            effects,
        })
    }

    pub(crate) fn member_mut(&mut self, user: &UserId) -> &mut Member {
        self.users
            .get_mut(user)
            .expect("only authenticated users reach room handlers")
    }

    fn join_room(
        &mut self,
        now_ms: u64,
        user: User,
        room_id: RoomId,
        invite: Option<&str>,
        relations: &Relations,
    ) -> Result<Outcome, RoomError> {
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
        let folded = &self.users[&user.id].keys.folded;
        check_entry(room, &user, folded, invite, relations)?;
        self.check_join_quota(&user.id)?;
        let mut outcome = Outcome::ack(Ack::Joined(tokens));
        self.enter_room(&user, &room_id, &mut outcome.effects);
        let room = self.live_mut(&room_id);
        room.record_join(now_ms);
        outcome
            .effects
            .extend(crate::chat::history_for(room, &user.id, relations));
        Ok(outcome)
    }

    /// Seats a checked user in the audience of `room_id` and announces it.
    pub(crate) fn enter_room(&mut self, user: &User, room_id: &RoomId, effects: &mut Effects) {
        let room = self.live_mut(room_id);
        room.add_participant(user);
        let audience = room.audience();
        self.member_mut(&user.id).rooms.push(room_id.clone());
        effects.push(Effect::Join {
            user: user.id.clone(),
            group: Group::Room(room_id.clone()),
        });
        effects.push(Effect::Emit {
            to: audience,
            event: Event::UserJoined {
                room_id: room_id.clone(),
                user: user.clone(),
            },
        });
    }

    fn leave_room(&mut self, user: &UserId, room_id: &RoomId) -> Result<Outcome, RoomError> {
        self.membership(user, room_id)?;
        let mut outcome = Outcome::done();
        self.remove_member(room_id, user, &mut outcome.effects);
        Ok(outcome)
    }

    /// Sign-out: the user on `conn` leaves everything now and cannot resume.
    fn disconnect(&mut self, conn: &ConnId) -> Outcome {
        let mut outcome = Outcome::done();
        if let Some(user) = self.conns.get(conn).cloned() {
            self.sign_out(&user, &mut outcome.effects);
        }
        outcome
    }

    /// Takes `user` out of every room (in join order) and signs them out; returns what they
    /// were.
    pub(crate) fn sign_out(&mut self, user: &UserId, effects: &mut Effects) -> Option<Member> {
        let rooms = self.users.get(user)?.rooms.clone();
        for room_id in rooms {
            self.remove_member(&room_id, user, effects);
        }
        effects.push(Effect::Leave {
            user: user.clone(),
            group: Group::Spaces,
        });
        let member = self.users.remove(user)?;
        self.usernames.remove(&member.keys.folded);
        self.username_shapes.remove(&member.keys.shape);
        self.secrets.remove(&member.client.resume_secret);
        self.secrets.remove(&member.previous_secret);
        if let Some(conn) = &member.conn {
            self.conns.remove(conn);
        }
        Some(member)
    }

    /// Takes `user` out of `room_id` (a checked member): stops their media, announces it, and
    /// then either deletes the emptied room, hands ownership over, or closes the room.
    pub(crate) fn remove_member(&mut self, room_id: &RoomId, user: &UserId, effects: &mut Effects) {
        let room = self.live_mut(room_id);
        let was_speaker = room.remove_participant(user);
        let now_empty = room.participants().is_empty();
        let owner_left = room.owner_id() == user;
        let audience = room.audience();
        // The longest-standing moderator, or else the longest-standing speaker.
        let stage = room.speakers();
        let successor = stage
            .iter()
            .find(|s| room.participant(&s.id).is_some_and(|p| p.moderator))
            .or(stage.first())
            .map(|s| s.id.clone());
        if let Some(member) = self.users.get_mut(user) {
            member.rooms.retain(|r| r != room_id);
        }
        leave_effects(room_id, user, was_speaker, effects);
        effects.push(Effect::Emit {
            to: audience.clone(),
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
                    crate::recording::owner_changed(room, effects);
                    effects.push(Effect::Emit {
                        to: audience,
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
        // A private room's group is empty by now: nobody else knew of it.
        let audience = self
            .rooms
            .remove(room_id)
            .map_or(Audience::Spaces, |r| r.audience());
        effects.push(Effect::Emit {
            to: audience,
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
pub(crate) fn leave_effects(
    room_id: &RoomId,
    user: &UserId,
    was_speaker: bool,
    effects: &mut Effects,
) {
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

/// Puts a member on the stage: they get a publish grant and everyone hears of it.
pub(crate) fn put_on_stage(room: &mut Room, now_ms: u64, user: &UserId, effects: &mut Effects) {
    let room_id = room.id().clone();
    room.add_speaker(user, now_ms);
    effects.push(Effect::SendPromoted {
        user: user.clone(),
        room_id: room_id.clone(),
        request: PublishTokenRequest {
            stream: room_id.clone(),
            source_id: user.clone(),
        },
    });
    effects.push(promoted(room, user, true));
}

pub(crate) fn invited(room_id: &RoomId, user: &UserId, invited: bool) -> Effect {
    Effect::Emit {
        to: Audience::Room(room_id.clone()),
        event: Event::UserInvited {
            room_id: room_id.clone(),
            user_id: user.clone(),
            invited,
        },
    }
}

pub(crate) fn raised_hand(room_id: &RoomId, user: &UserId, raised: bool) -> Effect {
    hand_with_reason(room_id, user, raised, None)
}

pub(crate) fn hand_with_reason(
    room_id: &RoomId,
    user: &UserId,
    raised: bool,
    reason: Option<String>,
) -> Effect {
    Effect::Emit {
        to: Audience::Room(room_id.clone()),
        event: Event::UserRaisedHand {
            room_id: room_id.clone(),
            user_id: user.clone(),
            raised,
            reason,
        },
    }
}

/// `user-promoted`, to everyone for a public room (the demo's lobby shows speakers), to the
/// members of a private one.
pub(crate) fn promoted(room: &Room, user: &UserId, promoted: bool) -> Effect {
    Effect::Emit {
        to: room.audience(),
        event: Event::UserPromoted {
            room_id: room.id().clone(),
            user_id: user.clone(),
            promoted,
        },
    }
}

pub(crate) fn muted(room_id: &RoomId, user: &UserId, muted: bool) -> Effect {
    Effect::Emit {
        to: Audience::Room(room_id.clone()),
        event: Event::UserMuted {
            room_id: room_id.clone(),
            user_id: user.clone(),
            muted,
        },
    }
}
