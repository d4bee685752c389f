//! The stage: raised hands, invitations (with the listener's consent), promotion and
//! demotion, muting, microphone state, and removing members for good.

use crate::command::Outcome;
use crate::effect::{Audience, Effect, Event, MediaAction};
use crate::error::RoomError;
use crate::ids::{RoomId, UserId};
use crate::model::Participant;
use crate::rooms::{hand_with_reason, invited, muted, promoted, put_on_stage, raised_hand, Rooms};
use crate::social::Relations;
use crate::validate::{normalize_text, MAX_REASON_CHARS};

impl Rooms {
    pub(crate) fn raise_hand(
        &mut self,
        user: &UserId,
        room_id: &RoomId,
        raised: bool,
        reason: Option<&str>,
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
        // A blank reason is no reason; a lowered hand has none.
        let reason = match reason.filter(|r| raised && !r.trim().is_empty()) {
            Some(r) => Some(normalize_text(r, MAX_REASON_CHARS)?),
            None => None,
        };
        let participant = self
            .live_mut(room_id)
            .participant_mut(user)
            .expect("membership was checked");
        let mut outcome = Outcome::done();
        let changed = participant.raised_hand != raised || participant.hand_reason != reason;
        participant.raised_hand = raised;
        participant.hand_reason = reason.clone();
        if changed {
            outcome
                .effects
                .push(hand_with_reason(room_id, user, raised, reason));
        }
        Ok(outcome)
    }

    /// Sets one of a checked member's flags and announces it, if it changed.
    fn set_flag(
        &mut self,
        room_id: &RoomId,
        user: &UserId,
        flag: fn(&mut Participant) -> &mut bool,
        value: bool,
        announce: impl FnOnce() -> Effect,
    ) -> Outcome {
        let participant = self
            .live_mut(room_id)
            .participant_mut(user)
            .expect("callers check membership");
        let mut outcome = Outcome::done();
        if std::mem::replace(flag(participant), value) != value {
            outcome.effects.push(announce());
        }
        outcome
    }

    pub(crate) fn promote(
        &mut self,
        now_ms: u64,
        owner: &UserId,
        room_id: &RoomId,
        target: &UserId,
        promote: bool,
    ) -> Result<Outcome, RoomError> {
        let room = self.moderator_over(owner, room_id, target)?;
        if target == room.owner_id() {
            return if promote {
                Ok(Outcome::done())
            } else {
                Err(RoomError::CannotDemoteSelf)
            };
        }
        let on_stage = room.is_speaker(target);
        let answers = self
            .users
            .get(target)
            .is_some_and(|m| m.client.answers_invitations);
        let room = self.live_mut(room_id);
        let participant = room
            .participant_mut(target)
            .expect("moderator_over checked membership");
        let had_hand = participant.raised_hand;
        let was_invited = participant.invited;
        let mut outcome = Outcome::done();
        let effects = &mut outcome.effects;
        // A raised hand is consent; otherwise a client that can answer is asked first.
        let must_ask = promote && !on_stage && !had_hand && answers;
        if must_ask {
            if !was_invited {
                participant.invited = true;
                effects.push(Effect::Emit {
                    to: Audience::User(target.clone()),
                    event: Event::Invited {
                        room_id: room_id.clone(),
                    },
                });
                effects.push(invited(room_id, target, true));
            }
            return Ok(outcome);
        }
        participant.raised_hand = false;
        participant.hand_reason = None;
        participant.invited = false;
        if was_invited && !promote {
            effects.push(invited(room_id, target, false));
        }
        match (promote, on_stage) {
            (true, false) => {
                if had_hand {
                    effects.push(raised_hand(room_id, target, false));
                }
                put_on_stage(room, now_ms, target, effects);
                if was_invited {
                    // Accepted by raising a hand: over once they are on stage, so nobody reads
                    // its end as a refusal.
                    effects.push(invited(room_id, target, false));
                }
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
                effects.push(promoted(room, target, false));
            }
            // Denying a raised hand: lower it for everyone in the room and tell them.
            (false, false) if had_hand => {
                effects.push(raised_hand(room_id, target, false));
                effects.push(Effect::Emit {
                    to: Audience::User(target.clone()),
                    event: Event::HandDenied {
                        room_id: room_id.clone(),
                    },
                });
            }
            // Already in the requested place.
            _ => {}
        }
        Ok(outcome)
    }

    pub(crate) fn kick(
        &mut self,
        owner: &UserId,
        room_id: &RoomId,
        target: &UserId,
        ban: bool,
    ) -> Result<Outcome, RoomError> {
        self.moderator_over(owner, room_id, target)?;
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
        if let Some(member) = self.users.get(target).filter(|_| ban) {
            let folded = member.keys.folded.clone();
            let account = member.user.account.clone();
            self.live_mut(room_id)
                .ban(target, &folded, account.as_deref());
        }
        self.remove_member(room_id, target, &mut outcome.effects);
        Ok(outcome)
    }

    /// Removes the accounts `blocker` blocks from the rooms `blocker` hosts: owns now, or
    /// opened under their account (the rooms a block keeps them out of, see
    /// `social::host_blocked`); never the owner of one. See
    /// [`Command::ApplyBlocks`](crate::Command::ApplyBlocks).
    pub(crate) fn apply_blocks(&mut self, blocker: &UserId, relations: &Relations) -> Outcome {
        let account = self.users.get(blocker).and_then(|m| m.user.account.clone());
        let mut hosted: Vec<RoomId> = self
            .rooms
            .values()
            .filter(|r| {
                r.owner_id() == blocker
                    || (account.is_some() && r.host_account() == account.as_deref())
            })
            .map(|r| r.id().clone())
            .collect();
        hosted.sort();
        let mut outcome = Outcome::done();
        for room_id in hosted {
            let room = &self.rooms[&room_id];
            let blocked: Vec<UserId> = room
                .participants()
                .iter()
                .filter(|p| &p.id != room.owner_id())
                .filter(|p| {
                    p.account
                        .as_ref()
                        .is_some_and(|a| relations.blocks.contains(a))
                })
                .map(|p| p.id.clone())
                .collect();
            for target in blocked {
                outcome.effects.push(Effect::Emit {
                    to: Audience::User(target.clone()),
                    event: Event::Kicked {
                        room_id: room_id.clone(),
                    },
                });
                self.remove_member(&room_id, &target, &mut outcome.effects);
            }
        }
        outcome
    }

    pub(crate) fn mute_speaker(
        &mut self,
        owner: &UserId,
        room_id: &RoomId,
        target: &UserId,
    ) -> Result<Outcome, RoomError> {
        let room = self.moderator_over(owner, room_id, target)?;
        if !room.is_speaker(target) {
            return Err(RoomError::TargetNotSpeaker);
        }
        let participant = self
            .live_mut(room_id)
            .participant_mut(target)
            .expect("moderator_over checked membership");
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

    pub(crate) fn mute(
        &mut self,
        user: &UserId,
        room_id: &RoomId,
        mute: bool,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        if !room.is_speaker(user) {
            return Err(RoomError::NotSpeaker);
        }
        Ok(self.set_flag(
            room_id,
            user,
            |p| &mut p.muted,
            mute,
            || muted(room_id, user, mute),
        ))
    }

    /// A listener answers the owner's invitation: on stage, or stays in the audience.
    pub(crate) fn answer_invite(
        &mut self,
        now_ms: u64,
        user: &UserId,
        room_id: &RoomId,
        accept: bool,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        if !room.participant(user).is_some_and(|p| p.invited) {
            return Err(RoomError::NotInvited);
        }
        let room = self.live_mut(room_id);
        let participant = room
            .participant_mut(user)
            .expect("membership was checked above");
        participant.invited = false;
        participant.hand_reason = None;
        let had_hand = std::mem::take(&mut participant.raised_hand);
        let mut outcome = Outcome::done();
        let effects = &mut outcome.effects;
        if had_hand {
            // Declining also withdraws a hand raised meanwhile: the answer is no.
            effects.push(raised_hand(room_id, user, false));
        }
        if accept {
            put_on_stage(room, now_ms, user, effects);
        }
        // Last, so that by then an accepted invitation shows its user on stage.
        effects.push(invited(room_id, user, false));
        Ok(outcome)
    }

    /// A speaker steps down to the audience on their own. The owner cannot: they leave.
    pub(crate) fn leave_stage(
        &mut self,
        user: &UserId,
        room_id: &RoomId,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        if room.owner_id() == user {
            return Err(RoomError::CannotDemoteSelf);
        }
        if !room.is_speaker(user) {
            return Ok(Outcome::done());
        }
        let room = self.live_mut(room_id);
        room.remove_speaker(user);
        let mut outcome = Outcome::done();
        outcome
            .effects
            .push(Effect::Media(MediaAction::EndPublication {
                room_id: room_id.clone(),
                user_id: user.clone(),
            }));
        outcome.effects.push(promoted(room, user, false));
        Ok(outcome)
    }

    /// A moderator makes a speaker a moderator, or ends that role (the owner's is theirs).
    pub(crate) fn set_moderator(
        &mut self,
        by: &UserId,
        room_id: &RoomId,
        target: &UserId,
        moderator: bool,
    ) -> Result<Outcome, RoomError> {
        let room = self.moderator_over(by, room_id, target)?;
        if target == room.owner_id() {
            return if moderator {
                Ok(Outcome::done())
            } else {
                Err(RoomError::TargetIsOwner)
            };
        }
        if moderator && !room.is_speaker(target) {
            return Err(RoomError::TargetNotSpeaker);
        }
        let announce = || Effect::Emit {
            to: Audience::Room(room_id.clone()),
            event: Event::UserModerator {
                room_id: room_id.clone(),
                user_id: target.clone(),
                moderator,
            },
        };
        Ok(self.set_flag(room_id, target, |p| &mut p.moderator, moderator, announce))
    }

    /// A speaker reports whether their microphone works, so the room can show it.
    pub(crate) fn mic_state(
        &mut self,
        user: &UserId,
        room_id: &RoomId,
        available: bool,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        if !room.is_speaker(user) {
            return Err(RoomError::NotSpeaker);
        }
        let announce = || Effect::Emit {
            to: Audience::Room(room_id.clone()),
            event: Event::UserMic {
                room_id: room_id.clone(),
                user_id: user.clone(),
                available,
            },
        };
        Ok(self.set_flag(
            room_id,
            user,
            |p| &mut p.mic_unavailable,
            !available,
            announce,
        ))
    }
}
