//! Web Push subscriptions: where to send an account's notifications when its app is closed
//! (one per browser that turned them on). The server encrypts each message to the
//! subscription's keys; the store only keeps them.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::AccountStore;

/// Most subscriptions one account keeps: a new one beyond replaces the oldest.
pub const MAX_PUSH_SUBSCRIPTIONS: usize = 10;
/// Longest endpoint URL stored.
const MAX_ENDPOINT_BYTES: usize = 1024;

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// The browser's P-256 public key (base64url, uncompressed point).
    pub p256dh: String,
    /// The browser's 16-byte authentication secret (base64url).
    pub auth: String,
}

/// Storage of push subscriptions (the SQLite store implements it; so can a server database).
pub trait PushStore: Send + Sync {
    /// Keeps `subscription` for `account` (moving it there if another account had it), and
    /// drops the account's oldest beyond [`MAX_PUSH_SUBSCRIPTIONS`].
    fn add_push(&self, account: &str, subscription: &PushSubscription, now: u64) -> Result<()>;
    /// Forgets `endpoint` of `account`; `false` if it had no such subscription.
    fn remove_push(&self, account: &str, endpoint: &str) -> Result<bool>;
    /// Forgets `endpoint` whoever had it (the push service said it is gone).
    fn drop_push_endpoint(&self, endpoint: &str) -> Result<()>;
    /// The subscriptions of `account`, oldest first.
    fn pushes_of(&self, account: &str) -> Result<Vec<PushSubscription>>;
}

impl PushStore for AccountStore {
    fn add_push(&self, account: &str, sub: &PushSubscription, now: u64) -> Result<()> {
        if sub.endpoint.len() > MAX_ENDPOINT_BYTES || sub.p256dh.len() > 128 || sub.auth.len() > 64
        {
            return Err(Error::Invalid("That push subscription is too long".into()));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO push_subscriptions (endpoint, account_id, p256dh, auth, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (endpoint) DO UPDATE SET account_id = ?2, p256dh = ?3, auth = ?4, \
             created_at = ?5",
            params![sub.endpoint, account, sub.p256dh, sub.auth, now as i64],
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => Error::NoSuchAccount,
            _ => e.into(),
        })?;
        tx.execute(
            "DELETE FROM push_subscriptions WHERE account_id = ?1 AND endpoint NOT IN \
             (SELECT endpoint FROM push_subscriptions WHERE account_id = ?1 \
              ORDER BY created_at DESC, rowid DESC LIMIT ?2)",
            params![account, MAX_PUSH_SUBSCRIPTIONS as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn remove_push(&self, account: &str, endpoint: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM push_subscriptions WHERE account_id = ?1 AND endpoint = ?2",
            params![account, endpoint],
        )? > 0)
    }

    fn drop_push_endpoint(&self, endpoint: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM push_subscriptions WHERE endpoint = ?1",
            params![endpoint],
        )?;
        Ok(())
    }

    fn pushes_of(&self, account: &str) -> Result<Vec<PushSubscription>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE account_id = ?1 \
             ORDER BY created_at, rowid",
        )?;
        let rows = stmt.query_map(params![account], |row| {
            Ok(PushSubscription {
                endpoint: row.get(0)?,
                p256dh: row.get(1)?,
                auth: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
