//! The handle signaling uses to reach the media workers ([`MediaHandle`]), and their start.
//! Each worker owns one media core (`Sfu`) and one UDP socket, on an OS thread of
//! its own ("podium-media-N", a single-threaded tokio runtime), so nothing is shared and
//! there are no locks.
//!
//! A stream's publishers live on its home worker (a hash of the stream name); its viewers join
//! the home until it has `--spread-viewers-from` of them, then spread over every worker
//! ([`Placement`]), which follow the stream: the home relays its packets to them (shared
//! payloads over a channel per worker; see `podium_media`'s `sfu/relay.rs`). Signaling talks
//! to the workers only through [`MediaHandle`], which routes publish by stream, view by
//! placement, close by peer id, and gathers snapshots from all of them. The loop itself is
//! in `media_loop.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use podium_media::{
    Accepted, LocalPacket, LocalPublishParams, LocalTrack, MediaError, MediaEvent, PeerId,
    PublishParams, RecordTrack, Recorded, Relay, SfuConfig, SourceKey, StreamPresence, ViewParams,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::media_loop::Worker;
use crate::stats::IoStats;

/// Relayed packets waiting for one worker, at most (a few hundred milliseconds of a big
/// room's media); beyond, packets are dropped and counted, never queued without bound.
pub const RELAY_QUEUE: usize = 16_384;

/// A message between workers, with the instant its cause was received (for the latency
/// histogram of the worker that sends the result).
pub(crate) struct Relayed {
    pub(crate) relay: Relay,
    pub(crate) origin: Option<Instant>,
}

/// The ways into one worker from the others: control (never dropped; bounded by the number
/// of streams and sources) and media (bounded, dropped when full).
#[derive(Clone)]
pub(crate) struct RelayLinks {
    pub(crate) control: Arc<[mpsc::UnboundedSender<Relayed>]>,
    pub(crate) media: Arc<[mpsc::Sender<Relayed>]>,
    /// Where messages for other nodes go (indices past the workers), once the cluster
    /// started (`cluster/links.rs`).
    pub(crate) remote: Arc<std::sync::OnceLock<RemoteOutlet>>,
}

/// The way out of the media workers to the cluster's links: control never dropped (bounded
/// by streams and sources), media dropped when the links fall behind.
#[derive(Clone)]
pub struct RemoteOutlet {
    /// Control messages.
    pub control: mpsc::UnboundedSender<Relay>,
    /// Packets and rankings.
    pub media: mpsc::Sender<Relay>,
}

/// What connects one worker to the others and to viewer placement.
pub(crate) struct Wiring {
    pub(crate) links: RelayLinks,
    pub(crate) placement: Arc<Placement>,
    pub(crate) relay_control: mpsc::UnboundedReceiver<Relayed>,
    pub(crate) relay_media: mpsc::Receiver<Relayed>,
}

/// Where viewers go: a stream's home worker until it has `spread_from` of them there, then
/// the worker with the fewest viewers of the stream.
pub struct Placement {
    spread_from: usize,
    workers: usize,
    /// Viewers per worker of each stream with viewers.
    viewers: Mutex<HashMap<String, Vec<usize>>>,
}

impl Placement {
    /// Placement over `workers` workers.
    pub fn new(spread_from: usize, workers: usize) -> Self {
        Self {
            spread_from,
            workers: workers.max(1),
            viewers: Mutex::default(),
        }
    }

    /// The worker for a new viewer of `stream` (counted there until [`Placement::left`]).
    pub fn place(&self, stream: &str) -> usize {
        let home = shard_of(stream, self.workers);
        let Ok(mut viewers) = self.viewers.lock() else {
            return home;
        };
        let counts = viewers
            .entry(stream.to_owned())
            .or_insert_with(|| vec![0; self.workers]);
        let worker = if counts[home] < self.spread_from {
            home
        } else {
            // The fewest viewers; the home first among equals.
            (0..self.workers)
                .min_by_key(|&w| (counts[w], w != home))
                .unwrap_or(home)
        };
        counts[worker] += 1;
        worker
    }

    /// A viewer of `stream` on `worker` is gone (or was refused).
    pub fn left(&self, stream: &str, worker: usize) {
        let Ok(mut viewers) = self.viewers.lock() else {
            return;
        };
        if let Some(counts) = viewers.get_mut(stream) {
            if let Some(c) = counts.get_mut(worker) {
                *c = c.saturating_sub(1);
            }
            if counts.iter().all(|c| *c == 0) {
                viewers.remove(stream);
            }
        }
    }
}

/// Events delivered to one signaling connection.
pub type EventSender = mpsc::UnboundedSender<MediaEvent>;

/// A request to one worker.
pub(crate) enum Command {
    Publish(
        PublishParams,
        EventSender,
        oneshot::Sender<Result<Accepted, MediaError>>,
    ),
    View(
        ViewParams,
        EventSender,
        oneshot::Sender<Result<Accepted, MediaError>>,
    ),
    /// A local publication (no WebRTC peer); replies with its id in that worker's core.
    PublishLocal(
        LocalPublishParams,
        EventSender,
        oneshot::Sender<Result<PeerId, MediaError>>,
    ),
    /// Ends a peer (by its id in that worker's core).
    Close(PeerId),
    /// Starts (true) or stops recording a publication (by its id in that worker's core);
    /// replies with its tracks when starting.
    Record(
        PeerId,
        bool,
        oneshot::Sender<Result<Vec<RecordTrack>, MediaError>>,
    ),
    Snapshot(oneshot::Sender<WorkerSnapshot>),
    /// The streams the worker holds (`Sfu::stream_presence`).
    Presence(oneshot::Sender<Vec<StreamPresence>>),
    /// A stream's home is the cluster link with this index, or (`None`) this server again.
    RemoteHome(String, Option<usize>),
    /// A viewer's request about what it receives (by its id in that worker's core).
    Viewer(
        PeerId,
        ViewerRequest,
        oneshot::Sender<Result<(), MediaError>>,
    ),
}

/// What a viewer may ask about the tracks it receives.
#[derive(Debug, Clone)]
pub enum ViewerRequest {
    /// Route a source's tracks onto transceivers.
    Project(podium_media::ProjectParams),
    /// Stop these transceivers.
    Unproject(Vec<String>),
    /// Choose the main video's layer (`None`: automatic).
    Select(Option<podium_media::LayerRequest>),
}

/// Packets of local publications waiting for one worker, at most. An ingest produces a few
/// hundred to a few thousand packets a second and the worker takes them in batches, so the
/// queue is only full when the worker is stalled; then packets are dropped (and counted)
/// rather than blocking the ingest task or growing without bound.
pub const LOCAL_PACKET_QUEUE: usize = 4096;

/// One packet of a local publication, on its way to the worker that owns it.
pub(crate) struct LocalPush {
    /// The publication (its id in that worker's core).
    pub(crate) peer: PeerId,
    /// Track index, as given at publication.
    pub(crate) track_idx: usize,
    pub(crate) packet: LocalPacket,
}

/// Why [`MediaHandle::push_local`] did not queue a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The worker's packet queue is full (the worker is stalled); the packet was dropped and
    /// counted in [`MediaHandle::local_packets_dropped`].
    Full,
    /// The worker is gone (server shutting down) or the id names no worker.
    Gone,
}

/// What one worker reports for `/metrics` and `/healthz`.
#[derive(Debug, Clone)]
pub struct WorkerSnapshot {
    /// Running totals of its core.
    pub counters: podium_media::Counters,
    /// Live peers (publications and views).
    pub peers: usize,
    /// Streams with a live peer.
    pub streams: usize,
    /// Live sources.
    pub sources: usize,
    /// Live publications.
    pub publications: usize,
    /// Live views.
    pub viewers: usize,
    /// UDP traffic and forwarding latency.
    pub io: IoStats,
    /// CPU seconds (user + system) of the worker's thread, where procfs tells.
    pub cpu_seconds: Option<f64>,
    /// Snapshots the worker has taken, this one included.
    pub snapshots: u64,
}

/// Snapshots of every worker, in worker order.
#[derive(Debug, Clone)]
pub struct MediaSnapshot {
    /// One per worker.
    pub workers: Vec<WorkerSnapshot>,
}

impl MediaSnapshot {
    /// Core counters summed over the workers.
    pub fn counters(&self) -> podium_media::Counters {
        let mut total = podium_media::Counters::default();
        for w in &self.workers {
            total.merge(&w.counters);
        }
        total
    }

    /// UDP statistics summed over the workers.
    pub fn io(&self) -> IoStats {
        let mut total = IoStats::default();
        for w in &self.workers {
            total.merge(&w.io);
        }
        total
    }

    /// A size summed over the workers.
    pub fn sum(&self, f: impl Fn(&WorkerSnapshot) -> usize) -> usize {
        self.workers.iter().map(f).sum()
    }
}

/// Cheap, cloneable access to the media workers.
#[derive(Clone)]
pub struct MediaHandle {
    pub(crate) workers: Arc<[mpsc::UnboundedSender<Command>]>,
    /// Per worker, the bounded queue of local publications' packets (see
    /// [`LOCAL_PACKET_QUEUE`]); apart from commands so that media never delays them.
    packets: Arc<[mpsc::Sender<LocalPush>]>,
    /// Local packets dropped because a worker's queue was full.
    dropped: Arc<AtomicU64>,
    pub(crate) placement: Arc<Placement>,
    /// The workers' relay queues, for messages arriving from other nodes.
    pub(crate) links: RelayLinks,
}

/// The worker is gone (server shutting down).
#[derive(Debug)]
pub struct WorkerGone;

/// A worker did not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnswering {
    /// Which one (the first found).
    pub worker: usize,
}

impl MediaHandle {
    /// Offers a publication; events for it go to `events`.
    pub async fn publish(
        &self,
        p: PublishParams,
        events: EventSender,
    ) -> Result<Result<Accepted, MediaError>, WorkerGone> {
        let (tx, rx) = oneshot::channel();
        self.workers[self.worker_of_stream(&p.stream)]
            .send(Command::Publish(p, events, tx))
            .map_err(|_| WorkerGone)?;
        rx.await.map_err(|_| WorkerGone)
    }

    /// Offers a view; events for it go to `events`.
    pub async fn view(
        &self,
        v: ViewParams,
        events: EventSender,
    ) -> Result<Result<Accepted, MediaError>, WorkerGone> {
        let (tx, rx) = oneshot::channel();
        let worker = self.placement.place(&v.stream);
        let stream = v.stream.clone();
        if self.workers[worker]
            .send(Command::View(v, events, tx))
            .is_err()
        {
            self.placement.left(&stream, worker);
            return Err(WorkerGone);
        }
        rx.await.map_err(|_| WorkerGone)
    }

    /// Publishes a source produced in-process (an RTMP ingest) into `stream`: no WebRTC
    /// peer, no SDP. Returns its (global) peer id and the channel of its events:
    /// `ViewerCount`, `KeyframeRequested` and, last, `PeerClosed`. Feed it with
    /// [`MediaHandle::push_local`]; end it with [`MediaHandle::close`].
    pub async fn publish_local(
        &self,
        stream: String,
        source: SourceKey,
        priority: Option<i32>,
        tracks: Vec<LocalTrack>,
    ) -> Result<Result<(PeerId, mpsc::UnboundedReceiver<MediaEvent>), MediaError>, WorkerGone> {
        let (events, events_rx) = mpsc::unbounded_channel();
        let (tx, rx) = oneshot::channel();
        let worker = self.worker_of_stream(&stream);
        let p = LocalPublishParams {
            stream,
            source,
            tracks,
            priority,
        };
        self.workers[worker]
            .send(Command::PublishLocal(p, events, tx))
            .map_err(|_| WorkerGone)?;
        Ok(rx
            .await
            .map_err(|_| WorkerGone)?
            .map(|peer| (peer, events_rx)))
    }

    /// Queues one packet of local publication `peer`'s track `track_idx` for its worker,
    /// without waiting: when the worker's queue ([`LOCAL_PACKET_QUEUE`]) is full the packet
    /// is dropped and counted, so a stalled worker never blocks the caller. Packets of a
    /// publication keep their order; a packet pushed after [`MediaHandle::close`] (or for an
    /// unknown peer or track) is ignored by the core.
    pub fn push_local(
        &self,
        peer: PeerId,
        track_idx: usize,
        packet: LocalPacket,
    ) -> Result<(), PushError> {
        let (worker, local) = split_peer(peer, self.packets.len());
        let Some(tx) = self.packets.get(worker) else {
            return Err(PushError::Gone);
        };
        let push = LocalPush {
            peer: local,
            track_idx,
            packet,
        };
        match tx.try_send(push) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Err(PushError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PushError::Gone),
        }
    }

    /// Local packets dropped so far because a worker's queue was full.
    pub fn local_packets_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Ends a peer (its signaling connection closed, or a local publication's ingest ended).
    pub fn close(&self, peer: PeerId) {
        let (worker, local) = split_peer(peer, self.workers.len());
        if let Some(tx) = self.workers.get(worker) {
            let _ = tx.send(Command::Close(local));
        }
    }

    /// Starts recording publication `peer`: its packets go to the recording tap from now on.
    /// Returns its tracks.
    pub async fn start_recording(
        &self,
        peer: PeerId,
    ) -> Result<Result<Vec<RecordTrack>, MediaError>, WorkerGone> {
        let (worker, local) = split_peer(peer, self.workers.len());
        let tx = self.workers.get(worker).ok_or(WorkerGone)?;
        let (reply, rx) = oneshot::channel();
        tx.send(Command::Record(local, true, reply))
            .map_err(|_| WorkerGone)?;
        rx.await.map_err(|_| WorkerGone)
    }

    /// Carries out a viewer's request (`project`, `unproject`, `select`).
    pub async fn viewer_request(
        &self,
        peer: PeerId,
        request: ViewerRequest,
    ) -> Result<Result<(), MediaError>, WorkerGone> {
        let (worker, local) = split_peer(peer, self.workers.len());
        let tx = self.workers.get(worker).ok_or(WorkerGone)?;
        let (reply, rx) = oneshot::channel();
        tx.send(Command::Viewer(local, request, reply))
            .map_err(|_| WorkerGone)?;
        rx.await.map_err(|_| WorkerGone)
    }

    /// Stops recording publication `peer` (the tap then sends its end).
    pub fn stop_recording(&self, peer: PeerId) {
        let (worker, local) = split_peer(peer, self.workers.len());
        if let Some(tx) = self.workers.get(worker) {
            let (reply, _) = oneshot::channel();
            let _ = tx.send(Command::Record(local, false, reply));
        }
    }

    /// Asks every worker at once and waits at most `limit` for all the answers.
    pub async fn snapshot_within(&self, limit: Duration) -> Result<MediaSnapshot, NotAnswering> {
        let deadline = tokio::time::Instant::now() + limit;
        let pending: Vec<_> = self
            .workers
            .iter()
            .map(|tx| {
                let (reply, rx) = oneshot::channel();
                let _ = tx.send(Command::Snapshot(reply));
                rx
            })
            .collect();
        let mut workers = Vec::with_capacity(pending.len());
        for (worker, rx) in pending.into_iter().enumerate() {
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(s)) => workers.push(s),
                _ => return Err(NotAnswering { worker }),
            }
        }
        Ok(MediaSnapshot { workers })
    }

    /// How many workers there are.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// The worker that owns `stream`.
    pub fn worker_of_stream(&self, stream: &str) -> usize {
        shard_of(stream, self.workers.len())
    }
}

/// FNV-1a of the stream name, modulo the worker count: stable across runs and processes.
pub fn shard_of(stream: &str, workers: usize) -> usize {
    podium_media::home_worker(stream, workers)
}

/// The id signaling sees for peer `local` of worker `worker`: `local × workers + worker`, so
/// one worker keeps the core's own numbers and ids stay small (JSON-safe).
pub(crate) fn global_peer(local: PeerId, worker: usize, workers: usize) -> PeerId {
    PeerId(local.0 * workers as u64 + worker as u64)
}

/// The inverse of [`global_peer`]: (worker, id in that worker's core).
pub(crate) fn split_peer(global: PeerId, workers: usize) -> (usize, PeerId) {
    let n = workers.max(1) as u64;
    ((global.0 % n) as usize, PeerId(global.0 / n))
}

/// One worker to start: its bound socket and its core's settings (candidate = its port).
pub struct WorkerSpec {
    /// The bound socket.
    pub socket: std::net::UdpSocket,
    /// The core's settings.
    pub config: SfuConfig,
    /// Where recorded publications' packets go (with global peer ids); `None`: nowhere.
    pub recording: Option<RecordingTap>,
}

/// The channel from the media workers to the recorder, shared by all workers.
#[derive(Clone)]
pub struct RecordingTap {
    /// Recorded packets and ends, in order per publication.
    pub tx: mpsc::Sender<Recorded>,
    /// Packets dropped because the recorder fell behind (its queue was full): the recording
    /// sees a loss there, forwarding is never held up.
    pub dropped: Arc<AtomicU64>,
}

/// Resolves when every worker has stopped.
pub struct MediaJoin {
    done: Vec<oneshot::Receiver<()>>,
}

impl MediaJoin {
    /// Waits for all workers; an error if one ended by panicking.
    pub async fn wait(self) -> anyhow::Result<()> {
        for (i, rx) in self.done.into_iter().enumerate() {
            rx.await
                .map_err(|_| anyhow::anyhow!("media worker {i} panicked"))?;
        }
        Ok(())
    }
}

/// Starts one worker thread per spec; they stop when `stop` becomes true (or its sender is
/// dropped) or every handle is dropped, closing their peers first.
pub async fn spawn(
    specs: Vec<WorkerSpec>,
    spread_viewers_from: usize,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(MediaHandle, MediaJoin)> {
    let count = specs.len();
    anyhow::ensure!(count > 0, "at least one media worker is needed");
    let placement = Arc::new(Placement::new(spread_viewers_from, count));
    let (control_tx, control_rx): (Vec<_>, Vec<_>) =
        (0..count).map(|_| mpsc::unbounded_channel()).unzip();
    let (media_tx, media_rx): (Vec<_>, Vec<_>) =
        (0..count).map(|_| mpsc::channel(RELAY_QUEUE)).unzip();
    let links = RelayLinks {
        control: control_tx.into(),
        media: media_tx.into(),
        remote: Arc::default(),
    };
    let mut inbound = control_rx.into_iter().zip(media_rx);
    let mut senders = Vec::with_capacity(count);
    let mut packet_senders = Vec::with_capacity(count);
    let mut done = Vec::with_capacity(count);
    for (index, spec) in specs.into_iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (packet_tx, packets) = mpsc::channel(LOCAL_PACKET_QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel::<std::io::Result<SocketAddr>>();
        let (done_tx, done_rx) = oneshot::channel();
        let stop = stop.clone();
        let (relay_control, relay_media) = inbound.next().expect("one per worker");
        let wiring = Wiring {
            links: links.clone(),
            placement: placement.clone(),
            relay_control,
            relay_media,
        };
        std::thread::Builder::new()
            .name(format!("podium-media-{index}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let (worker, inbound) = match Worker::new(index, count, spec, wiring) {
                        Ok(w) => w,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(worker.local_addr()));
                    worker.run(rx, packets, inbound, stop).await;
                });
                let _ = done_tx.send(());
            })?;
        let addr = ready_rx
            .await
            .map_err(|_| anyhow::anyhow!("media worker {index} failed to start"))??;
        tracing::debug!(worker = index, %addr, "media worker started");
        senders.push(tx);
        packet_senders.push(packet_tx);
        done.push(done_rx);
    }
    Ok((
        MediaHandle {
            workers: senders.into(),
            packets: packet_senders.into(),
            dropped: Arc::default(),
            placement,
            links,
        },
        MediaJoin { done },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_round_trip_and_one_worker_keeps_core_ids() {
        for workers in 1..5 {
            for worker in 0..workers {
                for local in 1..50 {
                    let g = global_peer(PeerId(local), worker, workers);
                    assert_eq!(split_peer(g, workers), (worker, PeerId(local)));
                }
            }
        }
        assert_eq!(global_peer(PeerId(7), 0, 1), PeerId(7));
    }

    #[test]
    fn push_local_never_blocks_and_counts_drops() {
        let (commands, _commands_rx) = mpsc::unbounded_channel();
        let (packets, packets_rx) = mpsc::channel(1);
        let handle = MediaHandle {
            workers: vec![commands].into(),
            packets: vec![packets].into(),
            dropped: Arc::default(),
            placement: Arc::new(Placement::new(64, 1)),
            links: RelayLinks {
                control: Arc::new([]),
                media: Arc::new([]),
                remote: Arc::default(),
            },
        };
        let packet = || LocalPacket {
            captured: None,
            rtp_timestamp: 0,
            marker: false,
            audio_level: None,
            voice_activity: None,
            payload: Arc::from(&[1u8][..]),
        };
        assert_eq!(handle.push_local(PeerId(1), 0, packet()), Ok(()));
        assert_eq!(
            handle.push_local(PeerId(1), 0, packet()),
            Err(PushError::Full)
        );
        assert_eq!(handle.local_packets_dropped(), 1);
        drop(packets_rx);
        assert_eq!(
            handle.push_local(PeerId(1), 0, packet()),
            Err(PushError::Gone)
        );
        assert_eq!(handle.local_packets_dropped(), 1);
    }

    #[test]
    fn viewers_fill_the_home_then_spread_evenly() {
        let p = Placement::new(2, 3);
        let home = shard_of("big", 3);
        assert_eq!((p.place("big"), p.place("big")), (home, home));
        let mut per = [0usize; 3];
        per[home] = 2;
        for _ in 0..9 {
            per[p.place("big")] += 1;
        }
        let (max, min) = (per.iter().max().unwrap(), per.iter().min().unwrap());
        assert!(max - min <= 1, "even: {per:?}");
        assert_eq!(per[home], *max, "the home first among equals: {per:?}");
        // Viewers leaving make room where they were; a stream with none is forgotten.
        let other = (0..3).find(|&w| w != home).unwrap();
        p.left("big", other);
        assert_eq!(p.place("big"), other);
        for (w, n) in per.iter().enumerate() {
            for _ in 0..=*n {
                p.left("big", w);
            }
        }
        assert!(p.viewers.lock().unwrap().is_empty());
        // Spreading from 0: the very first viewer may go anywhere, the home among equals.
        let everywhere = Placement::new(0, 2);
        assert_eq!(everywhere.place("x"), shard_of("x", 2));
        assert_ne!(everywhere.place("x"), shard_of("x", 2));
    }

    #[test]
    fn streams_spread_over_workers_and_stay_put() {
        let mut per = [0usize; 4];
        for i in 0..4000 {
            per[shard_of(&format!("stream-{i}"), 4)] += 1;
        }
        assert!(per.iter().all(|&n| n > 800), "{per:?}");
        assert_eq!(shard_of("room", 3), shard_of("room", 3));
        assert_eq!(shard_of("anything", 1), 0);
    }
}
