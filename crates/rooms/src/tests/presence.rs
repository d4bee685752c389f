//! Presence: a lost connection is held unseen, then leaves; a resume within the hold changes
//! nothing for anyone, and within the resume window gives back the seats the room still has.

use super::{c, r, trace, u, World};
use crate::{Ack, ClientInfo, Command, Limits, RoomError};

const HOLD: u64 = 8_500;

fn lost(silent_ms: u64) -> Command {
    Command::ConnectionLost { silent_ms }
}

fn resume(name: &str, secret: &str, new_secret: &str) -> Command {
    Command::Resume {
        username: name.into(),
        secret: secret.into(),
        client: ClientInfo::new(new_secret),
        keep: None,
        relations: Default::default(),
    }
}

fn resume_keeping(name: &str, secret: &str, new_secret: &str, keep: &[&str]) -> Command {
    Command::Resume {
        username: name.into(),
        secret: secret.into(),
        client: ClientInfo::new(new_secret),
        keep: Some(keep.iter().map(|id| r(id)).collect()),
        relations: Default::default(),
    }
}

/// Ann (a, owner of r1), Bob (b, speaker) and Cat (c, listener with a raised hand), all on
/// the Podium app.
fn room() -> World {
    let mut w = World::new();
    w.sign_in_app("a", "Ann");
    w.sign_in_app("b", "Bob");
    w.sign_in_app("c", "Cat");
    w.create("a", "r1");
    w.join("b", "r1");
    w.join("c", "r1");
    w.raise_hand("c", "r1");
    // Bob raised a hand too, so the owner's promotion needs no invitation.
    w.raise_hand("b", "r1");
    w.promote("a", "r1", "b", true);
    w.ok(
        "b",
        Command::Mute {
            room_id: r("r1"),
            muted: true,
        },
    );
    w
}

#[test]
fn a_lost_connection_changes_nothing_until_the_hold_ends() {
    let mut w = room();
    let out = w.ok("b", lost(0));
    let lost_at = w.now;
    assert!(trace(&out).is_empty(), "{:?}", trace(&out));
    assert!(w.rooms.is_away(&u("b")));
    assert_eq!(w.rooms.conn_of(&u("b")), None);
    assert_eq!(w.rooms.next_deadline(), Some(w.now + HOLD));
    // The name stays taken while held.
    assert!(matches!(
        w.err(
            "x",
            Command::Authenticate {
                username: "bob".into(),
                client: ClientInfo::default()
            }
        ),
        RoomError::UsernameTaken(_)
    ));
    w.now = lost_at + HOLD - 1;
    assert!(trace(&w.expire()).is_empty());
    w.now = lost_at + HOLD;
    let out = w.expire();
    assert_eq!(
        trace(&out),
        [
            "end-publication r1 b",
            "end-view r1 b",
            "leave b room:r1",
            r#"spaces user-left ["r1","b"]"#,
            "leave b spaces"
        ]
    );
    // The name is free again.
    w.sign_in("x", "Bob");
}

#[test]
fn a_timed_out_heartbeat_counts_the_silence_already_spent() {
    let mut w = room();
    w.now = 100_000;
    w.ok("b", lost(7_000));
    assert_eq!(w.rooms.next_deadline(), Some(w.now + 1_500));
    // Silent longer than the hold: gone at once.
    let out = w.ok("c", lost(HOLD + 1));
    assert!(trace(&out).contains(&r#"spaces user-left ["r1","c"]"#.to_owned()));
    assert!(w.rooms.user(&u("c")).is_none());
}

#[test]
fn an_away_host_keeps_the_room_until_the_hold_ends() {
    let mut w = room();
    w.ok("a", lost(0));
    w.now += HOLD;
    let out = w.expire();
    assert!(trace(&out).contains(&r#"spaces user-left ["r1","a"]"#.to_owned()));
    assert_eq!(
        w.rooms.room(&r("r1")).unwrap().owner_id(),
        &u("b"),
        "handed over"
    );
}

#[test]
fn resuming_within_the_hold_is_invisible_and_keeps_every_role() {
    let mut w = room();
    w.ok("b", lost(0));
    w.ok("c", lost(0));
    w.now += 3_000;
    let out = w.ok("b2", resume("Bob", "secret-b", "secret-b2"));
    assert_eq!(
        trace(&out),
        ["join b spaces", "join b room:r1"],
        "only group joins"
    );
    let Ack::Resumed { user, seats, .. } = &out.ack else {
        panic!("{:?}", out.ack)
    };
    assert_eq!(user.id, u("b"), "same user id, so the same sourceId");
    assert_eq!(seats.len(), 1);
    let room = w.rooms.room(&r("r1")).unwrap();
    assert!(room.is_speaker(&u("b")));
    assert!(room.participant(&u("b")).unwrap().muted, "mute kept");
    assert_eq!(w.rooms.conn_of(&u("b")), Some(&c("b2")));
    // Commands from the new connection act as Bob.
    w.ok(
        "b2",
        Command::Mute {
            room_id: r("r1"),
            muted: false,
        },
    );
    // The listener's raised hand is kept too.
    w.ok("c2", resume("Cat", "secret-c", "secret-c2"));
    assert!(
        w.rooms
            .room(&r("r1"))
            .unwrap()
            .participant(&u("c"))
            .unwrap()
            .raised_hand
    );
    // The old connection's late disconnect changes nothing.
    assert!(trace(&w.ok("b", lost(0))).is_empty());
    assert!(!w.rooms.is_away(&u("b")));
    w.now += HOLD * 2;
    assert!(trace(&w.expire()).is_empty(), "nobody is away any more");
}

#[test]
fn resuming_a_connection_that_has_not_noticed_it_is_dead_closes_it() {
    let mut w = room();
    let out = w.ok("b2", resume("Bob", "secret-b", "secret-b2"));
    assert_eq!(trace(&out), ["close b", "join b spaces", "join b room:r1"]);
    assert_eq!(w.rooms.user_on(&c("b")), None);
    // Its disconnect, when it comes, is ignored.
    assert!(trace(&w.ok("b", lost(0))).is_empty());
    assert!(!w.rooms.is_away(&u("b")));
}

#[test]
fn a_resume_needs_the_secret_and_the_same_name() {
    let mut w = room();
    w.ok("b", lost(0));
    assert_eq!(
        w.err("x", resume("Bob", "wrong", "s")),
        RoomError::ResumeExpired
    );
    assert_eq!(w.err("x", resume("Bob", "", "s")), RoomError::ResumeExpired);
    assert_eq!(
        w.err("x", resume("Cat", "secret-b", "s")),
        RoomError::ResumeExpired
    );
    // A new secret must be fresh.
    assert_eq!(
        w.err("x", resume("Bob", "secret-b", "secret-c")),
        RoomError::ResumeExpired
    );
    // Look-alike spelling of the same name is the same name.
    w.ok("x", resume("BOB", "secret-b", "s"));
    // A retried resume on the same connection (its answer was lost) answers again and hands
    // out the new secret; under another name it is refused.
    w.ok("x", resume("Bob", "s", "t"));
    assert!(matches!(
        w.err("x", resume("Cat", "t", "u")),
        RoomError::AlreadyAuthenticated(_)
    ));
    w.ok("x", lost(0));
    w.ok("y", resume("Bob", "t", "v"));
}

#[test]
fn a_lost_answer_does_not_cost_the_seat_and_used_secrets_stop_working() {
    let mut w = room();
    w.ok("b", lost(0));
    // Resumed on b2, but the answer with secret-b2 was lost with b2: back with secret-b.
    w.ok("b2", resume("Bob", "secret-b", "secret-b2"));
    w.ok("b2", lost(0));
    w.ok("b3", resume("Bob", "secret-b", "secret-b3"));
    assert_eq!(
        w.err("b4", resume("Bob", "secret-b2", "x")),
        RoomError::ResumeExpired,
        "a secret never used is replaced"
    );
    // Using the newest one retires the one presented before it.
    w.ok("b4", resume("Bob", "secret-b3", "secret-b4"));
    assert_eq!(
        w.err("b5", resume("Bob", "secret-b", "x")),
        RoomError::ResumeExpired
    );
    // Both working secrets find a departed user too.
    w.ok("b4", lost(0));
    w.now += HOLD;
    w.expire();
    w.ok("b5", resume("Bob", "secret-b3", "secret-b5"));
    let room = w.rooms.room(&r("r1")).unwrap();
    assert!(room.is_speaker(&u("b")), "seat given back");
    assert_eq!(
        w.err("b6", resume("Bob", "secret-b4", "x")),
        RoomError::ResumeExpired,
        "one resume per departure"
    );
}

#[test]
fn a_user_who_cannot_resume_leaves_at_once() {
    let mut w = World::new();
    w.sign_in_app("a", "Ann");
    w.sign_in("d", "Dan");
    w.create("a", "r1");
    w.join("d", "r1");
    let out = w.ok("d", lost(0));
    assert!(trace(&out).contains(&r#"spaces user-left ["r1","d"]"#.to_owned()));
    w.sign_in("d2", "Dan");
}

#[test]
fn a_retried_sign_in_hands_out_a_secret_that_works() {
    let mut w = room();
    let retry = Command::Authenticate {
        username: "Bob".into(),
        client: ClientInfo::new("secret-b-retry"),
    };
    assert!(trace(&w.ok("b", retry)).is_empty());
    w.ok("b", lost(0));
    w.ok("b2", resume("Bob", "secret-b-retry", "s"));
}

#[test]
fn after_the_hold_a_resume_gives_back_the_seats_the_room_still_has() {
    let mut w = room();
    w.ok("b", lost(0));
    w.ok("c", lost(0));
    w.now += HOLD;
    w.expire();
    assert!(!w.rooms.room(&r("r1")).unwrap().is_member(&u("b")));
    w.now += 10_000;
    let out = w.ok("b2", resume("Bob", "secret-b", "secret-b2"));
    assert_eq!(
        trace(&out),
        [
            "join b spaces",
            "join b room:r1",
            r#"spaces user-joined ["r1",{"id":"b","username":"Bob"}]"#,
            r#"spaces user-promoted ["r1","b",true]"#,
            r#"room:r1 user-muted ["r1","b",true]"#
        ]
    );
    let room = w.rooms.room(&r("r1")).unwrap();
    assert!(room.is_speaker(&u("b")) && room.participant(&u("b")).unwrap().muted);
    let out = w.ok("c2", resume("Cat", "secret-c", "secret-c2"));
    assert!(trace(&out).contains(&r#"room:r1 user-raised-hand ["r1","c",true]"#.to_owned()));
}

#[test]
fn a_host_whose_room_moved_on_comes_back_as_a_speaker() {
    let mut w = room();
    w.ok("a", lost(0));
    w.now += HOLD;
    w.expire();
    w.now += 1_000;
    let out = w.ok("a2", resume("Ann", "secret-a", "secret-a2"));
    let Ack::Resumed { seats, .. } = &out.ack else {
        panic!()
    };
    assert_eq!(seats[0].owner_id(), &u("b"));
    assert!(seats[0].is_speaker(&u("a")));
}

#[test]
fn no_seat_comes_back_from_a_closed_room_or_one_that_removed_you() {
    let mut w = World::new();
    w.sign_in_app("a", "Ann");
    w.sign_in_app("b", "Bob");
    w.sign_in_app("c", "Cat");
    w.create("a", "r1");
    w.join("b", "r1");
    w.create("c", "r2");
    w.join("b", "r2");
    w.ok("a", lost(0));
    w.ok("b", lost(0));
    // While Bob is away, Cat removes him from r2.
    w.ok(
        "c",
        Command::KickUser {
            room_id: r("r2"),
            user_id: u("b"),
            ban: true,
        },
    );
    w.now += HOLD;
    w.expire(); // r1 closes: its owner left with nobody on stage
    assert!(w.rooms.room(&r("r1")).is_none());
    let out = w.ok("b2", resume("Bob", "secret-b", "secret-b2"));
    let Ack::Resumed { seats, .. } = &out.ack else {
        panic!()
    };
    assert!(seats.is_empty());
    assert_eq!(trace(&out), ["join b spaces"]);
}

#[test]
fn the_resume_window_closes() {
    let mut w = World::with_limits(Limits {
        resume_ms: 20_000,
        ..Limits::default()
    });
    w.sign_in_app("b", "Bob");
    w.ok("b", lost(0));
    w.now += 20_000;
    w.expire();
    assert_eq!(
        w.rooms.next_deadline(),
        None,
        "the departed secret is forgotten"
    );
    assert_eq!(
        w.err("b2", resume("Bob", "secret-b", "s")),
        RoomError::ResumeExpired
    );
}

#[test]
fn a_taken_name_blocks_a_late_resume_and_a_sign_out_cannot_be_resumed() {
    let mut w = room();
    w.ok("c", lost(0));
    w.now += HOLD;
    w.expire();
    w.sign_in("x", "Cat");
    assert!(matches!(
        w.err("c2", resume("Cat", "secret-c", "s")),
        RoomError::UsernameTaken(_)
    ));
    w.ok("b", Command::Disconnect);
    assert_eq!(
        w.err("b2", resume("Bob", "secret-b", "s")),
        RoomError::ResumeExpired
    );
}

#[test]
fn rooms_walked_out_of_while_offline_are_left_not_given_back() {
    // Within the hold: Bob is still a speaker in r1 and a listener in r2; his tab shows r2.
    let mut w = room();
    w.create("a", "r2");
    w.join("b", "r2");
    w.ok("b", lost(0));
    let out = w.ok(
        "b2",
        resume_keeping("Bob", "secret-b", "secret-b2", &["r2"]),
    );
    let t = trace(&out);
    assert!(t.contains(&"end-publication r1 b".to_owned()), "{t:?}");
    assert!(
        t.contains(&r#"spaces user-left ["r1","b"]"#.to_owned()),
        "{t:?}"
    );
    assert!(t.contains(&"join b room:r2".to_owned()), "{t:?}");
    assert_eq!(w.rooms.rooms_of(&u("b")), &[r("r2")]);
    // Past the hold: only the kept rooms come back (here none: the tab is in the lobby).
    let mut w = room();
    w.ok("b", lost(0));
    w.now += HOLD;
    w.expire();
    let out = w.ok("b2", resume_keeping("Bob", "secret-b", "secret-b2", &[]));
    assert_eq!(trace(&out), ["join b spaces"]);
    assert!(w.rooms.rooms_of(&u("b")).is_empty());
}
