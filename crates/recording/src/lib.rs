//! Podium's recording depacketizers: the RTP packets of a recorded track
//! ([`podium_media::RecordedPacket`], from the SFU's recording tap) in, whole coded frames
//! out, ready for a muxer (WebM, MP4) written on top of this crate.
//!
//! Like the media core, this crate is sans-IO: it reads no clock (time is the packets'
//! `arrival`, or what the caller passes to [`TrackDepacketizer::advance`]), opens no file,
//! spawns no thread. Memory is bounded: a reorder window and a frame size cap.
//!
//! # Pieces
//!
//! * [`TrackDepacketizer`]: everything for one [`RecordTrack`]: reorders, picks the
//!   depacketizer by payload type, assembles frames, counts ([`TrackStats`]). Push packets,
//!   poll frames, flush at the end:
//!
//!   ```no_run
//!   # use podium_recording::TrackDepacketizer;
//!   # fn demo(track: &podium_media::RecordTrack, packets: Vec<podium_media::RecordedPacket>) {
//!   let mut depack = TrackDepacketizer::new(track);
//!   for pkt in &packets {
//!       depack.push(pkt);
//!       while let Some(frame) = depack.poll_frame() { /* mux frame */ }
//!   }
//!   depack.flush();
//!   while let Some(frame) = depack.poll_frame() { /* mux frame */ }
//!   # }
//!   ```
//!
//! * [`ReorderBuffer`]: arrival order in, sequence order out. It waits for a missing packet
//!   until either `max_packets` later sequence numbers are pending or the oldest waiting
//!   packet has waited `max_delay` (by arrival times), then reports the gap as
//!   [`Released::Lost`] and moves on. Duplicates and packets older than what was already
//!   released are dropped and counted. If the numbering jumps back for good (a window's
//!   worth of "late" packets in a row) it resynchronises instead of dropping forever. The
//!   first packet sets where the sequence starts: one that was overtaken at the very start
//!   counts as late (the video waits for a keyframe at the start anyway).
//! * One depacketizer per codec, usable on their own through [`Depacketizer`] (they also
//!   see losses themselves, as sequence number gaps):
//!   * [`OpusDepacketizer`] (RFC 7587): one packet is one frame, always a keyframe.
//!   * [`H264Depacketizer`] (RFC 6184, packetization modes 0 and 1): single NAL units,
//!     STAP-A and FU-A; a frame is the NAL units of one timestamp, written AVCC-style
//!     (4-byte big-endian lengths). SPS and PPS stay in the frame too (in-band parameter
//!     sets are legal in MP4 and Matroska, and follow a resolution change); the latest ones
//!     are kept for the `avcC` box ([`H264Depacketizer::parameter_sets`],
//!     [`avc_decoder_configuration_record`], [`parse_sps`] for the size). Parameter sets or
//!     SEI sent with a timestamp of their own go in front of the next picture instead of
//!     making a frame without one. Access unit delimiters and filler data are dropped.
//!     A keyframe is an access unit with an IDR slice: a stream that only ever refreshes
//!     gradually (recovery point SEI, no IDR) never starts. STAP-B, MTAP16/24 and FU-B
//!     (interleaved mode) are refused: counted as errors, their frame dropped.
//!   * [`Vp8Depacketizer`] (RFC 7741): the payload descriptor is stripped; frame size from
//!     keyframes.
//!   * [`Vp9Depacketizer`] (RFC 9628): descriptor, flexible and non-flexible mode and the
//!     scalability structure parsed. **SVC choice:** only spatial layer 0 is kept (every
//!     temporal layer is); a non-SVC stream has nothing else. Recording all spatial layers
//!     would need them joined into a superframe; the lowest layer is the one every decoder
//!     can play alone. A loss in any layer counts (the packets of a picture share one
//!     sequence), so an SVC recording may wait for a keyframe a little more than needed.
//!   * [`Av1Depacketizer`] (AOM's RTP payload format for AV1): OBU elements reassembled
//!     across packets; a temporal unit is written in the low overhead bitstream format
//!     (every OBU with `obu_has_size_field = 1`, extension headers kept), without temporal
//!     delimiters, tile list or padding OBUs: what MP4 (`av01`) and Matroska (`V_AV1`)
//!     store. The latest sequence header OBU is kept
//!     ([`Av1Depacketizer::sequence_header`]) and parsed ([`parse_av1_sequence_header`])
//!     for the size and the `av1C` record.
//!
//! # Frames, losses and keyframes
//!
//! A [`Frame`] carries the extended RTP timestamp of its packets (divide by the payload's
//! clock rate for seconds), the earliest arrival among them, its payload type and whether a
//! decoder can start there. A video frame ends at the RTP marker, or when the timestamp
//! changes (senders that forget the marker).
//!
//! Malformed input never panics: the packet's frame is dropped and counted as an error.
//! After a loss or a dropped frame, video depacketizers drop every frame until the next
//! keyframe (later frames would reference what is missing) and say so with
//! `waiting_for_keyframe()`, so a recorder can ask the publisher for one. They start in that
//! state too, as a recording may begin mid-stream. A frame that begins right after a gap
//! (or with the very first packet) is kept only if that packet visibly starts a frame
//! (VP8 `S` with `PID` 0, VP9 `B` on layer 0, AV1 `N` or a leading sequence header or
//! temporal delimiter, H.264 a slice with `first_mb_in_slice == 0`, a parameter set, SEI or
//! delimiter); otherwise its head may be missing and it is dropped (as a damaged frame, not
//! an error).
//!
//! [`TrackDepacketizer::flush`] releases what the reorder buffer holds (gaps count as
//! lost) and drops a frame still waiting for its marker: it cannot be known to be whole.
//!
//! # Refused
//!
//! H.265 (and any codec [`Depacketizer::new`] returns `None` for): its packets are counted
//! as ignored. Packets with a payload type the track does not list (RTX, RED, FEC, comfort
//! noise) are ignored and counted too; they still take their sequence number, so they do not
//! look like losses. One track must be one RTP stream: packets of several SSRCs mixed in one
//! track (simulcast) would look like constant reordering.
#![deny(missing_docs)]

mod assembler;
mod av1;
mod av1_seq;
mod bits;
mod h264;
mod h264_sps;
mod opus;
mod reorder;
#[cfg(test)]
mod testutil;
mod track;
mod vp8;
mod vp9;

use std::time::Instant;

pub use av1::Av1Depacketizer;
pub use av1_seq::{parse_av1_sequence_header, Av1SequenceHeader};
pub use h264::H264Depacketizer;
pub use h264_sps::{avc_decoder_configuration_record, parse_sps, Sps};
pub use opus::OpusDepacketizer;
pub use podium_media::{RecordCodec, RecordPayload, RecordTrack, RecordedPacket};
pub use reorder::{Pushed, Released, ReorderBuffer, ReorderConfig, ReorderStats};
pub use track::{Depacketizer, TrackDepacketizer, TrackStats};
pub use vp8::Vp8Depacketizer;
pub use vp9::Vp9Depacketizer;

/// The largest frame assembled, in bytes: a stream of packets that never ends a frame
/// must not grow memory without bound. An 8K intra frame is far below.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// One RTP packet handed to a depacketizer (after reordering).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Payload type.
    pub pt: u8,
    /// Extended sequence number: a gap means packets were lost.
    pub seq: u64,
    /// Extended RTP timestamp.
    pub ts: u64,
    /// RTP marker (last packet of a video frame).
    pub marker: bool,
    /// When it arrived.
    pub arrival: Instant,
    /// RTP payload.
    pub payload: &'a [u8],
}

impl<'a> From<&'a RecordedPacket> for Packet<'a> {
    fn from(p: &'a RecordedPacket) -> Self {
        Self {
            pt: p.pt,
            seq: p.seq,
            ts: p.ts,
            marker: p.marker,
            arrival: p.arrival,
            payload: &p.payload,
        }
    }
}

/// One whole coded frame (an audio packet, a video picture or AV1 temporal unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Payload type of its packets (see [`TrackDepacketizer::payload`] for the codec).
    pub pt: u8,
    /// Extended RTP timestamp.
    pub ts: u64,
    /// Earliest arrival among its packets.
    pub arrival: Instant,
    /// A decoder can start here (always for audio).
    pub keyframe: bool,
    /// The coded frame: Opus packet, AVCC NAL units (4-byte lengths), VP8 or VP9 frame,
    /// AV1 temporal unit (low overhead format).
    pub data: Vec<u8>,
}

/// Why a packet or frame was refused. Depacketizers count these and drop the frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepacketizeError {
    /// A packet without payload.
    #[error("empty payload")]
    Empty,
    /// A header or length field ran past the end of the payload.
    #[error("payload truncated")]
    Truncated,
    /// A valid packetization this crate does not handle.
    #[error("unsupported packetization: {0}")]
    Unsupported(&'static str),
    /// A field with a value the specification forbids.
    #[error("malformed payload: {0}")]
    Malformed(&'static str),
    /// A frame's first packet is missing (a continuation without a start).
    #[error("frame without its start")]
    MissingStart,
    /// A frame ended inside a fragmented unit.
    #[error("frame ended inside a fragment")]
    IncompleteFragment,
    /// A frame grew past [`MAX_FRAME_BYTES`].
    #[error("frame larger than {MAX_FRAME_BYTES} bytes")]
    TooLarge,
}

impl From<bits::Truncated> for DepacketizeError {
    fn from(_: bits::Truncated) -> Self {
        Self::Truncated
    }
}

/// A depacketizer's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DepacketizerStats {
    /// Frames output.
    pub frames: u64,
    /// Frames dropped: damaged by a loss or an error, or waiting for a keyframe.
    pub dropped_frames: u64,
    /// Malformed or unsupported packets and frames.
    pub errors: u64,
    /// Sequence number gaps seen (each one or more lost packets).
    pub gaps: u64,
}

impl DepacketizerStats {
    fn add(&mut self, other: &Self) {
        self.frames += other.frames;
        self.dropped_frames += other.dropped_frames;
        self.errors += other.errors;
        self.gaps += other.gaps;
    }
}
