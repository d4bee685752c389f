//! Tests of the state machine: every command, every refusal, hand-over, disconnect, and a
//! property test over random command sequences.

mod chat;
mod commands;
mod consent;
mod content;
mod handover;
mod limits;
mod moderation;
mod presence;
mod privacy;
mod props;
mod ranking;
mod recording;
mod snapshot;
mod takeover;
mod usernames;

use crate::validate::username_keys;
use crate::{
    Audience, ClientInfo, Command, ConnId, Effect, Group, Limits, MediaAction, Outcome, RoomError,
    RoomId, Rooms, UserId,
};
use std::collections::HashSet;

pub(crate) fn u(id: &str) -> UserId {
    UserId::new(id)
}

pub(crate) fn c(id: &str) -> ConnId {
    ConnId::new(id)
}

pub(crate) fn r(id: &str) -> RoomId {
    RoomId::new(id)
}

/// A `Rooms` with a ticking clock that checks the invariants after every command and that a
/// refused command changed nothing.
pub(crate) struct World {
    pub rooms: Rooms,
    pub now: u64,
}

impl World {
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        Self {
            rooms: Rooms::with_limits(limits),
            now: 1_000,
        }
    }

    pub fn run(&mut self, who: &str, command: Command) -> Result<Outcome, RoomError> {
        self.now += 10;
        let before = self.rooms.clone();
        let result = self.rooms.apply(self.now, &c(who), command);
        if result.is_err() {
            assert_eq!(before, self.rooms, "a refused command changed the state");
        }
        check_invariants(&self.rooms);
        result
    }

    #[track_caller]
    pub fn ok(&mut self, who: &str, command: Command) -> Outcome {
        let name = command.event_name();
        self.run(who, command)
            .unwrap_or_else(|e| panic!("{who} {name}: unexpected refusal: {e}"))
    }

    #[track_caller]
    pub fn err(&mut self, who: &str, command: Command) -> RoomError {
        let name = command.event_name();
        match self.run(who, command) {
            Ok(o) => panic!("{who} {name}: expected a refusal, got {:?}", trace(&o)),
            Err(e) => e,
        }
    }

    /// Signs in connection `who` as `name`.
    pub fn sign_in(&mut self, who: &str, name: &str) {
        self.ok(
            who,
            Command::Authenticate {
                username: name.into(),
                client: ClientInfo::default(),
            },
        );
    }

    /// Signs in connection `who` as `name` on a client that resumes with `secret-<who>` and
    /// answers invitations (the Podium app).
    pub fn sign_in_app(&mut self, who: &str, name: &str) {
        self.ok(
            who,
            Command::Authenticate {
                username: name.into(),
                client: ClientInfo::new(format!("secret-{who}")),
            },
        );
    }

    /// Signs in connection `who` as `name` with account `acct-<who>` (the Podium app).
    pub fn sign_in_account(&mut self, who: &str, name: &str) {
        let mut client = ClientInfo::new(format!("secret-{who}"));
        client.account = Some(format!("acct-{who}"));
        self.ok(
            who,
            Command::Authenticate {
                username: name.into(),
                client,
            },
        );
    }

    /// `who` joins `room` with an invite secret and relations.
    pub fn join_with(
        &mut self,
        who: &str,
        room: &str,
        invite: Option<&str>,
        relations: crate::Relations,
    ) -> Result<Outcome, RoomError> {
        self.run(
            who,
            Command::JoinRoom {
                room_id: r(room),
                invite: invite.map(str::to_owned),
                relations,
            },
        )
    }

    /// Everything due at the current time.
    pub fn expire(&mut self) -> Outcome {
        let out = self.rooms.expire(self.now);
        check_invariants(&self.rooms);
        out
    }

    /// `who` creates room `id` (audio only).
    pub fn create(&mut self, who: &str, id: &str) -> Outcome {
        self.ok(
            who,
            Command::CreateRoom {
                room_id: r(id),
                name: format!("Room {id}"),
                audio_only: true,
                privacy: Default::default(),
            },
        )
    }

    pub fn join(&mut self, who: &str, room: &str) -> Outcome {
        self.ok(
            who,
            Command::JoinRoom {
                room_id: r(room),
                invite: None,
                relations: Default::default(),
            },
        )
    }

    /// Ann owns `r1`; Bob and Cat listen (all with accounts).
    pub fn accounts_room() -> Self {
        let mut w = Self::new();
        for (who, name) in [("a", "Ann"), ("b", "Bob"), ("c", "Cat")] {
            w.sign_in_account(who, name);
        }
        w.create("a", "r1");
        w.join("b", "r1");
        w.join("c", "r1");
        w
    }

    /// `who` raises their hand in `room`, without a reason.
    pub fn raise_hand(&mut self, who: &str, room: &str) -> Outcome {
        self.ok(
            who,
            Command::RaiseHand {
                room_id: r(room),
                raised: true,
                reason: None,
            },
        )
    }

    pub fn promote(&mut self, owner: &str, room: &str, target: &str, promote: bool) -> Outcome {
        self.ok(
            owner,
            Command::PromoteUser {
                room_id: r(room),
                user_id: u(target),
                promote,
            },
        )
    }

    /// Signs in `a` (Ann, owner of `r1`), `b` (Bob) and `c` (Cat), both listeners in `r1`.
    pub fn room_with_two_listeners() -> Self {
        let mut w = Self::new();
        w.sign_in("a", "Ann");
        w.sign_in("b", "Bob");
        w.sign_in("c", "Cat");
        w.create("a", "r1");
        w.join("b", "r1");
        w.join("c", "r1");
        w
    }
}

/// One line per effect, for compact and exact assertions:
/// `"spaces user-left [\"r1\",\"b\"]"`, `"end-view r1 b"`, `"join b room:r1"`, …
pub(crate) fn trace(outcome: &Outcome) -> Vec<String> {
    outcome.effects.iter().map(describe).collect()
}

fn group(g: &Group) -> String {
    match g {
        Group::Spaces => "spaces".into(),
        Group::Room(id) => format!("room:{id}"),
    }
}

fn describe(effect: &Effect) -> String {
    match effect {
        Effect::Join { user, group: g } => format!("join {user} {}", group(g)),
        Effect::Leave { user, group: g } => format!("leave {user} {}", group(g)),
        Effect::Emit { to, event } => {
            let to = match to {
                Audience::Spaces => "spaces".to_owned(),
                Audience::Room(id) => format!("room:{id}"),
                Audience::User(id) => format!("user:{id}"),
                Audience::RoomExcept { room_id, except } => {
                    let except: Vec<&str> = except.iter().map(|u| u.as_str()).collect();
                    format!("room:{room_id}-{}", except.join(","))
                }
            };
            let args = serde_json::Value::Array(event.args());
            format!("{to} {} {args}", event.name())
        }
        Effect::SendPromoted {
            user,
            room_id,
            request,
        } => {
            assert_eq!(&request.stream, room_id);
            assert_eq!(&request.source_id, user);
            format!("promoted {user} {room_id}")
        }
        Effect::Media(MediaAction::EndPublication { room_id, user_id }) => {
            format!("end-publication {room_id} {user_id}")
        }
        Effect::Media(MediaAction::EndView { room_id, user_id }) => {
            format!("end-view {room_id} {user_id}")
        }
        Effect::CloseConnection { conn } => format!("close {conn}"),
    }
}

/// The invariants every reachable state keeps.
pub(crate) fn check_invariants(rooms: &Rooms) {
    // Every state reached is one a successor can restore exactly.
    let restored = Rooms::restore(&rooms.snapshot(), rooms.limits()).expect("own snapshot");
    assert_eq!(&restored, rooms, "snapshot and restore changed the state");
    for room in rooms.rooms() {
        let id = room.id();
        assert!(!room.participants().is_empty(), "{id}: empty room");
        let members: HashSet<&UserId> = room.participants().iter().map(|p| &p.id).collect();
        assert_eq!(
            members.len(),
            room.participants().len(),
            "{id}: duplicate member"
        );
        let speakers: HashSet<&UserId> = room.speakers().iter().map(|s| &s.id).collect();
        assert_eq!(
            speakers.len(),
            room.speakers().len(),
            "{id}: duplicate speaker"
        );
        assert!(
            speakers.is_subset(&members),
            "{id}: speakers ⊄ participants"
        );
        assert!(members.contains(room.owner_id()), "{id}: owner absent");
        assert!(
            !room.recording() || room.recordable(),
            "{id}: recording without its host owning it"
        );
        assert!(
            speakers.contains(room.owner_id()),
            "{id}: owner not a speaker"
        );
        for p in room.participants() {
            let user = rooms.user(&p.id).expect("every member is signed in");
            assert_eq!(user.username, p.username);
            assert!(
                rooms.rooms_of(&p.id).contains(id),
                "{id}: not in user's list"
            );
            if speakers.contains(&p.id) {
                assert!(!p.raised_hand, "{id}: speaker with a raised hand");
                assert!(!p.invited, "{id}: invited speaker");
            } else {
                assert!(!p.muted, "{id}: muted listener");
                assert!(!p.mic_unavailable, "{id}: listener without a mic");
                assert!(!p.moderator, "{id}: moderator off stage");
            }
            assert!(
                p.hand_reason.is_none() || p.raised_hand,
                "{id}: a reason without a raised hand"
            );
        }
    }
    let [folded, shapes] = rooms.username_indexes();
    let signed_in: Vec<_> = rooms.users_iter().collect();
    let limits = rooms.limits();
    for (i, &(user, joined)) in signed_in.iter().enumerate() {
        let keys = username_keys(&user.username);
        for (other, _) in &signed_in[i + 1..] {
            assert!(
                !keys.clash(&username_keys(&other.username)),
                "look-alike usernames {} and {}",
                user.username,
                other.username
            );
        }
        assert_eq!(folded.get(&keys.folded), Some(&user.id));
        assert_eq!(shapes.get(&keys.shape), Some(&user.id));
        let unique: HashSet<&RoomId> = joined.iter().collect();
        assert_eq!(
            unique.len(),
            joined.len(),
            "room listed twice for {}",
            user.id
        );
        assert!(
            joined.len() <= limits.max_joined_rooms,
            "over the joined quota"
        );
        for room_id in joined {
            let room = rooms.room(room_id).expect("user lists a deleted room");
            assert!(room.is_member(&user.id));
        }
    }
    // Connections and users map to each other one to one; away users have none.
    for (user, _) in &signed_in {
        if let Some(conn) = rooms.conn_of(&user.id) {
            assert_eq!(rooms.user_on(conn).map(|u| &u.id), Some(&user.id));
            assert!(!rooms.is_away(&user.id), "away with a connection");
        } else {
            assert!(rooms.is_away(&user.id), "no connection but not away");
        }
    }
    // Secrets find signed-in users only, at most two each (current and last presented).
    let mut per_user: std::collections::HashMap<&UserId, usize> = Default::default();
    for user in rooms.secrets.values() {
        assert!(rooms.user(user).is_some(), "a secret of a signed-out user");
        *per_user.entry(user).or_default() += 1;
    }
    assert!(per_user.values().all(|&n| n <= 2), "secrets pile up");
    assert_eq!(folded.len(), rooms.user_count());
    assert_eq!(shapes.len(), rooms.user_count());
    let live = rooms.live_rooms();
    let public = rooms.rooms().filter(|r| r.privacy().is_public()).count();
    assert_eq!(
        live.len(),
        public,
        "every public room listed, no private one"
    );
    assert!(
        live.len() <= limits.max_live_rooms,
        "over the live rooms quota"
    );
    for pair in live.windows(2) {
        let size = |l: &crate::LiveRoom| l.speaker_count + l.audience_count;
        assert!(size(&pair[0]) >= size(&pair[1]), "live rooms out of order");
    }
    // A page is a prefix of the whole list, whatever its length.
    for limit in [0, 1, 2, live.len() / 2, live.len(), live.len() + 1] {
        let page = rooms.live_rooms_page(limit);
        assert_eq!(page, live[..limit.min(live.len())], "page of {limit}");
    }
}
