//! Podium's accounts (issue 16): people who sign up with a username and a password, their
//! sessions, profiles, whom they follow and whom they block. Stored in SQLite in the data
//! directory by default ([`AccountStore`]), behind the [`Accounts`] trait so that a server
//! database can replace it.
//!
//! * **Usernames** follow the rooms' rules (NFKC, 1–32 letters, digits, space, `_`, `-`, `.`)
//!   and are unique by look-alike, under both keys the rooms use (`Admin`/`аdmin`,
//!   `Bill`/`BiII`), so an account's name can never be impersonated by another account.
//! * **Passwords**: Argon2id with a random salt; at least 8 characters and not easy to guess
//!   (zxcvbn). A sign-in with an unknown name spends the time of a verification too and fails
//!   with the same message as a wrong password: no username enumeration.
//! * **Sessions**: a random 256-bit token (the cookie) of which only the SHA-256 is stored, with
//!   a CSRF token and an expiry (30 days, renewed on use). A new session is opened at every
//!   sign-in (no fixation: a token from before the sign-in never becomes an account's).
//! * Times are Unix seconds passed by the caller.
#![deny(missing_docs)]

mod error;
mod password;
mod push;
mod replay;
mod report;
mod schedule;
mod schema;
mod store;

pub use error::{Error, Result};
pub use password::{check_strength, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
pub use push::{PushStore, PushSubscription, MAX_PUSH_SUBSCRIPTIONS};
pub use replay::{NewReplay, NewTrack, Replay, ReplayStore, ReplayTrack, MAX_REPLAY_TRACKS};
pub use report::{NewReport, Report, ReportStore, MAX_REPORTS_PER_DAY, REASONS};
pub use schedule::{
    NewSchedule, Schedule, ScheduleStore, MAX_SCHEDULE_AHEAD, MAX_TOPIC_CHARS,
    MAX_UPCOMING_PER_HOST,
};
pub use schema::SCHEMA_VERSION;
pub use store::AccountStore;

use serde::Serialize;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 48;
/// Longest bio, in characters.
pub const MAX_BIO_CHARS: usize = 280;
/// How long a session lives without being used.
pub const SESSION_SECONDS: u64 = 30 * 24 * 3600;

/// An account as others may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Stable random id (`u` and 16 hex digits).
    pub id: String,
    /// The username, as normalized at sign-up.
    pub username: String,
    /// The name shown (the username unless changed).
    pub display_name: String,
    /// A short text about them.
    pub bio: String,
    /// Bumped at each avatar change; 0: no avatar.
    pub avatar_version: u64,
    /// When the account was made.
    pub created_at: u64,
}

/// A session just opened: what goes into the cookie and the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The session token (the cookie's value); only its hash is stored.
    pub token: String,
    /// The token a page must send back with each change (header), proving it is ours.
    pub csrf: String,
    /// When it ends unless used.
    pub expires_at: u64,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whose.
    pub account: Account,
    /// Its CSRF token.
    pub csrf: String,
    /// When it ends unless used.
    pub expires_at: u64,
}

/// A profile change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// New display name (trimmed; 1–48 characters, no control characters).
    pub display_name: Option<String>,
    /// New bio (trimmed; at most 280 characters, no control characters but newlines).
    pub bio: Option<String>,
}

/// An avatar image as stored: already checked and resized by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    /// The image.
    pub bytes: Vec<u8>,
    /// Its media type (`image/png`, `image/jpeg`, `image/webp`).
    pub content_type: String,
    /// Its version (see [`Account::avatar_version`]).
    pub version: u64,
}

/// What the server needs of an accounts store.
pub trait Accounts: Send + Sync {
    /// Makes an account (the password checked for strength and hashed).
    fn sign_up(&self, username: &str, password: &str, now: u64) -> Result<Account>;
    /// The account whose username (as typed or a look-alike of it) and password match;
    /// [`Error::BadCredentials`] otherwise, whichever was wrong.
    fn sign_in(&self, username: &str, password: &str) -> Result<Account>;
    /// Opens a session for `account`.
    fn open_session(&self, account: &str, now: u64) -> Result<NewSession>;
    /// The live session of `token` (renewing it when it has been used after a day), if any.
    fn session(&self, token: &str, now: u64) -> Result<Option<Session>>;
    /// Ends the session of `token` (nothing if unknown).
    fn close_session(&self, token: &str) -> Result<()>;
    /// Ends every session of `account` (a password change, a sign-out everywhere).
    fn close_sessions_of(&self, account: &str) -> Result<usize>;
    /// Changes the password (the old one must match); other sessions are ended.
    fn change_password(&self, account: &str, old: &str, new: &str) -> Result<()>;
    /// Deletes the account (the password must match) with everything it keeps: sessions,
    /// follows both ways, blocks, push subscriptions, schedules and reminders, the reports it
    /// filed and its replays. Returns the replays' files, for the caller to remove from disk.
    /// Refused while one of its rooms is being recorded (its files are still being written).
    fn delete_account(&self, id: &str, password: &str) -> Result<Vec<String>>;
    /// An account by id.
    fn account(&self, id: &str) -> Result<Option<Account>>;
    /// An account by username (or a look-alike of it).
    fn account_named(&self, username: &str) -> Result<Option<Account>>;
    /// Changes a profile; returns the account as it now is.
    fn update_profile(&self, id: &str, update: ProfileUpdate) -> Result<Account>;
    /// Sets (or, with `None`, removes) the avatar; returns its new version.
    fn set_avatar(&self, id: &str, avatar: Option<(Vec<u8>, String)>) -> Result<u64>;
    /// The avatar, if any.
    fn avatar(&self, id: &str) -> Result<Option<Avatar>>;
    /// `follower` follows `followee` from now on; `false` if they already did.
    fn follow(&self, follower: &str, followee: &str, now: u64) -> Result<bool>;
    /// `follower` stops following `followee`; `false` if they did not.
    fn unfollow(&self, follower: &str, followee: &str) -> Result<bool>;
    /// Whether `follower` follows `followee`.
    fn follows(&self, follower: &str, followee: &str) -> Result<bool>;
    /// Who follows `id`, newest first, at most `limit`.
    fn followers(&self, id: &str, limit: usize) -> Result<Vec<Account>>;
    /// Whom `id` follows, newest first, at most `limit`.
    fn following(&self, id: &str, limit: usize) -> Result<Vec<Account>>;
    /// The ids `id` follows (all of them: ranking and notifications).
    fn following_ids(&self, id: &str) -> Result<Vec<String>>;
    /// The ids that follow `id` (all of them: notifications).
    fn follower_ids(&self, id: &str) -> Result<Vec<String>>;
    /// How many follow `id` and how many `id` follows.
    fn follow_counts(&self, id: &str) -> Result<(u64, u64)>;
    /// `blocker` blocks `blocked` (and stops following them, and they stop following
    /// `blocker`); `false` if already blocked.
    fn block(&self, blocker: &str, blocked: &str, now: u64) -> Result<bool>;
    /// Lifts a block; `false` if there was none.
    fn unblock(&self, blocker: &str, blocked: &str) -> Result<bool>;
    /// Whether either of the two blocks the other.
    fn blocked_either_way(&self, a: &str, b: &str) -> Result<bool>;
    /// Whom `id` blocks.
    fn blocked_accounts(&self, id: &str) -> Result<Vec<Account>>;
    /// The ids in a block with `id`, either way (hidden from each other's rooms).
    fn block_relations(&self, id: &str) -> Result<Vec<String>>;
    /// The ids `id` blocks.
    fn blocked_ids(&self, id: &str) -> Result<Vec<String>>;
    /// The ids that block `id` (their rooms are closed to `id`).
    fn blocker_ids(&self, id: &str) -> Result<Vec<String>>;
}
