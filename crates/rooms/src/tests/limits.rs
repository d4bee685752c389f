//! Quotas against amplification (fault F7): rooms owned, rooms joined, live rooms, and the
//! size of the `authenticate` ack. Each limit is hit exactly: N allowed, N + 1 refused
//! without changing anything (checked by `World::err`), and freeing one allows again.

use super::{c, r, u, World};
use crate::ClientInfo;
use crate::{Ack, Command, Limits, RoomError, RoomId, Rooms};
use serde_json::json;

fn create(id: &str) -> Command {
    Command::CreateRoom {
        room_id: r(id),
        name: format!("Room {id}"),
        audio_only: true,
        privacy: Default::default(),
    }
}

fn join(id: &str) -> Command {
    Command::JoinRoom {
        room_id: r(id),
        invite: None,
        relations: Default::default(),
    }
}

fn leave(id: &str) -> Command {
    Command::LeaveRoom { room_id: r(id) }
}

/// The room ids listed by an `authenticate` ack.
fn listed(ack: &Ack) -> Vec<RoomId> {
    let Ack::Authenticated { rooms, .. } = ack else {
        panic!("not an authenticate ack: {ack:?}")
    };
    rooms.iter().map(|room| room.id().clone()).collect()
}

#[test]
fn defaults() {
    let limits = Limits::default();
    assert_eq!(limits.max_owned_rooms, 3);
    assert_eq!(limits.max_joined_rooms, 16);
    assert_eq!(limits.max_live_rooms, 10_000);
    assert_eq!(limits.max_listed_rooms, 100);
    assert_eq!(Rooms::new().limits(), limits);
    assert_eq!(Rooms::new(), Rooms::with_limits(limits));
}

#[test]
fn refusal_messages() {
    let cases = [
        (
            RoomError::TooManyOwnedRooms { max: 3 },
            "You can host at most 3 rooms at a time; close one first",
        ),
        (
            RoomError::TooManyOwnedRooms { max: 1 },
            "You can host at most 1 room at a time; close one first",
        ),
        (
            RoomError::TooManyJoinedRooms { max: 16 },
            "You can be in at most 16 rooms at a time; leave one first",
        ),
        (
            RoomError::TooManyLiveRooms,
            "The server has too many live rooms right now; please try again later",
        ),
    ];
    for (err, message) in cases {
        assert_eq!(err.to_string(), message);
        assert_eq!(err.to_ack(), json!({ "error": message }));
    }
}

// ---- rooms owned -----------------------------------------------------------------------

#[test]
fn a_user_owns_at_most_three_rooms_by_default() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    for id in ["r1", "r2", "r3"] {
        w.create("a", id);
    }
    assert_eq!(
        w.err("a", create("r4")),
        RoomError::TooManyOwnedRooms { max: 3 }
    );
    assert!(w.rooms.room(&r("r4")).is_none());
    // Closing one (the owner leaves an otherwise empty room) frees a slot.
    w.ok("a", leave("r2"));
    w.create("a", "r4");
    assert_eq!(
        w.err("a", create("r5")),
        RoomError::TooManyOwnedRooms { max: 3 }
    );
    // Others are not affected by one user's quota.
    w.sign_in("b", "Bob");
    w.create("b", "r5");
}

#[test]
fn the_owned_quota_is_checked_before_the_room_id() {
    let mut w = World::with_limits(Limits {
        max_owned_rooms: 1,
        ..Limits::default()
    });
    w.sign_in("a", "Ann");
    w.create("a", "r1");
    // Even a retry of the same id hears the quota, which is what the user can act on.
    assert_eq!(
        w.err("a", create("r1")),
        RoomError::TooManyOwnedRooms { max: 1 }
    );
}

#[test]
fn a_hand_over_may_exceed_the_owned_quota_but_creating_may_not() {
    let mut w = World::with_limits(Limits {
        max_owned_rooms: 1,
        ..Limits::default()
    });
    w.sign_in("a", "Ann");
    w.sign_in("b", "Bob");
    w.create("a", "ra");
    w.create("b", "rb");
    w.join("b", "ra");
    w.promote("a", "ra", "b", true);
    // Refusing the hand-over would close a room nobody asked to close.
    w.ok("a", leave("ra"));
    assert_eq!(w.rooms.room(&r("ra")).unwrap().owner_id(), &u("b"));
    assert_eq!(
        w.err("b", create("rc")),
        RoomError::TooManyOwnedRooms { max: 1 }
    );
    // Owning 2 with a quota of 1: one room freed is not enough, two are.
    w.ok("b", leave("rb"));
    assert_eq!(
        w.err("b", create("rc")),
        RoomError::TooManyOwnedRooms { max: 1 }
    );
    w.ok("b", leave("ra"));
    w.create("b", "rc");
}

// ---- rooms joined ----------------------------------------------------------------------

/// Users `o0`…`o5` own three rooms each (`o0-0`…`o5-2`): 18 rooms to join.
fn many_rooms(w: &mut World) -> Vec<String> {
    let mut ids = Vec::new();
    for owner in 0..6 {
        let conn = format!("o{owner}");
        w.sign_in(&conn, &format!("Owner{owner}"));
        for n in 0..3 {
            let id = format!("{conn}-{n}");
            w.create(&conn, &id);
            ids.push(id);
        }
    }
    ids
}

#[test]
fn a_user_is_in_at_most_sixteen_rooms_by_default() {
    let mut w = World::new();
    let ids = many_rooms(&mut w);
    w.sign_in("a", "Ann");
    for id in &ids[..16] {
        w.join("a", id);
    }
    assert_eq!(w.rooms.rooms_of(&u("a")).len(), 16);
    let full = RoomError::TooManyJoinedRooms { max: 16 };
    assert_eq!(w.err("a", join(&ids[16])), full);
    assert!(!w.rooms.room(&r(&ids[16])).unwrap().is_member(&u("a")));
    // Creating a room would make a 17th membership too.
    assert_eq!(w.err("a", create("mine")), full);
    // Asking again for the grants of a room one is in is not a new membership.
    w.join("a", &ids[0]);
    // Leaving one frees a slot, for joining or for creating.
    w.ok("a", leave(&ids[0]));
    w.join("a", &ids[16]);
    assert_eq!(w.err("a", join(&ids[17])), full);
    w.ok("a", leave(&ids[1]));
    w.create("a", "mine");
    assert_eq!(w.err("a", join(&ids[17])), full);
}

#[test]
fn being_kicked_frees_a_membership() {
    let mut w = World::with_limits(Limits {
        max_joined_rooms: 2,
        ..Limits::default()
    });
    w.sign_in("a", "Ann");
    w.sign_in("b", "Bob");
    w.sign_in("c", "Cat");
    w.create("a", "r1");
    w.create("a", "r2");
    w.create("c", "r3");
    w.join("b", "r1");
    w.join("b", "r2");
    assert_eq!(
        w.err("b", join("r3")),
        RoomError::TooManyJoinedRooms { max: 2 }
    );
    w.ok(
        "a",
        Command::KickUser {
            room_id: r("r1"),
            user_id: u("b"),
            ban: true,
        },
    );
    w.join("b", "r3");
}

// ---- live rooms ------------------------------------------------------------------------

#[test]
fn the_server_holds_at_most_the_live_room_quota() {
    let mut w = World::with_limits(Limits {
        max_live_rooms: 4,
        ..Limits::default()
    });
    w.sign_in("a", "Ann");
    w.sign_in("b", "Bob");
    for id in ["a1", "a2", "a3"] {
        w.create("a", id);
    }
    w.create("b", "b1");
    assert_eq!(w.err("b", create("b2")), RoomError::TooManyLiveRooms);
    assert_eq!(w.rooms.rooms().count(), 4);
    // Joining existing rooms is still fine.
    w.join("b", "a1");
    // A room closing frees a slot for anyone.
    w.ok("a", leave("a2"));
    w.create("b", "b2");
    assert_eq!(w.err("a", create("a4")), RoomError::TooManyLiveRooms);
}

#[test]
fn the_default_live_room_quota_is_ten_thousand() {
    // Plain `apply` here: `World` checks the whole state after each of the 10,000 commands.
    let mut rooms = Rooms::new();
    let users = 10_000_usize.div_ceil(3);
    for n in 0..users {
        let username = format!("User{n}");
        rooms
            .apply(
                0,
                &c(&format!("c{n}")),
                Command::Authenticate {
                    username,
                    client: ClientInfo::default(),
                },
            )
            .unwrap();
    }
    for n in 0..10_000 {
        let owner = u(&format!("c{}", n / 3));
        rooms
            .apply(0, &c(owner.as_str()), create(&format!("r{n}")))
            .unwrap();
    }
    assert_eq!(rooms.rooms().count(), 10_000);
    let last = u(&format!("c{}", users - 1));
    assert_eq!(rooms.rooms_of(&last).len(), 1);
    let before = rooms.clone();
    assert_eq!(
        rooms.apply(0, &c(last.as_str()), create("one-too-many")),
        Err(RoomError::TooManyLiveRooms)
    );
    assert_eq!(before, rooms, "a refused create-room changed the state");
    rooms.apply(0, &c("c0"), leave("r0")).unwrap();
    rooms
        .apply(0, &c(last.as_str()), create("one-more"))
        .unwrap();

    // A newcomer's ack lists the first 100 rooms only.
    let ack = rooms
        .apply(
            0,
            &c("new"),
            Command::Authenticate {
                username: "Newcomer".into(),
                client: ClientInfo::default(),
            },
        )
        .unwrap()
        .ack;
    let ids = listed(&ack);
    assert_eq!(ids.len(), 100);
    assert_eq!(ids[0], r("one-more"), "newest first among equals");
    let page: Vec<RoomId> = rooms
        .live_rooms_page(100)
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(ids, page);
}

// ---- the authenticate ack --------------------------------------------------------------

#[test]
fn the_authenticate_ack_lists_the_first_rooms_in_listing_order() {
    let mut w = World::with_limits(Limits {
        max_listed_rooms: 2,
        ..Limits::default()
    });
    w.sign_in("a", "Ann");
    w.sign_in("b", "Bob");
    w.create("a", "old");
    w.create("a", "mid");
    w.create("b", "new");
    // The oldest room is the busiest: it stays listed however many rooms are newer.
    w.join("b", "old");
    let all: Vec<RoomId> = w.rooms.live_rooms().into_iter().map(|l| l.id).collect();
    assert_eq!(all, [r("old"), r("new"), r("mid")]);
    let out = w.ok(
        "c",
        Command::Authenticate {
            username: "Cat".into(),
            client: ClientInfo::default(),
        },
    );
    assert_eq!(listed(&out.ack), [r("old"), r("new")]);
    // A retried authenticate is capped the same way.
    let again = w.ok(
        "c",
        Command::Authenticate {
            username: "Cat".into(),
            client: ClientInfo::default(),
        },
    );
    assert_eq!(listed(&again.ack), [r("old"), r("new")]);
    // Exactly at the cap everything is listed; one room fewer, too.
    w.ok("a", leave("mid"));
    let out = w.ok(
        "d",
        Command::Authenticate {
            username: "Dan".into(),
            client: ClientInfo::default(),
        },
    );
    assert_eq!(listed(&out.ack), [r("old"), r("new")]);
    w.ok("b", leave("new"));
    let out = w.ok(
        "e",
        Command::Authenticate {
            username: "Eve".into(),
            client: ClientInfo::default(),
        },
    );
    assert_eq!(listed(&out.ack), [r("old")]);
}

#[test]
fn live_rooms_page_is_a_prefix_of_live_rooms() {
    let mut w = World::new();
    let ids = many_rooms(&mut w);
    w.sign_in("a", "Ann");
    for id in ids.iter().step_by(4) {
        w.join("a", id);
    }
    let all = w.rooms.live_rooms();
    assert_eq!(all.len(), 18);
    for limit in 0..=20 {
        assert_eq!(w.rooms.live_rooms_page(limit), all[..limit.min(18)]);
    }
    assert!(w.rooms.live_rooms_page(0).is_empty());
}
