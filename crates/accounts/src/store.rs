//! The SQLite-backed store: one connection behind a mutex (every operation is one short
//! statement or transaction; password hashing happens outside the lock).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::{
    password, schema, Account, Accounts, Avatar, NewSession, ProfileUpdate, Session, MAX_BIO_CHARS,
    MAX_DISPLAY_NAME_CHARS, SESSION_SECONDS,
};

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// A session used after this long since its expiry was set gets a new expiry.
const RENEW_AFTER: u64 = 24 * 3600;
/// Largest avatar stored (the server resizes before; this is the store's own bound).
pub const MAX_AVATAR_BYTES: usize = 256 * 1024;

/// The columns of an [`Account`], from the `accounts` table under alias `a`.
const ACCOUNT: &str = "a.id, a.username, a.display_name, a.bio, \
                       CASE WHEN a.avatar IS NULL THEN 0 ELSE a.avatar_version END, a.created_at";

/// The SQLite store. `Send + Sync`; share it with an `Arc`.
#[derive(Debug)]
pub struct AccountStore {
    conn: Mutex<Connection>,
}

impl AccountStore {
    /// Opens (creating if needed) the database at `path` in WAL mode and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    /// A private in-memory database (tests, throw-away servers).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored password hash and account of a username or its look-alike.
    fn credentials(&self, username: &str) -> Result<Option<(Account, String)>> {
        let Ok(name) = podium_rooms::normalize_username(username) else {
            return Ok(None);
        };
        let keys = podium_rooms::username_keys(&name);
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {ACCOUNT}, a.password_hash FROM accounts a \
                     WHERE a.name_folded = ?1 OR a.name_shape = ?2 LIMIT 1"
                ),
                params![keys.folded, keys.shape],
                |row| Ok((account(row)?, row.get::<_, String>(6)?)),
            )
            .optional()?)
    }

    fn list(&self, sql: &str, id: &str, limit: usize) -> Result<Vec<Account>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![id, limit as i64], account)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn ids(&self, sql: &str, id: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![id], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn account(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        bio: row.get(3)?,
        avatar_version: row.get::<_, i64>(4)? as u64,
        created_at: row.get::<_, i64>(5)? as u64,
    })
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    hex::encode(b)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A display name: trimmed, 1–48 characters, no control or invisible formatting characters.
fn display_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_DISPLAY_NAME_CHARS {
        return Err(Error::Invalid(format!(
            "A display name has 1 to {MAX_DISPLAY_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(Error::Invalid(
            "A display name cannot contain control or invisible characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// A bio: trimmed, at most 280 characters, newlines allowed, other control characters not.
fn bio(raw: &str) -> Result<String> {
    let bio = raw.trim();
    if bio.chars().count() > MAX_BIO_CHARS {
        return Err(Error::Invalid(format!(
            "A bio has at most {MAX_BIO_CHARS} characters"
        )));
    }
    if bio
        .chars()
        .any(|c| (c.is_control() && c != '\n') || is_invisible(c))
    {
        return Err(Error::Invalid(
            "A bio cannot contain control or invisible characters".into(),
        ));
    }
    Ok(bio.to_owned())
}

/// Formatting characters that change how text reads without showing (bidi overrides, zero
/// widths): a display name with them could pass for another.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

impl Accounts for AccountStore {
    fn sign_up(&self, username: &str, password: &str, now: u64) -> Result<Account> {
        let name = podium_rooms::normalize_username(username)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        password::check_strength(password, &name)?;
        let hash = password::hash(password)?;
        let keys = podium_rooms::username_keys(&name);
        let id = format!("u{}", random_hex(8));
        let inserted = self.conn().execute(
            "INSERT INTO accounts (id, username, name_folded, name_shape, display_name, \
             password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?2, ?5, ?6)",
            params![id, name, keys.folded, keys.shape, hash, now as i64],
        );
        match inserted {
            Ok(_) => Ok(Account {
                id,
                display_name: name.clone(),
                username: name,
                bio: String::new(),
                avatar_version: 0,
                created_at: now,
            }),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                Err(Error::UsernameTaken(name))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn sign_in(&self, username: &str, password: &str) -> Result<Account> {
        if password.len() > password::MAX_PASSWORD_BYTES {
            return Err(Error::BadCredentials);
        }
        match self.credentials(username)? {
            Some((account, hash)) if password::verify(password, &hash) => Ok(account),
            Some(_) => Err(Error::BadCredentials),
            None => {
                password::verify_nothing(password);
                Err(Error::BadCredentials)
            }
        }
    }

    fn open_session(&self, account: &str, now: u64) -> Result<NewSession> {
        let token = random_hex(32);
        let csrf = random_hex(32);
        let expires_at = now + SESSION_SECONDS;
        let conn = self.conn();
        // Expired sessions of anyone go when a new one opens: the table stays bounded by the
        // sessions in use.
        conn.execute(
            "DELETE FROM sessions WHERE expires_at <= ?1",
            params![now as i64],
        )?;
        let inserted = conn.execute(
            "INSERT INTO sessions (token_hash, account_id, csrf, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                token_hash(&token),
                account,
                csrf,
                now as i64,
                expires_at as i64
            ],
        );
        match inserted {
            Ok(_) => Ok(NewSession {
                token,
                csrf,
                expires_at,
            }),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                Err(Error::NoSuchAccount)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn session(&self, token: &str, now: u64) -> Result<Option<Session>> {
        let hash = token_hash(token);
        let conn = self.conn();
        let found = conn
            .query_row(
                &format!(
                    "SELECT {ACCOUNT}, s.csrf, s.expires_at FROM sessions s \
                     JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ?1"
                ),
                params![hash],
                |row| {
                    Ok(Session {
                        account: account(row)?,
                        csrf: row.get(6)?,
                        expires_at: row.get::<_, i64>(7)? as u64,
                    })
                },
            )
            .optional()?;
        let Some(mut session) = found else {
            return Ok(None);
        };
        if session.expires_at <= now {
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", params![hash])?;
            return Ok(None);
        }
        if now + SESSION_SECONDS >= session.expires_at + RENEW_AFTER {
            session.expires_at = now + SESSION_SECONDS;
            conn.execute(
                "UPDATE sessions SET expires_at = ?2 WHERE token_hash = ?1",
                params![hash, session.expires_at as i64],
            )?;
        }
        Ok(Some(session))
    }

    fn close_session(&self, token: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            params![token_hash(token)],
        )?;
        Ok(())
    }

    fn close_sessions_of(&self, account: &str) -> Result<usize> {
        Ok(self.conn().execute(
            "DELETE FROM sessions WHERE account_id = ?1",
            params![account],
        )?)
    }

    fn change_password(&self, account: &str, old: &str, new: &str) -> Result<()> {
        let current = self.account(account)?.ok_or(Error::NoSuchAccount)?;
        let stored: String = self.conn().query_row(
            "SELECT password_hash FROM accounts WHERE id = ?1",
            params![account],
            |row| row.get(0),
        )?;
        if !password::verify(old, &stored) {
            return Err(Error::BadCredentials);
        }
        password::check_strength(new, &current.username)?;
        let hash = password::hash(new)?;
        let conn = self.conn();
        conn.execute(
            "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
            params![account, hash],
        )?;
        conn.execute(
            "DELETE FROM sessions WHERE account_id = ?1",
            params![account],
        )?;
        Ok(())
    }

    fn delete_account(&self, id: &str, password: &str) -> Result<Vec<String>> {
        let stored: String = self
            .conn()
            .query_row(
                "SELECT password_hash FROM accounts WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()?
            .ok_or(Error::NoSuchAccount)?;
        // Hashing takes a while: not under the connection's lock.
        if !password::verify(password, &stored) {
            return Err(Error::BadCredentials);
        }
        let mut conn = self.conn();
        // Written from the start: another process sharing the file cannot slip in between the
        // check and the delete.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recording: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM replays WHERE host = ?1 AND ended_ms IS NULL)",
            params![id],
            |row| row.get(0),
        )?;
        if recording {
            return Err(Error::Busy(
                "One of your rooms is being recorded: stop recording first".into(),
            ));
        }
        let files = {
            let mut stmt = tx.prepare(
                "SELECT t.file FROM replay_tracks t JOIN replays r ON r.id = t.replay_id \
                 WHERE r.host = ?1",
            )?;
            let rows = stmt.query_map(params![id], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()?
        };
        // Everything else goes with it (ON DELETE CASCADE; its tracks in others' replays keep
        // the name they were recorded under, without the account).
        tx.execute("DELETE FROM accounts WHERE id = ?1", params![id])?;
        tx.commit()?;
        Ok(files)
    }

    fn account(&self, id: &str) -> Result<Option<Account>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {ACCOUNT} FROM accounts a WHERE a.id = ?1"),
                params![id],
                account,
            )
            .optional()?)
    }

    fn account_named(&self, username: &str) -> Result<Option<Account>> {
        Ok(self.credentials(username)?.map(|(account, _)| account))
    }

    fn update_profile(&self, id: &str, update: ProfileUpdate) -> Result<Account> {
        let name = update
            .display_name
            .as_deref()
            .map(display_name)
            .transpose()?;
        let bio = update.bio.as_deref().map(bio).transpose()?;
        let changed = self.conn().execute(
            "UPDATE accounts SET display_name = COALESCE(?2, display_name), \
             bio = COALESCE(?3, bio) WHERE id = ?1",
            params![id, name, bio],
        )?;
        if changed == 0 {
            return Err(Error::NoSuchAccount);
        }
        self.account(id)?.ok_or(Error::NoSuchAccount)
    }

    fn set_avatar(&self, id: &str, avatar: Option<(Vec<u8>, String)>) -> Result<u64> {
        if avatar
            .as_ref()
            .is_some_and(|(b, _)| b.len() > MAX_AVATAR_BYTES)
        {
            return Err(Error::Invalid(format!(
                "An avatar is stored in at most {} KiB",
                MAX_AVATAR_BYTES / 1024
            )));
        }
        let (bytes, content_type) = avatar.unzip();
        let conn = self.conn();
        let changed = conn.execute(
            // The version only grows (a removed then new avatar gets a new URL).
            "UPDATE accounts SET avatar = ?2, avatar_type = ?3, \
             avatar_version = avatar_version + 1 WHERE id = ?1",
            params![id, bytes, content_type],
        )?;
        if changed == 0 {
            return Err(Error::NoSuchAccount);
        }
        Ok(conn.query_row(
            "SELECT CASE WHEN avatar IS NULL THEN 0 ELSE avatar_version END \
             FROM accounts WHERE id = ?1",
            params![id],
            |row| row.get::<_, i64>(0),
        )? as u64)
    }

    fn avatar(&self, id: &str) -> Result<Option<Avatar>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT avatar, avatar_type, avatar_version FROM accounts \
                 WHERE id = ?1 AND avatar IS NOT NULL",
                params![id],
                |row| {
                    Ok(Avatar {
                        bytes: row.get(0)?,
                        content_type: row.get(1)?,
                        version: row.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()?)
    }

    fn follow(&self, follower: &str, followee: &str, now: u64) -> Result<bool> {
        if follower == followee {
            return Err(Error::Invalid("You cannot follow yourself".into()));
        }
        if self.blocked_either_way(follower, followee)? {
            return Err(Error::Invalid("You cannot follow this account".into()));
        }
        match self.conn().execute(
            "INSERT OR IGNORE INTO follows (follower, followee, created_at) VALUES (?1, ?2, ?3)",
            params![follower, followee, now as i64],
        ) {
            Ok(n) => Ok(n == 1),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                Err(Error::NoSuchAccount)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn unfollow(&self, follower: &str, followee: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM follows WHERE follower = ?1 AND followee = ?2",
            params![follower, followee],
        )? == 1)
    }

    fn follows(&self, follower: &str, followee: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM follows WHERE follower = ?1 AND followee = ?2",
                params![follower, followee],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn followers(&self, id: &str, limit: usize) -> Result<Vec<Account>> {
        self.list(
            &format!(
                "SELECT {} FROM follows f JOIN accounts a ON a.id = f.follower \
                 WHERE f.followee = ?1 ORDER BY f.created_at DESC, a.id LIMIT ?2",
                ACCOUNT
            ),
            id,
            limit,
        )
    }

    fn following(&self, id: &str, limit: usize) -> Result<Vec<Account>> {
        self.list(
            &format!(
                "SELECT {} FROM follows f JOIN accounts a ON a.id = f.followee \
                 WHERE f.follower = ?1 ORDER BY f.created_at DESC, a.id LIMIT ?2",
                ACCOUNT
            ),
            id,
            limit,
        )
    }

    fn following_ids(&self, id: &str) -> Result<Vec<String>> {
        self.ids("SELECT followee FROM follows WHERE follower = ?1", id)
    }

    fn follower_ids(&self, id: &str) -> Result<Vec<String>> {
        self.ids("SELECT follower FROM follows WHERE followee = ?1", id)
    }

    fn follow_counts(&self, id: &str) -> Result<(u64, u64)> {
        Ok(self.conn().query_row(
            "SELECT (SELECT COUNT(*) FROM follows WHERE followee = ?1), \
                    (SELECT COUNT(*) FROM follows WHERE follower = ?1)",
            params![id],
            |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
        )?)
    }

    fn block(&self, blocker: &str, blocked: &str, now: u64) -> Result<bool> {
        if blocker == blocked {
            return Err(Error::Invalid("You cannot block yourself".into()));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let added = match tx.execute(
            "INSERT OR IGNORE INTO blocks (blocker, blocked, created_at) VALUES (?1, ?2, ?3)",
            params![blocker, blocked, now as i64],
        ) {
            Ok(n) => n == 1,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                return Err(Error::NoSuchAccount)
            }
            Err(e) => return Err(e.into()),
        };
        tx.execute(
            "DELETE FROM follows WHERE (follower = ?1 AND followee = ?2) \
             OR (follower = ?2 AND followee = ?1)",
            params![blocker, blocked],
        )?;
        tx.commit()?;
        Ok(added)
    }

    fn unblock(&self, blocker: &str, blocked: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM blocks WHERE blocker = ?1 AND blocked = ?2",
            params![blocker, blocked],
        )? == 1)
    }

    fn blocked_either_way(&self, a: &str, b: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM blocks WHERE (blocker = ?1 AND blocked = ?2) \
                 OR (blocker = ?2 AND blocked = ?1) LIMIT 1",
                params![a, b],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn block_relations(&self, id: &str) -> Result<Vec<String>> {
        self.ids(
            "SELECT blocked FROM blocks WHERE blocker = ?1 \
             UNION SELECT blocker FROM blocks WHERE blocked = ?1",
            id,
        )
    }

    fn blocked_ids(&self, id: &str) -> Result<Vec<String>> {
        self.ids("SELECT blocked FROM blocks WHERE blocker = ?1", id)
    }

    fn blocker_ids(&self, id: &str) -> Result<Vec<String>> {
        self.ids("SELECT blocker FROM blocks WHERE blocked = ?1", id)
    }

    fn blocked_accounts(&self, id: &str) -> Result<Vec<Account>> {
        self.list(
            &format!(
                "SELECT {} FROM blocks b JOIN accounts a ON a.id = b.blocked \
                 WHERE b.blocker = ?1 ORDER BY b.created_at DESC, a.id LIMIT ?2",
                ACCOUNT
            ),
            id,
            10_000,
        )
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
