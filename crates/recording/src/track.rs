//! One recorded track: reorder buffer, depacketizer chosen by payload type, counters.

use std::collections::VecDeque;
use std::time::Instant;

use podium_media::{Kind, RecordCodec, RecordPayload, RecordTrack, RecordedPacket};

use crate::reorder::{Pushed, Released, ReorderBuffer, ReorderConfig};
use crate::{
    Av1Depacketizer, DepacketizeError, DepacketizerStats, Frame, H264Depacketizer,
    OpusDepacketizer, Packet, Vp8Depacketizer, Vp9Depacketizer,
};

/// A depacketizer for one codec.
#[derive(Debug)]
pub enum Depacketizer {
    /// Opus.
    Opus(OpusDepacketizer),
    /// H.264.
    H264(H264Depacketizer),
    /// VP8.
    Vp8(Vp8Depacketizer),
    /// VP9.
    Vp9(Vp9Depacketizer),
    /// AV1.
    Av1(Av1Depacketizer),
}

macro_rules! each {
    ($self:expr, $d:ident => $body:expr) => {
        match $self {
            Depacketizer::Opus($d) => $body,
            Depacketizer::H264($d) => $body,
            Depacketizer::Vp8($d) => $body,
            Depacketizer::Vp9($d) => $body,
            Depacketizer::Av1($d) => $body,
        }
    };
}

impl Depacketizer {
    /// The depacketizer for `codec`; `None` for codecs this crate does not handle (H.265).
    pub fn new(codec: RecordCodec) -> Option<Self> {
        Some(match codec {
            RecordCodec::Opus { .. } => Self::Opus(OpusDepacketizer::new()),
            RecordCodec::H264 { .. } => Self::H264(H264Depacketizer::new()),
            RecordCodec::Vp8 => Self::Vp8(Vp8Depacketizer::new()),
            RecordCodec::Vp9 => Self::Vp9(Vp9Depacketizer::new()),
            RecordCodec::Av1 => Self::Av1(Av1Depacketizer::new()),
            RecordCodec::H265 => return None,
        })
    }

    /// Whether [`Depacketizer::new`] handles `codec`.
    pub fn supports(codec: RecordCodec) -> bool {
        !matches!(codec, RecordCodec::H265)
    }

    /// Takes one packet in sequence order; finished frames are appended to `out`.
    pub fn push(&mut self, pkt: &Packet<'_>, out: &mut Vec<Frame>) -> Result<(), DepacketizeError> {
        each!(self, d => d.push(pkt, out))
    }

    /// A packet of the same RTP stream with a payload type to ignore.
    pub fn skip(&mut self, seq: u64) {
        each!(self, d => d.skip(seq))
    }

    /// The end of the stream: drops a frame that has not seen its marker.
    pub fn flush(&mut self) {
        each!(self, d => d.flush())
    }

    /// Frames are dropped until a keyframe (never for audio).
    pub fn waiting_for_keyframe(&self) -> bool {
        each!(self, d => d.waiting_for_keyframe())
    }

    /// The counters.
    pub fn stats(&self) -> DepacketizerStats {
        each!(self, d => d.stats())
    }

    /// The video size, once known from the stream (SPS, keyframe or sequence header).
    pub fn size(&self) -> Option<(u32, u32)> {
        match self {
            Self::Opus(_) => None,
            Self::H264(d) => d.size(),
            Self::Vp8(d) => d.size(),
            Self::Vp9(d) => d.size(),
            Self::Av1(d) => d.size(),
        }
    }
}

/// A [`TrackDepacketizer`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackStats {
    /// Packets pushed.
    pub packets: u64,
    /// Packets dropped by the reorder buffer as duplicates.
    pub duplicates: u64,
    /// Packets dropped by the reorder buffer as too late (or retransmitted again).
    pub late: u64,
    /// Sequence numbers given up as lost.
    pub lost: u64,
    /// Packets ignored: a payload type the track does not list, or an unsupported codec.
    pub ignored: u64,
    /// Frames output.
    pub frames: u64,
    /// Frames dropped (damaged, or waiting for a keyframe).
    pub dropped_frames: u64,
    /// Malformed or unsupported packets and frames.
    pub errors: u64,
}

/// Everything between a recorded track's packets and its frames. See the crate docs.
#[derive(Debug)]
pub struct TrackDepacketizer {
    kind: Kind,
    payloads: Vec<RecordPayload>,
    reorder: ReorderBuffer<RecordedPacket>,
    /// The payload type being depacketized and its depacketizer.
    active: Option<(u8, Depacketizer)>,
    /// Counters of depacketizers replaced by a payload type change.
    retired: DepacketizerStats,
    frames: VecDeque<Frame>,
    scratch: Vec<Frame>,
    packets: u64,
    ignored: u64,
    last_error: Option<DepacketizeError>,
}

impl TrackDepacketizer {
    /// A depacketizer for `track` with the default reorder window.
    pub fn new(track: &RecordTrack) -> Self {
        Self::with_config(track, ReorderConfig::default())
    }

    /// A depacketizer for `track` with the given reorder window.
    pub fn with_config(track: &RecordTrack, config: ReorderConfig) -> Self {
        Self {
            kind: track.kind,
            payloads: track.payloads.clone(),
            reorder: ReorderBuffer::new(config),
            active: None,
            retired: DepacketizerStats::default(),
            frames: VecDeque::new(),
            scratch: Vec::new(),
            packets: 0,
            ignored: 0,
            last_error: None,
        }
    }

    /// Audio or video.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether any of the track's payload types can be depacketized: if not, every packet
    /// will be ignored and the recorder may as well leave the track out.
    pub fn is_supported(&self) -> bool {
        self.payloads
            .iter()
            .any(|p| Depacketizer::supports(p.codec))
    }

    /// The track's payload type `pt` (a [`Frame::pt`]), with its codec and clock rate.
    pub fn payload(&self, pt: u8) -> Option<&RecordPayload> {
        self.payloads.iter().find(|p| p.pt == pt)
    }

    /// Takes one packet of the track, in arrival order. Then [`poll_frame`](Self::poll_frame).
    pub fn push(&mut self, pkt: &RecordedPacket) -> Pushed {
        self.packets += 1;
        let pushed = self.reorder.push(pkt.seq, pkt.arrival, pkt.clone());
        self.drain_reorder();
        pushed
    }

    /// Moves time forward without a packet, so a gap is given up after its delay even if
    /// the stream pauses. See [`deadline`](Self::deadline).
    pub fn advance(&mut self, now: Instant) {
        self.reorder.advance(now);
        self.drain_reorder();
    }

    /// When [`advance`](Self::advance) would release packets waiting behind a gap.
    pub fn deadline(&self) -> Option<Instant> {
        self.reorder.deadline()
    }

    /// The next finished frame.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.frames.pop_front()
    }

    /// The end of the track: releases what the reorder buffer holds (gaps count as lost)
    /// and drops a frame that has not seen its end. Then poll the last frames.
    pub fn flush(&mut self) {
        self.reorder.flush();
        self.drain_reorder();
        if let Some((_, d)) = self.active.as_mut() {
            d.flush();
        }
    }

    /// Video frames are being dropped until a keyframe (after a loss or an error, and
    /// before the first one): a recorder may ask the publisher for one.
    pub fn waiting_for_keyframe(&self) -> bool {
        match &self.active {
            Some((_, d)) => d.waiting_for_keyframe(),
            None => self.kind == Kind::Video,
        }
    }

    /// The depacketizer of the payload type in use, for codec details (H.264 parameter
    /// sets, AV1 sequence header, size).
    pub fn depacketizer(&self) -> Option<&Depacketizer> {
        self.active.as_ref().map(|(_, d)| d)
    }

    /// The payload type in use.
    pub fn active_payload(&self) -> Option<&RecordPayload> {
        self.active.as_ref().and_then(|(pt, _)| self.payload(*pt))
    }

    /// The latest error, taken (for a log line; every error is also counted).
    pub fn take_error(&mut self) -> Option<DepacketizeError> {
        self.last_error.take()
    }

    /// The counters.
    pub fn stats(&self) -> TrackStats {
        let mut depack = self.retired;
        if let Some((_, d)) = &self.active {
            depack.add(&d.stats());
        }
        let reorder = self.reorder.stats();
        TrackStats {
            packets: self.packets,
            duplicates: reorder.duplicates,
            late: reorder.late,
            lost: reorder.lost,
            ignored: self.ignored,
            frames: depack.frames,
            dropped_frames: depack.dropped_frames,
            errors: depack.errors,
        }
    }

    fn drain_reorder(&mut self) {
        while let Some(released) = self.reorder.pop() {
            // Losses reach the depacketizer as a sequence gap; the reorder buffer counts them.
            if let Released::Packet { item, .. } = released {
                self.deliver(&item);
            }
        }
    }

    fn deliver(&mut self, pkt: &RecordedPacket) {
        let codec = self
            .payload(pkt.pt)
            .map(|p| p.codec)
            .filter(|c| Depacketizer::supports(*c));
        let Some(codec) = codec else {
            self.ignored += 1;
            if let Some((_, d)) = self.active.as_mut() {
                d.skip(pkt.seq);
            }
            return;
        };
        if self.active.as_ref().is_none_or(|(pt, _)| *pt != pkt.pt) {
            // A new payload type (the first, or the publisher switched codec): start over.
            if let Some((_, mut old)) = self.active.take() {
                old.flush();
                self.retired.add(&old.stats());
            }
            self.active = Depacketizer::new(codec).map(|d| (pkt.pt, d));
        }
        let Some((_, d)) = self.active.as_mut() else {
            return;
        };
        if let Err(e) = d.push(&Packet::from(pkt), &mut self.scratch) {
            self.last_error = Some(e);
        }
        self.frames.extend(self.scratch.drain(..));
    }
}

#[cfg(test)]
#[path = "track_tests.rs"]
mod tests;
