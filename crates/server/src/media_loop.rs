//! The loop of one media worker: batches of datagrams in, the core's output out.
//!
//! Each wake-up reads up to [`RECV_BATCH`] datagrams per system call (a few calls at most, so
//! commands and timers are never starved), feeds them all to the core, then drains it: events
//! go to signaling connections, datagrams join the send queue, and the queue leaves in
//! `sendmmsg` calls of up to 64. What the kernel cannot take now waits for writability.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use podium_media::{Accepted, MediaError, MediaEvent, Output, PeerId, Recorded, Relay, Sfu};
use tokio::sync::{mpsc, oneshot, watch};

use crate::media_handle::{
    global_peer, Command, EventSender, LocalPush, Placement, RecordingTap, RelayLinks, Relayed,
    ViewerRequest, Wiring, WorkerSnapshot, WorkerSpec,
};
use crate::stats::{thread_cpu_seconds, IoStats};
use crate::udp::{BatchSocket, Outgoing, RECV_BATCH};

/// Relay messages handled per wake-up at most, before the socket and timers get a turn.
const RELAYS_PER_WAKE: usize = 256;

/// Receive calls per wake-up at most, before commands and timers get a turn.
const RECV_CALLS_PER_WAKE: usize = 4;

/// Local publications' packets fed to the core per wake-up at most (the rest wait a turn).
const LOCAL_PACKETS_PER_WAKE: usize = 256;

pub(crate) struct Worker {
    index: usize,
    workers: usize,
    sfu: Sfu,
    io: BatchSocket,
    /// Local address as put in candidates: str0m matches received datagrams against it.
    candidate_addr: SocketAddr,
    /// Signaling connection of each peer, by its id in this core.
    routes: HashMap<PeerId, EventSender>,
    queue: VecDeque<Outgoing>,
    stats: IoStats,
    /// Snapshots taken (each costs the loop a turn; `/healthz` and `/metrics` share them).
    snapshots: u64,
    /// Where recorded packets go.
    recording: Option<RecordingTap>,
    /// The other workers' relay queues, and viewer placement.
    links: RelayLinks,
    placement: Arc<Placement>,
    /// The stream of each viewer here (placement counts them until they close).
    viewer_streams: HashMap<PeerId, String>,
}

/// What other workers send this one.
pub(crate) struct Inbound {
    control: mpsc::UnboundedReceiver<Relayed>,
    media: mpsc::Receiver<Relayed>,
}

enum Wake {
    Readable(io::Result<()>),
    Writable,
    Command(Option<Command>),
    Packet(Option<LocalPush>),
    Relay(Option<Relayed>),
    Timer,
    Stop,
}

impl Worker {
    /// Must run inside the worker's runtime (the socket registers with it).
    pub(crate) fn new(
        index: usize,
        workers: usize,
        spec: WorkerSpec,
        wiring: Wiring,
    ) -> io::Result<(Self, Inbound)> {
        let WorkerSpec {
            socket,
            config,
            recording,
        } = spec;
        let candidate_addr = config.candidate_addr;
        let Wiring {
            links,
            placement,
            relay_control,
            relay_media,
        } = wiring;
        let inbound = Inbound {
            control: relay_control,
            media: relay_media,
        };
        let worker = Self {
            index,
            workers,
            sfu: {
                let mut config = config;
                config.worker = index;
                config.workers = workers;
                // Read together: sender reports map the core's instants to wall-clock time.
                let now = Instant::now();
                config.unix_time_at_start = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Sfu::new(config, now)
            },
            io: BatchSocket::new(socket)?,
            candidate_addr,
            routes: HashMap::new(),
            queue: VecDeque::new(),
            stats: IoStats::default(),
            snapshots: 0,
            recording,
            links,
            placement,
            viewer_streams: HashMap::new(),
        };
        Ok((worker, inbound))
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.io.local_addr().unwrap_or(self.candidate_addr)
    }

    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Command>,
        mut packets: mpsc::Receiver<LocalPush>,
        mut inbound: Inbound,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut deadline = self.drain(None);
        let sleep = tokio::time::sleep_until(deadline.into());
        tokio::pin!(sleep);
        loop {
            if sleep.deadline() != deadline.into() {
                sleep.as_mut().reset(deadline.into());
            }
            let want_writable = !self.queue.is_empty();
            let wake = tokio::select! {
                r = self.io.readable() => Wake::Readable(r),
                _ = self.io.writable(), if want_writable => Wake::Writable,
                cmd = rx.recv() => Wake::Command(cmd),
                push = packets.recv() => Wake::Packet(push),
                r = inbound.control.recv() => Wake::Relay(r),
                r = inbound.media.recv() => Wake::Relay(r),
                () = &mut sleep => Wake::Timer,
                _ = stop.wait_for(|s| *s) => Wake::Stop,
            };
            match wake {
                Wake::Readable(Ok(())) => self.receive(),
                Wake::Readable(Err(e)) => {
                    // Only when the runtime is going away; looping on it would spin.
                    tracing::error!(error = %e, worker = self.index, "media socket unusable");
                    break;
                }
                Wake::Writable => {}
                Wake::Command(Some(cmd)) => self.command(cmd),
                Wake::Packet(Some(push)) => self.push_local(push, &mut packets),
                Wake::Relay(Some(first)) => self.relayed(first, &mut inbound),
                // The senders live in every worker: they close only when all have stopped.
                Wake::Relay(None) => {}
                // Both senders live in the handles: this one closes when commands do.
                Wake::Command(None) | Wake::Packet(None) | Wake::Stop => break,
                Wake::Timer => {}
            }
            // Timers are checked after every wake-up: under steady traffic the socket is
            // always readable, and timers must not wait for a quiet moment.
            let now = Instant::now();
            if now >= deadline {
                self.sfu.handle_timeout(now);
            }
            deadline = self.drain(None);
        }
        // Tell every connection its peer is gone, so sockets close cleanly.
        let peers: Vec<PeerId> = self.routes.keys().copied().collect();
        for peer in peers {
            self.sfu.close_peer(Instant::now(), peer);
        }
        self.drain(None);
    }

    /// Reads what the socket has (a few batches at most) and feeds it to the core.
    fn receive(&mut self) {
        for _ in 0..RECV_CALLS_PER_WAKE {
            let start = Instant::now();
            let result = self.io.try_recv_batch();
            let now = Instant::now();
            self.stats.recv_seconds += (now - start).as_secs_f64();
            match result {
                Ok(n) => {
                    self.stats.recv_batches.observe(n as f64);
                    for i in 0..n {
                        let (meta, data) = self.io.datagram(i);
                        if meta.invalid {
                            self.stats.invalid_in += 1;
                            continue;
                        }
                        self.stats.datagrams_in += 1;
                        self.stats.bytes_in += data.len() as u64;
                        self.sfu
                            .handle_receive(now, meta.from, self.candidate_addr, data);
                        // Whole send batches leave as soon as they exist: a fan-out to many
                        // viewers does not wait for the rest of the input batch.
                        self.collect(Some(now));
                        self.io.flush_full_batches(&mut self.queue, &mut self.stats);
                    }
                    self.drain(Some(now));
                    if n < RECV_BATCH {
                        // Most likely empty now; the next wake-up finds out.
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP errors from a vanished peer may surface here; they are not fatal.
                Err(e) => {
                    self.stats.recv_errors += 1;
                    tracing::debug!(error = %e, "udp receive error");
                }
            }
        }
    }

    /// Feeds `first` and whatever else is queued (a bounded batch) to the core. The output is
    /// not stamped with an origin: forwarding latency measures UDP input only.
    fn push_local(&mut self, first: LocalPush, packets: &mut mpsc::Receiver<LocalPush>) {
        let now = Instant::now();
        let mut next = Some(first);
        let mut fed = 0;
        while let Some(push) = next.take() {
            self.sfu
                .push_local(now, push.peer, push.track_idx, push.packet);
            // As in `receive`: a fan-out leaves in whole batches as soon as they exist.
            self.collect(None);
            self.io.flush_full_batches(&mut self.queue, &mut self.stats);
            fed += 1;
            if fed < LOCAL_PACKETS_PER_WAKE {
                next = packets.try_recv().ok();
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Publish(p, events, reply) => {
                let result = self.sfu.publish(now, p);
                self.register(result, events, reply);
            }
            Command::View(v, events, reply) => {
                let stream = v.stream.clone();
                let result = self.sfu.view(now, v);
                match &result {
                    Ok(accepted) => {
                        self.viewer_streams.insert(accepted.peer, stream);
                    }
                    Err(_) => self.placement.left(&stream, self.index),
                }
                self.register(result, events, reply);
            }
            Command::PublishLocal(p, events, reply) => {
                let result = self.sfu.publish_local(now, p);
                let local = result.as_ref().ok().copied();
                if let Some(peer) = local {
                    self.routes.insert(peer, events);
                }
                let result = result.map(|peer| global_peer(peer, self.index, self.workers));
                // As for `register`: the reply leaves before any event of the peer.
                if reply.send(result).is_err() {
                    if let Some(peer) = local {
                        self.sfu.close_peer(now, peer);
                    }
                }
            }
            Command::Close(peer) => self.sfu.close_peer(now, peer),
            Command::Record(peer, start, reply) => {
                if start {
                    let _ = reply.send(self.sfu.start_recording(peer));
                } else {
                    self.sfu.stop_recording(peer);
                }
            }
            Command::Snapshot(reply) => {
                self.snapshots += 1;
                let _ = reply.send(self.snapshot());
            }
            Command::Presence(reply) => {
                let _ = reply.send(self.sfu.stream_presence());
            }
            Command::RemoteHome(stream, home) => self.sfu.set_remote_home(now, &stream, home),
            Command::Viewer(peer, request, reply) => {
                let result = match request {
                    ViewerRequest::Project(p) => self.sfu.project(now, peer, p),
                    ViewerRequest::Unproject(mids) => self.sfu.unproject(now, peer, &mids),
                    ViewerRequest::Select(layer) => self.sfu.select(now, peer, layer),
                };
                let _ = reply.send(result);
            }
        }
    }

    fn snapshot(&self) -> WorkerSnapshot {
        WorkerSnapshot {
            counters: self.sfu.counters().clone(),
            peers: self.sfu.peer_count(),
            streams: self.sfu.stream_count(),
            sources: self.sfu.source_count(),
            publications: self.sfu.publication_count(),
            viewers: self.sfu.viewer_count(),
            io: self.stats.clone(),
            cpu_seconds: thread_cpu_seconds(),
            snapshots: self.snapshots,
        }
    }

    fn register(
        &mut self,
        result: Result<Accepted, MediaError>,
        events: EventSender,
        reply: oneshot::Sender<Result<Accepted, MediaError>>,
    ) {
        let local = result.as_ref().ok().map(|a| a.peer);
        if let Some(peer) = local {
            self.routes.insert(peer, events);
        }
        let result = result.map(|a| Accepted {
            peer: global_peer(a.peer, self.index, self.workers),
            answer: a.answer,
        });
        // The reply is sent before any event is routed (events wait in the core's queue until
        // the next drain), so a client always sees its response before `active`.
        if reply.send(result).is_err() {
            if let Some(peer) = local {
                // The connection went away while we answered.
                self.sfu.close_peer(Instant::now(), peer);
            }
        }
    }

    /// Routes every event, queues every datagram (stamped with `origin`, when it came from
    /// received input) and sends what the socket takes; returns the core's next deadline.
    fn drain(&mut self, origin: Option<Instant>) -> Instant {
        let deadline = self.collect(origin);
        if !self.queue.is_empty() {
            self.io.flush(&mut self.queue, &mut self.stats);
        }
        deadline
    }

    /// Takes the core's output: events are routed, datagrams queued; returns its deadline.
    fn collect(&mut self, origin: Option<Instant>) -> Instant {
        self.hand_over_recorded();
        for buf in self.io.take_spent() {
            self.sfu.recycle(buf);
        }
        self.hand_over_relays(origin);
        loop {
            match self.sfu.poll_output() {
                Output::Transmit(transmit) => self.queue.push_back(Outgoing { transmit, origin }),
                Output::Event(e) => self.route(e),
                Output::Timeout(at) => return at,
            }
        }
    }

    /// The core's messages for other workers: control always, media unless the receiving
    /// worker's queue is full (then dropped and counted).
    fn hand_over_relays(&mut self, origin: Option<Instant>) {
        for relay in self.sfu.take_relays() {
            let to = relay.to();
            if to >= self.workers {
                hand_to_cluster(&self.links, &mut self.stats, relay);
                continue;
            }
            let relayed = Relayed { relay, origin };
            if relayed.relay.is_media() {
                if let Some(tx) = self.links.media.get(to) {
                    if tx.try_send(relayed).is_err() {
                        self.stats.relay_dropped += 1;
                    }
                }
            } else if let Some(tx) = self.links.control.get(to) {
                let _ = tx.send(relayed);
            }
        }
    }

    /// Messages from other workers: `first` and whatever else is queued (a bounded batch);
    /// what they cause is stamped with the instant the home received the packet.
    fn relayed(&mut self, first: Relayed, inbound: &mut Inbound) {
        let mut next = Some(first);
        let mut handled = 0;
        while let Some(Relayed { relay, origin }) = next.take() {
            self.stats.relay_in += 1;
            self.sfu.handle_relay(Instant::now(), relay);
            self.collect(origin);
            self.io.flush_full_batches(&mut self.queue, &mut self.stats);
            handled += 1;
            if handled < RELAYS_PER_WAKE {
                next = inbound
                    .control
                    .try_recv()
                    .or_else(|_| inbound.media.try_recv())
                    .ok();
            }
        }
    }

    /// Recorded packets to the recorder, never waiting: a full queue drops and counts.
    fn hand_over_recorded(&mut self) {
        let (index, workers) = (self.index, self.workers);
        let global = |peer| global_peer(peer, index, workers);
        for recorded in self.sfu.take_recorded() {
            let Some(tap) = &self.recording else {
                continue;
            };
            let recorded = match recorded {
                Recorded::Started {
                    publication,
                    tracks,
                } => Recorded::Started {
                    publication: global(publication),
                    tracks,
                },
                Recorded::Packet(mut p) => {
                    p.publication = global(p.publication);
                    Recorded::Packet(p)
                }
                Recorded::Ended { publication } => Recorded::Ended {
                    publication: global(publication),
                },
            };
            if tap.tx.try_send(recorded).is_err() {
                tap.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn route(&mut self, event: MediaEvent) {
        let to = event.recipient();
        let event = self.globalize(event);
        if matches!(event, MediaEvent::PeerClosed { .. }) {
            if let Some(stream) = self.viewer_streams.remove(&to) {
                self.placement.left(&stream, self.index);
            }
            if let Some(tx) = self.routes.remove(&to) {
                let _ = tx.send(event);
            }
        } else if let Some(tx) = self.routes.get(&to) {
            let _ = tx.send(event);
        }
    }

    /// The event with the peer ids signaling knows.
    fn globalize(&self, mut event: MediaEvent) -> MediaEvent {
        let (index, workers) = (self.index, self.workers);
        match &mut event {
            MediaEvent::SourceActive { to, .. }
            | MediaEvent::SourceInactive { to, .. }
            | MediaEvent::StreamStopped { to }
            | MediaEvent::SlotChanged { to, .. }
            | MediaEvent::Layers { to, .. }
            | MediaEvent::ViewerCount { to, .. }
            | MediaEvent::Connected { to }
            | MediaEvent::KeyframeRequested { to } => *to = global_peer(*to, index, workers),
            MediaEvent::PeerClosed { peer, .. } => *peer = global_peer(*peer, index, workers),
        }
        event
    }
}

/// A message for another node: to the cluster's links (media dropped, and counted, when they
/// fall behind; everything dropped before the cluster started).
fn hand_to_cluster(links: &RelayLinks, stats: &mut IoStats, relay: Relay) {
    let Some(outlet) = links.remote.get() else {
        return;
    };
    if relay.is_media() {
        if outlet.media.try_send(relay).is_err() {
            stats.relay_dropped += 1;
        }
    } else {
        let _ = outlet.control.send(relay);
    }
}
