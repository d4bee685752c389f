//! Ownership hand-over, room closing and disconnect clean-up.

use super::{r, trace, u, World};
use crate::{Command, MediaAction, RoomError};
use serde_json::json;

#[test]
fn the_owner_leaving_hands_the_room_to_the_longest_standing_speaker() {
    let mut w = World::room_with_two_listeners();
    w.promote("a", "r1", "b", true);
    w.promote("a", "r1", "c", true);
    let out = w.ok("a", Command::LeaveRoom { room_id: r("r1") });
    let room = w.rooms.room(&r("r1")).unwrap();
    assert_eq!(room.owner_id(), &u("b"));
    let snapshot = json!(room);
    assert_eq!(snapshot["ownerId"], "b");
    assert_eq!(snapshot["speakers"], json!(["b", "c"]));
    assert_eq!(
        trace(&out),
        [
            "end-publication r1 a".to_owned(),
            "end-view r1 a".to_owned(),
            "leave a room:r1".to_owned(),
            r#"spaces user-left ["r1","a"]"#.to_owned(),
            format!("spaces room-updated [{snapshot}]"),
        ]
    );
    // The new owner has the owner's powers; the old one, back as a listener, has not.
    w.ok(
        "b",
        Command::KickUser {
            room_id: r("r1"),
            user_id: u("c"),
            ban: true,
        },
    );
    w.join("a", "r1");
    assert_eq!(
        w.err(
            "a",
            Command::PromoteUser {
                room_id: r("r1"),
                user_id: u("a"),
                promote: true,
            }
        ),
        RoomError::NotOwner
    );
}

#[test]
fn seniority_restarts_when_a_speaker_is_demoted() {
    let mut w = World::room_with_two_listeners();
    w.promote("a", "r1", "b", true);
    w.promote("a", "r1", "c", true);
    w.promote("a", "r1", "b", false);
    w.promote("a", "r1", "b", true);
    let room = w.rooms.room(&r("r1")).unwrap();
    let since: Vec<u64> = room.speakers().iter().map(|s| s.since_ms).collect();
    assert!(since.windows(2).all(|p| p[0] <= p[1]), "{since:?}");
    w.ok("a", Command::Disconnect);
    assert_eq!(w.rooms.room(&r("r1")).unwrap().owner_id(), &u("c"));
}

#[test]
fn the_owner_disconnecting_hands_over_and_frees_the_name() {
    let mut w = World::room_with_two_listeners();
    w.promote("a", "r1", "c", true);
    let out = w.ok("a", Command::Disconnect);
    let lines = trace(&out);
    assert_eq!(
        lines[..4],
        [
            "end-publication r1 a",
            "end-view r1 a",
            "leave a room:r1",
            r#"spaces user-left ["r1","a"]"#,
        ]
    );
    assert!(
        lines[4].starts_with("spaces room-updated [{"),
        "{}",
        lines[4]
    );
    assert_eq!(lines[5], "leave a spaces");
    assert_eq!(lines.len(), 6);
    assert_eq!(w.rooms.room(&r("r1")).unwrap().owner_id(), &u("c"));
    w.sign_in("a2", "Ann");
}

#[test]
fn the_owner_leaving_with_nobody_on_stage_closes_the_room() {
    let mut w = World::room_with_two_listeners();
    w.raise_hand("b", "r1");
    let out = w.ok("a", Command::LeaveRoom { room_id: r("r1") });
    assert_eq!(
        trace(&out),
        [
            "end-publication r1 a",
            "end-view r1 a",
            "leave a room:r1",
            r#"spaces user-left ["r1","a"]"#,
            r#"room:r1 room-closed ["r1"]"#,
            "end-view r1 b",
            "leave b room:r1",
            "end-view r1 c",
            "leave c room:r1",
            r#"spaces room-deleted ["r1"]"#,
        ]
    );
    assert!(w.rooms.room(&r("r1")).is_none());
    assert!(w.rooms.rooms_of(&u("b")).is_empty());
    assert!(w.rooms.rooms_of(&u("c")).is_empty());
    // The listeners are still signed in and can start their own rooms.
    w.create("b", "r2");
    assert_eq!(
        w.err(
            "c",
            Command::JoinRoom {
                room_id: r("r1"),
                invite: None,
                relations: Default::default()
            }
        ),
        RoomError::RoomNotFound
    );
}

#[test]
fn disconnect_cleans_up_every_room() {
    let mut w = World::new();
    for (id, name) in [("a", "Ann"), ("b", "Bob"), ("c", "Cat")] {
        w.sign_in(id, name);
    }
    // a owns "solo" alone, owns "handed" with speaker b, listens in "b-room" (owned by b)
    // and speaks in "c-room" (owned by c).
    w.create("a", "solo");
    w.create("a", "handed");
    w.join("b", "handed");
    w.promote("a", "handed", "b", true);
    w.create("b", "b-room");
    w.join("a", "b-room");
    w.create("c", "c-room");
    w.join("a", "c-room");
    w.promote("c", "c-room", "a", true);
    w.ok(
        "a",
        Command::Mute {
            room_id: r("c-room"),
            muted: true,
        },
    );

    let out = w.ok("a", Command::Disconnect);
    assert!(w.rooms.user(&u("a")).is_none());
    assert!(w.rooms.room(&r("solo")).is_none(), "empty room deleted");
    assert_eq!(w.rooms.room(&r("handed")).unwrap().owner_id(), &u("b"));
    for id in ["handed", "b-room", "c-room"] {
        assert!(!w.rooms.room(&r(id)).unwrap().is_member(&u("a")), "{id}");
    }
    let left: Vec<String> = trace(&out)
        .into_iter()
        .filter(|l| l.contains("user-left") || l.contains("room-deleted"))
        .collect();
    assert_eq!(
        left,
        [
            r#"spaces user-left ["solo","a"]"#,
            r#"spaces room-deleted ["solo"]"#,
            r#"spaces user-left ["handed","a"]"#,
            r#"spaces user-left ["b-room","a"]"#,
            r#"spaces user-left ["c-room","a"]"#,
        ]
    );
    let ended: Vec<&MediaAction> = out.media_actions().collect();
    let publications = ended
        .iter()
        .filter(|m| matches!(m, MediaAction::EndPublication { .. }))
        .count();
    let views = ended
        .iter()
        .filter(|m| matches!(m, MediaAction::EndView { .. }))
        .count();
    assert_eq!(
        (publications, views),
        (3, 4),
        "solo, handed, c-room / all four"
    );
    assert_eq!(trace(&out).last().unwrap(), "leave a spaces");
    // Username freed, and a later user cannot be acted on under the old id.
    w.sign_in("a2", "ann");
    assert_eq!(
        w.err(
            "c",
            Command::KickUser {
                room_id: r("c-room"),
                user_id: u("a"),
                ban: true
            }
        ),
        RoomError::UserGone
    );
}

#[test]
fn a_non_owner_disconnecting_leaves_the_owner_in_place() {
    let mut w = World::room_with_two_listeners();
    w.promote("a", "r1", "b", true);
    let out = w.ok("b", Command::Disconnect);
    assert_eq!(
        trace(&out),
        [
            "end-publication r1 b",
            "end-view r1 b",
            "leave b room:r1",
            r#"spaces user-left ["r1","b"]"#,
            "leave b spaces",
        ]
    );
    assert_eq!(w.rooms.room(&r("r1")).unwrap().owner_id(), &u("a"));
}
