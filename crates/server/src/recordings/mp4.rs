//! Fragmented MP4 (ISO BMFF with `moof` + `mdat` fragments) through `shiguredo_mp4`: a file
//! that stays playable up to its last fragment if the server dies, with memory bounded by one
//! fragment whatever the length.
//!
//! MP4 stores sample durations, not timestamps, so each track holds its latest frame until the
//! next one gives its duration. Both tracks start at the first video keyframe (earlier audio
//! is dropped by the sink), which leaves them at most one audio frame apart. Opus silences
//! (DTX) are filled with 20 ms silence frames: a duration stretched over a gap is dropped by
//! common decoders, which would shift everything after it.

use std::io::Write;
use std::num::NonZeroU32;

use shiguredo_mp4::boxes::SampleEntry;
use shiguredo_mp4::mux::{Fmp4SegmentMuxer, Sample};
use shiguredo_mp4::TrackKind;

/// Video timescale: the RTP clock of every WebRTC video codec, so durations are exact.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// Opus timescale.
pub const AUDIO_TIMESCALE: u32 = 48_000;
/// A fragment is cut at the first video keyframe after this much media (or at 5× without
/// keyframes, and by time alone for audio-only files).
const FRAGMENT_MS: u64 = 2_000;
/// An Opus frame of 20 ms of silence (CELT, fullband, mono: stereo decoders upmix it).
const OPUS_SILENCE: [u8; 3] = [0xf8, 0xff, 0xfe];
const OPUS_FRAME: u64 = 960;
/// How long the first fragment may wait for a track that has not sent yet.
const FIRST_FRAGMENT_WAIT_MS: u64 = 10_000;

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Video = 0,
    Audio = 1,
}

struct Held {
    ts: u64,
    keyframe: bool,
    data: Vec<u8>,
}

#[derive(Default)]
struct Fragment {
    samples: Vec<Sample>,
    payload: Vec<u8>,
    /// Media time in the fragment, in the track's timescale.
    duration: u64,
}

/// One fragmented MP4 file being written.
pub struct Mp4Writer<W: Write> {
    out: W,
    muxer: Fmp4SegmentMuxer,
    entries: [Option<SampleEntry>; 2],
    entry_sent: [bool; 2],
    held: [Option<Held>; 2],
    fragments: [Fragment; 2],
    last_video_duration: u32,
    header_written: bool,
    bytes: u64,
}

impl<W: Write> Mp4Writer<W> {
    /// A file with a video track (`video`'s sample entry: avc1, vp08, …), an audio track,
    /// or both.
    pub fn new(
        out: W,
        video: Option<SampleEntry>,
        audio: Option<SampleEntry>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            out,
            muxer: Fmp4SegmentMuxer::new().map_err(io)?,
            entries: [video, audio],
            entry_sent: [false; 2],
            held: [None, None],
            fragments: [Fragment::default(), Fragment::default()],
            last_video_duration: VIDEO_TIMESCALE / 30,
            header_written: false,
            bytes: 0,
        })
    }

    /// A video frame at `ts` (90 kHz, from the file's start).
    pub fn push_video(&mut self, ts: u64, keyframe: bool, data: Vec<u8>) -> std::io::Result<()> {
        let next = Held { ts, keyframe, data };
        if let Some(prev) = self.held[Kind::Video as usize].replace(next) {
            let d = u32::try_from(ts.saturating_sub(prev.ts).max(1)).unwrap_or(u32::MAX);
            self.last_video_duration = d;
            self.commit(Kind::Video, prev, d)?;
        }
        Ok(())
    }

    /// An Opus packet at `ts` (48 kHz, from the file's start).
    pub fn push_audio(&mut self, ts: u64, data: Vec<u8>) -> std::io::Result<()> {
        let next = Held {
            ts,
            keyframe: true,
            data,
        };
        let Some(prev) = self.held[Kind::Audio as usize].replace(next) else {
            return Ok(());
        };
        let gap = ts.saturating_sub(prev.ts);
        let own = opus_samples(&prev.data)
            .unwrap_or(OPUS_FRAME)
            .min(gap.max(1));
        let prev_ts = prev.ts;
        self.commit(Kind::Audio, prev, own as u32)?;
        // Silence over a DTX gap, in whole frames; what is left stretches the last one.
        let mut at = prev_ts + own;
        while ts.saturating_sub(at) >= OPUS_FRAME {
            let rest = ts - at;
            let d = if rest < 2 * OPUS_FRAME {
                rest
            } else {
                OPUS_FRAME
            };
            let silence = Held {
                ts: at,
                keyframe: true,
                data: OPUS_SILENCE.to_vec(),
            };
            self.commit(Kind::Audio, silence, d as u32)?;
            at += d;
        }
        Ok(())
    }

    fn commit(&mut self, kind: Kind, h: Held, duration: u32) -> std::io::Result<()> {
        let media_ms = if self.entries[0].is_some() {
            self.fragments[0].duration * 1000 / u64::from(VIDEO_TIMESCALE)
        } else {
            self.fragments[1].duration * 1000 / u64::from(AUDIO_TIMESCALE)
        };
        let video = self.entries[0].is_some();
        let cut = (kind == Kind::Video && h.keyframe && media_ms >= FRAGMENT_MS)
            || media_ms >= FRAGMENT_MS * 5
            || (!video && media_ms >= FRAGMENT_MS);
        if cut {
            self.flush_fragment(false)?;
        }
        let i = kind as usize;
        let entry = if self.entry_sent[i] {
            None
        } else {
            self.entry_sent[i] = true;
            self.entries[i].clone()
        };
        let (track_kind, timescale) = match kind {
            Kind::Video => (TrackKind::Video, VIDEO_TIMESCALE),
            Kind::Audio => (TrackKind::Audio, AUDIO_TIMESCALE),
        };
        let f = &mut self.fragments[i];
        f.samples.push(Sample {
            track_kind,
            sample_entry: entry,
            keyframe: h.keyframe,
            timescale: NonZeroU32::new(timescale).expect("non-zero"),
            duration,
            composition_time_offset: None,
            data_offset: f.payload.len() as u64,
            data_size: h.data.len(),
        });
        f.payload.extend_from_slice(&h.data);
        f.duration += u64::from(duration);
        Ok(())
    }

    /// Writes the fragment so far (`[video samples][audio samples]` in one `mdat`). The first
    /// one waits (a bounded time) until every track has a sample: the init segment is built
    /// from the samples seen.
    fn flush_fragment(&mut self, last: bool) -> std::io::Result<()> {
        if !self.header_written && !last {
            let missing =
                (0..2).any(|i| self.entries[i].is_some() && self.fragments[i].samples.is_empty());
            let held_ms = self.fragments[0].duration * 1000 / u64::from(VIDEO_TIMESCALE)
                + self.fragments[1].duration * 1000 / u64::from(AUDIO_TIMESCALE);
            if missing && held_ms < FIRST_FRAGMENT_WAIT_MS {
                return Ok(());
            }
        }
        let [v, a] = std::mem::take(&mut self.fragments);
        let video_len = v.payload.len() as u64;
        let mut samples = v.samples;
        samples.extend(a.samples.into_iter().map(|mut s| {
            s.data_offset += video_len;
            s
        }));
        if samples.is_empty() {
            return Ok(());
        }
        let header = self
            .muxer
            .create_media_segment_metadata(&samples)
            .map_err(io)?;
        if !self.header_written {
            let init = self.muxer.init_segment_bytes().map_err(io)?;
            self.write(&init)?;
            self.header_written = true;
        }
        self.write(&header)?;
        self.write(&v.payload)?;
        self.write(&a.payload)?;
        // A fragment boundary is what survives a crash.
        self.out.flush()
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Writes the held frames, the last fragment and the random-access index; returns the
    /// writer and the file's size.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        if let Some(h) = self.held[Kind::Video as usize].take() {
            let d = self.last_video_duration;
            self.commit(Kind::Video, h, d)?;
        }
        if let Some(h) = self.held[Kind::Audio as usize].take() {
            let d = opus_samples(&h.data).unwrap_or(OPUS_FRAME);
            self.commit(Kind::Audio, h, d as u32)?;
        }
        self.flush_fragment(true)?;
        if self.header_written {
            let mfra = self.muxer.mfra_bytes().map_err(io)?;
            self.write(&mfra)?;
        }
        self.out.flush()?;
        Ok((self.out, self.bytes))
    }
}

/// Samples (48 kHz) in an Opus packet, from its TOC byte (RFC 6716 §3.1).
pub fn opus_samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame size in 48 kHz samples, by configuration range.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3f),
    };
    Some(frame * frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_frame_sizes_from_the_toc() {
        assert_eq!(opus_samples(&OPUS_SILENCE), Some(960));
        // SILK 20 ms (config 1), one frame; CELT 10 ms (config 30), two frames.
        assert_eq!(opus_samples(&[1 << 3]), Some(960));
        assert_eq!(opus_samples(&[30 << 3 | 1]), Some(960));
        // Code 3 with 3 frames of 20 ms.
        assert_eq!(opus_samples(&[31 << 3 | 3, 3]), Some(2880));
        assert_eq!(opus_samples(&[]), None);
    }
}
