//! Rooms across nodes: one rooms authority for the whole cluster, elected through Redis; the
//! socket.io gateways of every node send it their clients' messages and carry out its
//! decisions (`rooms_server::authority`).
//!
//! * **Lease**: the node holding `podium:rooms:leader` (SET NX PX 3 s, renewed every 500 ms)
//!   is the authority. It decides only while its lease is surely alive, and every write is
//!   fenced by the lease (`rooms_store`).
//! * **Requests**: a gateway publishes `{conn, request, kind}` on the authority's request
//!   channel (or, on the authority's own node, hands it over directly) and waits for the
//!   answer, which comes back inside the decision.
//! * **Decisions** are committed in order: the grant changes written to `podium:rooms:grants`,
//!   a number taken, the decision published on `podium:rooms:decisions` to every node, in
//!   one script. Each node applies the grant changes to its own registry (the one its
//!   Director and signaling check) and hands the decision to its gateway. A node that misses
//!   a number (a new subscription, a lost message) reloads the registry from the hash, which
//!   is always exactly as of its `.seq`.
//! * **State**: the rooms state is written to `podium:rooms:state` soon after each decision
//!   (coalesced); a new authority restores it, brings the grants in line with it, and ends
//!   the connections of nodes that are gone. A dead node's connections are lost connections:
//!   their users leave their rooms after the usual hold.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use podium_rooms::{ConnId, Limits, Rooms};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Notify};

use super::rooms_store::{self, Committed, Lease, RoomsStore};
use super::Cluster;
use crate::policy::room_grants::RoomGrants;
use crate::rooms_server::authority::{Answer, Authority, Decision, Reply, RequestKind};

/// How long the lease lives without renewal.
const LEASE: Duration = Duration::from_secs(3);
/// The authority stops deciding this long before its lease could have expired.
const LEASE_MARGIN: Duration = Duration::from_millis(700);
/// How often the lease is renewed (or sought) and the authority's timers run.
const TICK: Duration = Duration::from_millis(250);
/// How long a node's record must stay missing before its connections count as lost.
const MISSING_GRACE: Duration = Duration::from_secs(3);
/// How long a gateway waits for the answer to a request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a lost connection is retried until the authority hears of it.
const CONNECTION_END_RETRY: Duration = Duration::from_secs(30);

/// A request as it travels to the authority.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    conn: ConnId,
    request: u64,
    kind: RequestKind,
}

/// The authority's state while this node holds the lease.
struct Leading {
    authority: Authority,
    /// The number of the last decision committed.
    seq: u64,
    /// Until when the lease is surely ours.
    until: Instant,
    /// Decisions taken but not committed yet because Redis could not be reached, in order:
    /// committed first when it is back (new requests wait until then).
    unpublished: std::collections::VecDeque<Decision>,
    /// Nodes with connections here but no record, since when.
    missing: HashMap<String, Instant>,
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
    /// The authority's boot id as last read.
    leader: Mutex<Option<String>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next_request: AtomicU64,
    /// The last decision whose grant changes this node's registry reflects.
    applied: AtomicU64,
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
    /// Starts the lease, the subscriptions and the state writer; the receiver yields every
    /// decision, in order, for the gateway to carry out (then [`ClusterRooms::answered`]).
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
            leader: Mutex::default(),
            pending: Mutex::default(),
            next_request: AtomicU64::new(1),
            applied: AtomicU64::new(0),
            free_checks: AtomicU64::new(0),
            dirty: Notify::new(),
            out,
            requests,
        });
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
        });
        let answer = match sent.await {
            Ok(()) => tokio::time::timeout(ANSWER_TIMEOUT, rx)
                .await
                .map_err(|_| "The rooms server did not answer in time: try again".to_owned())
                .and_then(|a| a.map_err(|_| "The rooms server went away: try again".to_owned())),
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
                Ok(false) => *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = None,
                Err(e) => return Err(format!("The rooms server is unreachable ({e})")),
            }
        }
        Err("The rooms server is changing hands: try again".to_owned())
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
                *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = Some(leader.clone());
                Ok(leader)
            }
            Ok(None) => Err("The rooms server is starting: try again".to_owned()),
            Err(e) => Err(format!("The rooms server is unreachable ({e})")),
        }
    }

    /// Decides `envelope` if this node is the authority (`false`: it is not).
    async fn decide(&self, envelope: &Envelope) -> bool {
        let mut leading = self.leading.lock().await;
        let Some(lead) = leading
            .as_mut()
            .filter(|l| Instant::now() < l.until && l.unpublished.is_empty())
        else {
            return false;
        };
        let decision = lead.authority.decide(
            crate::state::unix_now_ms(),
            self.registry(),
            &envelope.conn,
            envelope.request,
            envelope.kind.clone(),
        );
        self.commit(&mut leading, decision).await;
        true
    }

    /// Commits a decision of the authority (after any still waiting for Redis); losing the
    /// lease on the way ends its term.
    async fn commit(&self, leading: &mut Option<Leading>, decision: Decision) {
        let Some(lead) = leading.as_mut() else { return };
        if !decision.is_empty() {
            lead.unpublished.push_back(decision);
        }
        while let Some(decision) = lead.unpublished.front() {
            let json = serde_json::to_string(decision).unwrap_or_default();
            match self
                .store
                .commit(self.cluster.boot_id(), &decision.grants, &json)
                .await
            {
                Ok(Committed::As(seq)) => {
                    lead.seq = seq;
                    lead.unpublished.pop_front();
                    self.dirty.notify_one();
                }
                Ok(Committed::NoLease) => {
                    // Kept for the next election, which resumes this term if no one else
                    // took it meanwhile.
                    lead.until = Instant::now();
                    return;
                }
                Ok(Committed::LeaseTaken) => {
                    // Another node holds the lease: it restored what was committed.
                    tracing::warn!("rooms authority: lease taken by another node, stepping down");
                    *leading = None;
                    self.applied.store(0, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    // Kept, in order, for when Redis is back.
                    tracing::warn!(error = %e, waiting = lead.unpublished.len(), "rooms authority: decision not committed yet");
                    return;
                }
            }
        }
    }

    /// Seeks and renews the lease; while it holds, runs the authority's timers.
    async fn lead(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(TICK);
        let mut n = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            n += 1;
            if n.is_multiple_of(2) {
                self.elect().await;
            }
            let mut leading = self.leading.lock().await;
            let Some(lead) = leading.as_mut().filter(|l| Instant::now() < l.until) else {
                continue;
            };
            if !lead.unpublished.is_empty() {
                self.commit(&mut leading, Decision::default()).await;
                continue;
            }
            let Some(lead) = leading.as_mut() else {
                continue;
            };
            let now = crate::state::unix_now_ms();
            if let Some(decision) = lead.authority.expire(now, self.registry()) {
                self.commit(&mut leading, decision).await;
            }
            if n.is_multiple_of(2) {
                self.lose_dead_nodes(&mut leading).await;
            }
        }
        // Shutting down: a last state, and the lease handed on at once.
        let mut leading = self.leading.lock().await;
        if let Some(lead) = leading.take() {
            let boot = self.cluster.boot_id();
            let _ = self
                .store
                .save(boot, lead.seq, &lead.authority.rooms().snapshot())
                .await;
            let _ = self.store.resign(boot).await;
        }
    }

    async fn elect(&self) {
        let boot = self.cluster.boot_id();
        let mut leading = self.leading.lock().await;
        if leading.is_none() && !self.lease_stayed_free().await {
            return;
        }
        let asked = Instant::now();
        match self.store.elect(boot, LEASE.as_millis() as u64).await {
            Ok(Lease::Renewed) if leading.is_some() => {
                if let Some(lead) = leading.as_mut() {
                    lead.until = asked + LEASE - LEASE_MARGIN;
                }
            }
            Ok(Lease::Taken | Lease::Renewed) => {
                // A term of ours that was interrupted (Redis restarted, or the lease ran out
                // while no one took it) goes on from memory if no one committed since.
                let resumed = match leading.take() {
                    Some(lead) => self.resume(lead, asked).await,
                    None => None,
                };
                let lead = match resumed {
                    Some(lead) => Ok(lead),
                    None => self.take_over(asked).await,
                };
                match lead {
                    Ok(lead) => {
                        *leading = Some(lead);
                        *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = Some(boot.into());
                        let reconciled = leading
                            .as_ref()
                            .map(|l| l.authority.reconcile(self.registry()));
                        if let Some(decision) = reconciled {
                            self.commit(&mut leading, decision).await;
                        }
                        self.lose_dead_nodes(&mut leading).await;
                        tracing::info!("this node is the rooms authority");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "rooms authority: cannot load the state");
                        let _ = self.store.resign(boot).await;
                    }
                }
            }
            Ok(Lease::Other) => {
                if leading.take().is_some() {
                    tracing::warn!("rooms authority: lease lost to another node");
                    self.applied.store(0, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::debug!(error = %e, "rooms authority: lease not renewed"),
        }
    }

    /// Whether the lease was free at this check and the one before.
    async fn lease_stayed_free(&self) -> bool {
        match self.store.leader().await {
            Ok(None) => self.free_checks.fetch_add(1, Ordering::Relaxed) >= 1,
            _ => {
                self.free_checks.store(0, Ordering::Relaxed);
                false
            }
        }
    }

    /// Carries on a term of this node's after its lease lapsed: the state in memory is the
    /// latest if the grants in Redis are not past it (then Redis lost them: they are written
    /// again, and the state). `None`: another node committed since; start from Redis.
    async fn resume(&self, mut lead: Leading, asked: Instant) -> Option<Leading> {
        let boot = self.cluster.boot_id();
        let (seq, _) = self.store.grants().await.ok()?;
        if seq > lead.seq {
            return None;
        }
        if seq < lead.seq {
            tracing::warn!(
                redis = seq,
                ours = lead.seq,
                "rooms authority: Redis lost the rooms; writing them again"
            );
            // The registry includes the changes of decisions still waiting: committing them
            // again next is harmless (each sets or deletes the same fields).
            let registry = self.registry().export();
            if !self
                .store
                .replace_grants(boot, lead.seq, &registry)
                .await
                .ok()?
            {
                return None;
            }
            self.dirty.notify_one();
        }
        lead.until = asked + LEASE - LEASE_MARGIN;
        tracing::info!("rooms authority: term resumed");
        Some(lead)
    }

    /// The state a new authority starts from: the last written, with the grants as of the
    /// last decision.
    async fn take_over(&self, asked: Instant) -> anyhow::Result<Leading> {
        let rooms = match self.store.state().await? {
            Some((_, snapshot)) => Rooms::restore(&snapshot, self.limits)?,
            None => Rooms::with_limits(self.limits),
        };
        let (seq, grants) = self.store.grants().await?;
        self.registry().replace(grants);
        self.applied.store(seq, Ordering::Relaxed);
        Ok(Leading {
            authority: Authority::new(rooms),
            seq,
            until: asked + LEASE - LEASE_MARGIN,
            unpublished: Default::default(),
            missing: HashMap::new(),
        })
    }

    /// Connections of nodes that are gone are lost: nodes whose record has been missing
    /// for [`MISSING_GRACE`] (not just since Redis restarted empty: every live node writes its
    /// record again within 500 ms).
    async fn lose_dead_nodes(&self, leading: &mut Option<Leading>) {
        let Ok(nodes) = self.cluster.shared().nodes().await else {
            return;
        };
        let live: HashSet<String> = nodes.into_iter().map(|(r, _)| r.boot_id).collect();
        let Some(lead) = leading.as_mut() else { return };
        let boot_of = |conn: &ConnId| -> String {
            let id = conn.as_str();
            id.split_once('.').map_or(id, |(boot, _)| boot).to_owned()
        };
        let now = Instant::now();
        let absent: HashSet<String> = lead
            .authority
            .rooms()
            .connections()
            .map(boot_of)
            .filter(|boot| !live.contains(boot))
            .collect();
        lead.missing.retain(|boot, _| absent.contains(boot));
        let mut gone = HashSet::new();
        for boot in absent {
            let since = *lead.missing.entry(boot.clone()).or_insert(now);
            if now.duration_since(since) >= MISSING_GRACE {
                gone.insert(boot);
            }
        }
        if gone.is_empty() {
            return;
        }
        // Silent since its record was last written, at the latest.
        let silent = (super::state::NODE_TTL + MISSING_GRACE).as_millis() as u64;
        let decision = lead.authority.lose_connections(
            crate::state::unix_now_ms(),
            self.registry(),
            silent,
            |conn| gone.contains(&boot_of(conn)),
        );
        self.commit(leading, decision).await;
    }

    /// Writes the state after decisions, at most one write at a time (later decisions
    /// coalesce into the next write).
    async fn write_state(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.dirty.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let saved = {
                let leading = self.leading.lock().await;
                leading
                    .as_ref()
                    .map(|l| (l.seq, l.authority.rooms().snapshot()))
            };
            if let Some((seq, snapshot)) = saved {
                if let Err(e) = self
                    .store
                    .save(self.cluster.boot_id(), seq, &snapshot)
                    .await
                {
                    tracing::warn!(error = %e, "rooms authority: state not written");
                }
            }
        }
    }

    /// Receives the decisions (and, as the authority, requests) until `stop`, subscribing
    /// again after Redis comes back.
    async fn subscribe(self: Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        let requests = rooms_store::requests_channel(self.cluster.boot_id());
        let channels = vec![rooms_store::DECISIONS.to_owned(), requests.clone()];
        // Decisions may have been missed while unsubscribed: reload the grants on the next.
        let resubscribed = || self.applied.store(0, Ordering::Relaxed);
        let rooms = self.clone();
        let on_message = move |channel: String, payload: String| {
            let rooms = rooms.clone();
            let request = channel == requests;
            async move {
                if request {
                    rooms.received_request(&payload);
                } else {
                    rooms.received_decision(&payload).await;
                }
            }
        };
        let client = self.cluster.shared().client().clone();
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

    /// Decides other nodes' requests one after the other.
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
            let Some(envelope) = envelope else { return };
            if !self.decide(&envelope).await {
                tracing::debug!("rooms: request for a former authority dropped");
            }
        }
    }

    async fn received_decision(&self, payload: &str) {
        let Some((seq, from, json)) = rooms_store::parse_published(payload) else {
            return;
        };
        let Ok(decision) = serde_json::from_str::<Decision>(json) else {
            tracing::warn!("rooms: unreadable decision");
            return;
        };
        if from != self.cluster.boot_id() {
            let applied = self.applied.load(Ordering::Relaxed);
            if applied != 0 && seq == applied + 1 {
                for op in &decision.grants {
                    self.registry().apply(op);
                }
                self.applied.store(seq, Ordering::Relaxed);
            } else if seq > applied {
                // A gap (or the first decision seen): the hash is exactly as of its `.seq`,
                // which includes this decision.
                match self.store.grants().await {
                    Ok((at, grants)) => {
                        self.registry().replace(grants);
                        self.applied.store(at, Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!(error = %e, "rooms: grants not reloaded"),
                }
            }
        } else {
            self.applied.fetch_max(seq, Ordering::Relaxed);
        }
        let _ = self.out.send(decision);
    }
}
