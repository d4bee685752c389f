//! Look-alike usernames (fault F15): uniqueness is by confusable skeleton, not by spelling.

use super::{c, u, World};
use crate::ClientInfo;
use crate::{Ack, Command, RoomError};

fn auth(name: &str) -> Command {
    Command::Authenticate {
        username: name.into(),
        client: ClientInfo::default(),
    }
}

/// `admin` and names that render like it: case, Cyrillic `а`/`А` (U+0430, U+0410), fullwidth,
/// a capital `I` for `i`, mathematical bold `𝐚`, a fullwidth capital `Ａ`.
const ADMIN_LOOK_ALIKES: [&str; 8] = [
    "Admin",
    "ADMIN",
    "\u{430}dmin",
    "\u{410}DMIN",
    "ａｄｍｉｎ",
    "admIn",
    "\u{1D41A}dmin",
    " \u{FF21}dmin ",
];

#[test]
fn look_alikes_of_a_signed_in_name_are_taken() {
    let mut w = World::new();
    w.sign_in("a", "admin");
    for (i, name) in ADMIN_LOOK_ALIKES.into_iter().enumerate() {
        let conn = format!("x{i}");
        // `World::err` also checks that the refusal changed nothing.
        let err = w.err(&conn, auth(name));
        assert!(
            matches!(err, RoomError::UsernameTaken(_)),
            "{name:?}: {err:?}"
        );
        assert!(w.rooms.user(&u(&conn)).is_none());
    }
    assert_eq!(w.rooms.user_count(), 1);
    assert_eq!(w.rooms.user(&u("a")).unwrap().username, "admin");
}

#[test]
fn the_first_look_alike_in_wins_whichever_it_is() {
    // Every member of the family blocks every other, so no order of sign-ins lets two in.
    for first in ADMIN_LOOK_ALIKES {
        let mut w = World::new();
        w.sign_in("first", first);
        for (i, other) in ["admin"].into_iter().chain(ADMIN_LOOK_ALIKES).enumerate() {
            let err = w.err(&format!("x{i}"), auth(other));
            assert!(
                matches!(err, RoomError::UsernameTaken(_)),
                "{first:?} then {other:?}"
            );
        }
    }
}

#[test]
fn confusable_letters_and_digits_are_taken() {
    let mut w = World::new();
    w.sign_in("a", "paypal");
    w.sign_in("b", "Bill");
    w.sign_in("c", "l");
    w.sign_in("d", "Bob");
    for name in [
        "p\u{430}yp\u{430}l",
        "PAYPAL",
        "BiII",
        "bill",
        "1",
        "I",
        "B0B",
    ] {
        let err = w.err("x", auth(name));
        assert!(
            matches!(err, RoomError::UsernameTaken(_)),
            "{name:?}: {err:?}"
        );
    }
    assert_eq!(w.rooms.user_count(), 4);
}

#[test]
fn distinct_names_stay_distinct() {
    let mut w = World::new();
    let names = [
        "Ann", "Anna", "Ann Lee", "AnnLee", "José", "Jose", "ivan", "lvan", "张伟", "admin",
        "admin2",
    ];
    for (i, name) in names.into_iter().enumerate() {
        w.sign_in(&format!("c{i}"), name);
    }
    assert_eq!(w.rooms.user_count(), names.len());
    // `Ivan` looks like `lvan` as typed and is `ivan` up to case: both block it.
    let err = w.err("x", auth("Ivan"));
    assert_eq!(err, RoomError::UsernameTaken("Ivan".into()));
}

#[test]
fn the_displayed_name_is_nfkc_and_keeps_case_and_script() {
    let mut w = World::new();
    w.sign_in("a", "ａｄｍｉｎ");
    w.sign_in("b", "\u{430}lice"); // Cyrillic а, no Latin `alice` online
    w.sign_in("c", "ANN");
    assert_eq!(w.rooms.user(&u("a")).unwrap().username, "admin");
    assert_eq!(w.rooms.user(&u("b")).unwrap().username, "\u{430}lice");
    assert_eq!(w.rooms.user(&u("c")).unwrap().username, "ANN");
    // The refusal names what the user would have been shown as.
    assert_eq!(
        w.err("x", auth("ＡＮＮ")),
        RoomError::UsernameTaken("ANN".into())
    );
}

#[test]
fn refused_look_alike_leaves_everything_as_it_was() {
    let mut w = World::room_with_two_listeners();
    w.sign_in("d", "admin");
    let before = w.rooms.clone();
    let err = w
        .rooms
        .apply(w.now, &c("x"), auth("\u{430}dmin"))
        .unwrap_err();
    assert_eq!(err, RoomError::UsernameTaken("\u{430}dmin".into()));
    assert_eq!(before, w.rooms, "a refused authenticate changed the state");
    // The owner of the name is untouched and the look-alike's connection may still pick
    // another name.
    assert_eq!(w.rooms.user(&u("d")).unwrap().username, "admin");
    w.sign_in("x", "Xavier");
}

#[test]
fn a_name_freed_on_disconnect_can_be_taken_by_its_look_alike() {
    let mut w = World::new();
    w.sign_in("a", "admin");
    w.err("b", auth("\u{430}dmin"));
    w.ok("a", Command::Disconnect);
    w.sign_in("b", "\u{430}dmin");
    assert_eq!(w.rooms.user(&u("b")).unwrap().username, "\u{430}dmin");
    // And now the original spelling is the look-alike.
    assert!(matches!(
        w.err("a2", auth("admin")),
        RoomError::UsernameTaken(_)
    ));
    // Both indexes were freed: a shape-only look-alike (capital I) can come back too.
    let mut w = World::new();
    w.sign_in("a", "Bill");
    w.ok("a", Command::Disconnect);
    w.sign_in("b", "BiII");
}

#[test]
fn authenticate_again_with_a_look_alike_of_ones_own_name_is_a_retry() {
    let mut w = World::new();
    w.sign_in("a", "Bill");
    for name in ["bill", "BiII", "ＢＩＬＬ"] {
        let out = w.ok("a", auth(name));
        assert!(out.effects.is_empty(), "{name:?}");
        assert!(matches!(out.ack, Ack::Authenticated { ref user, .. } if user.username == "Bill"));
    }
    assert_eq!(
        w.err("a", auth("Bob")),
        RoomError::AlreadyAuthenticated("Bill".into())
    );
}
