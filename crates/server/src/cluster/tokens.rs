//! The cluster's API tokens: kept in Redis so that a token created through any node's admin
//! API opens the Director of every node, and a revocation on one node holds on all.
//!
//! Redis is the truth (`podium:tokens`, a hash of id → token with the hash of its secret,
//! and `podium:tokens:version`, bumped by every write). Each node answers the Director's
//! reads from a replica in memory, refreshed by its agent whenever the version moves (every
//! half second at most), so a Director call costs no Redis round trip and keeps working
//! through a Redis outage with the tokens it knew. Writes (admin API: create, revoke) go to
//! Redis at once, on a short synchronous connection of their own: they are rare, and the
//! store's interface is synchronous like the SQLite store it stands in for.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use podium_tokens::{AuthError, Error, NewToken, StoredToken, TokenRecord, Tokens};
use redis::Commands;

const TOKENS: &str = "podium:tokens";
const VERSION: &str = "podium:tokens:version";
/// How long a write waits for Redis.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Replica {
    version: Option<i64>,
    tokens: HashMap<String, StoredToken>,
}

/// The cluster-wide token store.
#[derive(Debug)]
pub struct ClusterTokens {
    client: redis::Client,
    replica: RwLock<Replica>,
}

fn storage(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("the cluster's Redis: {e}"))
}

impl ClusterTokens {
    /// The store on the Redis at `url`; empty until [`ClusterTokens::refresh`].
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            replica: RwLock::default(),
        })
    }

    fn connection(&self) -> Result<redis::Connection, Error> {
        let c = self
            .client
            .get_connection_with_timeout(WRITE_TIMEOUT)
            .map_err(storage)?;
        c.set_read_timeout(Some(WRITE_TIMEOUT)).map_err(storage)?;
        c.set_write_timeout(Some(WRITE_TIMEOUT)).map_err(storage)?;
        Ok(c)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Replica> {
        self.replica.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Copies this node's own tokens (its SQLite store, from before it joined) into the
    /// cluster, leaving any the cluster already has.
    pub async fn import(
        &self,
        redis: &mut redis::aio::ConnectionManager,
        local: Vec<StoredToken>,
    ) -> redis::RedisResult<usize> {
        let mut added = 0;
        for token in local {
            let json = serde_json::to_string(&token).unwrap_or_default();
            let set: bool = redis::cmd("HSETNX")
                .arg(TOKENS)
                .arg(&token.record.id)
                .arg(json)
                .query_async(redis)
                .await?;
            added += usize::from(set);
        }
        if added > 0 {
            redis::cmd("INCR")
                .arg(VERSION)
                .query_async::<i64>(redis)
                .await?;
        }
        Ok(added)
    }

    /// Reads the tokens again if they changed; returns the ids revoked since the last read
    /// (whose sessions this node ends).
    pub async fn refresh(
        &self,
        redis: &mut redis::aio::ConnectionManager,
    ) -> redis::RedisResult<Vec<String>> {
        let mut version: Option<i64> = redis::cmd("GET").arg(VERSION).query_async(redis).await?;
        if version.is_none() {
            // Redis lost its data (a restart without persistence): this node's replica
            // puts the tokens back rather than forgetting them all.
            let known: Vec<StoredToken> = self.read().tokens.values().cloned().collect();
            if !known.is_empty() {
                let restored = self.import(redis, known).await?;
                tracing::warn!(
                    restored,
                    "the cluster's API tokens were missing in Redis: restored"
                );
                version = redis::cmd("GET").arg(VERSION).query_async(redis).await?;
            }
        }
        if version.is_some() && version == self.read().version {
            return Ok(Vec::new());
        }
        let all: HashMap<String, String> =
            redis::cmd("HGETALL").arg(TOKENS).query_async(redis).await?;
        let tokens: HashMap<String, StoredToken> = all
            .into_iter()
            .filter_map(|(id, json)| Some((id, serde_json::from_str(&json).ok()?)))
            .collect();
        let mut replica = self.replica.write().unwrap_or_else(|e| e.into_inner());
        let revoked = tokens
            .values()
            .filter(|t| t.record.revoked)
            .filter(|t| {
                replica
                    .tokens
                    .get(&t.record.id)
                    .is_some_and(|old| !old.record.revoked)
            })
            .map(|t| t.record.id.clone())
            .collect();
        replica.tokens = tokens;
        replica.version = version;
        Ok(revoked)
    }
}

impl Tokens for ClusterTokens {
    fn create(&self, new: NewToken, now: u64) -> podium_tokens::Result<(TokenRecord, String)> {
        let (token, secret) = StoredToken::issue(new, now)?;
        let json = serde_json::to_string(&token).map_err(storage)?;
        let mut c = self.connection()?;
        let set: bool = c.hset_nx(TOKENS, &token.record.id, json).map_err(storage)?;
        if !set {
            return Err(Error::IdCollision);
        }
        let _: i64 = c.incr(VERSION, 1).map_err(storage)?;
        let record = token.record.clone();
        let mut replica = self.replica.write().unwrap_or_else(|e| e.into_inner());
        replica.tokens.insert(record.id.clone(), token);
        Ok((record, secret))
    }

    fn list(&self) -> podium_tokens::Result<Vec<TokenRecord>> {
        let mut list: Vec<TokenRecord> = self
            .read()
            .tokens
            .values()
            .map(|t| t.record.clone())
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(list)
    }

    fn get(&self, id: &str) -> podium_tokens::Result<Option<TokenRecord>> {
        Ok(self.read().tokens.get(id).map(|t| t.record.clone()))
    }

    fn revoke(&self, id: &str, now: u64) -> podium_tokens::Result<bool> {
        if !podium_tokens::is_valid_id(id) {
            return Ok(false);
        }
        let mut c = self.connection()?;
        // Read, change, write back unless another node wrote it meanwhile (then again).
        let revoked: Option<StoredToken> = redis::transaction(&mut c, &[TOKENS], |c, pipe| {
            let json: Option<String> = c.hget(TOKENS, id)?;
            let Some(mut token) = json.and_then(|j| serde_json::from_str::<StoredToken>(&j).ok())
            else {
                return Ok(Some(None));
            };
            token.revoke(now);
            let json = serde_json::to_string(&token).unwrap_or_default();
            pipe.hset(TOKENS, id, json)
                .ignore()
                .incr(VERSION, 1)
                .ignore()
                .query::<()>(c)?;
            Ok(Some(Some(token)))
        })
        .map_err(storage)?;
        let Some(token) = revoked else {
            return Ok(false);
        };
        let mut replica = self.replica.write().unwrap_or_else(|e| e.into_inner());
        replica.tokens.insert(id.to_owned(), token);
        Ok(true)
    }

    fn is_revoked(&self, id: &str) -> podium_tokens::Result<bool> {
        Ok(self.read().tokens.get(id).is_none_or(|t| t.record.revoked))
    }

    fn authenticate(&self, secret: &str, now: u64) -> Result<TokenRecord, AuthError> {
        let id = StoredToken::id_of(secret).ok_or(AuthError::Malformed)?;
        let replica = self.read();
        let token = replica.tokens.get(id).ok_or(AuthError::UnknownToken)?;
        token.authenticate(secret, now)
    }
}
