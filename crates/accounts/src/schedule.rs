//! Scheduled rooms: a host announces a room (title, topic, time) ahead; the people who follow
//! them see it under "Upcoming" and may ask to be reminded when it starts. Times are Unix
//! seconds passed by the caller.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::AccountStore;

/// Longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 280;
/// Farthest ahead a room can be scheduled (90 days).
pub const MAX_SCHEDULE_AHEAD: u64 = 90 * 24 * 3600;
/// Most upcoming rooms one host may have scheduled at once.
pub const MAX_UPCOMING_PER_HOST: usize = 20;
/// A schedule stays listed this long after its start if the host has not opened it.
const GRACE: u64 = 3600;

/// What a host asks to schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    /// The room's title (the room name's rules).
    pub title: String,
    /// What it is about (optional, at most [`MAX_TOPIC_CHARS`]).
    pub topic: String,
    /// When it starts.
    pub starts_at: u64,
    /// Audio only, or with the host's video.
    pub audio_only: bool,
}

/// A scheduled room as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// Its id (`s` + 16 hex digits).
    pub id: String,
    /// The host's account id.
    pub host: String,
    /// The host's username.
    pub host_name: String,
    /// The title.
    pub title: String,
    /// The topic ('' if none).
    pub topic: String,
    /// When it starts (Unix seconds).
    pub starts_at: u64,
    /// Audio only, or with the host's video.
    pub audio_only: bool,
    /// The live room the host opened for it, if any.
    pub room_id: Option<String>,
    /// How many asked to be reminded.
    pub reminders: u64,
    /// Whether the viewer asked to be reminded.
    pub remind_me: bool,
}

/// Storage of scheduled rooms and reminders.
pub trait ScheduleStore: Send + Sync {
    /// Schedules a room for `host`; refused past [`MAX_UPCOMING_PER_HOST`], in the past or
    /// more than [`MAX_SCHEDULE_AHEAD`] ahead.
    fn schedule(&self, host: &str, new: NewSchedule, now: u64) -> Result<Schedule>;
    /// Cancels one of `host`'s schedules; `false` if they have no such schedule.
    fn cancel_schedule(&self, host: &str, id: &str) -> Result<bool>;
    /// Records the live room the host opened for their schedule.
    fn open_schedule(&self, host: &str, id: &str, room_id: &str) -> Result<bool>;
    /// What `viewer` sees under Upcoming: their own schedules and those of people they
    /// follow (not of anyone in a block with them), soonest first, not yet over.
    fn upcoming(&self, viewer: &str, now: u64, limit: usize) -> Result<Vec<Schedule>>;
    /// The upcoming schedules of `host`, as `viewer` (if any) sees them.
    fn upcoming_of(&self, host: &str, viewer: Option<&str>, now: u64) -> Result<Vec<Schedule>>;
    /// `account` asks to be reminded of `id` (or no longer, with `on` false); `false` if
    /// nothing changed. Only schedules they can see, not yet started.
    fn remind(&self, account: &str, id: &str, on: bool, now: u64) -> Result<bool>;
    /// Schedules that started by `now` and whose reminders are not sent, each with who asked;
    /// marked sent as they are returned (at most once).
    fn take_due_reminders(&self, now: u64) -> Result<Vec<(Schedule, Vec<String>)>>;
}

/// Whether viewer `?1` and the host of schedule `s` are in a block, either way.
const BLOCKED: &str =
    "EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker = s.host AND b.blocked = ?1) \
     OR (b.blocker = ?1 AND b.blocked = s.host))";

/// Columns of a [`Schedule`] (alias `s` for schedules, `a` for the host), for viewer `?1`.
const SCHEDULE: &str = "s.id, s.host, a.username, s.title, s.topic, s.starts_at, s.audio_only, \
     s.room_id, (SELECT COUNT(*) FROM reminders r WHERE r.schedule_id = s.id), \
     EXISTS (SELECT 1 FROM reminders r WHERE r.schedule_id = s.id AND r.account_id = ?1)";

fn schedule(row: &Row<'_>) -> rusqlite::Result<Schedule> {
    Ok(Schedule {
        id: row.get(0)?,
        host: row.get(1)?,
        host_name: row.get(2)?,
        title: row.get(3)?,
        topic: row.get(4)?,
        starts_at: row.get::<_, i64>(5)? as u64,
        audio_only: row.get(6)?,
        room_id: row.get(7)?,
        reminders: row.get::<_, i64>(8)? as u64,
        remind_me: row.get(9)?,
    })
}

fn validate(new: NewSchedule, now: u64) -> Result<NewSchedule> {
    let title = podium_rooms::normalize_room_name(&new.title)
        .map_err(|e| Error::Invalid(e.to_string().replace("Room names", "Titles")))?;
    let topic = if new.topic.trim().is_empty() {
        String::new()
    } else {
        podium_rooms::normalize_text(&new.topic, MAX_TOPIC_CHARS)
            .map_err(|e| Error::Invalid(format!("Topic: {e}")))?
    };
    if new.starts_at.saturating_add(60) < now {
        return Err(Error::Invalid("Pick a time in the future".into()));
    }
    if new.starts_at > now.saturating_add(MAX_SCHEDULE_AHEAD) {
        return Err(Error::Invalid(
            "Rooms can be scheduled at most 90 days ahead".into(),
        ));
    }
    Ok(NewSchedule {
        title,
        topic,
        ..new
    })
}

impl AccountStore {
    fn schedules(
        &self,
        sql: &str,
        viewer: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Schedule>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&viewer];
        all.extend_from_slice(args);
        let rows = stmt.query_map(all.as_slice(), schedule)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn schedule_by_id(&self, viewer: &str, id: &str) -> Result<Option<Schedule>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {SCHEDULE} FROM schedules s JOIN accounts a ON a.id = s.host \
                     WHERE s.id = ?2"
                ),
                params![viewer, id],
                schedule,
            )
            .optional()?)
    }
}

impl ScheduleStore for AccountStore {
    fn schedule(&self, host: &str, new: NewSchedule, now: u64) -> Result<Schedule> {
        let new = validate(new, now)?;
        let id = format!("s{}", crate::store::random_hex(8));
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            let upcoming: i64 = tx.query_row(
                "SELECT COUNT(*) FROM schedules WHERE host = ?1 AND starts_at + ?2 >= ?3",
                params![host, GRACE as i64, now as i64],
                |row| row.get(0),
            )?;
            if upcoming as usize >= MAX_UPCOMING_PER_HOST {
                return Err(Error::Invalid(format!(
                    "You can have at most {MAX_UPCOMING_PER_HOST} rooms scheduled"
                )));
            }
            tx.execute(
                "INSERT INTO schedules (id, host, title, topic, starts_at, audio_only, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    host,
                    new.title,
                    new.topic,
                    new.starts_at as i64,
                    new.audio_only,
                    now as i64
                ],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => Error::NoSuchAccount,
                _ => e.into(),
            })?;
            tx.commit()?;
        }
        self.schedule_by_id(host, &id)?.ok_or(Error::NoSuchAccount)
    }

    fn cancel_schedule(&self, host: &str, id: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM schedules WHERE id = ?1 AND host = ?2",
            params![id, host],
        )? > 0)
    }

    fn open_schedule(&self, host: &str, id: &str, room_id: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE schedules SET room_id = ?3 WHERE id = ?1 AND host = ?2",
            params![id, host, room_id],
        )? > 0)
    }

    fn upcoming(&self, viewer: &str, now: u64, limit: usize) -> Result<Vec<Schedule>> {
        self.schedules(
            &format!(
                "SELECT {SCHEDULE} FROM schedules s JOIN accounts a ON a.id = s.host \
                 WHERE s.starts_at + ?2 >= ?3 AND s.room_id IS NULL AND (s.host = ?1 OR \
                   (s.host IN (SELECT followee FROM follows WHERE follower = ?1) \
                    AND s.host NOT IN (SELECT blocked FROM blocks WHERE blocker = ?1) \
                    AND s.host NOT IN (SELECT blocker FROM blocks WHERE blocked = ?1))) \
                 ORDER BY s.starts_at, s.id LIMIT ?4"
            ),
            viewer,
            &[&(GRACE as i64), &(now as i64), &(limit as i64)],
        )
    }

    fn upcoming_of(&self, host: &str, viewer: Option<&str>, now: u64) -> Result<Vec<Schedule>> {
        self.schedules(
            &format!(
                "SELECT {SCHEDULE} FROM schedules s JOIN accounts a ON a.id = s.host \
                 WHERE s.host = ?2 AND s.starts_at + ?3 >= ?4 AND s.room_id IS NULL \
                 AND NOT {BLOCKED} ORDER BY s.starts_at, s.id"
            ),
            viewer.unwrap_or(""),
            &[&host, &(GRACE as i64), &(now as i64)],
        )
    }

    fn remind(&self, account: &str, id: &str, on: bool, now: u64) -> Result<bool> {
        let Some(found) = self.schedule_by_id(account, id)? else {
            return Err(Error::Invalid("No such scheduled room".into()));
        };
        let blocked: bool = self.conn().query_row(
            &format!("SELECT {BLOCKED} FROM schedules s WHERE s.id = ?2"),
            params![account, id],
            |row| row.get(0),
        )?;
        if on && blocked {
            // As if it did not exist: a block hides each other's rooms.
            return Err(Error::Invalid("No such scheduled room".into()));
        }
        if on && found.starts_at <= now {
            return Err(Error::Invalid("That room has already started".into()));
        }
        let conn = self.conn();
        let changed = if on {
            conn.execute(
                "INSERT OR IGNORE INTO reminders (schedule_id, account_id) VALUES (?1, ?2)",
                params![id, account],
            )?
        } else {
            conn.execute(
                "DELETE FROM reminders WHERE schedule_id = ?1 AND account_id = ?2",
                params![id, account],
            )?
        };
        Ok(changed > 0)
    }

    fn take_due_reminders(&self, now: u64) -> Result<Vec<(Schedule, Vec<String>)>> {
        let due = self.schedules(
            &format!(
                "SELECT {SCHEDULE} FROM schedules s JOIN accounts a ON a.id = s.host \
                 WHERE s.reminded_at IS NULL AND s.starts_at <= ?2 ORDER BY s.starts_at LIMIT 100"
            ),
            "",
            &[&(now as i64)],
        )?;
        let mut out = Vec::with_capacity(due.len());
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for schedule in due {
            tx.execute(
                "UPDATE schedules SET reminded_at = ?2 WHERE id = ?1",
                params![schedule.id, now as i64],
            )?;
            // Not those in a block with the host (made after they asked).
            let mut stmt = tx.prepare_cached(
                "SELECT r.account_id FROM reminders r WHERE r.schedule_id = ?1 AND NOT EXISTS \
                 (SELECT 1 FROM blocks b WHERE (b.blocker = ?2 AND b.blocked = r.account_id) \
                  OR (b.blocker = r.account_id AND b.blocked = ?2))",
            )?;
            let who = stmt
                .query_map(params![schedule.id, schedule.host], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            drop(stmt);
            out.push((schedule, who));
        }
        tx.commit()?;
        Ok(out)
    }
}
