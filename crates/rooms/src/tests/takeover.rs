//! One account, two tabs: the second is asked, then takes the user over, seats and all; a
//! tab closed a moment ago hands its seats to the next one without asking. Nobody else sees
//! anything, and no other account, nor a guest, can take a user over.

use super::{c, r, trace, u, World};
use crate::{Ack, ClientInfo, Command, RoomError};

fn client(secret: &str, account: Option<&str>) -> ClientInfo {
    let mut client = ClientInfo::new(secret);
    client.account = account.map(str::to_owned);
    client
}

fn sign_in(name: &str, secret: &str, account: Option<&str>) -> Command {
    Command::Authenticate {
        username: name.into(),
        client: client(secret, account),
    }
}

fn take_over(name: &str, secret: &str, account: Option<&str>) -> Command {
    Command::TakeOver {
        username: name.into(),
        client: client(secret, account),
    }
}

fn seats(ack: &Ack) -> Vec<String> {
    match ack {
        Ack::Resumed { seats, .. } => seats.iter().map(|s| s.id().to_string()).collect(),
        other => panic!("expected a resume's ack, got {other:?}"),
    }
}

#[test]
fn a_second_tab_is_asked_then_takes_the_user_over_with_the_seats() {
    // Ann (a, account acct-a) owns r1; Bob and Cat listen.
    let mut w = World::accounts_room();
    assert_eq!(
        w.err("a2", sign_in("Ann", "s-a2", Some("acct-a"))),
        RoomError::OpenElsewhere
    );
    let out = w.ok("a2", take_over("ann", "s-a2", Some("acct-a")));
    assert_eq!(seats(&out.ack), ["r1"]);
    assert_eq!(
        trace(&out),
        ["close a", "join a spaces", "join a room:r1"],
        "only the old connection hears of it"
    );
    assert_eq!(w.rooms.conn_of(&u("a")), Some(&c("a2")));
    let room = w.rooms.room(&r("r1")).unwrap();
    assert_eq!(room.owner_id(), &u("a"));
    assert_eq!(room.participants().len(), 3);
    // The closed connection's end changes nothing, and its secret no longer resumes.
    assert!(trace(&w.ok("a", Command::ConnectionLost { silent_ms: 0 })).is_empty());
    assert!(!w.rooms.is_away(&u("a")));
    let resume = Command::Resume {
        username: "Ann".into(),
        secret: "secret-a".into(),
        client: client("s-a3", Some("acct-a")),
        keep: None,
        relations: Default::default(),
    };
    assert_eq!(w.err("a3", resume), RoomError::ResumeExpired);
    // A retry on the connection that took over is answered again, seats and all.
    let again = w.ok("a2", take_over("Ann", "s-a2-again", Some("acct-a")));
    assert_eq!(seats(&again.ack), ["r1"]);
    assert!(trace(&again).is_empty());
    assert_eq!(w.rooms.conn_of(&u("a")), Some(&c("a2")));
}

#[test]
fn no_other_account_nor_a_guest_takes_a_user_over() {
    let mut w = World::accounts_room();
    for account in [Some("acct-b"), Some("acct-x"), None] {
        assert!(matches!(
            w.err("x", take_over("Ann", "s-x", account)),
            RoomError::UsernameTaken(_)
        ));
        assert!(matches!(
            w.err("x", sign_in("Ann", "s-x", account)),
            RoomError::UsernameTaken(_)
        ));
    }
    // A name that only looks like the account's is not the account's either.
    assert!(matches!(
        w.err("x", take_over("Αnn", "s-x", Some("acct-x"))),
        RoomError::UsernameTaken(_)
    ));
    // A name nobody holds: a plain sign-in.
    let out = w.ok("z", take_over("Zed", "s-z", Some("acct-z")));
    assert!(matches!(out.ack, Ack::Authenticated { .. }));
}

#[test]
fn a_tab_closed_a_moment_ago_hands_its_seats_to_the_next_without_asking() {
    let mut w = World::accounts_room();
    w.ok("b", Command::ConnectionLost { silent_ms: 0 });
    assert!(w.rooms.is_away(&u("b")));
    let out = w.ok("b2", sign_in("Bob", "s-b2", Some("acct-b")));
    assert_eq!(seats(&out.ack), ["r1"]);
    assert_eq!(trace(&out), ["join b spaces", "join b room:r1"]);
    assert!(!w.rooms.is_away(&u("b")));
    assert_eq!(w.rooms.conn_of(&u("b")), Some(&c("b2")));
}
