//! Sans-IO building blocks for RTMP ingest: what a publisher's FLV tags become on the way to
//! WebRTC viewers. Nothing here opens a socket, reads a clock or spawns a task; the RTMP
//! shell (handshake, chunk stream and session, e.g. `rml_rtmp`) feeds tag bodies and
//! timestamps in and sends what comes out.
//!
//! * [`flv`]: parses video and audio tag bodies as RTMP delivers them. Video: the AVC
//!   sequence header (an [`flv::AvcDecoderConfig`]: NAL length size, SPS and PPS), access
//!   units of length-prefixed NAL units with their composition time, end of sequence; legacy
//!   FLV and the enhanced-RTMP `avc1` form. Audio: the AAC sequence header (an
//!   [`flv::AudioSpecificConfig`]: object type, sampling rate, channels, SBR/PS) and raw AAC
//!   frames.
//! * [`h264`]: an RFC 6184 packetizer ([`h264::H264Packetizer`]): single NAL unit packets,
//!   SPS+PPS in one STAP-A before every IDR, FU-A for NAL units over the payload budget
//!   (1200 bytes by default), the marker on the last packet of each access unit, delimiters
//!   and filler dropped. RTMP cannot ask the encoder for a keyframe, so a viewer's request
//!   waits for the next IDR: publishers should use a keyframe interval of 1–2 s.
//! * [`audio`]: a streaming AAC-LC → Opus transcoder ([`audio::AacToOpus`]): symphonia
//!   decodes, rubato resamples to 48 kHz, libopus encodes 20 ms frames; each frame comes out
//!   with its RTP timestamp on the FLV time axis (gaps jump, never drift), the RFC 6464 audio
//!   level of its samples and a voice-activity flag.
//! * [`timestamp`]: FLV millisecond timestamps (32-bit, wrapping) to RTP timestamps at
//!   90 kHz or 48 kHz ([`timestamp::TimestampMapper`]), monotone across the wraparound,
//!   holding small backward steps and continuing across encoder clock resets.
//!
//! # What is refused, and the message
//!
//! Every parser (and the audio transcoder) returns a typed error and never panics, whatever
//! the bytes. The errors' messages are meant for the publisher:
//!
//! | Input | Error | Message |
//! |---|---|---|
//! | video codec other than H.264 | [`FlvError::UnsupportedVideoCodec`] | `HEVC (12) is not supported, use H.264` (also Sorenson H.263, On2 VP6, Screen video, AV1, …) |
//! | enhanced RTMP video other than `avc1` | [`FlvError::UnsupportedVideoFourCc`] | `HEVC (enhanced RTMP 'hvc1') is not supported, use H.264` (AV1, VP9, VP8) |
//! | audio format other than AAC | [`FlvError::UnsupportedAudioFormat`] | `MP3 (2) is not supported, use AAC-LC` (Speex, Nellymoser, G.711, PCM, ADPCM, …) |
//! | enhanced RTMP audio other than `mp4a` | [`FlvError::UnsupportedAudioFourCc`] | `Opus (enhanced RTMP 'Opus') is not supported, use AAC-LC` (FLAC, AC-3, E-AC-3, MP3) |
//! | HE-AAC | [`FlvError::UnsupportedAac`] | `HE-AAC (SBR, audio object type 5) is not supported, use AAC-LC` |
//! | HE-AAC v2 | [`FlvError::UnsupportedAac`] | `HE-AAC v2 (PS, audio object type 29) is not supported, use AAC-LC` |
//! | HE-AAC signalled by a sync extension | [`FlvError::UnsupportedAac`] | `HE-AAC (SBR signalled in an AudioSpecificConfig extension) is not supported, use AAC-LC` |
//! | other AAC profiles | [`FlvError::UnsupportedAac`] | `AAC Main (audio object type 1) is not supported, use AAC-LC` (LTP, SSR, LD, ELD, USAC, 960-sample frames, channel configuration 0) |
//! | a cut-short tag or record | [`FlvError::Truncated`] | `truncated AVC video tag header: 5 bytes needed, 3 available` |
//! | a bad frame or packet type | [`FlvError::InvalidFrameType`], [`FlvError::InvalidPacketType`] | `invalid AVC packet type 3` |
//! | a malformed record | [`FlvError::InvalidAvcConfig`], [`FlvError::InvalidAudioConfig`] | `invalid AVC decoder configuration record: SPS has NAL unit type 8, expected 7` |
//! | NAL units before a sequence header | [`H264Error::MissingConfig`] | `H.264 frames arrived before the AVC sequence header` |
//! | a NAL length past the end | [`H264Error::Overrun`] | `NAL unit at byte 0 claims 300 bytes, 12 remain` |
//! | an SPS/PPS whose id is unreadable | [`H264Error::BadParameterSet`] | `malformed SPS: unreadable or out-of-range id` |
//! | AAC with more than two channels | [`AudioError::UnsupportedChannels`] | `AAC with channel configuration 6 is not supported, use mono or stereo` |
//! | an AAC frame the decoder rejects | [`AudioError::Undecodable`] | `AAC frame 12 could not be decoded (…); replaced by silence` (the transcoder goes on) |
//!
//! HE-AAC signalled only inside the audio frames (implicit signalling) cannot be seen in the
//! config; it decodes as its AAC-LC core. B-frames (main/high profile) pass through with
//! their composition offsets, but browsers' WebRTC H.264 decoders do not expect reordering:
//! publishers should prefer the baseline profile or `-bf 0` (OBS: x264 `bframes=0`).
//!
//! # Example
//!
//! ```
//! use podium_ingest::flv::{parse_video_tag, VideoTag};
//! use podium_ingest::h264::H264Packetizer;
//! use podium_ingest::timestamp::TimestampMapper;
//!
//! let mut packetizer = H264Packetizer::default();
//! let mut clock = TimestampMapper::video(0x1234_5678); // a random base in real use
//! # let sequence_header = [0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 5, 0x67, 0x42, 0xc0, 0x1e, 0xd9, 1, 0, 2, 0x68, 0xce];
//! # let frame = [0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88];
//! for (body, flv_ms) in [(&sequence_header[..], 0), (&frame[..], 0)] {
//!     match parse_video_tag(body)? {
//!         VideoTag::SequenceHeader(config) => packetizer.set_config(&config)?,
//!         VideoTag::Nalus(au) => {
//!             let time = clock.map(flv_ms, au.composition_time_ms);
//!             for p in packetizer.packetize(au.data)?.payloads {
//!                 // write p.payload with time.rtp_timestamp, p.marker, own SSRC and seq
//!                 assert!(p.payload.len() <= packetizer.max_payload());
//!             }
//!         }
//!         VideoTag::EndOfSequence | VideoTag::Command(_) => {}
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod audio;
mod bits;
pub mod flv;
pub mod h264;
pub mod pipeline;
pub mod stream_key;
pub mod timestamp;

pub use audio::AudioError;
pub use flv::FlvError;
pub use h264::H264Error;
pub use pipeline::IngestError;
