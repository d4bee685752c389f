//! The one task that owns the media core and the UDP socket.
//!
//! Signaling talks to it only through [`MediaHandle`] messages; it answers commands, routes
//! core events to the signaling connection of the addressed peer, and moves datagrams.
//! Nothing else touches the `Sfu`, so there are no locks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use podium_media::{
    Accepted, MediaError, MediaEvent, Output, PeerId, PublishParams, Sfu, SfuConfig, ViewParams,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Events delivered to one signaling connection.
pub type EventSender = mpsc::UnboundedSender<MediaEvent>;

enum Command {
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
    Close(PeerId),
    Snapshot(oneshot::Sender<MediaSnapshot>),
}

/// What `/metrics` reports of the media core.
#[derive(Debug, Clone)]
pub struct MediaSnapshot {
    /// Running totals.
    pub counters: podium_media::Counters,
    /// Live peers (publications and views).
    pub peers: usize,
}

/// Cheap, cloneable access to the media worker.
#[derive(Clone)]
pub struct MediaHandle {
    tx: mpsc::UnboundedSender<Command>,
}

/// The worker is gone (server shutting down).
#[derive(Debug)]
pub struct WorkerGone;

impl MediaHandle {
    /// Offers a publication; events for it go to `events`.
    pub async fn publish(
        &self,
        p: PublishParams,
        events: EventSender,
    ) -> Result<Result<Accepted, MediaError>, WorkerGone> {
        let (tx, rx) = oneshot::channel();
        self.tx
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
        self.tx
            .send(Command::View(v, events, tx))
            .map_err(|_| WorkerGone)?;
        rx.await.map_err(|_| WorkerGone)
    }

    /// Ends a peer (its signaling connection closed).
    pub fn close(&self, peer: PeerId) {
        let _ = self.tx.send(Command::Close(peer));
    }

    /// Running totals and current sizes of the core, for metrics.
    pub async fn snapshot(&self) -> Option<MediaSnapshot> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Snapshot(tx)).ok()?;
        rx.await.ok()
    }
}

/// Starts the worker on `socket`; it stops when `shutdown` resolves or every handle is dropped.
pub fn spawn(
    socket: UdpSocket,
    config: SfuConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (MediaHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let candidate_addr = config.candidate_addr;
    let sfu = Sfu::new(config, Instant::now());
    let worker = Worker {
        sfu,
        socket: Arc::new(socket),
        candidate_addr,
        routes: HashMap::new(),
    };
    let join = tokio::spawn(worker.run(rx, shutdown));
    (MediaHandle { tx }, join)
}

struct Worker {
    sfu: Sfu,
    socket: Arc<UdpSocket>,
    /// Local address as put in candidates: str0m matches received datagrams against it.
    candidate_addr: SocketAddr,
    routes: HashMap<PeerId, EventSender>,
}

impl Worker {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Command>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let mut buf = vec![0u8; 2048];
        tokio::pin!(shutdown);
        loop {
            let deadline = self.drain().await;
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, source)) => {
                        self.sfu.handle_receive(Instant::now(), source, self.candidate_addr, &buf[..n]);
                    }
                    // ICMP errors from a vanished peer surface here on Linux; they are not fatal.
                    Err(e) => tracing::debug!(error = %e, "udp receive error"),
                },
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.sfu.handle_timeout(Instant::now());
                }
                _ = &mut shutdown => break,
            }
        }
        // Tell every connection its peer is gone, so sockets close cleanly.
        let peers: Vec<PeerId> = self.routes.keys().copied().collect();
        for peer in peers {
            self.sfu.close_peer(Instant::now(), peer);
        }
        self.drain().await;
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Publish(p, events, reply) => {
                let result = self.sfu.publish(now, p);
                self.register(&result, events, reply);
            }
            Command::View(v, events, reply) => {
                let result = self.sfu.view(now, v);
                self.register(&result, events, reply);
            }
            Command::Close(peer) => self.sfu.close_peer(now, peer),
            Command::Snapshot(reply) => {
                let _ = reply.send(MediaSnapshot {
                    counters: self.sfu.counters().clone(),
                    peers: self.sfu.peer_count(),
                });
            }
        }
    }

    fn register(
        &mut self,
        result: &Result<Accepted, MediaError>,
        events: EventSender,
        reply: oneshot::Sender<Result<Accepted, MediaError>>,
    ) {
        if let Ok(accepted) = result {
            self.routes.insert(accepted.peer, events);
        }
        // The reply is sent before any event is routed (events wait in the core's queue until
        // the next drain), so a client always sees its response before `active`.
        if reply.send(result.clone()).is_err() {
            if let Ok(accepted) = result {
                // The connection went away while we answered.
                self.sfu.close_peer(Instant::now(), accepted.peer);
            }
        }
    }

    /// Sends every pending datagram and routes every event; returns the next deadline.
    async fn drain(&mut self) -> Instant {
        loop {
            match self.sfu.poll_output() {
                Output::Transmit(t) => {
                    if let Err(e) = self.socket.send_to(&t.contents, t.destination).await {
                        tracing::debug!(error = %e, to = %t.destination, "udp send failed");
                    }
                }
                Output::Event(e) => self.route(e),
                Output::Timeout(at) => return at,
            }
        }
    }

    fn route(&mut self, event: MediaEvent) {
        let to = event.recipient();
        if matches!(event, MediaEvent::PeerClosed { .. }) {
            if let Some(tx) = self.routes.remove(&to) {
                let _ = tx.send(event);
            }
        } else if let Some(tx) = self.routes.get(&to) {
            let _ = tx.send(event);
        }
    }
}
