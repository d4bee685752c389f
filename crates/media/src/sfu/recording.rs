//! The recording tap: a recorded publication's packets, as they arrive, copied out to the
//! shell (which depacketizes and writes them to a file on another thread). The core only
//! flags publications and queues shared payloads; it never blocks or touches a file.

use std::sync::Arc;
use std::time::Instant;

use str0m::format::Codec;
use str0m::media::KeyframeRequestKind;

use super::Sfu;
use crate::peer::{Publication, Role};
use crate::{Kind, MediaError, PeerId};

/// A codec a recorded track may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordCodec {
    /// Opus (48 kHz).
    Opus {
        /// Channels announced in SDP (2 for WebRTC's `opus/48000/2`).
        channels: u8,
    },
    /// VP8.
    Vp8,
    /// VP9.
    Vp9,
    /// AV1.
    Av1,
    /// H.264 in RFC 6184 packetization mode 0 or 1.
    H264 {
        /// `profile-level-id`, if the SDP gave one.
        profile_level_id: Option<u32>,
    },
    /// H.265.
    H265,
}

/// One of a recorded track's payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPayload {
    /// RTP payload type of the publisher's packets.
    pub pt: u8,
    /// What it carries.
    pub codec: RecordCodec,
    /// RTP clock rate.
    pub clock_rate: u32,
}

/// A recorded publication's track, in the order [`RecordedPacket::track_idx`] counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTrack {
    /// Audio or video.
    pub kind: Kind,
    /// Its media payload types (RTX, RED, FEC and comfort noise left out).
    pub payloads: Vec<RecordPayload>,
}

/// What the tap hands out.
#[derive(Debug, Clone)]
pub enum Recorded {
    /// Recording starts (before its first packet): the publication's tracks.
    Started {
        /// The publication.
        publication: PeerId,
        /// Its tracks, in the order [`RecordedPacket::track_idx`] counts.
        tracks: Vec<RecordTrack>,
    },
    /// One packet of a recorded publication (in arrival order; the sequence number and
    /// timestamp are extended, so reordering and wraps are visible).
    Packet(RecordedPacket),
    /// The publication ended or its recording was stopped (after its last packet): the
    /// recording is complete.
    Ended {
        /// The publication.
        publication: PeerId,
    },
}

/// One RTP packet of a recorded publication.
#[derive(Debug, Clone)]
pub struct RecordedPacket {
    /// The publication.
    pub publication: PeerId,
    /// Its track (see [`Sfu::start_recording`]).
    pub track_idx: usize,
    /// Payload type.
    pub pt: u8,
    /// Extended sequence number.
    pub seq: u64,
    /// Extended RTP timestamp.
    pub ts: u64,
    /// RTP marker.
    pub marker: bool,
    /// When it arrived.
    pub arrival: Instant,
    /// Its RFC 6464 audio level, if the sender set one (0 = loudest, −127 = silence).
    pub audio_level: Option<i8>,
    /// Its RFC 6464 voice-activity flag, if the sender set one.
    pub voice_activity: Option<bool>,
    /// The RTP payload (shared with the forwarding path).
    pub payload: Arc<[u8]>,
}

impl Sfu {
    /// Starts copying publication `peer`'s packets out ([`Sfu::take_recorded`]); returns
    /// its tracks. Starting again is harmless.
    pub fn start_recording(&mut self, peer: PeerId) -> Result<Vec<RecordTrack>, MediaError> {
        let publication = self.publication_mut(peer).ok_or(MediaError::UnknownPeer)?;
        let tracks: Vec<RecordTrack> = publication.tracks.iter().map(record_track).collect();
        if !std::mem::replace(&mut publication.recording, true) {
            self.recorded.push(Recorded::Started {
                publication: peer,
                tracks: tracks.clone(),
            });
            // The file starts at a keyframe: ask for one rather than wait for the next.
            if tracks.iter().any(|t| t.kind == Kind::Video) {
                let now = self.last_now;
                self.request_keyframe(now, peer, KeyframeRequestKind::Fir);
            }
        }
        Ok(tracks)
    }

    /// Stops copying `peer`'s packets; the shell finishes its file. Unknown peers are
    /// ignored (the publication may have just ended, which ends its recording anyway).
    pub fn stop_recording(&mut self, peer: PeerId) {
        let was = self
            .publication_mut(peer)
            .is_some_and(|p| std::mem::replace(&mut p.recording, false));
        if was {
            self.recorded.push(Recorded::Ended { publication: peer });
        }
    }

    /// What the tap collected since the last call.
    pub fn take_recorded(&mut self) -> std::vec::Drain<'_, Recorded> {
        self.recorded.drain(..)
    }

    /// The publication of `peer`, WebRTC or local, to update.
    pub(super) fn publication_mut(&mut self, peer: PeerId) -> Option<&mut Publication> {
        if let Some(local) = self.locals.get_mut(&peer) {
            return Some(&mut local.publication);
        }
        match &mut self.peers.get_mut(&peer)?.role {
            Role::Publisher(p) => Some(p),
            Role::Viewer(_) => None,
        }
    }
}

/// A publication's track as a recorder sees it.
fn record_track(track: &crate::peer::InTrack) -> RecordTrack {
    let payloads = track
        .params
        .iter()
        .filter_map(|p| {
            let spec = p.spec();
            let codec = match spec.codec {
                Codec::Opus => RecordCodec::Opus {
                    channels: spec.channels.unwrap_or(2),
                },
                Codec::Vp8 => RecordCodec::Vp8,
                Codec::Vp9 => RecordCodec::Vp9,
                Codec::Av1 => RecordCodec::Av1,
                Codec::H264 => RecordCodec::H264 {
                    profile_level_id: spec.format.profile_level_id,
                },
                Codec::H265 => RecordCodec::H265,
                _ => return None,
            };
            Some(RecordPayload {
                pt: *p.pt(),
                codec,
                clock_rate: spec.clock_rate.get(),
            })
        })
        .collect();
    RecordTrack {
        kind: track.kind,
        payloads,
    }
}
