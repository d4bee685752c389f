//! Relay links between nodes: an edge pulls a stream from its origin.
//!
//! Each node listens on `--relay-addr` for TCP (control) and UDP (media), one port. An edge
//! opens one TCP connection per origin it pulls from, says who it is with a short-lived
//! token signed by the cluster's shared keys, and from then on both sides exchange the media
//! core's relay messages (`podium_media::Relay`, as bytes): the edge's workers follow the
//! origin's home worker of each stream as they would a worker of their own server. Control
//! goes over the TCP connection (ordered, never dropped); packets and rankings come back as
//! UDP datagrams from the origin's relay socket (no head-of-line blocking; a datagram lost
//! is a packet lost, which the viewers' NACKs repair from the edge's own history).
//!
//! Frames: TCP is length-delimited (u32). Origin → edge frames and datagrams start with the
//! edge worker's index (u16) the message is for; edge → origin frames are the message alone
//! (the origin finds the stream's home worker itself).
//!
//! Indices: a worker addresses a node as one more "worker" past the local ones. An edge has
//! one index per origin link; an origin one per (edge link, edge worker) that follows it.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use podium_media::Relay;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::media_handle::{shard_of, MediaHandle, RemoteOutlet};

/// Largest control frame (a source announcement with its codecs is a few KiB).
const MAX_FRAME: usize = 256 * 1024;
/// Media waiting for the links, at most, before packets are dropped.
const OUTLET_MEDIA_QUEUE: usize = 16_384;
/// How long an edge waits for an origin to accept it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a relay token is valid.
const TOKEN_TTL: u64 = 60;
/// Largest datagram read.
const DATAGRAM: usize = 2048;
/// Most media workers an edge may name (its `--media-workers`).
const MAX_EDGE_WORKERS: u16 = 1024;
/// A link whose peer stops answering (machine gone, network cut) is closed after about
/// this idle time plus 3 unanswered probes one interval apart.
const KEEPALIVE: Duration = Duration::from_secs(1);

/// Turns on TCP keepalive, so a silent peer ends the link within a few seconds.
fn keep_alive(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let ka = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE)
        .with_interval(KEEPALIVE)
        .with_retries(3);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&ka);
}

/// The first frame of a link, edge → origin.
#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    node: String,
    token: String,
    /// Its relay address: where media for it goes (UDP).
    relay: SocketAddr,
}

/// The origin's answer.
#[derive(Debug, Serialize, Deserialize)]
struct Welcome {
    node: String,
}

/// The stream name a relay token is bound to: no stream can have it (names have no `:`).
fn relay_subject(node: &str) -> String {
    format!("podium-relay:{node}")
}

enum Route {
    /// This node is the edge: the link to an origin.
    Upstream {
        control: mpsc::UnboundedSender<Bytes>,
    },
    /// This node is the origin: one worker of an edge behind link `link`.
    Downstream {
        link: u64,
        worker: u16,
        control: mpsc::UnboundedSender<Bytes>,
        udp_to: SocketAddr,
        /// Streams it follows here (unfollowed for it when the link drops).
        streams: HashSet<String>,
    },
}

#[derive(Default)]
struct Routes {
    /// Index − workers → route.
    slots: Vec<Option<Route>>,
    /// Origin node → the index of the link to it.
    upstream: HashMap<String, usize>,
    /// Addresses origins send media from.
    upstream_addrs: HashMap<SocketAddr, String>,
    next_link: u64,
}

impl Routes {
    fn free_slot(&mut self) -> usize {
        match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        }
    }
}

/// Counters of the links, for `/metrics`.
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Relay messages sent to other nodes.
    pub sent: std::sync::atomic::AtomicU64,
    /// Relay messages received from other nodes.
    pub received: std::sync::atomic::AtomicU64,
    /// Messages from other nodes that could not be read.
    pub malformed: std::sync::atomic::AtomicU64,
    /// Datagrams dropped (send buffer full).
    pub dropped: std::sync::atomic::AtomicU64,
}

/// This node's relay links.
pub struct Links {
    node: String,
    /// Where this node's relay listens (told to origins in the hello).
    relay_addr: SocketAddr,
    workers: usize,
    udp: Arc<UdpSocket>,
    routes: Mutex<Routes>,
    media: MediaHandle,
    keys: Arc<std::sync::RwLock<Arc<podium_auth::JwtKeys>>>,
    /// Origin nodes whose link went down (the cluster agent stops pulling from them).
    lost: mpsc::UnboundedSender<String>,
    /// Counters.
    pub counters: LinkCounters,
}

impl Links {
    /// Binds the relay port and starts serving it; `lost` hears of origins whose link fell.
    pub async fn start(
        node: String,
        addr: SocketAddr,
        media: MediaHandle,
        keys: Arc<std::sync::RwLock<Arc<podium_auth::JwtKeys>>>,
        lost: mpsc::UnboundedSender<String>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<(Arc<Self>, SocketAddr)> {
        use anyhow::Context;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the relay {addr} (TCP)"))?;
        let bound = listener.local_addr()?;
        let udp = UdpSocket::bind(bound)
            .await
            .with_context(|| format!("binding the relay {bound} (UDP)"))?;
        let links = Arc::new(Self {
            node,
            relay_addr: bound,
            workers: media.worker_count(),
            udp: Arc::new(udp),
            routes: Mutex::default(),
            media: media.clone(),
            keys,
            lost,
            counters: LinkCounters::default(),
        });
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (media_tx, media_rx) = mpsc::channel(OUTLET_MEDIA_QUEUE);
        media.set_remote_outlet(RemoteOutlet {
            control: control_tx,
            media: media_tx,
        });
        tokio::spawn(links.clone().route_out(control_rx, media_rx, stop.clone()));
        tokio::spawn(links.clone().accept(listener, stop.clone()));
        tokio::spawn(links.clone().receive_datagrams(stop));
        Ok((links, bound))
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The index of the link to origin `node` at `addr`, opening it if there is none.
    pub fn upstream(self: &Arc<Self>, node: &str, addr: SocketAddr) -> usize {
        let mut routes = self.routes();
        if let Some(&index) = routes.upstream.get(node) {
            return index;
        }
        let slot = routes.free_slot();
        let (control, rx) = mpsc::unbounded_channel();
        routes.slots[slot] = Some(Route::Upstream { control });
        let index = self.workers + slot;
        routes.upstream.insert(node.to_owned(), index);
        routes.upstream_addrs.insert(addr, node.to_owned());
        drop(routes);
        tokio::spawn(self.clone().run_upstream(node.to_owned(), addr, slot, rx));
        index
    }

    /// Origins this node has a link to.
    pub fn upstream_nodes(&self) -> Vec<String> {
        self.routes().upstream.keys().cloned().collect()
    }

    /// Whether this node has a link to origin `node` (up, or being opened).
    pub fn has_upstream(&self, node: &str) -> bool {
        self.routes().upstream.contains_key(node)
    }

    /// Edge workers following streams here, as (link, streams).
    pub fn downstream_count(&self) -> usize {
        self.routes()
            .slots
            .iter()
            .filter(|r| matches!(r, Some(Route::Downstream { .. })))
            .count()
    }

    fn token(&self) -> String {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let grant = podium_auth::MillicastClaims {
            token_type: podium_auth::TokenType::Subscribe,
            stream_account_id: "podium-cluster".into(),
            stream_name: relay_subject(&self.node),
            record: false,
            multisource: false,
            source_id: None,
            token_id: None,
        };
        keys.mint(grant, crate::state::unix_now(), TOKEN_TTL, String::new())
    }

    fn verify(&self, hello: &Hello) -> bool {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        keys.verify(
            &hello.token,
            crate::state::unix_now(),
            podium_auth::TokenType::Subscribe,
        )
        .is_ok_and(|c| {
            c.millicast.stream_name == relay_subject(&hello.node)
                && c.millicast.stream_account_id == "podium-cluster"
        })
    }

    async fn run_upstream(
        self: Arc<Self>,
        node: String,
        addr: SocketAddr,
        slot: usize,
        mut out: mpsc::UnboundedReceiver<Bytes>,
    ) {
        let result = async {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await??;
            keep_alive(&stream);
            let mut framed = Framed::new(stream, codec());
            let hello = Hello {
                node: self.node.clone(),
                token: self.token(),
                relay: self.relay_addr,
            };
            framed
                .send(Bytes::from(serde_json::to_vec(&hello)?))
                .await?;
            let welcome = tokio::time::timeout(CONNECT_TIMEOUT, framed.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("closed before welcome"))??;
            let welcome: Welcome = serde_json::from_slice(&welcome)?;
            tracing::info!(origin = %welcome.node, %addr, "relay link up");
            loop {
                tokio::select! {
                    frame = out.recv() => match frame {
                        Some(frame) => framed.send(frame).await?,
                        None => return anyhow::Ok(()),
                    },
                    frame = framed.next() => match frame {
                        Some(frame) => self.on_origin_message(&frame?, Instant::now()),
                        None => return Ok(()),
                    },
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(origin = %node, %addr, error = %e, "relay link down");
        } else {
            tracing::info!(origin = %node, %addr, "relay link closed");
        }
        {
            let mut routes = self.routes();
            routes.slots[slot] = None;
            routes.upstream.remove(&node);
            routes.upstream_addrs.retain(|_, n| *n != node);
        }
        let _ = self.lost.send(node);
    }

    /// A message from an origin (a TCP frame or a datagram): `[worker u16][relay]`.
    fn on_origin_message(&self, frame: &[u8], now: Instant) {
        use std::sync::atomic::Ordering::Relaxed;
        let Some((worker, bytes)) = frame.split_first_chunk::<2>() else {
            self.counters.malformed.fetch_add(1, Relaxed);
            return;
        };
        let worker = usize::from(u16::from_be_bytes(*worker));
        match Relay::decode(bytes, now) {
            Ok(relay) if worker < self.workers && !relay.is_upstream() => {
                self.counters.received.fetch_add(1, Relaxed);
                self.media.deliver_relay(relay.readdressed(worker, 0));
            }
            _ => {
                self.counters.malformed.fetch_add(1, Relaxed);
            }
        }
    }

    async fn accept(
        self: Arc<Self>,
        listener: TcpListener,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.wait_for(|s| *s) => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(self.clone().run_downstream(stream, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn run_downstream(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        keep_alive(&stream);
        let mut framed = Framed::new(stream, codec());
        let hello = match tokio::time::timeout(CONNECT_TIMEOUT, framed.next()).await {
            Ok(Some(Ok(frame))) => serde_json::from_slice::<Hello>(&frame).ok(),
            _ => None,
        };
        let Some(hello) = hello.filter(|h| self.verify(h)) else {
            tracing::warn!(%peer, "relay link refused: no valid hello");
            return;
        };
        let welcome = Welcome {
            node: self.node.clone(),
        };
        let Ok(welcome) = serde_json::to_vec(&welcome) else {
            return;
        };
        if framed.send(Bytes::from(welcome)).await.is_err() {
            return;
        }
        let udp_to = hello.relay;
        tracing::info!(edge = %hello.node, %peer, %udp_to, "relay link accepted");
        let link = {
            let mut routes = self.routes();
            routes.next_link += 1;
            routes.next_link
        };
        let (control, mut out) = mpsc::unbounded_channel::<Bytes>();
        let result = async {
            loop {
                tokio::select! {
                    frame = out.recv() => match frame {
                        Some(frame) => framed.send(frame).await?,
                        None => return anyhow::Ok(()),
                    },
                    frame = framed.next() => match frame {
                        Some(frame) => self.on_edge_message(link, &control, udp_to, &frame?),
                        None => return Ok(()),
                    },
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(edge = %hello.node, error = %e, "relay link down");
        }
        self.drop_link(link);
    }

    /// A frame from an edge: a follower's message for the stream's home worker here.
    fn on_edge_message(
        &self,
        link: u64,
        control: &mpsc::UnboundedSender<Bytes>,
        udp_to: SocketAddr,
        frame: &[u8],
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(relay) = Relay::decode(frame, Instant::now())
            .ok()
            .filter(Relay::is_upstream)
        else {
            self.counters.malformed.fetch_add(1, Relaxed);
            return;
        };
        self.counters.received.fetch_add(1, Relaxed);
        let home = shard_of(relay.stream(), self.workers);
        let Some(worker) = relay.from_worker().map(u16::try_from) else {
            // A keyframe request: no reply is addressed to it.
            self.media.deliver_relay(relay.readdressed(home, 0));
            return;
        };
        // An edge's workers are few: an index past them is a broken (or hostile) peer, and
        // each distinct one would take a route here.
        let Some(worker) = worker.ok().filter(|w| *w < MAX_EDGE_WORKERS) else {
            self.counters.malformed.fetch_add(1, Relaxed);
            return;
        };
        let index = {
            let mut routes = self.routes();
            let found = routes.slots.iter().position(|r| {
                matches!(r, Some(Route::Downstream { link: l, worker: w, .. }) if *l == link && *w == worker)
            });
            let slot = match found {
                Some(slot) => slot,
                None => {
                    let slot = routes.free_slot();
                    routes.slots[slot] = Some(Route::Downstream {
                        link,
                        worker,
                        control: control.clone(),
                        udp_to,
                        streams: HashSet::new(),
                    });
                    slot
                }
            };
            if let Some(Some(Route::Downstream { streams, .. })) = routes.slots.get_mut(slot) {
                match relay.follows() {
                    Some(true) => {
                        streams.insert(relay.stream().to_owned());
                    }
                    Some(false) => {
                        streams.remove(relay.stream());
                    }
                    None => {}
                }
            }
            self.workers + slot
        };
        self.media.deliver_relay(relay.readdressed(home, index));
    }

    /// An edge's link closed: its workers stop following every stream here.
    fn drop_link(&self, link: u64) {
        let mut unfollow = Vec::new();
        {
            let mut routes = self.routes();
            for (slot, route) in routes.slots.iter_mut().enumerate() {
                if let Some(Route::Downstream {
                    link: l, streams, ..
                }) = route
                {
                    if *l == link {
                        unfollow.extend(streams.drain().map(|s| (self.workers + slot, s)));
                        *route = None;
                    }
                }
            }
        }
        for (index, stream) in unfollow {
            let home = shard_of(&stream, self.workers);
            self.media
                .deliver_relay(Relay::unfollow(home, &stream, index));
        }
    }

    /// Sends the workers' messages for other nodes down their links.
    async fn route_out(
        self: Arc<Self>,
        mut control: mpsc::UnboundedReceiver<Relay>,
        mut media: mpsc::Receiver<Relay>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut buf = BytesMut::with_capacity(DATAGRAM);
        loop {
            let relay = tokio::select! {
                Some(r) = control.recv() => r,
                Some(r) = media.recv() => r,
                _ = stop.wait_for(|s| *s) => return,
                else => return,
            };
            self.send(relay, &mut buf);
        }
    }

    fn send(&self, relay: Relay, buf: &mut BytesMut) {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(slot) = relay.to().checked_sub(self.workers) else {
            return;
        };
        let routes = self.routes();
        let Some(Some(route)) = routes.slots.get(slot) else {
            return;
        };
        buf.clear();
        match route {
            Route::Upstream { control, .. } => {
                let mut bytes = Vec::new();
                relay.encode(Instant::now(), &mut bytes);
                let _ = control.send(Bytes::from(bytes));
            }
            Route::Downstream {
                worker,
                control,
                udp_to,
                ..
            } => {
                buf.put_u16(*worker);
                let mut bytes = buf.split().to_vec();
                relay.encode(Instant::now(), &mut bytes);
                if relay.is_media() {
                    if self.udp.try_send_to(&bytes, *udp_to).is_err() {
                        self.counters.dropped.fetch_add(1, Relaxed);
                    }
                } else {
                    let _ = control.send(Bytes::from(bytes));
                }
            }
        }
        self.counters.sent.fetch_add(1, Relaxed);
    }

    /// Media datagrams from origins (from the addresses this node connected to only).
    async fn receive_datagrams(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut buf = vec![0u8; DATAGRAM];
        loop {
            let (len, from) = tokio::select! {
                r = self.udp.recv_from(&mut buf) => match r {
                    Ok(r) => r,
                    Err(_) => continue,
                },
                _ = stop.wait_for(|s| *s) => return,
            };
            let known = self.routes().upstream_addrs.contains_key(&from);
            if !known {
                self.counters
                    .malformed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            self.on_origin_message(&buf[..len], Instant::now());
        }
    }
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}
