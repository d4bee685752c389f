//! One WebRTC peer: a str0m `Rtc` plus what it publishes or views.

use std::net::SocketAddr;
use std::time::Instant;

use str0m::format::{Codec, CodecSpec, FormatParams, PayloadParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid, Pt};
use str0m::Rtc;

use crate::egress::history::PacketHistory;
use crate::egress::keys::KeySlot;
use crate::egress::ViewerEgress;
pub(crate) use crate::negotiation::{
    accept_offer, name_msids, offer_mids, parse_codec, view_tag, CodecChoice, LocalSide, Side,
};
use crate::registry::{SourceId, StreamId};
use crate::sfu::TimerSlot;
use crate::{CloseReason, Kind, LocalCodec, LocalTrack, MediaError, SourceKey, TrackDesc};

pub(crate) struct Peer {
    /// Its str0m session. A viewer's is dropped once its DTLS is done on both sides: from
    /// then on Podium answers its consent checks itself (`sfu/lite.rs`).
    pub rtc: Option<Box<Rtc>>,
    /// Its local ICE password (for answering consent checks without the `Rtc`).
    pub ice_pass: String,
    /// When its DTLS came up (a viewer's `Rtc` is kept a while after, see `sfu/lite.rs`).
    pub connected_at: Option<Instant>,
    /// Valid while the peer is registered (it keeps the stream alive).
    pub stream: StreamId,
    pub ufrag: String,
    pub role: Role,
    pub created: Instant,
    pub connected: bool,
    /// Last datagram accepted from the peer, for the idle timeout.
    pub last_received: Instant,
    pub next_timeout: Instant,
    /// Queued for draining after something wrote into its `Rtc`.
    pub dirty: bool,
    /// Its place in the SFU's deadline queue.
    pub timer: TimerSlot,
    /// Set while handling events; the peer is closed once they are handled.
    pub closing: Option<CloseReason>,
    /// Where its DTLS handshake leaves the SRTP keys.
    pub keys: KeySlot,
    /// The address its media goes to: the ICE pair it nominated.
    pub send_to: Option<SocketAddr>,
    /// A connected viewer's egress (Podium protects and sends its media itself).
    pub egress: Option<Box<ViewerEgress>>,
}

impl Peer {
    /// The address its media goes to from now on (a nomination or str0m's own sends).
    pub fn set_send_to(&mut self, to: SocketAddr) {
        self.send_to = Some(to);
        if let Some(e) = self.egress.as_mut() {
            e.destination = to;
        }
    }
}

pub(crate) enum Role {
    Publisher(Publication),
    Viewer(Box<crate::viewing::Viewing>),
}

/// A publication: the incoming tracks of one source.
pub(crate) struct Publication {
    pub source: SourceKey,
    /// Interned `source`, valid while the publication is registered.
    pub source_id: SourceId,
    /// Changes whenever viewers must treat this publication as a new input.
    pub generation: u64,
    pub tracks: Vec<InTrack>,
    /// Incoming SSRC → index in `tracks` and simulcast encoding (a handful of entries: a
    /// scan beats hashing).
    pub ssrcs: Vec<(u32, usize, u8)>,
    /// Has sent media: only then may it replace an earlier publication of the same source.
    pub flowing: bool,
    pub last_keyframe_request: Option<Instant>,
    /// Redundant ingest priority (`None` ranks lowest); see `sfu/redundancy.rs`.
    pub priority: Option<i32>,
    /// When it started flowing, as a core-wide counter: the newest wins between equals.
    pub flow_order: u64,
    /// Arrival of its latest packet (one store per packet; read by stall checks only).
    pub last_packet_at: Instant,
    /// Declared stalled by a check; cleared by its next packet.
    pub stalled: bool,
    /// Its packets are copied to the recording tap (`sfu/recording.rs`).
    pub recording: bool,
}

/// A publication with no WebRTC peer (media produced in-process, e.g. from RTMP): no `Rtc`,
/// no timers, no idle timeout; the shell owns its lifetime.
pub(crate) struct LocalPeer {
    /// Valid while the publication is registered.
    pub stream: StreamId,
    pub publication: Publication,
    /// Per track: the next (extended) sequence number and the last extended timestamp.
    pub positions: Vec<LocalPosition>,
    /// A follower's mirror of a source homed on another worker (`sfu/relay.rs`).
    pub mirror: Option<crate::sfu::relay::MirrorOf>,
}

/// Where a local track's numbering stands.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocalPosition {
    pub next_seq: u64,
    pub last_ts: Option<u64>,
}

impl LocalPosition {
    /// The extended sequence number and timestamp of the next packet at `ts`.
    pub fn advance(&mut self, ts: u32) -> (u64, u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let ext = match self.last_ts {
            // Forward or backward by less than half the range (B-frames go backwards).
            Some(last) => {
                let delta = i64::from(ts.wrapping_sub(last as u32) as i32);
                // Starts at 2^32 (see below), so a small step back cannot underflow.
                last.saturating_add_signed(delta)
            }
            // Start one wrap in, so timestamps just below the first one stay representable.
            None => (1 << 32) + u64::from(ts),
        };
        self.last_ts = Some(ext);
        (seq, ext)
    }
}

/// Payload types of local tracks: only the key of viewers' PT maps (codec matching does the
/// rest), never on the wire.
const LOCAL_PT_OPUS: u8 = 111;
const LOCAL_PT_H264: u8 = 102;

/// Incoming tracks of a local publication, as a negotiated publisher's would be.
pub(crate) fn local_tracks(tracks: &[LocalTrack]) -> Result<Vec<InTrack>, MediaError> {
    let (mut audio_n, mut video_n) = (0, 0);
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks {
        let (kind, clock, spec, pt) = match t.codec {
            LocalCodec::Opus => (
                Kind::Audio,
                48_000,
                CodecSpec {
                    codec: Codec::Opus,
                    clock_rate: Frequency::FORTY_EIGHT_KHZ,
                    channels: Some(2),
                    format: FormatParams {
                        min_p_time: Some(10),
                        use_inband_fec: Some(true),
                        ..Default::default()
                    },
                },
                LOCAL_PT_OPUS,
            ),
            LocalCodec::H264 { profile_level_id } => (
                Kind::Video,
                90_000,
                CodecSpec {
                    codec: Codec::H264,
                    clock_rate: Frequency::NINETY_KHZ,
                    channels: None,
                    format: FormatParams {
                        level_asymmetry_allowed: Some(true),
                        packetization_mode: Some(1),
                        profile_level_id: Some(profile_level_id.unwrap_or(0x42e01f)),
                        ..Default::default()
                    },
                },
                LOCAL_PT_H264,
            ),
        };
        if t.kind != kind || t.clock_rate != clock {
            return Err(MediaError::UnsupportedCodec(format!(
                "a local {} track at {} Hz",
                t.kind.as_str(),
                t.clock_rate
            )));
        }
        let n = match kind {
            Kind::Audio => &mut audio_n,
            Kind::Video => &mut video_n,
        };
        let track_id = format!("{}{}", kind.as_str(), *n);
        *n += 1;
        out.push(InTrack::new(
            // Never looked up: a local publication has no m-lines.
            Mid::from(track_id.as_str()),
            TrackDesc { kind, track_id },
            vec![PayloadParams::new(Pt::from(pt), None, spec)],
        ));
    }
    Ok(out)
}

pub(crate) struct InTrack {
    pub mid: Mid,
    pub kind: Kind,
    pub desc: TrackDesc,
    /// Negotiated codecs of this m-line, to build viewers' PT maps.
    pub params: Vec<PayloadParams>,
    /// Recent packets (video), shared by every viewer's retransmissions.
    pub history: Option<Box<PacketHistory>>,
    /// Its place among the publication's tracks of its kind (`video1` is 1).
    pub ordinal: u8,
    /// Its simulcast encodings (none: one encoding).
    pub layers: Vec<crate::simulcast::InLayer>,
    /// The codec of its latest keyframe (simulcast tracks only).
    pub keyframe_codec: Option<Codec>,
}

impl InTrack {
    pub fn new(mid: Mid, desc: TrackDesc, params: Vec<PayloadParams>) -> Self {
        let kind = desc.kind;
        let ordinal = crate::viewing::parse_track_id(&desc.track_id).map_or(0, |(_, n)| n);
        Self {
            mid,
            kind,
            desc,
            params,
            history: (kind == Kind::Video).then(Box::default),
            ordinal,
            layers: Vec::new(),
            keyframe_codec: None,
        }
    }

    /// Accounts a packet of encoding `layer` (simulcast tracks only).
    pub fn observe(&mut self, now: Instant, layer: u8, payload: &[u8], keyframe: bool, pt: Pt) {
        if self.layers.is_empty() {
            return;
        }
        let size = if keyframe {
            self.keyframe_codec = self.codec_of(pt);
            self.keyframe_codec
                .and_then(|c| crate::keyframe::keyframe_size(c, payload))
        } else {
            None
        };
        if let Some(l) = self.layers.get_mut(usize::from(layer)) {
            l.meter.add(now, payload.len());
            if size.is_some() {
                l.size = size;
            }
        }
    }

    /// Whether a keyframe of this track tells its frame size (see `keyframe::keyframe_size`):
    /// by the codec of the keyframes it sends, else (none seen yet) by what was negotiated.
    pub fn keyframes_tell_size(&self) -> bool {
        let sized = |c: Codec| matches!(c, Codec::Vp8 | Codec::Vp9);
        match self.keyframe_codec {
            Some(codec) => sized(codec),
            None => self.params.iter().any(|p| sized(p.spec().codec)),
        }
    }

    /// The codec of payload type `pt` on this track.
    pub fn codec_of(&self, pt: Pt) -> Option<Codec> {
        self.params
            .iter()
            .find(|p| p.pt() == pt)
            .map(|p| p.spec().codec)
    }
}

/// Incoming tracks of a freshly negotiated publisher.
pub(crate) fn publication_tracks(rtc: &Rtc, mids: &[Mid]) -> Vec<InTrack> {
    let mut tracks = Vec::new();
    let (mut audio_n, mut video_n) = (0, 0);
    for mid in mids {
        let Some(media) = rtc.media(*mid) else {
            continue;
        };
        if !matches!(media.direction(), Direction::RecvOnly | Direction::SendRecv) {
            continue;
        }
        let (kind, n) = match media.kind() {
            MediaKind::Audio => (Kind::Audio, &mut audio_n),
            MediaKind::Video => (Kind::Video, &mut video_n),
        };
        let track_id = format!("{}{}", kind.as_str(), *n);
        *n += 1;
        let params = rtc
            .codec_config()
            .params()
            .iter()
            .filter(|p| media.remote_pts().contains(&p.pt()))
            .cloned()
            .collect::<Vec<_>>();
        if params.is_empty() {
            continue;
        }
        tracks.push(InTrack::new(*mid, TrackDesc { kind, track_id }, params));
    }
    tracks
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;
    use crate::codec::PtMap;
    use str0m::RtcConfig;

    fn viewer_rtc() -> (Rtc, Mid, Mid) {
        let now = Instant::now();
        let mut client = RtcConfig::new().build(now);
        let mut api = client.sdp_api();
        let audio = api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        let video = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, _) = api.apply().expect("offer");
        let local = LocalSide::new("127.0.0.1:5004".parse().unwrap());
        let (rtc, _, _) = accept_offer(
            now,
            &local,
            &offer.to_sdp_string(),
            CodecChoice::All,
            Side::Viewer,
        )
        .expect("view accepted");
        (rtc, audio, video)
    }

    #[test]
    fn local_tracks_map_by_codec_to_a_viewers_payload_types() {
        let (rtc, audio, video) = viewer_rtc();
        let tracks = local_tracks(&[
            LocalTrack::opus(),
            LocalTrack::h264(None),
            LocalTrack::h264(Some(0x640028)),
        ])
        .unwrap();
        let spec_of = |mid: Mid, pt: Pt| {
            assert!(rtc.media(mid).unwrap().remote_pts().contains(&pt));
            rtc.codec_config()
                .params()
                .iter()
                .find(|p| p.pt() == pt)
                .unwrap()
                .spec()
        };
        let map = PtMap::build(&tracks[0].params, &crate::codec::negotiated(&rtc, audio));
        let opus = map.get(tracks[0].params[0].pt()).expect("Opus mapped");
        assert_eq!(spec_of(audio, opus).codec, Codec::Opus);
        for (track, profile) in [(&tracks[1], 0x42e01f), (&tracks[2], 0x64001f)] {
            let map = PtMap::build(&track.params, &crate::codec::negotiated(&rtc, video));
            let pt = map.get(track.params[0].pt()).expect("H.264 mapped");
            let spec = spec_of(video, pt);
            assert_eq!(spec.codec, Codec::H264);
            assert_eq!(spec.format.packetization_mode, Some(1));
            // Same profile and constraints; the level may differ.
            assert_eq!(
                spec.format.profile_level_id.map(|p| p >> 8),
                Some(profile >> 8)
            );
        }
        // A viewer without H.264 maps nothing: the packet is counted as `no codec`.
        let map = PtMap::build(&tracks[1].params, &crate::codec::negotiated(&rtc, audio));
        assert_eq!(map.get(tracks[1].params[0].pt()), None);
    }

    #[test]
    fn local_timestamps_unwrap_across_the_wrap_and_b_frames() {
        let mut pos = LocalPosition::default();
        let (s0, t0) = pos.advance(u32::MAX - 10);
        let (s1, t1) = pos.advance(5);
        let (s2, t2) = pos.advance(2);
        assert_eq!((s1, s2), (s0 + 1, s0 + 2));
        assert_eq!(t1, t0 + 16);
        assert_eq!(t2, t1 - 3);
    }
}
