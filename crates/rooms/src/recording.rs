//! Recording a room for its replay: the host or a moderator turns it on and off. Everyone
//! in the room hears of it at once (`room-recording`), and the room's JSON says so to anyone
//! who joins or sees it in the lobby: nobody is recorded without being shown. The room only
//! holds the flag; the shell records the speakers' publications while it is set.

use crate::command::Outcome;
use crate::effect::{Audience, Effect, Event};
use crate::error::RoomError;
use crate::ids::{RoomId, UserId};
use crate::model::Room;
use crate::rooms::Effects;
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
        // The replay is kept on the host's profile: a guest's room has none, nor a room its
        // host has left.
        if on && !room.recordable() {
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

/// The room changed hands: recording stops unless the new owner is its host (a replay is the
/// host's). The caller announces the room itself.
pub(crate) fn owner_changed(room: &mut Room, effects: &mut Effects) {
    if room.recording() && !room.recordable() {
        room.set_recording(false);
        effects.push(Effect::Emit {
            to: Audience::Room(room.id().clone()),
            event: Event::RoomRecording {
                room_id: room.id().clone(),
                recording: false,
            },
        });
    }
}
