//! Errors. Every `Display` message is safe to send to a client: no secrets, no SQL, no paths.
//! Underlying causes (SQLite errors) are reachable through `std::error::Error::source` for logs.

use crate::record::{MAX_LABEL_CHARS, MAX_LIST_LEN};

/// An error of the token store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of a new token is invalid. (The message already includes the reason, so it is
    /// not also the error's `source`: a printed chain would repeat it.)
    #[error("invalid token: {0}")]
    Invalid(ValidationError),
    /// The database was written by a newer Podium (or is not a Podium token database).
    #[error(
        "the token database has schema version {found}, but this Podium supports up to \
         version {supported}: use a newer Podium"
    )]
    UnsupportedSchema {
        /// The database's `user_version`.
        found: i64,
        /// The newest schema version this code knows.
        supported: i64,
    },
    /// SQLite failed (the cause is the error's source).
    #[error("token storage error")]
    Storage(#[from] rusqlite::Error),
    /// A stored row could not be decoded.
    #[error("stored token {id} is malformed")]
    Corrupt {
        /// Public id of the bad row.
        id: String,
    },
    /// Random ids collided repeatedly (practically impossible).
    #[error("could not allocate a unique token id")]
    IdCollision,
    /// A store kept elsewhere (a cluster's) could not be reached; the message says which.
    #[error("token storage unavailable: {0}")]
    Unavailable(String),
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Error::Invalid(e)
    }
}

/// Why a [`NewToken`](crate::NewToken) was refused by [`TokenStore::create`](crate::TokenStore::create).
///
/// Offending values are echoed (shortened to 64 characters) so an admin can see what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The label is empty or only whitespace.
    #[error("label must not be empty")]
    EmptyLabel,
    /// The label is longer than [`MAX_LABEL_CHARS`].
    #[error("label must be at most {MAX_LABEL_CHARS} characters")]
    LabelTooLong,
    /// The label contains control characters.
    #[error("label must not contain control characters")]
    LabelControlChars,
    /// `record` was asked for on a token that is not a publish token.
    #[error("record is only allowed on publish tokens: a subscribe token cannot record")]
    RecordNeedsPublish,
    /// No stream pattern was given.
    #[error("at least one stream pattern is required")]
    NoStreams,
    /// A list has more than [`MAX_LIST_LEN`] entries.
    #[error("too many {field} (at most {MAX_LIST_LEN})")]
    TooMany {
        /// `streams`, `allowed origins` or `allowed IPs`.
        field: &'static str,
    },
    /// A stream pattern is malformed.
    #[error(
        "invalid stream pattern {0:?}: use 1 to 128 characters of A-Z a-z 0-9 _ . - with an \
         optional trailing *, or * alone"
    )]
    StreamPattern(String),
    /// An origin is malformed.
    #[error("invalid origin {0:?}: expected scheme://host[:port], e.g. https://example.com")]
    Origin(String),
    /// An IP address or CIDR range is malformed.
    #[error("invalid IP address or CIDR range {0:?}")]
    Ip(String),
    /// The expiry is not after `now`.
    #[error("expiry must be in the future")]
    ExpiryNotInFuture,
    /// The expiry does not fit in the database.
    #[error("expiry is out of range")]
    ExpiryOutOfRange,
}

impl ValidationError {
    /// Shortens a user-supplied value for display in an error.
    pub(crate) fn shown(value: &str) -> String {
        const MAX: usize = 64;
        match value.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}…", &value[..cut]),
            None => value.to_owned(),
        }
    }
}

/// Why [`TokenStore::authenticate`](crate::TokenStore::authenticate) refused a secret.
///
/// The variants are distinct for logs and metrics, but a malformed, unknown or wrong secret all
/// display the same message, so a client learns nothing that helps guessing. Revocation and
/// expiry are only reported to a client that presented the right secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The secret does not have the shape of a Podium token secret.
    #[error("Unauthorized: Invalid token")]
    Malformed,
    /// No token has the id embedded in the secret.
    #[error("Unauthorized: Invalid token")]
    UnknownToken,
    /// The token exists but the secret does not match.
    #[error("Unauthorized: Invalid token")]
    WrongSecret,
    /// The token was revoked.
    #[error("Unauthorized: Token revoked")]
    Revoked,
    /// The token's expiry has passed.
    #[error("Unauthorized: Token expired")]
    Expired,
    /// The store failed (the cause is the error's source).
    #[error("Internal error")]
    Storage(#[source] Error),
}

impl AuthError {
    /// True for the refusals caused by the client's credentials (everything but storage failures).
    pub fn is_unauthorized(&self) -> bool {
        !matches!(self, AuthError::Storage(_))
    }
}

/// Why [`TokenRecord::check`](crate::TokenRecord::check) refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A subscribe token was used to publish.
    #[error("Token does not allow publishing")]
    PublishNotAllowed,
    /// A publish token was used to view.
    #[error("Token does not allow viewing")]
    ViewNotAllowed,
    /// No pattern of the token covers the stream name (Millicast's message).
    #[error("StreamName is not valid for token")]
    StreamNotAllowed,
    /// A `sourceId` was given but the token does not allow multisource.
    #[error("Token does not allow multisource publishing (sourceId)")]
    MultisourceNotAllowed,
    /// The request's `Origin` is missing or not in the token's allow-list.
    #[error("Origin is not allowed for token")]
    OriginNotAllowed,
    /// The client's IP address is not in the token's allow-list.
    #[error("IP address is not allowed for token")]
    IpNotAllowed,
}
