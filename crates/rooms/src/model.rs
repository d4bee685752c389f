//! The data model: users, participants and rooms, serialised exactly like the demo's JSON.

use crate::ids::{RoomId, UserId};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeSet, VecDeque};

/// An authenticated user: `{id, username}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The connection id (also the user's `sourceId`).
    pub id: UserId,
    /// The validated display name (NFKC), unique among connected users up to case and
    /// look-alike characters (see [`normalize_username`](crate::normalize_username)).
    pub username: String,
    /// The account the user signed in with (`accountId`, absent for a guest).
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// A member of a room: `{id, username, muted, raisedHand, invited, micUnavailable}`.
///
/// The demo leaves `muted`/`raisedHand` out until they are first set; Podium always sends both
/// as booleans, which every consumer of the optional fields reads the same way. `invited` and
/// `micUnavailable` are Podium's; the demo's app ignores them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// The member's user id.
    pub id: UserId,
    /// The member's username (copied at join time; usernames never change).
    pub username: String,
    /// Whether this speaker's microphone is muted. Always `false` for the audience.
    pub muted: bool,
    /// Whether this audience member asks to speak. Always `false` for speakers.
    pub raised_hand: bool,
    /// Whether the owner invited this audience member to speak and they have not answered
    /// yet. Always `false` for speakers.
    pub invited: bool,
    /// Whether this speaker's microphone is unavailable (permission denied, device failed),
    /// as their client reported. Always `false` for the audience.
    pub mic_unavailable: bool,
    /// The member's account (absent for a guest).
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Whether this speaker moderates the room (a co-host the owner or a moderator named).
    /// Always `false` for the audience; the owner moderates without the flag.
    #[serde(default)]
    pub moderator: bool,
    /// Whether a moderator stopped this member's chat messages.
    #[serde(default)]
    pub chat_muted: bool,
    /// Why this listener raised their hand, if they said (only while the hand is raised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hand_reason: Option<String>,
}

/// Who may find and enter a room.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Privacy {
    /// Listed to everyone; anyone may join.
    #[default]
    Public,
    /// Listed to, and joinable by, the followers of the account that opened it (and with its
    /// link).
    Followers,
    /// Unlisted; joinable only with the link's secret.
    Invite {
        /// The secret the link carries (minted by the shell, 128 random bits or more).
        secret: String,
    },
}

impl Privacy {
    /// Whether everyone sees the room and its events.
    pub fn is_public(&self) -> bool {
        matches!(self, Self::Public)
    }

    /// The name clients see: `public`, `followers` or `invite`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Followers => "followers",
            Self::Invite { .. } => "invite",
        }
    }
}

/// One chat message, as clients get it: `{id, userId, username, text, at}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// Its number in the room (1, 2, …), what `delete-message` names.
    pub id: u64,
    /// The author.
    pub user_id: UserId,
    /// The author's username when they wrote it.
    pub username: String,
    /// The author's account, if any (for blocks).
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The text as written (validated, never HTML: clients show it as text).
    pub text: String,
    /// When it was sent, in the caller's `now` unit.
    pub at: u64,
}

/// One seat on the stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Speaker {
    /// The speaker's user id.
    pub id: UserId,
    /// When they (last) became a speaker, in the caller's `now` unit.
    pub since_ms: u64,
}

/// A room. It serialises to the demo's JSON:
/// `{id, name, ownerId, audioOnly, participants:[{id, username, muted, raisedHand}], speakers:[userId…]}`.
///
/// Participants are listed in join order; speakers in the order they took the stage, so the
/// first speaker after the owner is the longest-standing one (see ownership hand-over in the
/// crate docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    id: RoomId,
    name: String,
    owner_id: UserId,
    audio_only: bool,
    participants: Vec<Participant>,
    /// Stage order: the longest-standing speaker first. The owner is always among them.
    speakers: Vec<Speaker>,
    created_at_ms: u64,
    /// Creation order, used to list the newest rooms first regardless of clock steps.
    seq: u64,
    /// Who the owner removed: user ids and folded username keys, refused for the room's
    /// lifetime.
    banned_ids: BTreeSet<UserId>,
    banned_names: BTreeSet<String>,
    /// Watch party: the stream everyone in the room watches while it talks (attached by the
    /// owner).
    content: Option<String>,
    /// When the latest joins happened (at most [`RECENT_JOINS_KEPT`]), for ranking by activity.
    recent_joins: std::collections::VecDeque<u64>,
    /// Who may find and enter it.
    privacy: Privacy,
    /// The account that opened it (followers-only rooms are for its followers).
    host_account: Option<String>,
    /// Accounts removed for good: they cannot come back under another name.
    banned_accounts: BTreeSet<String>,
    /// The latest chat messages (at most [`CHAT_KEPT`]), for members who join later.
    chat: VecDeque<ChatMessage>,
    /// The last chat message number handed out.
    last_message: u64,
    /// Being recorded for a replay (everyone in the room is told).
    recording: bool,
}

/// How many chat messages a room keeps for members who join later.
pub const CHAT_KEPT: usize = 50;

/// How many join times a room keeps.
pub const RECENT_JOINS_KEPT: usize = 32;

impl Room {
    /// A new room with its creator as the only participant and speaker.
    pub(crate) fn new(
        id: RoomId,
        name: String,
        owner: &User,
        audio_only: bool,
        now_ms: u64,
        seq: u64,
    ) -> Self {
        let mut room = Self {
            id,
            name,
            owner_id: owner.id.clone(),
            audio_only,
            participants: Vec::new(),
            speakers: Vec::new(),
            created_at_ms: now_ms,
            seq,
            banned_ids: BTreeSet::new(),
            banned_names: BTreeSet::new(),
            content: None,
            recent_joins: VecDeque::new(),
            privacy: Privacy::Public,
            host_account: owner.account.clone(),
            banned_accounts: BTreeSet::new(),
            chat: VecDeque::new(),
            last_message: 0,
            recording: false,
        };
        room.add_participant(owner);
        room.add_speaker(&owner.id, now_ms);
        room
    }

    /// The room id (also the stream name).
    pub fn id(&self) -> &RoomId {
        &self.id
    }

    /// The room's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current owner: always a participant and a speaker.
    pub fn owner_id(&self) -> &UserId {
        &self.owner_id
    }

    /// Whether the room is audio only (otherwise the owner also publishes video).
    pub fn audio_only(&self) -> bool {
        self.audio_only
    }

    /// The watch-party stream, if the owner attached one.
    pub fn content(&self) -> Option<&str> {
        self.content.as_deref()
    }

    pub(crate) fn set_content(&mut self, stream: Option<String>) {
        self.content = stream;
    }

    /// When the room was created, in the caller's `now` unit.
    pub fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    /// Members in join order.
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }

    /// One member, if `user` is in the room.
    pub fn participant(&self, user: &UserId) -> Option<&Participant> {
        self.participants.iter().find(|p| &p.id == user)
    }

    /// Whether `user` is in the room.
    pub fn is_member(&self, user: &UserId) -> bool {
        self.participant(user).is_some()
    }

    /// The stage, longest-standing speaker first.
    pub fn speakers(&self) -> &[Speaker] {
        &self.speakers
    }

    /// Whether `user` is on the stage.
    pub fn is_speaker(&self, user: &UserId) -> bool {
        self.speakers.iter().any(|s| &s.id == user)
    }

    /// Number of speakers.
    pub fn speaker_count(&self) -> usize {
        self.speakers.len()
    }

    /// Number of listeners (participants who are not speakers).
    pub fn audience_count(&self) -> usize {
        self.participants.len() - self.speakers.len()
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn participant_mut(&mut self, user: &UserId) -> Option<&mut Participant> {
        self.participants.iter_mut().find(|p| &p.id == user)
    }

    /// How many joined since `since_ms` (counting at most the last [`RECENT_JOINS_KEPT`]).
    pub fn joins_since(&self, since_ms: u64) -> usize {
        self.recent_joins.iter().filter(|&&t| t >= since_ms).count()
    }

    pub(crate) fn record_join(&mut self, now_ms: u64) {
        if self.recent_joins.len() == RECENT_JOINS_KEPT {
            self.recent_joins.pop_front();
        }
        self.recent_joins.push_back(now_ms);
    }

    pub(crate) fn add_participant(&mut self, user: &User) {
        self.participants.push(Participant {
            id: user.id.clone(),
            username: user.username.clone(),
            muted: false,
            raised_hand: false,
            invited: false,
            mic_unavailable: false,
            account: user.account.clone(),
            moderator: false,
            chat_muted: false,
            hand_reason: None,
        });
    }

    /// Removes a member (and their seat on the stage). Returns whether they were a speaker.
    pub(crate) fn remove_participant(&mut self, user: &UserId) -> bool {
        self.participants.retain(|p| &p.id != user);
        self.remove_speaker(user)
    }

    /// Puts a member on the stage (at its end) with a fresh mic state and no raised hand.
    pub(crate) fn add_speaker(&mut self, user: &UserId, now_ms: u64) {
        if let Some(p) = self.participant_mut(user) {
            p.muted = false;
            p.raised_hand = false;
            p.invited = false;
            p.mic_unavailable = false;
            p.hand_reason = None;
        }
        self.speakers.push(Speaker {
            id: user.clone(),
            since_ms: now_ms,
        });
    }

    /// Takes a member off the stage. Returns whether they were on it.
    pub(crate) fn remove_speaker(&mut self, user: &UserId) -> bool {
        let before = self.speakers.len();
        self.speakers.retain(|s| &s.id != user);
        if let Some(p) = self.participant_mut(user) {
            p.muted = false;
            p.mic_unavailable = false;
            // Moderators are on stage: stepping down ends the role.
            p.moderator = false;
        }
        self.speakers.len() != before
    }

    pub(crate) fn set_owner(&mut self, user: UserId) {
        self.owner_id = user;
    }

    /// Refuses a user, by id, by folded username and by account, for the room's lifetime.
    pub(crate) fn ban(&mut self, user: &UserId, folded_name: &str, account: Option<&str>) {
        self.banned_ids.insert(user.clone());
        self.banned_names.insert(folded_name.to_owned());
        if let Some(account) = account {
            self.banned_accounts.insert(account.to_owned());
        }
    }

    /// Whether the user, anyone under a name that looks like theirs, or their account was
    /// removed.
    pub(crate) fn is_banned(
        &self,
        user: &UserId,
        folded_name: &str,
        account: Option<&str>,
    ) -> bool {
        self.banned_ids.contains(user)
            || self.banned_names.contains(folded_name)
            || account.is_some_and(|a| self.banned_accounts.contains(a))
    }

    /// Who may find and enter the room.
    pub fn privacy(&self) -> &Privacy {
        &self.privacy
    }

    pub(crate) fn set_privacy(&mut self, privacy: Privacy) {
        self.privacy = privacy;
    }

    /// The account that opened the room, if its creator had one.
    pub fn host_account(&self) -> Option<&str> {
        self.host_account.as_deref()
    }

    /// Whether the room is being recorded for a replay.
    pub fn recording(&self) -> bool {
        self.recording
    }

    pub(crate) fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// Whether the room may be recorded: its owner is the account that opened it (the
    /// replay goes on that account's profile).
    pub fn recordable(&self) -> bool {
        self.host_account.is_some()
            && self
                .participant(&self.owner_id)
                .and_then(|p| p.account.as_deref())
                == self.host_account.as_deref()
    }

    /// Whether `user` may moderate: the owner, or a speaker made moderator.
    pub fn is_moderator(&self, user: &UserId) -> bool {
        &self.owner_id == user || self.participant(user).is_some_and(|p| p.moderator)
    }

    /// Who hears of changes to the room: everyone for a public room, only its members
    /// otherwise (a private room is not announced).
    pub(crate) fn audience(&self) -> crate::effect::Audience {
        if self.privacy.is_public() {
            crate::effect::Audience::Spaces
        } else {
            crate::effect::Audience::Room(self.id.clone())
        }
    }

    /// The kept chat messages, oldest first.
    pub fn chat(&self) -> impl Iterator<Item = &ChatMessage> {
        self.chat.iter()
    }

    /// Keeps a new message (numbered here) and returns it.
    pub(crate) fn add_message(&mut self, mut message: ChatMessage) -> ChatMessage {
        self.last_message += 1;
        message.id = self.last_message;
        if self.chat.len() == CHAT_KEPT {
            self.chat.pop_front();
        }
        self.chat.push_back(message.clone());
        message
    }

    /// Forgets a kept message; returns whether it was kept.
    pub(crate) fn remove_message(&mut self, id: u64) -> bool {
        let before = self.chat.len();
        self.chat.retain(|m| m.id != id);
        self.chat.len() != before
    }

    /// A kept message.
    pub fn message(&self, id: u64) -> Option<&ChatMessage> {
        self.chat.iter().find(|m| m.id == id)
    }
}

/// A room as the state snapshot stores it: every field, unlike the wire JSON (serde's
/// remote derive over [`Room`]'s private fields).
#[derive(Serialize, Deserialize)]
#[serde(remote = "Room", rename_all = "camelCase")]
pub(crate) struct RoomRecord {
    id: RoomId,
    name: String,
    owner_id: UserId,
    audio_only: bool,
    participants: Vec<Participant>,
    speakers: Vec<Speaker>,
    created_at_ms: u64,
    seq: u64,
    banned_ids: BTreeSet<UserId>,
    banned_names: BTreeSet<String>,
    content: Option<String>,
    recent_joins: VecDeque<u64>,
    #[serde(default)]
    privacy: Privacy,
    #[serde(default)]
    host_account: Option<String>,
    #[serde(default)]
    banned_accounts: BTreeSet<String>,
    #[serde(default)]
    chat: VecDeque<ChatMessage>,
    #[serde(default)]
    last_message: u64,
    #[serde(default)]
    recording: bool,
}

impl Serialize for Room {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct SpeakerIds<'a>(&'a [Speaker]);
        impl Serialize for SpeakerIds<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(|s| &s.id))
            }
        }
        let private = !self.privacy.is_public();
        let fields = 6
            + usize::from(self.content.is_some())
            + usize::from(self.recording)
            + 2 * usize::from(private);
        let mut room = serializer.serialize_struct("Room", fields)?;
        room.serialize_field("id", &self.id)?;
        room.serialize_field("name", &self.name)?;
        room.serialize_field("ownerId", &self.owner_id)?;
        room.serialize_field("audioOnly", &self.audio_only)?;
        room.serialize_field("participants", &self.participants)?;
        room.serialize_field("speakers", &SpeakerIds(&self.speakers))?;
        // Only when set: the demo's clients see the shape they know.
        if let Some(content) = &self.content {
            room.serialize_field("content", content)?;
        }
        // Whoever joins, or looks at the lobby, sees that it is being recorded.
        if self.recording {
            room.serialize_field("recording", &true)?;
        }
        // Only private rooms' JSON says so, and only members get it: the link's secret is
        // theirs to share.
        if private {
            room.serialize_field("privacy", self.privacy.name())?;
            let secret = match &self.privacy {
                Privacy::Invite { secret } => Some(secret),
                _ => None,
            };
            room.serialize_field("inviteSecret", &secret)?;
        }
        room.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn room_serialises_to_the_demo_shape() {
        let owner = User {
            id: "s1".into(),
            username: "Ann".into(),
            account: None,
        };
        let bob = User {
            id: "s2".into(),
            username: "Bob".into(),
            account: None,
        };
        let mut room = Room::new("r1".into(), "Chat".into(), &owner, true, 5, 0);
        room.add_participant(&bob);
        room.participant_mut(&bob.id).unwrap().raised_hand = true;
        assert_eq!(
            serde_json::to_value(&room).unwrap(),
            json!({
                "id": "r1",
                "name": "Chat",
                "ownerId": "s1",
                "audioOnly": true,
                "participants": [
                    {"id": "s1", "username": "Ann", "muted": false, "raisedHand": false,
                     "invited": false, "micUnavailable": false, "moderator": false,
                     "chatMuted": false},
                    {"id": "s2", "username": "Bob", "muted": false, "raisedHand": true,
                     "invited": false, "micUnavailable": false, "moderator": false,
                     "chatMuted": false}
                ],
                "speakers": ["s1"]
            })
        );
        assert_eq!(room.speaker_count(), 1);
        assert_eq!(room.audience_count(), 1);
    }

    #[test]
    fn user_serialises_to_id_and_username() {
        let user = User {
            id: "s1".into(),
            username: "Ann".into(),
            account: None,
        };
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            json!({"id": "s1", "username": "Ann"})
        );
    }
}
