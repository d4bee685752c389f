//! The rooms server's keys in Redis: who the rooms authority is, its decisions (published in
//! order, numbered), the grants they left in force, and the state for a successor. Every
//! write of the authority is fenced by a Lua script that first checks it still holds the
//! lease, so a node that lost it (a long pause, a partition) cannot overwrite its successor.

use std::collections::HashSet;
use std::sync::Arc;

use redis::aio::ConnectionManager;

use crate::policy::room_grants::{GrantKind, GrantOp, GrantsRecord};

/// The authority's lease: its boot id, expiring unless renewed.
pub const LEADER: &str = "podium:rooms:leader";
/// The grants in force (`room:<id>`, `grant:<[room,user,kind]>` → grant id) and `.seq`, the
/// number of the last decision applied to them.
pub const GRANTS: &str = "podium:rooms:grants";
/// The rooms state (`<seq>\n<snapshot>`), written soon after each decision.
pub const STATE: &str = "podium:rooms:state";
/// Every decision, `<seq>\n<boot id of the authority>\n<JSON>`, to every node.
pub const DECISIONS: &str = "podium:rooms:decisions";

/// Where node `boot` receives its gateways' requests while it is the authority.
pub fn requests_channel(boot: &str) -> String {
    format!("podium:rooms:requests:{boot}")
}

/// Where node `boot` receives the answers that need no decision (read-only requests).
pub fn answers_channel(boot: &str) -> String {
    format!("podium:rooms:answers:{boot}")
}

/// Take the lease if free, renew it if ours: 2 = taken now, 1 = renewed, 0 = another's.
const ELECT: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
";

/// A decision: grant changes applied, numbered, published; -1 if another node holds the
/// lease, -2 if no one does (it lapsed, or Redis lost it). A decision whose id is the last
/// committed one (a commit repeated after an unclear failure) is not applied again.
/// ARGV: boot, decision id, number of changes, (op, field, value) per change, channel, JSON.
const COMMIT: &str = r"
local holder = redis.call('GET', KEYS[1])
if not holder then return -2 end
if holder ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[2], '.last') == ARGV[2] then
  return tonumber(redis.call('HGET', KEYS[2], '.seq'))
end
local seq = redis.call('HINCRBY', KEYS[2], '.seq', 1)
redis.call('HSET', KEYS[2], '.last', ARGV[2])
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local at = 4 + i * 3
  if ARGV[at] == 'set' then
    redis.call('HSET', KEYS[2], ARGV[at + 1], ARGV[at + 2])
  else
    redis.call('HDEL', KEYS[2], ARGV[at + 1])
  end
end
local at = 4 + n * 3
redis.call('PUBLISH', ARGV[at], seq .. '\n' .. ARGV[1] .. '\n' .. ARGV[at + 1])
return seq
";

/// Writes the state if the lease is ours (1) or not (0).
const SAVE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
";

/// Replaces the grants with a whole registry if the lease is ours (1) or not (0).
/// ARGV: boot, seq, then field and value pairs.
const REPLACE_GRANTS: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], '.seq', ARGV[2])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return 1
";

/// Gives the lease up if ours.
const RESIGN: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// How the lease went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Taken just now: load the state.
    Taken,
    /// Still ours.
    Renewed,
    /// Another node's.
    Other,
}

/// What became of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Committed as decision number `seq`.
    As(u64),
    /// Not committed: another node holds the lease.
    LeaseTaken,
    /// Not committed: no one holds the lease (it lapsed, or Redis restarted empty).
    NoLease,
}

/// The rooms keys of a Redis connection.
#[derive(Clone)]
pub struct RoomsStore {
    redis: ConnectionManager,
    elect: Arc<redis::Script>,
    commit: Arc<redis::Script>,
    save: Arc<redis::Script>,
    replace_grants: Arc<redis::Script>,
    resign: Arc<redis::Script>,
}

impl RoomsStore {
    /// Over `redis`.
    pub fn new(redis: ConnectionManager) -> Self {
        Self {
            redis,
            elect: Arc::new(redis::Script::new(ELECT)),
            commit: Arc::new(redis::Script::new(COMMIT)),
            save: Arc::new(redis::Script::new(SAVE)),
            replace_grants: Arc::new(redis::Script::new(REPLACE_GRANTS)),
            resign: Arc::new(redis::Script::new(RESIGN)),
        }
    }

    /// Takes or renews the lease for `boot`, for `ttl_ms`.
    pub async fn elect(&self, boot: &str, ttl_ms: u64) -> redis::RedisResult<Lease> {
        let mut c = self.redis.clone();
        let got: i64 = self
            .elect
            .key(LEADER)
            .arg(boot)
            .arg(ttl_ms)
            .invoke_async(&mut c)
            .await?;
        Ok(match got {
            2 => Lease::Taken,
            1 => Lease::Renewed,
            _ => Lease::Other,
        })
    }

    /// The authority's boot id, if any.
    pub async fn leader(&self) -> redis::RedisResult<Option<String>> {
        let mut c = self.redis.clone();
        redis::cmd("GET").arg(LEADER).query_async(&mut c).await
    }

    /// Gives the lease up (a node shutting down).
    pub async fn resign(&self, boot: &str) -> redis::RedisResult<()> {
        let mut c = self.redis.clone();
        self.resign
            .key(LEADER)
            .arg(boot)
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
    }

    /// Commits a decision (`json`) with its grant changes.
    pub async fn commit(
        &self,
        boot: &str,
        id: &str,
        grants: &[GrantOp],
        json: &str,
    ) -> redis::RedisResult<Committed> {
        let mut c = self.redis.clone();
        let mut call = self.commit.prepare_invoke();
        call.key(LEADER)
            .key(GRANTS)
            .arg(boot)
            .arg(id)
            .arg(grants.len());
        for op in grants {
            let (action, field, value) = change(op);
            call.arg(action).arg(field).arg(value);
        }
        let seq: i64 = call.arg(DECISIONS).arg(json).invoke_async(&mut c).await?;
        Ok(match seq {
            -2 => Committed::NoLease,
            seq => u64::try_from(seq).map_or(Committed::LeaseTaken, Committed::As),
        })
    }

    /// Writes the state as of decision `seq`; `false` if the lease is no longer `boot`'s.
    pub async fn save(&self, boot: &str, seq: u64, snapshot: &str) -> redis::RedisResult<bool> {
        let mut c = self.redis.clone();
        let saved: i64 = self
            .save
            .key(LEADER)
            .key(STATE)
            .arg(boot)
            .arg(format!("{seq}\n{snapshot}"))
            .invoke_async(&mut c)
            .await?;
        Ok(saved == 1)
    }

    /// Writes a whole registry as of decision `seq` (an authority whose Redis lost its data);
    /// `false` if the lease is no longer `boot`'s.
    pub async fn replace_grants(
        &self,
        boot: &str,
        seq: u64,
        record: &GrantsRecord,
    ) -> redis::RedisResult<bool> {
        let mut c = self.redis.clone();
        let mut call = self.replace_grants.prepare_invoke();
        call.key(LEADER).key(GRANTS).arg(boot).arg(seq);
        let (rooms, members) = record.parts();
        let ops = rooms
            .iter()
            .map(|room| GrantOp::OpenRoom { room: room.clone() })
            .chain(members.iter().map(|(room, user, kind, id)| GrantOp::Grant {
                room: room.clone(),
                user: user.clone(),
                kind: *kind,
                id: id.clone(),
            }));
        for op in ops {
            let (_, field, value) = change(&op);
            call.arg(field).arg(value);
        }
        let replaced: i64 = call.invoke_async(&mut c).await?;
        Ok(replaced == 1)
    }

    /// The last state written and the decision it is as of.
    pub async fn state(&self) -> redis::RedisResult<Option<(u64, String)>> {
        let mut c = self.redis.clone();
        let raw: Option<String> = redis::cmd("GET").arg(STATE).query_async(&mut c).await?;
        Ok(raw.and_then(|raw| {
            let (seq, snapshot) = raw.split_once('\n')?;
            Some((seq.parse().ok()?, snapshot.to_owned()))
        }))
    }

    /// The grants in force and the decision they are as of.
    pub async fn grants(&self) -> redis::RedisResult<(u64, GrantsRecord)> {
        let mut c = self.redis.clone();
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(GRANTS)
            .query_async(&mut c)
            .await?;
        let mut seq = 0;
        let mut rooms = HashSet::new();
        let mut members = Vec::new();
        for (field, value) in fields {
            if field == ".seq" {
                seq = value.parse().unwrap_or(0);
            } else if let Some(room) = field.strip_prefix("room:") {
                rooms.insert(room.to_owned());
            } else if let Some(key) = field.strip_prefix("grant:") {
                if let Ok((room, user, kind)) =
                    serde_json::from_str::<(String, String, GrantKind)>(key)
                {
                    members.push((room, user, kind, value));
                }
            }
        }
        Ok((seq, GrantsRecord::from_parts(rooms, members)))
    }

    /// Sends an answer to node `boot`.
    pub async fn send_answer(&self, boot: &str, json: &str) -> redis::RedisResult<()> {
        let mut c = self.redis.clone();
        redis::cmd("PUBLISH")
            .arg(answers_channel(boot))
            .arg(json)
            .query_async::<i64>(&mut c)
            .await
            .map(|_| ())
    }

    /// Sends a request to the authority `leader`: whether it was listening.
    pub async fn send_request(&self, leader: &str, json: &str) -> redis::RedisResult<bool> {
        let mut c = self.redis.clone();
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg(requests_channel(leader))
            .arg(json)
            .query_async(&mut c)
            .await?;
        Ok(receivers > 0)
    }
}

/// A grant change as a hash change: (`set` or `del`, field, value).
fn change(op: &GrantOp) -> (&'static str, String, String) {
    let grant_field = |room: &str, user: &str, kind: GrantKind| {
        format!(
            "grant:{}",
            serde_json::to_string(&(room, user, kind)).unwrap_or_default()
        )
    };
    match op {
        GrantOp::OpenRoom { room } => ("set", format!("room:{room}"), "1".into()),
        GrantOp::CloseRoom { room } => ("del", format!("room:{room}"), String::new()),
        GrantOp::Grant {
            room,
            user,
            kind,
            id,
        } => ("set", grant_field(room, user, *kind), id.clone()),
        GrantOp::Revoke { room, user, kind } => {
            ("del", grant_field(room, user, *kind), String::new())
        }
    }
}

/// A published decision: its number, the authority's boot id and the JSON.
pub fn parse_published(payload: &str) -> Option<(u64, &str, &str)> {
    let (seq, rest) = payload.split_once('\n')?;
    let (from, json) = rest.split_once('\n')?;
    Some((seq.parse().ok()?, from, json))
}
