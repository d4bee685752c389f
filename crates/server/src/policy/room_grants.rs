//! The rooms server's media grants: which streams are rooms, and which of the grants it gave
//! members are still in force.
//!
//! A room's stream is private: only the rooms server mints its JWTs, and each one names the
//! grant it was minted under in its `token_id` (`rooms:<grant>`). A grant belongs to one
//! (room, user, publish-or-view) and lives exactly as long as the membership that justified
//! it: demote, kick, leave or disconnect revoke it, which both ends the sessions opened with
//! any of its JWTs and refuses every JWT of it not used yet. Each `join-room` mints a fresh
//! JWT under the same grant, so memory is bounded by memberships, not by requests.
//!
//! Rejected: keeping every minted JWT id per member to ban them later (grew without bound
//! under a `join-room` loop), and ending publications by the `sourceId` a client claimed
//! (a client may claim another one).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GrantKind {
    /// Publish as the member's own source.
    Publish,
    /// View the room.
    View,
}

/// One change to the registry. The rooms server's authority decides them; in a cluster the
/// same operations, in the same order, are applied by every node (whose Director and
/// signaling check the grants of members it may never have seen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum GrantOp {
    /// A room's stream exists from now on.
    OpenRoom { room: String },
    /// A room is gone (its members' grants are revoked by the membership changes that closed
    /// it).
    CloseRoom { room: String },
    /// A member's grant `id` is in force.
    Grant {
        room: String,
        user: String,
        kind: GrantKind,
        id: String,
    },
    /// A member's grant of that kind is revoked.
    Revoke {
        room: String,
        user: String,
        kind: GrantKind,
    },
}

/// Prefix of the `token_id` of every JWT minted by the rooms server.
const TOKEN_PREFIX: &str = "rooms:";

/// The registry; cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct RoomGrants {
    inner: Mutex<Inner>,
}

/// The registry's content: what [`RoomGrants::export`] hands a successor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantsRecord {
    rooms: HashSet<String>,
    /// Each member's grant per kind.
    members: Vec<(String, String, GrantKind, String)>,
}

impl GrantsRecord {
    /// A record of open rooms and members' grants `(room, user, kind, grant id)`.
    pub fn from_parts(
        rooms: HashSet<String>,
        members: Vec<(String, String, GrantKind, String)>,
    ) -> Self {
        Self { rooms, members }
    }

    /// The open rooms and the members' grants.
    #[allow(clippy::type_complexity)]
    pub fn parts(&self) -> (&HashSet<String>, &[(String, String, GrantKind, String)]) {
        (&self.rooms, &self.members)
    }
}

#[derive(Debug, Default)]
struct Inner {
    rooms: HashSet<String>,
    by_member: HashMap<(String, String, GrantKind), String>,
    live: HashSet<String>,
}

impl RoomGrants {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A room's stream exists from now on.
    pub fn open_room(&self, room: &str) {
        self.apply(&GrantOp::OpenRoom { room: room.into() });
    }

    /// A room is gone; grants of its members are revoked by the membership changes that
    /// closed it.
    pub fn close_room(&self, room: &str) {
        self.apply(&GrantOp::CloseRoom { room: room.into() });
    }

    /// Whether `stream` is a live room's stream.
    pub fn is_room(&self, stream: &str) -> bool {
        self.lock().rooms.contains(stream)
    }

    /// The `token_id` to put in a JWT for `user` in `room`: the member's grant of that
    /// kind, created on first use.
    pub fn grant(&self, room: &str, user: &str, kind: GrantKind) -> String {
        self.grant_op(room, user, kind).0
    }

    /// Like [`RoomGrants::grant`], also returning the operation that created the grant
    /// (`None`: it existed).
    pub fn grant_op(&self, room: &str, user: &str, kind: GrantKind) -> (String, Option<GrantOp>) {
        if let Some(id) = self.token_of(room, user, kind) {
            return (id, None);
        }
        let id = new_grant_id();
        let op = GrantOp::Grant {
            room: room.into(),
            user: user.into(),
            kind,
            id: id.clone(),
        };
        self.apply(&op);
        (token_id(&id), Some(op))
    }

    /// The `token_id` of a member's grant in force, if any.
    pub fn token_of(&self, room: &str, user: &str, kind: GrantKind) -> Option<String> {
        let inner = self.lock();
        let id = inner
            .by_member
            .get(&(room.to_owned(), user.to_owned(), kind))?;
        Some(token_id(id))
    }

    /// Revokes a member's grant; returns the `token_id` whose sessions must end.
    pub fn revoke(&self, room: &str, user: &str, kind: GrantKind) -> Option<String> {
        self.apply(&GrantOp::Revoke {
            room: room.into(),
            user: user.into(),
            kind,
        })
    }

    /// Applies one operation; for a revocation, returns the `token_id` it ended (`None`:
    /// there was no such grant).
    pub fn apply(&self, op: &GrantOp) -> Option<String> {
        let mut inner = self.lock();
        match op {
            GrantOp::OpenRoom { room } => {
                inner.rooms.insert(room.clone());
            }
            GrantOp::CloseRoom { room } => {
                inner.rooms.remove(room);
            }
            GrantOp::Grant {
                room,
                user,
                kind,
                id,
            } => {
                let key = (room.clone(), user.clone(), *kind);
                if let Some(old) = inner.by_member.insert(key, id.clone()) {
                    inner.live.remove(&old);
                }
                inner.live.insert(id.clone());
            }
            GrantOp::Revoke { room, user, kind } => {
                let id = inner
                    .by_member
                    .remove(&(room.clone(), user.clone(), *kind))?;
                inner.live.remove(&id);
                return Some(token_id(&id));
            }
        }
        None
    }

    /// Everything in force, for a process that takes over.
    pub fn export(&self) -> GrantsRecord {
        let inner = self.lock();
        let mut members: Vec<_> = inner
            .by_member
            .iter()
            .map(|((room, user, kind), id)| (room.clone(), user.clone(), *kind, id.clone()))
            .collect();
        // In a stable order, so two equal registries export equal records.
        members.sort_by(|a, b| (&a.0, &a.1, &a.3).cmp(&(&b.0, &b.1, &b.3)));
        GrantsRecord {
            rooms: inner.rooms.clone(),
            members,
        }
    }

    /// Replaces everything with `record`; returns the `token_id`s of the grants that were in
    /// force and are no longer (their sessions must end).
    pub fn replace(&self, record: GrantsRecord) -> Vec<String> {
        let mut inner = self.lock();
        let kept: HashSet<&str> = record.members.iter().map(|m| m.3.as_str()).collect();
        let ended = inner
            .live
            .iter()
            .filter(|id| !kept.contains(id.as_str()))
            .map(|id| token_id(id))
            .collect();
        inner.rooms = record.rooms;
        inner.live = record.members.iter().map(|m| m.3.clone()).collect();
        inner.by_member = record
            .members
            .into_iter()
            .map(|(room, user, kind, id)| ((room, user, kind), id))
            .collect();
        ended
    }

    /// Whether `token_id` was minted by the rooms server.
    pub fn is_rooms_token(token_id: &str) -> bool {
        token_id.starts_with(TOKEN_PREFIX)
    }

    /// Whether a rooms `token_id` still names a grant in force.
    pub fn is_live(&self, token_id: &str) -> bool {
        token_id
            .strip_prefix(TOKEN_PREFIX)
            .is_some_and(|id| self.lock().live.contains(id))
    }

    /// Grants in force (for tests and metrics).
    pub fn live_count(&self) -> usize {
        self.lock().live.len()
    }
}

fn token_id(grant: &str) -> String {
    format!("{TOKEN_PREFIX}{grant}")
}

fn new_grant_id() -> String {
    let mut b = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_reused_per_member_and_dies_with_its_revocation() {
        let g = RoomGrants::default();
        let a = g.grant("room", "ann", GrantKind::Publish);
        assert_eq!(
            g.grant("room", "ann", GrantKind::Publish),
            a,
            "one per member"
        );
        let v = g.grant("room", "ann", GrantKind::View);
        assert_ne!(a, v, "publish and view are apart");
        assert!(RoomGrants::is_rooms_token(&a) && g.is_live(&a) && g.is_live(&v));
        assert_eq!(g.revoke("room", "ann", GrantKind::Publish), Some(a.clone()));
        assert!(!g.is_live(&a) && g.is_live(&v));
        assert_eq!(g.revoke("room", "ann", GrantKind::Publish), None);
        let b = g.grant("room", "ann", GrantKind::Publish);
        assert_ne!(a, b, "a new membership gets a new grant");
        assert!(!g.is_live("bootstrap") && !g.is_live("rooms:"));
        assert_eq!(g.live_count(), 2);
    }

    #[test]
    fn rooms_open_and_close() {
        let g = RoomGrants::default();
        g.open_room("r1");
        assert!(g.is_room("r1") && !g.is_room("r2"));
        g.close_room("r1");
        assert!(!g.is_room("r1"));
    }

    #[test]
    fn operations_replayed_elsewhere_give_the_same_registry() {
        let authority = RoomGrants::default();
        let replica = RoomGrants::default();
        let mut ops = vec![GrantOp::OpenRoom { room: "r".into() }];
        authority.apply(&ops[0]);
        let (view, op) = authority.grant_op("r", "ann", GrantKind::View);
        ops.extend(op);
        assert_eq!(
            authority.grant_op("r", "ann", GrantKind::View),
            (view.clone(), None)
        );
        let (publish, op) = authority.grant_op("r", "ann", GrantKind::Publish);
        ops.extend(op);
        let revoke = GrantOp::Revoke {
            room: "r".into(),
            user: "ann".into(),
            kind: GrantKind::Publish,
        };
        assert_eq!(authority.apply(&revoke), Some(publish.clone()));
        ops.push(revoke);
        for op in &ops {
            replica.apply(op);
        }
        assert!(replica.is_room("r") && replica.is_live(&view) && !replica.is_live(&publish));
        assert_eq!(replica.export(), authority.export());
        let successor = RoomGrants::default();
        assert!(successor.replace(authority.export()).is_empty());
        assert!(successor.is_live(&view) && !successor.is_live(&publish));
        assert_eq!(
            successor.token_of("r", "ann", GrantKind::View),
            Some(view.clone())
        );
        assert_eq!(
            successor.replace(GrantsRecord::default()),
            vec![view],
            "a reload that drops a grant says so"
        );
    }
}
