//! The SFU state machine: peers, streams and their lifecycle.

mod config;
mod egress;
mod forward;
mod ids;
mod layers;
mod lite;
mod multiplex;
mod projection;
mod publishing;
pub(crate) mod recording;
mod redundancy;
pub(crate) mod relay;
mod relay_counts;
pub(crate) mod relay_wire;
pub(crate) mod remote;
mod timers;
mod viewer_counts;

pub use config::{Counters, SfuConfig};
pub(crate) use ids::IdMap;
pub(crate) use layers::{Bwe, LayersTold};
pub(crate) use timers::TimerSlot;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::media::KeyframeRequestKind;
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input};

use crate::audio::mux::Mux;
use crate::demux::{self, Demux};
use crate::peer::{self, CodecChoice, LocalPeer, Peer, Publication, Role, Side};
use crate::registry::{Registry, SourceId, StreamId};
use crate::{Accepted, CloseReason, MediaError, MediaEvent, Output, PeerId, ViewParams};
use timers::Timers;
use viewer_counts::ViewerCounts;

/// The selective forwarding unit. See the crate docs for the run loop.
pub struct Sfu {
    config: SfuConfig,
    next_peer: u64,
    next_generation: u64,
    /// Boxed: an `Rtc` is about 10 KiB, so the map stays small and moves stay cheap.
    peers: IdMap<PeerId, Box<Peer>>,
    /// Local publications (no WebRTC peer); their ids share `next_peer` with `peers`.
    locals: IdMap<PeerId, Box<LocalPeer>>,
    registry: Registry,
    demux: Demux,
    transmits: VecDeque<str0m::net::Transmit>,
    events: VecDeque<MediaEvent>,
    dirty: Vec<PeerId>,
    counters: Counters,
    /// Audio multiplexing state (speaker activity and viewers' slots).
    mux: Mux,
    /// Recent audio per stream and source, replayed into a slot when its source takes it.
    recent_audio: IdMap<(StreamId, SourceId), forward::RecentAudio>,
    /// Latest time passed in, for the idle deadline.
    last_now: Instant,
    /// Peers' deadlines.
    timers: Timers,
    local: peer::LocalSide,
    viewer_counts: ViewerCounts,
    counted: Vec<StreamId>,
    /// Redundant ingest: prioritized sources and the stall check.
    redundancy: redundancy::Redundancy,
    /// Recorded publications' packets and ends, until the shell takes them.
    recorded: Vec<recording::Recorded>,
    /// Scratch: peers due in `handle_timeout`.
    due: Vec<PeerId>,
    /// Scratch: a peer's `Rtc` events while it is drained.
    rtc_events: Vec<Event>,
    /// Datagram buffers of the egress, handed back by the shell ([`Sfu::recycle`]).
    pool: crate::egress::BufferPool,
    /// When the SFU started: the egress's clocks count from here.
    epoch: Instant,
    /// Scratch: a viewer's RTCP being opened, the feedback in it, the packets it asks for.
    rtcp_scratch: Vec<u8>,
    feedback: Vec<crate::egress::wire::Feedback>,
    resends: Vec<(u64, u32, u64)>,
    /// Streams homed here that other workers follow, and streams followed here.
    homed: relay::Homed,
    mirrored: relay::Mirrored,
    /// Messages for other workers ([`Sfu::take_relays`]).
    relays: Vec<relay::Relay>,
    /// Scratch: tracks that switched feed during a packet's fan-out, with the source left.
    switched: Vec<(PeerId, crate::viewing::Target, SourceId)>,
    /// Keyframe requests held back by the request interval: (when allowed, publication).
    deferred_keyframes: Vec<(Instant, PeerId)>,
    /// Tracks waiting for a keyframe to switch feed: (when to ask again, viewer, track).
    awaiting_keyframes: Vec<(Instant, PeerId, crate::viewing::Target)>,
    /// When simulcast targets are chosen next (`layers.rs`).
    next_layer_tick: Instant,
}

impl Sfu {
    /// An SFU with no peers, started at `now`.
    pub fn new(config: SfuConfig, now: Instant) -> Self {
        let local = peer::LocalSide::new(config.candidate_addr);
        Self {
            mux: Mux::new(config.speaker, config.slots),
            config,
            last_now: now,
            next_peer: 1,
            next_generation: 1,
            peers: IdMap::default(),
            locals: IdMap::default(),
            registry: Registry::default(),
            demux: Demux::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            dirty: Vec::new(),
            counters: Counters::default(),
            recent_audio: IdMap::default(),
            timers: Timers::default(),
            local,
            viewer_counts: ViewerCounts::default(),
            counted: Vec::new(),
            redundancy: redundancy::Redundancy::default(),
            recorded: Vec::new(),
            due: Vec::new(),
            rtc_events: Vec::new(),
            pool: crate::egress::BufferPool::default(),
            epoch: now,
            rtcp_scratch: Vec::new(),
            feedback: Vec::new(),
            resends: Vec::new(),
            homed: relay::Homed::default(),
            mirrored: relay::Mirrored::default(),
            relays: Vec::new(),
            switched: Vec::new(),
            deferred_keyframes: Vec::new(),
            awaiting_keyframes: Vec::new(),
            next_layer_tick: now,
        }
    }

    /// Hands back a sent datagram's buffer (`Transmit::contents`), so later copies reuse it.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.pool.put(buf);
    }

    /// Running totals.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// SSRCs a publication has learned (bounded; for tests and diagnostics).
    pub fn publication_ssrcs(&self, peer: PeerId) -> Option<usize> {
        if self.locals.contains_key(&peer) {
            return Some(0);
        }
        match &self.peers.get(&peer)?.role {
            Role::Publisher(p) => Some(p.ssrcs.len()),
            Role::Viewer(_) => None,
        }
    }

    /// Remote addresses the demultiplexer knows (what its table costs).
    pub fn known_addresses(&self) -> usize {
        self.demux.addr_count()
    }

    /// Number of live peers (local publications included).
    pub fn peer_count(&self) -> usize {
        self.peers.len() + self.locals.len()
    }

    /// Streams with at least one live peer (publication or view).
    pub fn stream_count(&self) -> usize {
        self.registry.stream_count()
    }

    /// Sources (stream and source id) with at least one live publication, not counting
    /// mirrors of another worker's sources (each source is counted on its home).
    pub fn source_count(&self) -> usize {
        let mirrors = self.locals.values().filter(|l| l.mirror.is_some()).count();
        self.registry.live_source_count().saturating_sub(mirrors)
    }

    /// Live publications (a source being replaced has two for a moment, a redundant one
    /// several), local ones included.
    pub fn publication_count(&self) -> usize {
        self.peers
            .values()
            .filter(|p| matches!(p.role, Role::Publisher(_)))
            .count()
            + self.locals.values().filter(|l| l.mirror.is_none()).count()
    }

    /// Whether `peer` is a live local publication.
    pub fn is_local_publication(&self, peer: PeerId) -> bool {
        self.locals.contains_key(&peer)
    }

    /// Live views.
    pub fn viewer_count(&self) -> usize {
        self.peers
            .values()
            .filter(|p| matches!(p.role, Role::Viewer(_)))
            .count()
    }

    /// Accepts a view offer. The viewer hears `SourceActive` for every live source (main
    /// source first) right after; a stream with no source yet is simply waited for.
    pub fn view(&mut self, now: Instant, v: ViewParams) -> Result<Accepted, MediaError> {
        self.last_now = self.last_now.max(now);
        // Only connected viewers count: peers still connecting (or never going to) cannot
        // hold the places of real viewers. They are checked again when they connect.
        if let Some(max) = self.config.max_viewers_per_stream {
            // On every worker: a stream's viewers may be spread over several.
            if self.connected_total(&v.stream) >= max {
                return Err(MediaError::LimitReached(format!(
                    "Too many viewers of this stream (at most {max})"
                )));
            }
        }
        let (mut rtc, answer, keys) =
            peer::accept_offer(now, &self.local, &v.offer, CodecChoice::All, Side::Viewer)?;
        let mut viewing =
            crate::viewing::viewing_tracks(&rtc, &peer::offer_mids(&v.offer), v.max_slots);
        if viewing.audio.is_none() && viewing.video.is_none() {
            return Err(MediaError::NoUsableMedia(
                "a view offer needs a recvonly audio or video m-line with a supported codec",
            ));
        }
        viewing.bwe = Bwe::capped(crate::simulcast::receive_cap(&v.offer));
        crate::viewing::attach_senders(&mut rtc, &mut viewing);
        // Main video and audio are one media stream, each slot one of its own; the ids are
        // random, never shared with another view (see `peer::name_msids`).
        let main_mids: Vec<_> = [&viewing.video, &viewing.audio]
            .into_iter()
            .flatten()
            .map(|t| t.mid)
            .collect();
        let slot_mids: Vec<_> = viewing.slots.iter().map(|t| t.mid).collect();
        let answer = peer::name_msids(&answer, &peer::view_tag(), &main_mids, &slot_mids);
        let slot_count = viewing.slots.len();
        let id = self.next_peer_id();
        let (stream, pinned) = self.registry.add_viewer(&v.stream, &v.pinned, id);
        viewing.pinned_id = pinned;
        self.insert_peer(
            now,
            id,
            (rtc, keys),
            stream,
            Role::Viewer(Box::new(viewing)),
        );
        if slot_count > 0 {
            self.mux
                .add_viewer(now, stream, id, pinned, v.excluded, slot_count);
        }
        self.follow_if_remote(now, stream, &v.stream, slot_count > 0);
        for (source, publisher) in self.registry.live_sources(&v.stream) {
            let tracks = self.track_descs(publisher);
            self.events.push_back(MediaEvent::SourceActive {
                to: id,
                source,
                tracks,
            });
        }
        // The new viewer hears the count at once; the others in the next batch.
        let count = self.viewer_total(stream);
        self.events
            .push_back(MediaEvent::ViewerCount { to: id, count });
        self.viewer_counts.mark(now, stream);
        Ok(Accepted { peer: id, answer })
    }

    /// Ends a peer at the signaling layer's request (socket closed, kick).
    pub fn close_peer(&mut self, now: Instant, id: PeerId) {
        self.last_now = self.last_now.max(now);
        self.close(now, id, CloseReason::Requested);
    }

    /// Feeds one datagram received on the shared socket.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        self.last_now = self.last_now.max(now);
        let Some(route) = self.demux.lookup(source, data) else {
            self.counters.datagrams_unroutable += 1;
            return;
        };
        let id = route.peer();
        let viewer_rtcp = self
            .peers
            .get(&id)
            .is_some_and(|p| p.egress.is_some() && crate::egress::wire::is_rtcp(data));
        if viewer_rtcp {
            // A viewer's feedback is for Podium's egress, not for its `Rtc`.
            if route == demux::Route::Known(id) {
                self.on_viewer_rtcp(now, id, data);
            } else {
                self.counters.datagrams_rejected += 1;
            }
            self.flush(now);
            return;
        }
        let Ok(contents) = data.try_into() else {
            self.counters.datagrams_rejected += 1;
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
                contents,
            },
        );
        let Some(peer) = self.peers.get_mut(&id) else {
            self.counters.datagrams_unroutable += 1;
            return;
        };
        let Some(rtc) = peer.rtc.as_deref_mut() else {
            // A viewer past its handshake: Podium answers its consent checks.
            self.on_lite_datagram(now, id, route, source, data);
            self.flush(now);
            return;
        };
        if !rtc.accepts(&input) {
            self.counters.datagrams_rejected += 1;
            return;
        }
        if route == demux::Route::Known(id) {
            // Only traffic from a verified address keeps the peer alive.
            peer.last_received = now;
        }
        if rtc.handle_input(input).is_err() {
            self.counters.datagrams_rejected += 1;
        }
        let queued = self.transmits.len();
        self.drain(now, id);
        if demux::is_stun(data) {
            // The ICE agent answers a request only once its MESSAGE-INTEGRITY checked out
            // with the peer's password: that answer is the proof the address is the peer's.
            if self
                .transmits
                .range(queued..)
                .any(|t| t.destination == source)
            {
                self.demux.learn(source, id);
                let nominates = demux::stun_nominates(data);
                if let Some(p) = self.peers.get_mut(&id) {
                    p.last_received = now;
                    if nominates {
                        p.set_send_to(source);
                    }
                }
            } else if matches!(route, demux::Route::Unverified(_)) {
                self.counters.datagrams_rejected += 1;
            }
        }
        self.flush(now);
    }

    /// Drives time: every peer whose deadline has passed runs its timers. Only due peers
    /// are visited ([`timers`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        let mut due = std::mem::take(&mut self.due);
        self.timers.take_due(now, &mut self.peers, &mut due);
        for &id in &due {
            self.on_due(now, id);
        }
        due.clear();
        self.due = due;
        let peers = &self.peers;
        self.timers.compact(peers.len(), |id, at| {
            peers.get(&id).is_some_and(|p| p.timer.is_scheduled_at(at))
        });
        self.mux_tick(now);
        self.redundancy_tick(now);
        self.send_deferred_keyframes(now);
        self.ask_again_for_keyframes(now);
        self.layer_tick(now);
        let mut counted = std::mem::take(&mut self.counted);
        self.viewer_counts.take_due(now, &mut counted);
        for stream in counted.drain(..) {
            self.announce_viewer_count(stream);
        }
        self.counted = counted;
        self.flush(now);
    }

    /// Next thing to do. Drain until [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(t) = self.transmits.pop_front() {
            return Output::Transmit(t);
        }
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        let peers = &self.peers;
        let next = self
            .timers
            .next(self.last_now, |id, at| {
                peers.get(&id).is_some_and(|p| p.timer.is_scheduled_at(at))
            })
            .into_iter()
            .chain(self.mux.next_tick())
            .chain(self.viewer_counts.next())
            .chain(self.redundancy.next_check())
            .chain(self.deferred_keyframes.iter().map(|(at, _)| *at))
            .chain(self.awaiting_keyframes.iter().map(|(at, _, _)| *at))
            .chain(self.registry.has_viewers().then_some(self.next_layer_tick))
            .min();
        // With no peers nothing is due; a second after the last input is a cheap idle tick.
        Output::Timeout(next.unwrap_or(self.last_now + Duration::from_secs(1)))
    }

    /// A peer whose deadline has come: closed if it outlived its connect or idle limit,
    /// else its `Rtc` runs its timers if they are due.
    fn on_due(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.connected
            && now.saturating_duration_since(peer.created) > self.config.connect_timeout
        {
            self.close(now, id, CloseReason::ConnectTimeout);
            return;
        }
        if peer.connected
            && now.saturating_duration_since(peer.last_received) > self.config.idle_timeout
        {
            self.close(now, id, CloseReason::Disconnected);
            return;
        }
        let rtc_due = peer.next_timeout <= now;
        self.report_if_due(now, id);
        self.drop_rtc_if_done(now, id);
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        match peer.rtc.as_deref_mut() {
            Some(rtc) if rtc_due => {
                if rtc.handle_input(Input::Timeout(now)).is_err() {
                    peer.closing = Some(CloseReason::Failed);
                }
                self.drain(now, id);
            }
            _ => self.arm(id),
        }
    }

    /// Queues a peer's deadline: its `Rtc`'s timeout or, just after, the moment it outlives
    /// its connect or idle limit (both are exceeded strictly after the limit).
    fn arm(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let (since, limit) = if peer.connected {
            (peer.last_received, self.config.idle_timeout)
        } else {
            (peer.created, self.config.connect_timeout)
        };
        let life = since
            .checked_add(limit + Duration::from_nanos(1))
            .unwrap_or(peer.next_timeout);
        let report = peer.egress.as_ref().map(|e| e.next_report);
        let deadline = peer.next_timeout.min(life).min(report.unwrap_or(life));
        self.timers
            .arm(&mut peer.timer, id, deadline, self.last_now);
    }

    fn bump_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn next_peer_id(&mut self) -> PeerId {
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        id
    }

    fn insert_peer(
        &mut self,
        now: Instant,
        id: PeerId,
        (mut rtc, keys): (str0m::Rtc, crate::egress::keys::KeySlot),
        stream: StreamId,
        role: Role,
    ) {
        let creds = rtc.direct_api().local_ice_credentials();
        let ufrag = creds.ufrag;
        self.demux.add_peer(ufrag.clone(), id);
        self.peers.insert(
            id,
            Box::new(Peer {
                rtc: Some(Box::new(rtc)),
                ice_pass: creds.pass,
                connected_at: None,
                stream,
                ufrag,
                role,
                created: now,
                connected: false,
                last_received: now,
                next_timeout: now,
                dirty: false,
                timer: TimerSlot::default(),
                closing: None,
                keys,
                send_to: None,
                egress: None,
            }),
        );
        self.drain(now, id);
    }

    fn track_descs(&self, publisher: PeerId) -> Vec<crate::TrackDesc> {
        match forward::publication(&self.peers, &self.locals, publisher) {
            Some(p) => p.tracks.iter().map(|t| t.desc.clone()).collect(),
            None => vec![],
        }
    }

    fn announce_viewer_count(&mut self, stream: StreamId) {
        self.relay_counts(stream);
        let count = self.viewer_total(stream);
        let targets = self
            .registry
            .viewers(stream)
            .iter()
            .copied()
            .chain(self.registry.publications(stream));
        for to in targets {
            self.events.push_back(MediaEvent::ViewerCount { to, count });
        }
    }

    /// Polls one peer's `Rtc` until it has nothing more, then acts on its events.
    fn drain(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let mut events = std::mem::take(&mut self.rtc_events);
        peer.dirty = false;
        let Peer {
            rtc,
            send_to,
            egress,
            next_timeout,
            closing,
            ..
        } = &mut **peer;
        while let Some(rtc) = rtc.as_deref_mut() {
            match rtc.poll_output() {
                Ok(str0m::Output::Transmit(t)) => {
                    if !demux::is_stun(&t.contents) {
                        // DTLS and SRTP go to the nominated pair: str0m's view of the path.
                        *send_to = Some(t.destination);
                        if let Some(e) = egress.as_deref_mut() {
                            e.destination = t.destination;
                        }
                    }
                    if egress.is_some() && crate::egress::wire::is_rtp_or_rtcp(&t.contents) {
                        // A viewer's `Rtc` has no media of its own to report on.
                        continue;
                    }
                    self.transmits.push_back(t)
                }
                Ok(str0m::Output::Timeout(t)) => {
                    *next_timeout = t;
                    break;
                }
                Ok(str0m::Output::Event(e)) => events.push(e),
                Err(e) => {
                    tracing::debug!(peer = %id, error = %e, "rtc failed");
                    *closing = Some(CloseReason::Failed);
                    break;
                }
            }
        }
        if peer.rtc.as_ref().is_some_and(|r| !r.is_alive()) && peer.closing.is_none() {
            peer.closing = Some(CloseReason::Disconnected);
        }
        for event in events.drain(..) {
            self.handle_rtc_event(now, id, event);
        }
        self.rtc_events = events;
        match self.peers.get(&id).map(|p| p.closing) {
            Some(Some(reason)) => self.close(now, id, reason),
            Some(None) => self.arm(id),
            None => {}
        }
    }

    /// Drains every peer that was written to since the last flush. Its clock is run first:
    /// str0m sends written packets on its next timeout and would otherwise answer this drain
    /// with an immediate deadline only, costing a second drain per forwarded copy.
    fn flush(&mut self, now: Instant) {
        while let Some(id) = self.dirty.pop() {
            if let Some(rtc) = self.peers.get_mut(&id).and_then(|p| p.rtc.as_deref_mut()) {
                if rtc.handle_input(Input::Timeout(now)).is_err() {
                    if let Some(peer) = self.peers.get_mut(&id) {
                        peer.closing = Some(CloseReason::Failed);
                    }
                }
            }
            self.drain(now, id);
        }
    }

    fn mark_dirty(&mut self, id: PeerId) {
        if let Some(peer) = self.peers.get_mut(&id) {
            if !peer.dirty {
                peer.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    fn handle_rtc_event(&mut self, now: Instant, id: PeerId, event: Event) {
        match event {
            Event::Connected => {
                let Some(peer) = self.peers.get(&id) else {
                    return;
                };
                let (stream, viewer) = (peer.stream, matches!(peer.role, Role::Viewer(_)));
                // Connected viewers on every worker: a stream's viewers may be spread.
                let full = viewer
                    && self.config.max_viewers_per_stream.is_some_and(|max| {
                        self.registry
                            .stream_name(stream)
                            .is_some_and(|name| self.connected_total(name) >= max)
                    });
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                if full {
                    // Others connected first; this one was admitted while there was room.
                    peer.closing = Some(CloseReason::StreamFull);
                    return;
                }
                peer.connected = true;
                peer.connected_at = Some(now);
                if viewer {
                    self.registry.viewer_connected(stream);
                    if self.mirrored_name(stream).is_some() || self.followed_name(stream).is_some()
                    {
                        // Other workers count connected viewers for the cap: tell them.
                        self.viewer_counts.mark(now, stream);
                    }
                }
                self.start_egress(now, id);
                self.events.push_back(MediaEvent::Connected { to: id });
                self.request_view_keyframes(now, id);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.closing = Some(CloseReason::Disconnected);
                }
            }
            Event::RtpPacket(pkt) => self.on_rtp(now, id, pkt),
            Event::KeyframeRequest(req) => self.on_keyframe_request(now, id, req),
            _ => {}
        }
    }

    fn close(&mut self, now: Instant, id: PeerId, reason: CloseReason) {
        if let Some(local) = self.locals.remove(&id) {
            self.end_publication(now, local.stream, &local.publication, id);
            self.events
                .push_back(MediaEvent::PeerClosed { peer: id, reason });
            return;
        }
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        if let Some(rtc) = peer.rtc.as_deref_mut() {
            rtc.disconnect();
        }
        self.demux.remove_peer(&peer.ufrag, id);
        let stream = peer.stream;
        match peer.role {
            Role::Publisher(p) => self.end_publication(now, stream, &p, id),
            Role::Viewer(v) => {
                let mirrored = self.mirrored_name(stream);
                self.mux.remove_viewer(stream, id);
                self.registry
                    .remove_viewer(stream, v.pinned_id, id, peer.connected);
                self.forget_recent_audio(stream, None);
                self.viewer_counts.mark(now, stream);
                if let Some(name) = mirrored {
                    self.unfollow_if_unused(now, &name);
                }
            }
        }
        self.events
            .push_back(MediaEvent::PeerClosed { peer: id, reason });
    }

    /// A publication (WebRTC or local) is gone: the next one of its source takes over, or
    /// the source ends for its viewers.
    fn end_publication(&mut self, now: Instant, stream: StreamId, p: &Publication, id: PeerId) {
        if p.recording {
            self.recorded
                .push(recording::Recorded::Ended { publication: id });
        }
        let prioritized = self.redundancy_released((stream, p.source_id), p.priority);
        // Named before the registry may forget the stream: its followers hear of the end.
        let followed_name = self.followed_name(stream);
        let removed = self.registry.remove_publication(stream, p.source_id, id);
        if let Some(mut next) = removed.new_current {
            if prioritized {
                next = self.successor(stream, p.source_id, next);
            }
            self.request_keyframe(now, next, KeyframeRequestKind::Fir);
        }
        if removed.source_ended {
            if let Some(name) = &followed_name {
                self.relay_source_ended(name, p.source_id);
            }
            let emptied = self.mux.source_ended(stream, p.source_id);
            self.announce_slot_changes(emptied);
            self.forget_recent_audio(stream, Some(p.source_id));
            for &to in self.registry.viewers(stream) {
                self.events.push_back(MediaEvent::SourceInactive {
                    to,
                    source: p.source.clone(),
                });
            }
        }
        if removed.stream_idle {
            for &to in self.registry.viewers(stream) {
                self.events.push_back(MediaEvent::StreamStopped { to });
            }
        }
    }
}
