//! Every command and every refusal.

use super::{r, trace, u, World};
use crate::ClientInfo;
use crate::{
    Ack, Command, JoinTokens, PublishTokenRequest, RoomError, RoomId, ViewTokenRequest,
    MAX_USERNAME_CHARS,
};
use serde_json::json;

fn room_json(w: &World, id: &str) -> serde_json::Value {
    json!(w.rooms.room(&r(id)).expect("room exists"))
}

fn tokens(room: &str, user: &str, publish: bool) -> Ack {
    Ack::Joined(JoinTokens {
        view: ViewTokenRequest {
            stream: r(room),
            viewer: u(user),
        },
        publish: publish.then(|| PublishTokenRequest {
            stream: r(room),
            source_id: u(user),
        }),
    })
}

// ---- authenticate ----------------------------------------------------------------------

#[test]
fn authenticate_acks_the_user_and_the_rooms_and_joins_spaces() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    w.create("a", "r1");
    let out = w.ok(
        "b",
        Command::Authenticate {
            username: "  Bob  ".into(),
            client: ClientInfo::default(),
        },
    );
    assert_eq!(
        out.ack.data(),
        Some(json!({"user": {"id": "b", "username": "Bob"}, "rooms": [room_json(&w, "r1")]}))
    );
    assert_eq!(trace(&out), ["join b spaces"]);
    assert_eq!(w.rooms.user(&u("b")).unwrap().username, "Bob");
}

#[test]
fn authenticate_refusals() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    let auth = |name: &str| Command::Authenticate {
        username: name.into(),
        client: ClientInfo::default(),
    };
    assert_eq!(w.err("b", auth("")), RoomError::UsernameMissing);
    assert_eq!(w.err("b", auth("   ")), RoomError::UsernameMissing);
    assert_eq!(
        w.err("b", auth("b@b")),
        RoomError::UsernameInvalidChar("“@”".into())
    );
    assert_eq!(w.err("b", auth("-_-")), RoomError::UsernameNoAlphanumeric);
    let long = "b".repeat(MAX_USERNAME_CHARS + 1);
    assert_eq!(w.err("b", auth(&long)), RoomError::UsernameTooLong);
    assert_eq!(
        w.err("b", auth("aNN")),
        RoomError::UsernameTaken("aNN".into())
    );
    assert_eq!(
        w.err("b", auth("aNN")).to_string(),
        "The username aNN is already taken (or looks too much like one that is)"
    );
    assert_eq!(
        w.err("a", auth("Other")),
        RoomError::AlreadyAuthenticated("Ann".into())
    );
    assert!(w.rooms.user(&u("b")).is_none());
}

#[test]
fn authenticate_again_under_the_same_name_is_answered_without_effects() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    let out = w.ok(
        "a",
        Command::Authenticate {
            username: "ann".into(),
            client: ClientInfo::default(),
        },
    );
    assert!(matches!(out.ack, Ack::Authenticated { ref user, .. } if user.username == "Ann"));
    assert!(out.effects.is_empty());
}

#[test]
fn every_room_command_requires_authentication() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    w.create("a", "r1");
    let commands = [
        Command::CreateRoom {
            room_id: r("r2"),
            name: "x".into(),
            audio_only: false,
            privacy: Default::default(),
        },
        Command::JoinRoom {
            room_id: r("r1"),
            invite: None,
            relations: Default::default(),
        },
        Command::LeaveRoom { room_id: r("r1") },
        Command::RaiseHand {
            room_id: r("r1"),
            raised: true,
            reason: None,
        },
        Command::PromoteUser {
            room_id: r("r1"),
            user_id: u("a"),
            promote: false,
        },
        Command::KickUser {
            room_id: r("r1"),
            user_id: u("a"),
            ban: true,
        },
        Command::MuteSpeaker {
            room_id: r("r1"),
            user_id: u("a"),
        },
        Command::Mute {
            room_id: r("r1"),
            muted: true,
        },
    ];
    for command in commands {
        assert_eq!(w.err("stranger", command), RoomError::NotAuthenticated);
    }
    assert_eq!(
        RoomError::NotAuthenticated.to_ack(),
        json!({"error": "Not signed in: choose a username first"})
    );
}

// ---- create-room -----------------------------------------------------------------------

#[test]
fn create_room_seats_the_creator_and_announces_the_room() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    let out = w.ok(
        "a",
        Command::CreateRoom {
            room_id: r("r1"),
            name: "  Morning chat ".into(),
            audio_only: false,
            privacy: Default::default(),
        },
    );
    assert_eq!(out.ack.data(), Some(json!("r1")));
    let expected = json!({
        "id": "r1", "name": "Morning chat", "ownerId": "a", "audioOnly": false,
        "participants": [{"id": "a", "username": "Ann", "muted": false, "raisedHand": false,
                          "invited": false, "micUnavailable": false, "moderator": false,
                          "chatMuted": false}],
        "speakers": ["a"],
    });
    assert_eq!(room_json(&w, "r1"), expected);
    assert_eq!(
        trace(&out),
        [
            "join a room:r1".to_owned(),
            format!("spaces room-created [{expected}]")
        ]
    );
    assert_eq!(w.rooms.rooms_of(&u("a")), [r("r1")]);
}

#[test]
fn create_room_refusals() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    w.create("a", "r1");
    let create = |id: &str, name: &str| Command::CreateRoom {
        room_id: r(id),
        name: name.into(),
        audio_only: true,
        privacy: Default::default(),
    };
    assert_eq!(w.err("a", create("r2", " ")), RoomError::RoomNameMissing);
    assert_eq!(
        w.err("a", create("r2", &"n".repeat(81))),
        RoomError::RoomNameTooLong
    );
    assert_eq!(
        w.err("a", create("r2", "bad\u{7}name")),
        RoomError::RoomNameInvalidChar
    );
    assert_eq!(
        w.err("a", create("r1", "dup")),
        RoomError::RoomIdUnavailable
    );
    assert_eq!(
        w.err("a", create("spaces", "x")),
        RoomError::RoomIdUnavailable
    );
    assert_eq!(w.err("a", create("", "x")), RoomError::RoomIdUnavailable);
    // 80 characters is fine.
    w.ok("a", create("r2", &"n".repeat(80)));
}

// ---- join-room -------------------------------------------------------------------------

#[test]
fn join_room_adds_a_listener_and_requests_a_view_token_only() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    w.sign_in("b", "Bob");
    w.create("a", "r1");
    let out = w.join("b", "r1");
    assert_eq!(out.ack, tokens("r1", "b", false));
    assert_eq!(out.ack.data(), None, "the shell mints the join ack");
    assert_eq!(
        trace(&out),
        [
            "join b room:r1",
            r#"spaces user-joined ["r1",{"id":"b","username":"Bob"}]"#
        ]
    );
    let room = w.rooms.room(&r("r1")).unwrap();
    assert!(room.is_member(&u("b")) && !room.is_speaker(&u("b")));
}

#[test]
fn join_room_again_returns_the_grants_of_the_current_role_silently() {
    let mut w = World::room_with_two_listeners();
    let owner = w.join("a", "r1");
    assert_eq!(owner.ack, tokens("r1", "a", true));
    assert!(owner.effects.is_empty());
    let listener = w.join("b", "r1");
    assert_eq!(listener.ack, tokens("r1", "b", false));
    assert!(listener.effects.is_empty());
    w.promote("a", "r1", "b", true);
    assert_eq!(w.join("b", "r1").ack, tokens("r1", "b", true));
    assert_eq!(w.rooms.room(&r("r1")).unwrap().participants().len(), 3);
}

#[test]
fn join_room_refusals() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    assert_eq!(
        w.err(
            "a",
            Command::JoinRoom {
                room_id: r("nope"),
                invite: None,
                relations: Default::default()
            }
        ),
        RoomError::RoomNotFound
    );
}

// ---- leave-room ------------------------------------------------------------------------

#[test]
fn a_listener_leaving_loses_the_view() {
    let mut w = World::room_with_two_listeners();
    let out = w.ok("b", Command::LeaveRoom { room_id: r("r1") });
    assert_eq!(out.ack.data(), Some(json!(null)));
    assert_eq!(
        trace(&out),
        [
            "end-view r1 b",
            "leave b room:r1",
            r#"spaces user-left ["r1","b"]"#
        ]
    );
    assert!(w.rooms.rooms_of(&u("b")).is_empty());
}

#[test]
fn a_speaker_leaving_loses_the_publication_too() {
    let mut w = World::room_with_two_listeners();
    w.promote("a", "r1", "b", true);
    let out = w.ok("b", Command::LeaveRoom { room_id: r("r1") });
    assert_eq!(
        trace(&out),
        [
            "end-publication r1 b",
            "end-view r1 b",
            "leave b room:r1",
            r#"spaces user-left ["r1","b"]"#
        ]
    );
    assert!(!w.rooms.room(&r("r1")).unwrap().is_speaker(&u("b")));
}

#[test]
fn the_last_member_leaving_deletes_the_room() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    w.create("a", "r1");
    let out = w.ok("a", Command::LeaveRoom { room_id: r("r1") });
    assert_eq!(
        trace(&out),
        [
            "end-publication r1 a",
            "end-view r1 a",
            "leave a room:r1",
            r#"spaces user-left ["r1","a"]"#,
            r#"spaces room-deleted ["r1"]"#
        ]
    );
    assert!(w.rooms.room(&r("r1")).is_none());
    assert!(w.rooms.live_rooms().is_empty());
}

#[test]
fn leave_room_refusals() {
    let mut w = World::room_with_two_listeners();
    w.sign_in("d", "Dan");
    assert_eq!(
        w.err("d", Command::LeaveRoom { room_id: r("r1") }),
        RoomError::NotInRoom
    );
    assert_eq!(
        w.err("b", Command::LeaveRoom { room_id: r("zz") }),
        RoomError::RoomNotFound
    );
}

// ---- raise-hand ------------------------------------------------------------------------

fn hand(raised: bool) -> Command {
    Command::RaiseHand {
        room_id: r("r1"),
        raised,
        reason: None,
    }
}

#[test]
fn raise_and_lower_a_hand() {
    let mut w = World::room_with_two_listeners();
    let out = w.ok("b", hand(true));
    assert_eq!(trace(&out), [r#"room:r1 user-raised-hand ["r1","b",true]"#]);
    assert!(
        w.rooms
            .room(&r("r1"))
            .unwrap()
            .participant(&u("b"))
            .unwrap()
            .raised_hand
    );
    assert!(
        w.ok("b", hand(true)).effects.is_empty(),
        "unchanged is silent"
    );
    let out = w.ok("b", hand(false));
    assert_eq!(
        trace(&out),
        [r#"room:r1 user-raised-hand ["r1","b",false]"#]
    );
}

#[test]
fn raise_hand_refusals() {
    let mut w = World::room_with_two_listeners();
    assert_eq!(w.err("a", hand(true)), RoomError::AlreadySpeaker);
    assert!(w.ok("a", hand(false)).effects.is_empty());
    w.sign_in("d", "Dan");
    assert_eq!(w.err("d", hand(true)), RoomError::NotInRoom);
    let missing = Command::RaiseHand {
        room_id: r("zz"),
        raised: true,
        reason: None,
    };
    assert_eq!(w.err("b", missing), RoomError::RoomNotFound);
}

// ---- promote-user ----------------------------------------------------------------------

#[test]
fn promoting_a_raised_hand_lowers_it_grants_publish_and_tells_everyone() {
    let mut w = World::room_with_two_listeners();
    w.ok("b", hand(true));
    let out = w.promote("a", "r1", "b", true);
    assert_eq!(out.ack.data(), Some(json!(null)));
    assert_eq!(
        trace(&out),
        [
            r#"room:r1 user-raised-hand ["r1","b",false]"#,
            "promoted b r1",
            r#"spaces user-promoted ["r1","b",true]"#
        ]
    );
    let room = w.rooms.room(&r("r1")).unwrap();
    assert_eq!(room.speakers()[1].id, u("b"));
    assert_eq!(room.speakers()[1].since_ms, w.now);
    assert!(
        w.promote("a", "r1", "b", true).effects.is_empty(),
        "already a speaker"
    );
}

#[test]
fn demoting_ends_the_publication_and_clears_the_mute() {
    let mut w = World::room_with_two_listeners();
    w.promote("a", "r1", "b", true);
    w.ok(
        "b",
        Command::Mute {
            room_id: r("r1"),
            muted: true,
        },
    );
    let out = w.promote("a", "r1", "b", false);
    assert_eq!(
        trace(&out),
        [
            "end-publication r1 b",
            r#"user:b demoted ["r1"]"#,
            r#"spaces user-promoted ["r1","b",false]"#
        ]
    );
    let p = w
        .rooms
        .room(&r("r1"))
        .unwrap()
        .participant(&u("b"))
        .unwrap();
    assert!(!p.muted && !p.raised_hand);
}

#[test]
fn denying_a_raised_hand_lowers_it_and_tells_them() {
    let mut w = World::room_with_two_listeners();
    w.ok("b", hand(true));
    let out = w.promote("a", "r1", "b", false);
    assert_eq!(
        trace(&out),
        [
            r#"room:r1 user-raised-hand ["r1","b",false]"#,
            r#"user:b hand-denied ["r1"]"#
        ]
    );
    assert!(
        w.promote("a", "r1", "b", false).effects.is_empty(),
        "nothing to deny"
    );
}

fn promote(target: &str, promote: bool) -> Command {
    Command::PromoteUser {
        room_id: r("r1"),
        user_id: u(target),
        promote,
    }
}

#[test]
fn promote_refusals() {
    let mut w = World::room_with_two_listeners();
    w.sign_in("d", "Dan");
    w.sign_in("e", "Eve");
    w.join("e", "r1");
    w.ok("e", Command::Disconnect);
    assert_eq!(w.err("b", promote("c", true)), RoomError::NotOwner);
    assert_eq!(w.err("d", promote("c", true)), RoomError::NotInRoom);
    assert_eq!(w.err("a", promote("d", true)), RoomError::UserNotInRoom);
    assert_eq!(w.err("a", promote("e", true)), RoomError::UserGone);
    assert_eq!(w.err("a", promote("ghost", true)), RoomError::UserGone);
    assert_eq!(w.err("a", promote("a", false)), RoomError::CannotDemoteSelf);
    assert!(w.ok("a", promote("a", true)).effects.is_empty());
    let missing = Command::PromoteUser {
        room_id: r("zz"),
        user_id: u("b"),
        promote: true,
    };
    assert_eq!(w.err("a", missing), RoomError::RoomNotFound);
    // A speaker is not the owner either.
    w.promote("a", "r1", "b", true);
    assert_eq!(w.err("b", promote("c", true)), RoomError::NotOwner);
    assert_eq!(
        RoomError::UserGone.to_ack(),
        json!({"error": "That user is no longer connected"})
    );
}

// ---- kick-user -------------------------------------------------------------------------

fn kick(target: &str) -> Command {
    Command::KickUser {
        room_id: r("r1"),
        user_id: u(target),
        ban: true,
    }
}

#[test]
fn kicking_a_listener_ends_their_view() {
    let mut w = World::room_with_two_listeners();
    let out = w.ok("a", kick("c"));
    assert_eq!(
        trace(&out),
        [
            r#"user:c kicked ["r1"]"#,
            "end-view r1 c",
            "leave c room:r1",
            r#"spaces user-left ["r1","c"]"#
        ]
    );
    assert!(!w.rooms.room(&r("r1")).unwrap().is_member(&u("c")));
    assert!(w.rooms.rooms_of(&u("c")).is_empty());
}

#[test]
fn kicking_a_speaker_ends_their_publication() {
    let mut w = World::room_with_two_listeners();
    w.promote("a", "r1", "b", true);
    let out = w.ok("a", kick("b"));
    assert_eq!(
        trace(&out),
        [
            r#"user:b kicked ["r1"]"#,
            "end-publication r1 b",
            "end-view r1 b",
            "leave b room:r1",
            r#"spaces user-left ["r1","b"]"#
        ]
    );
}

#[test]
fn kick_refusals() {
    let mut w = World::room_with_two_listeners();
    w.sign_in("d", "Dan");
    assert_eq!(w.err("b", kick("c")), RoomError::NotOwner);
    assert_eq!(w.err("a", kick("a")), RoomError::CannotKickSelf);
    assert_eq!(w.err("a", kick("d")), RoomError::UserNotInRoom);
    w.ok("c", Command::Disconnect);
    assert_eq!(w.err("a", kick("c")), RoomError::UserGone);
    let missing = Command::KickUser {
        room_id: r("zz"),
        user_id: u("b"),
        ban: true,
    };
    assert_eq!(w.err("a", missing), RoomError::RoomNotFound);
}

// ---- mute-speaker and mute -------------------------------------------------------------

fn mute_speaker(target: &str) -> Command {
    Command::MuteSpeaker {
        room_id: r("r1"),
        user_id: u(target),
    }
}

fn mute(muted: bool) -> Command {
    Command::Mute {
        room_id: r("r1"),
        muted,
    }
}

#[test]
fn the_owner_mutes_a_speaker() {
    let mut w = World::room_with_two_listeners();
    w.promote("a", "r1", "b", true);
    let out = w.ok("a", mute_speaker("b"));
    assert_eq!(
        trace(&out),
        [
            r#"user:b muted ["r1"]"#,
            r#"room:r1 user-muted ["r1","b",true]"#
        ]
    );
    assert!(
        w.rooms
            .room(&r("r1"))
            .unwrap()
            .participant(&u("b"))
            .unwrap()
            .muted
    );
    // Again: the speaker is told again, the room is not.
    assert_eq!(
        trace(&w.ok("a", mute_speaker("b"))),
        [r#"user:b muted ["r1"]"#]
    );
    // The speaker may unmute.
    assert_eq!(
        trace(&w.ok("b", mute(false))),
        [r#"room:r1 user-muted ["r1","b",false]"#]
    );
    // The owner may mute themselves this way too.
    assert_eq!(w.ok("a", mute_speaker("a")).effects.len(), 2);
}

#[test]
fn mute_speaker_refusals() {
    let mut w = World::room_with_two_listeners();
    w.promote("a", "r1", "b", true);
    w.sign_in("d", "Dan");
    assert_eq!(w.err("a", mute_speaker("c")), RoomError::TargetNotSpeaker);
    assert_eq!(w.err("b", mute_speaker("a")), RoomError::NotOwner);
    assert_eq!(w.err("a", mute_speaker("d")), RoomError::UserNotInRoom);
    assert_eq!(w.err("a", mute_speaker("ghost")), RoomError::UserGone);
    assert_eq!(w.err("d", mute_speaker("b")), RoomError::NotInRoom);
}

#[test]
fn speakers_mute_and_unmute_themselves() {
    let mut w = World::room_with_two_listeners();
    assert_eq!(
        trace(&w.ok("a", mute(true))),
        [r#"room:r1 user-muted ["r1","a",true]"#]
    );
    assert!(
        w.ok("a", mute(true)).effects.is_empty(),
        "unchanged is silent"
    );
    assert_eq!(
        trace(&w.ok("a", mute(false))),
        [r#"room:r1 user-muted ["r1","a",false]"#]
    );
}

#[test]
fn mute_refusals() {
    let mut w = World::room_with_two_listeners();
    w.sign_in("d", "Dan");
    assert_eq!(w.err("b", mute(true)), RoomError::NotSpeaker);
    assert_eq!(w.err("d", mute(true)), RoomError::NotInRoom);
    let missing = Command::Mute {
        room_id: r("zz"),
        muted: true,
    };
    assert_eq!(w.err("a", missing), RoomError::RoomNotFound);
}

// ---- disconnect ------------------------------------------------------------------------

#[test]
fn disconnecting_an_unknown_connection_does_nothing() {
    let mut w = World::new();
    let out = w.ok("nobody", Command::Disconnect);
    assert_eq!(out.ack, Ack::Done);
    assert!(out.effects.is_empty());
}

#[test]
fn disconnect_frees_the_username() {
    let mut w = World::new();
    w.sign_in("a", "Ann");
    let out = w.ok("a", Command::Disconnect);
    assert_eq!(trace(&out), ["leave a spaces"]);
    assert!(w.rooms.user(&u("a")).is_none());
    w.sign_in("a2", "ANN");
    assert_eq!(w.rooms.user(&u("a2")).unwrap().username, "ANN");
}

// ---- live now --------------------------------------------------------------------------

#[test]
fn live_rooms_are_busiest_first_then_newest() {
    let mut w = World::new();
    for (id, name) in [("a", "Ann"), ("b", "Bob"), ("c", "Cat"), ("d", "Dan")] {
        w.sign_in(id, name);
    }
    w.create("a", "old");
    w.create("b", "mid");
    w.create("c", "new");
    w.join("d", "mid");
    w.promote("b", "mid", "d", true);
    w.join("a", "new");
    let order: Vec<RoomId> = w.rooms.live_rooms().into_iter().map(|l| l.id).collect();
    assert_eq!(order, [r("new"), r("mid"), r("old")]);
    let mid = w.rooms.live_rooms().remove(1);
    assert_eq!((mid.speaker_count, mid.audience_count), (2, 0));
    let json = serde_json::to_value(w.rooms.live_rooms().remove(0)).unwrap();
    assert_eq!(
        json,
        json!({
            "id": "new", "name": "Room new", "ownerId": "c", "ownerUsername": "Cat",
            "privacy": "public",
            "audioOnly": true, "speakerCount": 1, "audienceCount": 1,
            "createdAtMs": w.rooms.room(&r("new")).unwrap().created_at_ms(),
        })
    );
    // The authenticate ack lists rooms in the same order.
    w.sign_in("e", "Eve");
    let out = w.ok(
        "e",
        Command::Authenticate {
            username: "Eve".into(),
            client: ClientInfo::default(),
        },
    );
    let Ack::Authenticated { rooms, .. } = out.ack else {
        panic!("authenticate acks the rooms")
    };
    let ids: Vec<&RoomId> = rooms.iter().map(|room| room.id()).collect();
    assert_eq!(ids, [&r("new"), &r("mid"), &r("old")]);
}
