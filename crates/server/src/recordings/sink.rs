//! One recording: the publication's packets depacketized into frames
//! (`podium_recording::TrackDepacketizer`), put on one timeline, and written to a WebM or a
//! fragmented MP4 file.
//!
//! The file starts at the first video keyframe (or the first audio frame when there is no
//! video), once the video's codec details are known from the stream (size, H.264 parameter
//! sets, AV1 sequence header): earlier frames could not be decoded anyway. One video and one
//! audio track are recorded (the first of each kind with a codec the recorder handles).
//! Each track's frames are placed by their RTP timestamps from the track's first frame, and
//! that first frame by its arrival after the file's start, which keeps audio and video
//! together to within a packet's network jitter.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use podium_media::{Kind, RecordCodec, RecordTrack, RecordedPacket};
use podium_recording::{Depacketizer, Frame, TrackDepacketizer};
use shiguredo_mp4::bitstream::{h264, opus as mp4_opus, vp8};
use shiguredo_mp4::boxes::SampleEntry;
use webm::mux::VideoCodecId;

use super::files::Container;
use super::mp4::{Mp4Writer, AUDIO_TIMESCALE, VIDEO_TIMESCALE};
use super::webm::{VideoSetup, WebmWriter};

/// A recording's file writer.
pub(super) trait Sink: Send {
    /// One packet of the publication.
    fn push(&mut self, packet: &RecordedPacket) -> std::io::Result<()>;
    /// The file, once created (at the first frame it starts with).
    fn path(&self) -> Option<&Path>;
    /// Closes the file; returns its size.
    fn finish(self: Box<Self>) -> std::io::Result<u64>;
}

/// The container of a recording whose video is `video` (none: audio only): MP4 for H.264,
/// WebM for VP8, VP9, AV1 and Opus alone.
pub(super) fn container_for(video: Option<RecordCodec>) -> Container {
    match video {
        Some(RecordCodec::H264 { .. } | RecordCodec::H265) => Container::Mp4,
        _ => Container::WebM,
    }
}

/// A recording of `tracks` into `dir`, named `stem` plus the extension of its container,
/// which the codec of the first video frame decides (a publisher negotiates several): the
/// file is created then.
pub(super) fn open(
    dir: &Path,
    stem: &str,
    tracks: &[RecordTrack],
) -> std::io::Result<Box<dyn Sink>> {
    let pick = |kind: Kind| {
        tracks.iter().position(|t| {
            t.kind == kind && t.payloads.iter().any(|p| Depacketizer::supports(p.codec))
        })
    };
    let chosen = [pick(Kind::Video), pick(Kind::Audio)];
    if chosen.iter().all(Option::is_none) {
        return Err(std::io::Error::other(
            "no track with a codec the recorder handles",
        ));
    }
    let tracks = tracks
        .iter()
        .map(|t| TrackState {
            depack: TrackDepacketizer::new(t),
            first: None,
        })
        .collect();
    Ok(Box::new(Recording {
        dir: dir.to_owned(),
        stem: stem.to_owned(),
        path: None,
        error: Arc::new(Mutex::new(None)),
        tracks,
        chosen,
        start: None,
        muxer: None,
        scratch: Vec::new(),
    }))
}

/// A file that remembers the I/O error behind a failed write: libwebm only says "failed".
struct ErrorKeeping {
    file: File,
    error: Arc<Mutex<Option<std::io::Error>>>,
}

impl ErrorKeeping {
    fn keep<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            let mut slot = self
                .error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            slot.get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        }
        r
    }
}

impl Write for ErrorKeeping {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.file.write(buf);
        self.keep(r)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.file.flush();
        self.keep(r)
    }
}

impl Seek for ErrorKeeping {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let r = self.file.seek(pos);
        self.keep(r)
    }
}

type Out = BufWriter<ErrorKeeping>;

enum Muxer {
    /// Boxed: its fragment buffers are far larger than the WebM writer.
    Mp4(Box<Mp4Writer<Out>>),
    WebM(WebmWriter<Out>),
}

struct TrackState {
    depack: TrackDepacketizer,
    /// The track's first written frame: its RTP timestamp and its offset from the start.
    first: Option<(u64, Duration)>,
}

struct Recording {
    dir: PathBuf,
    stem: String,
    /// The file, once created.
    path: Option<PathBuf>,
    error: Arc<Mutex<Option<std::io::Error>>>,
    tracks: Vec<TrackState>,
    /// The recorded video and audio track, by index.
    chosen: [Option<usize>; 2],
    /// The arrival of the frame the file starts with.
    start: Option<Instant>,
    muxer: Option<Muxer>,
    scratch: Vec<(usize, Frame)>,
}

impl Recording {
    /// The I/O error behind a failure, if the file saw one (disk full, …).
    fn explain(&self, e: std::io::Error) -> std::io::Error {
        let kept = self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        kept.unwrap_or(e)
    }

    fn frame(&mut self, idx: usize, frame: Frame) -> std::io::Result<()> {
        let is_video = self.chosen[0] == Some(idx);
        if !is_video && self.chosen[1] != Some(idx) {
            return Ok(());
        }
        if self.muxer.is_none() {
            // The file starts with the first video keyframe whose codec details are known,
            // or with the first audio frame when there is no video.
            let starts = if self.chosen[0].is_some() {
                is_video && frame.keyframe && self.setup_known(idx)
            } else {
                true
            };
            if !starts {
                return Ok(());
            }
            self.open_muxer()?;
            self.start = Some(frame.arrival);
        }
        let Some(start) = self.start else {
            return Ok(());
        };
        let Some(clock) = self.tracks[idx]
            .depack
            .payload(frame.pt)
            .map(|p| u64::from(p.clock_rate))
        else {
            return Ok(());
        };
        let track = &mut self.tracks[idx];
        let (first_ts, offset) = *track
            .first
            .get_or_insert((frame.ts, frame.arrival.saturating_duration_since(start)));
        let since = frame.ts.saturating_sub(first_ts);
        let ns = offset.as_nanos() as u64 + since * 1_000_000_000 / clock.max(1);
        match self.muxer.as_mut() {
            Some(Muxer::Mp4(m)) if is_video => m.push_video(
                ns * u64::from(VIDEO_TIMESCALE) / 1_000_000_000,
                frame.keyframe,
                frame.data,
            ),
            Some(Muxer::Mp4(m)) => {
                m.push_audio(ns * u64::from(AUDIO_TIMESCALE) / 1_000_000_000, frame.data)
            }
            Some(Muxer::WebM(m)) => m.push(is_video, ns, frame.keyframe, frame.data),
            None => Ok(()),
        }
    }

    /// Whether the video track's codec details needed by the file are known.
    fn setup_known(&self, idx: usize) -> bool {
        let d = self.tracks[idx].depack.depacketizer();
        match d {
            Some(Depacketizer::H264(h)) => h.parameter_sets().is_some(),
            Some(d) => d.size().is_some(),
            None => false,
        }
    }

    fn open_muxer(&mut self) -> std::io::Result<()> {
        let video_codec = self.chosen[0]
            .and_then(|i| self.tracks[i].depack.active_payload())
            .map(|p| p.codec);
        let container = container_for(video_codec);
        let path = self
            .dir
            .join(format!("{}.{}", self.stem, container.extension()));
        let file = File::create_new(&path)?;
        self.path = Some(path);
        let out = BufWriter::with_capacity(
            256 * 1024,
            ErrorKeeping {
                file,
                error: self.error.clone(),
            },
        );
        let video = self.chosen[0].map(|i| &self.tracks[i].depack);
        let audio_channels = self.chosen[1]
            .and_then(|i| self.tracks[i].depack.active_payload().copied())
            .map(|p| match p.codec {
                RecordCodec::Opus { channels } => channels.clamp(1, 2),
                _ => 2,
            })
            .or(self.chosen[1].map(|_| 2));
        let muxer = match container {
            Container::Mp4 => {
                let v = video.map(mp4_video_entry).transpose()?.flatten();
                let a = audio_channels.map(|ch| {
                    SampleEntry::Opus(mp4_opus::build_opus_box(&mp4_opus::OpusSampleEntryConfig {
                        channel_count: if ch == 1 {
                            mp4_opus::ChannelCount::Mono
                        } else {
                            mp4_opus::ChannelCount::Stereo
                        },
                        pre_skip: 0,
                        input_sample_rate: 48_000,
                        output_gain: 0,
                    }))
                });
                Muxer::Mp4(Box::new(Mp4Writer::new(out, v, a)?))
            }
            Container::WebM => {
                let v = video.and_then(webm_video_setup);
                Muxer::WebM(WebmWriter::new(out, v, audio_channels)?)
            }
        };
        self.muxer = Some(muxer);
        Ok(())
    }
}

/// The MP4 sample entry of a video track (H.264: from its parameter sets; VP8 and VP9: from
/// the size).
fn mp4_video_entry(d: &TrackDepacketizer) -> std::io::Result<Option<SampleEntry>> {
    let other = |e: shiguredo_mp4::Error| std::io::Error::other(format!("MP4 sample entry: {e}"));
    Ok(match d.depacketizer() {
        Some(Depacketizer::H264(h)) => {
            let Some((sps, pps)) = h.parameter_sets() else {
                return Ok(None);
            };
            let config = h264::H264SampleEntryConfig {
                length_size: h264::LengthSize::FourBytes,
            };
            Some(SampleEntry::Avc1(
                h264::build_avc1_box(&[sps], &[pps], &config).map_err(other)?,
            ))
        }
        Some(Depacketizer::Vp8(v)) => v.size().map(|(width, height)| {
            SampleEntry::Vp08(vp8::build_vp08_box(&vp8::Vp8SampleEntryConfig {
                video_full_range_flag: false,
                colour_primaries: vp8::Vp8SampleEntryConfig::COLOUR_PRIMARIES_UNSPECIFIED,
                transfer_characteristics:
                    vp8::Vp8SampleEntryConfig::TRANSFER_CHARACTERISTICS_UNSPECIFIED,
                matrix_coefficients: vp8::Vp8SampleEntryConfig::MATRIX_COEFFICIENTS_UNSPECIFIED,
                width: u16::try_from(width).unwrap_or(u16::MAX),
                height: u16::try_from(height).unwrap_or(u16::MAX),
            }))
        }),
        // MP4 is chosen for H.264 only; other codecs go to WebM.
        _ => None,
    })
}

/// The WebM video track of a VP8, VP9 or AV1 track.
fn webm_video_setup(d: &TrackDepacketizer) -> Option<VideoSetup> {
    let depack = d.depacketizer()?;
    let (width, height) = depack.size()?;
    let (codec, codec_private) = match depack {
        Depacketizer::Vp8(_) => (VideoCodecId::VP8, None),
        Depacketizer::Vp9(_) => (VideoCodecId::VP9, None),
        Depacketizer::Av1(a) => (VideoCodecId::AV1, a.av1c()),
        _ => return None,
    };
    Some(VideoSetup {
        codec,
        width,
        height,
        codec_private,
    })
}

impl Sink for Recording {
    fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn push(&mut self, packet: &RecordedPacket) -> std::io::Result<()> {
        let Some(track) = self.tracks.get_mut(packet.track_idx) else {
            return Ok(());
        };
        track.depack.push(packet);
        for t in &mut self.tracks {
            t.depack.advance(packet.arrival);
        }
        let mut frames = std::mem::take(&mut self.scratch);
        for (i, t) in self.tracks.iter_mut().enumerate() {
            while let Some(f) = t.depack.poll_frame() {
                frames.push((i, f));
            }
        }
        let mut result = Ok(());
        for (i, f) in frames.drain(..) {
            if result.is_ok() {
                result = self.frame(i, f);
            }
        }
        self.scratch = frames;
        result.map_err(|e| self.explain(e))
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<u64> {
        let mut frames = Vec::new();
        for (i, t) in self.tracks.iter_mut().enumerate() {
            t.depack.flush();
            while let Some(f) = t.depack.poll_frame() {
                frames.push((i, f));
            }
        }
        for (i, f) in frames {
            self.frame(i, f).map_err(|e| self.explain(e))?;
        }
        let finished = match self.muxer.take() {
            Some(Muxer::Mp4(m)) => (*m).finish().map(|(out, _)| out),
            Some(Muxer::WebM(m)) => m.finish(),
            None => return Err(std::io::Error::other("no media was recorded")),
        };
        let out = finished.map_err(|e| self.explain(e))?;
        let file = out.into_inner().map_err(|e| self.explain(e.into_error()))?;
        file.file.sync_all()?;
        Ok(file.file.metadata()?.len())
    }
}
