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

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantKind {
    /// Publish as the member's own source.
    Publish,
    /// View the room.
    View,
}

/// Prefix of the `token_id` of every JWT minted by the rooms server.
const TOKEN_PREFIX: &str = "rooms:";

/// The registry; cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct RoomGrants {
    inner: Mutex<Inner>,
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
        self.lock().rooms.insert(room.to_owned());
    }

    /// A room is gone; grants of its members are revoked by the membership changes that
    /// closed it.
    pub fn close_room(&self, room: &str) {
        self.lock().rooms.remove(room);
    }

    /// Whether `stream` is a live room's stream.
    pub fn is_room(&self, stream: &str) -> bool {
        self.lock().rooms.contains(stream)
    }

    /// The `token_id` to put in a JWT for `user` in `room`: the member's grant of that
    /// kind, created on first use.
    pub fn grant(&self, room: &str, user: &str, kind: GrantKind) -> String {
        let mut inner = self.lock();
        let key = (room.to_owned(), user.to_owned(), kind);
        if let Some(id) = inner.by_member.get(&key) {
            return token_id(id);
        }
        let id = new_grant_id();
        inner.live.insert(id.clone());
        inner.by_member.insert(key, id.clone());
        token_id(&id)
    }

    /// Revokes a member's grant; returns the `token_id` whose sessions must end.
    pub fn revoke(&self, room: &str, user: &str, kind: GrantKind) -> Option<String> {
        let mut inner = self.lock();
        let id = inner
            .by_member
            .remove(&(room.to_owned(), user.to_owned(), kind))?;
        inner.live.remove(&id);
        Some(token_id(&id))
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
}
