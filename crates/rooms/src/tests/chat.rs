//! Chat and reactions: everyone present gets messages (except people in a block with the
//! author), later joiners get the kept ones, limits refuse cleanly, moderators delete and
//! mute, reactions are from a fixed set, hands carry reasons.

use super::{r, trace, u, World};
use crate::{
    Command, Relations, RoomError, CHAT_BURST, CHAT_INTERVAL_MS, CHAT_KEPT, MAX_CHAT_CHARS,
    REACTION_BURST,
};

fn say(text: &str) -> Command {
    Command::SendMessage {
        room_id: r("r1"),
        text: text.into(),
        relations: Relations::default(),
    }
}

/// Ann owns r1; Bob and Cat listen (all with accounts).
fn room() -> World {
    World::accounts_room()
}

#[test]
fn a_message_reaches_the_room_as_text() {
    let mut w = room();
    let out = w.ok("b", say("  <script>alert(1)</script> hi 👋🏽\n"));
    let at = w.now;
    assert_eq!(
        trace(&out),
        [format!(
            r#"room:r1 chat-message ["r1",{{"accountId":"acct-b","at":{at},"id":1,"text":"<script>alert(1)</script> hi 👋🏽","userId":"b","username":"Bob"}}]"#
        )],
        "kept as typed (trimmed): the client shows it as text"
    );
}

#[test]
fn bad_messages_are_refused_and_change_nothing() {
    let mut w = room();
    assert_eq!(w.err("b", say("   ")), RoomError::ChatEmpty);
    let long = "é".repeat(MAX_CHAT_CHARS + 1);
    assert_eq!(
        w.err("b", say(&long)),
        RoomError::ChatTooLong {
            max: MAX_CHAT_CHARS
        }
    );
    assert!(w.run("b", say(&"é".repeat(MAX_CHAT_CHARS))).is_ok());
    assert_eq!(w.err("b", say("a\u{0}b")), RoomError::ChatInvalidChar);
    assert_eq!(
        w.err("b", say("evil \u{202E}txt.exe")),
        RoomError::ChatInvalidChar
    );
    assert!(w.run("b", say("line one\nline two")).is_ok());
    w.sign_in("x", "Xavier");
    assert_eq!(w.err("x", say("hello")), RoomError::NotInRoom);
}

#[test]
fn messages_are_limited_to_a_burst_then_one_a_second() {
    let mut w = room();
    for i in 0..CHAT_BURST {
        w.ok("b", say(&format!("m{i}")));
    }
    assert_eq!(w.err("b", say("one too many")), RoomError::TooFast);
    // Others are not held back by Bob.
    w.ok("c", say("me too"));
    w.now += CHAT_INTERVAL_MS;
    w.ok("b", say("after a second"));
    assert_eq!(w.err("b", say("again")), RoomError::TooFast);
}

#[test]
fn people_in_a_block_do_not_see_each_others_messages() {
    let mut w = room();
    // Bob blocked Cat: his message skips her, hers skips him.
    let bob = Relations {
        blocks: ["acct-c".to_owned()].into(),
        ..Relations::default()
    };
    let out = w.ok(
        "b",
        Command::SendMessage {
            room_id: r("r1"),
            text: "hi".into(),
            relations: bob,
        },
    );
    assert!(
        trace(&out)[0].starts_with("room:r1-c chat-message"),
        "{:?}",
        trace(&out)
    );
    let cat = Relations {
        blocked_by: ["acct-b".to_owned()].into(),
        ..Relations::default()
    };
    let out = w.ok(
        "c",
        Command::SendMessage {
            room_id: r("r1"),
            text: "hello".into(),
            relations: cat.clone(),
        },
    );
    assert!(trace(&out)[0].starts_with("room:r1-b chat-message"));
    // A later joiner in a block with Bob gets the history without his message.
    w.sign_in_account("d", "Dan");
    let dan = Relations {
        blocked_by: ["acct-b".to_owned()].into(),
        ..Relations::default()
    };
    let out = w.join_with("d", "r1", None, dan).unwrap();
    let history = trace(&out).pop().unwrap();
    assert!(
        history.starts_with(r#"user:d chat-history ["r1",[{"#),
        "{history}"
    );
    assert!(history.contains("hello") && !history.contains(r#""text":"hi""#));
}

#[test]
fn later_joiners_get_the_latest_messages() {
    let mut w = room();
    for i in 0..(CHAT_KEPT + 3) {
        w.now += CHAT_INTERVAL_MS;
        w.ok(if i % 2 == 0 { "b" } else { "c" }, say(&format!("m{i}")));
    }
    let kept: Vec<u64> = w
        .rooms
        .room(&r("r1"))
        .unwrap()
        .chat()
        .map(|m| m.id)
        .collect();
    assert_eq!(kept.len(), CHAT_KEPT);
    assert_eq!(kept[0], 4, "the oldest went first");
    w.sign_in("g", "Guest");
    let out = w.join("g", "r1");
    assert!(trace(&out)
        .last()
        .unwrap()
        .starts_with("user:g chat-history"));
}

#[test]
fn authors_and_moderators_delete_messages_and_moderators_mute_chat() {
    let mut w = room();
    w.ok("b", say("oops"));
    w.ok("c", say("rude"));
    let delete = |id| Command::DeleteMessage {
        room_id: r("r1"),
        message_id: id,
    };
    assert_eq!(w.err("c", delete(1)), RoomError::NotYourMessage);
    assert_eq!(
        trace(&w.ok("b", delete(1))),
        [r#"room:r1 chat-deleted ["r1",1]"#]
    );
    assert_eq!(w.err("b", delete(1)), RoomError::MessageNotFound);
    w.ok("a", delete(2));
    let mute = |muted| Command::MuteChat {
        room_id: r("r1"),
        user_id: u("c"),
        muted,
    };
    assert_eq!(w.err("b", mute(true)), RoomError::NotOwner);
    assert_eq!(
        trace(&w.ok("a", mute(true))),
        [r#"room:r1 user-chat-muted ["r1","c",true]"#]
    );
    assert_eq!(w.err("c", say("still here")), RoomError::ChatMuted);
    w.ok("a", mute(false));
    w.ok("c", say("sorry"));
    // A co-host deletes others' messages, not the owner's.
    w.promote("a", "r1", "b", true);
    w.ok(
        "b",
        Command::AnswerInvite {
            room_id: r("r1"),
            accept: true,
        },
    );
    w.ok(
        "a",
        Command::SetModerator {
            room_id: r("r1"),
            user_id: u("b"),
            moderator: true,
        },
    );
    w.ok("a", say("from the host"));
    assert_eq!(w.err("b", delete(4)), RoomError::TargetIsOwner);
}

#[test]
fn reactions_come_from_the_set_are_paced_and_target_speakers() {
    let mut w = room();
    let react = |emoji: &str, target: Option<&str>| Command::React {
        room_id: r("r1"),
        emoji: emoji.into(),
        target: target.map(u),
    };
    assert_eq!(
        trace(&w.ok("b", react("👏", Some("a")))),
        [r#"room:r1 reaction ["r1","b","👏","a"]"#]
    );
    assert_eq!(w.err("b", react("<img>", None)), RoomError::UnknownReaction);
    assert_eq!(
        w.err("b", react("👏", Some("c"))),
        RoomError::TargetNotSpeaker
    );
    for _ in 1..REACTION_BURST {
        w.ok("b", react("🔥", None));
    }
    assert_eq!(w.err("b", react("🔥", None)), RoomError::TooFast);
}

#[test]
fn a_raised_hand_can_say_why() {
    let mut w = room();
    let hand = |raised, reason: Option<&str>| Command::RaiseHand {
        room_id: r("r1"),
        raised,
        reason: reason.map(str::to_owned),
    };
    let out = w.ok("b", hand(true, Some(" A question about pricing ")));
    assert_eq!(
        trace(&out),
        [r#"room:r1 user-raised-hand ["r1","b",true,"A question about pricing"]"#]
    );
    let room = w.rooms.room(&r("r1")).unwrap();
    let json = serde_json::to_value(room.participant(&u("b")).unwrap()).unwrap();
    assert_eq!(json["handReason"], "A question about pricing");
    assert_eq!(
        w.err("b", hand(true, Some(&"x".repeat(101)))),
        RoomError::ChatTooLong { max: 100 }
    );
    // Lowering clears it; so does going on stage.
    w.ok("b", hand(false, Some("ignored")));
    assert!(w
        .rooms
        .room(&r("r1"))
        .unwrap()
        .participant(&u("b"))
        .unwrap()
        .hand_reason
        .is_none());
    w.ok("b", hand(true, Some("again")));
    w.promote("a", "r1", "b", true);
    assert!(w
        .rooms
        .room(&r("r1"))
        .unwrap()
        .participant(&u("b"))
        .unwrap()
        .hand_reason
        .is_none());
}
