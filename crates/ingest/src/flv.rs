//! FLV video and audio tag bodies as RTMP delivers them (the `VIDEODATA` / `AUDIODATA` of the
//! FLV specification v10.1, annex E, plus the FourCC forms of enhanced RTMP for H.264 and AAC).
//!
//! Only H.264 (AVC) video and AAC audio are accepted. Anything else is a [`FlvError`] whose
//! message names the codec and says what to use instead, so the RTMP shell can send it to the
//! publisher as is: `HEVC (12) is not supported, use H.264`, `MP3 (2) is not supported, use
//! AAC-LC`, `HE-AAC (SBR, audio object type 5) is not supported, use AAC-LC`.

use crate::bits::BitReader;

/// Why a tag body or a codec configuration was refused. Every message is fit to show to the
/// person who set up the encoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlvError {
    /// The input ended inside a field.
    #[error("truncated {what}: {needed} bytes needed, {available} available")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes the field needs from the start of the structure.
        needed: usize,
        /// Bytes there were.
        available: usize,
    },
    /// A video codec other than H.264.
    #[error("{name} ({id}) is not supported, use H.264")]
    UnsupportedVideoCodec {
        /// The FLV `CodecID`.
        id: u8,
        /// The codec's name.
        name: &'static str,
    },
    /// An enhanced-RTMP video FourCC other than `avc1`.
    #[error("{name} (enhanced RTMP '{fourcc}') is not supported, use H.264")]
    UnsupportedVideoFourCc {
        /// The FourCC, printable characters only.
        fourcc: String,
        /// The codec's name.
        name: &'static str,
    },
    /// An audio format other than AAC.
    #[error("{name} ({id}) is not supported, use AAC-LC")]
    UnsupportedAudioFormat {
        /// The FLV `SoundFormat`.
        id: u8,
        /// The format's name.
        name: &'static str,
    },
    /// An enhanced-RTMP audio FourCC other than `mp4a`.
    #[error("{name} (enhanced RTMP '{fourcc}') is not supported, use AAC-LC")]
    UnsupportedAudioFourCc {
        /// The FourCC, printable characters only.
        fourcc: String,
        /// The codec's name.
        name: &'static str,
    },
    /// AAC, but not AAC-LC: HE-AAC (SBR), HE-AAC v2 (PS), Main, LTP, …
    #[error("{profile} is not supported, use AAC-LC")]
    UnsupportedAac {
        /// The profile, with its audio object type, e.g. `HE-AAC (SBR, audio object type 5)`.
        profile: String,
    },
    /// A video `FrameType` outside 1–5.
    #[error("invalid video frame type {0}")]
    InvalidFrameType(u8),
    /// A packet type the codec does not define (or that Podium does not take).
    #[error("invalid {codec} packet type {packet_type}")]
    InvalidPacketType {
        /// `AVC` or `AAC`.
        codec: &'static str,
        /// The value found.
        packet_type: u8,
    },
    /// A malformed AVCDecoderConfigurationRecord.
    #[error("invalid AVC decoder configuration record: {0}")]
    InvalidAvcConfig(String),
    /// A malformed AudioSpecificConfig.
    #[error("invalid AAC AudioSpecificConfig: {0}")]
    InvalidAudioConfig(String),
}

/// The FLV video `FrameType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// 1: a keyframe (for AVC, a seekable frame, normally an IDR).
    Key,
    /// 2: an inter frame.
    Inter,
    /// 3: a disposable inter frame (H.263 only).
    DisposableInter,
    /// 4: a generated keyframe (server use only).
    GeneratedKey,
    /// 5: a video info/command frame, carrying no picture.
    Command,
}

impl FrameType {
    fn from_bits(bits: u8) -> Result<Self, FlvError> {
        Ok(match bits {
            1 => Self::Key,
            2 => Self::Inter,
            3 => Self::DisposableInter,
            4 => Self::GeneratedKey,
            5 => Self::Command,
            other => return Err(FlvError::InvalidFrameType(other)),
        })
    }
}

/// A parsed video tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag<'a> {
    /// AVC packet type 0: the decoder configuration (SPS and PPS). Sent before the first
    /// frame and again when the encoder's settings change.
    SequenceHeader(AvcDecoderConfig),
    /// AVC packet type 1: one access unit as length-prefixed NAL units.
    Nalus(AvcNalus<'a>),
    /// AVC packet type 2: end of sequence.
    EndOfSequence,
    /// Frame type 5: a command byte (0 = start of seek, 1 = end of seek), no picture.
    Command(u8),
}

/// One access unit of an AVC video tag: NAL units prefixed by their length
/// ([`AvcDecoderConfig::nal_length_size`] bytes each, big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvcNalus<'a> {
    /// The FLV frame type (key or inter).
    pub frame_type: FrameType,
    /// Composition time offset in milliseconds: PTS = DTS (the tag timestamp) + this.
    pub composition_time_ms: i32,
    /// The length-prefixed NAL units.
    pub data: &'a [u8],
}

impl AvcNalus<'_> {
    /// Whether the tag is flagged as a keyframe.
    pub fn is_keyframe(&self) -> bool {
        matches!(self.frame_type, FrameType::Key | FrameType::GeneratedKey)
    }
}

/// A parsed audio tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag<'a> {
    /// AAC packet type 0: the AudioSpecificConfig. Only AAC-LC gets here.
    SequenceHeader(AudioSpecificConfig),
    /// AAC packet type 1: one raw AAC frame (no ADTS header).
    Raw(&'a [u8]),
    /// Enhanced RTMP `SequenceEnd`.
    EndOfSequence,
}

/// Parses an FLV video tag body (the RTMP video message payload). Accepts H.264 only.
pub fn parse_video_tag(body: &[u8]) -> Result<VideoTag<'_>, FlvError> {
    let first = *body.first().ok_or(FlvError::Truncated {
        what: "video tag",
        needed: 1,
        available: 0,
    })?;
    if first & 0x80 != 0 {
        return parse_enhanced_video(body);
    }
    let codec = first & 0x0f;
    if codec != 7 {
        return Err(FlvError::UnsupportedVideoCodec {
            id: codec,
            name: video_codec_name(codec),
        });
    }
    let frame_type = FrameType::from_bits(first >> 4)?;
    if frame_type == FrameType::Command {
        return Ok(VideoTag::Command(need(body, 2, "video command")?[1]));
    }
    let header = need(body, 5, "AVC video tag header")?;
    let packet_type = header[1];
    let composition_time_ms = si24(header[2], header[3], header[4]);
    let rest = &body[5..];
    match packet_type {
        0 => Ok(VideoTag::SequenceHeader(AvcDecoderConfig::parse(rest)?)),
        1 => Ok(VideoTag::Nalus(AvcNalus {
            frame_type,
            composition_time_ms,
            data: rest,
        })),
        2 => Ok(VideoTag::EndOfSequence),
        other => Err(FlvError::InvalidPacketType {
            codec: "AVC",
            packet_type: other,
        }),
    }
}

/// Enhanced RTMP (v2) video: `IsExHeader | FrameType(3) | PacketType(4)`, a FourCC, then the
/// payload. H.264 (`avc1`) is accepted; other FourCCs are named in the error.
fn parse_enhanced_video(body: &[u8]) -> Result<VideoTag<'_>, FlvError> {
    let header = need(body, 5, "enhanced RTMP video header")?;
    let frame_type = FrameType::from_bits((header[0] >> 4) & 0x07)?;
    let packet_type = header[0] & 0x0f;
    let fourcc = &header[1..5];
    if fourcc != b"avc1" {
        return Err(FlvError::UnsupportedVideoFourCc {
            fourcc: printable(fourcc),
            name: match fourcc {
                b"hvc1" => "HEVC",
                b"av01" => "AV1",
                b"vp09" => "VP9",
                b"vp08" => "VP8",
                _ => "an unknown codec",
            },
        });
    }
    let rest = &body[5..];
    if frame_type == FrameType::Command && packet_type != 4 {
        return Ok(VideoTag::Command(*rest.first().unwrap_or(&0)));
    }
    match packet_type {
        0 => Ok(VideoTag::SequenceHeader(AvcDecoderConfig::parse(rest)?)),
        1 => {
            let cts = need(rest, 3, "enhanced RTMP composition time")?;
            Ok(VideoTag::Nalus(AvcNalus {
                frame_type,
                composition_time_ms: si24(cts[0], cts[1], cts[2]),
                data: &rest[3..],
            }))
        }
        2 => Ok(VideoTag::EndOfSequence),
        3 => Ok(VideoTag::Nalus(AvcNalus {
            frame_type,
            composition_time_ms: 0,
            data: rest,
        })),
        other => Err(FlvError::InvalidPacketType {
            codec: "AVC",
            packet_type: other,
        }),
    }
}

/// Parses an FLV audio tag body (the RTMP audio message payload). Accepts AAC-LC only: the
/// sequence header is parsed and checked with [`AudioSpecificConfig::check_supported`].
pub fn parse_audio_tag(body: &[u8]) -> Result<AudioTag<'_>, FlvError> {
    let first = *body.first().ok_or(FlvError::Truncated {
        what: "audio tag",
        needed: 1,
        available: 0,
    })?;
    let format = first >> 4;
    let (packet_type, rest) = match format {
        10 => {
            let header = need(body, 2, "AAC audio tag header")?;
            (header[1], &body[2..])
        }
        9 => {
            // Enhanced RTMP: SoundFormat 9 = ExHeader, the low nibble is the packet type.
            let header = need(body, 5, "enhanced RTMP audio header")?;
            let fourcc = &header[1..5];
            if fourcc != b"mp4a" {
                return Err(FlvError::UnsupportedAudioFourCc {
                    fourcc: printable(fourcc),
                    name: match fourcc {
                        b"Opus" => "Opus",
                        b"fLaC" => "FLAC",
                        b"ac-3" => "AC-3",
                        b"ec-3" => "E-AC-3",
                        b".mp3" => "MP3",
                        _ => "an unknown codec",
                    },
                });
            }
            match first & 0x0f {
                2 => return Ok(AudioTag::EndOfSequence),
                p @ (0 | 1) => (p, &body[5..]),
                other => {
                    return Err(FlvError::InvalidPacketType {
                        codec: "AAC",
                        packet_type: other,
                    })
                }
            }
        }
        other => {
            return Err(FlvError::UnsupportedAudioFormat {
                id: other,
                name: audio_format_name(other),
            })
        }
    };
    match packet_type {
        0 => {
            let config = AudioSpecificConfig::parse(rest)?;
            config.check_supported()?;
            Ok(AudioTag::SequenceHeader(config))
        }
        1 => Ok(AudioTag::Raw(rest)),
        other => Err(FlvError::InvalidPacketType {
            codec: "AAC",
            packet_type: other,
        }),
    }
}

/// The FLV video `CodecID` names, for error messages.
pub fn video_codec_name(id: u8) -> &'static str {
    match id {
        1 => "JPEG",
        2 => "Sorenson H.263",
        3 => "Screen video",
        4 => "On2 VP6",
        5 => "On2 VP6 with alpha",
        6 => "Screen video v2",
        7 => "H.264",
        12 => "HEVC",
        13 => "AV1",
        _ => "an unknown video codec",
    }
}

/// The FLV `SoundFormat` names, for error messages.
pub fn audio_format_name(id: u8) -> &'static str {
    match id {
        0 => "Linear PCM (platform endian)",
        1 => "ADPCM",
        2 => "MP3",
        3 => "Linear PCM (little endian)",
        4 => "Nellymoser 16 kHz mono",
        5 => "Nellymoser 8 kHz mono",
        6 => "Nellymoser",
        7 => "G.711 A-law",
        8 => "G.711 mu-law",
        10 => "AAC",
        11 => "Speex",
        13 => "Opus",
        14 => "MP3 8 kHz",
        15 => "Device-specific sound",
        _ => "an unknown audio format",
    }
}

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), as carried by AVC
/// sequence headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    /// `AVCProfileIndication` (66 baseline, 77 main, 100 high, …).
    pub profile: u8,
    /// `profile_compatibility` (the constraint flags).
    pub compatibility: u8,
    /// `AVCLevelIndication` (31 = level 3.1).
    pub level: u8,
    /// Bytes in each NAL unit length prefix: `lengthSizeMinusOne + 1` (1, 2, 3 or 4; 3 is
    /// not allowed by the standard but harmless, so it is accepted).
    pub nal_length_size: u8,
    /// Sequence parameter sets, whole NAL units (type 7).
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets, whole NAL units (type 8).
    pub pps: Vec<Vec<u8>>,
}

impl AvcDecoderConfig {
    /// Parses the record. Trailing bytes (the high-profile chroma extension) are ignored.
    /// An empty SPS or PPS list is accepted (the parameter sets then come in-band); a listed
    /// parameter set must be a non-empty NAL unit of the right type.
    pub fn parse(data: &[u8]) -> Result<Self, FlvError> {
        const WHAT: &str = "AVC decoder configuration record";
        let head = need(data, 6, WHAT)?;
        if head[0] != 1 {
            return Err(FlvError::InvalidAvcConfig(format!(
                "configuration version {}, expected 1",
                head[0]
            )));
        }
        let nal_length_size = (head[4] & 0x03) + 1;
        let mut pos = 5;
        let sps_count = usize::from(head[5] & 0x1f);
        pos += 1;
        let sps = read_parameter_sets(data, &mut pos, sps_count, 7, "SPS")?;
        let pps_count = usize::from(need(data, pos + 1, WHAT)?[pos]);
        pos += 1;
        let pps = read_parameter_sets(data, &mut pos, pps_count, 8, "PPS")?;
        Ok(Self {
            profile: head[1],
            compatibility: head[2],
            level: head[3],
            nal_length_size,
            sps,
            pps,
        })
    }
}

fn read_parameter_sets(
    data: &[u8],
    pos: &mut usize,
    count: usize,
    nal_type: u8,
    name: &str,
) -> Result<Vec<Vec<u8>>, FlvError> {
    const WHAT: &str = "AVC decoder configuration record";
    let mut sets = Vec::with_capacity(count);
    for _ in 0..count {
        let len_bytes = need(data, *pos + 2, WHAT)?;
        let len = usize::from(u16::from_be_bytes([len_bytes[*pos], len_bytes[*pos + 1]]));
        *pos += 2;
        let nal = &need(data, *pos + len, WHAT)?[*pos..*pos + len];
        *pos += len;
        match nal.first() {
            None => return Err(FlvError::InvalidAvcConfig(format!("empty {name}"))),
            Some(&b) if b & 0x1f != nal_type => {
                return Err(FlvError::InvalidAvcConfig(format!(
                    "{name} has NAL unit type {}, expected {nal_type}",
                    b & 0x1f
                )))
            }
            Some(_) => sets.push(nal.to_vec()),
        }
    }
    Ok(sets)
}

/// Sampling frequencies by `samplingFrequencyIndex` (ISO/IEC 14496-3 table 1.18).
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The AAC AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1), as carried by AAC sequence
/// headers. [`AudioSpecificConfig::parse`] describes what it finds, HE-AAC included;
/// [`AudioSpecificConfig::check_supported`] says whether Podium can decode it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// The first `audioObjectType`: 2 for AAC-LC, 5 for HE-AAC (SBR) and 29 for HE-AAC v2
    /// (PS) when signalled hierarchically.
    pub object_type: u8,
    /// The object type of the core decoder: the one after the SBR/PS extension fields when
    /// `object_type` is 5 or 29 (normally 2), otherwise `object_type`.
    pub core_object_type: u8,
    /// `samplingFrequencyIndex`, `None` when the rate is given explicitly (index 15).
    pub sampling_frequency_index: Option<u8>,
    /// The (core) sampling rate in Hz.
    pub sample_rate: u32,
    /// `channelConfiguration`: 1 mono, 2 stereo, … 7 = 7.1; 0 = defined by a program config
    /// element.
    pub channel_config: u8,
    /// Samples per frame: 1024, or 960 when `frameLengthFlag` is set.
    pub frame_length: u16,
    /// Spectral band replication (HE-AAC) is signalled.
    pub sbr: bool,
    /// Parametric stereo (HE-AAC v2) is signalled.
    pub ps: bool,
    /// The SBR output rate, when signalled.
    pub extension_sample_rate: Option<u32>,
}

impl AudioSpecificConfig {
    /// Parses the config. Fails on truncated input before the channel configuration, a
    /// reserved sampling frequency index, or a zero rate. The optional SBR/PS fields are read
    /// when present; when they are cut short the config still reports `sbr`/`ps`.
    pub fn parse(data: &[u8]) -> Result<Self, FlvError> {
        // The input ended inside a field: at least one byte more is needed.
        let truncated = || FlvError::Truncated {
            what: "AAC AudioSpecificConfig",
            needed: data.len() + 1,
            available: data.len(),
        };
        let mut r = BitReader::new(data);
        let object_type = read_object_type(&mut r).ok_or_else(truncated)?;
        let (sampling_frequency_index, sample_rate) =
            read_sample_rate(&mut r)?.ok_or_else(truncated)?;
        let channel_config = u8::try_from(r.read(4).ok_or_else(truncated)?).unwrap_or(0);
        let mut config = Self {
            object_type,
            core_object_type: object_type,
            sampling_frequency_index,
            sample_rate,
            channel_config,
            frame_length: 1024,
            sbr: false,
            ps: false,
            extension_sample_rate: None,
        };
        if object_type == 5 || object_type == 29 {
            // Hierarchical signalling: extension rate, then the core object type. Encoders
            // that only set the object type (ffmpeg's native encoder asked for aac_he does)
            // stop here; the config still says HE-AAC.
            config.sbr = true;
            config.ps = object_type == 29;
            let Ok(Some((_, rate))) = read_sample_rate(&mut r) else {
                return Ok(config);
            };
            config.extension_sample_rate = Some(rate);
            let Some(core) = read_object_type(&mut r) else {
                return Ok(config);
            };
            config.core_object_type = core;
        }
        if is_general_audio(config.core_object_type) {
            // GASpecificConfig: frameLengthFlag, dependsOnCoreCoder (+ delay), extensionFlag.
            if let Some(frame_length_flag) = r.flag() {
                config.frame_length = if frame_length_flag { 960 } else { 1024 };
            }
            if r.flag() == Some(true) {
                r.read(14);
            }
            r.read(1);
            if config.channel_config != 0 && !config.sbr && config.core_object_type == 2 {
                read_sync_extension(&mut r, &mut config)?;
            }
        }
        Ok(config)
    }

    /// The number of channels the channel configuration stands for, `None` for 0 (a program
    /// config element) and reserved values.
    pub fn channels(&self) -> Option<u8> {
        match self.channel_config {
            1..=6 => Some(self.channel_config),
            7 => Some(8),
            _ => None,
        }
    }

    /// A name for the profile, with its audio object type.
    pub fn profile_name(&self) -> String {
        if self.ps {
            return if self.object_type == 29 {
                "HE-AAC v2 (PS, audio object type 29)".to_owned()
            } else {
                "HE-AAC v2 (PS signalled in an AudioSpecificConfig extension)".to_owned()
            };
        }
        if self.sbr {
            return if self.object_type == 5 {
                "HE-AAC (SBR, audio object type 5)".to_owned()
            } else {
                "HE-AAC (SBR signalled in an AudioSpecificConfig extension)".to_owned()
            };
        }
        let name = match self.object_type {
            1 => "AAC Main",
            2 => "AAC-LC",
            3 => "AAC SSR",
            4 => "AAC LTP",
            6 => "AAC Scalable",
            17 => "ER AAC-LC",
            23 => "ER AAC-LD",
            39 => "ER AAC-ELD",
            42 => "USAC (xHE-AAC)",
            _ => "AAC",
        };
        format!("{name} (audio object type {})", self.object_type)
    }

    /// Whether Podium decodes this config: AAC-LC (object type 2), no SBR or PS, 1024-sample
    /// frames, a channel configuration from 1 to 7. HE-AAC signalled only inside the audio
    /// frames (implicit signalling) cannot be seen here: such a stream decodes as its AAC-LC
    /// core at half the rate, without the high band.
    pub fn check_supported(&self) -> Result<(), FlvError> {
        if self.sbr || self.ps || self.object_type != 2 {
            return Err(FlvError::UnsupportedAac {
                profile: self.profile_name(),
            });
        }
        if self.frame_length != 1024 {
            return Err(FlvError::UnsupportedAac {
                profile: "AAC-LC with 960-sample frames".to_owned(),
            });
        }
        if self.channels().is_none() {
            return Err(FlvError::UnsupportedAac {
                profile: format!("AAC channel configuration {}", self.channel_config),
            });
        }
        Ok(())
    }
}

fn read_object_type(r: &mut BitReader<'_>) -> Option<u8> {
    let ot = r.read(5)?;
    let ot = if ot == 31 { 32 + r.read(6)? } else { ot };
    u8::try_from(ot).ok()
}

/// Reads a `samplingFrequencyIndex` and, for index 15, the explicit 24-bit rate.
/// `Ok(None)` means truncated input.
fn read_sample_rate(r: &mut BitReader<'_>) -> Result<Option<(Option<u8>, u32)>, FlvError> {
    let Some(index) = r.read(4) else {
        return Ok(None);
    };
    if index == 15 {
        let Some(rate) = r.read(24) else {
            return Ok(None);
        };
        if rate == 0 {
            return Err(FlvError::InvalidAudioConfig(
                "explicit sampling frequency 0".to_owned(),
            ));
        }
        return Ok(Some((None, rate)));
    }
    match SAMPLE_RATES.get(index as usize) {
        Some(&rate) => Ok(Some((u8::try_from(index).ok(), rate))),
        None => Err(FlvError::InvalidAudioConfig(format!(
            "reserved sampling frequency index {index}"
        ))),
    }
}

/// Object types whose config continues with a GASpecificConfig.
fn is_general_audio(ot: u8) -> bool {
    matches!(ot, 1..=4 | 6 | 7 | 17 | 19..=23)
}

/// Backward-compatible explicit signalling: after an AAC-LC config, sync extension 0x2b7
/// announces SBR and 0x548 PS.
fn read_sync_extension(
    r: &mut BitReader<'_>,
    config: &mut AudioSpecificConfig,
) -> Result<(), FlvError> {
    if r.remaining() < 16 || r.peek(11) != Some(0x2b7) {
        return Ok(());
    }
    r.read(11);
    if read_object_type(r) != Some(5) {
        return Ok(());
    }
    if r.flag() != Some(true) {
        return Ok(());
    }
    config.sbr = true;
    if let Some((_, rate)) = read_sample_rate(r)? {
        config.extension_sample_rate = Some(rate);
    }
    if r.remaining() >= 12 && r.peek(11) == Some(0x548) {
        r.read(11);
        config.ps = r.flag() == Some(true);
    }
    Ok(())
}

/// `data[..n]`, or a truncation error naming `what`.
fn need<'a>(data: &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], FlvError> {
    data.get(..n).ok_or(FlvError::Truncated {
        what,
        needed: n,
        available: data.len(),
    })
}

/// A signed 24-bit big-endian integer.
fn si24(a: u8, b: u8, c: u8) -> i32 {
    (i32::from_be_bytes([a, b, c, 0])) >> 8
}

fn printable(fourcc: &[u8]) -> String {
    fourcc
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "flv_tests.rs"]
mod tests;
