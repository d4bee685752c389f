//! Rooms across nodes: one rooms authority for the whole cluster, elected through Redis; the
//! socket.io gateways of every node send it their clients' messages and carry out its
//! decisions (`rooms_server::authority`).
//!
//! * **Lease**: the node holding `podium:rooms:leader` (SET NX PX 3 s, renewed every 500 ms)
//!   is the authority. It decides only while its lease is surely alive, and every write is
//!   fenced by the lease (`store.rs`); `term.rs` is the authority's side.
//! * **Requests**: a gateway publishes `{conn, request, kind}` on the authority's request
//!   channel (or, on the authority's own node, hands it over directly) and waits for the
//!   answer, which comes back inside the decision.
//! * **Decisions** are committed in order: the grant changes written to `podium:rooms:grants`,
//!   a number taken, the decision published on `podium:rooms:decisions` to every node, in
//!   one script. Each node applies the grant changes to its own registry (the one its
//!   Director and signaling check) and hands the decision to its gateway. A node loads the
//!   registry from the hash (always exactly as of its `.seq`) when it starts, after every new
//!   subscription and when it misses a number, ending the sessions of grants that went.
//! * **State**: the rooms state is written to `podium:rooms:state` soon after each decision
//!   (coalesced); a new authority restores it, brings the grants in line with it, and ends
//!   the connections of nodes that are gone. A dead node's connections are lost connections:
//!   their users leave their rooms after the usual hold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use podium_rooms::{ConnId, Limits};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Notify};

pub mod store;
mod term;

use super::Cluster;
use crate::policy::room_grants::{GrantsRecord, RoomGrants};
use crate::rooms_server::authority::{Answer, Decision, Delivery, Reply, RequestKind};
use store::RoomsStore;
use term::Leading;

/// How long a gateway waits for the answer to a request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// Requests older than this when the authority gets them are dropped: their gateway has
/// given up (or is about to) and told its client so.
const REQUEST_EXPIRY: Duration = Duration::from_millis(2500);
/// How long a lost connection is retried until the authority hears of it.
const CONNECTION_END_RETRY: Duration = Duration::from_secs(30);

/// A request as it travels to the authority.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    conn: ConnId,
    request: u64,
    kind: RequestKind,
    /// When the gateway sent it (Unix ms).
    sent_ms: u64,
    /// Forwarded by a former authority to the current one (at most once).
    #[serde(default)]
    forwarded: bool,
}

/// This node's side of the rooms across the cluster.
pub struct ClusterRooms {
    cluster: Arc<Cluster>,
    store: RoomsStore,
    grants: Arc<crate::policy::access::Access>,
    limits: Limits,
    /// `Some` while this node is the authority; held across a decision and its commit, so
    /// decisions are numbered in the order they were taken.
    leading: tokio::sync::Mutex<Option<Leading>>,
    /// Whether `leading` is `Some` (read where the lock would wait on a commit).
    is_leading: AtomicBool,
    /// The authority's boot id as last read.
    leader: Mutex<Option<String>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next_request: AtomicU64,
    /// The last decision whose grant changes this node's registry reflects (0: reload).
    applied: AtomicU64,
    /// Held while the registry is replaced from Redis, so two reloads cannot interleave.
    reloading: tokio::sync::Mutex<()>,
    /// Rung after each decision: the state is due to be written.
    dirty: Notify,
    /// Consecutive lease checks that found no authority (a node without the state waits for
    /// a second one, so that a former authority whose Redis restarted gets its term back).
    free_checks: AtomicU64,
    /// Decisions for this node's gateway.
    out: mpsc::UnboundedSender<Decision>,
    /// Other nodes' requests, to be decided in arrival order.
    requests: mpsc::UnboundedSender<Envelope>,
}

impl ClusterRooms {
    /// Starts the lease, the subscriptions, the state writer and a first load of the grants;
    /// the receiver yields every decision, in order, for the gateway to carry out (then
    /// [`ClusterRooms::answered`]).
    pub fn start(
        cluster: Arc<Cluster>,
        access: Arc<crate::policy::access::Access>,
        limits: Limits,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Decision>) {
        let (out, decisions) = mpsc::unbounded_channel();
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let rooms = Arc::new(Self {
            store: RoomsStore::new(cluster.shared().connection()),
            cluster,
            grants: access,
            limits,
            leading: tokio::sync::Mutex::new(None),
            is_leading: AtomicBool::new(false),
            leader: Mutex::default(),
            pending: Mutex::default(),
            next_request: AtomicU64::new(1),
            applied: AtomicU64::new(0),
            reloading: tokio::sync::Mutex::new(()),
            free_checks: AtomicU64::new(0),
            dirty: Notify::new(),
            out,
            requests,
        });
        tokio::spawn(rooms.clone().reload_registry());
        tokio::spawn(rooms.clone().decide_requests(requests_rx, stop.clone()));
        tokio::spawn(rooms.clone().subscribe(stop.clone()));
        tokio::spawn(rooms.clone().lead(stop.clone()));
        tokio::spawn(rooms.clone().write_state(stop));
        (rooms, decisions)
    }

    /// What this node's connection ids start with.
    pub fn conn_prefix(&self) -> String {
        format!("{}.", self.cluster.boot_id())
    }

    fn registry(&self) -> &RoomGrants {
        &self.grants.rooms
    }

    fn set_leader(&self, boot: &str) {
        *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = Some(boot.to_owned());
    }

    fn forget_leader(&self) {
        *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Asks the authority; the answer arrives once this node's gateway has carried out the
    /// decision it came with.
    pub async fn request(&self, conn: ConnId, kind: RequestKind) -> Result<Answer, String> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock_pending().insert(request, tx);
        let sent = self.send(Envelope {
            conn,
            request,
            kind,
            sent_ms: crate::state::unix_now_ms(),
            forwarded: false,
        });
        let answer = match sent.await {
            Ok(()) => match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(_)) => Err("The rooms server went away: try again".to_owned()),
                Err(_) => {
                    // Perhaps a former authority: read the lease again next time.
                    self.forget_leader();
                    Err(
                        "The rooms server did not answer in time (your last action may not \
                         have been applied): try again"
                            .to_owned(),
                    )
                }
            },
            Err(message) => Err(message),
        };
        self.lock_pending().remove(&request);
        answer
    }

    /// Tells the authority a connection ended, retrying while it cannot be reached: a lost
    /// end would leave its user in their rooms.
    pub async fn end_connection(&self, conn: ConnId, kind: RequestKind) {
        let deadline = Instant::now() + CONNECTION_END_RETRY;
        while self.request(conn.clone(), kind.clone()).await.is_err() {
            if Instant::now() > deadline {
                tracing::warn!(%conn, "rooms authority unreachable: connection end given up");
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The gateway carried out a decision that answers one of this node's requests.
    pub fn answered(&self, reply: Reply) {
        if let Some(tx) = self.lock_pending().remove(&reply.request) {
            let _ = tx.send(reply.answer);
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Answer>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn send(&self, envelope: Envelope) -> Result<(), String> {
        if self.decide(&envelope).await {
            return Ok(());
        }
        let json = serde_json::to_string(&envelope).unwrap_or_default();
        for _ in 0..2 {
            let leader = self.leader().await?;
            match self.store.send_request(&leader, &json).await {
                Ok(true) => return Ok(()),
                // Not listening: the lease moved; read it again.
                Ok(false) => self.forget_leader(),
                Err(e) => return Err(format!("The rooms server is unreachable ({e})")),
            }
        }
        Err("The rooms server is changing hands: try again".to_owned())
    }

    /// Hands an answer that needs no decision to its requester's node.
    async fn send_answer(&self, reply: Reply) {
        let boot = reply
            .conn
            .as_str()
            .split_once('.')
            .map(|(b, _)| b.to_owned());
        match boot {
            Some(boot) if boot == self.cluster.boot_id() => self.answered(reply),
            Some(boot) => {
                let json = serde_json::to_string(&reply).unwrap_or_default();
                if let Err(e) = self.store.send_answer(&boot, &json).await {
                    tracing::debug!(error = %e, "rooms: answer not sent");
                }
            }
            None => {}
        }
    }

    async fn leader(&self) -> Result<String, String> {
        if let Some(leader) = self
            .leader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(leader);
        }
        match self.store.leader().await {
            Ok(Some(leader)) => {
                self.set_leader(&leader);
                Ok(leader)
            }
            Ok(None) => Err("The rooms server is starting: try again".to_owned()),
            Err(e) => Err(format!("The rooms server is unreachable ({e})")),
        }
    }

    /// Receives the decisions (and, as the authority, requests) until `stop`, subscribing
    /// again after Redis comes back.
    async fn subscribe(self: Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        let requests = store::requests_channel(self.cluster.boot_id());
        let answers = store::answers_channel(self.cluster.boot_id());
        let channels = vec![
            store::DECISIONS.to_owned(),
            requests.clone(),
            answers.clone(),
        ];
        let client = self.cluster.shared().client().clone();
        // Decisions may have been missed while unsubscribed: load the grants again.
        let rooms = self.clone();
        let resubscribed = move || {
            rooms.applied.store(0, Ordering::Relaxed);
            tokio::spawn(rooms.clone().reload_registry());
        };
        let rooms = self.clone();
        let on_message = move |channel: String, payload: String| {
            let rooms = rooms.clone();
            let (request, answer) = (channel == requests, channel == answers);
            async move {
                if request {
                    rooms.received_request(&payload);
                } else if answer {
                    match serde_json::from_str::<Reply>(&payload) {
                        Ok(reply) => rooms.answered(reply),
                        Err(_) => tracing::warn!("rooms: unreadable answer"),
                    }
                } else {
                    rooms.received_decision(&payload).await;
                }
            }
        };
        super::pubsub::listen(client, channels, "rooms", stop, resubscribed, on_message).await;
    }

    fn received_request(&self, payload: &str) {
        match serde_json::from_str::<Envelope>(payload) {
            // Decided by a task of its own (deciding waits for the commit, and the
            // subscription must keep reading meanwhile), in arrival order.
            Ok(envelope) => {
                let _ = self.requests.send(envelope);
            }
            Err(_) => tracing::warn!("rooms: unreadable request"),
        }
    }

    /// Decides other nodes' requests one after the other; a request that reached a node
    /// which is no longer the authority is forwarded once to the current one.
    async fn decide_requests(
        self: Arc<Self>,
        mut requests: mpsc::UnboundedReceiver<Envelope>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let envelope = tokio::select! {
                e = requests.recv() => e,
                _ = stop.wait_for(|s| *s) => return,
            };
            let Some(mut envelope) = envelope else { return };
            let age = crate::state::unix_now_ms().saturating_sub(envelope.sent_ms);
            if age > REQUEST_EXPIRY.as_millis() as u64 {
                tracing::debug!(age, "rooms: request too old, dropped");
                continue;
            }
            if self.decide(&envelope).await || envelope.forwarded {
                continue;
            }
            envelope.forwarded = true;
            if let Ok(Some(leader)) = self.store.leader().await {
                if leader != self.cluster.boot_id() {
                    let json = serde_json::to_string(&envelope).unwrap_or_default();
                    let _ = self.store.send_request(&leader, &json).await;
                }
            }
        }
    }

    async fn received_decision(&self, payload: &str) {
        let Some((seq, from, json)) = store::parse_published(payload) else {
            return;
        };
        let Ok(decision) = serde_json::from_str::<Decision>(json) else {
            tracing::warn!("rooms: unreadable decision");
            return;
        };
        if self.is_leading.load(Ordering::Relaxed) {
            // The authority's registry changed when it decided.
            self.applied.fetch_max(seq, Ordering::Relaxed);
        } else {
            let applied = self.applied.load(Ordering::Relaxed);
            if applied != 0 && seq == applied + 1 && from != self.cluster.boot_id() {
                for op in &decision.grants {
                    self.registry().apply(op);
                }
                self.applied.store(seq, Ordering::Relaxed);
            } else if seq > applied {
                // A gap, the first decision seen, or one of this node's former term: the
                // hash is exactly as of its `.seq`, which includes this decision.
                self.reload_from_redis().await;
            }
        }
        let _ = self.out.send(decision);
    }

    async fn reload_from_redis(&self) {
        let _reloading = self.reloading.lock().await;
        if self.is_leading.load(Ordering::Relaxed) {
            return;
        }
        match self.store.grants().await {
            Ok((at, grants)) => self.replace_registry_locked(grants, at),
            Err(e) => tracing::warn!(error = %e, "rooms: grants not reloaded"),
        }
    }

    /// Loads the registry from Redis (a node starting, or subscribed again).
    async fn reload_registry(self: Arc<Self>) {
        self.reload_from_redis().await;
    }

    /// Replaces the registry (a new authority taking over).
    async fn replace_registry(&self, grants: GrantsRecord, seq: u64) {
        let _reloading = self.reloading.lock().await;
        self.replace_registry_locked(grants, seq);
    }

    /// Replaces the registry with `grants` as of decision `seq`; the sessions of grants that
    /// are no longer in force end here (their revocation may have been missed).
    fn replace_registry_locked(&self, grants: GrantsRecord, seq: u64) {
        let ended = self.registry().replace(grants);
        self.applied.store(seq, Ordering::Relaxed);
        if !ended.is_empty() {
            let deliveries = ended
                .into_iter()
                .map(|token_id| Delivery::EndGrant { token_id })
                .collect();
            let _ = self.out.send(Decision {
                deliveries,
                ..Decision::default()
            });
        }
    }
}
