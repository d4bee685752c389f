//! Socket.io events into room commands (the shapes of the Spaces protocol, §9.2), with a
//! clear error for each malformed argument.

use podium_rooms::{ClientInfo, Command, Privacy, Relations, RoomId, UserId};
use serde_json::Value;

fn arg_str(args: &[Value], i: usize, name: &str) -> Result<String, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("Missing {name}")),
    }
}

fn arg_bool(args: &[Value], i: usize, name: &str) -> Result<bool, String> {
    match args.get(i) {
        Some(Value::Bool(b)) => Ok(*b),
        _ => Err(format!("Missing {name}")),
    }
}

/// A fresh resume secret: 256 random bits, in hex.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    hex::encode(b)
}

/// `rooms` of a resume: the ids of the rooms the client still shows (a few at most).
fn room_list(rooms: &Value) -> Result<Vec<RoomId>, String> {
    const MOST: usize = 16;
    let invalid = || "Invalid rooms: a list of at most 16 room ids".to_owned();
    let list = rooms
        .as_array()
        .filter(|l| l.len() <= MOST)
        .ok_or_else(invalid)?;
    list.iter()
        .map(|id| id.as_str().map(RoomId::new).ok_or_else(invalid))
        .collect()
}

/// Longest resume secret accepted (ours are 64 characters).
const MAX_SECRET_LEN: usize = 128;

/// The options object a Podium client adds as argument `i` (the demo's clients do not).
fn options(args: &[Value], i: usize) -> Result<Option<&serde_json::Map<String, Value>>, String> {
    match args.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err("Invalid options: an object".to_owned()),
    }
}

/// An optional string option, at most `max` bytes.
fn option_str(
    options: Option<&serde_json::Map<String, Value>>,
    name: &str,
    max: usize,
) -> Result<Option<String>, String> {
    match options.and_then(|o| o.get(name)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
        Some(_) => Err(format!("Invalid {name}: a string of at most {max} bytes")),
    }
}

/// `create-room`'s `{privacy}` option; an invite-only room gets a fresh link secret.
fn privacy(options: Option<&serde_json::Map<String, Value>>) -> Result<Privacy, String> {
    match option_str(options, "privacy", 16)?.as_deref() {
        None | Some("public") => Ok(Privacy::Public),
        Some("followers") => Ok(Privacy::Followers),
        Some("invite") => Ok(Privacy::Invite {
            secret: new_secret(),
        }),
        Some(_) => Err("Invalid privacy: public, followers or invite".to_owned()),
    }
}

/// Who sent a message, as its gateway knows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sender<'a> {
    /// The fresh resume secret a sign-in hands out.
    pub secret: &'a str,
    /// The account the client's session is signed in with.
    pub account: Option<&'a str>,
    /// That account's follows and blocks, read for the commands that need them.
    pub relations: Option<&'a Relations>,
}

/// Turns a socket.io event and its arguments into a room command (shapes of §9.2, and
/// Podium's additions).
///
/// `authenticate(username, options?)`: Podium's app passes
/// `{resume?: secret, takeOver?: true, answersInvitations?: true}`; the demo's app passes the
/// name only.
pub fn parse_command(event: &str, args: &[Value], sender: Sender<'_>) -> Result<Command, String> {
    let Sender {
        secret, account, ..
    } = sender;
    let relations = || sender.relations.cloned().unwrap_or_default();
    let room = |i| arg_str(args, i, "roomId").map(RoomId::new);
    let user = |i| arg_str(args, i, "userId").map(UserId::new);
    Ok(match event {
        "authenticate" => {
            let username = arg_str(args, 0, "username")?;
            let options = args.get(1).and_then(Value::as_object);
            let flag = |name| {
                options
                    .and_then(|o| o.get(name))
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            };
            // Only a client that passes options (Podium's app) keeps a resume secret; the
            // demo's app could not use one.
            let client = ClientInfo {
                resume_secret: options.map_or_else(String::new, |_| secret.to_owned()),
                answers_invitations: flag("answersInvitations"),
                account: account.map(str::to_owned),
            };
            match options.and_then(|o| o.get("resume")) {
                None | Some(Value::Null) if flag("takeOver") => {
                    Command::TakeOver { username, client }
                }
                None | Some(Value::Null) => Command::Authenticate { username, client },
                Some(Value::String(old)) if old.len() <= MAX_SECRET_LEN => Command::Resume {
                    username,
                    secret: old.clone(),
                    client,
                    keep: match options.and_then(|o| o.get("rooms")) {
                        None | Some(Value::Null) => None,
                        Some(rooms) => Some(room_list(rooms)?),
                    },
                    relations: relations(),
                },
                Some(_) => return Err("Invalid resume secret".to_owned()),
            }
        }
        "answer-invite" => Command::AnswerInvite {
            room_id: room(0)?,
            accept: arg_bool(args, 1, "accept")?,
        },
        "leave-stage" => Command::LeaveStage { room_id: room(0)? },
        "mic-state" => Command::MicState {
            room_id: room(0)?,
            available: arg_bool(args, 1, "available")?,
        },
        "sign-out" => Command::Disconnect,
        "create-room" => Command::CreateRoom {
            room_id: RoomId::new(new_room_id()),
            name: arg_str(args, 0, "room name")?,
            audio_only: args.get(1).and_then(Value::as_bool).unwrap_or(true),
            privacy: privacy(options(args, 2)?)?,
        },
        "join-room" => Command::JoinRoom {
            room_id: room(0)?,
            invite: option_str(options(args, 1)?, "invite", MAX_SECRET_LEN)?,
            relations: relations(),
        },
        "leave-room" => Command::LeaveRoom { room_id: room(0)? },
        "raise-hand" => Command::RaiseHand {
            room_id: room(0)?,
            raised: arg_bool(args, 1, "raised")?,
            // Bounded here in bytes; the domain counts characters.
            reason: option_str(options(args, 2)?, "reason", 4 * 1024)?,
        },
        "promote-user" => Command::PromoteUser {
            room_id: room(0)?,
            user_id: user(1)?,
            promote: arg_bool(args, 2, "promote")?,
        },
        "kick-user" => Command::KickUser {
            room_id: room(0)?,
            user_id: user(1)?,
            // The demo's kick always lasted; Podium's app says which it wants.
            ban: match options(args, 2)?.and_then(|o| o.get("ban")) {
                None | Some(Value::Null) => true,
                Some(Value::Bool(ban)) => *ban,
                Some(_) => return Err("Invalid ban: true or false".to_owned()),
            },
        },
        "set-moderator" => Command::SetModerator {
            room_id: room(0)?,
            user_id: user(1)?,
            moderator: arg_bool(args, 2, "moderator")?,
        },
        "set-recording" => Command::SetRecording {
            room_id: room(0)?,
            recording: arg_bool(args, 1, "recording")?,
        },
        "apply-blocks" => Command::ApplyBlocks {
            relations: relations(),
        },
        "send-message" => Command::SendMessage {
            room_id: room(0)?,
            text: arg_str(args, 1, "text")?,
            relations: relations(),
        },
        "delete-message" => Command::DeleteMessage {
            room_id: room(0)?,
            message_id: args
                .get(1)
                .and_then(Value::as_u64)
                .ok_or("Missing messageId")?,
        },
        "mute-chat" => Command::MuteChat {
            room_id: room(0)?,
            user_id: user(1)?,
            muted: arg_bool(args, 2, "muted")?,
        },
        "react" => Command::React {
            room_id: room(0)?,
            emoji: arg_str(args, 1, "emoji")?,
            target: match args.get(2) {
                None | Some(Value::Null) => None,
                Some(Value::String(id)) => Some(UserId::new(id.clone())),
                Some(_) => return Err("Invalid target: a user id or null".to_owned()),
            },
        },
        "mute-speaker" => Command::MuteSpeaker {
            room_id: room(0)?,
            user_id: user(1)?,
        },
        "mute" => Command::Mute {
            room_id: room(0)?,
            muted: arg_bool(args, 1, "muted")?,
        },
        "set-content" => Command::SetContent {
            room_id: room(0)?,
            stream: match args.get(1) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err("Invalid streamName: a string or null".to_owned()),
            },
        },
        other => return Err(format!("Unknown event {other}")),
    })
}

/// A random UUID v4, as the demo used for room ids (they are also stream names).
fn new_room_id() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sender(secret: &'static str, account: Option<&'static str>) -> Sender<'static> {
        Sender {
            secret,
            account,
            relations: None,
        }
    }

    #[test]
    fn commands_are_parsed_with_clear_errors() {
        assert!(matches!(
            parse_command(
                "promote-user",
                &[json!("r"), json!("u"), json!(true)],
                sender("", None)
            ),
            Ok(Command::PromoteUser { promote: true, .. })
        ));
        assert_eq!(
            parse_command("promote-user", &[json!("r")], sender("", None)).unwrap_err(),
            "Missing userId"
        );
        assert_eq!(
            parse_command("raise-hand", &[json!("r"), json!("yes")], sender("", None)).unwrap_err(),
            "Missing raised"
        );
        assert_eq!(
            parse_command("authenticate", &[json!(5)], sender("s", None)).unwrap_err(),
            "Missing username"
        );
        assert!(matches!(
            parse_command("authenticate", &[json!("Ann")], sender("s", None)),
            Ok(Command::Authenticate { client, .. })
                if client.resume_secret.is_empty() && !client.answers_invitations
        ));
        assert!(matches!(
            parse_command("authenticate", &[json!("Ann"), json!({"resume": "old", "answersInvitations": true})], sender("new", None)),
            Ok(Command::Resume { secret, client, .. })
                if secret == "old" && client.resume_secret == "new" && client.answers_invitations
        ));
        assert_eq!(
            parse_command(
                "authenticate",
                &[json!("Ann"), json!({"resume": 7})],
                sender("s", None)
            )
            .unwrap_err(),
            "Invalid resume secret"
        );
        let too_long = "x".repeat(MAX_SECRET_LEN + 1);
        assert_eq!(
            parse_command(
                "authenticate",
                &[json!("Ann"), json!({"resume": too_long})],
                sender("s", None)
            )
            .unwrap_err(),
            "Invalid resume secret"
        );
        assert!(matches!(
            parse_command(
                "authenticate",
                &[json!("Ann"), json!({"resume": "old", "rooms": ["r1"]})],
                sender("new", None)
            ),
            Ok(Command::Resume { keep: Some(keep), .. }) if keep == [RoomId::new("r1")]
        ));
        assert!(parse_command(
            "authenticate",
            &[json!("Ann"), json!({"resume": "old", "rooms": [1]})],
            sender("new", None)
        )
        .is_err());
        assert_eq!(
            parse_command("answer-invite", &[json!("r")], sender("", None)).unwrap_err(),
            "Missing accept"
        );
        assert!(matches!(
            parse_command("authenticate", &[json!("Ann"), json!({})], sender("s", Some("u1"))),
            Ok(Command::Authenticate { client, .. }) if client.account.as_deref() == Some("u1")
        ));
        assert!(matches!(
            parse_command("authenticate", &[json!("Ann"), json!({"takeOver": true})], sender("s", Some("u1"))),
            Ok(Command::TakeOver { client, .. }) if client.account.as_deref() == Some("u1")
        ));
        assert_eq!(new_secret().len(), 64);
        assert_eq!(
            parse_command(
                "create-room",
                &[json!("Talk"), json!(true), json!("x")],
                sender("", None)
            )
            .unwrap_err(),
            "Invalid options: an object"
        );
        assert!(matches!(
            parse_command("create-room", &[json!("Talk"), json!(true), json!({"privacy": "invite"})], sender("", None)),
            Ok(Command::CreateRoom { privacy: Privacy::Invite { secret }, .. }) if secret.len() == 64
        ));
        assert_eq!(
            parse_command(
                "create-room",
                &[json!("Talk"), json!(true), json!({"privacy": "secret"})],
                sender("", None)
            )
            .unwrap_err(),
            "Invalid privacy: public, followers or invite"
        );
        assert!(matches!(
            parse_command("kick-user", &[json!("r"), json!("u")], sender("", None)),
            Ok(Command::KickUser { ban: true, .. })
        ));
        assert!(matches!(
            parse_command(
                "kick-user",
                &[json!("r"), json!("u"), json!({"ban": false})],
                sender("", None)
            ),
            Ok(Command::KickUser { ban: false, .. })
        ));
        let relations = Relations {
            blocks: ["u9".to_owned()].into(),
            ..Relations::default()
        };
        let with = Sender {
            relations: Some(&relations),
            ..Sender::default()
        };
        assert!(matches!(
            parse_command("send-message", &[json!("r"), json!("hi")], with),
            Ok(Command::SendMessage { relations: r, .. }) if r.blocks.contains("u9")
        ));
        assert_eq!(
            parse_command(
                "delete-message",
                &[json!("r"), json!("1")],
                sender("", None)
            )
            .unwrap_err(),
            "Missing messageId"
        );
        assert_eq!(
            parse_command(
                "react",
                &[json!("r"), json!("👏"), json!(3)],
                sender("", None)
            )
            .unwrap_err(),
            "Invalid target: a user id or null"
        );
        let long = "x".repeat(5000);
        assert!(parse_command(
            "raise-hand",
            &[json!("r"), json!(true), json!({"reason": long})],
            sender("", None)
        )
        .is_err());
        assert_ne!(new_secret(), new_secret());
        let id = new_room_id();
        assert_eq!(id.len(), 36);
        assert!(
            crate::director::validate_stream_name(&id).is_ok(),
            "room ids are valid stream names"
        );
    }
}
