//! The cluster's shared state in Redis: nodes and their load, each stream's origin and the
//! nodes serving its viewers, placement reservations, the signing keys. Every key is listed
//! in `docs/cluster.md`; writes that must not race (an origin claim) are Lua scripts, which
//! Redis runs atomically.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

/// What a node publishes about itself (`podium:node:<id>`, expiring).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// `--node-name`.
    pub id: String,
    /// Random per start: a node that restarted under the same name is another process.
    pub boot_id: String,
    /// The HTTP/WebSocket URL clients reach it at.
    pub url: String,
    /// Where other nodes reach its relay (TCP control, UDP media).
    pub relay_addr: std::net::SocketAddr,
    /// Serving or draining.
    pub state: podium_cluster::NodeState,
    /// Viewers it serves (all streams).
    pub viewers: u32,
    /// Viewers it takes in all.
    pub max_viewers: u32,
    /// Publications on it.
    pub publications: u32,
    /// Streams it is the origin of.
    pub origins: u32,
    /// Unix time in milliseconds of this record.
    pub at_ms: u64,
    /// While it is the rooms authority: the number of its last decision (0 otherwise), so
    /// that no node takes over from an older state while it lives.
    #[serde(default)]
    pub rooms_seq: u64,
}

/// How long a node's record lives without a heartbeat.
pub const NODE_TTL: Duration = podium_cluster::HEARTBEAT_EXPIRY;
/// How long a placement counts against a node before its viewer shows up in its load.
pub const RESERVATION_TTL: Duration = Duration::from_secs(5);
/// How long a node's count of a stream's viewers stands without being refreshed.
pub const VIEWERS_TTL: Duration = Duration::from_secs(5);

const NODES: &str = "podium:nodes";
const STREAMS: &str = "podium:streams";
const KEY_RING: &str = "podium:keyring";

fn node_key(id: &str) -> String {
    format!("podium:node:{id}")
}

fn drain_key(id: &str) -> String {
    format!("podium:node:{id}:drain")
}

fn reserve_key(id: &str) -> String {
    format!("podium:reserve:{id}")
}

fn stream_key(stream: &str) -> String {
    format!("podium:stream:{{{stream}}}")
}

fn viewers_key(stream: &str) -> String {
    format!("podium:stream:{{{stream}}}:viewers")
}

/// A stream's origin as Redis records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The node.
    pub node: String,
    /// Bumped every time the origin changes hands.
    pub epoch: u64,
}

/// Claims `stream`'s origin for `candidate` unless a live node that is not draining holds
/// it; returns the holder. A holder is live while its node key exists (its heartbeat); a
/// draining one keeps its own publishers, but returning ones move to the candidate.
const CLAIM: &str = r#"
local origin = redis.call('HGET', KEYS[1], 'origin')
if origin == ARGV[1] then
  return {origin, redis.call('HGET', KEYS[1], 'epoch') or '0'}
end
if origin then
  local record = redis.call('GET', ARGV[3] .. origin)
  if record and not string.find(record, '"state":"draining"', 1, true) then
    return {origin, redis.call('HGET', KEYS[1], 'epoch') or '0'}
  end
end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'origin', ARGV[1], 'since', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
return {ARGV[1], tostring(epoch)}
"#;

/// Gives `stream`'s origin up if `node` holds it.
const RELEASE: &str = r"
if redis.call('HGET', KEYS[1], 'origin') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'origin')
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
";

/// The Redis side of a node.
#[derive(Clone)]
pub struct SharedState {
    client: redis::Client,
    redis: ConnectionManager,
    claim: std::sync::Arc<redis::Script>,
    release: std::sync::Arc<redis::Script>,
}

impl SharedState {
    /// Connects (the connection reconnects on its own after Redis comes back).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Self {
            client,
            redis,
            claim: std::sync::Arc::new(redis::Script::new(CLAIM)),
            release: std::sync::Arc::new(redis::Script::new(RELEASE)),
        })
    }

    /// The client (for subscriptions).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A handle on the shared connection.
    pub fn connection(&self) -> ConnectionManager {
        self.redis.clone()
    }

    /// Writes this node's record (alive for [`NODE_TTL`]).
    pub async fn heartbeat(&self, record: &NodeRecord) -> redis::RedisResult<()> {
        let json = serde_json::to_string(record).unwrap_or_default();
        let mut c = self.redis.clone();
        redis::pipe()
            .set_options(
                node_key(&record.id),
                json,
                redis::SetOptions::default()
                    .with_expiration(redis::SetExpiry::PX(NODE_TTL.as_millis() as u64)),
            )
            .ignore()
            .sadd(NODES, &record.id)
            .ignore()
            .query_async::<()>(&mut c)
            .await
    }

    /// Removes this node's record at once (a clean stop).
    pub async fn leave(&self, id: &str) -> redis::RedisResult<()> {
        let mut c = self.redis.clone();
        redis::pipe()
            .del(node_key(id))
            .ignore()
            .srem(NODES, id)
            .ignore()
            .query_async::<()>(&mut c)
            .await
    }

    /// Every live node's record with its reservations; members whose record expired are
    /// dropped from the set.
    pub async fn nodes(&self) -> redis::RedisResult<Vec<(NodeRecord, u32)>> {
        let mut c = self.redis.clone();
        let ids: Vec<String> = c.smembers(NODES).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| node_key(id)).collect();
        let reserves: Vec<String> = ids.iter().map(|id| reserve_key(id)).collect();
        let (records, reserved): (Vec<Option<String>>, Vec<Option<u32>>) = redis::pipe()
            .mget(keys)
            .mget(reserves)
            .query_async(&mut c)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        let mut gone = Vec::new();
        for ((id, record), reserved) in ids.iter().zip(records).zip(reserved) {
            match record.and_then(|r| serde_json::from_str::<NodeRecord>(&r).ok()) {
                Some(r) => out.push((r, reserved.unwrap_or(0))),
                None => gone.push(id.clone()),
            }
        }
        if !gone.is_empty() {
            let _: redis::RedisResult<()> = c.srem(NODES, gone).await;
        }
        Ok(out)
    }

    /// Counts a placement against `node` for [`RESERVATION_TTL`].
    pub async fn reserve(&self, node: &str) -> redis::RedisResult<()> {
        let mut c = self.redis.clone();
        redis::pipe()
            .incr(reserve_key(node), 1)
            .ignore()
            .pexpire(reserve_key(node), RESERVATION_TTL.as_millis() as i64)
            .ignore()
            .query_async::<()>(&mut c)
            .await
    }

    /// `stream`'s recorded origin, alive or not.
    pub async fn origin(&self, stream: &str) -> redis::RedisResult<Option<Origin>> {
        let mut c = self.redis.clone();
        let (node, epoch): (Option<String>, Option<u64>) = redis::cmd("HMGET")
            .arg(stream_key(stream))
            .arg("origin")
            .arg("epoch")
            .query_async(&mut c)
            .await?;
        Ok(node.map(|node| Origin {
            node,
            epoch: epoch.unwrap_or(0),
        }))
    }

    /// The recorded origins of `streams`, in one round trip.
    pub async fn origins(&self, streams: &[&str]) -> redis::RedisResult<Vec<Option<Origin>>> {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for stream in streams {
            pipe.cmd("HMGET")
                .arg(stream_key(stream))
                .arg("origin")
                .arg("epoch");
        }
        let mut c = self.redis.clone();
        let rows: Vec<(Option<String>, Option<u64>)> = pipe.query_async(&mut c).await?;
        Ok(rows
            .into_iter()
            .map(|(node, epoch)| {
                node.map(|node| Origin {
                    node,
                    epoch: epoch.unwrap_or(0),
                })
            })
            .collect())
    }

    /// Makes `candidate` the origin of `stream` unless a live node holds it; the holder.
    pub async fn claim_origin(
        &self,
        stream: &str,
        candidate: &str,
        now_ms: u64,
    ) -> redis::RedisResult<Origin> {
        let mut c = self.redis.clone();
        let (node, epoch): (String, String) = self
            .claim
            .key(stream_key(stream))
            .key(STREAMS)
            .arg(candidate)
            .arg(now_ms)
            .arg("podium:node:")
            .arg(stream)
            .invoke_async(&mut c)
            .await?;
        Ok(Origin {
            node,
            epoch: epoch.parse().unwrap_or(0),
        })
    }

    /// Gives up `stream`'s origin if `node` holds it.
    pub async fn release_origin(&self, stream: &str, node: &str) -> redis::RedisResult<bool> {
        let mut c = self.redis.clone();
        let released: i64 = self
            .release
            .key(stream_key(stream))
            .key(STREAMS)
            .arg(node)
            .arg(stream)
            .invoke_async(&mut c)
            .await?;
        Ok(released == 1)
    }

    /// Records `node`'s viewers of each stream (for placement and the operator's view), and
    /// removes its entry from the streams in `gone` (no viewer there any more).
    pub async fn record_viewers(
        &self,
        node: &str,
        streams: &[(String, usize)],
        gone: &[String],
    ) -> redis::RedisResult<()> {
        if streams.is_empty() && gone.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for stream in gone {
            pipe.hdel(viewers_key(stream), node).ignore();
        }
        for (stream, viewers) in streams {
            let key = viewers_key(stream);
            pipe.hset(&key, node, *viewers)
                .ignore()
                .pexpire(&key, VIEWERS_TTL.as_millis() as i64)
                .ignore();
        }
        let mut c = self.redis.clone();
        pipe.query_async::<()>(&mut c).await
    }

    /// The nodes serving viewers of `stream`, with their counts.
    pub async fn stream_viewers(&self, stream: &str) -> redis::RedisResult<HashMap<String, u32>> {
        let mut c = self.redis.clone();
        c.hgetall(viewers_key(stream)).await
    }

    /// Streams that have an origin.
    pub async fn streams(&self) -> redis::RedisResult<Vec<String>> {
        let mut c = self.redis.clone();
        let mut streams: Vec<String> = c.smembers(STREAMS).await?;
        streams.sort();
        Ok(streams)
    }

    /// Whether an operator asked node `id` to drain.
    pub async fn drain_requested(&self, id: &str) -> redis::RedisResult<bool> {
        let mut c = self.redis.clone();
        c.exists(drain_key(id)).await
    }

    /// Asks node `id` to drain (`on`), or to serve again.
    pub async fn set_drain(&self, id: &str, on: bool) -> redis::RedisResult<()> {
        let mut c = self.redis.clone();
        if on {
            c.set(drain_key(id), 1).await
        } else {
            c.del(drain_key(id)).await
        }
    }

    /// Stores `ring` as the cluster's key ring if there is none; returns the one in force.
    pub async fn share_key_ring(&self, ring: &str) -> redis::RedisResult<String> {
        let mut c = self.redis.clone();
        let _: bool = c.set_nx(KEY_RING, ring).await?;
        c.get(KEY_RING).await
    }

    /// The cluster's key ring.
    pub async fn key_ring(&self) -> redis::RedisResult<Option<String>> {
        let mut c = self.redis.clone();
        c.get(KEY_RING).await
    }

    /// Replaces the cluster's key ring (after `podium keys rotate` on this node).
    pub async fn set_key_ring(&self, ring: &str) -> redis::RedisResult<()> {
        let mut c = self.redis.clone();
        c.set(KEY_RING, ring).await
    }
}
