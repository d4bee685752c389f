//! The authority's term: the lease, deciding and committing in order, the timers (expiry of
//! held users, connections of dead nodes), the state written for a successor, and taking
//! over (or resuming an interrupted term).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use podium_rooms::{ConnId, Rooms};

use super::store::{Committed, Lease};
use super::{ClusterRooms, Envelope};
use crate::rooms_server::authority::{Authority, Decision};

/// How long the lease lives without renewal.
pub(super) const LEASE: Duration = Duration::from_secs(3);
/// The authority stops deciding this long before its lease could have expired.
const LEASE_MARGIN: Duration = Duration::from_millis(700);
/// How often the lease is renewed (or sought) and the authority's timers run.
const TICK: Duration = Duration::from_millis(250);
/// How long a node's record must stay missing before its connections count as lost.
const MISSING_GRACE: Duration = Duration::from_secs(3);
/// How long a node that failed to take over waits before trying again.
const TAKE_OVER_BACKOFF: Duration = Duration::from_secs(5);

/// The authority's state while this node holds the lease.
pub(super) struct Leading {
    authority: Authority,
    /// The number of the last decision committed.
    seq: u64,
    /// Until when the lease is surely ours.
    until: Instant,
    /// Decisions taken but not committed yet because Redis could not be reached, in order:
    /// committed first when it is back (no new request is decided until then).
    unpublished: VecDeque<Decision>,
    /// Decisions numbered by this term (their ids make a repeated commit harmless).
    decided: u64,
    /// Nodes with connections here but no record, since when.
    missing: HashMap<String, Instant>,
}

impl Leading {
    fn new(authority: Authority, seq: u64, until: Instant) -> Self {
        Self {
            authority,
            seq,
            until,
            unpublished: VecDeque::new(),
            decided: 0,
            missing: HashMap::new(),
        }
    }

    /// Whether it may decide now: lease surely alive, nothing waiting for Redis.
    fn can_decide(&self) -> bool {
        Instant::now() < self.until && self.unpublished.is_empty()
    }
}

impl ClusterRooms {
    /// Decides `envelope` if this node is the authority and may decide now (`false`: not).
    pub(super) async fn decide(&self, envelope: &Envelope) -> bool {
        let mut leading = self.leading.lock().await;
        let Some(lead) = leading.as_mut().filter(|l| l.can_decide()) else {
            return false;
        };
        let decision = lead.authority.decide(
            crate::state::unix_now_ms(),
            self.registry(),
            &envelope.conn,
            envelope.request,
            envelope.kind.clone(),
        );
        if envelope.kind.is_read() {
            // Nothing to commit: the answer goes straight back.
            drop(leading);
            if let Some(reply) = decision.reply {
                self.send_answer(reply).await;
            }
            return true;
        }
        self.commit(&mut leading, decision).await;
        true
    }

    /// Commits a decision of the authority (after any still waiting for Redis); losing the
    /// lease to another node ends the term.
    async fn commit(&self, leading: &mut Option<Leading>, mut decision: Decision) {
        let Some(lead) = leading.as_mut() else { return };
        if !decision.is_empty() {
            lead.decided += 1;
            decision.id = format!("{}:{}", self.cluster.boot_id(), lead.decided);
            lead.unpublished.push_back(decision);
        }
        while let Some(decision) = lead.unpublished.front() {
            let json = serde_json::to_string(decision).unwrap_or_default();
            let boot = self.cluster.boot_id();
            match self
                .store
                .commit(boot, &decision.id, &decision.grants, &json)
                .await
            {
                Ok(Committed::As(seq)) => {
                    lead.seq = seq;
                    lead.unpublished.pop_front();
                    self.cluster.rooms_seq.store(seq, Ordering::Relaxed);
                    self.dirty.notify_one();
                }
                Ok(Committed::NoLease) => {
                    // Kept for the next election, which resumes this term if no one else
                    // took it meanwhile.
                    lead.until = Instant::now();
                    return;
                }
                Ok(Committed::LeaseTaken) => {
                    tracing::warn!("rooms authority: lease taken by another node, stepping down");
                    self.step_down(leading);
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

    /// Ends this node's term: its registry may hold changes no one committed, so it is
    /// reloaded from Redis with the next decision.
    fn step_down(&self, leading: &mut Option<Leading>) {
        *leading = None;
        self.is_leading.store(false, Ordering::Relaxed);
        self.cluster.rooms_seq.store(0, Ordering::Relaxed);
        self.applied.store(0, Ordering::Relaxed);
        self.forget_leader();
    }

    /// Seeks and renews the lease; while it holds, runs the authority's timers.
    pub(super) async fn lead(
        self: std::sync::Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        let mut n = 0u64;
        let mut backoff_until = Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            n += 1;
            if n.is_multiple_of(2) && Instant::now() >= backoff_until && !self.elect().await {
                backoff_until = Instant::now() + TAKE_OVER_BACKOFF;
            }
            let mut leading = self.leading.lock().await;
            let Some(lead) = leading.as_mut().filter(|l| Instant::now() < l.until) else {
                continue;
            };
            if !lead.unpublished.is_empty() {
                self.commit(&mut leading, Decision::default()).await;
                continue;
            }
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
            if lead.unpublished.is_empty() {
                let snapshot = lead.authority.rooms().snapshot();
                let _ = self.store.save(boot, lead.seq, &snapshot).await;
            }
            let _ = self.store.resign(boot).await;
        }
    }

    /// One lease check; `false` if a take-over failed (the caller backs off).
    async fn elect(&self) -> bool {
        let boot = self.cluster.boot_id();
        let mut leading = self.leading.lock().await;
        if leading.is_none() && !self.lease_stayed_free().await {
            return true;
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
                        self.cluster
                            .rooms_seq
                            .store(lead.seq.max(1), Ordering::Relaxed);
                        *leading = Some(lead);
                        self.is_leading.store(true, Ordering::Relaxed);
                        self.set_leader(boot);
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
                        tracing::warn!(error = %e, "rooms authority: not taken over");
                        self.step_down(&mut leading);
                        self.free_checks.store(0, Ordering::Relaxed);
                        let _ = self.store.resign(boot).await;
                        return false;
                    }
                }
            }
            Ok(Lease::Other) => {
                if leading.is_some() {
                    tracing::warn!("rooms authority: lease lost to another node");
                    self.step_down(&mut leading);
                }
            }
            Err(e) => tracing::debug!(error = %e, "rooms authority: lease not renewed"),
        }
        true
    }

    /// Whether the lease was free at this check and the one before (and, when it is held,
    /// remembers by whom: requests go there).
    async fn lease_stayed_free(&self) -> bool {
        match self.store.leader().await {
            Ok(None) => self.free_checks.fetch_add(1, Ordering::Relaxed) >= 1,
            Ok(Some(holder)) => {
                self.set_leader(&holder);
                self.free_checks.store(0, Ordering::Relaxed);
                false
            }
            Err(_) => {
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
            let replaced = self.store.replace_grants(boot, lead.seq, &registry).await;
            if !replaced.ok()? {
                return None;
            }
            self.dirty.notify_one();
        }
        lead.until = asked + LEASE - LEASE_MARGIN;
        tracing::info!("rooms authority: term resumed");
        Some(lead)
    }

    /// The state a new authority starts from: the last written, with the grants as of the
    /// last decision. Refused while another live node says it holds newer rooms than Redis
    /// (a former authority whose Redis restarted empty: it resumes its term instead).
    async fn take_over(&self, asked: Instant) -> anyhow::Result<Leading> {
        let (seq, grants) = self.store.grants().await?;
        let nodes = self.cluster.shared().nodes().await?;
        if let Some((holder, _)) = nodes
            .iter()
            .find(|(r, _)| r.boot_id != self.cluster.boot_id() && r.rooms_seq > seq)
        {
            anyhow::bail!(
                "node {} holds newer rooms (decision {}) than Redis ({seq})",
                holder.id,
                holder.rooms_seq
            );
        }
        let rooms = match self.store.state().await? {
            Some((at, snapshot)) => {
                if at < seq {
                    tracing::warn!(
                        state = at,
                        grants = seq,
                        "rooms authority: the state trails the grants by a few decisions"
                    );
                }
                Rooms::restore(&snapshot, self.limits)?
            }
            None => Rooms::with_limits(self.limits),
        };
        self.replace_registry(grants, seq).await;
        Ok(Leading::new(
            Authority::new(rooms),
            seq,
            asked + LEASE - LEASE_MARGIN,
        ))
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
        let silent = (super::super::state::NODE_TTL + MISSING_GRACE).as_millis() as u64;
        let decision = lead.authority.lose_connections(
            crate::state::unix_now_ms(),
            self.registry(),
            silent,
            |conn| gone.contains(&boot_of(conn)),
        );
        self.commit(leading, decision).await;
    }

    /// Writes the state after decisions, at most one write at a time (later decisions
    /// coalesce into the next write); never while decisions wait for Redis (the state would
    /// be ahead of what was published).
    pub(super) async fn write_state(
        self: std::sync::Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = self.dirty.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let saved = {
                let leading = self.leading.lock().await;
                leading
                    .as_ref()
                    .filter(|l| l.unpublished.is_empty())
                    .map(|l| (l.seq, l.authority.rooms().snapshot()))
            };
            if let Some((seq, snapshot)) = saved {
                let boot = self.cluster.boot_id();
                if let Err(e) = self.store.save(boot, seq, &snapshot).await {
                    tracing::warn!(error = %e, "rooms authority: state not written");
                }
            }
        }
    }
}
