//! The node's agent: once per tick it reads what the media workers hold, writes the node's
//! heartbeat and load, keeps the origin claims of the streams published here, makes this
//! node pull the streams its viewers watch from their origins (and stop when the origin
//! changes, goes away or its link drops), and keeps the signing keys in step with the
//! cluster's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use podium_media::StreamPresence;
use tokio::sync::mpsc;

use super::state::Origin;
use super::Cluster;
use crate::media_handle::MediaHandle;
use crate::policy::sessions::{EndReason, Sessions};

/// How often the agent runs: well inside the heartbeat's expiry.
const TICK: Duration = Duration::from_millis(500);
/// A stream published here keeps its origin claim this long after its last publication
/// ended (a publisher reconnecting comes back to the same origin and its edges stay).
const ORIGIN_LINGER: Duration = Duration::from_secs(10);
/// How often the key ring is compared with the cluster's.
const KEYS_EVERY: Duration = Duration::from_secs(2);
/// A node whose relay link fell is not tried again for this long (a dead origin keeps its
/// record in Redis until its heartbeat expires: up to 3 s).
const LINK_RETRY: Duration = Duration::from_secs(3);

/// A stream this node pulls from another.
#[derive(Debug, Clone)]
struct Pulled {
    origin: Origin,
    link: usize,
}

impl Pulled {
    /// The same origin node over the same link: nothing to change. (The epoch alone may
    /// differ after Redis lost its data and the origin claimed the stream again.)
    fn same_as(&self, other: &Pulled) -> bool {
        self.origin.node == other.origin.node && self.link == other.link
    }
}

/// What the agent acts on besides the cluster.
pub(super) struct AgentIo {
    pub(super) media: MediaHandle,
    /// Signaling, WHIP and RTMP sessions (ended at the end of a drain).
    pub(super) sessions: Arc<Sessions>,
    pub(super) data_dir: PathBuf,
}

struct Agent {
    cluster: Arc<Cluster>,
    media: MediaHandle,
    sessions: Arc<Sessions>,
    data_dir: PathBuf,
    /// When the drain asked for began; its clients are disconnected past the grace.
    drain_started: Option<Instant>,
    /// Whether the drain's grace ran out (sessions ended).
    drained: bool,
    /// Streams pulled from their origins.
    pulled: HashMap<String, Pulled>,
    /// Streams whose origin this node holds, with when they last had a publication here.
    held: HashMap<String, Instant>,
    /// Streams whose viewers here were last written to Redis.
    counted: Vec<String>,
    /// Viewers and publications here at the last tick.
    load: (usize, usize),
    /// Nodes whose link fell, and when.
    link_lost_at: HashMap<String, Instant>,
    /// The key ring as last agreed with the cluster.
    ring: Option<String>,
    keys_checked: Option<Instant>,
}

pub(super) async fn run(
    cluster: Arc<Cluster>,
    io: AgentIo,
    mut lost: mpsc::UnboundedReceiver<String>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut agent = Agent {
        cluster,
        media: io.media,
        sessions: io.sessions,
        data_dir: io.data_dir,
        drain_started: None,
        drained: false,
        link_lost_at: HashMap::new(),
        counted: Vec::new(),
        load: (0, 0),
        pulled: HashMap::new(),
        held: HashMap::new(),
        ring: None,
        keys_checked: None,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let lost_node = tokio::select! {
            _ = tick.tick() => None,
            Some(node) = lost.recv() => Some(node),
            _ = stop.wait_for(|s| *s) => break,
        };
        match lost_node {
            Some(node) => agent.link_lost(&node, Instant::now()),
            None => agent.tick(Instant::now()).await,
        }
    }
    let node = agent.cluster.node().to_owned();
    if let Err(e) = agent.cluster.state.leave(&node).await {
        tracing::debug!(error = %e, "could not remove the node record on stopping");
    }
}

impl Agent {
    async fn tick(&mut self, now: Instant) {
        self.follow_drain(now).await;
        let Ok(presence) = self.media.presence().await else {
            return;
        };
        let viewers: usize = presence.iter().map(|p| p.viewers).sum();
        let publications: usize = presence.iter().map(|p| p.publications).sum();
        self.load = (viewers, publications);
        let record =
            self.cluster
                .record(clamp(viewers), clamp(publications), clamp(self.held.len()));
        if let Err(e) = self.cluster.state.heartbeat(&record).await {
            // Sessions go on; placements elsewhere will not see this node until it is back.
            tracing::warn!(error = %e, "heartbeat not written: Redis unreachable");
            return;
        }
        let counts: Vec<(String, usize)> = presence
            .iter()
            .filter(|p| p.viewers > 0)
            .map(|p| (p.stream.clone(), p.viewers))
            .collect();
        // Streams counted last time and without viewers now: their entry goes (a stale count
        // would make placement and the operator's view believe this node still serves them).
        let gone: Vec<String> = self
            .counted
            .iter()
            .filter(|s| !counts.iter().any(|(c, _)| c == *s))
            .cloned()
            .collect();
        if self
            .cluster
            .state
            .record_viewers(self.cluster.node(), &counts, &gone)
            .await
            .is_ok()
        {
            self.counted = counts.iter().map(|(s, _)| s.clone()).collect();
        }
        let mut redis = self.cluster.state.connection();
        if let Err(e) = self.cluster.tokens.refresh(&mut redis).await {
            tracing::debug!(error = %e, "API tokens not refreshed");
        }
        self.keep_origins(now, &presence).await;
        self.link_lost_at
            .retain(|_, at| now.duration_since(*at) < LINK_RETRY);
        self.pull(&presence).await;
        if self
            .keys_checked
            .is_none_or(|at| now.duration_since(at) >= KEYS_EVERY)
        {
            self.keys_checked = Some(now);
            self.sync_keys().await;
        }
    }

    /// Applies a drain asked for in Redis (`podium drain`, the admin API): the node stops
    /// taking new clients at once (its record says draining), its clients hear `migrate`,
    /// and those still here after the grace period are disconnected so that their SDKs
    /// reconnect through the Director. Undone, the node serves again.
    async fn follow_drain(&mut self, now: Instant) {
        let node = self.cluster.node().to_owned();
        let Ok(asked) = self.cluster.state.drain_requested(&node).await else {
            return;
        };
        match (asked, self.drain_started) {
            (true, None) => {
                tracing::info!(grace = ?self.cluster.settings.drain_grace, "draining: clients asked to move");
                self.drain_started = Some(now);
                self.drained = false;
                // The record says `draining` before any client is told to move, and the
                // Directors' views have had time to read it: a client moving at once is
                // not placed here again.
                self.cluster.mark_draining();
                self.heartbeat_now().await;
                let cluster = self.cluster.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Cluster::view_lag()).await;
                    if cluster.is_draining() {
                        cluster.set_draining(true);
                    }
                });
            }
            (true, Some(started)) => {
                if !self.drained && now.duration_since(started) >= self.cluster.settings.drain_grace
                {
                    self.drained = true;
                    let ended = self.sessions.end_all(EndReason::Draining);
                    for peer in &ended.peers {
                        self.media.close(*peer);
                    }
                    tracing::info!(
                        sessions = ended.count,
                        "drain grace over: remaining clients disconnected"
                    );
                }
            }
            (false, Some(_)) => {
                tracing::info!("serving again");
                self.drain_started = None;
                self.cluster.set_draining(false);
            }
            (false, None) => {}
        }
    }

    /// Writes this node's record now (with the load of the last tick).
    async fn heartbeat_now(&self) {
        let record = self.cluster.record(
            clamp(self.load.0),
            clamp(self.load.1),
            clamp(self.held.len()),
        );
        if let Err(e) = self.cluster.state.heartbeat(&record).await {
            tracing::warn!(error = %e, "heartbeat not written: Redis unreachable");
        }
    }

    /// Claims (again) the origin of every stream published here, and gives up those without
    /// a publication for [`ORIGIN_LINGER`].
    async fn keep_origins(&mut self, now: Instant, presence: &[StreamPresence]) {
        for p in presence.iter().filter(|p| p.publications > 0) {
            self.held.insert(p.stream.clone(), now);
            if self.pulled.remove(&p.stream).is_some() {
                // Published here now: this node is its origin, not an edge.
                self.media.set_remote_home(&p.stream, None);
            }
            match self.cluster.admit_publisher(&p.stream).await {
                Ok(()) => {}
                Err(other) => tracing::warn!(
                    stream = %p.stream,
                    origin = %other,
                    "published here while another node holds the stream's origin"
                ),
            }
        }
        let expired: Vec<String> = self
            .held
            .iter()
            .filter(|(_, last)| now.duration_since(**last) > ORIGIN_LINGER)
            .map(|(s, _)| s.clone())
            .collect();
        for stream in expired {
            if self
                .cluster
                .state
                .release_origin(&stream, self.cluster.node())
                .await
                .is_ok()
            {
                self.held.remove(&stream);
            }
        }
    }

    /// Pulls each stream watched here but published elsewhere from its live origin.
    async fn pull(&mut self, presence: &[StreamPresence]) {
        let Ok((nodes, _)) = self.cluster.nodes().await else {
            return;
        };
        let watched: Vec<&str> = presence
            .iter()
            .filter(|p| p.viewers > 0 && p.publications == 0)
            .map(|p| p.stream.as_str())
            .collect();
        // One round trip for every stream's origin, however many this node pulls.
        let Ok(origins) = self.cluster.state.origins(&watched).await else {
            return;
        };
        for (stream, origin) in watched.iter().zip(origins) {
            let upstream = origin
                .filter(|o| o.node != self.cluster.node())
                .and_then(|o| {
                    let record = nodes.iter().find(|(r, _)| r.id == o.node)?;
                    Some((o, record.0.relay_addr))
                });
            match upstream {
                Some((origin, addr)) => {
                    let link = self.cluster.links.upstream(&origin.node, addr);
                    let wanted = Pulled { origin, link };
                    if !self.pulled.get(*stream).is_some_and(|p| p.same_as(&wanted)) {
                        tracing::info!(
                            stream,
                            origin = %wanted.origin.node,
                            epoch = wanted.origin.epoch,
                            "pulling the stream from its origin"
                        );
                        // A new origin (or link): the old mirrors end, the new ones start.
                        if self.pulled.contains_key(*stream) {
                            self.media.set_remote_home(stream, None);
                        }
                        self.media.set_remote_home(stream, Some(link));
                        self.pulled.insert((*stream).to_owned(), wanted);
                    }
                }
                None => {
                    // Redis names no live origin. While the link to the one pulled from
                    // is up, it stays: Redis may have lost its data (a restart) or the
                    // origin's heartbeat be late; the link itself drops when the origin
                    // process or its machine goes (TCP keepalive).
                    let linked = self
                        .pulled
                        .get(*stream)
                        .is_some_and(|p| self.cluster.links.has_upstream(&p.origin.node));
                    if !linked && self.pulled.remove(*stream).is_some() {
                        tracing::info!(stream, "the stream's origin is gone");
                        self.media.set_remote_home(stream, None);
                    }
                }
            }
        }
        // Streams nobody here watches any more.
        let gone: Vec<String> = self
            .pulled
            .keys()
            .filter(|s| !watched.contains(&s.as_str()))
            .cloned()
            .collect();
        for stream in gone {
            self.pulled.remove(&stream);
            self.media.set_remote_home(&stream, None);
        }
    }

    /// The link to origin `node` fell: its streams' mirrors end now (viewers hear
    /// `inactive`); the next tick pulls them again from wherever their origin is then.
    fn link_lost(&mut self, node: &str, now: Instant) {
        self.link_lost_at.insert(node.to_owned(), now);
        let streams: Vec<String> = self
            .pulled
            .iter()
            .filter(|(_, p)| p.origin.node == node)
            .map(|(s, _)| s.clone())
            .collect();
        for stream in streams {
            self.pulled.remove(&stream);
            self.media.set_remote_home(&stream, None);
        }
    }

    /// Adopts the cluster's key ring when another node rotated it; shares this node's when
    /// it was rotated here (`podium keys rotate` writes the file; the server reloads it).
    async fn sync_keys(&mut self) {
        let Ok(local) = crate::secrets::read_key_ring(&self.data_dir) else {
            return;
        };
        let Ok(local) = serde_json::to_string(&local) else {
            return;
        };
        let shared = match self.cluster.state.key_ring().await {
            Ok(Some(shared)) => shared,
            // Redis lost its data: the keys in force here become the cluster's again (the
            // first node to get there wins; the others adopt its ring).
            Ok(None) => match self.cluster.state.share_key_ring(&local).await {
                Ok(shared) => shared,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let agreed = self.ring.get_or_insert_with(|| shared.clone()).clone();
        if local != agreed {
            // Rotated here since: the cluster takes it.
            if self.cluster.state.set_key_ring(&local).await.is_ok() {
                tracing::info!("rotated signing keys shared with the cluster");
                self.ring = Some(local);
            }
        } else if shared != agreed {
            // Rotated on another node: written here, the reload picks it up.
            match serde_json::from_str::<podium_auth::KeyRing>(&shared) {
                Ok(ring) if ring.validate().is_ok() => {
                    if crate::secrets::write_key_ring(&self.data_dir, &ring).is_ok() {
                        tracing::info!("signing keys rotated by another node taken");
                        self.ring = Some(shared);
                    }
                }
                _ => tracing::warn!("the cluster's key ring in Redis is invalid; kept ours"),
            }
        }
    }
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
