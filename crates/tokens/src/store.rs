//! The SQLite-backed store.

use crate::error::{AuthError, Error};
use crate::record::{Action, NewToken, TokenRecord};
use crate::{schema, secret, Result};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries to find an unused random id (a collision of 64-bit ids is practically impossible).
const ID_ATTEMPTS: usize = 4;

const COLUMNS: &str = "id, label, action, streams, multisource, allowed_origins, allowed_ips, \
                       created_at, expires_at, revoked_at, secret_hash, record";

/// The API-token store: one SQLite connection behind a mutex. `Send + Sync`; share it with an
/// `Arc`. Every operation is a single short statement, so holding the lock is cheap.
#[derive(Debug)]
pub struct TokenStore {
    conn: Mutex<Connection>,
}

impl TokenStore {
    /// Opens (creating if needed) the database file at `path`, switches it to WAL mode and
    /// applies pending schema migrations. The parent directory must exist.
    ///
    /// Fails with [`Error::UnsupportedSchema`] if the file was written by a newer Podium.
    pub fn open(path: impl AsRef<Path>) -> Result<TokenStore> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Returns the resulting mode; a file system without WAL support keeps its old mode,
        // which still works (only with less read concurrency), so the answer is not checked.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        TokenStore::init(conn)
    }

    /// A private in-memory database (for tests and throw-away servers).
    pub fn open_in_memory() -> Result<TokenStore> {
        TokenStore::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<TokenStore> {
        schema::migrate(&mut conn)?;
        Ok(TokenStore {
            conn: Mutex::new(conn),
        })
    }

    /// The connection. A panic in another thread cannot leave it mid-statement (every write is
    /// one statement or transaction), so a poisoned lock is simply taken over.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Validates `new` (see [`NewToken`]), stores it and returns the stored record with the
    /// token's secret. The secret is not kept and cannot be shown again.
    pub fn create(&self, new: NewToken, now: u64) -> Result<(TokenRecord, String)> {
        let new = new.validate(now)?;
        let streams = to_json(&new.streams);
        let origins = to_json(&new.allowed_origins);
        let ips = to_json(&new.allowed_ips);
        let mut rng = rand::rng();
        for _ in 0..ID_ATTEMPTS {
            let id = secret::new_id(&mut rng);
            let secret = secret::new_secret(&id, &mut rng);
            let inserted = self.conn().execute(
                "INSERT INTO tokens (id, label, action, streams, multisource, allowed_origins, \
                 allowed_ips, secret_hash, created_at, expires_at, revoked_at, record) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11)",
                params![
                    id,
                    new.label,
                    new.action.as_str(),
                    streams,
                    new.multisource,
                    origins,
                    ips,
                    secret::hash(&secret).as_slice(),
                    to_sql_time(now),
                    new.expires_at.map(to_sql_time),
                    new.record,
                ],
            );
            match inserted {
                Ok(_) => {
                    let record = new.into_record(id, now);
                    return Ok((record, secret));
                }
                // Only a taken id is retried; another constraint (a CHECK) is a real error.
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::ConstraintViolation
                        && e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                {
                    continue
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::IdCollision)
    }

    /// Every token, revoked and expired ones included, oldest first.
    pub fn list(&self) -> Result<Vec<TokenRecord>> {
        self.all_rows()?
            .into_iter()
            .map(|row| row.into_record())
            .collect()
    }

    /// Every row, oldest first.
    fn all_rows(&self) -> Result<Vec<StoredRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM tokens ORDER BY created_at, id"
        ))?;
        let rows = stmt
            .query_map([], StoredRow::read)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every token with the hash of its secret (to move the tokens into another store, such
    /// as a cluster's).
    pub fn export(&self) -> Result<Vec<crate::StoredToken>> {
        self.all_rows()?
            .into_iter()
            .map(|row| {
                let secret_hash = hex::encode(&row.secret_hash);
                Ok(crate::StoredToken {
                    record: row.into_record()?,
                    secret_hash,
                })
            })
            .collect()
    }

    /// The token with public id `id`, if any.
    pub fn get(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.get_row(id)?.map(StoredRow::into_record).transpose()
    }

    fn get_row(&self, id: &str) -> Result<Option<StoredRow>> {
        if !secret::is_valid_id(id) {
            return Ok(None);
        }
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"))?;
        Ok(stmt.query_row([id], StoredRow::read).optional()?)
    }

    /// Revokes the token `id` at `now`. Returns `false` if there is no such token. Revoking a
    /// revoked token succeeds and keeps the first revocation time.
    pub fn revoke(&self, id: &str, now: u64) -> Result<bool> {
        if !secret::is_valid_id(id) {
            return Ok(false);
        }
        let changed = self.conn().execute(
            "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
            params![id, to_sql_time(now)],
        )?;
        Ok(changed > 0)
    }

    /// Whether the token `id` is revoked. A token that does not exist counts as revoked, so a
    /// JWT minted from a token that has disappeared is refused (fail closed).
    pub fn is_revoked(&self, id: &str) -> Result<bool> {
        if !secret::is_valid_id(id) {
            return Ok(true);
        }
        let revoked_at: Option<Option<i64>> = self
            .conn()
            .prepare_cached("SELECT revoked_at FROM tokens WHERE id = ?1")?
            .query_row([id], |row| row.get(0))
            .optional()?;
        Ok(revoked_at.is_none_or(|at| at.is_some()))
    }

    /// Finds the token whose secret is `secret` and checks that it is usable at `now`.
    ///
    /// The secret is verified before revocation and expiry, so only its holder learns that a
    /// token is revoked or expired. Oversized input is refused before any work.
    pub fn authenticate(&self, secret: &str, now: u64) -> Result<TokenRecord, AuthError> {
        let id = secret::id_of(secret).ok_or(AuthError::Malformed)?;
        let row = self
            .get_row(id)
            .map_err(AuthError::Storage)?
            .ok_or(AuthError::UnknownToken)?;
        if !secret::verify(secret, &row.secret_hash) {
            return Err(AuthError::WrongSecret);
        }
        let record = row.into_record().map_err(AuthError::Storage)?;
        if record.revoked {
            return Err(AuthError::Revoked);
        }
        if record.is_expired(now) {
            return Err(AuthError::Expired);
        }
        Ok(record)
    }
}

/// Unix seconds as SQLite stores them (times past year 292 billion are clamped).
fn to_sql_time(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).expect("a list of strings always serialises")
}

/// One row as read, before decoding.
struct StoredRow {
    id: String,
    label: String,
    action: String,
    streams: String,
    multisource: bool,
    allowed_origins: String,
    allowed_ips: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    secret_hash: Vec<u8>,
    record: bool,
}

impl StoredRow {
    /// Reads the columns of [`COLUMNS`], in order.
    fn read(row: &Row<'_>) -> rusqlite::Result<StoredRow> {
        Ok(StoredRow {
            id: row.get(0)?,
            label: row.get(1)?,
            action: row.get(2)?,
            streams: row.get(3)?,
            multisource: row.get(4)?,
            allowed_origins: row.get(5)?,
            allowed_ips: row.get(6)?,
            created_at: row.get(7)?,
            expires_at: row.get(8)?,
            revoked_at: row.get(9)?,
            secret_hash: row.get(10)?,
            record: row.get(11)?,
        })
    }

    fn into_record(self) -> Result<TokenRecord> {
        let corrupt = || Error::Corrupt {
            id: self.id.clone(),
        };
        let list = |json: &str| serde_json::from_str::<Vec<String>>(json).map_err(|_| corrupt());
        let time = |t: i64| u64::try_from(t).map_err(|_| corrupt());
        let action = match self.action.as_str() {
            "publish" => Action::Publish,
            "subscribe" => Action::Subscribe,
            _ => return Err(corrupt()),
        };
        let revoked_at = self.revoked_at.map(time).transpose()?;
        Ok(TokenRecord {
            label: self.label.clone(),
            action,
            streams: list(&self.streams)?,
            multisource: self.multisource,
            record: self.record,
            allowed_origins: list(&self.allowed_origins)?,
            allowed_ips: list(&self.allowed_ips)?,
            expires_at: self.expires_at.map(time).transpose()?,
            revoked: revoked_at.is_some(),
            revoked_at,
            created_at: time(self.created_at)?,
            id: self.id.clone(),
        })
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
