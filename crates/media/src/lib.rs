//! Podium's media core: a sans-IO selective forwarding unit built on [`str0m`] in RTP mode.
//!
//! Nothing here reads a clock, opens a socket or spawns a task. The shell feeds
//! datagrams, commands and the current time in, then drains [`Sfu::poll_output`] until it
//! returns [`Output::Timeout`]:
//!
//! ```no_run
//! # use std::time::Instant;
//! # use podium_media::{Sfu, SfuConfig, Output};
//! # let mut sfu = Sfu::new(SfuConfig::new("127.0.0.1:5004".parse().unwrap()), Instant::now());
//! # let (now, from, to, bytes) = (Instant::now(), "127.0.0.1:1".parse().unwrap(), "127.0.0.1:5004".parse().unwrap(), &[0u8][..]);
//! sfu.handle_receive(now, from, to, bytes);
//! loop {
//!     match sfu.poll_output() {
//!         Output::Transmit(t) => { /* socket.send_to(&t.contents, t.destination) */ }
//!         Output::Event(e) => { /* route to the peer's signaling connection */ }
//!         Output::Timeout(at) => { /* call handle_timeout(at) then */ break; }
//!     }
//! }
//! ```
//!
//! Every peer is one str0m `Rtc` (ICE-lite, one host candidate: the shared UDP socket).
//! Publishers' packets are forwarded untouched except for SSRC, sequence number, timestamp
//! and payload type, which are rewritten per viewer track so that a replaced source
//! continues seamlessly ([`rewrite`]).
#![deny(missing_docs)]

pub mod audio;
pub mod codec;
pub mod demux;
mod egress;
pub mod keyframe;
pub use egress::keys as dtls_keys;
pub use egress::{srtp, wire};
pub use sfu::relay::{home_worker, Relay};
pub use sfu::relay_wire::WireError;
pub use sfu::remote::StreamPresence;
mod negotiation;
mod peer;
pub mod registry;
pub mod rewrite;
mod sfu;
mod simulcast;
mod viewing;

pub use registry::SourceKey;
pub use sfu::recording::{RecordCodec, RecordPayload, RecordTrack, Recorded, RecordedPacket};
pub use sfu::{Counters, Sfu, SfuConfig};

impl MediaEvent {
    /// The peer whose signaling connection the event is for.
    pub fn recipient(&self) -> PeerId {
        match self {
            Self::SourceActive { to, .. }
            | Self::SourceInactive { to, .. }
            | Self::StreamStopped { to }
            | Self::SlotChanged { to, .. }
            | Self::Layers { to, .. }
            | Self::ViewerCount { to, .. }
            | Self::Connected { to }
            | Self::KeyframeRequested { to } => *to,
            Self::PeerClosed { peer, .. } => *peer,
        }
    }
}
pub use str0m::net::Transmit;

use std::time::Instant;

/// Identifies one WebRTC peer (one publication or one view) for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An audio track.
    Audio,
    /// A video track.
    Video,
}

impl Kind {
    /// `audio` or `video`, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }
}

/// A track of a publication, as announced to viewers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackDesc {
    /// Audio or video.
    pub kind: Kind,
    /// Stable id within the source: `audio0`, `video0`, …
    pub track_id: String,
}

/// A request to publish a source of a stream.
#[derive(Debug, Clone)]
pub struct PublishParams {
    /// Stream name.
    pub stream: String,
    /// `sourceId`; `None` is the main source.
    pub source: SourceKey,
    /// The client's SDP offer.
    pub offer: String,
    /// Preferred video codec (`vp8`, `vp9`, `h264`, `av1`); `None` accepts any.
    pub codec: Option<String>,
    /// Redundant ingest (Millicast's `priority`): among publications of one source that
    /// have priorities, viewers get the highest one that is sending; `None` ranks below
    /// every integer. Without any priority on a source, the newest flowing publication
    /// wins. See `docs/redundant-ingest.md`.
    pub priority: Option<i32>,
}

/// A request to view a stream.
#[derive(Debug, Clone)]
pub struct ViewParams {
    /// Stream name.
    pub stream: String,
    /// Source carried by the default transceivers; `None` is the main source.
    pub pinned: SourceKey,
    /// The client's SDP offer.
    pub offer: String,
    /// Sources never put in this viewer's audio slots (its own voice).
    pub excluded: Vec<String>,
    /// At most this many audio m-lines after the default ones become slots (0 = none).
    pub max_slots: usize,
}

/// A viewer's `project` command: route tracks of one source onto its transceivers.
#[derive(Debug, Clone, Default)]
pub struct ProjectParams {
    /// The source (`None` is the main source).
    pub source: SourceKey,
    /// Which track goes where; all are applied or none.
    pub mappings: Vec<Projection>,
}

/// One track of a projection.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// The source's track (`audio0`, `video0`, … as in `active`).
    pub track_id: Option<String>,
    /// Or its first track of this kind.
    pub media: Option<Kind>,
    /// The viewer's transceiver; `None` is its default transceiver of the kind. A mid the
    /// server never negotiated (the client added a transceiver and answered it itself) is
    /// sent on as the answer's first m-line of the kind.
    pub mid: Option<String>,
    /// A simulcast layer to keep to; `None` chooses automatically.
    pub layer: Option<LayerRequest>,
    /// Millicast's `promote` (lift the limits of secondary feeds); Podium puts no
    /// limits on projected tracks, so it changes nothing.
    pub promote: bool,
}

/// A simulcast layer chosen by a viewer (Millicast's `LayerInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerRequest {
    /// The encoding (the `encodingId` of a `layers` event: a rid, or the simulcast index).
    pub encoding_id: Option<String>,
    /// Spatial layer within an SVC encoding (not used: Podium forwards whole encodings).
    pub spatial_layer_id: Option<u8>,
    /// Temporal layer within the encoding (not used: Podium forwards whole encodings).
    pub temporal_layer_id: Option<u8>,
}

impl LayerRequest {
    /// True when it names no layer, which means automatic selection.
    pub fn is_automatic(&self) -> bool {
        self.encoding_id.is_none()
    }
}

/// One simulcast encoding, as a `layers` event describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDesc {
    /// The id `select` and `project … layer` take (`encodingId`): the rid, or the SIM index.
    pub encoding_id: String,
    /// Its rank among the active encodings, 0 the lowest (for an inactive one: its declared
    /// place).
    pub simulcast_idx: u8,
    /// Received bits per second (0 when inactive).
    pub bitrate: u64,
    /// Frame size of its latest keyframe, where the codec tells (VP8, VP9).
    pub size: Option<(u16, u16)>,
}

/// A codec a local publication's track carries (what its packetizer produces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalCodec {
    /// Opus, 48 kHz, stereo signalling (as every WebRTC peer negotiates it).
    Opus,
    /// H.264 in packetization mode 1 (single NAL units, STAP-A, FU-A).
    H264 {
        /// `profile-level-id` of the stream (from its SPS: profile_idc, constraint flags,
        /// level_idc); `None` is constrained baseline 3.1 (`42e01f`). Viewers receive it only
        /// if they negotiated H.264 with the same profile and constraint byte (levels may
        /// differ), so a packetizer should normalise the constrained-baseline spellings
        /// (`42c0xx`, `4240xx`) to `42e0xx`.
        profile_level_id: Option<u32>,
    },
}

/// A track of a local publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTrack {
    /// Audio or video; must agree with `codec`.
    pub kind: Kind,
    /// What the payloads are.
    pub codec: LocalCodec,
    /// RTP clock rate of `rtp_timestamp`: 48000 for Opus, 90000 for H.264 (the only rates
    /// viewers negotiate).
    pub clock_rate: u32,
}

impl LocalTrack {
    /// An Opus track (48 kHz clock).
    pub fn opus() -> Self {
        Self {
            kind: Kind::Audio,
            codec: LocalCodec::Opus,
            clock_rate: 48_000,
        }
    }

    /// An H.264 track (90 kHz clock) of the given `profile-level-id` (`None` = `42e01f`).
    pub fn h264(profile_level_id: Option<u32>) -> Self {
        Self {
            kind: Kind::Video,
            codec: LocalCodec::H264 { profile_level_id },
            clock_rate: 90_000,
        }
    }
}

/// A request to publish a source whose media is produced in-process (an RTMP ingest
/// converted to RTP payloads): no WebRTC peer, no SDP.
#[derive(Debug, Clone)]
pub struct LocalPublishParams {
    /// Stream name.
    pub stream: String,
    /// `sourceId`; `None` is the main source.
    pub source: SourceKey,
    /// Its tracks, in order; [`Sfu::push_local`] addresses them by index.
    pub tracks: Vec<LocalTrack>,
    /// Redundant ingest priority, as [`PublishParams::priority`].
    pub priority: Option<i32>,
}

/// One RTP payload of a local publication's track. Sequence numbers are assigned by the
/// core (one per packet, in push order), so a packetizer only supplies the timing.
#[derive(Debug, Clone)]
pub struct LocalPacket {
    /// RTP timestamp in the track's clock (wraps at 32 bits; unwrapped by the core).
    pub rtp_timestamp: u32,
    /// RTP marker bit (last packet of a video frame).
    pub marker: bool,
    /// Audio level in -dBov (`-127..=0`), as the `ssrc-audio-level` extension carries it;
    /// drives the audio multiplexer. `None` when unknown.
    pub audio_level: Option<i8>,
    /// Voice activity flag of the same extension.
    pub voice_activity: Option<bool>,
    /// The wall-clock instant of the packet's media time, which viewers' RTCP sender reports
    /// pair with its timestamp: give a publication's tracks one mapping from media time to
    /// the wall clock and they stay in sync, whatever each track's processing delay. `None`
    /// is the time it is pushed.
    pub captured: Option<std::time::Instant>,
    /// The RTP payload (at most 1500 bytes; larger ones are dropped and counted).
    pub payload: std::sync::Arc<[u8]>,
}

/// A peer accepted by the core.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The new peer.
    pub peer: PeerId,
    /// SDP answer to return to the client.
    pub answer: String,
}

/// Why a peer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The signaling side asked (socket closed, kick, shutdown).
    Requested,
    /// ICE consent was lost (the browser closed its peer connection or went away).
    Disconnected,
    /// ICE/DTLS did not complete in time.
    ConnectTimeout,
    /// The WebRTC engine reported a fatal error for this peer.
    Failed,
    /// The viewer connected when the stream already had its most viewers.
    StreamFull,
}

/// Something a peer's signaling connection must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A source of the viewer's stream is live.
    SourceActive {
        /// Viewer to tell.
        to: PeerId,
        /// The source.
        source: SourceKey,
        /// Its tracks.
        tracks: Vec<TrackDesc>,
    },
    /// A source of the viewer's stream ended.
    SourceInactive {
        /// Viewer to tell.
        to: PeerId,
        /// The source.
        source: SourceKey,
    },
    /// The viewer's stream has no live source any more.
    StreamStopped {
        /// Viewer to tell.
        to: PeerId,
    },
    /// An audio slot of a viewer changed source.
    SlotChanged {
        /// Viewer to tell.
        to: PeerId,
        /// The slot's transceiver mid.
        mid: String,
        /// What it carries now: `None` = nothing (emptied), `Some(None)` = the main source.
        source: Option<SourceKey>,
    },
    /// The number of viewers of the peer's stream changed.
    ViewerCount {
        /// Peer to tell.
        to: PeerId,
        /// Viewers now.
        count: usize,
    },
    /// The simulcast encodings of what a viewer's video track carries changed (or were
    /// never told): Millicast's `layers` event for that mid.
    Layers {
        /// Viewer to tell.
        to: PeerId,
        /// The track's transceiver mid.
        mid: String,
        /// Encodings arriving now, lowest first.
        active: Vec<LayerDesc>,
        /// Encodings declared but not arriving (paused by the encoder, or gone).
        inactive: Vec<LayerDesc>,
    },
    /// A peer's connection (ICE and DTLS) is up.
    Connected {
        /// The peer.
        to: PeerId,
    },
    /// A viewer (or the core itself, on a switch) needs a keyframe from a local
    /// publication, which has no RTCP to carry the request: the shell asks its packetizer
    /// (the encoder or source) for one. Throttled like RTCP requests
    /// ([`SfuConfig::keyframe_request_interval`]).
    KeyframeRequested {
        /// The local publication.
        to: PeerId,
    },
    /// A peer ended; its signaling connection should be closed.
    PeerClosed {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: CloseReason,
    },
}

/// What [`Sfu::poll_output`] returns.
#[derive(Debug)]
pub enum Output {
    /// A datagram to send on the shared UDP socket.
    Transmit(Transmit),
    /// An event for the signaling layer.
    Event(MediaEvent),
    /// Nothing more now; call [`Sfu::handle_timeout`] at this instant at the latest.
    Timeout(Instant),
}

/// Why a publish or view was refused. Messages are safe to send to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The SDP offer could not be parsed or accepted.
    #[error("Invalid SDP offer: {0}")]
    InvalidOffer(String),
    /// The offer has no media this command can use.
    #[error("SDP offer has no usable media: {0}")]
    NoUsableMedia(&'static str),
    /// The requested codec is not supported.
    #[error("Unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// A configured cap (viewers or sources per stream) is reached.
    #[error("{0}")]
    LimitReached(String),
    /// No such publication (it ended, or the id names a viewer).
    #[error("No such publication")]
    UnknownPeer,
    /// A viewer's request cannot be carried out (nothing changed).
    #[error("{0}")]
    InvalidRequest(String),
}
