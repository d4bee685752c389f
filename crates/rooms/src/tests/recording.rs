//! Recording for a replay: moderators turn it on and off, everyone present is told, the room
//! says so to joiners and the lobby; a guest's room cannot be recorded.

use super::{r, trace, u, World};
use crate::{Command, RoomError};

fn set(on: bool) -> Command {
    Command::SetRecording {
        room_id: r("r1"),
        recording: on,
    }
}

/// Ann (owner, with an account) with Bob on stage and Cat listening.
fn room() -> World {
    let mut w = World::accounts_room();
    w.raise_hand("b", "r1");
    w.promote("a", "r1", "b", true);
    w
}

#[test]
fn the_host_records_everyone_is_told_and_joiners_see_it() {
    let mut w = room();
    let out = w.ok("a", set(true));
    let lines = trace(&out);
    assert_eq!(lines[0], r#"room:r1 room-recording ["r1",true]"#);
    assert!(lines[1].starts_with("spaces room-updated"), "{lines:?}");
    assert!(lines[1].contains(r#""recording":true"#), "{lines:?}");
    assert!(w.rooms.room(&r("r1")).unwrap().recording());
    assert!(trace(&w.ok("a", set(true))).is_empty(), "no change");
    // Someone who joins now gets the room's JSON with the flag.
    w.sign_in_account("d", "Dan");
    let joined = serde_json::to_value(w.rooms.room(&r("r1")).unwrap()).unwrap();
    assert_eq!(joined["recording"], true);
    let out = w.ok("a", set(false));
    assert_eq!(trace(&out)[0], r#"room:r1 room-recording ["r1",false]"#);
    let json = serde_json::to_value(w.rooms.room(&r("r1")).unwrap()).unwrap();
    assert!(json.get("recording").is_none(), "the demo's shape when off");
}

#[test]
fn only_moderators_record_and_a_moderator_may() {
    let mut w = room();
    let before = w.rooms.clone();
    assert_eq!(w.err("c", set(true)), RoomError::NotOwner);
    assert_eq!(w.err("b", set(true)), RoomError::NotOwner);
    assert_eq!(w.rooms, before, "refusals change nothing");
    w.ok(
        "a",
        Command::SetModerator {
            room_id: r("r1"),
            user_id: u("b"),
            moderator: true,
        },
    );
    w.ok("b", set(true));
    assert!(w.rooms.room(&r("r1")).unwrap().recording());
}

#[test]
fn a_guests_room_cannot_be_recorded() {
    let mut w = World::new();
    w.sign_in("g", "Guest");
    w.create("g", "r1");
    let before = w.rooms.clone();
    assert_eq!(w.err("g", set(true)), RoomError::RecordingNeedsAccount);
    assert_eq!(w.rooms, before);
    // Turning it off is always allowed (and here changes nothing).
    assert!(trace(&w.ok("g", set(false))).is_empty());
}

#[test]
fn the_flag_survives_a_snapshot() {
    let mut w = room();
    w.ok("a", set(true));
    let restored = crate::Rooms::restore(&w.rooms.snapshot(), w.rooms.limits()).unwrap();
    assert!(restored.room(&r("r1")).unwrap().recording());
}

#[test]
fn recording_stops_when_the_host_leaves_and_the_successor_cannot_restart_it() {
    let mut w = room();
    w.ok("a", set(true));
    let out = w.ok("a", Command::LeaveRoom { room_id: r("r1") });
    let lines = trace(&out);
    assert!(
        lines.contains(&r#"room:r1 room-recording ["r1",false]"#.to_owned()),
        "{lines:?}"
    );
    let room = w.rooms.room(&r("r1")).unwrap();
    assert_eq!(room.owner_id(), &u("b"));
    assert!(!room.recording());
    let before = w.rooms.clone();
    assert_eq!(w.err("b", set(true)), RoomError::RecordingNeedsAccount);
    assert_eq!(w.rooms, before);
}
