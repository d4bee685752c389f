//! Replays: a recorded room kept on its host's profile. A replay is the room's title and
//! privacy when recording started, and one track per speaker's publication: the file (under
//! the server's recordings directory), where it starts on the replay's clock and, once the
//! file is complete, its length and when it held speech. Times are Unix milliseconds passed
//! by the caller.
//!
//! Who may watch follows the room's privacy when it was recorded: a public room's replay is
//! anyone's; a followers-only room's is the host's followers'; an invite-only room's is the
//! host's alone. A block between the host and the listener, either way, holds too.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::AccountStore;

/// Longest title kept (the rooms' own limit is lower).
const MAX_TITLE_BYTES: usize = 400;
/// Most tracks one replay holds (a speaker who comes back starts a new one).
pub const MAX_REPLAY_TRACKS: usize = 500;
/// Most speech turns kept per track.
const MAX_TURNS: usize = 20_000;

/// A replay being started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReplay {
    /// The host's account.
    pub host: String,
    /// The room (its id is also the stream the files are under).
    pub room_id: String,
    /// The room's title.
    pub title: String,
    /// `public`, `followers` or `invite`.
    pub privacy: String,
    /// When recording started.
    pub started_ms: u64,
}

/// A stored replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    /// Its id (`p` and 16 hex digits).
    pub id: String,
    /// The host's account.
    pub host: String,
    /// The host's username.
    pub host_name: String,
    /// The room.
    pub room_id: String,
    /// The room's title.
    pub title: String,
    /// Who may watch (see the module).
    pub privacy: String,
    /// When recording started.
    pub started_ms: u64,
    /// When it stopped (none while it goes on).
    pub ended_ms: Option<u64>,
    /// The speakers heard, in order of first appearance.
    pub speakers: Vec<String>,
}

/// A speaker's publication in a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayTrack {
    /// Its number in the replay.
    pub n: u32,
    /// The speaker's id in the room.
    pub user_id: String,
    /// Their username then.
    pub username: String,
    /// Their account, if they had one (and still have it).
    pub account_id: Option<String>,
    /// The file, relative to the recordings directory.
    #[serde(skip)]
    pub file: String,
    /// Where it starts on the replay's clock.
    pub offset_ms: u64,
    /// Its length, once complete.
    pub duration_ms: Option<u64>,
    /// When it held speech: `[start, end]` pairs from its own start.
    pub speech: Vec<[u64; 2]>,
}

/// A speaker's publication starting to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrack {
    /// The speaker's id in the room.
    pub user_id: String,
    /// Their username.
    pub username: String,
    /// Their account.
    pub account_id: Option<String>,
    /// The file, relative to the recordings directory.
    pub file: String,
    /// Its time zero (Unix milliseconds).
    pub started_ms: u64,
}

/// Storage of replays.
pub trait ReplayStore: Send + Sync {
    /// Starts a replay; returns it.
    fn start_replay(&self, new: NewReplay) -> Result<Replay>;
    /// Adds a track; returns its number. Refused past [`MAX_REPLAY_TRACKS`].
    fn add_replay_track(&self, replay: &str, track: NewTrack) -> Result<u32>;
    /// A track's file is complete.
    fn finish_replay_track(
        &self,
        replay: &str,
        n: u32,
        duration_ms: u64,
        speech: &[[u64; 2]],
    ) -> Result<()>;
    /// Recording stopped at `ended_ms`. A replay without a track is forgotten.
    fn end_replay(&self, replay: &str, ended_ms: u64) -> Result<()>;
    /// Ends replays left open by a server that stopped (at their last track's end). Returns
    /// how many.
    fn end_open_replays(&self) -> Result<usize>;
    /// A replay and its tracks, if `viewer` may watch it.
    fn replay_for(
        &self,
        id: &str,
        viewer: Option<&str>,
    ) -> Result<Option<(Replay, Vec<ReplayTrack>)>>;
    /// A host's finished replays `viewer` may watch, newest first.
    fn replays_of(&self, host: &str, viewer: Option<&str>, limit: usize) -> Result<Vec<Replay>>;
    /// Deletes a replay of `host`'s; returns its files (for the caller to remove), or
    /// `None` if the host has no such replay.
    fn delete_replay(&self, id: &str, host: &str) -> Result<Option<Vec<String>>>;
}

const REPLAY: &str = "r.id, r.host, a.username, r.room_id, r.title, r.privacy, r.started_ms, \
     r.ended_ms, (SELECT json_group_array(username ORDER BY first) FROM (SELECT username, \
     MIN(n) AS first FROM replay_tracks WHERE replay_id = r.id GROUP BY username))";

fn replay(row: &Row<'_>) -> rusqlite::Result<Replay> {
    let speakers: String = row.get(8)?;
    Ok(Replay {
        id: row.get(0)?,
        host: row.get(1)?,
        host_name: row.get(2)?,
        room_id: row.get(3)?,
        title: row.get(4)?,
        privacy: row.get(5)?,
        started_ms: row.get::<_, i64>(6)? as u64,
        ended_ms: row.get::<_, Option<i64>>(7)?.map(|t| t as u64),
        speakers: serde_json::from_str(&speakers).unwrap_or_default(),
    })
}

fn track(row: &Row<'_>) -> rusqlite::Result<ReplayTrack> {
    let speech: String = row.get(7)?;
    Ok(ReplayTrack {
        n: row.get::<_, i64>(0)? as u32,
        user_id: row.get(1)?,
        username: row.get(2)?,
        account_id: row.get(3)?,
        file: row.get(4)?,
        offset_ms: row.get::<_, i64>(5)? as u64,
        duration_ms: row.get::<_, Option<i64>>(6)?.map(|t| t as u64),
        speech: serde_json::from_str(&speech).unwrap_or_default(),
    })
}

/// The condition under which `?2` (the viewer, or NULL) may watch replay `r`.
const MAY_WATCH: &str = "(r.host = ?2 OR (
        NOT EXISTS (SELECT 1 FROM blocks WHERE (blocker = r.host AND blocked = ?2)
                                              OR (blocker = ?2 AND blocked = r.host))
        AND (r.privacy = 'public'
             OR (r.privacy = 'followers'
                 AND EXISTS (SELECT 1 FROM follows WHERE follower = ?2 AND followee = r.host)))))";

impl ReplayStore for AccountStore {
    fn start_replay(&self, new: NewReplay) -> Result<Replay> {
        if !["public", "followers", "invite"].contains(&new.privacy.as_str()) {
            return Err(Error::Invalid("Unknown privacy".into()));
        }
        let mut title = new.title;
        if title.len() > MAX_TITLE_BYTES {
            let mut end = MAX_TITLE_BYTES;
            while !title.is_char_boundary(end) {
                end -= 1;
            }
            title.truncate(end);
        }
        let id = format!("p{}", crate::store::random_hex(8));
        let conn = self.conn();
        conn.execute(
            "INSERT INTO replays (id, host, room_id, title, privacy, started_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                new.host,
                new.room_id,
                title,
                new.privacy,
                new.started_ms as i64
            ],
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => Error::NoSuchAccount,
            _ => e.into(),
        })?;
        Ok(conn.query_row(
            &format!(
                "SELECT {REPLAY} FROM replays r JOIN accounts a ON a.id = r.host WHERE r.id = ?1"
            ),
            params![id],
            replay,
        )?)
    }

    fn add_replay_track(&self, id: &str, track: NewTrack) -> Result<u32> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let started: Option<i64> = tx
            .query_row(
                "SELECT started_ms FROM replays WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()?;
        let Some(started) = started else {
            return Err(Error::Invalid("No such replay".into()));
        };
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM replay_tracks WHERE replay_id = ?1",
            params![id],
            |row| row.get(0),
        )?;
        if count as usize >= MAX_REPLAY_TRACKS {
            return Err(Error::Invalid("This replay has too many tracks".into()));
        }
        let offset = (track.started_ms as i64 - started).max(0);
        // An account deleted meanwhile keeps its name in the replay, not its id.
        let account: Option<String> = match track.account_id {
            Some(a) => tx
                .query_row("SELECT id FROM accounts WHERE id = ?1", params![a], |row| {
                    row.get(0)
                })
                .optional()?,
            None => None,
        };
        tx.execute(
            "INSERT INTO replay_tracks (replay_id, n, user_id, username, account_id, file, offset_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, count, track.user_id, track.username, account, track.file, offset],
        )?;
        tx.commit()?;
        Ok(count as u32)
    }

    fn finish_replay_track(
        &self,
        id: &str,
        n: u32,
        duration_ms: u64,
        speech: &[[u64; 2]],
    ) -> Result<()> {
        let speech = &speech[..speech.len().min(MAX_TURNS)];
        let json = serde_json::to_string(speech).expect("numbers serialise");
        self.conn().execute(
            "UPDATE replay_tracks SET duration_ms = ?3, speech = ?4 WHERE replay_id = ?1 AND n = ?2",
            params![id, n, duration_ms as i64, json],
        )?;
        Ok(())
    }

    fn end_replay(&self, id: &str, ended_ms: u64) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM replays WHERE id = ?1 AND NOT EXISTS \
             (SELECT 1 FROM replay_tracks WHERE replay_id = ?1)",
            params![id],
        )?;
        conn.execute(
            "UPDATE replays SET ended_ms = ?2 WHERE id = ?1 AND ended_ms IS NULL",
            params![id, ended_ms as i64],
        )?;
        Ok(())
    }

    fn end_open_replays(&self) -> Result<usize> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM replays WHERE ended_ms IS NULL AND NOT EXISTS \
             (SELECT 1 FROM replay_tracks WHERE replay_id = replays.id)",
            [],
        )?;
        Ok(conn.execute(
            "UPDATE replays SET ended_ms = started_ms + (SELECT MAX(offset_ms + \
             COALESCE(duration_ms, 0)) FROM replay_tracks WHERE replay_id = replays.id) \
             WHERE ended_ms IS NULL",
            [],
        )?)
    }

    fn replay_for(
        &self,
        id: &str,
        viewer: Option<&str>,
    ) -> Result<Option<(Replay, Vec<ReplayTrack>)>> {
        let conn = self.conn();
        let found = conn
            .query_row(
                &format!(
                    "SELECT {REPLAY} FROM replays r JOIN accounts a ON a.id = r.host \
                     WHERE r.id = ?1 AND {MAY_WATCH}"
                ),
                params![id, viewer],
                replay,
            )
            .optional()?;
        let Some(found) = found else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT n, user_id, username, account_id, file, offset_ms, duration_ms, speech \
             FROM replay_tracks WHERE replay_id = ?1 ORDER BY n",
        )?;
        let tracks = stmt
            .query_map(params![id], track)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some((found, tracks)))
    }

    fn replays_of(&self, host: &str, viewer: Option<&str>, limit: usize) -> Result<Vec<Replay>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {REPLAY} FROM replays r JOIN accounts a ON a.id = r.host \
             WHERE r.host = ?1 AND r.ended_ms IS NOT NULL AND {MAY_WATCH} \
             ORDER BY r.started_ms DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![host, viewer, limit as i64], replay)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn delete_replay(&self, id: &str, host: &str) -> Result<Option<Vec<String>>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let files: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT t.file FROM replay_tracks t JOIN replays r ON r.id = t.replay_id \
                 WHERE r.id = ?1 AND r.host = ?2",
            )?;
            let rows = stmt.query_map(params![id, host], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let deleted = tx.execute(
            "DELETE FROM replays WHERE id = ?1 AND host = ?2",
            params![id, host],
        )?;
        tx.commit()?;
        Ok((deleted > 0).then_some(files))
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
