//! A view's outgoing tracks and what each carries: the default transceivers (the pinned
//! source, unless something was projected onto them), the audio slots (whatever the
//! multiplexer puts in them) and further tracks that carry what the viewer projected
//! (`sfu/projection.rs`), including mids the client added by renegotiating on its own.

use std::time::Instant;

use str0m::format::PayloadParams;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::Rtc;

use crate::codec::PtMap;
use crate::egress::wire::ExtIds;
use crate::egress::TrackTx;
use crate::registry::SourceId;
use crate::rewrite::Rewriter;
use crate::Kind;

/// A view: its outgoing tracks.
pub(crate) struct Viewing {
    /// The pinned source, valid while the viewer is registered (it keeps the source's id).
    pub pinned_id: SourceId,
    pub audio: Option<OutTrack>,
    pub video: Option<OutTrack>,
    pub slots: Vec<OutTrack>,
    /// Every other track: the offer's further sendable m-lines (idle until projected onto)
    /// and mids first heard of in a projection.
    pub extra: Vec<OutTrack>,
    /// The CNAME its answer declared (repeated in sender reports).
    pub cname: String,
    /// The bandwidth estimate of the path to the viewer (video only).
    pub bwe: crate::sfu::Bwe,
}

/// Which outgoing track of a viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A default transceiver.
    Main(Kind),
    /// An audio slot.
    Slot(usize),
    /// One of `extra`.
    Extra(usize),
}

impl Target {
    /// The registry's tag for a projected track of a viewer (slots are never projected).
    pub fn tag(self) -> u32 {
        match self {
            Self::Main(Kind::Audio) => 0,
            Self::Main(Kind::Video) => 1,
            Self::Extra(i) => 2 + i as u32,
            Self::Slot(_) => u32::MAX,
        }
    }

    pub fn from_tag(tag: u32) -> Self {
        match tag {
            0 => Self::Main(Kind::Audio),
            1 => Self::Main(Kind::Video),
            n => Self::Extra((n - 2) as usize),
        }
    }
}

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrying {
    /// The viewer's pinned source (the default transceivers until projected onto).
    Pinned,
    /// A projected source's track.
    Feed(Feed),
    /// Nothing (unprojected, or not projected onto yet).
    Nothing,
}

/// A source's track as projected: which source, and which of its tracks of the kind
/// (`video0` is ordinal 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Feed {
    pub source: SourceId,
    pub ordinal: u8,
}

/// A video track's change of feed, waiting for a keyframe of the new one so the picture
/// never breaks: the old feed goes on meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    pub feed: Feed,
    /// When it was asked for: past a limit the switch happens without a keyframe.
    pub since: Instant,
}

impl Viewing {
    pub fn track(&self, target: Target) -> Option<&OutTrack> {
        match target {
            Target::Main(Kind::Audio) => self.audio.as_ref(),
            Target::Main(Kind::Video) => self.video.as_ref(),
            Target::Slot(i) => self.slots.get(i),
            Target::Extra(i) => self.extra.get(i),
        }
    }

    pub fn track_mut(&mut self, target: Target) -> Option<&mut OutTrack> {
        match target {
            Target::Main(Kind::Audio) => self.audio.as_mut(),
            Target::Main(Kind::Video) => self.video.as_mut(),
            Target::Slot(i) => self.slots.get_mut(i),
            Target::Extra(i) => self.extra.get_mut(i),
        }
    }

    /// Every track with where it is.
    pub fn targets(&self) -> impl Iterator<Item = (Target, &OutTrack)> {
        let main = [
            (Target::Main(Kind::Audio), self.audio.as_ref()),
            (Target::Main(Kind::Video), self.video.as_ref()),
        ];
        main.into_iter()
            .filter_map(|(t, o)| Some((t, o?)))
            .chain(
                self.slots
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (Target::Slot(i), t)),
            )
            .chain(
                self.extra
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (Target::Extra(i), t)),
            )
    }

    /// The track sending on `ssrc` (what a viewer's feedback names).
    pub fn by_ssrc(&self, ssrc: u32) -> Option<Target> {
        self.targets()
            .find(|(_, t)| t.tx.as_ref().is_some_and(|tx| tx.ssrc == ssrc))
            .map(|(target, _)| target)
    }

    /// The track on `mid`, if the viewer has one.
    pub fn by_mid(&self, mid: &str) -> Option<Target> {
        self.targets()
            .find(|(_, t)| *t.mid == *mid)
            .map(|(target, _)| target)
    }

    /// The first track of `kind` in the answer: what a mid the client added on its own is
    /// modelled on (its fabricated answer copies that m-line, see `docs/projection.md`).
    pub fn template(&self, kind: Kind) -> Option<&OutTrack> {
        let main = match kind {
            Kind::Audio => self.audio.as_ref(),
            Kind::Video => self.video.as_ref(),
        };
        main.or_else(|| self.slots.iter().find(|t| t.kind == kind))
            .or_else(|| self.extra.iter().find(|t| t.kind == kind))
    }
}

/// One outgoing track of a viewer: fixed SSRC, fed by whichever publication is current.
pub(crate) struct OutTrack {
    pub mid: Mid,
    pub kind: Kind,
    pub rewriter: Rewriter,
    /// PT table for the publication generation and track it was built for.
    pub pt_map: Option<((u64, usize), PtMap)>,
    /// Its sender state on Podium's egress (set once the answer is made).
    pub tx: Option<TrackTx>,
    /// The codecs its m-line negotiated (PT maps and RTX payload types are built from them).
    pub params: Vec<PayloadParams>,
    /// The publication and track it last carried, where resends are looked up.
    pub source: Option<(crate::PeerId, usize)>,
    /// What it carries (slots: decided by the multiplexer instead).
    pub carrying: Carrying,
    /// A change of feed waiting for a keyframe (video).
    pub pending: Option<Pending>,
    /// The simulcast layer the viewer asked for (`select`, `project … layer`); `None`
    /// chooses automatically.
    pub forced_layer: Option<crate::LayerRequest>,
    /// The simulcast encoding it forwards now, and the one it switches to at that
    /// encoding's next keyframe (indexes into the source track's layers).
    pub current_layer: Option<u8>,
    pub target_layer: Option<u8>,
    /// Since when the estimate has allowed a higher layer (up-switches wait a while).
    pub up_since: Option<Instant>,
    /// What the last `layers` event to the viewer said of this track.
    pub layers_told: Option<crate::sfu::LayersTold>,
}

impl OutTrack {
    pub fn new(mid: Mid, kind: Kind, carrying: Carrying) -> Self {
        let clock = match kind {
            Kind::Audio => 48_000,
            Kind::Video => 90_000,
        };
        Self {
            mid,
            kind,
            rewriter: Rewriter::new(clock),
            pt_map: None,
            tx: None,
            params: Vec::new(),
            source: None,
            carrying,
            pending: None,
            forced_layer: None,
            current_layer: None,
            target_layer: None,
            up_since: None,
            layers_told: None,
        }
    }

    /// The source a video track waits for a keyframe of: its next feed's, or its current
    /// feed's while it switches encoding.
    pub fn awaited(&self, pinned: SourceId) -> Option<SourceId> {
        if let Some(p) = self.pending {
            return Some(p.feed.source);
        }
        let switching = self.target_layer.is_some() && self.target_layer != self.current_layer;
        match self.carrying {
            _ if !switching => None,
            Carrying::Pinned => Some(pinned),
            Carrying::Feed(f) => Some(f.source),
            Carrying::Nothing => None,
        }
    }

    /// The feed layer decisions are made for: the next one, else the current one.
    pub fn deciding_feed(&self, pinned: SourceId) -> Option<Feed> {
        self.pending.map(|p| p.feed).or(match self.carrying {
            Carrying::Feed(f) => Some(f),
            Carrying::Pinned => Some(Feed {
                source: pinned,
                ordinal: 0,
            }),
            Carrying::Nothing => None,
        })
    }

    /// The feeds whose packets may reach it (its current one and the one it switches to).
    pub fn feeds(&self) -> impl Iterator<Item = Feed> {
        let current = match self.carrying {
            Carrying::Feed(f) => Some(f),
            _ => None,
        };
        current.into_iter().chain(self.pending.map(|p| p.feed))
    }
}

/// The viewer's default transceivers (its first sending video and audio m-lines), up to
/// `max_slots` audio slots (the further audio m-lines, in order) and, idle, its other
/// sending m-lines.
pub(crate) fn viewing_tracks(rtc: &Rtc, mids: &[Mid], max_slots: usize) -> Viewing {
    let mut viewing = Viewing {
        // Set when the viewer is registered.
        pinned_id: SourceId(u32::MAX),
        audio: None,
        video: None,
        slots: Vec::new(),
        extra: Vec::new(),
        cname: String::new(),
        bwe: Default::default(),
    };
    for mid in mids {
        let Some(media) = rtc.media(*mid) else {
            continue;
        };
        if !matches!(media.direction(), Direction::SendOnly | Direction::SendRecv) {
            continue;
        }
        match media.kind() {
            MediaKind::Audio if viewing.audio.is_none() => {
                viewing.audio = Some(OutTrack::new(*mid, Kind::Audio, Carrying::Pinned))
            }
            MediaKind::Video if viewing.video.is_none() => {
                viewing.video = Some(OutTrack::new(*mid, Kind::Video, Carrying::Pinned))
            }
            MediaKind::Audio if viewing.slots.len() < max_slots => viewing
                .slots
                .push(OutTrack::new(*mid, Kind::Audio, Carrying::Nothing)),
            MediaKind::Audio if viewing.extra.len() < MAX_EXTRA_TRACKS => viewing
                .extra
                .push(OutTrack::new(*mid, Kind::Audio, Carrying::Nothing)),
            MediaKind::Video if viewing.extra.len() < MAX_EXTRA_TRACKS => viewing
                .extra
                .push(OutTrack::new(*mid, Kind::Video, Carrying::Nothing)),
            _ => {}
        }
    }
    viewing
}

/// Most tracks beyond the default ones and the slots a viewer may have (offered m-lines
/// and projected mids together). A grid of 25 cameras with their voices fits.
pub(crate) const MAX_EXTRA_TRACKS: usize = 64;

/// Sets up each outgoing track's sender state from what the answer negotiated: the SSRCs
/// str0m declared (and RTX's, for video), the header extension ids.
pub(crate) fn attach_senders(rtc: &mut Rtc, viewing: &mut Viewing) {
    let tracks = viewing
        .audio
        .iter_mut()
        .chain(viewing.video.iter_mut())
        .chain(viewing.slots.iter_mut())
        .chain(viewing.extra.iter_mut());
    for track in tracks {
        let ext = rtc
            .media(track.mid)
            .map(|m| ExtIds::from_map(m.remote_extmap()))
            .unwrap_or_default();
        if viewing.cname.is_empty() {
            viewing.cname = rtc
                .media(track.mid)
                .map(|m| m.cname().to_owned())
                .unwrap_or_default();
        }
        track.params = crate::codec::negotiated(rtc, track.mid);
        let mut api = rtc.direct_api();
        if let Some(tx) = api.stream_tx_by_mid(track.mid, None) {
            let rtx = match track.kind {
                Kind::Video => tx.rtx().map(|s| *s),
                Kind::Audio => None,
            };
            let clock = match track.kind {
                Kind::Audio => 48_000,
                Kind::Video => 90_000,
            };
            track.tx = Some(TrackTx::new(*tx.ssrc(), rtx, &track.mid, ext, clock));
        }
    }
}

/// `audio0`, `video1`, …: a kind and the track's ordinal among that kind.
pub(crate) fn parse_track_id(id: &str) -> Option<(Kind, u8)> {
    let (kind, n) = if let Some(n) = id.strip_prefix("audio") {
        (Kind::Audio, n)
    } else {
        (Kind::Video, id.strip_prefix("video")?)
    };
    if n.is_empty() || (n.len() > 1 && n.starts_with('0')) {
        return None;
    }
    Some((kind, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_ids() {
        assert_eq!(parse_track_id("audio0"), Some((Kind::Audio, 0)));
        assert_eq!(parse_track_id("video12"), Some((Kind::Video, 12)));
        for bad in ["video", "video01", "screen0", "audio-1", "video256", ""] {
            assert_eq!(parse_track_id(bad), None, "{bad}");
        }
    }
}
