//! `podium cluster status` and `podium drain`: what an operator reads and does from any
//! machine that reaches the cluster's Redis.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::state::{NodeRecord, Origin, SharedState};

/// The cluster as Redis describes it.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Live nodes with their placements reserved.
    pub nodes: Vec<NodeStatus>,
    /// Streams with an origin.
    pub streams: Vec<StreamStatus>,
    /// The node that holds the rooms authority's lease.
    pub rooms_authority: Option<String>,
}

/// One node.
#[derive(Debug, Serialize)]
pub struct NodeStatus {
    /// Its record.
    #[serde(flatten)]
    pub record: NodeRecord,
    /// Placements counted against it that its load does not show yet.
    pub reserved: u32,
    /// Whether a drain was asked for.
    pub drain_requested: bool,
}

/// One stream.
#[derive(Debug, Serialize)]
pub struct StreamStatus {
    /// Its name.
    pub stream: String,
    /// Its origin node and epoch.
    pub origin: Option<String>,
    /// Bumped when the origin changed hands.
    pub epoch: u64,
    /// Viewers per node (the origin's own and each edge's).
    pub viewers: BTreeMap<String, u32>,
}

/// Reads the status from the Redis at `url`.
pub async fn read(url: &str) -> anyhow::Result<Status> {
    let state = SharedState::connect(url).await?;
    Ok(read_from(&state).await?)
}

/// Reads the status through a node's connection.
pub async fn read_from(state: &SharedState) -> redis::RedisResult<Status> {
    let mut nodes = Vec::new();
    for (record, reserved) in state.nodes().await? {
        let drain_requested = state.drain_requested(&record.id).await?;
        nodes.push(NodeStatus {
            record,
            reserved,
            drain_requested,
        });
    }
    nodes.sort_by(|a, b| a.record.id.cmp(&b.record.id));
    let mut streams = Vec::new();
    for stream in state.streams().await? {
        let origin = state.origin(&stream).await?;
        let viewers = state.stream_viewers(&stream).await?.into_iter().collect();
        let (origin, epoch) = match origin {
            Some(Origin { node, epoch }) => (Some(node), epoch),
            None => (None, 0),
        };
        streams.push(StreamStatus {
            stream,
            origin,
            epoch,
            viewers,
        });
    }
    let leader = super::rooms::store::RoomsStore::new(state.connection())
        .leader()
        .await?;
    let rooms_authority = nodes
        .iter()
        .find(|n| Some(&n.record.boot_id) == leader.as_ref())
        .map(|n| n.record.id.clone());
    Ok(Status {
        nodes,
        streams,
        rooms_authority,
    })
}

/// Asks node `node` to drain (or, `on` false, to serve again).
pub async fn request_drain(url: &str, node: &str, on: bool) -> anyhow::Result<()> {
    let state = SharedState::connect(url).await?;
    state.set_drain(node, on).await?;
    Ok(())
}

impl Status {
    /// A table for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Nodes ({}):", self.nodes.len());
        let _ = writeln!(
            out,
            "  {:<16} {:<9} {:>8} {:>8} {:>8} {:>8}  {:<28} relay",
            "node", "state", "viewers", "max", "reserved", "origins", "url"
        );
        for n in &self.nodes {
            let r = &n.record;
            let state = match (r.state, n.drain_requested) {
                (podium_cluster::NodeState::Draining, _) => "draining",
                (_, true) => "to drain",
                _ => "serving",
            };
            let _ = writeln!(
                out,
                "  {:<16} {:<9} {:>8} {:>8} {:>8} {:>8}  {:<28} {}",
                r.id, state, r.viewers, r.max_viewers, n.reserved, r.origins, r.url, r.relay_addr
            );
        }
        let _ = writeln!(
            out,
            "Rooms authority: {}",
            self.rooms_authority.as_deref().unwrap_or("none")
        );
        let _ = writeln!(out, "Streams ({}):", self.streams.len());
        for s in &self.streams {
            let origin = s.origin.as_deref().unwrap_or("-");
            let edges: Vec<String> = s
                .viewers
                .iter()
                .filter(|(n, _)| Some(n.as_str()) != s.origin.as_deref())
                .map(|(n, v)| format!("{n} ({v})"))
                .collect();
            let on_origin = s
                .origin
                .as_ref()
                .and_then(|o| s.viewers.get(o))
                .unwrap_or(&0);
            let total: u32 = s.viewers.values().sum();
            let _ = writeln!(
                out,
                "  {}: origin {origin} (epoch {}, {on_origin} viewers), {} edges{}{}, {total} viewers in all",
                s.stream,
                s.epoch,
                edges.len(),
                if edges.is_empty() { "" } else { ": " },
                edges.join(", ")
            );
        }
        out
    }
}
