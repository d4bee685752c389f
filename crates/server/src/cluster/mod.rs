//! The cluster shell (issue 15, `docs/cluster.md`): with `--cluster redis://…` this server is
//! one node of many sharing state through Redis. Every node runs the whole product; what the
//! cluster adds is where the Director sends clients (`podium_cluster`'s rules over the nodes
//! and streams read from Redis), the atomic claim of a stream's origin, the relay links that
//! let an edge pull a stream from its origin (`links.rs`), and the agent that keeps this
//! node's record and its edges up to date (`agent.rs`).

pub mod admin;
mod agent;
pub mod broadcast;
pub mod links;
mod media;
pub mod metrics;
mod pubsub;
pub mod rooms;
pub mod state;
pub mod status;
pub mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use podium_auth::KeyRing;
use podium_cluster::{Node, NodeState, Placement};

use crate::media_handle::MediaHandle;
use state::{NodeRecord, SharedState};

/// How long the Director keeps answering from its last view of the cluster while Redis
/// cannot be reached; past it, placements are refused (503) until Redis is back.
pub const STALE_VIEW_LIMIT: Duration = Duration::from_secs(10);
/// How long a view of the nodes is reused before it is read again: short, so that the
/// reservations of other nodes' Directors count (this Director counts its own at once).
const VIEW_REFRESH: Duration = Duration::from_millis(100);
/// Streams whose last placement view is kept for a Redis outage, at most.
const STREAM_VIEWS_KEPT: usize = 10_000;

/// The cluster flags as given.
#[derive(Debug, Clone, Default)]
pub struct ClusterArgs {
    /// `--cluster`.
    pub redis: String,
    /// `--node-name`.
    pub node_name: Option<String>,
    /// `--node-public-url` (or `--public-url`).
    pub node_public_url: Option<String>,
    /// `--relay-addr`.
    pub relay_addr: Option<SocketAddr>,
    /// `--origin-max-viewers`.
    pub origin_max_viewers: Option<u32>,
    /// `--node-max-viewers`.
    pub node_max_viewers: Option<u32>,
    /// `--drain-grace`.
    pub drain_grace: Option<u64>,
}

/// Resolved cluster settings.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// Redis URL.
    pub redis: String,
    /// This node's name.
    pub node: String,
    /// The URL clients reach this node at (`None`: `http://` and the bound HTTP address).
    pub public_url: Option<String>,
    /// Where the relay listens.
    pub relay_addr: SocketAddr,
    /// The Director's placement rules.
    pub placement: Placement,
    /// Viewers this node takes in all.
    pub max_viewers: u32,
    /// How long clients of a draining node get to move before they are disconnected.
    pub drain_grace: Duration,
}

impl ClusterSettings {
    /// Checks and completes the flags (`http_addr` gives the defaults).
    pub fn resolve(args: ClusterArgs, http_addr: SocketAddr) -> anyhow::Result<Self> {
        if !(args.redis.starts_with("redis://")
            || args.redis.starts_with("rediss://")
            || args.redis.starts_with("redis+unix://")
            || args.redis.starts_with("unix://"))
        {
            bail!(
                "--cluster must be a Redis URL (redis://HOST:PORT[/DB] or redis+unix:///path), not {:?}",
                args.redis
            );
        }
        let node = match args.node_name {
            Some(n) => n,
            None => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "podium".into()),
        };
        let valid = !node.is_empty()
            && node.len() <= 64
            && node
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            bail!("--node-name must be 1-64 letters, digits, '-', '_' or '.', not {node:?}");
        }
        let public_url = args
            .node_public_url
            .map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("--node-public-url must start with http:// or https://, not {url:?}");
            }
        }
        let relay_addr = args
            .relay_addr
            .unwrap_or_else(|| SocketAddr::new(http_addr.ip(), 7000));
        if relay_addr.ip().is_unspecified() {
            bail!("--relay-addr must be an address other nodes can reach, not {relay_addr}");
        }
        let defaults = Placement::default();
        Ok(Self {
            redis: args.redis,
            node,
            public_url,
            relay_addr,
            placement: Placement {
                origin_max_viewers: args
                    .origin_max_viewers
                    .unwrap_or(defaults.origin_max_viewers),
                ..defaults
            },
            max_viewers: args.node_max_viewers.unwrap_or(10_000).max(1),
            drain_grace: Duration::from_secs(args.drain_grace.unwrap_or(30)),
        })
    }
}

/// Middleware: in a cluster, pages may connect to every node's URL (their signaling may be
/// placed on any), which the fixed policy of `web.rs` would forbid.
pub async fn csp_for_nodes(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if let Some(cluster) = &state.cluster {
        let csp = crate::web::cluster_csp(&cluster.node_urls());
        if let Ok(value) = axum::http::HeaderValue::from_str(&csp) {
            response
                .headers_mut()
                .entry(axum::http::header::CONTENT_SECURITY_POLICY)
                .or_insert(value);
        }
    }
    response
}

/// Whether a publisher of `stream` (WebRTC, WHIP or RTMP) may publish on this node: always
/// outside a cluster; in one, when this node is (or becomes) the stream's origin, in which case
/// it stops pulling the stream if it did. `Err` says which node is the origin.
pub async fn admit_publisher_here(
    state: &crate::state::AppState,
    stream: &str,
) -> Result<(), String> {
    let Some(cluster) = &state.cluster else {
        return Ok(());
    };
    if let Err(origin) = cluster.admit_publisher(stream).await {
        return Err(format!(
            "Stream {stream} is published on node {origin}: connect through the Director"
        ));
    }
    state.media.set_remote_home(stream, None);
    Ok(())
}

/// Why the Director cannot place a client.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// Redis has been unreachable for longer than [`STALE_VIEW_LIMIT`].
    #[error("The cluster's shared state (Redis) is unreachable; try again shortly")]
    Unavailable,
    /// Every node is full or draining.
    #[error("No node of the cluster has room for this client; try again shortly")]
    Full,
}

/// The last view of the nodes.
#[derive(Default)]
struct View {
    nodes: Vec<(NodeRecord, u32)>,
    /// When it was read.
    at: Option<Instant>,
}

/// Redis reached and the key ring agreed, before the server builds its signing keys.
pub struct Joined {
    settings: ClusterSettings,
    state: SharedState,
    ring: KeyRing,
    tokens: Arc<tokens::ClusterTokens>,
}

impl Joined {
    /// The key ring in force across the cluster (written to this node's data dir too).
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The cluster's API tokens.
    pub fn tokens(&self) -> Arc<tokens::ClusterTokens> {
        self.tokens.clone()
    }
}

/// Connects to Redis and adopts the cluster's key ring (this node's own ring becomes the
/// cluster's if it is the first node), so a JWT minted by any node verifies on every node.
pub async fn join(
    settings: ClusterSettings,
    data_dir: &std::path::Path,
    local_ring: KeyRing,
    local_tokens: Vec<podium_tokens::StoredToken>,
) -> anyhow::Result<Joined> {
    let state = tokio::time::timeout(
        Duration::from_secs(5),
        SharedState::connect(&settings.redis),
    )
    .await
    .map_err(|_| anyhow::anyhow!("timed out"))
    .and_then(|r| r)
    .with_context(|| format!("cannot reach the cluster's Redis at {}", settings.redis))?;
    wait_for_name(&state, &settings.node).await?;
    let local = serde_json::to_string(&local_ring)?;
    let shared = state
        .share_key_ring(&local)
        .await
        .context("reading the cluster's key ring from Redis")?;
    let ring: KeyRing =
        serde_json::from_str(&shared).context("the cluster's key ring in Redis is invalid")?;
    ring.validate()
        .map_err(|e| anyhow::anyhow!("the cluster's key ring in Redis: {e}"))?;
    if ring != local_ring {
        crate::secrets::write_key_ring(data_dir, &ring)?;
        tracing::info!("signing keys taken from the cluster");
    }
    let tokens = Arc::new(tokens::ClusterTokens::new(&settings.redis)?);
    let mut redis = state.connection();
    let imported = tokens
        .import(&mut redis, local_tokens)
        .await
        .context("copying this node's API tokens to the cluster")?;
    if imported > 0 {
        tracing::info!(imported, "API tokens of this node copied to the cluster");
    }
    tokens
        .refresh(&mut redis)
        .await
        .context("reading the cluster's API tokens")?;
    Ok(Joined {
        settings,
        state,
        ring,
        tokens,
    })
}

/// Makes sure no live node has the name `node`: a record left by this name's previous
/// process (a crash, a quick restart) expires within its TTL; one still renewed after that is
/// another node, and two nodes under one name would take each other's streams and clients.
async fn wait_for_name(state: &SharedState, node: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + state::NODE_TTL + Duration::from_millis(500);
    loop {
        let taken = state
            .nodes()
            .await
            .context("reading the cluster's nodes from Redis")?
            .iter()
            .any(|(r, _)| r.id == node);
        if !taken {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "another node of the cluster is named {node:?}: give each node its own --node-name"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A running node of the cluster.
pub struct Cluster {
    /// Its settings.
    pub settings: ClusterSettings,
    /// The URL clients reach it at.
    url: String,
    boot_id: String,
    state: SharedState,
    /// The relay links.
    pub links: Arc<links::Links>,
    /// Where the relay listens.
    relay_addr: SocketAddr,
    view: Mutex<View>,
    /// True while this node drains (signaling sessions tell their clients to `migrate`).
    drain_tx: tokio::sync::watch::Sender<bool>,
    /// Each stream's view at its last placement, for placing while Redis is unreachable.
    stream_views: Mutex<std::collections::HashMap<String, (Instant, podium_cluster::StreamView)>>,
    draining: AtomicBool,
    /// Placements made by this node's Director.
    pub placements: std::sync::atomic::AtomicU64,
    /// The cluster's API tokens (refreshed by the agent).
    tokens: Arc<tokens::ClusterTokens>,
    /// While this node is the rooms authority, its last decision's number (in its record).
    pub rooms_seq: std::sync::atomic::AtomicU64,
}

impl Cluster {
    /// Starts the relay and the agent.
    pub async fn start(
        joined: Joined,
        http_addr: SocketAddr,
        media: MediaHandle,
        sessions: Arc<crate::policy::sessions::Sessions>,
        keys: Arc<std::sync::RwLock<Arc<podium_auth::JwtKeys>>>,
        data_dir: PathBuf,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Self>> {
        let Joined {
            settings,
            state,
            tokens,
            ..
        } = joined;
        let (lost_tx, lost_rx) = tokio::sync::mpsc::unbounded_channel();
        let (links, relay_addr) = links::Links::start(
            settings.node.clone(),
            settings.relay_addr,
            media.clone(),
            keys,
            lost_tx,
            stop.clone(),
        )
        .await?;
        let mut boot = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut boot);
        let url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{http_addr}"));
        let cluster = Arc::new(Self {
            settings,
            url,
            boot_id: hex::encode(boot),
            state,
            links,
            relay_addr,
            view: Mutex::default(),
            drain_tx: tokio::sync::watch::channel(false).0,
            stream_views: Mutex::default(),
            draining: AtomicBool::new(false),
            placements: Default::default(),
            tokens,
            rooms_seq: Default::default(),
        });
        let record = cluster.record(0, 0, 0);
        cluster
            .state
            .heartbeat(&record)
            .await
            .context("registering the node in Redis")?;
        tracing::info!(
            node = %cluster.settings.node,
            url = %cluster.url,
            relay = %relay_addr,
            "joined the cluster"
        );
        tokio::spawn(broadcast::listen(
            cluster.state.client().clone(),
            cluster.settings.node.clone(),
            sessions.clone(),
            media.clone(),
            stop.clone(),
        ));
        let io = agent::AgentIo {
            media,
            sessions,
            data_dir,
        };
        tokio::spawn(agent::run(cluster.clone(), io, lost_rx, stop));
        Ok(cluster)
    }

    /// The URLs of the nodes in the last view (this one's first).
    pub fn node_urls(&self) -> Vec<String> {
        let view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        let mut urls = vec![self.url.clone()];
        for (record, _) in &view.nodes {
            if !urls.contains(&record.url) {
                urls.push(record.url.clone());
            }
        }
        urls
    }

    /// Random per start of this node (see [`NodeRecord::boot_id`]).
    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.settings.node
    }

    fn record(&self, viewers: u32, publications: u32, origins: u32) -> NodeRecord {
        NodeRecord {
            id: self.settings.node.clone(),
            boot_id: self.boot_id.clone(),
            url: self.url.clone(),
            relay_addr: self.relay_addr,
            state: if self.draining.load(Ordering::Relaxed) {
                NodeState::Draining
            } else {
                NodeState::Serving
            },
            viewers,
            max_viewers: self.settings.max_viewers,
            publications,
            origins,
            at_ms: crate::state::unix_now() * 1000,
            rooms_seq: self.rooms_seq.load(Ordering::Relaxed),
        }
    }

    /// The nodes, read again if the last view is older than [`VIEW_REFRESH`]; while Redis
    /// is unreachable the last view serves for [`STALE_VIEW_LIMIT`].
    async fn nodes(&self) -> Result<(Vec<(NodeRecord, u32)>, Duration), PlaceError> {
        let now = Instant::now();
        {
            let view = self.view.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(at) = view.at.filter(|at| now - *at < VIEW_REFRESH) {
                return Ok((view.nodes.clone(), now - at));
            }
        }
        match self.state.nodes().await {
            Ok(nodes) => {
                let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
                view.nodes = nodes.clone();
                view.at = Some(now);
                Ok((nodes, Duration::ZERO))
            }
            Err(e) => {
                let view = self.view.lock().unwrap_or_else(|e| e.into_inner());
                match view.at.filter(|at| now - *at < STALE_VIEW_LIMIT) {
                    Some(at) => {
                        tracing::warn!(error = %e, "Redis unreachable: placing from the last view");
                        Ok((view.nodes.clone(), now - at))
                    }
                    None => {
                        tracing::warn!(error = %e, "Redis unreachable: refusing placements");
                        Err(PlaceError::Unavailable)
                    }
                }
            }
        }
    }

    /// The placement view of the nodes (ages counted from when they were read).
    fn placement_nodes(nodes: &[(NodeRecord, u32)], age: Duration) -> Vec<Node> {
        nodes
            .iter()
            .map(|(r, reserved)| Node {
                id: r.id.clone(),
                state: r.state,
                viewers: r.viewers,
                max_viewers: r.max_viewers,
                reserved: *reserved,
                heartbeat_age: age,
            })
            .collect()
    }

    fn url_of(nodes: &[(NodeRecord, u32)], id: &str) -> Option<String> {
        nodes
            .iter()
            .find(|(r, _)| r.id == id)
            .map(|(r, _)| r.url.clone())
    }

    /// The node a publisher of `stream` goes to: the stream's live origin, or the least
    /// loaded serving node, claimed atomically as its origin. `None`: this node.
    pub async fn place_publisher(&self, stream: &str) -> Result<Option<String>, PlaceError> {
        let (nodes, age) = self.nodes().await?;
        let view = Self::placement_nodes(&nodes, age);
        let candidate = podium_cluster::origin_for_publisher(&view, self.node())
            .map(|n| n.id.clone())
            .ok_or(PlaceError::Full)?;
        let origin = match self
            .state
            .claim_origin(stream, &candidate, crate::state::unix_now() * 1000)
            .await
        {
            Ok(o) => o.node,
            // Redis went away since the view was read: the candidate, unclaimed (its own
            // publish claims it once Redis is back).
            Err(_) => candidate,
        };
        self.placements.fetch_add(1, Ordering::Relaxed);
        Ok(self.url_unless_local(&nodes, &origin))
    }

    /// The node a viewer of `stream` goes to. `None`: this node.
    pub async fn place_viewer(&self, stream: &str) -> Result<Option<String>, PlaceError> {
        let (nodes, age) = self.nodes().await?;
        let view = Self::placement_nodes(&nodes, age);
        let stream_view = self.stream_view(stream).await?;
        // The random source is dropped before the next await (it is not `Send`).
        let placed = {
            let mut rng = rand::rng();
            let pick = |n: usize| rand::Rng::random_range(&mut rng, 0..n.max(1));
            podium_cluster::place_viewer(&view, &stream_view, self.settings.placement, pick)
        };
        let chosen = match placed {
            Ok(place) => match place {
                podium_cluster::ViewerPlace::Origin(n)
                | podium_cluster::ViewerPlace::Edge(n)
                | podium_cluster::ViewerPlace::NewEdge(n) => n,
            },
            // Not live yet: the least loaded node waits for it with the viewer (it pulls
            // the stream when a publisher claims an origin).
            Err(podium_cluster::NoPlace::NotLive) => {
                podium_cluster::origin_for_publisher(&view, self.node())
                    .map(|n| n.id.clone())
                    .ok_or(PlaceError::Full)?
            }
            Err(podium_cluster::NoPlace::Full) => return Err(PlaceError::Full),
        };
        let _ = self.state.reserve(&chosen).await;
        // Counted at once in the view this Director reuses for the next placements, so a
        // burst of joins here spreads even before the view is read again.
        if let Some(node) = self
            .view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .nodes
            .iter_mut()
            .find(|(r, _)| r.id == chosen)
        {
            node.1 += 1;
        }
        self.placements.fetch_add(1, Ordering::Relaxed);
        Ok(self.url_unless_local(&nodes, &chosen))
    }

    /// `stream`'s origin and the nodes serving it, from Redis; while Redis is unreachable,
    /// as at the stream's last placement (if within [`STALE_VIEW_LIMIT`]).
    async fn stream_view(&self, stream: &str) -> Result<podium_cluster::StreamView, PlaceError> {
        let now = Instant::now();
        let read = async {
            let origin = self.state.origin(stream).await?;
            let viewers = self.state.stream_viewers(stream).await?;
            redis::RedisResult::Ok((origin, viewers))
        };
        let kept = |view: Option<podium_cluster::StreamView>| {
            let mut views = self.stream_views.lock().unwrap_or_else(|e| e.into_inner());
            match view {
                Some(v) => {
                    if views.len() >= STREAM_VIEWS_KEPT {
                        views.clear();
                    }
                    views.insert(stream.to_owned(), (now, v.clone()));
                    Ok(v)
                }
                None => match views.get(stream) {
                    Some((at, v)) if now - *at < STALE_VIEW_LIMIT => Ok(v.clone()),
                    // Never placed (or long ago): as a stream not live yet.
                    _ if self.view_is_fresh(now) => Ok(podium_cluster::StreamView::default()),
                    _ => Err(PlaceError::Unavailable),
                },
            }
        };
        match read.await {
            Ok((origin, viewers)) => {
                let origin_node = origin.map(|o| o.node);
                kept(Some(podium_cluster::StreamView {
                    origin_viewers: origin_node
                        .as_ref()
                        .and_then(|o| viewers.get(o).copied())
                        .unwrap_or(0),
                    edges: viewers
                        .keys()
                        .filter(|n| Some(*n) != origin_node.as_ref())
                        .cloned()
                        .collect(),
                    origin: origin_node,
                }))
            }
            Err(_) => kept(None),
        }
    }

    /// Whether the view of the nodes is recent enough to place from.
    fn view_is_fresh(&self, now: Instant) -> bool {
        let view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        view.at.is_some_and(|at| now - at < STALE_VIEW_LIMIT)
    }

    fn url_unless_local(&self, nodes: &[(NodeRecord, u32)], node: &str) -> Option<String> {
        if node == self.node() {
            return None;
        }
        Self::url_of(nodes, node)
    }

    /// Whether a publisher of `stream` may connect here: this node is (or becomes) the
    /// stream's origin. `Err` names the node that is. Redis unreachable: allowed (running
    /// and returning publishers are not cut off by an outage of the shared state).
    pub async fn admit_publisher(&self, stream: &str) -> Result<(), String> {
        match self
            .state
            .claim_origin(stream, self.node(), crate::state::unix_now() * 1000)
            .await
        {
            Ok(o) if o.node == self.node() => Ok(()),
            Ok(o) => Err(o.node),
            Err(e) => {
                tracing::warn!(error = %e, stream, "Redis unreachable: publisher admitted without an origin claim");
                Ok(())
            }
        }
    }

    /// Marks this node draining (the Director of every node stops placing on it, its
    /// signaling sessions tell their clients to `migrate`), or serving again.
    pub fn set_draining(&self, draining: bool) {
        self.draining.store(draining, Ordering::Relaxed);
        self.drain_tx.send_replace(draining);
    }

    /// Marks this node draining in its record only (the next heartbeat says so); clients
    /// are told with [`Cluster::set_draining`] once the record is written.
    pub fn mark_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// How long a Director may place from a view read before a change: wait this long after
    /// writing a change before acting on it.
    pub fn view_lag() -> Duration {
        VIEW_REFRESH + Duration::from_millis(50)
    }

    /// Becomes true when this node starts draining.
    pub fn drain_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.drain_tx.subscribe()
    }

    /// Whether this node is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Sends `order` to the other nodes (in the background; fire and forget).
    pub fn order(&self, order: broadcast::Order) {
        let mut redis = self.state.connection();
        tokio::spawn(async move {
            if let Err(e) = broadcast::publish(&mut redis, &order).await {
                tracing::warn!(error = %e, ?order, "cluster order not sent: Redis unreachable");
            }
        });
    }

    /// This node's name, as orders name their sender.
    pub fn order_from(&self) -> String {
        self.settings.node.clone()
    }

    /// The shared state (for `podium cluster status` and the admin API).
    pub fn shared(&self) -> &SharedState {
        &self.state
    }
}
