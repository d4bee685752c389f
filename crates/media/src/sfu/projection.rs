//! Projection: a viewer routes any source's tracks onto any of its transceivers
//! (`project`), including mids the server never negotiated, and stops them (`unproject`).
//! A projected track is a carrier of its source in the registry, found by indexing per
//! packet like the pinned viewers. A video track changes feed only at a keyframe of the new
//! one (asked for at once), the old feed going on meanwhile; audio changes at once. The
//! rewriter keeps each outgoing stream continuous across changes. See `docs/projection.md`.

use std::time::{Duration, Instant};

use str0m::media::Mid;

use super::Sfu;
use crate::egress::TrackTx;
use crate::registry::{SourceId, StreamId};
use crate::viewing::{
    parse_track_id, Carrying, Feed, OutTrack, Pending, Target, Viewing, MAX_EXTRA_TRACKS,
};
use crate::{Kind, MediaError, PeerId, ProjectParams, Projection};

/// A video track whose new feed sends no keyframe within this long switches anyway (the
/// viewer's decoder then asks for one itself).
pub(crate) const SWITCH_WITHOUT_KEYFRAME_AFTER: Duration = Duration::from_secs(3);

/// How often a track still waiting for its new feed's keyframe asks again: an encoder
/// ignores a request that comes too soon after its last keyframe (libwebrtc: 300 ms).
pub(super) const ASK_AGAIN_AFTER: Duration = Duration::from_millis(500);

/// Longest mid accepted: the MID header extension carries at most 16 bytes.
const MAX_MID_LEN: usize = 16;

/// One mapping, checked: where it goes and what it carries.
struct Resolved {
    target: Option<Target>,
    layer: Option<crate::LayerRequest>,
    /// A new track on a mid never negotiated.
    new_mid: Option<Mid>,
    kind: Kind,
    ordinal: u8,
}

impl Sfu {
    /// Applies a viewer's `project`: every mapping or, if one cannot be carried out, none.
    pub fn project(
        &mut self,
        now: Instant,
        viewer: PeerId,
        p: ProjectParams,
    ) -> Result<(), MediaError> {
        self.last_now = self.last_now.max(now);
        let invalid = |m: &str| MediaError::InvalidRequest(m.to_owned());
        let peer = self.peers.get(&viewer).ok_or(MediaError::UnknownPeer)?;
        let crate::peer::Role::Viewer(v) = &peer.role else {
            return Err(invalid("Only a viewer can project"));
        };
        if p.mappings.is_empty() {
            return Err(invalid("project needs at least one mapping"));
        }
        let stream = peer.stream;
        let mut resolved = Vec::with_capacity(p.mappings.len());
        let mut named: Vec<String> = Vec::with_capacity(p.mappings.len());
        let mut new_tracks = 0;
        for m in &p.mappings {
            let r = resolve(v, m)?;
            let mid = match (&r.new_mid, r.target) {
                (Some(mid), _) => mid.to_string(),
                (None, Some(t)) => v.track(t).map(|t| t.mid.to_string()).unwrap_or_default(),
                (None, None) => String::new(),
            };
            if named.contains(&mid) {
                return Err(invalid("A mediaId appears twice in one project"));
            }
            named.push(mid);
            new_tracks += usize::from(r.new_mid.is_some());
            resolved.push(r);
        }
        if v.extra.len() + new_tracks > MAX_EXTRA_TRACKS {
            return Err(MediaError::LimitReached(format!(
                "Too many projected transceivers (at most {MAX_EXTRA_TRACKS})"
            )));
        }
        for r in resolved {
            let target = match (r.target, r.new_mid) {
                (Some(t), _) => t,
                (None, Some(mid)) => match self.add_extra_track(viewer, mid, r.kind) {
                    Some(t) => t,
                    None => continue,
                },
                (None, None) => continue,
            };
            let Some(source) = self
                .registry
                .add_carrier(stream, &p.source, viewer, target.tag())
            else {
                continue;
            };
            let feed = Feed {
                source,
                ordinal: r.ordinal,
            };
            self.switch_feed(now, viewer, stream, target, Some(feed));
            if let Some(track) = self.view_track_mut(viewer, target) {
                unforce_layer(track, r.layer.is_none());
                track.forced_layer = r.layer;
            }
        }
        self.choose_layers_now(now, viewer);
        Ok(())
    }

    /// Applies a viewer's `unproject`: those transceivers carry nothing from now on. Unknown
    /// mids are refused before anything changes.
    pub fn unproject(
        &mut self,
        now: Instant,
        viewer: PeerId,
        mids: &[String],
    ) -> Result<(), MediaError> {
        self.last_now = self.last_now.max(now);
        let peer = self.peers.get(&viewer).ok_or(MediaError::UnknownPeer)?;
        let crate::peer::Role::Viewer(v) = &peer.role else {
            return Err(MediaError::InvalidRequest(
                "Only a viewer can unproject".into(),
            ));
        };
        let stream = peer.stream;
        let mut targets = Vec::with_capacity(mids.len());
        for mid in mids {
            match v.by_mid(mid) {
                Some(Target::Slot(_)) => {
                    return Err(MediaError::InvalidRequest(format!(
                        "mediaId {} is an audio multiplexing slot",
                        clip(mid)
                    )))
                }
                Some(t) => targets.push(t),
                None => {
                    return Err(MediaError::InvalidRequest(format!(
                        "Unknown mediaId {}",
                        clip(mid)
                    )))
                }
            }
        }
        for target in targets {
            self.switch_feed(now, viewer, stream, target, None);
        }
        Ok(())
    }

    /// Applies a viewer's `select`: the layer of its main video (`None`: automatic).
    pub fn select(
        &mut self,
        now: Instant,
        viewer: PeerId,
        layer: Option<crate::LayerRequest>,
    ) -> Result<(), MediaError> {
        self.last_now = self.last_now.max(now);
        let track = self
            .view_track_mut(viewer, Target::Main(Kind::Video))
            .ok_or_else(|| MediaError::InvalidRequest("This view has no video".into()))?;
        unforce_layer(track, layer.is_none());
        track.forced_layer = layer;
        self.choose_layers_now(now, viewer);
        Ok(())
    }

    /// Points a track at `feed` (`None`: nothing). Audio switches at once; video waits for
    /// the new feed's keyframe, which is asked for now. The registry's carriers follow.
    fn switch_feed(
        &mut self,
        now: Instant,
        viewer: PeerId,
        stream: StreamId,
        target: Target,
        feed: Option<Feed>,
    ) {
        let Some(track) = self.view_track_mut(viewer, target) else {
            return;
        };
        let before: Vec<Feed> = track.feeds().collect();
        match feed {
            None => {
                track.carrying = Carrying::Nothing;
                track.pending = None;
            }
            Some(f) if track.carrying == Carrying::Feed(f) => track.pending = None,
            Some(f) if track.kind == Kind::Audio => {
                track.carrying = Carrying::Feed(f);
                track.pending = None;
            }
            Some(f) => {
                track.pending = Some(Pending {
                    feed: f,
                    since: now,
                })
            }
        }
        let after: Vec<Feed> = track.feeds().collect();
        let pending = track.pending.map(|p| p.feed.source);
        if pending.is_some() || feed.is_none() {
            // Another source's encodings: chosen and told afresh.
            track.target_layer = None;
            track.up_since = None;
            track.layers_told = None;
        }
        for gone in before
            .iter()
            .filter(|b| !after.iter().any(|a| a.source == b.source))
        {
            self.registry
                .remove_carrier(stream, gone.source, viewer, target.tag());
        }
        if let Some(source) = pending {
            if let Some(publisher) = self.registry.current(stream, source) {
                self.request_keyframe_soon(now, publisher);
            }
            self.awaiting_keyframes
                .push((now + ASK_AGAIN_AFTER, viewer, target));
        }
    }

    /// Asks again for the keyframes that tracks waiting to switch still lack.
    pub(super) fn ask_again_for_keyframes(&mut self, now: Instant) {
        if self.awaiting_keyframes.iter().all(|(at, _, _)| *at > now) {
            return;
        }
        let mut waiting = std::mem::take(&mut self.awaiting_keyframes);
        let mut ask = Vec::new();
        waiting.retain_mut(|(at, viewer, target)| {
            if *at > now {
                return true;
            }
            let Some(peer) = self.peers.get(viewer) else {
                return false;
            };
            let awaited = match &peer.role {
                crate::peer::Role::Viewer(v) => {
                    v.track(*target).and_then(|t| t.awaited(v.pinned_id))
                }
                crate::peer::Role::Publisher(_) => None,
            };
            let Some(source) = awaited else {
                return false;
            };
            if let Some(publisher) = self.registry.current(peer.stream, source) {
                ask.push(publisher);
            }
            *at = now + ASK_AGAIN_AFTER;
            true
        });
        self.awaiting_keyframes = waiting;
        ask.sort_unstable();
        ask.dedup();
        for publisher in ask {
            self.request_keyframe_soon(now, publisher);
        }
    }

    /// After a packet's fan-out: tracks that took their new feed at a keyframe drop their
    /// old one from the registry.
    pub(super) fn settle_switches(&mut self, stream: StreamId) {
        let mut done = std::mem::take(&mut self.switched);
        for (viewer, target, old) in done.drain(..) {
            let Some(track) = self.view_track_mut(viewer, target) else {
                continue;
            };
            let still = track.feeds().any(|f| f.source == old);
            if !still {
                self.registry
                    .remove_carrier(stream, old, viewer, target.tag());
            }
        }
        self.switched = done;
    }

    /// Asks for keyframes of everything a viewer's video tracks carry or switch to (when it
    /// connects: what was sent before reached nobody).
    pub(super) fn request_view_keyframes(&mut self, now: Instant, viewer: PeerId) {
        let Some(peer) = self.peers.get(&viewer) else {
            return;
        };
        let crate::peer::Role::Viewer(v) = &peer.role else {
            return;
        };
        let stream = peer.stream;
        let mut sources: Vec<SourceId> = Vec::new();
        for (_, t) in v.targets().filter(|(_, t)| t.kind == Kind::Video) {
            if t.carrying == Carrying::Pinned {
                sources.push(v.pinned_id);
            }
            sources.extend(t.feeds().map(|f| f.source));
        }
        sources.sort_unstable();
        sources.dedup();
        for source in sources {
            if let Some(publisher) = self.registry.current(stream, source) {
                self.request_keyframe_soon(now, publisher);
            }
        }
    }

    /// The publications a viewer's video track on `target` takes packets from now: what a
    /// keyframe request of that track goes to.
    pub(super) fn sources_of(&self, viewer: PeerId, target: Target) -> Vec<PeerId> {
        let Some(peer) = self.peers.get(&viewer) else {
            return vec![];
        };
        let crate::peer::Role::Viewer(v) = &peer.role else {
            return vec![];
        };
        let Some(track) = v.track(target) else {
            return vec![];
        };
        let pinned = (track.carrying == Carrying::Pinned).then_some(v.pinned_id);
        pinned
            .into_iter()
            .chain(track.feeds().map(|f| f.source))
            .filter_map(|s| self.registry.current(peer.stream, s))
            .collect()
    }

    /// A track on a mid the client added itself, modelled on the answer's first m-line of
    /// its kind: same payload types and header extension ids, a fresh SSRC, no RTX (none
    /// was signalled; resends go as the original packets).
    fn add_extra_track(&mut self, viewer: PeerId, mid: Mid, kind: Kind) -> Option<Target> {
        let peer = self.peers.get_mut(&viewer)?;
        let crate::peer::Role::Viewer(v) = &mut peer.role else {
            return None;
        };
        let template = v.template(kind)?;
        let params = template.params.clone();
        let ext = template.tx.as_ref().map(|t| t.ext).unwrap_or_default();
        let mut track = OutTrack::new(mid, kind, Carrying::Nothing);
        track.params = params;
        let clock = match kind {
            Kind::Audio => 48_000,
            Kind::Video => 90_000,
        };
        let ssrc = fresh_ssrc(v);
        track.tx = Some(TrackTx::new(ssrc, None, &mid, ext, clock));
        v.extra.push(track);
        Some(Target::Extra(v.extra.len() - 1))
    }

    fn view_track_mut(&mut self, viewer: PeerId, target: Target) -> Option<&mut OutTrack> {
        match &mut self.peers.get_mut(&viewer)?.role {
            crate::peer::Role::Viewer(v) => v.track_mut(target),
            crate::peer::Role::Publisher(_) => None,
        }
    }
}

/// Checks one mapping against the view: its track, kind and transceiver.
fn resolve(v: &Viewing, m: &Projection) -> Result<Resolved, MediaError> {
    let invalid = |s: String| MediaError::InvalidRequest(s);
    let (kind, ordinal) = match (&m.track_id, m.media) {
        (Some(id), media) => {
            let (kind, ordinal) = parse_track_id(id)
                .ok_or_else(|| invalid(format!("Unknown trackId {}", clip(id))))?;
            if media.is_some_and(|k| k != kind) {
                return Err(invalid(format!(
                    "trackId {} is not {}",
                    clip(id),
                    kind.as_str()
                )));
            }
            (kind, ordinal)
        }
        (None, Some(kind)) => (kind, 0),
        (None, None) => return Err(invalid("A mapping needs trackId or media".into())),
    };
    let Some(mid) = &m.mid else {
        let target = Target::Main(kind);
        if v.track(target).is_none() {
            return Err(invalid(format!(
                "This view has no {} transceiver",
                kind.as_str()
            )));
        }
        return Ok(Resolved {
            target: Some(target),
            layer: m.layer.clone(),
            new_mid: None,
            kind,
            ordinal,
        });
    };
    match v.by_mid(mid) {
        Some(Target::Slot(_)) => Err(invalid(format!(
            "mediaId {} is an audio multiplexing slot",
            clip(mid)
        ))),
        Some(target) => {
            let track = v.track(target).expect("found");
            if track.kind != kind {
                return Err(invalid(format!(
                    "mediaId {} is not a {} transceiver",
                    clip(mid),
                    kind.as_str()
                )));
            }
            Ok(Resolved {
                target: Some(target),
                layer: m.layer.clone(),
                new_mid: None,
                kind,
                ordinal,
            })
        }
        None => {
            let valid = !mid.is_empty()
                && mid.len() <= MAX_MID_LEN
                && mid.bytes().all(|b| b.is_ascii_graphic());
            if !valid {
                return Err(invalid(format!("mediaId {} is not a valid mid", clip(mid))));
            }
            if v.template(kind).is_none() {
                return Err(invalid(format!(
                    "This view negotiated no {} m-line to send mediaId {} like",
                    kind.as_str(),
                    clip(mid)
                )));
            }
            Ok(Resolved {
                target: None,
                layer: m.layer.clone(),
                new_mid: Some(Mid::from(mid.as_str())),
                kind,
                ordinal,
            })
        }
    }
}

/// An SSRC no other track of the view sends on.
fn fresh_ssrc(v: &Viewing) -> u32 {
    loop {
        let ssrc = *str0m::rtp::Ssrc::new();
        let taken = v.targets().any(|(_, t)| {
            t.tx.as_ref()
                .is_some_and(|tx| tx.ssrc == ssrc || tx.rtx.is_some_and(|(r, _)| r == ssrc))
        });
        if ssrc != 0 && !taken {
            return ssrc;
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(32).collect()
}

/// Back to automatic layer choice: chosen afresh (the highest that fits) rather than stepping
/// up from the forced encoding.
fn unforce_layer(track: &mut crate::viewing::OutTrack, automatic: bool) {
    if automatic && track.forced_layer.is_some() {
        track.target_layer = None;
        track.up_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mids_are_bounded() {
        assert_eq!(MAX_MID_LEN, 16);
    }
}
