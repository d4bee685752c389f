//! Reports: a signed-in person tells the server's operator about a person or a room (a
//! reason from a fixed list, optional details). Stored until the operator resolves them
//! (admin API). Times are Unix seconds passed by the caller.

use rusqlite::{params, Row};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::AccountStore;

/// The reasons a report can give.
pub const REASONS: [&str; 6] = ["spam", "harassment", "hate", "sexual", "violence", "other"];
/// Most reports one account may file in a day.
pub const MAX_REPORTS_PER_DAY: usize = 20;
/// Longest details, in characters.
const MAX_DETAILS_CHARS: usize = 1000;
/// Longest target id or name kept.
const MAX_TARGET_BYTES: usize = 200;

/// What a person reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    /// `user` or `room`.
    pub kind: String,
    /// The account id (or, for a guest, the username) or the room id.
    pub target: String,
    /// A name to show the operator (the username or the room's title).
    pub target_name: String,
    /// The room it happened in, if any.
    pub room_id: Option<String>,
    /// One of [`REASONS`].
    pub reason: String,
    /// What happened, in their words (optional).
    pub details: String,
}

/// A stored report, as the operator lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Its number.
    pub id: u64,
    /// The reporting account.
    pub reporter: String,
    /// The reporter's username.
    pub reporter_name: String,
    /// `user` or `room`.
    pub kind: String,
    /// Who or what.
    pub target: String,
    /// Its name when reported.
    pub target_name: String,
    /// The room it happened in.
    pub room_id: Option<String>,
    /// The reason.
    pub reason: String,
    /// The details.
    pub details: String,
    /// When it was filed.
    pub created_at: u64,
    /// When the operator resolved it.
    pub resolved_at: Option<u64>,
}

/// Storage of reports.
pub trait ReportStore: Send + Sync {
    /// Files a report by `reporter`; refused past [`MAX_REPORTS_PER_DAY`] or when invalid.
    fn report(&self, reporter: &str, new: NewReport, now: u64) -> Result<Report>;
    /// The reports, newest first: only unresolved ones if `open_only`.
    fn reports(&self, open_only: bool, limit: usize) -> Result<Vec<Report>>;
    /// Marks a report resolved; `false` if there is none or it already was.
    fn resolve_report(&self, id: u64, now: u64) -> Result<bool>;
}

const REPORT: &str = "r.id, r.reporter, a.username, r.kind, r.target, r.target_name, r.room_id, \
     r.reason, r.details, r.created_at, r.resolved_at";

fn report(row: &Row<'_>) -> rusqlite::Result<Report> {
    Ok(Report {
        id: row.get::<_, i64>(0)? as u64,
        reporter: row.get(1)?,
        reporter_name: row.get(2)?,
        kind: row.get(3)?,
        target: row.get(4)?,
        target_name: row.get(5)?,
        room_id: row.get(6)?,
        reason: row.get(7)?,
        details: row.get(8)?,
        created_at: row.get::<_, i64>(9)? as u64,
        resolved_at: row.get::<_, Option<i64>>(10)?.map(|t| t as u64),
    })
}

fn validate(new: NewReport) -> Result<NewReport> {
    if new.kind != "user" && new.kind != "room" {
        return Err(Error::Invalid("Report a user or a room".into()));
    }
    if !REASONS.contains(&new.reason.as_str()) {
        return Err(Error::Invalid(format!(
            "The reason is one of: {}",
            REASONS.join(", ")
        )));
    }
    let short = |s: &str| !s.trim().is_empty() && s.len() <= MAX_TARGET_BYTES;
    if !short(&new.target) || new.target_name.len() > MAX_TARGET_BYTES {
        return Err(Error::Invalid("Say who or which room you report".into()));
    }
    if new.room_id.as_deref().is_some_and(|r| !short(r)) {
        return Err(Error::Invalid("Invalid room".into()));
    }
    let details = if new.details.trim().is_empty() {
        String::new()
    } else {
        podium_rooms::normalize_text(&new.details, MAX_DETAILS_CHARS)
            .map_err(|e| Error::Invalid(format!("Details: {e}")))?
    };
    Ok(NewReport { details, ..new })
}

impl ReportStore for AccountStore {
    fn report(&self, reporter: &str, new: NewReport, now: u64) -> Result<Report> {
        let new = validate(new)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let today: i64 = tx.query_row(
            "SELECT COUNT(*) FROM reports WHERE reporter = ?1 AND created_at > ?2",
            params![reporter, now.saturating_sub(24 * 3600) as i64],
            |row| row.get(0),
        )?;
        if today as usize >= MAX_REPORTS_PER_DAY {
            return Err(Error::Invalid(
                "You have sent many reports today; the operator will read them".into(),
            ));
        }
        tx.execute(
            "INSERT INTO reports (reporter, kind, target, target_name, room_id, reason, details, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                reporter,
                new.kind,
                new.target,
                new.target_name,
                new.room_id,
                new.reason,
                new.details,
                now as i64
            ],
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => Error::NoSuchAccount,
            _ => e.into(),
        })?;
        let id = tx.last_insert_rowid();
        let stored = tx.query_row(
            &format!("SELECT {REPORT} FROM reports r JOIN accounts a ON a.id = r.reporter WHERE r.id = ?1"),
            params![id],
            report,
        )?;
        tx.commit()?;
        Ok(stored)
    }

    fn reports(&self, open_only: bool, limit: usize) -> Result<Vec<Report>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {REPORT} FROM reports r JOIN accounts a ON a.id = r.reporter \
             WHERE (?1 = 0 OR r.resolved_at IS NULL) ORDER BY r.id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![open_only, limit as i64], report)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn resolve_report(&self, id: u64, now: u64) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE reports SET resolved_at = ?2 WHERE id = ?1 AND resolved_at IS NULL",
            params![id as i64, now as i64],
        )? > 0)
    }
}
