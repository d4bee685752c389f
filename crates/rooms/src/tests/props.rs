//! Random command sequences never panic, keep the invariants, and produce effects that keep
//! a shell's socket.io rooms and the SFU in sync with the domain.

use super::{c, check_invariants, r, u};
use crate::ClientInfo;
use crate::{Audience, Command, Effect, Group, Limits, MediaAction, Rooms, UserId};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

const CONNS: [&str; 5] = ["c0", "c1", "c2", "c3", "c4"];
const TARGETS: [&str; 6] = ["c0", "c1", "c2", "c3", "c4", "ghost"];
const ROOMS: [&str; 7] = ["r0", "r1", "r2", "r0", "r1", "spaces", "r3"];
const ROOM_NAMES: [&str; 4] = ["Chat", "Talk", "Late show", "\n"];
/// Includes look-alikes of `Ann`: Cyrillic `а`, fullwidth, capital `I` vs `l` (`BiII`/`Bill`).
const NAMES: [&str; 13] = [
    "Ann",
    "ann",
    "Bob",
    " Cat ",
    "",
    "x!",
    "...",
    "Émile",
    "Dan",
    "\u{430}nn",
    "ＡＮＮ",
    "BiII",
    "Bill",
];

#[derive(Debug, Clone)]
struct Step {
    kind: u8,
    conn: usize,
    room: usize,
    target: usize,
    flag: bool,
    name: usize,
    /// Send owner-only commands, leaves and disconnects from the room's current owner.
    as_owner: bool,
}

fn step() -> impl Strategy<Value = Step> {
    // Weighted so that rooms fill up and owners hand over: frequent sign-ins, joins and
    // promotions; rare disconnects.
    let kind = prop_oneof![
        3 => Just(0u8),
        2 => Just(1),
        5 => Just(2),
        1 => Just(3),
        2 => Just(4),
        5 => Just(5),
        1 => Just(6),
        2 => Just(7),
        2 => Just(8),
        1 => Just(9),
        2 => Just(10),
        1 => Just(11),
        1 => Just(12),
        1 => Just(13),
        2 => Just(14),
        2 => Just(15),
        2 => Just(16),
        1 => Just(17),
        1 => Just(18),
        1 => Just(19),
        1 => Just(20),
        2 => Just(21),
        1 => Just(22),
    ];
    (
        kind,
        0..CONNS.len(),
        0..ROOMS.len(),
        0..TARGETS.len(),
        any::<bool>(),
        0..NAMES.len(),
        any::<bool>(),
    )
        .prop_map(|(kind, conn, room, target, flag, name, as_owner)| Step {
            kind,
            conn,
            room,
            target,
            flag,
            name,
            as_owner,
        })
}

/// Who sends the step's command.
fn sender(rooms: &Rooms, s: &Step) -> UserId {
    let owner = rooms
        .room(&r(ROOMS[s.room]))
        .map(|room| room.owner_id().clone());
    match owner {
        Some(owner)
            if s.as_owner && matches!(s.kind, 3 | 5 | 6 | 7 | 9 | 15 | 17 | 18 | 20 | 22) =>
        {
            owner
        }
        _ => u(CONNS[s.conn]),
    }
}

/// Everyone signed in, two rooms with listeners and a second speaker each, so random steps
/// start from an interesting state.
fn prologue(rooms: &mut Rooms) {
    for (i, conn) in CONNS.iter().enumerate() {
        let username = format!("P{i}");
        rooms
            .apply(
                0,
                &c(conn),
                Command::Authenticate {
                    username,
                    client: ClientInfo::default(),
                },
            )
            .unwrap();
    }
    for (owner, room) in [("c0", "r0"), ("c1", "r1")] {
        let create = Command::CreateRoom {
            room_id: r(room),
            name: "Chat".into(),
            audio_only: true,
            privacy: Default::default(),
        };
        rooms.apply(0, &c(owner), create).unwrap();
    }
    for (owner, room, speaker, listener) in [("c0", "r0", "c2", "c3"), ("c1", "r1", "c3", "c4")] {
        for member in [speaker, listener] {
            rooms
                .apply(
                    0,
                    &c(member),
                    Command::JoinRoom {
                        room_id: r(room),
                        invite: None,
                        relations: Default::default(),
                    },
                )
                .unwrap();
        }
        let promote = Command::PromoteUser {
            room_id: r(room),
            user_id: u(speaker),
            promote: true,
        };
        rooms.apply(0, &c(owner), promote).unwrap();
    }
    check_invariants(rooms);
}

/// A sign-in's client: every other name is an account's (the same account each time).
fn client(s: &Step) -> ClientInfo {
    ClientInfo {
        resume_secret: String::new(),
        answers_invitations: s.flag,
        account: s.name.is_multiple_of(2).then(|| format!("acct-{}", s.name)),
    }
}

fn command(s: &Step) -> Command {
    let room_id = r(ROOMS[s.room]);
    let user_id = u(TARGETS[s.target]);
    match s.kind {
        0 => Command::Authenticate {
            username: NAMES[s.name].into(),
            client: client(s),
        },
        21 => Command::TakeOver {
            username: NAMES[s.name].into(),
            client: client(s),
        },
        1 => Command::CreateRoom {
            room_id,
            name: ROOM_NAMES[s.name % ROOM_NAMES.len()].into(),
            audio_only: s.flag,
            privacy: Default::default(),
        },
        2 => Command::JoinRoom {
            room_id,
            invite: None,
            relations: Default::default(),
        },
        3 => Command::LeaveRoom { room_id },
        4 => Command::RaiseHand {
            room_id,
            raised: s.flag,
            reason: None,
        },
        5 => Command::PromoteUser {
            room_id,
            user_id,
            promote: s.flag,
        },
        6 => Command::KickUser {
            room_id,
            user_id,
            ban: true,
        },
        7 => Command::MuteSpeaker { room_id, user_id },
        8 => Command::Mute {
            room_id,
            muted: s.flag,
        },
        10 => Command::AnswerInvite {
            room_id,
            accept: s.flag,
        },
        11 => Command::LeaveStage { room_id },
        12 => Command::MicState {
            room_id,
            available: s.flag,
        },
        // Closed (held), or timed out long ago (gone at once).
        13 => Command::ConnectionLost {
            silent_ms: if s.flag { 0 } else { 60_000 },
        },
        15 => Command::SetModerator {
            room_id,
            user_id,
            moderator: s.flag,
        },
        16 => Command::SendMessage {
            room_id,
            text: ROOM_NAMES[s.name % ROOM_NAMES.len()].into(),
            relations: Default::default(),
        },
        17 => Command::DeleteMessage {
            room_id,
            message_id: s.target as u64,
        },
        18 => Command::MuteChat {
            room_id,
            user_id,
            muted: s.flag,
        },
        19 => Command::React {
            room_id,
            emoji: if s.flag { "👏" } else { "<b>" }.into(),
            target: Some(user_id),
        },
        20 => Command::SetRecording {
            room_id,
            recording: s.flag,
        },
        22 => Command::ApplyBlocks {
            relations: crate::Relations {
                blocks: [format!("acct-{}", s.name)].into(),
                ..Default::default()
            },
        },
        _ => Command::Disconnect,
    }
}

type Groups = HashMap<Group, BTreeSet<UserId>>;

/// Delivery groups as the domain says they should be.
fn expected_groups(rooms: &Rooms) -> Groups {
    let mut groups = Groups::new();
    for room in rooms.rooms() {
        let members = room.participants().iter().map(|p| p.id.clone()).collect();
        groups.insert(Group::Room(room.id().clone()), members);
    }
    let spaces = CONNS
        .iter()
        .map(|c| u(c))
        .filter(|c| rooms.user(c).is_some())
        .collect();
    groups.insert(Group::Spaces, spaces);
    groups
}

fn speakers(rooms: &Rooms) -> BTreeSet<(String, UserId)> {
    rooms
        .rooms()
        .flat_map(|room| {
            room.speakers()
                .iter()
                .map(|s| (room.id().to_string(), s.id.clone()))
        })
        .collect()
}

fn members(rooms: &Rooms) -> BTreeSet<(String, UserId)> {
    rooms
        .rooms()
        .flat_map(|room| {
            room.participants()
                .iter()
                .map(|p| (room.id().to_string(), p.id.clone()))
        })
        .collect()
}

/// Replays the effects of one accepted command against the shell's view (`groups`) and
/// checks each against the states before and after.
fn check_effects(
    before: &Rooms,
    after: &Rooms,
    effects: &[Effect],
    groups: &mut Groups,
    created: bool,
) {
    let signed_in = |user: &UserId| before.user(user).is_some() || after.user(user).is_some();
    let mut ended_publications = BTreeSet::new();
    let mut ended_views = BTreeSet::new();
    let mut promoted = BTreeSet::new();
    for effect in effects {
        match effect {
            Effect::Join { user, group } => {
                assert!(signed_in(user), "join by a stranger");
                // A user taken over joins their groups again on the new connection.
                let moved = before.conn_of(user) != after.conn_of(user);
                assert!(
                    groups
                        .entry(group.clone())
                        .or_default()
                        .insert(user.clone())
                        || moved,
                    "joined twice"
                );
            }
            Effect::Leave { user, group } => {
                let set = groups.get_mut(group).expect("leave of an unknown group");
                assert!(set.remove(user), "leave of a group not joined");
            }
            Effect::CloseConnection { conn } => {
                // Only a take-over closes a connection: its user's.
                let user = before.user_on(conn).expect("a signed-in connection");
                assert_ne!(after.conn_of(&user.id), Some(conn), "closed but kept");
            }
            Effect::Emit { to, event } => {
                assert!(!event.name().is_empty() && !event.args().is_empty());
                match to {
                    Audience::Spaces => {}
                    Audience::Room(id) => {
                        assert!(before.room(id).is_some() || after.room(id).is_some());
                        let set = groups.get(&Group::Room(id.clone()));
                        assert!(set.is_some_and(|s| !s.is_empty()), "emit to an empty room");
                    }
                    Audience::User(id) => assert!(signed_in(id), "emit to a stranger"),
                    Audience::RoomExcept { room_id, .. } => {
                        assert!(after.room(room_id).is_some(), "chat in a closed room")
                    }
                }
            }
            Effect::SendPromoted { user, room_id, .. } => {
                let room = after.room(room_id).expect("promoted into a live room");
                assert!(room.is_speaker(user));
                promoted.insert((room_id.to_string(), user.clone()));
            }
            Effect::Media(MediaAction::EndPublication { room_id, user_id }) => {
                ended_publications.insert((room_id.to_string(), user_id.clone()));
            }
            Effect::Media(MediaAction::EndView { room_id, user_id }) => {
                ended_views.insert((room_id.to_string(), user_id.clone()));
            }
        }
    }
    // Delivery groups end up exactly as the domain's membership.
    groups.retain(|_, set| !set.is_empty());
    let mut expected = expected_groups(after);
    expected.retain(|_, set| !set.is_empty());
    assert_eq!(*groups, expected, "shell groups drifted from membership");
    // Every lost stage seat ends its publication, every lost membership its view, and
    // nothing else is ended.
    let (speakers_before, speakers_after) = (speakers(before), speakers(after));
    let lost: BTreeSet<_> = speakers_before
        .difference(&speakers_after)
        .cloned()
        .collect();
    assert_eq!(ended_publications, lost);
    let (members_before, members_after) = (members(before), members(after));
    let gone: BTreeSet<_> = members_before.difference(&members_after).cloned().collect();
    assert_eq!(ended_views, gone);
    // New speakers got a publish grant (or created the room and get it from join-room).
    let gained: BTreeSet<_> = speakers_after
        .difference(&speakers_before)
        .cloned()
        .collect();
    if created {
        assert!(promoted.is_empty() && gained.len() == 1);
    } else {
        assert_eq!(promoted, gained);
    }
}

/// Runs `steps` after the prologue, checking every outcome, then disconnects everyone.
fn run(mut rooms: Rooms, steps: &[Step]) -> Result<(), TestCaseError> {
    prologue(&mut rooms);
    let mut groups = expected_groups(&rooms);
    for (i, s) in steps.iter().enumerate() {
        let before = rooms.clone();
        let now = i as u64 * 1_000;
        if s.kind == 14 {
            // Time passes: users away past their hold leave.
            let outcome = rooms.expire(now);
            check_effects(&before, &rooms, &outcome.effects, &mut groups, false);
            check_invariants(&rooms);
            continue;
        }
        let cmd = command(s);
        let created = matches!(cmd, Command::CreateRoom { .. });
        let from = sender(&rooms, s);
        let result = rooms.apply(now, &c(from.as_str()), cmd);
        match result {
            Ok(outcome) => {
                if created {
                    // Only hand-overs may take someone past the owned quota, never creating.
                    // (The creator is the connection's user: one taken over is not its id.)
                    let creator = before.user_on(&c(from.as_str())).expect("signed in");
                    let owned = |rooms: &Rooms| {
                        rooms
                            .rooms()
                            .filter(|room| room.owner_id() == &creator.id)
                            .count()
                    };
                    prop_assert!(owned(&before) < before.limits().max_owned_rooms);
                    prop_assert_eq!(owned(&rooms), owned(&before) + 1);
                }
                check_effects(&before, &rooms, &outcome.effects, &mut groups, created);
            }
            Err(e) => {
                prop_assert_eq!(&before, &rooms, "refusal {} changed the state", e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
        check_invariants(&rooms);
    }
    // Everyone leaving empties everything (those away leave when their hold ends).
    let before = rooms.clone();
    let outcome = rooms.expire(u64::MAX);
    check_effects(&before, &rooms, &outcome.effects, &mut groups, false);
    for conn in CONNS {
        rooms
            .apply(1_000, &c(conn), Command::Disconnect)
            .expect("disconnect is never refused");
    }
    prop_assert_eq!(rooms.rooms().count(), 0);
    prop_assert_eq!(rooms.user_count(), 0);
    Ok(())
}

/// Quotas small enough for random steps to hit all of them (the prologue just fits).
fn tight() -> Limits {
    Limits {
        max_owned_rooms: 1,
        max_joined_rooms: 2,
        max_live_rooms: 2,
        max_listed_rooms: 1,
        ..Limits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_sequences_keep_the_invariants(steps in prop::collection::vec(step(), 1..120)) {
        run(Rooms::new(), &steps)?;
    }

    #[test]
    fn random_sequences_keep_the_invariants_under_tight_quotas(
        steps in prop::collection::vec(step(), 1..120)
    ) {
        run(Rooms::with_limits(tight()), &steps)?;
    }
}
