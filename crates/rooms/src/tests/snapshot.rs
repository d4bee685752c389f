//! A restored snapshot carries on exactly like the state it was taken from.

use super::{c, r, World};
use crate::{ClientInfo, Command, Limits, Rooms, SnapshotError};

#[test]
fn a_restored_state_answers_and_expires_like_the_original() {
    let mut w = World::room_with_two_listeners();
    w.raise_hand("b", "r1");
    w.sign_in_app("d", "Dan");
    w.join("d", "r1");
    // Dan is away (his seat held), Cat is kicked (banned for the room's lifetime).
    w.ok("d", Command::ConnectionLost { silent_ms: 0 });
    w.ok(
        "a",
        Command::KickUser {
            room_id: r("r1"),
            user_id: super::u("c"),
            ban: true,
        },
    );
    let mut copy = World {
        rooms: Rooms::restore(&w.rooms.snapshot(), w.rooms.limits()).unwrap(),
        now: w.now,
    };
    assert_eq!(copy.rooms, w.rooms);
    for world in [&mut w, &mut copy] {
        world.sign_in("c2", "Eve");
    }
    let steps: Vec<(&str, Command)> = vec![
        (
            "a",
            Command::PromoteUser {
                room_id: r("r1"),
                user_id: super::u("b"),
                promote: true,
            },
        ),
        (
            "c2",
            Command::JoinRoom {
                room_id: r("r1"),
                invite: None,
                relations: Default::default(),
            },
        ),
        (
            "d2",
            Command::Resume {
                username: "Dan".into(),
                secret: "secret-d".into(),
                client: ClientInfo::new("again"),
                keep: None,
                relations: Default::default(),
            },
        ),
    ];
    for (who, command) in steps {
        let a = w.run(who, command.clone());
        let b = copy.run(who, command);
        assert_eq!(a, b, "{who}");
    }
    w.now += 60_000;
    copy.now += 60_000;
    assert_eq!(w.expire(), copy.expire());
    assert_eq!(copy.rooms, w.rooms);
    assert!(copy.rooms.connections().any(|conn| conn == &c("d2")));
}

#[test]
fn a_foreign_or_broken_snapshot_is_refused() {
    let w = World::room_with_two_listeners();
    let other = w
        .rooms
        .snapshot()
        .replacen("\"version\":1", "\"version\":99", 1);
    assert!(matches!(
        Rooms::restore(&other, Limits::default()),
        Err(SnapshotError::Version(99))
    ));
    assert!(matches!(
        Rooms::restore("{\"version\":1}", Limits::default()),
        Err(SnapshotError::Invalid(_))
    ));
}
