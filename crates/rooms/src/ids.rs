//! Identifier newtypes.
//!
//! Both are opaque strings chosen by the shell: a [`UserId`] is the socket.io connection id
//! (socket id), which is also the `sourceId` the user publishes with; a [`RoomId`] is a fresh
//! id (a UUID v4 in the shell) that is also the room's stream name.

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
    /// A user: the id of their socket.io connection. It doubles as the `sourceId` the user
    /// publishes with, exactly as in the original demo, so it is unique per connection and a
    /// reconnect is a new user.
    UserId
);

string_id!(
    /// A room, and the name of the stream its members publish to and view.
    RoomId
);
