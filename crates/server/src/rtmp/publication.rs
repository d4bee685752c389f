//! An RTMP publication in the media workers: a local publication whose tracks follow the
//! pipeline's announcements, and the wall clock its packets are stamped with.

use std::time::{Duration, Instant};

use podium_ingest::pipeline::{MediaKind, MediaPacket, TrackSet};
use podium_media::{LocalPacket, LocalTrack, MediaEvent, PeerId};
use tokio::sync::mpsc;

use crate::media_handle::{MediaHandle, PushError};

/// A live local publication.
pub(super) struct Publication {
    pub peer: PeerId,
    tracks: TrackSet,
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
}

/// Why a publication could not be opened.
pub(super) struct OpenFailed(pub String);

impl Publication {
    /// Publishes `tracks` as `source` of `stream`.
    pub async fn open(
        media: &MediaHandle,
        stream: &str,
        source: Option<String>,
        priority: Option<i32>,
        tracks: TrackSet,
    ) -> Result<Self, OpenFailed> {
        let mut local = Vec::new();
        if tracks.audio {
            local.push(LocalTrack::opus());
        }
        if let Some(profile) = tracks.video {
            local.push(LocalTrack::h264(Some(profile)));
        }
        let (peer, events) = media
            .publish_local(stream.to_owned(), source, priority, local)
            .await
            .map_err(|_| OpenFailed("the server is shutting down".into()))?
            .map_err(|e| OpenFailed(e.to_string()))?;
        Ok(Self {
            peer,
            tracks,
            events,
        })
    }

    /// The index of `kind`'s track (audio first, as opened).
    fn index(&self, kind: MediaKind) -> Option<usize> {
        match kind {
            MediaKind::Audio => self.tracks.audio.then_some(0),
            MediaKind::Video => self.tracks.video.map(|_| usize::from(self.tracks.audio)),
        }
    }

    /// Queues `packet` for the worker; `captured` is the wall-clock instant of its media time.
    pub fn push(
        &self,
        media: &MediaHandle,
        packet: MediaPacket,
        captured: Instant,
    ) -> Result<(), PushError> {
        let Some(idx) = self.index(packet.kind) else {
            return Ok(());
        };
        media.push_local(
            self.peer,
            idx,
            LocalPacket {
                rtp_timestamp: packet.rtp_timestamp,
                marker: packet.marker,
                audio_level: packet.audio_level,
                voice_activity: packet.voice_activity,
                captured: Some(captured),
                payload: packet.payload.into(),
            },
        )
    }
}

/// Maps the connection's media time (ms on the FLV axis, shared by audio and video) to the
/// wall clock. Both tracks' packets are stamped from the same mapping, so RTCP sender
/// reports keep them in sync whatever the transcoder's delay on audio. The mapping is
/// anchored on the first packet and re-anchored when the encoder's clock runs away from the
/// wall clock (a pause, a timestamp reset, an encoder running faster than real time).
#[derive(Debug, Default)]
pub(super) struct MediaClock {
    anchor: Option<(Instant, i64)>,
}

/// How far media time may drift from the wall clock before the mapping is re-anchored.
const MAX_DRIFT: Duration = Duration::from_secs(1);

impl MediaClock {
    /// The wall-clock instant of media time `pts_ms`, seen at `now`.
    pub fn captured(&mut self, now: Instant, pts_ms: i64) -> Instant {
        if let Some((at, ms)) = self.anchor {
            let offset = pts_ms.saturating_sub(ms);
            let mapped = if offset >= 0 {
                at.checked_add(Duration::from_millis(offset.unsigned_abs()))
            } else {
                at.checked_sub(Duration::from_millis(offset.unsigned_abs()))
            };
            if let Some(mapped) = mapped {
                let drift = if mapped > now {
                    mapped - now
                } else {
                    now - mapped
                };
                if drift <= MAX_DRIFT {
                    return mapped;
                }
            }
        }
        self.anchor = Some((now, pts_ms));
        now
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn one_mapping_for_both_tracks_until_it_drifts() {
        let t0 = Instant::now();
        let mut clock = MediaClock::default();
        assert_eq!(clock.captured(t0, 1000), t0);
        // Audio comes out of the transcoder 40 ms late: stamped with its media time.
        let late = t0 + Duration::from_millis(60);
        assert_eq!(clock.captured(late, 1020), t0 + Duration::from_millis(20));
        // Video a little early.
        assert_eq!(clock.captured(t0, 1033), t0 + Duration::from_millis(33));
        // The encoder's clock jumps 5 s ahead: re-anchored on now.
        let now = t0 + Duration::from_millis(100);
        assert_eq!(clock.captured(now, 6100), now);
        assert_eq!(clock.captured(now, 6090), now - Duration::from_millis(10));
    }
}
