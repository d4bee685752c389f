//! RTMP audio to WebRTC: a streaming, sans-IO AAC-LC → Opus transcoder.
//!
//! [`AacToOpus`] takes the AudioSpecificConfig of the FLV AAC sequence header once, then raw
//! AAC frames with their FLV timestamps, and gives 20 ms Opus frames with everything an RTP
//! packet needs: payload, RTP timestamp (48 kHz), marker, and the RFC 6464 audio level and
//! voice-activity flag computed from the samples that were encoded. [`PcmToOpus`] is the part
//! after the decoder, for PCM from elsewhere.
//!
//! # Pipeline
//!
//! 1. **Decode** with symphonia's AAC decoder (pure Rust, AAC-LC only; HE-AAC is refused
//!    earlier by [`crate::flv::AudioSpecificConfig::check_supported`], and more than two
//!    channels here). Output: 1024 `f32` samples per channel per frame.
//! 2. **Resample** to 48 kHz with rubato's synchronous FFT resampler (a band-limited,
//!    anti-aliased conversion; the ratio is fixed, e.g. 160/147 for 44.1 kHz), about 10 ms of
//!    input per chunk. Its delay (half an FFT block, a few ms) is dropped at the start of each
//!    run, so the output is not shifted against the FLV time. 48 kHz input skips this step.
//! 3. **Frame** into 960-sample (20 ms) blocks and **encode** with libopus (the `opus` crate),
//!    Opus mono for mono input, stereo for stereo. Settings ([`OpusSettings`]):
//!    - application `Audio`, not `VoIP`: an RTMP source is a broadcast (program audio, music,
//!      a mixed feed), which `Audio` keeps closest to the input; `VoIP` optimises speech
//!      intelligibility (high-pass filtering, formant emphasis) at the expense of fidelity;
//!    - 64 kb/s stereo, 32 kb/s mono (VBR, libopus's constrained default);
//!    - DTX **off**: with DTX libopus sends a packet every 400 ms during silence, and a source
//!      that stops sending looks stalled to the SFU (redundant-ingest failover, `inactive`
//!      events); RTMP audio is continuous anyway, and silence costs few bits without DTX;
//!    - in-band FEC on with 5 % expected loss: the SFU does not retransmit audio, so FEC is
//!      the only protection; [`AacToOpus::set_packet_loss`] adjusts it from receiver reports.
//! 4. **Level**: RFC 6464 from the 960 samples (all channels) handed to the encoder, see
//!    [`level`].
//!
//! # Timestamps
//!
//! Time comes from the FLV timestamps, mapped with a [`TimestampMapper`] (unwrapped, never
//! backwards; see [`crate::timestamp`]), so audio and video of one connection share the FLV
//! time axis. The mapper's `rtp_base` stands for FLV time 0.
//!
//! * Frame 0 starts at the FLV time of the first input (`origin`). Frame `n` has RTP
//!   timestamp `rtp_at(origin) + n·960` and media time `origin + 20·n` ms. Within a *run*
//!   (input without a gap) frames follow one another with `n` + 1, whatever the input chunk
//!   sizes (1024-sample AAC frames at 44.1 kHz give 1114.6 samples at 48 kHz each): the
//!   timestamps count samples, they are never re-derived from each input's rounded
//!   millisecond timestamp.
//! * **Gap rule**: an input whose FLV time is more than `gap_threshold_ms` (default 100 ms)
//!   after where the run's samples end (run start + samples so far / input rate) starts a
//!   new run: the old run is flushed (the resampler drained, the last frame padded with
//!   silence), and the new run starts at frame `n = round((t − origin) / 20 ms)`, or right
//!   after the last frame sent if that is later. The timestamps jump by whole 20 ms frames,
//!   so the output stays on the `origin + n·960` grid and within 10 ms of the FLV time, and a
//!   publisher that paused (or an encoder whose sample clock runs slow against its
//!   timestamps) re-syncs instead of drifting. The first frame of a run has the RTP marker
//!   set.
//! * Input that is *behind* (its FLV time is earlier than where the samples end) is laid
//!   out after what was sent: audio never overlaps or goes back. Encoder clock resets are
//!   the mapper's business (the timeline continues).
//! * An undecodable frame becomes 1024 samples of silence, so it does not shift what follows.
//!
//! Audio starts when its first frame arrives: FLV timestamps of AAC frames (ffmpeg, OBS)
//! already include the encoder's priming delay, so no correction is made. libopus adds its
//! own 6.5 ms look-ahead on decoding, like any Opus sender.
//!
//! # Errors
//!
//! Nothing here panics on input. [`AudioError`] says what went wrong: an unsupported config
//! (at creation or [`AacToOpus::set_config`]), an undecodable frame (replaced by silence and
//! counted in [`AudioStats`]; the transcoder goes on), or an internal encoder or resampler
//! failure.
//!
//! [`TimestampMapper`]: crate::timestamp::TimestampMapper

mod aac;
pub mod level;
mod pcm;

pub use aac::AacToOpus;
pub use pcm::PcmToOpus;

use crate::flv::FlvError;

/// The Opus sample rate (and RTP clock rate).
pub const OPUS_RATE: u32 = 48_000;
/// Duration of an Opus frame, in ms.
pub const FRAME_MS: u32 = 20;
/// Samples per channel in an Opus frame (20 ms at 48 kHz): the RTP timestamp step.
pub const FRAME_SAMPLES: usize = 960;
/// The default Opus bitrate for mono, in bits/s.
pub const DEFAULT_BITRATE_MONO: u32 = 32_000;
/// The default Opus bitrate for stereo, in bits/s.
pub const DEFAULT_BITRATE_STEREO: u32 = 64_000;
/// The default gap threshold, in ms.
pub const DEFAULT_GAP_THRESHOLD_MS: u32 = 100;

/// Opus encoder settings and the timeline's gap threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpusSettings {
    /// The libopus application (default `Audio`, see the [module docs](self)).
    pub application: opus::Application,
    /// Bits/s; `None` picks [`DEFAULT_BITRATE_MONO`] or [`DEFAULT_BITRATE_STEREO`].
    pub bitrate: Option<u32>,
    /// In-band FEC (default on).
    pub fec: bool,
    /// Expected packet loss in percent, which sizes the FEC (default 5).
    pub packet_loss_percent: u8,
    /// libopus complexity 0–10; `None` keeps libopus's default (10).
    pub complexity: Option<u8>,
    /// Frames at least this loud (−dBov) are flagged as voice activity (default
    /// [`level::DEFAULT_VOICE_THRESHOLD`], −60 dBov).
    pub voice_threshold: u8,
    /// Input more than this late (ms) against its samples starts a new run (the gap rule).
    pub gap_threshold_ms: u32,
}

impl Default for OpusSettings {
    fn default() -> Self {
        Self {
            application: opus::Application::Audio,
            bitrate: None,
            fec: true,
            packet_loss_percent: 5,
            complexity: None,
            voice_threshold: level::DEFAULT_VOICE_THRESHOLD,
            gap_threshold_ms: DEFAULT_GAP_THRESHOLD_MS,
        }
    }
}

/// One encoded 20 ms Opus frame: the payload of one RTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusFrame {
    /// The Opus packet (RFC 7587 payload).
    pub payload: Vec<u8>,
    /// The RTP timestamp (48 kHz) of the frame's first sample.
    pub rtp_timestamp: u32,
    /// The media time of the frame's first sample in ms, on the FLV time axis (unwrapped),
    /// to pair with a wall clock for RTCP sender reports like the video's
    /// [`crate::timestamp::Mapped::pts_ms`].
    pub pts_ms: i64,
    /// The RFC 6464 level, `0..=127` −dBov (127 = silence).
    pub level: u8,
    /// The same level as str0m's `ExtensionValues::audio_level` wants it: `-level`.
    pub audio_level: i8,
    /// The RFC 6464 V flag: `level` is at least as loud as the voice threshold.
    pub voice_activity: bool,
    /// The first frame after the start or a gap (the RTP marker bit for audio, RFC 3551 §4.1).
    pub marker: bool,
}

/// Counters of one transcoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioStats {
    /// AAC frames pushed (0 for a bare [`PcmToOpus`]).
    pub aac_frames: u64,
    /// AAC frames the decoder rejected (replaced by silence).
    pub undecodable_frames: u64,
    /// Input samples per channel taken by the PCM stage.
    pub input_frames: u64,
    /// Opus frames produced.
    pub output_frames: u64,
    /// Gaps that started a new run.
    pub gaps: u64,
    /// Frames libopus failed to encode (their slot stays empty).
    pub encode_errors: u64,
}

/// What went wrong in the audio path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The AAC config is not one Podium decodes (HE-AAC, AAC Main, 960-sample frames, …).
    #[error(transparent)]
    UnsupportedConfig(#[from] FlvError),
    /// More channels than the AAC decoder handles.
    #[error("AAC with channel configuration {0} is not supported, use mono or stereo")]
    UnsupportedChannels(u8),
    /// The AAC decoder refused the config.
    #[error("the AAC decoder refused the config: {0}")]
    DecoderRefused(String),
    /// One AAC frame could not be decoded; it was replaced by silence.
    #[error("AAC frame {frame} could not be decoded ({reason}); replaced by silence")]
    Undecodable {
        /// The frame's index (0-based) since the transcoder was created.
        frame: u64,
        /// The decoder's reason.
        reason: String,
    },
    /// libopus failed (an internal error, not the input's fault).
    #[error("Opus encoder: {0}")]
    Encoder(String),
    /// The resampler failed (an internal error).
    #[error("resampler: {0}")]
    Resampler(String),
}

#[cfg(test)]
mod tests;
