//! The cluster's series on `/metrics`: this node's part (draining, origins held, streams
//! pulled, relay traffic, placements) and the cluster as Redis describes it at the scrape
//! (nodes, streams with an origin, nodes serving each stream's viewers).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use super::status::Status;
use super::Cluster;

/// How long a scrape waits for Redis; past it the cluster-wide series are left out.
const READ_LIMIT: Duration = Duration::from_secs(1);
/// Streams listed one by one at most (the rest are only counted).
const STREAMS_LISTED: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabel {
    stream: String,
}

/// What a scrape reads of the cluster.
pub struct Reading {
    status: Option<Status>,
    draining: bool,
    relay: [u64; 4],
    placements: u64,
}

impl Cluster {
    /// This node's counters and the cluster's state (if Redis answers within a second).
    pub async fn metrics_reading(&self) -> Reading {
        let status = tokio::time::timeout(READ_LIMIT, super::status::read_from(self.shared()))
            .await
            .ok()
            .and_then(Result::ok);
        let c = &self.links.counters;
        Reading {
            status,
            draining: self.is_draining(),
            relay: [
                c.sent.load(Relaxed),
                c.received.load(Relaxed),
                c.malformed.load(Relaxed),
                c.dropped.load(Relaxed),
            ],
            placements: self.placements.load(Relaxed),
        }
    }
}

/// Registers the cluster's series under `podium_cluster_*`.
pub fn register(registry: &mut Registry, node: &str, r: &Reading) {
    let registry = registry.sub_registry_with_prefix("cluster");
    registry.register(
        "draining",
        "1 while this node drains",
        ConstGauge::new(i64::from(r.draining)),
    );
    for (name, help, value) in [
        (
            "relay_messages_sent",
            "Relay messages this node sent to other nodes",
            r.relay[0],
        ),
        (
            "relay_messages_received",
            "Relay messages this node received from other nodes",
            r.relay[1],
        ),
        (
            "relay_messages_malformed",
            "Relay messages from other nodes (or strangers) that could not be read",
            r.relay[2],
        ),
        (
            "relay_datagrams_dropped",
            "Relay datagrams dropped because the send buffer was full",
            r.relay[3],
        ),
        (
            "placements",
            "Clients this node's Director placed",
            r.placements,
        ),
    ] {
        registry.register(name, help, ConstCounter::new(value));
    }
    let Some(status) = &r.status else {
        return;
    };
    let gauge = |v: usize| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    let origins = status
        .streams
        .iter()
        .filter(|s| s.origin.as_deref() == Some(node))
        .count();
    let pulled = status
        .streams
        .iter()
        .filter(|s| s.origin.as_deref() != Some(node) && s.viewers.contains_key(node))
        .count();
    for (name, help, value) in [
        ("nodes", "Live nodes of the cluster", status.nodes.len()),
        (
            "streams",
            "Streams of the cluster with an origin",
            status.streams.len(),
        ),
        ("origins", "Streams this node is the origin of", origins),
        (
            "pulled_streams",
            "Streams this node pulls from their origin (as an edge)",
            pulled,
        ),
    ] {
        registry.register(name, help, gauge(value));
    }
    let nodes_per_stream = Family::<StreamLabel, Gauge>::default();
    let viewers_per_stream = Family::<StreamLabel, Gauge>::default();
    for s in status.streams.iter().take(STREAMS_LISTED) {
        let label = StreamLabel {
            stream: s.stream.clone(),
        };
        let edges = s
            .viewers
            .keys()
            .filter(|n| Some(n.as_str()) != s.origin.as_deref())
            .count();
        nodes_per_stream
            .get_or_create(&label)
            .set(i64::try_from(edges).unwrap_or(i64::MAX));
        viewers_per_stream
            .get_or_create(&label)
            .set(i64::from(s.viewers.values().sum::<u32>()));
    }
    registry.register(
        "stream_edges",
        "Edges serving each stream's viewers (besides its origin)",
        nodes_per_stream,
    );
    registry.register(
        "stream_viewers",
        "Viewers of each stream over the whole cluster",
        viewers_per_stream,
    );
}
