//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`. Steps are only ever appended:
//! a released step is never edited. All pending steps run in one `BEGIN IMMEDIATE` transaction,
//! so two processes opening the same file cannot both migrate, and a failed step leaves the
//! database as it was.

use crate::error::Error;
use rusqlite::{Connection, TransactionBehavior};

/// The ordered migration steps.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the tokens table. Lists are JSON arrays of strings; times are unix seconds.
    "CREATE TABLE tokens (
        id              TEXT    PRIMARY KEY NOT NULL,
        label           TEXT    NOT NULL,
        action          TEXT    NOT NULL CHECK (action IN ('publish', 'subscribe')),
        streams         TEXT    NOT NULL,
        multisource     INTEGER NOT NULL CHECK (multisource IN (0, 1)),
        allowed_origins TEXT    NOT NULL,
        allowed_ips     TEXT    NOT NULL,
        secret_hash     BLOB    NOT NULL,
        created_at      INTEGER NOT NULL,
        expires_at      INTEGER,
        revoked_at      INTEGER
    ) STRICT;",
    // 2: the recording permission. Existing tokens may not record; only a publish token may.
    "ALTER TABLE tokens ADD COLUMN record INTEGER NOT NULL DEFAULT 0
        CHECK (record = 0 OR (record = 1 AND action = 'publish'));",
];

/// The schema version this code creates and understands (the number of migration steps).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`]; returns how many steps ran (0 if it was
/// current). A database newer than the code is refused with [`Error::UnsupportedSchema`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<usize, Error> {
    migrate_with(conn, MIGRATIONS)
}

/// [`migrate`] with an explicit list of steps (tests use longer lists).
pub(crate) fn migrate_with(conn: &mut Connection, steps: &[&str]) -> Result<usize, Error> {
    let supported = steps.len() as i64;
    let found = user_version(conn)?;
    if found == supported {
        return Ok(0);
    }
    if !(0..supported).contains(&found) {
        return Err(Error::UnsupportedSchema { found, supported });
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if !(0..=supported).contains(&found) {
        return Err(Error::UnsupportedSchema { found, supported });
    }
    let mut applied = 0;
    for (index, step) in steps.iter().enumerate().skip(found as usize) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        applied += 1;
    }
    tx.commit()?;
    Ok(applied)
}

/// The database's `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> Result<i64, Error> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_apply_in_order_and_only_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        let v1 = &["CREATE TABLE a (x INTEGER);"][..];
        let v2 = &[
            "CREATE TABLE a (x INTEGER);",
            "ALTER TABLE a ADD COLUMN y INTEGER; INSERT INTO a VALUES (1, 2);",
        ][..];
        assert_eq!(migrate_with(&mut conn, v1).unwrap(), 1);
        assert_eq!(user_version(&conn).unwrap(), 1);
        assert_eq!(migrate_with(&mut conn, v1).unwrap(), 0);
        assert_eq!(
            migrate_with(&mut conn, v2).unwrap(),
            1,
            "only the new step runs"
        );
        assert_eq!(user_version(&conn).unwrap(), 2);
        let y: i64 = conn.query_row("SELECT y FROM a", [], |r| r.get(0)).unwrap();
        assert_eq!(y, 2);
        // Code that only knows v1 refuses the v2 database.
        match migrate_with(&mut conn, v1) {
            Err(Error::UnsupportedSchema {
                found: 2,
                supported: 1,
            }) => {}
            other => panic!("expected UnsupportedSchema, got {other:?}"),
        }
    }

    #[test]
    fn failed_step_rolls_back_everything() {
        let mut conn = Connection::open_in_memory().unwrap();
        let steps = &["CREATE TABLE a (x INTEGER);", "THIS IS NOT SQL;"][..];
        assert!(matches!(
            migrate_with(&mut conn, steps),
            Err(Error::Storage(_))
        ));
        assert_eq!(user_version(&conn).unwrap(), 0);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "the first step was rolled back too");
    }

    #[test]
    fn negative_version_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", -1).unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(Error::UnsupportedSchema { found: -1, .. })
        ));
    }
}
