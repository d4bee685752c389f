//! Cluster decisions without I/O (issue 15, `docs/cluster.md` to come): given a snapshot of
//! the nodes (what they published to Redis: state, load, heartbeat age) and of one stream
//! (its origin and the edges carrying it), where the Director sends a publisher or a viewer.
//! The shell reads the snapshot, calls these functions and records the reservation; the
//! functions take the time and the random choices as inputs, so every rule is tested here.
//!
//! Viewers (the design of `shared/reference/cluster.md` §8):
//! 1. the stream's origin while it holds fewer than `origin_max_viewers` viewers (no relay);
//! 2. else an edge already carrying the stream and below the high-water mark;
//! 3. else a new edge below it;
//!
//! choosing in 2 and 3 between two random candidates by `viewers + reserved` (the power of
//! two choices: near-best balance without every Director piling onto the same least-loaded
//! node during a join storm, which the reservations also damp).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A node whose last heartbeat is older than this is gone.
pub const HEARTBEAT_EXPIRY: Duration = Duration::from_secs(3);

/// Whether a node takes new sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Takes publishers and viewers.
    Serving,
    /// Being emptied (`podium drain`): nothing new is placed on it.
    Draining,
}

/// One node as the Director sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Its `--node-name`.
    pub id: String,
    pub state: NodeState,
    /// Viewers it serves now (all streams).
    pub viewers: u32,
    /// Most viewers it takes.
    pub max_viewers: u32,
    /// Placements made on it in the last few seconds (not yet in `viewers`).
    pub reserved: u32,
    /// How long ago its heartbeat was written.
    pub heartbeat_age: Duration,
}

impl Node {
    fn alive(&self) -> bool {
        self.heartbeat_age < HEARTBEAT_EXPIRY
    }

    fn serving(&self) -> bool {
        self.alive() && self.state == NodeState::Serving
    }

    fn load(&self) -> u32 {
        self.viewers.saturating_add(self.reserved)
    }

    /// Below `high_water` (a share of its capacity) counting reservations.
    fn has_room(&self, high_water: f64) -> bool {
        f64::from(self.load()) < high_water * f64::from(self.max_viewers)
    }
}

/// One stream as the Director sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamView {
    /// The node its publishers are on, if it has one.
    pub origin: Option<String>,
    /// Viewers on the origin.
    pub origin_viewers: u32,
    /// Nodes already pulling it from the origin.
    pub edges: Vec<String>,
}

/// How viewers are spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Viewers the origin keeps before edges take over (0: every viewer on an edge).
    pub origin_max_viewers: u32,
    /// Share of a node's capacity past which it gets no new viewers (leave room for the
    /// viewers of a node that dies: (N − 1) / N for N nodes).
    pub high_water: f64,
}

impl Default for Placement {
    fn default() -> Self {
        Self {
            origin_max_viewers: 500,
            high_water: 0.8,
        }
    }
}

/// Where a viewer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewerPlace {
    /// The origin itself.
    Origin(String),
    /// An edge that already carries the stream.
    Edge(String),
    /// A node that starts carrying it.
    NewEdge(String),
}

/// Why nobody can take a viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoPlace {
    /// The stream has no live origin (not published, or its origin is gone).
    NotLive,
    /// Every serving node is past its high-water mark.
    Full,
}

/// The node for a new viewer of `stream`; `pick(n)` returns a random index below `n`.
pub fn place_viewer(
    nodes: &[Node],
    stream: &StreamView,
    placement: Placement,
    mut pick: impl FnMut(usize) -> usize,
) -> Result<ViewerPlace, NoPlace> {
    let find = |id: &str| nodes.iter().find(|n| n.id == id);
    let origin = stream
        .origin
        .as_deref()
        .and_then(find)
        .filter(|n| n.alive())
        .ok_or(NoPlace::NotLive)?;
    if origin.serving()
        && stream.origin_viewers < placement.origin_max_viewers
        && origin.has_room(placement.high_water)
    {
        return Ok(ViewerPlace::Origin(origin.id.clone()));
    }
    let usable = |n: &&Node| n.serving() && n.has_room(placement.high_water) && n.id != origin.id;
    let carrying: Vec<&Node> = stream
        .edges
        .iter()
        .filter_map(|id| find(id))
        .filter(usable)
        .collect();
    if let Some(n) = two_choices(&carrying, &mut pick) {
        return Ok(ViewerPlace::Edge(n.id.clone()));
    }
    let fresh: Vec<&Node> = nodes
        .iter()
        .filter(usable)
        .filter(|n| !stream.edges.contains(&n.id))
        .collect();
    two_choices(&fresh, &mut pick)
        .map(|n| ViewerPlace::NewEdge(n.id.clone()))
        .ok_or(NoPlace::Full)
}

/// Of two random candidates (distinct when there are two), the less loaded.
fn two_choices<'a>(nodes: &[&'a Node], pick: &mut impl FnMut(usize) -> usize) -> Option<&'a Node> {
    match nodes.len() {
        0 => None,
        1 => Some(nodes[0]),
        n => {
            let a = pick(n) % n;
            let b = (a + 1 + pick(n - 1) % (n - 1)) % n;
            let (x, y) = (nodes[a], nodes[b]);
            Some(if y.load() < x.load() { y } else { x })
        }
    }
}

/// The node a new publisher of a stream without a live origin claims (the shell claims it
/// atomically in Redis; a stream whose origin is alive keeps it): the least loaded serving
/// node, `local` on a tie so a publisher stays where it connected when that is as good.
pub fn origin_for_publisher<'a>(nodes: &'a [Node], local: &str) -> Option<&'a Node> {
    nodes
        .iter()
        .filter(|n| n.serving())
        .min_by_key(|n| (n.load(), n.id != local))
}

#[cfg(test)]
mod tests;
