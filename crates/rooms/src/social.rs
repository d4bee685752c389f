//! Who may enter a room: privacy (public, followers-only, invite-only), bans, and blocks
//! between accounts. The domain stores no social graph: the shell reads a user's
//! [`Relations`] from the accounts store when a command needs them and passes them in.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::error::RoomError;
use crate::model::{Privacy, Room, User};

/// What the accounts store says about a signed-in user (a guest has none), read fresh for
/// the command that carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relations {
    /// Accounts this user follows.
    #[serde(default)]
    pub follows: BTreeSet<String>,
    /// Accounts that blocked this user.
    #[serde(default)]
    pub blocked_by: BTreeSet<String>,
    /// Accounts this user blocked.
    #[serde(default)]
    pub blocks: BTreeSet<String>,
}

impl Relations {
    /// Whether this user and `account` are in a block, either way: they do not see each
    /// other's chat.
    pub fn avoids(&self, account: &str) -> bool {
        self.blocks.contains(account) || self.blocked_by.contains(account)
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether `user` (not yet a member) may enter `room`: not banned (by id, look-alike name or
/// account), not blocked by its host, and allowed by its privacy.
pub(crate) fn check_entry(
    room: &Room,
    user: &User,
    folded_name: &str,
    invite: Option<&str>,
    relations: &Relations,
) -> Result<(), RoomError> {
    let account = user.account.as_deref();
    if room.is_banned(&user.id, folded_name, account) {
        return Err(RoomError::Banned);
    }
    if host_blocked(room, relations) {
        return Err(RoomError::BlockedByHost);
    }
    let invited = |secret: &str| invite.is_some_and(|given| same_secret(given, secret));
    match room.privacy() {
        Privacy::Public => Ok(()),
        Privacy::Invite { secret } if invited(secret) => Ok(()),
        Privacy::Invite { .. } => Err(RoomError::InviteRequired),
        Privacy::Followers => {
            let host = room.host_account();
            // Only an account follows anyone (a guest's relations, if any, mean nothing).
            let follows = host
                .zip(account)
                .is_some_and(|(h, me)| me == h || relations.follows.contains(h));
            if follows {
                Ok(())
            } else {
                Err(RoomError::FollowersOnly)
            }
        }
    }
}

/// Whether the room's owner or the account that opened it blocked the user.
pub(crate) fn host_blocked(room: &Room, relations: &Relations) -> bool {
    let owner_account = room
        .participant(room.owner_id())
        .and_then(|p| p.account.as_deref());
    [owner_account, room.host_account()]
        .iter()
        .flatten()
        .any(|host| relations.blocked_by.contains(*host))
}

/// Whether a viewer (their account and whom they follow) may see the room listed.
pub(crate) fn listed_to(
    room: &Room,
    account: Option<&str>,
    follows: &dyn Fn(&str) -> bool,
) -> bool {
    match room.privacy() {
        Privacy::Public => true,
        Privacy::Invite { .. } => false,
        Privacy::Followers => room
            .host_account()
            .is_some_and(|h| account == Some(h) || follows(h)),
    }
}

/// A rate limit as a virtual schedule (GCRA): each use moves `next` on by `interval_ms`;
/// a use is allowed while `next` is at most `burst` intervals ahead of now. Pure: the
/// caller passes `now`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Budget {
    next: u64,
}

impl Budget {
    /// Takes one use at `now_ms`, or says it is too soon (and changes nothing).
    pub(crate) fn take(&mut self, now_ms: u64, interval_ms: u64, burst: u64) -> bool {
        let next = self.next.max(now_ms);
        if next - now_ms > interval_ms * burst.saturating_sub(1) {
            return false;
        }
        self.next = next + interval_ms;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_allows_a_burst_then_one_per_interval() {
        let mut b = Budget::default();
        let now = 10_000;
        for _ in 0..5 {
            assert!(b.take(now, 1_000, 5));
        }
        assert!(!b.take(now, 1_000, 5));
        assert!(!b.take(now + 999, 1_000, 5));
        assert!(b.take(now + 1_000, 1_000, 5));
        assert!(!b.take(now + 1_000, 1_000, 5));
        // A quiet while refills the whole burst, no more.
        for _ in 0..5 {
            assert!(b.take(now + 60_000, 1_000, 5));
        }
        assert!(!b.take(now + 60_000, 1_000, 5));
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }
}
