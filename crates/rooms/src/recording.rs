//! Recording a room for its replay: the host or a moderator turns it on and off. Everyone
//! in the room hears of it at once (`room-recording`), and the room's JSON says so to anyone
//! who joins or sees it in the lobby: nobody is recorded without being shown. The room only
//! holds the flag; the shell records the speakers' publications while it is set.

use crate::command::Outcome;
use crate::effect::{Audience, Effect, Event};
use crate::error::RoomError;
use crate::ids::{RoomId, UserId};
use crate::rooms::Rooms;

impl Rooms {
    pub(crate) fn set_recording(
        &mut self,
        user: &UserId,
        room_id: &RoomId,
        on: bool,
    ) -> Result<Outcome, RoomError> {
        let room = self.membership(user, room_id)?;
        if !room.is_moderator(user) {
            return Err(RoomError::NotOwner);
        }
        // The replay is kept on the host's profile: a guest's room has none.
        if on && room.host_account().is_none() {
            return Err(RoomError::RecordingNeedsAccount);
        }
        if room.recording() == on {
            return Ok(Outcome::done());
        }
        let room = self.live_mut(room_id);
        room.set_recording(on);
        let snapshot = room.clone();
        let mut outcome = Outcome::done();
        outcome.effects.push(Effect::Emit {
            to: Audience::Room(room_id.clone()),
            event: Event::RoomRecording {
                room_id: room_id.clone(),
                recording: on,
            },
        });
        outcome.effects.push(Effect::Emit {
            to: snapshot.audience(),
            event: Event::RoomUpdated(snapshot),
        });
        Ok(outcome)
    }
}
