//! Forwarding: a publisher's RTP packet to the viewers' tracks that carry its source, and
//! keyframe requests back the other way.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::{KeyframeRequest, KeyframeRequestKind, Pt};
use str0m::net::Transmit;
use str0m::rtp::{RtpPacket, VideoOrientation};

use super::projection::SWITCH_WITHOUT_KEYFRAME_AFTER;
use super::recording::{Recorded, RecordedPacket};
use super::{Counters, IdMap, Sfu};
use crate::audio::speaker::is_speech;
use crate::codec::PtMap;
use crate::egress::history::Kept;
use crate::egress::{BufferPool, Clock, OutRtp};
use crate::peer::{InTrack, LocalPeer, Peer, Publication, Role};
use crate::registry::{SourceId, StreamId};
use crate::rewrite::{InPacket, InputKey};
use crate::viewing::{Carrying, Feed, OutTrack, Target};
use crate::{Kind, LocalPacket, MediaEvent, PeerId};

/// How much recent audio of each source is kept, to be replayed into a slot the moment the
/// source takes it: the listener then hears the start of the speech that won the slot.
const RECENT_AUDIO: Duration = Duration::from_millis(160);

/// What the forwarding path needs of an incoming packet; cheap to clone (shared payload).
#[derive(Debug, Clone)]
pub(super) struct Packet {
    pub(super) input: Input,
    pub(super) pt: Pt,
    pub(super) ssrc: u32,
    /// Extended sequence number.
    pub(super) seq: u64,
    /// Extended RTP timestamp.
    pub(super) ts: u64,
    pub(super) marker: bool,
    /// Starts a keyframe (video): where a track may switch to this feed.
    pub(super) keyframe: bool,
    /// Its simulcast encoding (0 without simulcast).
    pub(super) layer: u8,
    /// Its track has several encodings: a viewer's track takes one of them.
    pub(super) simulcast: bool,
    pub(super) audio_level: Option<i8>,
    pub(super) voice_activity: Option<bool>,
    pub(super) video_orientation: Option<VideoOrientation>,
    pub(super) arrival: Instant,
    /// The wall-clock instant of its media time (RTCP sender reports): `arrival` for a
    /// WebRTC packet, what the shell says for a local one.
    pub(super) captured: Instant,
    pub(super) payload: Arc<[u8]>,
}

/// Recent audio packets of one source (for streams with slots).
pub(super) type RecentAudio = VecDeque<Packet>;

/// Where a packet came from, as the forwarding path needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Input {
    pub(super) from: PeerId,
    /// Index of the publication's track.
    pub(super) track_idx: usize,
    pub(super) kind: Kind,
    /// Its track's place among the publication's tracks of its kind (what a projection names).
    pub(super) ordinal: u8,
    /// Publication generation, keys the viewer's PT map and rewriter input.
    pub(super) generation: u64,
}

impl Packet {
    /// What the shared history keeps of it.
    pub(super) fn kept(&self) -> Kept {
        Kept {
            seq: self.seq,
            ssrc: self.ssrc,
            pt: self.pt,
            ts: self.ts,
            marker: self.marker,
            video_orientation: self.video_orientation.map(|v| v as u8),
            payload: self.payload.clone(),
        }
    }
}

/// Largest RTP payload forwarded. Encoders keep packets under the path MTU (about 1200
/// bytes of payload); the egress writes a packet into a buffer of
/// [`crate::egress::DATAGRAM_CAPACITY`] bytes with its header and tag.
pub(crate) const MAX_PAYLOAD: usize = 1500;

/// Most SSRCs remembered per publication: each track's media and RTX, times a few
/// renegotiations; a publisher rotating SSRCs only recycles the list.
pub(crate) const MAX_SSRCS_PER_PUBLICATION: usize = 16;

/// The parts of the SFU that writing to a viewer touches, borrowed apart from the registry
/// and the multiplexer so their viewer lists can be iterated while writing (no copy of the
/// list per packet).
struct Writer<'a> {
    peers: &'a mut IdMap<PeerId, Box<Peer>>,
    locals: &'a IdMap<PeerId, Box<LocalPeer>>,
    counters: &'a mut Counters,
    transmits: &'a mut std::collections::VecDeque<Transmit>,
    pool: &'a mut BufferPool,
    clock: Clock,
    /// The socket's address, the source of every datagram.
    local: std::net::SocketAddr,
    /// Tracks that took a new feed at this packet, with the source they left.
    switched: &'a mut Vec<(PeerId, Target, SourceId)>,
}

/// Why a packet is offered to a viewer's track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// The track's viewer is pinned to the packet's source.
    Pinned,
    /// The multiplexer put the packet's source in this slot.
    Slot,
    /// The packet's source is projected onto the track (now or as its next feed).
    Projected(SourceId),
}

impl Sfu {
    /// One RTP packet of a publisher. Allocation-free once warm: ids instead of names, the
    /// payload shared with every copy, viewer lists iterated in place, each copy written
    /// into a pooled buffer.
    pub(super) fn on_rtp(&mut self, now: Instant, from: PeerId, pkt: RtpPacket) {
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        let Role::Publisher(publication) = &mut peer.role else {
            return;
        };
        self.counters.rtp_received += 1;
        if pkt.payload.len() > MAX_PAYLOAD {
            // No encoder sends this much in one packet, and str0m cannot write it out again.
            self.counters.rtp_dropped_oversized += 1;
            return;
        }
        let ssrc = *pkt.header.ssrc;
        let (track_idx, layer) = match publication.ssrcs.iter().find(|(s, _, _)| *s == ssrc) {
            Some((_, idx, layer)) => (*idx, *layer),
            None => {
                // First packet of this SSRC: learn its m-line once.
                let Some(rtc) = peer.rtc.as_deref_mut() else {
                    return;
                };
                let mut api = rtc.direct_api();
                let Some((mid, rid)) = api.stream_rx(&pkt.header.ssrc).map(|s| (s.mid(), s.rid()))
                else {
                    return;
                };
                let Some(idx) = publication.tracks.iter().position(|t| t.mid == mid) else {
                    return;
                };
                if publication.ssrcs.len() >= MAX_SSRCS_PER_PUBLICATION {
                    // A publisher rotating SSRCs must not grow this list (searched per
                    // packet): the oldest is forgotten and relearned if it comes back.
                    publication.ssrcs.remove(0);
                }
                let layer = crate::simulcast::layer_of(
                    &publication.tracks[idx].layers,
                    ssrc,
                    rid.as_ref().map(|r| r.as_ref()),
                );
                publication.ssrcs.push((ssrc, idx, layer));
                (idx, layer)
            }
        };
        let track = &mut publication.tracks[track_idx];
        let (kind, ordinal) = (track.kind, track.ordinal);
        let keyframe = kind == Kind::Video
            && track
                .codec_of(pkt.header.payload_type)
                .is_some_and(|c| crate::keyframe::starts_keyframe(c, &pkt.payload));
        let simulcast = track.layers.len() > 1;
        track.observe(now, layer, &pkt.payload, keyframe, pkt.header.payload_type);
        let generation = publication.generation;
        let (stream, source) = (peer.stream, publication.source_id);
        if publication.recording {
            // Every packet of the publication, current or not: the recording is of it.
            self.recorded.push(Recorded::Packet(RecordedPacket {
                publication: from,
                track_idx,
                pt: *pkt.header.payload_type,
                seq: *pkt.seq_no,
                ts: pkt.time.numer(),
                marker: pkt.header.marker,
                arrival: pkt.timestamp,
                audio_level: pkt.header.ext_vals.audio_level,
                voice_activity: pkt.header.ext_vals.voice_activity,
                payload: pkt.payload.clone(),
            }));
        }
        let first = !std::mem::replace(&mut publication.flowing, true);
        publication.last_packet_at = now;
        let resumed = std::mem::take(&mut publication.stalled);
        remember(&mut publication.tracks[track_idx], ssrc, *pkt.seq_no, &pkt);
        if !self.is_current(now, (stream, source), from, first, resumed) {
            return;
        }
        let input = Input {
            from,
            track_idx,
            kind,
            ordinal,
            generation,
        };
        let pkt = Packet {
            input,
            pt: pkt.header.payload_type,
            ssrc: *pkt.header.ssrc,
            seq: *pkt.seq_no,
            ts: pkt.time.numer(),
            marker: pkt.header.marker,
            keyframe,
            layer,
            simulcast,
            audio_level: pkt.header.ext_vals.audio_level,
            voice_activity: pkt.header.ext_vals.voice_activity,
            video_orientation: pkt.header.ext_vals.video_orientation,
            arrival: pkt.timestamp,
            captured: pkt.timestamp,
            payload: pkt.payload,
        };
        self.forward(now, stream, source, pkt);
    }

    /// One packet of a local publication's track `track_idx`. Like a WebRTC packet after
    /// SRTP and str0m: the core numbers the packets, unwraps the timestamp and forwards.
    /// Unknown publications and tracks are ignored (the publication may just have closed).
    pub fn push_local(&mut self, now: Instant, from: PeerId, track_idx: usize, pkt: LocalPacket) {
        self.last_now = self.last_now.max(now);
        let Some(local) = self.locals.get_mut(&from) else {
            return;
        };
        let (Some(track), Some(position)) = (
            local.publication.tracks.get(track_idx),
            local.positions.get_mut(track_idx),
        ) else {
            return;
        };
        self.counters.rtp_received += 1;
        if pkt.payload.len() > MAX_PAYLOAD {
            self.counters.rtp_dropped_oversized += 1;
            return;
        }
        let (kind, ordinal) = (track.kind, track.ordinal);
        let Some(pt) = track.params.first().map(|p| p.pt()) else {
            return;
        };
        let keyframe = kind == Kind::Video
            && track
                .codec_of(pt)
                .is_some_and(|c| crate::keyframe::starts_keyframe(c, &pkt.payload));
        let (seq, ts) = position.advance(pkt.rtp_timestamp);
        let publication = &mut local.publication;
        if publication.recording {
            self.recorded.push(Recorded::Packet(RecordedPacket {
                publication: from,
                track_idx,
                pt: *pt,
                seq,
                ts,
                marker: pkt.marker,
                arrival: now,
                audio_level: None,
                voice_activity: None,
                payload: pkt.payload.clone(),
            }));
        }
        let generation = publication.generation;
        let (stream, source) = (local.stream, publication.source_id);
        if let Some(history) = publication.tracks[track_idx].history.as_deref_mut() {
            history.push(Kept {
                seq,
                ssrc: track_idx as u32,
                pt,
                ts,
                marker: pkt.marker,
                video_orientation: None,
                payload: pkt.payload.clone(),
            });
        }
        let first = !std::mem::replace(&mut publication.flowing, true);
        publication.last_packet_at = now;
        let resumed = std::mem::take(&mut publication.stalled);
        if !self.is_current(now, (stream, source), from, first, resumed) {
            self.flush(now);
            return;
        }
        let pkt = Packet {
            input: Input {
                from,
                track_idx,
                kind,
                ordinal,
                generation,
            },
            pt,
            // The rewriter's input key: one per track (the generation tells publications apart).
            ssrc: track_idx as u32,
            seq,
            ts,
            marker: pkt.marker,
            keyframe,
            layer: 0,
            simulcast: false,
            audio_level: pkt.audio_level,
            voice_activity: pkt.voice_activity,
            video_orientation: None,
            arrival: now,
            captured: pkt.captured.unwrap_or(now),
            payload: pkt.payload,
        };
        self.forward(now, stream, source, pkt);
        self.flush(now);
    }

    /// Whether `from`'s packet is forwarded: its first packet (`first`) makes it flowing (and
    /// current, if it replaces another publication of the source), a packet after a stall
    /// (`resumed`) may make it current again (redundant ingest); only the current
    /// publication of a source reaches viewers.
    pub(super) fn is_current(
        &mut self,
        now: Instant,
        (stream, source): (StreamId, SourceId),
        from: PeerId,
        first: bool,
        resumed: bool,
    ) -> bool {
        if first {
            self.on_publication_flowing(now, stream, source, from);
        } else if resumed {
            self.on_publication_resumed(now, stream, source);
        }
        let current = self.registry.current(stream, source) == Some(from);
        if !current {
            self.counters.rtp_dropped_not_current += 1;
        }
        current
    }

    /// The common tail of both kinds of publication: a current publication's packet to the
    /// viewers pinned to its source and, for audio, to the multiplexer and the slots
    /// carrying the source.
    pub(super) fn forward(
        &mut self,
        now: Instant,
        stream: StreamId,
        source: SourceId,
        pkt: Packet,
    ) {
        self.relay_packet(stream, source, &pkt);
        let kind = pkt.input.kind;
        let clock = self.clock(now);
        let mut out = Writer {
            peers: &mut self.peers,
            locals: &self.locals,
            counters: &mut self.counters,
            transmits: &mut self.transmits,
            pool: &mut self.pool,
            clock,
            local: self.config.candidate_addr,
            switched: &mut self.switched,
        };
        for &viewer in self.registry.pinned_viewers(stream, source) {
            out.write(viewer, Target::Main(kind), Via::Pinned, &pkt);
        }
        for &(viewer, tag) in self.registry.carriers(stream, source) {
            out.write(viewer, Target::from_tag(tag), Via::Projected(source), &pkt);
        }
        if kind == Kind::Audio && self.mux.has_stream(stream) {
            if let Some(key) = self.registry.source_key(stream, source) {
                self.mux.observe(
                    stream,
                    source,
                    key,
                    pkt.arrival,
                    pkt.audio_level,
                    pkt.voice_activity,
                );
            }
            for &(viewer, slot) in self.mux.carriers(stream, source) {
                out.write(viewer, Target::Slot(slot), Via::Slot, &pkt);
            }
            self.remember_audio(stream, source, pkt);
        }
        if !self.switched.is_empty() {
            self.settle_switches(stream);
        }
    }

    fn remember_audio(&mut self, stream: StreamId, source: SourceId, pkt: Packet) {
        let recent = self.recent_audio.entry((stream, source)).or_default();
        let horizon = pkt.arrival.checked_sub(RECENT_AUDIO);
        while recent.front().is_some_and(|p| Some(p.arrival) < horizon) {
            recent.pop_front();
        }
        recent.push_back(pkt);
    }

    /// Writes the source's recent audio into a slot that has just switched to it.
    pub(super) fn replay_recent_audio(
        &mut self,
        viewer: PeerId,
        slot: usize,
        stream: StreamId,
        source: SourceId,
        now: Instant,
    ) {
        let Some(recent) = self.recent_audio.get(&(stream, source)) else {
            return;
        };
        let horizon = now.checked_sub(RECENT_AUDIO);
        let cfg = &self.config.speaker;
        let clock = self.clock(now);
        let mut out = Writer {
            peers: &mut self.peers,
            locals: &self.locals,
            counters: &mut self.counters,
            transmits: &mut self.transmits,
            pool: &mut self.pool,
            clock,
            local: self.config.candidate_addr,
            switched: &mut self.switched,
        };
        // From the first speech packet on: replaying the silence before it would only make
        // the burst (and the listener's jitter-buffer catch-up) longer.
        for pkt in recent
            .iter()
            .filter(|p| Some(p.arrival) >= horizon)
            .skip_while(|p| !is_speech(p.audio_level, p.voice_activity, cfg))
        {
            out.write(viewer, Target::Slot(slot), Via::Slot, pkt);
        }
    }

    pub(super) fn on_keyframe_request(
        &mut self,
        now: Instant,
        viewer: PeerId,
        req: KeyframeRequest,
    ) {
        let Some(peer) = self.peers.get(&viewer) else {
            return;
        };
        let Role::Viewer(v) = &peer.role else { return };
        let Some(target) = v.by_mid(&req.mid) else {
            return;
        };
        for publisher in self.sources_of(viewer, target) {
            self.request_keyframe(now, publisher, req.kind);
        }
    }

    /// Asks for a keyframe now or, when one was asked for too recently, as soon as the
    /// interval allows: a track waiting to switch to this publication needs it, where a
    /// viewer's own repeated request may simply be dropped.
    pub(super) fn request_keyframe_soon(&mut self, now: Instant, publisher: PeerId) {
        let interval = self.config.keyframe_request_interval;
        let allowed_at = publication(&self.peers, &self.locals, publisher)
            .and_then(|p| p.last_keyframe_request)
            .map(|t| t + interval);
        match allowed_at {
            Some(at) if at > now => {
                if !self.deferred_keyframes.iter().any(|(_, p)| *p == publisher) {
                    self.deferred_keyframes.push((at, publisher));
                }
            }
            _ => self.request_keyframe(now, publisher, KeyframeRequestKind::Pli),
        }
    }

    /// Sends the deferred keyframe requests that are due.
    pub(super) fn send_deferred_keyframes(&mut self, now: Instant) {
        if self.deferred_keyframes.iter().all(|(at, _)| *at > now) {
            return;
        }
        let mut due = Vec::new();
        self.deferred_keyframes.retain(|&(at, p)| {
            let ready = at <= now;
            if ready {
                due.push(p);
            }
            !ready
        });
        for publisher in due {
            self.request_keyframe(now, publisher, KeyframeRequestKind::Pli);
        }
    }

    pub(super) fn request_keyframe(
        &mut self,
        now: Instant,
        publisher: PeerId,
        kind: KeyframeRequestKind,
    ) {
        let interval = self.config.keyframe_request_interval;
        if let Some(local) = self.locals.get_mut(&publisher) {
            // No RTCP: the shell asks the packetizer (the RTMP source) instead.
            let p = &mut local.publication;
            let throttled = p
                .last_keyframe_request
                .is_some_and(|t| now.saturating_duration_since(t) < interval);
            if !throttled && p.tracks.iter().any(|t| t.kind == Kind::Video) {
                p.last_keyframe_request = Some(now);
                match local.mirror.clone() {
                    // A mirror's publisher is on the stream's home worker.
                    Some(mirror) => self.relay_keyframe_request(&mirror, kind),
                    None => self
                        .events
                        .push_back(MediaEvent::KeyframeRequested { to: publisher }),
                }
            }
            return;
        }
        let Some(peer) = self.peers.get_mut(&publisher) else {
            return;
        };
        // Before its connection is up a request cannot leave, and counting it would hold
        // back the next one by the request interval.
        if !peer.connected {
            return;
        }
        let Role::Publisher(p) = &mut peer.role else {
            return;
        };
        if p.last_keyframe_request
            .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            return;
        }
        let mut requested = false;
        let Some(rtc) = peer.rtc.as_deref_mut() else {
            return;
        };
        let mut api = rtc.direct_api();
        for track in p.tracks.iter().filter(|t| t.kind == Kind::Video) {
            if track.layers.is_empty() {
                if let Some(rx) = api.stream_rx_by_mid(track.mid, None) {
                    rx.request_keyframe(kind);
                    requested = true;
                }
                continue;
            }
            // Simulcast: every encoding seen so far (each is its own stream).
            for &(ssrc, _, _) in p
                .ssrcs
                .iter()
                .filter(|(_, i, _)| p.tracks[*i].mid == track.mid)
            {
                if let Some(rx) = api.stream_rx(&ssrc.into()) {
                    rx.request_keyframe(kind);
                    requested = true;
                }
            }
        }
        if requested {
            p.last_keyframe_request = Some(now);
            self.mark_dirty(publisher);
        }
    }
}

impl Writer<'_> {
    /// Writes one packet to a viewer's track (rewritten, PT translated); the viewer is
    /// drained at the next flush.
    fn write(&mut self, viewer: PeerId, target: Target, via: Via, pkt: &Packet) {
        let input = pkt.input;
        let Input {
            kind, generation, ..
        } = input;
        // The PT map needs both peers; build it (rarely) before borrowing the viewer mutably.
        let map_key = (generation, input.track_idx);
        let needs_map = match self.peers.get(&viewer).map(|p| &p.role) {
            Some(Role::Viewer(v)) => match v.track(target) {
                Some(t) if admits(t, via, pkt, self.clock.now) => {
                    t.pt_map.as_ref().map(|(k, _)| *k) != Some(map_key)
                }
                _ => return,
            },
            _ => return,
        };
        if needs_map {
            self.build_pt_map(viewer, target, input);
        }
        let Some(peer) = self.peers.get_mut(&viewer) else {
            return;
        };
        if !peer.connected {
            return;
        }
        let Role::Viewer(viewing) = &mut peer.role else {
            return;
        };
        let Some(track) = viewing.track_mut(target) else {
            return;
        };
        if let Some(left) = commit(track, via, pkt) {
            self.switched.push((viewer, target, left));
        }
        let Some(pt) = track.pt_map.as_ref().and_then(|(_, m)| m.get(pkt.pt)) else {
            self.counters.rtp_dropped_no_codec += 1;
            return;
        };
        let Some(out) = track.rewriter.rewrite(InPacket {
            input: InputKey {
                generation,
                ssrc: pkt.ssrc,
            },
            seq: pkt.seq,
            ts: pkt.ts,
            now: pkt.arrival,
        }) else {
            return;
        };
        let marker = pkt.marker || (kind == Kind::Audio && out.switched);
        let Peer { egress, role, .. } = &mut **peer;
        let (Some(egress), Role::Viewer(viewing)) = (egress.as_deref(), role) else {
            return;
        };
        let Some(track) = viewing.track_mut(target) else {
            return;
        };
        let Some(tx) = track.tx.as_mut() else {
            return;
        };
        let p = OutRtp {
            pt: *pt,
            seq: out.seq,
            ts: out.ts,
            marker,
            audio_level: pkt.audio_level,
            voice_activity: pkt.voice_activity,
            video_orientation: pkt.video_orientation.map(|v| v as u8),
            captured: pkt.captured,
            payload: &pkt.payload,
        };
        let mut buf = self.pool.take();
        if egress.write_rtp(&mut buf, tx, &p, &self.clock).is_err() {
            self.pool.put(buf);
            return;
        }
        track.source = Some((input.from, input.track_idx));
        self.transmits
            .push_back(super::egress::transmit(self.local, egress.destination, buf));
        self.counters.rtp_forwarded += 1;
    }

    fn build_pt_map(&mut self, viewer: PeerId, target: Target, input: Input) {
        let Some(p) = publication(self.peers, self.locals, input.from) else {
            return;
        };
        let params = p.tracks[input.track_idx].params.clone();
        let Some(peer) = self.peers.get_mut(&viewer) else {
            return;
        };
        let Role::Viewer(v) = &mut peer.role else {
            return;
        };
        let Some(track) = v.track_mut(target) else {
            return;
        };
        let map = PtMap::build(&params, &track.params);
        track.pt_map = Some(((input.generation, input.track_idx), map));
    }
}

/// Whether a viewer's track takes this packet: its pinned source while it carries that,
/// its projected feed, or its next feed at a keyframe (or once the wait is too long); of a
/// simulcast source one encoding, changing at a keyframe of the target encoding.
fn admits(track: &OutTrack, via: Via, pkt: &Packet, now: Instant) -> bool {
    if track.kind != pkt.input.kind {
        return via == Via::Slot;
    }
    let current = match via {
        Via::Slot => return true,
        Via::Pinned => track.carrying == Carrying::Pinned,
        Via::Projected(source) => {
            let feed = Feed {
                source,
                ordinal: pkt.input.ordinal,
            };
            if track.carrying != Carrying::Feed(feed) {
                // Its next feed: from a keyframe of the target encoding on.
                return track.pending.is_some_and(|p| {
                    p.feed == feed
                        && wanted_layer(track, pkt)
                        && (pkt.keyframe
                            || now.saturating_duration_since(p.since)
                                >= SWITCH_WITHOUT_KEYFRAME_AFTER)
                });
            }
            true
        }
    };
    current
        && (!pkt.simulcast
            || Some(pkt.layer) == track.current_layer
            || (track.pending.is_none() && pkt.keyframe && wanted_layer(track, pkt)))
}

/// Whether the packet's encoding is the one the track is to switch to (any, until one is
/// chosen).
fn wanted_layer(track: &OutTrack, pkt: &Packet) -> bool {
    !pkt.simulcast || track.target_layer.is_none_or(|t| t == pkt.layer)
}

/// Records what an admitted packet changes: its feed becomes the track's if it was the next
/// one, its encoding the current one. Returns the projected source the track left (its
/// carrier entry goes after the fan-out).
fn commit(track: &mut OutTrack, via: Via, pkt: &Packet) -> Option<SourceId> {
    let layer = pkt.simulcast.then_some(pkt.layer);
    let Via::Projected(source) = via else {
        track.current_layer = layer;
        return None;
    };
    let feed = Feed {
        source,
        ordinal: pkt.input.ordinal,
    };
    if track.carrying == Carrying::Feed(feed) || track.pending.is_none_or(|p| p.feed != feed) {
        track.current_layer = layer;
        return None;
    }
    let left = match track.carrying {
        Carrying::Feed(f) => Some(f.source),
        _ => None,
    };
    track.carrying = Carrying::Feed(feed);
    track.pending = None;
    track.current_layer = layer;
    left
}

/// Keeps a video packet in its track's shared history, for viewers' retransmissions.
fn remember(track: &mut InTrack, ssrc: u32, seq: u64, pkt: &RtpPacket) {
    if let Some(history) = track.history.as_deref_mut() {
        history.push(Kept {
            seq,
            ssrc,
            pt: pkt.header.payload_type,
            ts: pkt.time.numer(),
            marker: pkt.header.marker,
            video_orientation: pkt.header.ext_vals.video_orientation.map(|v| v as u8),
            payload: pkt.payload.clone(),
        });
    }
}

/// The publication `id`, WebRTC or local.
pub(super) fn publication<'a>(
    peers: &'a IdMap<PeerId, Box<Peer>>,
    locals: &'a IdMap<PeerId, Box<LocalPeer>>,
    id: PeerId,
) -> Option<&'a Publication> {
    match peers.get(&id).map(|p| &p.role) {
        Some(Role::Publisher(p)) => Some(p),
        Some(Role::Viewer(_)) => None,
        None => locals.get(&id).map(|l| &l.publication),
    }
}
