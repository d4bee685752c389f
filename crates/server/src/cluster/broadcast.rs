//! Orders that must reach every node: a kick (an admin's, or the rooms server's through a
//! revoked grant) ends the matching sessions wherever they are, so a kicked viewer on an
//! edge is cut off too. Carried by Redis pub/sub (`podium:events`): fire and forget, which
//! is what a kick needs (a node that misses one while Redis is down has no new session of
//! that kind to end either: its Director refuses revoked grants and tokens).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::media_handle::MediaHandle;
use crate::policy::sessions::{EndReason, KickTarget, Sessions};

const CHANNEL: &str = "podium:events";

/// One order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Order {
    /// End the sessions of `stream` (of one source, or all).
    #[serde(rename_all = "camelCase")]
    Kick {
        /// The node it came from (which has applied it already).
        from: String,
        stream: String,
        /// `None`: every session of the stream; `Some(source)`: that source's publishers
        /// (`Some(None)`: the main source's).
        source: Option<Option<String>>,
    },
    /// End the sessions opened under API token or rooms grant `token_id`.
    #[serde(rename_all = "camelCase")]
    EndToken {
        from: String,
        token_id: String,
        /// The rooms server's grant (`true`) or an API token.
        grant: bool,
    },
}

impl Order {
    fn from(&self) -> &str {
        match self {
            Order::Kick { from, .. } | Order::EndToken { from, .. } => from,
        }
    }
}

/// Sends `order` to every node (this one applied it already).
pub async fn publish(
    redis: &mut redis::aio::ConnectionManager,
    order: &Order,
) -> redis::RedisResult<()> {
    let json = serde_json::to_string(order).unwrap_or_default();
    redis::cmd("PUBLISH")
        .arg(CHANNEL)
        .arg(json)
        .query_async::<i64>(redis)
        .await
        .map(|_| ())
}

/// Applies the orders of other nodes until `stop`, resubscribing after Redis comes back.
pub async fn listen(
    client: redis::Client,
    node: String,
    sessions: Arc<Sessions>,
    media: MediaHandle,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let on_order =
        async |_channel: String, payload: String| match serde_json::from_str::<Order>(&payload) {
            Ok(order) if order.from() != node => apply(&order, &sessions, &media),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "unreadable cluster order"),
        };
    super::pubsub::listen(
        client,
        vec![CHANNEL.to_owned()],
        "cluster orders",
        stop,
        || {},
        on_order,
    )
    .await;
}

fn apply(order: &Order, sessions: &Sessions, media: &MediaHandle) {
    let ended = match order {
        Order::Kick { stream, source, .. } => {
            let target = match source {
                None => KickTarget::Stream,
                Some(source) => KickTarget::Source(source.clone()),
            };
            sessions.kick(stream, &target)
        }
        Order::EndToken {
            token_id, grant, ..
        } => {
            let reason = if *grant {
                EndReason::GrantRevoked
            } else {
                EndReason::TokenRevoked
            };
            sessions.end_token_sessions(token_id, reason)
        }
    };
    for peer in &ended.peers {
        media.close(*peer);
    }
    if ended.count > 0 {
        tracing::info!(?order, sessions = ended.count, "cluster order applied");
    }
}
