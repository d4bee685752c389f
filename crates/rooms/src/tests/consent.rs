//! Consent and control: invitations the listener answers, stepping down, a missing
//! microphone, denied hands and kicks that last.

use super::{r, trace, u, World};
use crate::{Command, RoomError};

/// Ann owns r1; Bob (Podium app) and Dan (the demo's app) listen.
fn room() -> World {
    let mut w = World::new();
    w.sign_in_app("a", "Ann");
    w.sign_in_app("b", "Bob");
    w.sign_in("d", "Dan");
    w.create("a", "r1");
    w.join("b", "r1");
    w.join("d", "r1");
    w
}

fn answer(accept: bool) -> Command {
    Command::AnswerInvite {
        room_id: r("r1"),
        accept,
    }
}

#[test]
fn an_invitation_asks_and_accepting_puts_them_on_stage() {
    let mut w = room();
    let out = w.promote("a", "r1", "b", true);
    assert_eq!(
        trace(&out),
        [
            r#"user:b invited ["r1"]"#,
            r#"room:r1 user-invited ["r1","b",true]"#
        ],
        "no publish grant before they accept"
    );
    assert!(!w.rooms.room(&r("r1")).unwrap().is_speaker(&u("b")));
    assert!(
        trace(&w.promote("a", "r1", "b", true)).is_empty(),
        "asking twice changes nothing"
    );
    let out = w.ok("b", answer(true));
    assert_eq!(
        trace(&out),
        [
            "promoted b r1",
            r#"spaces user-promoted ["r1","b",true]"#,
            r#"room:r1 user-invited ["r1","b",false]"#
        ],
        "on stage before the invitation is over, so nobody reads its end as a no"
    );
    assert!(w.rooms.room(&r("r1")).unwrap().is_speaker(&u("b")));
}

#[test]
fn declining_leaves_them_a_listener() {
    let mut w = room();
    w.promote("a", "r1", "b", true);
    let out = w.ok("b", answer(false));
    assert_eq!(trace(&out), [r#"room:r1 user-invited ["r1","b",false]"#]);
    let room = w.rooms.room(&r("r1")).unwrap();
    assert!(!room.is_speaker(&u("b")) && !room.participant(&u("b")).unwrap().invited);
    assert_eq!(w.err("b", answer(true)), RoomError::NotInvited);
}

#[test]
fn the_owner_can_withdraw_an_invitation() {
    let mut w = room();
    w.promote("a", "r1", "b", true);
    let out = w.promote("a", "r1", "b", false);
    assert_eq!(trace(&out), [r#"room:r1 user-invited ["r1","b",false]"#]);
    assert_eq!(w.err("b", answer(true)), RoomError::NotInvited);
}

#[test]
fn a_raised_hand_is_consent_and_the_demo_app_is_promoted_at_once() {
    let mut w = room();
    w.raise_hand("b", "r1");
    let out = w.promote("a", "r1", "b", true);
    assert!(trace(&out).contains(&"promoted b r1".to_owned()));
    let out = w.promote("a", "r1", "d", true);
    assert!(
        trace(&out).contains(&"promoted d r1".to_owned()),
        "the demo's app cannot answer"
    );
}

#[test]
fn raising_a_hand_while_invited_then_being_allowed_accepts() {
    let mut w = room();
    w.promote("a", "r1", "b", true);
    w.raise_hand("b", "r1");
    let out = w.promote("a", "r1", "b", true);
    assert_eq!(
        trace(&out).last().map(String::as_str),
        Some(r#"room:r1 user-invited ["r1","b",false]"#)
    );
    assert!(w.rooms.room(&r("r1")).unwrap().is_speaker(&u("b")));
}

#[test]
fn a_speaker_can_step_down_but_the_owner_cannot() {
    let mut w = room();
    w.promote("a", "r1", "d", true);
    let out = w.ok("d", Command::LeaveStage { room_id: r("r1") });
    assert_eq!(
        trace(&out),
        [
            "end-publication r1 d",
            r#"spaces user-promoted ["r1","d",false]"#
        ]
    );
    assert!(trace(&w.ok("d", Command::LeaveStage { room_id: r("r1") })).is_empty());
    assert_eq!(
        w.err("a", Command::LeaveStage { room_id: r("r1") }),
        RoomError::CannotDemoteSelf
    );
}

#[test]
fn a_missing_microphone_is_shown_to_the_room() {
    let mut w = room();
    let mic = |available| Command::MicState {
        room_id: r("r1"),
        available,
    };
    assert_eq!(w.err("b", mic(false)), RoomError::NotSpeaker);
    let out = w.ok("a", mic(false));
    assert_eq!(trace(&out), [r#"room:r1 user-mic ["r1","a",false]"#]);
    assert!(
        w.rooms
            .room(&r("r1"))
            .unwrap()
            .participant(&u("a"))
            .unwrap()
            .mic_unavailable
    );
    assert!(trace(&w.ok("a", mic(false))).is_empty());
    let out = w.ok("a", mic(true));
    assert_eq!(trace(&out), [r#"room:r1 user-mic ["r1","a",true]"#]);
}

#[test]
fn a_kicked_user_cannot_come_back_under_any_look_alike_name() {
    let mut w = room();
    w.ok(
        "a",
        Command::KickUser {
            room_id: r("r1"),
            user_id: u("b"),
            ban: true,
        },
    );
    assert_eq!(
        w.err(
            "b",
            Command::JoinRoom {
                room_id: r("r1"),
                invite: None,
                relations: Default::default()
            }
        ),
        RoomError::Banned
    );
    w.ok("b", Command::Disconnect);
    w.sign_in("b2", "B0B");
    assert_eq!(
        w.err(
            "b2",
            Command::JoinRoom {
                room_id: r("r1"),
                invite: None,
                relations: Default::default()
            }
        ),
        RoomError::Banned
    );
    // Other rooms are open to them.
    w.create("b2", "r2");
}
