//! The token store as a trait ([`Tokens`]), so a cluster can keep its tokens somewhere every
//! node reads (Podium's cluster keeps them in Redis, `crates/server/src/cluster/tokens.rs`)
//! while a single server keeps the SQLite [`crate::TokenStore`]; and [`StoredToken`], a token as
//! such a store keeps it (the record and the hash of its secret, never the secret).

use serde::{Deserialize, Serialize};

use crate::error::{AuthError, Error};
use crate::record::{NewToken, TokenRecord};
use crate::{secret, Result};

/// What the server asks of a token store. Reads are synchronous and cheap (they run on every
/// Director call); a store whose truth is remote answers them from a local replica.
pub trait Tokens: Send + Sync + std::fmt::Debug {
    /// Validates and stores `new`; returns the record and the secret (shown once).
    fn create(&self, new: NewToken, now: u64) -> Result<(TokenRecord, String)>;
    /// Every token, oldest first.
    fn list(&self) -> Result<Vec<TokenRecord>>;
    /// The token with public id `id`.
    fn get(&self, id: &str) -> Result<Option<TokenRecord>>;
    /// Revokes `id` at `now`; `false` if there is no such token.
    fn revoke(&self, id: &str, now: u64) -> Result<bool>;
    /// Whether `id` is revoked (an unknown id counts as revoked: fail closed).
    fn is_revoked(&self, id: &str) -> Result<bool>;
    /// The token whose secret is `secret`, if usable at `now`.
    fn authenticate(&self, secret: &str, now: u64) -> Result<TokenRecord, AuthError>;
}

/// A token as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredToken {
    /// The record.
    pub record: TokenRecord,
    /// SHA-256 of its secret, hex.
    pub secret_hash: String,
}

impl StoredToken {
    /// A new token from `new` (validated) at `now`, with a fresh id and secret.
    pub fn issue(new: NewToken, now: u64) -> Result<(StoredToken, String)> {
        let new = new.validate(now)?;
        let mut rng = rand::rng();
        let id = secret::new_id(&mut rng);
        let secret = secret::new_secret(&id, &mut rng);
        let token = StoredToken {
            secret_hash: hex::encode(secret::hash(&secret)),
            record: new.into_record(id, now),
        };
        Ok((token, secret))
    }

    /// Checks `secret` against this token and that it is usable at `now`, in the order the
    /// SQLite store does (the secret first, so only its holder learns of revocation).
    pub fn authenticate(&self, secret: &str, now: u64) -> Result<TokenRecord, AuthError> {
        let hash = hex::decode(&self.secret_hash).map_err(|_| {
            AuthError::Storage(Error::Corrupt {
                id: self.record.id.clone(),
            })
        })?;
        if !secret::verify(secret, &hash) {
            return Err(AuthError::WrongSecret);
        }
        if self.record.revoked {
            return Err(AuthError::Revoked);
        }
        if self.record.is_expired(now) {
            return Err(AuthError::Expired);
        }
        Ok(self.record.clone())
    }

    /// The id embedded in `secret` (`None`: malformed).
    pub fn id_of(secret: &str) -> Option<&str> {
        secret::id_of(secret)
    }

    /// Marks it revoked at `now` (a second revocation keeps the first time).
    pub fn revoke(&mut self, now: u64) {
        if !self.record.revoked {
            self.record.revoked = true;
            self.record.revoked_at = Some(now);
        }
    }
}

impl Tokens for crate::TokenStore {
    fn create(&self, new: NewToken, now: u64) -> Result<(TokenRecord, String)> {
        crate::TokenStore::create(self, new, now)
    }
    fn list(&self) -> Result<Vec<TokenRecord>> {
        crate::TokenStore::list(self)
    }
    fn get(&self, id: &str) -> Result<Option<TokenRecord>> {
        crate::TokenStore::get(self, id)
    }
    fn revoke(&self, id: &str, now: u64) -> Result<bool> {
        crate::TokenStore::revoke(self, id, now)
    }
    fn is_revoked(&self, id: &str) -> Result<bool> {
        crate::TokenStore::is_revoked(self, id)
    }
    fn authenticate(&self, secret: &str, now: u64) -> Result<TokenRecord, AuthError> {
        crate::TokenStore::authenticate(self, secret, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;

    #[test]
    fn an_issued_token_authenticates_like_a_stored_one() {
        let now = 1_700_000_000;
        let (mut token, secret) =
            StoredToken::issue(NewToken::new("edge", Action::Subscribe, ["s-*"]), now).unwrap();
        assert_eq!(StoredToken::id_of(&secret), Some(token.record.id.as_str()));
        assert_eq!(
            token.authenticate(&secret, now).unwrap().id,
            token.record.id
        );
        let other = format!("{}.{}", token.record.id, "A".repeat(43));
        assert!(matches!(
            token.authenticate(&other, now),
            Err(AuthError::WrongSecret)
        ));
        token.revoke(now + 5);
        token.revoke(now + 9);
        assert_eq!(token.record.revoked_at, Some(now + 5));
        assert!(matches!(
            token.authenticate(&secret, now),
            Err(AuthError::Revoked)
        ));
        // Invalid input is refused before anything is stored.
        assert!(StoredToken::issue(NewToken::new(" ", Action::Publish, ["x"]), now).is_err());
    }
}
