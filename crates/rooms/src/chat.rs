//! The room's chat and reactions: messages for everyone present (rate- and length-limited,
//! kept for later joiners, hidden between people in a block), deletion by the author or a
//! moderator, muting someone's chat, and emoji reactions.

use crate::command::Outcome;
use crate::effect::{Audience, Effect, Event};
use crate::error::RoomError;
use crate::ids::{RoomId, UserId};
use crate::model::{ChatMessage, Room};
use crate::rooms::Rooms;
use crate::social::Relations;
use crate::validate::{normalize_text, MAX_CHAT_CHARS};

/// The reactions people can send (one tap each, no free text).
pub const REACTIONS: [&str; 8] = ["👏", "❤️", "😂", "😮", "🔥", "👍", "🙏", "💯"];

/// Chat: a burst of 5 messages, then one a second.
pub const CHAT_BURST: u64 = 5;
/// Chat: the sustained pace, one message per this many milliseconds.
pub const CHAT_INTERVAL_MS: u64 = 1_000;
/// Reactions: a burst of 10, then about three a second.
pub const REACTION_BURST: u64 = 10;
/// Reactions: the sustained pace.
pub const REACTION_INTERVAL_MS: u64 = 300;

impl Rooms {
    pub(crate) fn send_message(
        &mut self,
        now_ms: u64,
        user: &UserId,
        room_id: &RoomId,
        raw: &str,
        relations: &Relations,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        let author = room.participant(user).expect("membership was checked");
        if author.chat_muted {
            return Err(RoomError::ChatMuted);
        }
        let text = normalize_text(raw, MAX_CHAT_CHARS)?;
        let (username, account) = (author.username.clone(), author.account.clone());
        // People in a block with the author (either way) do not get it.
        let except: Vec<UserId> = room
            .participants()
            .iter()
            .filter(|p| p.account.as_deref().is_some_and(|a| relations.avoids(a)))
            .map(|p| p.id.clone())
            .collect();
        let budget = &mut self.member_mut(user).chat_budget;
        if !budget.take(now_ms, CHAT_INTERVAL_MS, CHAT_BURST) {
            return Err(RoomError::TooFast);
        }
        let message = self.live_mut(room_id).add_message(ChatMessage {
            id: 0,
            user_id: user.clone(),
            username,
            account,
            text,
            at: now_ms,
        });
        let to = if except.is_empty() {
            Audience::Room(room_id.clone())
        } else {
            Audience::RoomExcept {
                room_id: room_id.clone(),
                except,
            }
        };
        let mut outcome = Outcome::done();
        outcome.effects.push(Effect::Emit {
            to,
            event: Event::ChatMessage {
                room_id: room_id.clone(),
                message,
            },
        });
        Ok(outcome)
    }

    pub(crate) fn delete_message(
        &mut self,
        user: &UserId,
        room_id: &RoomId,
        message_id: u64,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        let message = room.message(message_id).ok_or(RoomError::MessageNotFound)?;
        if &message.user_id != user && !room.is_moderator(user) {
            return Err(RoomError::NotYourMessage);
        }
        if &message.user_id == room.owner_id() && room.owner_id() != user {
            return Err(RoomError::TargetIsOwner);
        }
        self.live_mut(room_id).remove_message(message_id);
        let mut outcome = Outcome::done();
        outcome.effects.push(Effect::Emit {
            to: Audience::Room(room_id.clone()),
            event: Event::ChatDeleted {
                room_id: room_id.clone(),
                message_id,
            },
        });
        Ok(outcome)
    }

    pub(crate) fn mute_chat(
        &mut self,
        moderator: &UserId,
        room_id: &RoomId,
        target: &UserId,
        muted: bool,
    ) -> Result<Outcome, RoomError> {
        self.moderator_over(moderator, room_id, target)?;
        let participant = self
            .live_mut(room_id)
            .participant_mut(target)
            .expect("moderator_over checked membership");
        let mut outcome = Outcome::done();
        if std::mem::replace(&mut participant.chat_muted, muted) != muted {
            outcome.effects.push(Effect::Emit {
                to: Audience::Room(room_id.clone()),
                event: Event::UserChatMuted {
                    room_id: room_id.clone(),
                    user_id: target.clone(),
                    muted,
                },
            });
        }
        Ok(outcome)
    }

    pub(crate) fn react(
        &mut self,
        now_ms: u64,
        user: &UserId,
        room_id: &RoomId,
        emoji: &str,
        target: Option<UserId>,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        let emoji = REACTIONS
            .iter()
            .find(|r| **r == emoji)
            .ok_or(RoomError::UnknownReaction)?;
        if let Some(target) = &target {
            if !room.is_speaker(target) {
                return Err(RoomError::TargetNotSpeaker);
            }
        }
        let budget = &mut self.member_mut(user).reaction_budget;
        if !budget.take(now_ms, REACTION_INTERVAL_MS, REACTION_BURST) {
            return Err(RoomError::TooFast);
        }
        let mut outcome = Outcome::done();
        outcome.effects.push(Effect::Emit {
            to: Audience::Room(room_id.clone()),
            event: Event::Reaction {
                room_id: room_id.clone(),
                user_id: user.clone(),
                emoji: (*emoji).to_owned(),
                target,
            },
        });
        Ok(outcome)
    }
}

/// The kept messages a new member gets (none from people in a block with them), if any.
pub(crate) fn history_for(room: &Room, user: &UserId, relations: &Relations) -> Option<Effect> {
    let messages: Vec<ChatMessage> = room
        .chat()
        .filter(|m| !m.account.as_deref().is_some_and(|a| relations.avoids(a)))
        .cloned()
        .collect();
    (!messages.is_empty()).then(|| Effect::Emit {
        to: Audience::User(user.clone()),
        event: Event::ChatHistory {
            room_id: room.id().clone(),
            messages,
        },
    })
}
