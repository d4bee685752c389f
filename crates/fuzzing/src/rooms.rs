//! The rooms server's socket.io arguments (`crates/server/src/rooms_server.rs`) and the rooms
//! domain they drive (`crates/rooms`).

use podium_rooms::{Ack, Command, ConnId, Effect, RoomId, Rooms, UserId};
use podium_server::rooms_server::{parse_command, Sender};
use serde_json::Value;

/// The client→server events of the rooms server, in order.
pub use podium_server::rooms_server::EVENTS;

/// Connections taking part: their ids are the user ids a script can name.
pub const USERS: [&str; 3] = ["u0", "u1", "u2"];

/// A script of messages, one per line: `<user><event><JSON array of arguments>`.
///
/// - `<user>` is a digit choosing the connection from [`USERS`] (`0`, `1`, `2`; other
///   bytes wrap);
/// - `<event>` is a byte choosing the event: `0`–`D` (0–20 after `0`) index [`EVENTS`], `E`
///   is an unknown event (`"bogus"`), `F` a lost connection and `G` a disconnect (other
///   bytes wrap); every line also lets the presence deadlines expire;
/// - the rest of the line is the socket.io arguments as a JSON array, e.g.
///   `01["Morning chat", true]` is `u0` sending `create-room("Morning chat", true)`.
///
/// Room ids are random UUIDs minted by the shell, so a string argument `#n` stands for the
/// n-th room created so far (left as is when there is no such room).
///
/// Every line whose arguments are a JSON array goes through `parse_command`; every command
/// it accepts goes to one `Rooms` state machine with `apply`, as the rooms server does, and
/// the ack and effects are turned into JSON as the shell would. Invariants checked after
/// each command: every room has members, its owner is a member and a speaker, every speaker
/// is a member, and each user's room list names rooms they are a member of.
pub fn rooms_args(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut rooms = Rooms::new();
    let users: Vec<UserId> = USERS.iter().map(|u| UserId::new(*u)).collect();
    let mut created: Vec<RoomId> = Vec::new();
    let conns: Vec<ConnId> = USERS.iter().map(|u| ConnId::new(*u)).collect();
    let mut now_ms: u64 = 1_764_633_600_000;
    for (n, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        if bytes.len() < 2 {
            continue;
        }
        now_ms += 1_000;
        let _ = rooms.expire(now_ms);
        let conn = &conns[usize::from(bytes[0].wrapping_sub(b'0')) % conns.len()];
        let command = match usize::from(bytes[1].wrapping_sub(b'0')) % (EVENTS.len() + 3) {
            e if e == EVENTS.len() + 1 => Command::ConnectionLost { silent_ms: 0 },
            e if e == EVENTS.len() + 2 => Command::Disconnect,
            ev => {
                let event = EVENTS.get(ev).copied().unwrap_or("bogus");
                // Byte 1 may start a multi-byte character after the lossy conversion.
                let Some(rest) = line.get(2..) else {
                    continue;
                };
                let Ok(mut args) = serde_json::from_str::<Vec<Value>>(rest) else {
                    continue;
                };
                for arg in &mut args {
                    substitute_room(arg, &created);
                }
                let secret = format!("secret-{n}");
                let sender = Sender {
                    secret: &secret,
                    ..Sender::default()
                };
                match parse_command(event, &args, sender) {
                    Ok(command) => {
                        assert!(
                            EVENTS.contains(&event),
                            "only a known event parses: {event}"
                        );
                        assert_eq!(command.event_name(), event);
                        command
                    }
                    Err(message) => {
                        assert!(!message.is_empty(), "a refusal says why");
                        continue;
                    }
                }
            }
        };
        match rooms.apply(now_ms, conn, command) {
            Ok(outcome) => {
                match &outcome.ack {
                    Ack::RoomCreated { room_id } => created.push(room_id.clone()),
                    Ack::Joined(tokens) => {
                        serde_json::to_value(tokens).expect("join tokens serialise");
                    }
                    _ => {}
                }
                let _ = outcome.ack.data();
                for effect in &outcome.effects {
                    if let Effect::Emit { event, .. } = effect {
                        let _ = (event.name(), event.room_id(), event.args());
                    }
                }
            }
            Err(e) => {
                let ack = e.to_ack();
                assert!(ack.get("error").is_some_and(Value::is_string));
            }
        }
        check(&rooms, &users);
    }
}

fn substitute_room(arg: &mut Value, created: &[RoomId]) {
    let Value::String(s) = arg else {
        return;
    };
    let Some(n) = s.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) else {
        return;
    };
    if let Some(room) = created.get(n) {
        *s = room.as_str().to_owned();
    }
}

fn check(rooms: &Rooms, users: &[UserId]) {
    for room in rooms.rooms() {
        assert!(!room.participants().is_empty(), "a room is never empty");
        assert!(room.is_member(room.owner_id()), "the owner is a member");
        assert!(room.is_speaker(room.owner_id()), "the owner is a speaker");
        for speaker in room.speakers() {
            assert!(room.is_member(&speaker.id), "a speaker is a member");
        }
        assert!(room.speaker_count() <= room.participants().len());
        for member in room.participants() {
            assert!(rooms.user(&member.id).is_some(), "a member is signed in");
            assert!(
                rooms.rooms_of(&member.id).contains(room.id()),
                "a member's room list has the room"
            );
        }
    }
    for user in users {
        for room_id in rooms.rooms_of(user) {
            let room = rooms.room(room_id).expect("a user's room is live");
            assert!(room.is_member(user), "a user's room has them as member");
        }
    }
}
