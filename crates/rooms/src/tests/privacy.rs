//! Privacy: followers-only and invite-only rooms are neither listed nor announced to
//! others and admit only their people; a host's block keeps the blocked out.

use super::{r, trace, World};
use crate::{Command, Privacy, Relations, RoomError, Viewer};

const SECRET: &str = "0123456789abcdef0123";

fn open(w: &mut World, who: &str, privacy: Privacy) -> Result<crate::Outcome, RoomError> {
    w.run(
        who,
        Command::CreateRoom {
            room_id: r("r1"),
            name: "Private talk".into(),
            audio_only: true,
            privacy,
        },
    )
}

fn follower_of(account: &str) -> Relations {
    Relations {
        follows: [account.to_owned()].into(),
        ..Relations::default()
    }
}

fn world() -> World {
    let mut w = World::new();
    w.sign_in_account("a", "Ann");
    w.sign_in_account("b", "Bob");
    w.sign_in("g", "Guest");
    w
}

#[test]
fn an_invite_only_room_is_announced_to_nobody_and_needs_its_secret() {
    let mut w = world();
    let secret = Privacy::Invite {
        secret: SECRET.into(),
    };
    let out = open(&mut w, "a", secret).unwrap();
    assert!(
        trace(&out).iter().all(|t| !t.starts_with("spaces")),
        "not announced: {:?}",
        trace(&out)
    );
    assert!(w.rooms.live_rooms().is_empty(), "not listed");
    let anyone = Viewer::default();
    assert!(w.rooms.live_for(w.now, &anyone, None, 10).is_empty());
    assert_eq!(
        w.join_with("b", "r1", None, Default::default())
            .unwrap_err(),
        RoomError::InviteRequired
    );
    assert_eq!(
        w.join_with("b", "r1", Some("0123456789abcdef0124"), Default::default())
            .unwrap_err(),
        RoomError::InviteRequired
    );
    let out = w
        .join_with("g", "r1", Some(SECRET), Default::default())
        .unwrap();
    assert_eq!(
        trace(&out),
        [
            "join g room:r1",
            r#"room:r1 user-joined ["r1",{"id":"g","username":"Guest"}]"#
        ],
        "members hear of it, nobody else"
    );
    // Members see the link to share; the room leaves without a trace outside.
    let json = serde_json::to_value(w.rooms.room(&r("r1")).unwrap()).unwrap();
    assert_eq!(
        (json["privacy"].as_str(), json["inviteSecret"].as_str()),
        (Some("invite"), Some(SECRET))
    );
    w.ok("g", Command::LeaveRoom { room_id: r("r1") });
    let out = w.ok("a", Command::LeaveRoom { room_id: r("r1") });
    assert!(trace(&out).iter().all(|t| !t.starts_with("spaces")));
}

#[test]
fn a_followers_only_room_admits_and_lists_to_followers_of_its_host() {
    let mut w = world();
    assert_eq!(
        open(&mut w, "g", Privacy::Followers).unwrap_err(),
        RoomError::FollowersNeedAccount
    );
    open(&mut w, "a", Privacy::Followers).unwrap();
    assert_eq!(
        w.join_with("b", "r1", None, Default::default())
            .unwrap_err(),
        RoomError::FollowersOnly
    );
    assert_eq!(
        w.join_with("g", "r1", None, follower_of("acct-a"))
            .unwrap_err(),
        RoomError::FollowersOnly,
        "a guest has no account to follow with (what the shell passes for one is ignored)"
    );
    let follower = Viewer {
        follows: ["acct-a".to_owned()].into(),
        ..Viewer::default()
    };
    let stranger = Viewer::default();
    let host = Viewer {
        account: Some("acct-a".into()),
        ..Viewer::default()
    };
    assert_eq!(w.rooms.live_for(w.now, &follower, None, 10).len(), 1);
    assert_eq!(w.rooms.live_for(w.now, &host, None, 10).len(), 1);
    assert!(w.rooms.live_for(w.now, &stranger, None, 10).is_empty());
    let card = &w.rooms.live_for(w.now, &follower, None, 10)[0];
    assert_eq!(card.card.privacy, "followers");
    w.join_with("b", "r1", None, follower_of("acct-a")).unwrap();
}

#[test]
fn a_host_who_blocked_someone_keeps_them_out_of_their_rooms() {
    let mut w = world();
    open(&mut w, "a", Privacy::Public).unwrap();
    let blocked = Relations {
        blocked_by: ["acct-a".to_owned()].into(),
        ..Relations::default()
    };
    assert_eq!(
        w.join_with("b", "r1", None, blocked).unwrap_err(),
        RoomError::BlockedByHost
    );
    // Blocking the host oneself does not keep one out (only the host decides who is in).
    let blocking = Relations {
        blocks: ["acct-a".to_owned()].into(),
        ..Relations::default()
    };
    w.join_with("b", "r1", None, blocking).unwrap();
}

#[test]
fn the_shell_must_mint_a_real_secret() {
    let mut w = world();
    let short = Privacy::Invite {
        secret: "short".into(),
    };
    assert_eq!(
        open(&mut w, "a", short).unwrap_err(),
        RoomError::RoomIdUnavailable
    );
}

fn resume_as(name: &str, secret: &str, account: Option<&str>, relations: Relations) -> Command {
    let mut client = crate::ClientInfo::new(format!("{secret}-next"));
    client.account = account.map(str::to_owned);
    Command::Resume {
        username: name.into(),
        secret: secret.into(),
        client,
        keep: None,
        relations,
    }
}

#[test]
fn a_resume_must_be_the_same_account() {
    let mut w = world();
    open(&mut w, "a", Privacy::Public).unwrap();
    w.join_with("b", "r1", None, Default::default()).unwrap();
    w.ok("b", Command::ConnectionLost { silent_ms: 0 });
    // Bob's secret, presented without his account (no cookie) or with another one: refused.
    for account in [None, Some("acct-x")] {
        assert_eq!(
            w.err(
                "b2",
                resume_as("Bob", "secret-b", account, Relations::default())
            ),
            RoomError::ResumeExpired
        );
    }
    w.ok(
        "b2",
        resume_as("Bob", "secret-b", Some("acct-b"), Relations::default()),
    );
}

#[test]
fn a_seat_is_not_given_back_in_a_room_whose_host_blocked_them_meanwhile() {
    let mut w = world();
    open(&mut w, "a", Privacy::Public).unwrap();
    w.join_with("b", "r1", None, Default::default()).unwrap();
    w.ok("b", Command::ConnectionLost { silent_ms: 60_000 });
    w.now += 20_000;
    w.expire();
    let blocked = Relations {
        blocked_by: ["acct-a".to_owned()].into(),
        ..Relations::default()
    };
    w.ok("b2", resume_as("Bob", "secret-b", Some("acct-b"), blocked));
    assert!(!w
        .rooms
        .room(&r("r1"))
        .unwrap()
        .is_member(&crate::UserId::new("b")));
}

fn blocking(accounts: &[&str]) -> Command {
    Command::ApplyBlocks {
        relations: Relations {
            blocks: accounts.iter().map(|a| (*a).to_owned()).collect(),
            ..Relations::default()
        },
    }
}

#[test]
fn a_block_removes_the_blocked_from_the_rooms_the_blocker_owns() {
    // Ann owns r1 with Bob and Cat listening; Bob owns r2, where Ann listens.
    let mut w = World::accounts_room();
    w.create("b", "r2");
    w.join("a", "r2");
    // Someone who owns nothing, or blocks nobody present, changes nothing.
    assert!(trace(&w.ok("c", blocking(&["acct-a"]))).is_empty());
    assert!(trace(&w.ok("a", blocking(&["acct-x"]))).is_empty());
    let out = w.ok("a", blocking(&["acct-b", "acct-x"]));
    assert_eq!(
        trace(&out),
        [
            r#"user:b kicked ["r1"]"#,
            "end-view r1 b",
            "leave b room:r1",
            r#"spaces user-left ["r1","b"]"#
        ]
    );
    let r1 = w.rooms.room(&r("r1")).unwrap();
    assert!(!r1.is_member(&super::u("b")));
    assert!(r1.is_member(&super::u("c")), "the others stay");
    // Bob's own room is his: Ann's block does not take him out of it.
    assert!(w.rooms.room(&r("r2")).unwrap().is_member(&super::u("b")));
    // And he cannot come back while the block stands.
    let blocked_by_ann = Relations {
        blocked_by: ["acct-a".to_owned()].into(),
        ..Relations::default()
    };
    assert_eq!(
        w.join_with("b", "r1", None, blocked_by_ann).unwrap_err(),
        RoomError::BlockedByHost
    );
    // Signed out: refused.
    assert_eq!(
        w.err("z", blocking(&["acct-b"])),
        RoomError::NotAuthenticated
    );
}

#[test]
fn a_block_reaches_a_room_the_blocker_opened_and_handed_over_but_not_its_owner() {
    // Ann opened r1 and left it to Cat (on stage); Bob listens.
    let mut w = World::accounts_room();
    w.raise_hand("c", "r1");
    w.promote("a", "r1", "c", true);
    w.ok("a", Command::LeaveRoom { room_id: r("r1") });
    assert_eq!(w.rooms.room(&r("r1")).unwrap().owner_id(), &super::u("c"));
    let out = w.ok("a", blocking(&["acct-b", "acct-c"]));
    assert_eq!(trace(&out)[0], r#"user:b kicked ["r1"]"#);
    let r1 = w.rooms.room(&r("r1")).unwrap();
    assert!(!r1.is_member(&super::u("b")));
    assert_eq!(r1.owner_id(), &super::u("c"), "the owner stays");
}
