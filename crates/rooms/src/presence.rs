//! Presence: users whose connection is lost keep their seats for a while, unseen, and may
//! come back on a new connection with their resume secret.
//!
//! - **Away** (lost, within [`Limits::hold_ms`](crate::Limits::hold_ms) of when they were
//!   last heard): nothing changes for anyone else. A resume takes the user back as if
//!   nothing happened: same id, rooms, role, mute, raised hand.
//! - **Departed** (past the hold, within [`Limits::resume_ms`](crate::Limits::resume_ms) of
//!   the loss): the rooms saw them leave (hand-over, closing) and their name is free. A
//!   resume still gives each seat back where the room is live and did not remove them: a
//!   speaker goes back on stage (mute kept), a raised hand is raised again, and a host whose
//!   room was handed over comes back as a speaker.
//! - After that, the secret is forgotten: the user signs in as a new one.

use crate::command::{Ack, ClientInfo, Outcome};
use crate::effect::{Effect, Group};
use crate::error::RoomError;
use crate::ids::{ConnId, RoomId, UserId};
use crate::model::{Room, User};
use crate::rooms::{muted, promoted, raised_hand, Effects, Rooms};
use crate::social::Relations;
use crate::validate::{normalize_username, username_keys, UsernameKeys};
use serde::{Deserialize, Serialize};

/// A signed-in user whose connection was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Away {
    /// When the loss was noticed.
    pub lost_ms: u64,
    /// When they leave their rooms unless they resume first.
    pub leave_ms: u64,
}

/// A user who left because they stayed away, and may still resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Departed {
    user: User,
    /// Every secret that finds this record (the current one and the one presented before it).
    secrets: Vec<String>,
    seats: Vec<Seat>,
    answers_invitations: bool,
    /// When the secret stops working.
    until_ms: u64,
}

/// What a user was in one room when they left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seat {
    room_id: RoomId,
    role: SeatRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum SeatRole {
    /// On stage (the owner too: ownership has passed on when they left, so they come back
    /// as a speaker).
    Speaker { muted: bool },
    /// In the audience.
    Listener { raised_hand: bool },
}

impl Rooms {
    /// The connection `conn` is gone: its user is away from now on, unseen by others, and
    /// leaves at `last heard + hold_ms` ([`Rooms::expire`]) unless they resume first.
    pub(crate) fn connection_lost(
        &mut self,
        now_ms: u64,
        conn: &ConnId,
        silent_ms: u64,
    ) -> Outcome {
        let mut outcome = Outcome::done();
        let Some(user) = self.conns.remove(conn) else {
            return outcome;
        };
        let member = self.member_mut(&user);
        member.conn = None;
        // A client that cannot resume (the demo's app) could only come back as someone else:
        // holding its seats would only keep its name from it.
        let hold_ms = if member.client.resume_secret.is_empty() {
            0
        } else {
            self.limits.hold_ms
        };
        let member = self.member_mut(&user);
        let leave_ms = now_ms.saturating_sub(silent_ms).saturating_add(hold_ms);
        member.away = Some(Away {
            lost_ms: now_ms,
            leave_ms,
        });
        if leave_ms <= now_ms {
            self.depart(&user, &mut outcome.effects);
        }
        outcome
    }

    /// Times out users away past their hold (they leave their rooms; they may still resume
    /// for a while) and forgets departed users past [`Limits::resume_ms`](crate::Limits).
    /// Call it at [`Rooms::next_deadline`], or periodically; never refused.
    pub fn expire(&mut self, now_ms: u64) -> Outcome {
        let mut due: Vec<(u64, UserId)> = self
            .users
            .iter()
            .filter_map(|(id, m)| {
                let away = m.away.as_ref()?;
                (away.leave_ms <= now_ms).then(|| (away.leave_ms, id.clone()))
            })
            .collect();
        due.sort();
        let mut outcome = Outcome::done();
        for (_, user) in due {
            self.depart(&user, &mut outcome.effects);
        }
        self.departed.retain(|_, d| d.until_ms > now_ms);
        outcome
    }

    /// The next time [`Rooms::expire`] has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let leaving = self
            .users
            .values()
            .filter_map(|m| m.away.as_ref().map(|a| a.leave_ms));
        let forgetting = self.departed.values().map(|d| d.until_ms);
        leaving.chain(forgetting).min()
    }

    /// Whether `user` is signed in but their connection is lost.
    pub fn is_away(&self, user: &UserId) -> bool {
        self.users.get(user).is_some_and(|m| m.away.is_some())
    }

    /// The away user leaves every room, as on a sign-out, but keeps a way back.
    fn depart(&mut self, user: &UserId, effects: &mut Effects) {
        let Some(member) = self.users.get(user) else {
            return;
        };
        let seats = member
            .rooms
            .iter()
            .filter_map(|room_id| {
                let room = self.rooms.get(room_id)?;
                let p = room.participant(user)?;
                let role = if room.is_speaker(user) {
                    SeatRole::Speaker { muted: p.muted }
                } else {
                    SeatRole::Listener {
                        raised_hand: p.raised_hand,
                    }
                };
                Some(Seat {
                    room_id: room_id.clone(),
                    role,
                })
            })
            .collect();
        let Some(member) = self.sign_out(user, effects) else {
            return;
        };
        let lost_ms = member.away.as_ref().map_or(0, |a| a.lost_ms);
        let secrets: Vec<String> = [member.client.resume_secret, member.previous_secret]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let departed = Departed {
            user: member.user,
            secrets: secrets.clone(),
            seats,
            answers_invitations: member.client.answers_invitations,
            until_ms: lost_ms.saturating_add(self.limits.resume_ms),
        };
        for secret in secrets {
            self.departed.insert(secret, departed.clone());
        }
    }

    /// Whether a secret the shell minted is unused (an empty one, "cannot resume", always is).
    pub(crate) fn secret_is_fresh(&self, secret: &str) -> bool {
        secret.is_empty()
            || !(self.secrets.contains_key(secret) || self.departed.contains_key(secret))
    }

    /// Hands `user` the client's fresh secret. `kept` (the one the client presented) keeps
    /// working until the fresh one is used: the answer carrying the fresh one may be lost with
    /// its connection, and the client would come back with `kept`. Other old secrets stop.
    pub(crate) fn rotate_secret(&mut self, user: &UserId, kept: &str, client: ClientInfo) {
        let member = self.users.get_mut(user).expect("a signed-in user");
        let fresh = client.resume_secret.clone();
        let old = [
            std::mem::replace(&mut member.client, client),
            ClientInfo {
                resume_secret: std::mem::take(&mut member.previous_secret),
                ..ClientInfo::default()
            },
        ];
        member.previous_secret = kept.to_owned();
        for o in old {
            if o.resume_secret != kept {
                self.secrets.remove(&o.resume_secret);
            }
        }
        if !kept.is_empty() {
            self.secrets.insert(kept.to_owned(), user.clone());
        }
        if !fresh.is_empty() {
            self.secrets.insert(fresh, user.clone());
        }
    }

    /// `authenticate(username, {resume: secret})` on `conn`.
    pub(crate) fn resume(
        &mut self,
        now_ms: u64,
        conn: &ConnId,
        (raw_name, secret): (&str, &str),
        client: ClientInfo,
        keep: Option<&[RoomId]>,
        relations: &Relations,
    ) -> Result<Outcome, RoomError> {
        if self.conns.contains_key(conn) {
            // A retry whose first answer was lost: this connection is already the user.
            let user = self.signed_in_again(conn, raw_name, client)?;
            return Ok(Outcome::ack(self.resumed_ack(user)));
        }
        let name = normalize_username(raw_name)?;
        let keys = username_keys(&name);
        if secret.is_empty() || !self.secret_is_fresh(&client.resume_secret) {
            return Err(RoomError::ResumeExpired);
        }
        if let Some(user) = self.secrets.get(secret).cloned() {
            let member = &self.users[&user];
            // The same person: the same name and the same account (or none), so a secret
            // alone never lends an account's seats, or its relations, to another session.
            if !member.keys.clash(&keys) || member.user.account != client.account {
                return Err(RoomError::ResumeExpired);
            }
            return Ok(self.take_over(conn, &user, secret, client, keep));
        }
        let departed = match self.departed.get(secret) {
            Some(d) if d.until_ms > now_ms => d,
            _ => return Err(RoomError::ResumeExpired),
        };
        if !username_keys(&departed.user.username).clash(&keys)
            || departed.user.account != client.account
        {
            return Err(RoomError::ResumeExpired);
        }
        let (_, keys) = self.available_username(&departed.user.username)?;
        if self.users.contains_key(&departed.user.id) {
            return Err(RoomError::ResumeExpired);
        }
        let departed = self.departed.remove(secret).expect("found above");
        for other in &departed.secrets {
            self.departed.remove(other);
        }
        let mut departed = departed;
        // Rooms the client walked out of while offline are not given back.
        departed
            .seats
            .retain(|seat| keep.is_none_or(|keep| keep.contains(&seat.room_id)));
        Ok(self.come_back(now_ms, conn, departed, (secret, keys), client, relations))
    }

    /// A retried sign-in on a connection already signed in under that name (its answer was
    /// lost): nothing changes but the resume secret, which becomes the one this answer gives
    /// out, so the client keeps a secret that works.
    pub(crate) fn signed_in_again(
        &mut self,
        conn: &ConnId,
        raw: &str,
        client: ClientInfo,
    ) -> Result<User, RoomError> {
        let member = &self.users[&self.conns[conn]];
        let same =
            normalize_username(raw).is_ok_and(|name| username_keys(&name).clash(&member.keys));
        if !same {
            return Err(RoomError::AlreadyAuthenticated(
                member.user.username.clone(),
            ));
        }
        if !self.secret_is_fresh(&client.resume_secret) {
            return Err(RoomError::ResumeExpired);
        }
        let user = member.user.clone();
        let kept = member.client.resume_secret.clone();
        self.rotate_secret(&user.id, &kept, client);
        Ok(user)
    }

    /// `authenticate(username, {takeOver: true})` on `conn`: the user the client's account
    /// has signed in elsewhere moves here, seats and all; a free name signs in afresh.
    pub(crate) fn take_over_account(
        &mut self,
        conn: &ConnId,
        raw: &str,
        client: ClientInfo,
    ) -> Result<Outcome, RoomError> {
        match self.account_holder(raw, &client) {
            // A retry on the connection that already took over (its answer was lost).
            Some(user) if self.conns.get(conn) == Some(&user) => {
                let user = self.signed_in_again(conn, raw, client)?;
                Ok(Outcome::ack(self.resumed_ack(user)))
            }
            Some(user) => self.account_moves_here(conn, &user, client),
            // A free name.
            None => self.authenticate(conn, raw, client),
        }
    }

    /// The account's `user` moves to `conn` (checked: `user` is the account's).
    pub(crate) fn account_moves_here(
        &mut self,
        conn: &ConnId,
        user: &UserId,
        client: ClientInfo,
    ) -> Result<Outcome, RoomError> {
        if self.conns.contains_key(conn) || !self.secret_is_fresh(&client.resume_secret) {
            return Err(RoomError::ResumeExpired);
        }
        // No secret of the other connection is kept: it cannot take the user back without
        // asking, as this one did.
        Ok(self.take_over(conn, user, "", client, None))
    }

    /// The signed-in user holding the name `raw` (or one like it) under the client's
    /// account, if the client has one.
    pub(crate) fn account_holder(&self, raw: &str, client: &ClientInfo) -> Option<UserId> {
        client.account.as_ref()?;
        let keys = username_keys(&normalize_username(raw).ok()?);
        let holder = self
            .usernames
            .get(&keys.folded)
            .or_else(|| self.username_shapes.get(&keys.shape))?;
        (self.users[holder].user.account == client.account).then(|| holder.clone())
    }

    /// A user still signed in (away, or on a connection that has not noticed it is dead)
    /// moves to `conn`: nobody else sees anything.
    fn take_over(
        &mut self,
        conn: &ConnId,
        user: &UserId,
        presented: &str,
        client: ClientInfo,
        keep: Option<&[RoomId]>,
    ) -> Outcome {
        let mut effects = Vec::new();
        let member = self
            .users
            .get_mut(user)
            .expect("secrets name signed-in users");
        if let Some(old) = member.conn.replace(conn.clone()) {
            self.conns.remove(&old);
            effects.push(Effect::CloseConnection { conn: old });
        }
        member.away = None;
        let rooms = member.rooms.clone();
        let me = member.user.clone();
        self.rotate_secret(user, presented, client);
        self.conns.insert(conn.clone(), user.clone());
        effects.push(Effect::Join {
            user: user.clone(),
            group: Group::Spaces,
        });
        for room_id in rooms {
            if keep.is_none_or(|keep| keep.contains(&room_id)) {
                effects.push(Effect::Join {
                    user: user.clone(),
                    group: Group::Room(room_id),
                });
            } else {
                // Walked out while offline: leaving now is what they did.
                self.remove_member(&room_id, user, &mut effects);
            }
        }
        Outcome {
            ack: self.resumed_ack(me),
            effects,
        }
    }

    /// A departed user signs in again under their id and gets back the seats the rooms still
    /// have for them.
    fn come_back(
        &mut self,
        now_ms: u64,
        conn: &ConnId,
        departed: Departed,
        (presented, keys): (&str, UsernameKeys),
        client: ClientInfo,
        relations: &Relations,
    ) -> Outcome {
        let user = departed.user.clone();
        let client = ClientInfo {
            answers_invitations: departed.answers_invitations || client.answers_invitations,
            ..client
        };
        self.add_member(conn, user.clone(), keys, client.clone());
        self.rotate_secret(&user.id, presented, client);
        let mut effects = vec![Effect::Join {
            user: user.id.clone(),
            group: Group::Spaces,
        }];
        for seat in departed.seats {
            self.restore_seat(now_ms, &user, seat, relations, &mut effects);
        }
        Outcome {
            ack: self.resumed_ack(user),
            effects,
        }
    }

    /// Takes `user` back into a room as what they were, if the room is live, did not remove
    /// them and the user has room for it; otherwise the seat is gone.
    fn restore_seat(
        &mut self,
        now_ms: u64,
        user: &User,
        seat: Seat,
        relations: &Relations,
        effects: &mut Effects,
    ) {
        let folded = self.users[&user.id].keys.folded.clone();
        let Some(room) = self.rooms.get(&seat.room_id) else {
            return;
        };
        if room.is_member(&user.id)
            || room.is_banned(&user.id, &folded, user.account.as_deref())
            || crate::social::host_blocked(room, relations)
            || self.check_join_quota(&user.id).is_err()
        {
            return;
        }
        let room_id = seat.room_id;
        self.enter_room(user, &room_id, effects);
        let room = self.live_mut(&room_id);
        match seat.role {
            SeatRole::Speaker { muted: was_muted } => {
                room.add_speaker(&user.id, now_ms);
                effects.push(promoted(room, &user.id, true));
                if was_muted {
                    if let Some(p) = room.participant_mut(&user.id) {
                        p.muted = true;
                    }
                    effects.push(muted(&room_id, &user.id, true));
                }
            }
            SeatRole::Listener { raised_hand: true } => {
                if let Some(p) = room.participant_mut(&user.id) {
                    p.raised_hand = true;
                }
                effects.push(raised_hand(&room_id, &user.id, true));
            }
            SeatRole::Listener { raised_hand: false } => {}
        }
    }

    fn resumed_ack(&self, user: User) -> Ack {
        let seats: Vec<Room> = self
            .rooms_of(&user.id)
            .iter()
            .filter_map(|id| self.rooms.get(id).cloned())
            .collect();
        Ack::Resumed {
            user,
            rooms: self.snapshots(),
            seats,
        }
    }
}
