//! The authority's decisions: answers, deliveries addressed to connections (so each node
//! finds its own), grant changes that replay to the same registry elsewhere.

use super::*;
use podium_rooms::Limits;
use serde_json::json;

fn message(event: &str, args: Value) -> RequestKind {
    RequestKind::Message {
        event: event.into(),
        args: args.as_array().cloned().unwrap_or_default(),
        secret: "fresh".into(),
        account: None,
        relations: None,
    }
}

/// Ann on node `a.`, owner of a room; Bob on node `b.`, a listener in it.
fn room(authority: &mut Authority, grants: &RoomGrants) -> String {
    let ann = ConnId::new("a.1");
    let bob = ConnId::new("b.1");
    authority.decide(1, grants, &ann, 1, message("authenticate", json!(["Ann"])));
    authority.decide(
        2,
        grants,
        &bob,
        1,
        message("authenticate", json!(["Bob", {}])),
    );
    let created = authority.decide(3, grants, &ann, 2, message("create-room", json!(["Talk"])));
    let Some(Reply {
        answer: Answer::Data { data },
        ..
    }) = created.reply
    else {
        panic!("{created:?}")
    };
    let room = data.as_str().unwrap().to_owned();
    authority.decide(4, grants, &bob, 2, message("join-room", json!([room])));
    room
}

#[test]
fn answers_and_deliveries_name_connections_and_grants_replay_elsewhere() {
    let (mut authority, grants, replica) = (
        Authority::default(),
        RoomGrants::default(),
        RoomGrants::default(),
    );
    let ann = ConnId::new("a.1");
    let signed_in = authority.decide(
        1,
        &grants,
        &ann,
        7,
        message("authenticate", json!(["Ann", {}])),
    );
    let reply = signed_in.reply.as_ref().unwrap();
    assert_eq!((reply.conn.as_str(), reply.request), ("a.1", 7));
    assert!(matches!(&reply.answer, Answer::SignedIn { data } if data["user"]["id"] == "a.1"));
    assert!(signed_in.deliveries.contains(&Delivery::Join {
        conn: ann.clone(),
        group: "spaces".into()
    }));

    let created = authority.decide(2, &grants, &ann, 8, message("create-room", json!(["Talk"])));
    let room = match &created.reply.as_ref().unwrap().answer {
        Answer::Data { data } => data.as_str().unwrap().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        created.grants,
        vec![GrantOp::OpenRoom { room: room.clone() }]
    );
    assert!(created.deliveries.iter().any(|d| matches!(d,
        Delivery::Broadcast { group, event, .. } if group == "spaces" && event == "room-created")));
    let joined = authority.decide(3, &grants, &ann, 9, message("join-room", json!([room])));
    let Answer::Joined {
        view,
        publish: Some(publish),
        room: json,
    } = joined.reply.unwrap().answer
    else {
        panic!("the owner gets both grants")
    };
    assert_eq!(json["id"], room, "the room comes with the grants");
    assert_eq!(
        (view.room.as_str(), view.user.as_str()),
        (room.as_str(), "a.1")
    );
    assert!(grants.is_live(&view.token_id) && grants.is_live(&publish.token_id));
    for op in created.grants.iter().chain(&joined.grants) {
        replica.apply(op);
    }
    assert_eq!(
        replica.export(),
        grants.export(),
        "another node applying the changes agrees"
    );

    let bad = authority.decide(4, &grants, &ann, 10, message("raise-hand", json!([5])));
    assert!(
        matches!(bad.reply.unwrap().answer, Answer::Error { message } if message == "Missing roomId")
    );
    assert!(bad.grants.is_empty() && bad.deliveries.is_empty());
}

#[test]
fn a_promotion_is_delivered_to_the_member_and_a_demotion_ends_its_grant_everywhere() {
    let (mut authority, grants) = (Authority::default(), RoomGrants::default());
    let room = room(&mut authority, &grants);
    let ann = ConnId::new("a.1");
    let promoted = authority.decide(
        5,
        &grants,
        &ann,
        3,
        message("promote-user", json!([room, "b.1", true])),
    );
    let grant = promoted
        .deliveries
        .iter()
        .find_map(|d| match d {
            Delivery::Promoted { conn, grant } if conn.as_str() == "b.1" => Some(grant.clone()),
            _ => None,
        })
        .expect("Bob's node mints his token");
    assert!(grants.is_live(&grant.token_id));
    let demoted = authority.decide(
        6,
        &grants,
        &ann,
        4,
        message("promote-user", json!([room, "b.1", false])),
    );
    assert!(demoted.deliveries.contains(&Delivery::EndGrant {
        token_id: grant.token_id.clone()
    }));
    assert!(!grants.is_live(&grant.token_id));
}

#[test]
fn a_dead_nodes_connections_are_lost_and_a_restored_state_reconciles_its_grants() {
    let (mut authority, grants) = (Authority::default(), RoomGrants::default());
    let room = room(&mut authority, &grants);
    let before = authority.rooms().snapshot();
    // Bob's node dies: Bob (whose app could resume elsewhere) is held, then leaves and his
    // view ends.
    let lost = authority.lose_connections(10, &grants, 3000, |c| c.as_str().starts_with("b."));
    assert!(
        lost.deliveries.is_empty() && lost.grants.is_empty(),
        "{lost:?}"
    );
    assert!(authority.rooms().connections().all(|c| c.as_str() == "a.1"));
    let hold = Limits::default().hold_ms;
    assert!(authority.expire(10 + hold - 3000 - 1, &grants).is_none());
    let left = authority
        .expire(10 + hold, &grants)
        .expect("Bob leaves at the hold");
    assert!(left.deliveries.iter().any(|d| matches!(d,
        Delivery::Broadcast { event, args, .. } if event == "user-left" && args[1] == "b.1")));
    assert!(left
        .deliveries
        .iter()
        .any(|d| matches!(d, Delivery::EndGrant { .. })));

    // A successor restored an older state (Bob still in the room) with the newer grants:
    // the room stays open; Bob's view grant is missing, which is fine (a join mints one).
    let successor = Authority::new(Rooms::restore(&before, Default::default()).unwrap());
    let reconciled = successor.reconcile(&grants);
    assert!(reconciled.grants.is_empty() && reconciled.reply.is_none());
    // The recorders follow the restored state: the room is not recorded.
    assert_eq!(
        reconciled.deliveries,
        [Delivery::Recording {
            room: RoomId::new(&room),
            start: None
        }]
    );
    // The other way round: grants nobody's membership justifies are revoked, rooms closed.
    let stale = RoomGrants::default();
    stale.open_room("gone");
    let orphan = stale.grant("gone", "x.1", GrantKind::Publish);
    stale.open_room(&room);
    let reconciled = Authority::new(Rooms::default()).reconcile(&stale);
    assert!(!stale.is_live(&orphan) && !stale.is_room("gone") && !stale.is_room(&room));
    assert!(reconciled
        .deliveries
        .contains(&Delivery::EndGrant { token_id: orphan }));
    assert!(reconciled.deliveries.contains(&Delivery::Recording {
        room: RoomId::new("gone"),
        start: None
    }));
}

#[test]
fn followers_hear_of_public_rooms_and_followers_only_rooms_of_their_host_only() {
    let grants = RoomGrants::default();
    let mut authority = Authority::default();
    let with_account = |event: &str, args: Value, account: &str| RequestKind::Message {
        event: event.into(),
        args: args.as_array().cloned().unwrap_or_default(),
        secret: "fresh".into(),
        account: Some(account.into()),
        relations: None,
    };
    let ann = ConnId::new("a.1");
    authority.decide(
        1,
        &grants,
        &ann,
        1,
        with_account("authenticate", json!(["Ann", {}]), "acct-ann"),
    );
    let told = |d: &Decision| {
        d.deliveries
            .iter()
            .any(|x| matches!(x, Delivery::FollowedLive { .. }))
    };
    for (privacy, expected) in [("public", true), ("followers", true), ("invite", false)] {
        let created = authority.decide(
            2,
            &grants,
            &ann,
            2,
            with_account(
                "create-room",
                json!([format!("R {privacy}"), true, {"privacy": privacy}]),
                "acct-ann",
            ),
        );
        assert_eq!(told(&created), expected, "{privacy}");
        let Some(Reply {
            answer: Answer::Data { data },
            ..
        }) = created.reply
        else {
            panic!("{created:?}")
        };
        authority.decide(3, &grants, &ann, 3, message("leave-room", json!([data])));
    }
}

#[test]
fn recording_tells_every_node_the_room_and_its_speakers_then_each_newcomer_and_the_end() {
    let grants = RoomGrants::default();
    let mut authority = Authority::default();
    let as_account = |event: &str, args: Value| RequestKind::Message {
        event: event.into(),
        args: args.as_array().cloned().unwrap_or_default(),
        secret: "fresh".into(),
        account: Some("acct-ann".into()),
        relations: None,
    };
    let (ann, bob) = (ConnId::new("a.1"), ConnId::new("b.1"));
    authority.decide(
        1,
        &grants,
        &ann,
        1,
        as_account("authenticate", json!(["Ann"])),
    );
    authority.decide(2, &grants, &bob, 1, message("authenticate", json!(["Bob"])));
    let created = authority.decide(
        3,
        &grants,
        &ann,
        2,
        as_account("create-room", json!(["Talk"])),
    );
    let Some(Reply {
        answer: Answer::Data { data },
        ..
    }) = created.reply
    else {
        panic!("{created:?}")
    };
    let room = RoomId::new(data.as_str().unwrap());
    authority.decide(4, &grants, &bob, 2, message("join-room", json!([room])));
    let recording = |d: &Decision| -> Vec<Delivery> {
        d.deliveries
            .iter()
            .filter(|x| {
                matches!(
                    x,
                    Delivery::Recording { .. } | Delivery::RecordSpeaker { .. }
                )
            })
            .cloned()
            .collect()
    };
    let on = authority.decide(
        5,
        &grants,
        &ann,
        3,
        message("set-recording", json!([room, true])),
    );
    let ann_speaker = crate::replays::RecordedSpeaker {
        user: "a.1".into(),
        username: "Ann".into(),
        account: Some("acct-ann".into()),
    };
    assert_eq!(
        recording(&on),
        [Delivery::Recording {
            room: room.clone(),
            start: Some(crate::replays::RecordingStart {
                host_account: "acct-ann".into(),
                title: "Talk".into(),
                privacy: "public".into(),
                speakers: vec![ann_speaker],
            }),
        }]
    );
    // A successor restoring this state starts the recorders again (a repeat adds nothing).
    let restored = Rooms::restore(&authority.rooms().snapshot(), Default::default()).unwrap();
    let again = Authority::new(restored).reconcile(&grants);
    assert_eq!(recording(&again), recording(&on));
    // Bob comes on stage (his client does not answer invitations: at once): recorded too.
    let accepted = authority.decide(
        6,
        &grants,
        &ann,
        4,
        message("promote-user", json!([room, "b.1", true])),
    );
    assert_eq!(
        recording(&accepted),
        [Delivery::RecordSpeaker {
            room: room.clone(),
            speaker: crate::replays::RecordedSpeaker {
                user: "b.1".into(),
                username: "Bob".into(),
                account: None,
            },
        }]
    );
    // The delivery crosses nodes as JSON.
    let wire = serde_json::to_value(&on.deliveries).unwrap();
    let back: Vec<Delivery> = serde_json::from_value(wire).unwrap();
    assert_eq!(back, on.deliveries);
    let off = authority.decide(
        8,
        &grants,
        &ann,
        5,
        message("set-recording", json!([room, false])),
    );
    assert_eq!(
        recording(&off),
        [Delivery::Recording {
            room: room.clone(),
            start: None
        }]
    );
    // Closing a recorded room stops it too.
    authority.decide(
        9,
        &grants,
        &ann,
        6,
        message("set-recording", json!([room, true])),
    );
    authority.decide(10, &grants, &bob, 4, message("leave-room", json!([room])));
    let closed = authority.decide(11, &grants, &ann, 7, message("leave-room", json!([room])));
    assert_eq!(
        recording(&closed),
        [Delivery::Recording { room, start: None }]
    );
}
