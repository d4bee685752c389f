//! Watch party: the owner attaches a stream (the content) that everyone in the room watches
//! while the room talks. The room only names it; members view it like any open stream (the
//! shell checks, before the command comes here, that the owner may publish to it and that
//! it needs no subscribe token).

use crate::command::Outcome;
use crate::effect::{Effect, Event};
use crate::error::RoomError;
use crate::ids::{RoomId, UserId};
use crate::rooms::Rooms;
use crate::validate::normalize_content_stream;

impl Rooms {
    pub(crate) fn set_content(
        &mut self,
        user: &UserId,
        room_id: &RoomId,
        stream: Option<String>,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        if !room.is_moderator(user) {
            return Err(RoomError::NotOwner);
        }
        let stream = stream
            .as_deref()
            .map(normalize_content_stream)
            .transpose()?;
        if let Some(s) = &stream {
            if self.rooms().any(|r| r.id().as_str() == s) {
                return Err(RoomError::ContentIsARoom);
            }
        }
        if room.content() == stream.as_deref() {
            return Ok(Outcome::done());
        }
        let room = self.live_mut(room_id);
        room.set_content(stream);
        let snapshot = room.clone();
        let mut outcome = Outcome::done();
        outcome.effects.push(Effect::Emit {
            to: snapshot.audience(),
            event: Event::RoomUpdated(snapshot),
        });
        Ok(outcome)
    }
}
