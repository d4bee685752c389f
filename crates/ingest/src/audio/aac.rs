//! AAC-LC decoding with symphonia, feeding [`PcmToOpus`].

use symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::PacketRef;
use symphonia::core::units::{Duration, Timestamp};
use symphonia::default::codecs::AacDecoder;

use super::pcm::PcmToOpus;
use super::{AudioError, AudioStats, OpusFrame, OpusSettings};
use crate::flv::AudioSpecificConfig;

/// Samples per channel in an AAC-LC frame (the only frame length accepted).
const AAC_FRAME: usize = 1024;

/// Streaming AAC-LC → Opus transcoder for one RTMP audio track. Sans-IO: push the
/// AudioSpecificConfig once ([`AacToOpus::new`]), then raw AAC frames with their FLV
/// timestamps ([`AacToOpus::push`]); take [`OpusFrame`]s from [`AacToOpus::poll_output`].
///
/// ```
/// use podium_ingest::audio::{AacToOpus, OpusSettings};
/// use podium_ingest::flv::{parse_audio_tag, AudioTag};
///
/// // An FLV AAC sequence header: AAC-LC, 44.1 kHz, stereo.
/// let AudioTag::SequenceHeader(config) = parse_audio_tag(&[0xaf, 0, 0x12, 0x10])? else {
///     unreachable!()
/// };
/// let mut audio = AacToOpus::new(&config, 0x1234_5678, OpusSettings::default())?;
/// # let tags: Vec<(u32, Vec<u8>)> = Vec::new();
/// for (flv_ms, body) in tags {
///     if let AudioTag::Raw(frame) = parse_audio_tag(&body)? {
///         if let Err(e) = audio.push(flv_ms, frame) {
///             // Undecodable frames are replaced by silence and counted; log and go on.
///             eprintln!("{e}");
///         }
///         while let Some(f) = audio.poll_output() {
///             // write f.payload with f.rtp_timestamp, f.marker, audio_level: Some(f.audio_level),
///             // voice_activity: Some(f.voice_activity)
///         }
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AacToOpus {
    config: AudioSpecificConfig,
    decoder: AacDecoder,
    pcm: PcmToOpus,
    decoded: Vec<f32>,
    silence: Vec<f32>,
    frames_in: u64,
    undecodable: u64,
}

impl std::fmt::Debug for AacToOpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacToOpus")
            .field("config", &self.config)
            .field("pcm", &self.pcm)
            .field("frames_in", &self.frames_in)
            .field("undecodable", &self.undecodable)
            .finish_non_exhaustive()
    }
}

impl AacToOpus {
    /// A transcoder for `config` (from the FLV AAC sequence header). `rtp_base` is the RTP
    /// timestamp of FLV time 0, as for [`crate::timestamp::TimestampMapper::audio`]: with the
    /// video mapper of the same connection on the same FLV time axis, audio and video line up.
    ///
    /// Refuses what [`AudioSpecificConfig::check_supported`] refuses (HE-AAC, …) and more
    /// than two channels (the AAC decoder's limit).
    pub fn new(
        config: &AudioSpecificConfig,
        rtp_base: u32,
        settings: OpusSettings,
    ) -> Result<Self, AudioError> {
        let (decoder, channels) = make_decoder(config)?;
        Ok(Self {
            config: config.clone(),
            decoder,
            pcm: PcmToOpus::new(config.sample_rate, channels, rtp_base, settings)?,
            decoded: Vec::with_capacity(AAC_FRAME * 2),
            silence: Vec::new(),
            frames_in: 0,
            undecodable: 0,
        })
    }

    /// The config in use.
    pub fn config(&self) -> &AudioSpecificConfig {
        &self.config
    }

    /// Opus channels out (1 or 2, as the AAC input).
    pub fn channels(&self) -> u8 {
        self.pcm.channels()
    }

    /// A new sequence header. The same config again (RTMP servers and encoders repeat it) is
    /// a no-op; another one flushes what was pushed (as at a gap) and rebuilds the decoder,
    /// resampler and, for a new channel count, the encoder. The timeline goes on.
    pub fn set_config(&mut self, config: &AudioSpecificConfig) -> Result<(), AudioError> {
        if *config == self.config {
            return Ok(());
        }
        let (decoder, channels) = make_decoder(config)?;
        self.pcm.set_format(config.sample_rate, channels)?;
        self.decoder = decoder;
        self.config = config.clone();
        Ok(())
    }

    /// Decodes one raw AAC frame (an FLV `AACPacketType` 1 payload) whose FLV timestamp is
    /// `flv_ms`, and encodes whatever full 20 ms frames that completes.
    ///
    /// A frame the decoder rejects is replaced by 1024 samples of silence, so the timeline
    /// and the following frames are unaffected; it is counted
    /// ([`AudioStats::undecodable_frames`]) and reported as [`AudioError::Undecodable`]. The
    /// transcoder stays usable after any error.
    pub fn push(&mut self, flv_ms: u32, frame: &[u8]) -> Result<(), AudioError> {
        let index = self.frames_in;
        self.frames_in += 1;
        let channels = usize::from(self.pcm.channels());
        let decoded = if frame.is_empty() {
            Err("empty frame".to_owned())
        } else {
            let packet = PacketRef::new(0, Timestamp::ZERO, Duration::new(AAC_FRAME as u64), frame);
            match self.decoder.decode_ref(&packet) {
                Ok(buf) => {
                    let got = buf.spec().channels().count();
                    buf.copy_to_vec_interleaved::<f32>(&mut self.decoded);
                    remix(&mut self.decoded, got, channels)
                }
                Err(e) => Err(e.to_string()),
            }
        };
        match decoded {
            Ok(()) => self.pcm.push(flv_ms, &self.decoded),
            Err(reason) => {
                self.undecodable += 1;
                self.silence.resize(AAC_FRAME * channels, 0.0);
                self.pcm.push(flv_ms, &self.silence)?;
                Err(AudioError::Undecodable {
                    frame: index,
                    reason,
                })
            }
        }
    }

    /// Ends the stream (or a pause the caller knows of): encodes what is buffered, the last
    /// frame completed with silence.
    pub fn flush(&mut self) -> Result<(), AudioError> {
        self.pcm.flush()
    }

    /// The next Opus frame, in order.
    pub fn poll_output(&mut self) -> Option<OpusFrame> {
        self.pcm.poll_output()
    }

    /// The RTP timestamp of media time `ms` (unwrapped FLV time), for RTCP sender reports.
    pub fn rtp_at(&self, ms: i64) -> u32 {
        self.pcm.rtp_at(ms)
    }

    /// Tells the encoder the packet loss to protect against with in-band FEC (0–100 %).
    pub fn set_packet_loss(&mut self, percent: u8) -> Result<(), AudioError> {
        self.pcm.set_packet_loss(percent)
    }

    /// Counters.
    pub fn stats(&self) -> AudioStats {
        AudioStats {
            aac_frames: self.frames_in,
            undecodable_frames: self.undecodable,
            ..self.pcm.stats()
        }
    }
}

/// Checks the config and builds a decoder; returns it with the channel count.
fn make_decoder(config: &AudioSpecificConfig) -> Result<(AacDecoder, u8), AudioError> {
    config.check_supported()?;
    let channels = config.channels().unwrap_or(0);
    if !(1..=2).contains(&channels) {
        return Err(AudioError::UnsupportedChannels(channels));
    }
    let mut params = AudioCodecParameters::new();
    params
        .for_codec(CODEC_ID_AAC)
        .with_extra_data(lc_audio_specific_config(config).into_boxed_slice());
    let decoder = AacDecoder::try_new(&params, &AudioDecoderOptions::default())
        .map_err(|e| AudioError::DecoderRefused(e.to_string()))?;
    Ok((decoder, channels))
}

/// A minimal AAC-LC AudioSpecificConfig for the decoder: object type 2, the sampling
/// frequency (index or explicit), the channel configuration, and a GASpecificConfig of
/// 1024-sample frames, no core coder, no extension.
fn lc_audio_specific_config(config: &AudioSpecificConfig) -> Vec<u8> {
    let mut bits: Vec<(u32, u32)> = vec![(2, 5)];
    match config.sampling_frequency_index {
        Some(index) => bits.push((u32::from(index), 4)),
        None => {
            bits.push((15, 4));
            bits.push((config.sample_rate & 0x00ff_ffff, 24));
        }
    }
    bits.push((u32::from(config.channel_config), 4));
    bits.push((0, 3));
    let mut out = Vec::new();
    let (mut acc, mut n) = (0u64, 0u32);
    for (value, width) in bits {
        acc = (acc << width) | u64::from(value & ((1 << width) - 1));
        n += width;
        while n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
        }
    }
    if n > 0 {
        out.push((acc << (8 - n)) as u8);
    }
    out
}

/// Makes interleaved `samples` of `from` channels into `to` channels (1 or 2): a mono frame
/// in a stereo stream is duplicated, a stereo frame in a mono stream averaged.
fn remix(samples: &mut Vec<f32>, from: usize, to: usize) -> Result<(), String> {
    match (from, to) {
        (a, b) if a == b => Ok(()),
        (1, 2) => {
            let mono = std::mem::take(samples);
            samples.extend(mono.iter().flat_map(|&s| [s, s]));
            Ok(())
        }
        (2, 1) => {
            let stereo = std::mem::take(samples);
            samples.extend(stereo.chunks_exact(2).map(|p| 0.5 * (p[0] + p[1])));
            Ok(())
        }
        (a, b) => Err(format!("decoded {a} channels, expected {b}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_round_trips() {
        for bytes in [[0x12u8, 0x08], [0x12, 0x10], [0x11, 0x90], [0x13, 0x08]] {
            let config = AudioSpecificConfig::parse(&bytes).unwrap();
            assert_eq!(lc_audio_specific_config(&config), bytes);
        }
        // An explicit rate (index 15): 5 + 4 + 24 + 4 + 3 bits.
        let config = AudioSpecificConfig {
            sampling_frequency_index: None,
            sample_rate: 45_000,
            ..AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap()
        };
        let bytes = lc_audio_specific_config(&config);
        assert_eq!(bytes.len(), 5);
        assert_eq!(AudioSpecificConfig::parse(&bytes).unwrap(), config);
    }

    #[test]
    fn remixing() {
        let mut s = vec![0.5, -0.5];
        remix(&mut s, 1, 2).unwrap();
        assert_eq!(s, [0.5, 0.5, -0.5, -0.5]);
        remix(&mut s, 2, 1).unwrap();
        assert_eq!(s, [0.5, -0.5]);
        assert!(remix(&mut s, 6, 2).is_err());
    }
}
