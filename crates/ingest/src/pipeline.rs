//! One RTMP publication's media, from FLV tags to RTP payloads: what the connection's shell
//! feeds and sends. Sans-IO: tags and `now` in, [`Output`]s out.
//!
//! The tracks a publication has are not known when RTMP's `publish` arrives: they come with
//! the `onMetaData` (`videocodecid`, `audiocodecid`) and the sequence headers (the H.264
//! profile is in the AVC one). The pipeline announces them with [`Output::Publish`] once it
//! knows: every track the metadata announces has its sequence header, or, without metadata,
//! both kinds have one, or [`PipelineSettings::wait_for_tracks`] passed since the first tag
//! with at least one. Media produced before that is held (bounded) and comes out right after
//! the announcement, so the first keyframe is not lost. A track that appears later, or a new
//! H.264 profile, is announced again: the shell republishes (a seamless replacement for
//! viewers, whose decoders must be told the new profile).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::audio::{AacToOpus, AudioError, OpusSettings};
use crate::flv::{
    parse_audio_tag, parse_video_tag, AudioTag, AvcDecoderConfig, FlvError, VideoTag,
};
use crate::h264::{H264Error, H264Packetizer};
use crate::timestamp::TimestampMapper;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Opus, 48 kHz.
    Audio,
    /// H.264, 90 kHz.
    Video,
}

/// The tracks to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackSet {
    /// An Opus track.
    pub audio: bool,
    /// An H.264 track of this `profile-level-id` (as browsers' SDP names it, see
    /// [`profile_level_id`]).
    pub video: Option<u32>,
}

/// One RTP payload of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPacket {
    /// Its track.
    pub kind: MediaKind,
    /// RTP timestamp (48 kHz audio, 90 kHz video, both from FLV time 0 = the track's base).
    pub rtp_timestamp: u32,
    /// Presentation time in ms on the connection's (unwrapped) FLV time axis: one wall clock
    /// mapping for both tracks keeps them in sync (RTCP sender reports).
    pub pts_ms: i64,
    /// RTP marker.
    pub marker: bool,
    /// Audio: the RFC 6464 level in −dBov as str0m takes it (`-127..=0`).
    pub audio_level: Option<i8>,
    /// Audio: the voice-activity flag.
    pub voice_activity: Option<bool>,
    /// The payload.
    pub payload: Vec<u8>,
}

/// What the shell does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Publish (or republish) with these tracks; the packets that follow are theirs.
    Publish(TrackSet),
    /// Send this packet on its track.
    Media(MediaPacket),
}

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    /// Opus encoder settings.
    pub opus: OpusSettings,
    /// H.264 RTP payload budget.
    pub max_payload: usize,
    /// Without metadata, how long after the first tag to wait for the second kind's
    /// sequence header.
    pub wait_for_tracks: Duration,
    /// Packets held until the tracks are known; older ones are dropped past this.
    pub max_held: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            opus: OpusSettings::default(),
            max_payload: crate::h264::DEFAULT_MAX_PAYLOAD,
            wait_for_tracks: Duration::from_secs(1),
            max_held: 1024,
        }
    }
}

/// Why the pipeline refused input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A tag that cannot be parsed or a codec Podium does not take.
    #[error(transparent)]
    Flv(#[from] FlvError),
    /// An H.264 sequence header or access unit that cannot be packetized.
    #[error(transparent)]
    H264(#[from] H264Error),
    /// The audio path refused the config or a frame.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// An H.264 profile browsers' WebRTC decoders do not take.
    #[error("H.264 {0} is not supported by browsers, use the baseline, main or high profile")]
    UnsupportedProfile(String),
    /// An AAC frame before the AAC sequence header.
    #[error("AAC frames arrived before the AAC sequence header")]
    AudioBeforeConfig,
}

impl IngestError {
    /// Whether the publication cannot go on. Others cost one frame (dropped, or silence for
    /// audio), are counted, and the stream goes on.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Flv(_) | Self::UnsupportedProfile(_) => true,
            Self::H264(e) => matches!(
                e,
                H264Error::BadLengthSize(_) | H264Error::BadParameterSet(_)
            ),
            Self::Audio(e) => !matches!(e, AudioError::Undecodable { .. }),
            Self::AudioBeforeConfig => false,
        }
    }
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Video access units packetized.
    pub video_frames: u64,
    /// Video access units dropped (before a sequence header, malformed).
    pub video_frames_dropped: u64,
    /// AAC frames taken.
    pub audio_frames: u64,
    /// AAC frames dropped (before a sequence header) or replaced by silence.
    pub audio_frames_dropped: u64,
    /// Opus frames produced.
    pub opus_frames: u64,
    /// Packets dropped while waiting for the tracks (the hold was full).
    pub held_dropped: u64,
}

/// The `profile-level-id` a browser's SDP uses for an AVC configuration, or why none fits.
///
/// The constraint byte is normalised to what browsers offer (`42e0` constrained baseline,
/// `4200` baseline, `4d00` main, `6400` high), since viewers are matched on profile and
/// constraints; the level is kept.
pub fn profile_level_id(config: &AvcDecoderConfig) -> Result<u32, IngestError> {
    let level = u32::from(config.level);
    let constraint_set1 = config.compatibility & 0x40 != 0;
    let profile = match config.profile {
        66 if constraint_set1 => 0x42e0,
        66 => 0x4200,
        77 => 0x4d00,
        100 => 0x6400,
        other => {
            let name = match other {
                88 => "extended profile (88)".to_owned(),
                110 => "High 10 profile (110)".to_owned(),
                122 => "High 4:2:2 profile (122)".to_owned(),
                244 => "High 4:4:4 profile (244)".to_owned(),
                n => format!("profile {n}"),
            };
            return Err(IngestError::UnsupportedProfile(name));
        }
    };
    Ok(profile << 8 | level)
}

/// The pipeline of one publication.
#[derive(Debug)]
pub struct Pipeline {
    settings: PipelineSettings,
    audio_base: u32,
    packetizer: H264Packetizer,
    video_clock: TimestampMapper,
    video_profile: Option<u32>,
    audio: Option<AacToOpus>,
    /// From `onMetaData`: whether each kind is announced (`None`: no metadata).
    announced: Option<(bool, bool)>,
    first_tag_at: Option<Instant>,
    published: Option<TrackSet>,
    held: VecDeque<MediaPacket>,
    out: VecDeque<Output>,
    stats: PipelineStats,
}

impl Pipeline {
    /// A pipeline whose video and audio RTP timestamps start at the given bases.
    pub fn new(video_base: u32, audio_base: u32, settings: PipelineSettings) -> Self {
        Self {
            settings,
            audio_base,
            packetizer: H264Packetizer::new(settings.max_payload),
            video_clock: TimestampMapper::video(video_base),
            video_profile: None,
            audio: None,
            announced: None,
            first_tag_at: None,
            published: None,
            held: VecDeque::new(),
            out: VecDeque::new(),
            stats: PipelineStats::default(),
        }
    }

    /// The stream's `onMetaData`: the FLV codec ids it announces (absent = no such track).
    pub fn metadata(&mut self, now: Instant, video_codec: Option<u32>, audio_codec: Option<u32>) {
        self.announced = Some((video_codec.is_some(), audio_codec.is_some()));
        self.update_tracks(now);
    }

    /// A video tag body at FLV time `flv_ms`. On a non-fatal error the tag is dropped.
    pub fn video(&mut self, now: Instant, flv_ms: u32, body: &[u8]) -> Result<(), IngestError> {
        self.first_tag_at.get_or_insert(now);
        let result = self.video_tag(flv_ms, body);
        if result.is_err() {
            self.stats.video_frames_dropped += 1;
        }
        self.update_tracks(now);
        result
    }

    fn video_tag(&mut self, flv_ms: u32, body: &[u8]) -> Result<(), IngestError> {
        match parse_video_tag(body)? {
            VideoTag::SequenceHeader(config) => {
                let profile = profile_level_id(&config)?;
                self.packetizer.set_config(&config)?;
                self.video_profile = Some(profile);
            }
            VideoTag::Nalus(au) => {
                let packetized = self.packetizer.packetize(au.data)?;
                let time = self.video_clock.map(flv_ms, au.composition_time_ms);
                self.stats.video_frames += 1;
                for p in packetized.payloads {
                    self.emit(MediaPacket {
                        kind: MediaKind::Video,
                        rtp_timestamp: time.rtp_timestamp,
                        pts_ms: time.pts_ms,
                        marker: p.marker,
                        audio_level: None,
                        voice_activity: None,
                        payload: p.payload,
                    });
                }
            }
            VideoTag::EndOfSequence | VideoTag::Command(_) => {}
        }
        Ok(())
    }

    /// An audio tag body at FLV time `flv_ms`.
    pub fn audio(&mut self, now: Instant, flv_ms: u32, body: &[u8]) -> Result<(), IngestError> {
        self.first_tag_at.get_or_insert(now);
        let result = self.audio_tag(flv_ms, body);
        self.update_tracks(now);
        result
    }

    fn audio_tag(&mut self, flv_ms: u32, body: &[u8]) -> Result<(), IngestError> {
        match parse_audio_tag(body)? {
            AudioTag::SequenceHeader(config) => match &mut self.audio {
                Some(audio) => audio.set_config(&config)?,
                None => {
                    self.audio = Some(AacToOpus::new(
                        &config,
                        self.audio_base,
                        self.settings.opus,
                    )?)
                }
            },
            AudioTag::Raw(frame) => {
                let Some(audio) = self.audio.as_mut() else {
                    self.stats.audio_frames_dropped += 1;
                    return Err(IngestError::AudioBeforeConfig);
                };
                self.stats.audio_frames += 1;
                let pushed = audio.push(flv_ms, frame);
                if pushed.is_err() {
                    self.stats.audio_frames_dropped += 1;
                }
                // Frames completed before an error are still good.
                while let Some(f) = self.audio.as_mut().and_then(AacToOpus::poll_output) {
                    self.stats.opus_frames += 1;
                    self.emit(MediaPacket {
                        kind: MediaKind::Audio,
                        rtp_timestamp: f.rtp_timestamp,
                        pts_ms: f.pts_ms,
                        marker: f.marker,
                        audio_level: Some(f.audio_level),
                        voice_activity: Some(f.voice_activity),
                        payload: f.payload,
                    });
                }
                pushed?;
            }
            AudioTag::EndOfSequence => {}
        }
        Ok(())
    }

    /// A viewer wants a keyframe: the parameter sets go out with the encoder's next IDR.
    pub fn request_keyframe(&mut self) {
        self.packetizer.request_keyframe();
    }

    /// Lets the wait for tracks run out.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.update_tracks(now);
    }

    /// When [`Self::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.published, self.first_tag_at) {
            (None, Some(first)) => Some(first + self.settings.wait_for_tracks),
            _ => None,
        }
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Counters.
    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    fn emit(&mut self, packet: MediaPacket) {
        if self.published.is_some() {
            self.out.push_back(Output::Media(packet));
            return;
        }
        if self.held.len() >= self.settings.max_held {
            self.held.pop_front();
            self.stats.held_dropped += 1;
        }
        self.held.push_back(packet);
    }

    /// Announces the tracks when they are known, or again when they changed.
    fn update_tracks(&mut self, now: Instant) {
        let ready = TrackSet {
            audio: self.audio.is_some(),
            video: self.video_profile,
        };
        if !ready.audio && ready.video.is_none() {
            return;
        }
        if let Some(published) = self.published {
            // A kind that appeared late, or a new profile: republish. A kind that stopped
            // sending keeps its track (its sequence header stays valid).
            let merged = TrackSet {
                audio: published.audio || ready.audio,
                video: ready.video.or(published.video),
            };
            if merged != published {
                self.published = Some(merged);
                self.out.push_back(Output::Publish(merged));
            }
            return;
        }
        let complete = match self.announced {
            Some((video, audio)) => (!video || ready.video.is_some()) && (!audio || ready.audio),
            None => ready.audio && ready.video.is_some(),
        };
        let waited = self
            .first_tag_at
            .is_some_and(|first| now >= first + self.settings.wait_for_tracks);
        if complete || waited {
            self.published = Some(ready);
            self.out.push_back(Output::Publish(ready));
            let held = std::mem::take(&mut self.held);
            self.out.extend(held.into_iter().filter_map(|p| {
                let keep = match p.kind {
                    MediaKind::Audio => ready.audio,
                    MediaKind::Video => ready.video.is_some(),
                };
                keep.then_some(Output::Media(p))
            }));
        }
    }
}
