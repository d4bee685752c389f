//! Forwarding: a publisher's RTP packet to the viewers' tracks that carry its source, and
//! keyframe requests back the other way.

use std::time::Instant;

use str0m::media::{KeyframeRequest, KeyframeRequestKind};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo};

use super::Sfu;
use crate::codec::PtMap;
use crate::peer::{Role, Target};
use crate::rewrite::{InPacket, InputKey};
use crate::{Kind, PeerId, SourceKey};

/// Where a packet came from, as the forwarding path needs it.
#[derive(Debug, Clone, Copy)]
struct Input {
    from: PeerId,
    /// Index of the publication's track.
    track_idx: usize,
    kind: Kind,
    /// Publication generation, keys the viewer's PT map and rewriter input.
    generation: u64,
}

impl Sfu {
    pub(super) fn on_rtp(&mut self, now: Instant, from: PeerId, pkt: RtpPacket) {
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        let Role::Publisher(publication) = &mut peer.role else {
            return;
        };
        self.counters.rtp_received += 1;
        let ssrc = *pkt.header.ssrc;
        let track_idx = match publication.ssrcs.iter().find(|(s, _)| *s == ssrc) {
            Some((_, idx)) => *idx,
            None => {
                // First packet of this SSRC: learn its m-line once.
                let mut api = peer.rtc.direct_api();
                let Some(mid) = api.stream_rx(&pkt.header.ssrc).map(|s| s.mid()) else {
                    return;
                };
                let Some(idx) = publication.tracks.iter().position(|t| t.mid == mid) else {
                    return;
                };
                publication.ssrcs.push((ssrc, idx));
                idx
            }
        };
        let kind = publication.tracks[track_idx].kind;
        let generation = publication.generation;
        let source = publication.source.clone();
        let stream = peer.stream.clone();
        if !publication.flowing {
            publication.flowing = true;
            self.on_publication_flowing(now, &stream, &source, from);
        }
        if self.registry.current(&stream, &source) != Some(from) {
            self.counters.rtp_dropped_not_current += 1;
            return;
        }
        let input = Input {
            from,
            track_idx,
            kind,
            generation,
        };
        let viewers = self.registry.pinned_viewers(&stream, &source).to_vec();
        for viewer in viewers {
            self.write_to_viewer(viewer, Target::Main(kind), input, &pkt);
        }
        if kind == Kind::Audio {
            let level = pkt.header.ext_vals.audio_level;
            let voice = pkt.header.ext_vals.voice_activity;
            self.mux
                .observe(&stream, &source, pkt.timestamp, level, voice);
            let carriers = self.mux.carriers(&stream, &source).to_vec();
            for (viewer, slot) in carriers {
                self.write_to_viewer(viewer, Target::Slot(slot), input, &pkt);
            }
        }
    }

    /// A publication's first packet: if an older publication of the same source is current,
    /// the new one takes over now (its media is ready, so the switch has no gap).
    fn on_publication_flowing(
        &mut self,
        now: Instant,
        stream: &str,
        source: &SourceKey,
        id: PeerId,
    ) {
        let previous = self.registry.current(stream, source);
        if self.registry.make_current(stream, source, id) && previous != Some(id) {
            self.request_keyframe(now, id, KeyframeRequestKind::Fir);
        }
    }

    fn write_to_viewer(&mut self, viewer: PeerId, target: Target, input: Input, pkt: &RtpPacket) {
        let Input {
            kind, generation, ..
        } = input;
        // The PT map needs both peers; build it (rarely) before borrowing the viewer mutably.
        let needs_map = match self.peers.get(&viewer).map(|p| &p.role) {
            Some(Role::Viewer(v)) => v
                .track(target)
                .is_some_and(|t| t.pt_map.as_ref().map(|(g, _)| *g) != Some(generation)),
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
        let Some(pt) = track
            .pt_map
            .as_ref()
            .and_then(|(_, m)| m.get(pkt.header.payload_type))
        else {
            self.counters.rtp_dropped_no_codec += 1;
            return;
        };
        let Some(out) = track.rewriter.rewrite(InPacket {
            input: InputKey {
                generation,
                ssrc: *pkt.header.ssrc,
            },
            seq: *pkt.seq_no,
            ts: pkt.time.numer(),
            now: pkt.timestamp,
        }) else {
            return;
        };
        let mid = track.mid;
        let ext = ExtensionValues {
            audio_level: pkt.header.ext_vals.audio_level,
            voice_activity: pkt.header.ext_vals.voice_activity,
            video_orientation: pkt.header.ext_vals.video_orientation,
            ..Default::default()
        };
        let marker = pkt.header.marker || (kind == Kind::Audio && out.switched);
        let mut api = peer.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        tx.write_rtp(
            RtpWrite::new(
                pt,
                SeqNo::from(out.seq),
                out.ts,
                pkt.timestamp,
                pkt.payload.clone(),
            )
            .marker(marker)
            .ext_vals(ext)
            .nackable(kind == Kind::Video),
        );
        self.counters.rtp_forwarded += 1;
        self.mark_dirty(viewer);
    }

    fn build_pt_map(&mut self, viewer: PeerId, target: Target, input: Input) {
        let Some(Role::Publisher(p)) = self.peers.get(&input.from).map(|p| &p.role) else {
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
        let map = PtMap::build(&params, &peer.rtc, track.mid);
        track.pt_map = Some((input.generation, map));
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
        if v.video.as_ref().map(|t| t.mid) != Some(req.mid) {
            return;
        }
        if let Some(publisher) = self.registry.current(&peer.stream, &v.pinned) {
            self.request_keyframe(now, publisher, req.kind);
        }
    }

    pub(super) fn request_keyframe(
        &mut self,
        now: Instant,
        publisher: PeerId,
        kind: KeyframeRequestKind,
    ) {
        let interval = self.config.keyframe_request_interval;
        let Some(peer) = self.peers.get_mut(&publisher) else {
            return;
        };
        let Role::Publisher(p) = &mut peer.role else {
            return;
        };
        if p.last_keyframe_request
            .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            return;
        }
        let mut requested = false;
        let mut api = peer.rtc.direct_api();
        for track in p.tracks.iter().filter(|t| t.kind == Kind::Video) {
            if let Some(rx) = api.stream_rx_by_mid(track.mid, None) {
                rx.request_keyframe(kind);
                requested = true;
            }
        }
        if requested {
            p.last_keyframe_request = Some(now);
            self.mark_dirty(publisher);
        }
    }
}
