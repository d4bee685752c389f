//! Watch party: the owner attaches and detaches a content stream; everyone hears of it.

use super::{r, trace, World};
use crate::{Command, RoomError, MAX_CONTENT_STREAM_LEN};
use serde_json::json;

fn set(room: &str, stream: Option<&str>) -> Command {
    Command::SetContent {
        room_id: r(room),
        stream: stream.map(Into::into),
    }
}

#[test]
fn the_owner_attaches_a_stream_everyone_sees_it_and_detaches_it() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    w.sign_in("b", "Bob");
    w.create("a", "r1");
    w.join("b", "r1");
    let out = w.ok("a", set("r1", Some("  movie-night.1 ")));
    let room = json!(w.rooms.room(&r("r1")).unwrap());
    assert_eq!(
        room["content"], "movie-night.1",
        "trimmed, in the room's snapshot"
    );
    assert_eq!(trace(&out), [format!("spaces room-updated [{room}]")]);
    // The same again changes nothing and tells nobody.
    assert!(trace(&w.ok("a", set("r1", Some("movie-night.1")))).is_empty());
    let out = w.ok("a", set("r1", None));
    let room = json!(w.rooms.room(&r("r1")).unwrap());
    assert!(
        room.get("content").is_none(),
        "the demo's shape again: {room}"
    );
    assert_eq!(trace(&out), [format!("spaces room-updated [{room}]")]);
}

#[test]
fn set_content_refusals_change_nothing() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    w.sign_in("b", "Bob");
    w.sign_in("c", "Cy");
    w.create("a", "r1");
    w.create("c", "r2");
    w.join("b", "r1");
    assert_eq!(w.err("b", set("r1", Some("x"))), RoomError::NotOwner);
    assert_eq!(w.err("c", set("r1", Some("x"))), RoomError::NotInRoom);
    assert_eq!(w.err("a", set("nope", Some("x"))), RoomError::RoomNotFound);
    for bad in [
        "",
        "  ",
        "a b",
        "a/b",
        "ünï",
        &"x".repeat(MAX_CONTENT_STREAM_LEN + 1),
    ] {
        assert_eq!(
            w.err("a", set("r1", Some(bad))),
            RoomError::ContentStreamInvalid,
            "{bad:?}"
        );
    }
    assert_eq!(w.err("a", set("r1", Some("r2"))), RoomError::ContentIsARoom);
    assert_eq!(w.err("a", set("r1", Some("r1"))), RoomError::ContentIsARoom);
    assert_eq!(
        w.err("x", set("r1", Some("fine"))),
        RoomError::NotAuthenticated
    );
}
