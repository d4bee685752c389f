//! Identifier newtypes.
//!
//! All are opaque strings chosen by the shell: a [`ConnId`] is a socket.io connection id
//! (socket id); a [`UserId`] is the id of the connection a user first signed in on, which is
//! also the `sourceId` they publish with and stays theirs when they resume on a new
//! connection; a [`RoomId`] is a fresh id (a UUID v4 in the shell) that is also the room's
//! stream name.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A user: the id of the socket.io connection they signed in on. It doubles as the
    /// `sourceId` the user publishes with, as in the original demo. A user who resumes on a
    /// new connection (a reload, a network change) keeps it, so their seats, media grants and
    /// source stay the same; a sign-in without resuming is a new user.
    UserId
);

string_id!(
    /// A socket.io connection (its socket id). Commands come from connections; the domain
    /// maps each to the user signed in on it.
    ConnId
);

string_id!(
    /// A room, and the name of the stream its members publish to and view.
    RoomId
);
