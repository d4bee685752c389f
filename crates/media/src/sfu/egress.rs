//! The SFU's side of Podium's own egress (`crate::egress`): a viewer's egress starts when
//! its DTLS is up, its RTCP (NACK, PLI, FIR) is opened and acted on here instead of in its
//! `Rtc`, retransmissions come from the publication's shared history, and sender reports
//! go out on the viewer's deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::media::KeyframeRequestKind;
use str0m::net::{Protocol, Transmit};

use super::forward::publication;
use super::Sfu;
use crate::egress::history::Kept;
use crate::egress::wire::{self, Feedback};
use crate::egress::{keys, Clock, OutRtp, ViewerEgress};
use crate::peer::Role;
use crate::viewing::Target;
use crate::{CloseReason, PeerId};

/// Sender reports to a viewer with video: receivers sync audio to video by them.
const REPORT_INTERVAL_VIDEO: Duration = Duration::from_secs(1);
/// Audio-only: RFC 3550's 5 s minimum.
const REPORT_INTERVAL_AUDIO: Duration = Duration::from_secs(5);

/// Most NACK entries acted on per RTCP datagram: each can ask for 17 packets.
const MAX_NACKS_PER_DATAGRAM: usize = 32;

impl Sfu {
    /// The egress clock at `now`.
    pub(super) fn clock(&self, now: Instant) -> Clock {
        Clock {
            now,
            epoch: self.epoch,
            unix_at_epoch: self.config.unix_time_at_start,
        }
    }

    /// A viewer's DTLS is up: its media leaves through Podium's egress from now on. Without
    /// keys or a nominated address there is no way to send it anything.
    pub(super) fn start_egress(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Role::Viewer(v) = &peer.role else {
            return;
        };
        let cname = v.cname.clone();
        let started = match (keys::take_keys(&peer.keys), peer.send_to) {
            (Some(k), Some(to)) => ViewerEgress::new(&k, to, cname, now).ok(),
            _ => None,
        };
        match started {
            Some(egress) => peer.egress = Some(Box::new(egress)),
            None => {
                tracing::debug!(peer = %id, "no SRTP keys or address at connect");
                peer.closing = Some(CloseReason::Failed);
            }
        }
    }

    /// One datagram of the viewer's RTCP (already known to come from its address).
    pub(super) fn on_viewer_rtcp(&mut self, now: Instant, id: PeerId, data: &[u8]) {
        let mut buf = std::mem::take(&mut self.rtcp_scratch);
        buf.clear();
        buf.extend_from_slice(data);
        let mut feedback = std::mem::take(&mut self.feedback);
        feedback.clear();
        if let Some(peer) = self.peers.get_mut(&id) {
            match peer.egress.as_mut().map(|e| e.open_rtcp(&mut buf)) {
                Some(Ok(n)) => {
                    peer.last_received = now;
                    wire::read_feedback(&buf[..n], |f| {
                        if feedback.len() < MAX_NACKS_PER_DATAGRAM {
                            feedback.push(f)
                        }
                    });
                }
                _ => self.counters.datagrams_rejected += 1,
            }
        }
        for f in feedback.drain(..) {
            match f {
                Feedback::Pli { ssrc } => {
                    self.viewer_keyframe_request(now, id, ssrc, KeyframeRequestKind::Pli)
                }
                Feedback::Fir { ssrc } => {
                    self.viewer_keyframe_request(now, id, ssrc, KeyframeRequestKind::Fir)
                }
                Feedback::Nack { ssrc, pid, blp } => self.resend(now, id, ssrc, pid, blp),
                Feedback::Remb { bitrate } => {
                    tracing::trace!(peer = %id, bitrate, "receiver estimate");
                    if let Some(Role::Viewer(v)) = self.peers.get_mut(&id).map(|p| &mut p.role) {
                        v.bwe.on_remb(now, bitrate);
                    }
                }
                Feedback::Loss { ssrc, fraction } => {
                    tracing::trace!(peer = %id, ssrc, fraction, "receiver report");
                    if let Some(Role::Viewer(v)) = self.peers.get_mut(&id).map(|p| &mut p.role) {
                        let video = v
                            .by_ssrc(ssrc)
                            .and_then(|t| v.track(t))
                            .is_some_and(|t| t.kind == crate::Kind::Video);
                        if video {
                            v.bwe.on_loss(fraction);
                        }
                    }
                }
            }
        }
        self.feedback = feedback;
        self.rtcp_scratch = buf;
        self.drop_rtc_if_done(now, id);
    }

    fn viewer_keyframe_request(
        &mut self,
        now: Instant,
        id: PeerId,
        ssrc: u32,
        kind: KeyframeRequestKind,
    ) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let Role::Viewer(v) = &peer.role else { return };
        let Some(target) = v.by_ssrc(ssrc) else {
            return;
        };
        for publisher in self.sources_of(id, target) {
            self.request_keyframe(now, publisher, kind);
        }
    }

    /// Answers a NACK of the viewer's main video from the publication's shared history.
    fn resend(&mut self, now: Instant, id: PeerId, ssrc: u32, pid: u16, blp: u16) {
        let mut wanted = std::mem::take(&mut self.resends);
        wanted.clear();
        // What the viewer lost, mapped back to the input (read-only pass over the viewer).
        let Some((target, source)) = self.nacked_inputs(id, ssrc, pid, blp, &mut wanted) else {
            self.resends = wanted;
            return;
        };
        // The originals, from the shared history.
        let (publisher, track_idx, generation) = source;
        let mut kept: Vec<(u64, Kept)> = Vec::new();
        if let Some(p) = publication(&self.peers, &self.locals, publisher) {
            let history = p.tracks.get(track_idx).and_then(|t| t.history.as_deref());
            if let (Some(history), true) = (history, p.generation == generation) {
                for &(out_seq, in_ssrc, in_seq) in &wanted {
                    if let Some(k) = history.get(in_ssrc, in_seq) {
                        kept.push((out_seq, k.clone()));
                    }
                }
            }
        }
        self.resends = wanted;
        let clock = self.clock(now);
        let local = self.config.candidate_addr;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let (Some(egress), Role::Viewer(v)) = (peer.egress.as_deref_mut(), &mut peer.role) else {
            return;
        };
        let Some(track) = v.track_mut(target) else {
            return;
        };
        for (out_seq, k) in kept {
            let Some(pt) = track.pt_map.as_ref().and_then(|(_, m)| m.get(k.pt)) else {
                continue;
            };
            if !egress.may_resend(now) {
                self.counters.resends_refused += 1;
                break;
            }
            let rtx_pt = track
                .params
                .iter()
                .find(|p| p.pt() == pt)
                .and_then(|p| p.resend())
                .map(|p| *p);
            let Some(tx) = track.tx.as_mut() else { return };
            let p = OutRtp {
                pt: *pt,
                seq: out_seq,
                ts: track.rewriter.output_ts(k.ts),
                marker: k.marker,
                audio_level: None,
                voice_activity: None,
                video_orientation: k.video_orientation,
                captured: now,
                payload: &k.payload,
            };
            let mut buf = self.pool.take();
            if egress
                .write_resend(&mut buf, tx, &p, rtx_pt, &clock)
                .is_ok()
            {
                self.counters.rtp_resent += 1;
                self.transmits
                    .push_back(transmit(local, egress.destination, buf));
            } else {
                self.pool.put(buf);
            }
        }
    }

    /// The NACKed packets of a video track of viewer `id` that belong to the input it
    /// carries now, as (output seq, input SSRC, input seq); the track and that input's
    /// publication.
    fn nacked_inputs(
        &self,
        id: PeerId,
        ssrc: u32,
        pid: u16,
        blp: u16,
        out: &mut Vec<(u64, u32, u64)>,
    ) -> Option<(Target, (PeerId, usize, u64))> {
        let Role::Viewer(v) = &self.peers.get(&id)?.role else {
            return None;
        };
        let target = v.by_ssrc(ssrc)?;
        let track = v.track(target).filter(|t| t.kind == crate::Kind::Video)?;
        let tx = track.tx.as_ref()?;
        let (publisher, track_idx) = track.source?;
        let mut generation = None;
        let lost = std::iter::once(pid).chain(
            (0..16)
                .filter(|b| blp & (1 << b) != 0)
                .map(|b| pid.wrapping_add(b + 1)),
        );
        for seq in lost {
            let out_seq = tx.extend_seq(seq);
            if let Some((input, in_seq)) = track.rewriter.input_of(out_seq) {
                generation = Some(input.generation);
                out.push((out_seq, input.ssrc, in_seq));
            }
        }
        Some((target, (publisher, track_idx, generation?)))
    }

    /// Sends a viewer's sender reports if due; returns when they are next due.
    pub(super) fn report_if_due(&mut self, now: Instant, id: PeerId) -> Option<Instant> {
        let clock = self.clock(now);
        let local = self.config.candidate_addr;
        let peer = self.peers.get_mut(&id)?;
        let (Some(egress), Role::Viewer(v)) = (peer.egress.as_deref_mut(), &peer.role) else {
            return None;
        };
        if egress.next_report > now {
            return Some(egress.next_report);
        }
        let interval = if v.targets().any(|(_, t)| t.kind == crate::Kind::Video) {
            REPORT_INTERVAL_VIDEO
        } else {
            REPORT_INTERVAL_AUDIO
        };
        egress.next_report = now + interval;
        let mut buf = self.pool.take();
        let tracks = v.targets().filter_map(|(_, t)| t.tx.as_ref());
        match egress.write_reports(&mut buf, tracks, &clock) {
            Ok(true) => {
                self.counters.reports_sent += 1;
                self.transmits
                    .push_back(transmit(local, egress.destination, buf));
            }
            _ => self.pool.put(buf),
        }
        Some(egress.next_report)
    }
}

pub(super) fn transmit(source: SocketAddr, destination: SocketAddr, buf: Vec<u8>) -> Transmit {
    Transmit {
        proto: Protocol::Udp,
        source,
        destination,
        contents: buf.into(),
    }
}
