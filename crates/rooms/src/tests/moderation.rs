//! Co-hosts and bans: moderators do what the owner does except act on the owner; a ban
//! keeps an account out under any name; a kick without a ban lets them back.

use super::{r, trace, u, World};
use crate::{Command, RoomError};

/// Ann (owner) with Bob on stage and Cat and Dan listening, all with accounts.
fn room() -> World {
    let mut w = World::new();
    for (who, name) in [("a", "Ann"), ("b", "Bob"), ("c", "Cat"), ("d", "Dan")] {
        w.sign_in_account(who, name);
    }
    w.create("a", "r1");
    for who in ["b", "c", "d"] {
        w.join(who, "r1");
    }
    w.raise_hand("b", "r1");
    w.promote("a", "r1", "b", true);
    w
}

fn moderator(target: &str, on: bool) -> Command {
    Command::SetModerator {
        room_id: r("r1"),
        user_id: u(target),
        moderator: on,
    }
}

fn kick(target: &str, ban: bool) -> Command {
    Command::KickUser {
        room_id: r("r1"),
        user_id: u(target),
        ban,
    }
}

#[test]
fn the_owner_makes_a_speaker_a_moderator_who_can_then_promote_and_kick() {
    let mut w = room();
    assert_eq!(w.err("b", moderator("c", false)), RoomError::NotOwner);
    assert_eq!(
        w.err("a", moderator("c", true)),
        RoomError::TargetNotSpeaker
    );
    let out = w.ok("a", moderator("b", true));
    assert_eq!(trace(&out), [r#"room:r1 user-moderator ["r1","b",true]"#]);
    assert!(
        trace(&w.ok("a", moderator("b", true))).is_empty(),
        "no change"
    );
    let room = w.rooms.room(&r("r1")).unwrap();
    assert!(room.is_moderator(&u("b")) && room.participant(&u("b")).unwrap().moderator);
    // Bob invites Cat (who must accept, as with the owner) and removes Dan.
    let out = w.promote("b", "r1", "c", true);
    assert_eq!(trace(&out)[0], r#"user:c invited ["r1"]"#);
    w.ok(
        "c",
        Command::AnswerInvite {
            room_id: r("r1"),
            accept: true,
        },
    );
    assert!(w.rooms.room(&r("r1")).unwrap().is_speaker(&u("c")));
    w.ok("b", kick("d", true));
    assert!(!w.rooms.room(&r("r1")).unwrap().is_member(&u("d")));
    // And makes Cat a moderator too, and mutes her.
    w.ok("b", moderator("c", true));
    w.ok(
        "b",
        Command::MuteSpeaker {
            room_id: r("r1"),
            user_id: u("c"),
        },
    );
}

#[test]
fn moderators_cannot_act_on_the_owner() {
    let mut w = room();
    w.ok("a", moderator("b", true));
    let mute_owner = Command::MuteSpeaker {
        room_id: r("r1"),
        user_id: u("a"),
    };
    for command in [
        kick("a", true),
        mute_owner,
        moderator("a", false),
        Command::PromoteUser {
            room_id: r("r1"),
            user_id: u("a"),
            promote: false,
        },
        Command::MuteChat {
            room_id: r("r1"),
            user_id: u("a"),
            muted: true,
        },
    ] {
        assert_eq!(w.err("b", command), RoomError::TargetIsOwner);
    }
    // The owner's role is theirs: naming them is a no-op, removing it is refused.
    assert!(trace(&w.ok("a", moderator("a", true))).is_empty());
    assert_eq!(w.err("a", moderator("a", false)), RoomError::TargetIsOwner);
}

#[test]
fn leaving_the_stage_ends_the_moderator_role() {
    let mut w = room();
    w.ok("a", moderator("b", true));
    w.ok("b", Command::LeaveStage { room_id: r("r1") });
    let room = w.rooms.room(&r("r1")).unwrap();
    assert!(!room.is_moderator(&u("b")));
    assert_eq!(w.err("b", kick("c", true)), RoomError::NotOwner);
}

#[test]
fn a_moderator_takes_over_before_longer_standing_speakers() {
    let mut w = room();
    w.raise_hand("c", "r1");
    w.promote("a", "r1", "c", true);
    w.ok("a", moderator("c", true));
    w.ok("a", Command::LeaveRoom { room_id: r("r1") });
    assert_eq!(w.rooms.room(&r("r1")).unwrap().owner_id(), &u("c"));
}

#[test]
fn a_ban_keeps_the_account_out_under_any_name() {
    let mut w = room();
    let out = w.ok("a", kick("c", true));
    assert!(trace(&out).contains(&r#"user:c kicked ["r1"]"#.to_owned()));
    w.ok("c", Command::Disconnect);
    // The same account under a new name, on a new connection.
    let mut client = crate::ClientInfo::new("secret-c2");
    client.account = Some("acct-c".into());
    w.ok(
        "c2",
        Command::Authenticate {
            username: "Catherine".into(),
            client,
        },
    );
    assert_eq!(
        w.join_with("c2", "r1", None, Default::default())
            .unwrap_err(),
        RoomError::Banned
    );
}

#[test]
fn a_kick_without_a_ban_lets_them_back() {
    let mut w = room();
    w.ok("a", kick("c", false));
    assert!(!w.rooms.room(&r("r1")).unwrap().is_member(&u("c")));
    w.join("c", "r1");
    assert!(w.rooms.room(&r("r1")).unwrap().is_member(&u("c")));
}
