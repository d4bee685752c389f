//! Errors. Every `Display` message is safe to show the person who caused it: no secrets, no
//! SQL, and sign-in failures never say whether the username exists.

/// An error of the accounts store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field is invalid; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The username (or one that looks like it) belongs to another account.
    #[error("The username {0} is already taken (or looks too much like one that is)")]
    UsernameTaken(String),
    /// Unknown username or wrong password: deliberately the same message for both.
    #[error("Wrong username or password")]
    BadCredentials,
    /// No such account.
    #[error("No such account")]
    NoSuchAccount,
    /// Not now: something in progress stands in the way; the message says what.
    #[error("{0}")]
    Busy(String),
    /// The database was written by a newer Podium.
    #[error(
        "the accounts database has schema version {found}, but this Podium supports up to \
         version {supported}: use a newer Podium"
    )]
    UnsupportedSchema {
        /// The database's `user_version`.
        found: i64,
        /// The newest schema version this code knows.
        supported: i64,
    },
    /// SQLite failed (the cause is the error's source).
    #[error("accounts storage error")]
    Storage(#[from] rusqlite::Error),
    /// Hashing failed (practically impossible with valid parameters).
    #[error("password hashing failed")]
    Hashing,
}

/// The store's result.
pub type Result<T> = std::result::Result<T, Error>;
