//! Versioned schema migrations, tracked in `PRAGMA user_version` (as the token store's).
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`. Steps are only ever appended:
//! a released step is never edited. Pending steps run in one `BEGIN IMMEDIATE` transaction.

use crate::error::Error;
use rusqlite::{Connection, TransactionBehavior};

/// The ordered migration steps. Times are Unix seconds.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: accounts, their sessions, who follows and who blocks whom.
    "CREATE TABLE accounts (
        id            TEXT    PRIMARY KEY NOT NULL,
        username      TEXT    NOT NULL,
        name_folded   TEXT    NOT NULL UNIQUE,
        name_shape    TEXT    NOT NULL UNIQUE,
        display_name  TEXT    NOT NULL,
        bio           TEXT    NOT NULL DEFAULT '',
        password_hash TEXT    NOT NULL,
        avatar        BLOB,
        avatar_type   TEXT,
        avatar_version INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE sessions (
        token_hash BLOB    PRIMARY KEY NOT NULL,
        account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        csrf       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sessions_by_account ON sessions (account_id);
    CREATE TABLE follows (
        follower   TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        followee   TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (follower, followee),
        CHECK (follower <> followee)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX follows_by_followee ON follows (followee, follower);
    CREATE TABLE blocks (
        blocker    TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        blocked    TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (blocker, blocked),
        CHECK (blocker <> blocked)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX blocks_by_blocked ON blocks (blocked, blocker);",
    // 2: Web Push subscriptions (one per browser an account turned notifications on in).
    "CREATE TABLE push_subscriptions (
        endpoint   TEXT    PRIMARY KEY NOT NULL,
        account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        p256dh     TEXT    NOT NULL,
        auth       TEXT    NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX push_by_account ON push_subscriptions (account_id, created_at);",
    // 3: scheduled rooms and who asked to be reminded of them.
    "CREATE TABLE schedules (
        id          TEXT    PRIMARY KEY NOT NULL,
        host        TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        title       TEXT    NOT NULL,
        topic       TEXT    NOT NULL DEFAULT '',
        starts_at   INTEGER NOT NULL,
        audio_only  INTEGER NOT NULL DEFAULT 1,
        created_at  INTEGER NOT NULL,
        reminded_at INTEGER,
        room_id     TEXT
    ) STRICT;
    CREATE INDEX schedules_by_host ON schedules (host, starts_at);
    CREATE INDEX schedules_due ON schedules (reminded_at, starts_at);
    CREATE TABLE reminders (
        schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
        account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        PRIMARY KEY (schedule_id, account_id)
    ) STRICT, WITHOUT ROWID;",
    // 4: reports of people and rooms to the server's operator.
    "CREATE TABLE reports (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        reporter    TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        kind        TEXT    NOT NULL CHECK (kind IN ('user', 'room')),
        target      TEXT    NOT NULL,
        target_name TEXT    NOT NULL DEFAULT '',
        room_id     TEXT,
        reason      TEXT    NOT NULL,
        details     TEXT    NOT NULL DEFAULT '',
        created_at  INTEGER NOT NULL,
        resolved_at INTEGER
    ) STRICT;
    CREATE INDEX reports_open ON reports (resolved_at, id);
    CREATE INDEX reports_by_reporter ON reports (reporter, created_at);",
    // 5: replays of recorded rooms: one file per speaker's publication, placed on the room's
    // clock, with when each held speech.
    "CREATE TABLE replays (
        id         TEXT    PRIMARY KEY NOT NULL,
        host       TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        room_id    TEXT    NOT NULL,
        title      TEXT    NOT NULL,
        privacy    TEXT    NOT NULL CHECK (privacy IN ('public', 'followers', 'invite')),
        started_ms INTEGER NOT NULL,
        ended_ms   INTEGER
    ) STRICT;
    CREATE INDEX replays_by_host ON replays (host, started_ms);
    CREATE TABLE replay_tracks (
        replay_id   TEXT    NOT NULL REFERENCES replays (id) ON DELETE CASCADE,
        n           INTEGER NOT NULL,
        user_id     TEXT    NOT NULL,
        username    TEXT    NOT NULL,
        account_id  TEXT    REFERENCES accounts (id) ON DELETE SET NULL,
        file        TEXT    NOT NULL,
        offset_ms   INTEGER NOT NULL,
        duration_ms INTEGER,
        speech      TEXT    NOT NULL DEFAULT '[]',
        PRIMARY KEY (replay_id, n)
    ) STRICT, WITHOUT ROWID;",
];

/// The schema version this code creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`]; returns how many steps ran. A database newer
/// than the code is refused with [`Error::UnsupportedSchema`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<usize, Error> {
    migrate_with(conn, MIGRATIONS)
}

/// [`migrate`] with an explicit list of steps (tests use longer lists).
pub(crate) fn migrate_with(conn: &mut Connection, steps: &[&str]) -> Result<usize, Error> {
    let supported = steps.len() as i64;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read inside the write lock: another process may have migrated meanwhile.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_apply_once_in_order_and_a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len());
        assert_eq!(migrate(&mut conn).unwrap(), 0, "already current");
        let mut later = MIGRATIONS.to_vec();
        later.push("CREATE TABLE later (x INTEGER) STRICT;");
        assert_eq!(
            migrate_with(&mut conn, &later).unwrap(),
            1,
            "only the new step"
        );
        assert!(matches!(
            migrate(&mut conn),
            Err(Error::UnsupportedSchema { found, supported })
                if found == later.len() as i64 && supported == MIGRATIONS.len() as i64
        ));
    }

    #[test]
    fn a_version_1_database_gains_the_push_table_and_keeps_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_with(&mut conn, &MIGRATIONS[..1]).unwrap();
        conn.execute(
            "INSERT INTO accounts (id, username, name_folded, name_shape, display_name, \
             password_hash, created_at) VALUES ('u1', 'Ann', 'ann', 'ann', 'Ann', 'h', 1)",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len() - 1);
        conn.execute(
            "INSERT INTO push_subscriptions VALUES ('https://p.example/1', 'u1', 'k', 'a', 2)",
            [],
        )
        .unwrap();
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
    }
}
