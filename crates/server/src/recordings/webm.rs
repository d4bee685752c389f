//! WebM through libwebm (the `webm` crate): VP8, VP9 or AV1 video and Opus audio.
//!
//! libwebm takes frames in one non-decreasing time order across all tracks, but a video
//! frame is complete later than the audio captured with it, so frames wait in a short
//! interleaving window ([`INTERLEAVE_NS`]) and leave oldest first.

use std::collections::BTreeMap;
use std::io::{Seek, Write};

use webm::mux::{AudioCodecId, AudioTrack, Segment, SegmentBuilder, SegmentMode, VideoCodecId};
use webm::mux::{VideoTrack, Writer};

/// How long frames wait to be put in one time order.
const INTERLEAVE_NS: u64 = 500_000_000;

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("WebM: {e}"))
}

/// The video track of a WebM file.
pub struct VideoSetup {
    pub codec: VideoCodecId,
    pub width: u32,
    pub height: u32,
    /// AV1's `av1C` record; none for VP8 and VP9.
    pub codec_private: Option<Vec<u8>>,
}

/// One WebM file being written.
pub struct WebmWriter<W: Write + Seek> {
    segment: Segment<W>,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
    /// (time, arrival order) → (video?, keyframe, data).
    window: BTreeMap<(u64, u64), (bool, bool, Vec<u8>)>,
    order: u64,
    newest: u64,
    last_written: u64,
}

impl<W: Write + Seek> WebmWriter<W> {
    /// A file with the given tracks; `audio` is the Opus channel count.
    pub fn new(out: W, video: Option<VideoSetup>, audio: Option<u8>) -> std::io::Result<Self> {
        let mut builder = SegmentBuilder::new(Writer::new(out))
            .map_err(io)?
            .set_mode(SegmentMode::File)
            .map_err(io)?
            .set_writing_app("Podium")
            .map_err(io)?;
        let mut video_track = None;
        if let Some(v) = video {
            let (b, t) = builder
                .add_video_track(v.width, v.height, v.codec, None)
                .map_err(io)?;
            builder = match &v.codec_private {
                Some(cp) => b.set_codec_private(t, cp).map_err(io)?,
                None => b,
            };
            video_track = Some(t);
        }
        let mut audio_track = None;
        if let Some(channels) = audio {
            let (b, t) = builder
                .add_audio_track(48_000, u32::from(channels), AudioCodecId::Opus, None)
                .map_err(io)?;
            builder = b.set_codec_private(t, &opus_head(channels)).map_err(io)?;
            audio_track = Some(t);
        }
        Ok(Self {
            segment: builder.build(),
            video: video_track,
            audio: audio_track,
            window: BTreeMap::new(),
            order: 0,
            newest: 0,
            last_written: 0,
        })
    }

    /// A frame at `ns` from the file's start.
    pub fn push(
        &mut self,
        video: bool,
        ns: u64,
        keyframe: bool,
        data: Vec<u8>,
    ) -> std::io::Result<()> {
        self.order += 1;
        self.newest = self.newest.max(ns);
        self.window
            .insert((ns, self.order), (video, keyframe, data));
        let until = self.newest.saturating_sub(INTERLEAVE_NS);
        self.release(Some(until))
    }

    fn release(&mut self, until: Option<u64>) -> std::io::Result<()> {
        while let Some(entry) = self.window.first_entry() {
            let (ns, _) = *entry.key();
            if until.is_some_and(|u| ns > u) {
                break;
            }
            let (video, keyframe, data) = entry.remove();
            // A frame later than the window allowed is put at the last time written.
            let ns = ns.max(self.last_written);
            self.last_written = ns;
            let written = match (video, self.video, self.audio) {
                (true, Some(t), _) => self.segment.add_frame(t, &data, ns, keyframe),
                (false, _, Some(t)) => self.segment.add_frame(t, &data, ns, true),
                _ => Ok(()),
            };
            written.map_err(io)?;
        }
        Ok(())
    }

    /// Writes what waits, the cues and the duration; returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.release(None)?;
        match self.segment.finalize(None) {
            Ok(w) => Ok(w.into_inner()),
            Err(_) => Err(io("finalizing failed")),
        }
    }
}

/// The `OpusHead` (RFC 7845 §5.1) that WebM's CodecPrivate carries: WebRTC sends none.
/// Channel mapping family 0 (mono or stereo), no pre-skip (the first packets are real audio).
pub fn opus_head(channels: u8) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1); // version
    head.push(channels.clamp(1, 2));
    head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // mapping family
    head
}
