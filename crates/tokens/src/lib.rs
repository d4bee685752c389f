//! Podium's API-token store.
//!
//! An API token lets a client obtain a signaling JWT from the Director: it names the action it
//! allows ([`Action::Publish`] or [`Action::Subscribe`]), the streams it covers (exact names,
//! prefix wildcards such as `room-*`, or `*`), whether multisource publishing (`sourceId`) is
//! allowed, whether the publisher may record (publish tokens only), optional origin and IP
//! allow-lists, an optional expiry and a revoked flag.
//!
//! Tokens live in an embedded SQLite database ([`TokenStore::open`]) whose schema is migrated
//! with `PRAGMA user_version`. A token's secret is returned once by [`TokenStore::create`]; only
//! its SHA-256 hash is stored. A secret has the form `<id>.<43 base64url chars>` (32 random
//! bytes), so [`TokenStore::authenticate`] looks the token up by its public id and compares
//! hashes in constant time. Because the secret carries 256 bits of entropy, a plain hash is as
//! strong as a slow password hash would be.
//!
//! Nothing here reads the clock: every time is a `now` parameter in unix seconds, so expiry is
//! testable. Every error message is safe to show to a client and never contains a secret.
//!
//! ```
//! use podium_tokens::{Action, NewToken, TokenStore};
//! use std::net::IpAddr;
//!
//! let store = TokenStore::open_in_memory().unwrap();
//! let now = 1_700_000_000;
//! let (record, secret) = store
//!     .create(NewToken::new("studio", Action::Publish, ["room-*"]), now)
//!     .unwrap();
//! let token = store.authenticate(&secret, now + 10).unwrap();
//! assert_eq!(token.id, record.id);
//! let ip: IpAddr = "192.0.2.7".parse().unwrap();
//! assert!(token.check(Action::Publish, "room-1", None, ip).is_ok());
//! assert!(token.check(Action::Publish, "lobby", None, ip).is_err());
//! ```
#![deny(missing_docs)]

mod cidr;
mod error;
mod origin;
mod patterns;
mod record;
mod schema;
mod secret;
mod shared;
mod store;

pub use error::{AuthError, Error, Refusal, ValidationError};
pub use patterns::{is_valid_pattern, pattern_matches};
pub use record::{Action, NewToken, TokenRecord, MAX_LABEL_CHARS, MAX_LIST_LEN, MAX_PATTERN_CHARS};
pub use schema::SCHEMA_VERSION;
pub use secret::{is_valid_id, ID_PREFIX};
pub use shared::{StoredToken, Tokens};
pub use store::TokenStore;

/// Result type of the store's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
