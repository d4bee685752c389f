//! H.264 (RFC 6184, packetization modes 0 and 1): single NAL unit packets, STAP-A and FU-A
//! into AVCC access units (4-byte big-endian NAL unit lengths).

use crate::assembler::{video_depacketizer_api, Assembler, FrameCodec};
use crate::h264_sps::{avc_decoder_configuration_record, parse_sps, Sps};
use crate::DepacketizeError;

const STAP_A: u8 = 24;
const FU_A: u8 = 28;
const IDR: u8 = 5;
const SPS: u8 = 7;
const PPS: u8 = 8;

/// H.264 depacketizer. Frames are access units as AVCC NAL units; see the crate docs for
/// what is kept and refused.
#[derive(Debug)]
pub struct H264Depacketizer {
    inner: Assembler<H264Codec>,
}

video_depacketizer_api!(H264Depacketizer);

impl Default for H264Depacketizer {
    fn default() -> Self {
        Self::new()
    }
}

impl H264Depacketizer {
    /// A new depacketizer, waiting for a keyframe.
    pub fn new() -> Self {
        Self {
            inner: Assembler::new(H264Codec::default()),
        }
    }

    /// The latest SPS and PPS NAL units seen (with their NAL headers), once both were.
    pub fn parameter_sets(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let codec = &self.inner.codec;
        Some((codec.sps.clone()?, codec.pps.clone()?))
    }

    /// The latest SPS, parsed; `None` before one or if it could not be read.
    pub fn sps(&self) -> Option<Sps> {
        self.inner.codec.parsed_sps
    }

    /// Picture size from the latest SPS.
    pub fn size(&self) -> Option<(u32, u32)> {
        self.sps().map(|s| (s.width, s.height))
    }

    /// The `avcC` record of the latest parameter sets (see
    /// [`avc_decoder_configuration_record`]).
    pub fn avc_decoder_configuration_record(&self) -> Option<Vec<u8>> {
        let (sps, pps) = self.parameter_sets()?;
        avc_decoder_configuration_record(&sps, &pps).ok()
    }
}

#[derive(Debug, Default)]
struct H264Codec {
    /// The access unit so far, AVCC.
    data: Vec<u8>,
    /// An FU-A NAL unit being reassembled (header rebuilt).
    fragment: Option<Vec<u8>>,
    keyframe: bool,
    /// The access unit has a slice (NAL types 1 to 5).
    has_slice: bool,
    /// Parameter sets or SEI sent on their own (with a timestamp of their own): they go in
    /// front of the next access unit rather than make a frame without a picture.
    carry: Vec<u8>,
    sps: Option<Vec<u8>>,
    parsed_sps: Option<Sps>,
    pps: Option<Vec<u8>>,
}

impl H264Codec {
    /// One whole NAL unit of the access unit.
    fn nal(&mut self, nal: &[u8]) -> Result<(), DepacketizeError> {
        let &header = nal.first().ok_or(DepacketizeError::Empty)?;
        if header & 0x80 != 0 {
            return Err(DepacketizeError::Malformed("forbidden_zero_bit set"));
        }
        match header & 0x1f {
            // Access unit delimiter and filler data carry nothing a file needs.
            9 | 12 => return Ok(()),
            // Undefined types: RFC 6184 section 5.4 says to ignore them.
            0 | 30 | 31 => return Ok(()),
            STAP_A..=29 => {
                return Err(DepacketizeError::Malformed(
                    "nested aggregation or fragment",
                ))
            }
            SPS if self.sps.as_deref() != Some(nal) => {
                self.sps = Some(nal.to_vec());
                self.parsed_sps = parse_sps(nal);
            }
            PPS => self.pps = Some(nal.to_vec()),
            _ => {}
        }
        let ty = header & 0x1f;
        self.keyframe |= ty == IDR;
        self.has_slice |= (1..=IDR).contains(&ty);
        let len = u32::try_from(nal.len()).map_err(|_| DepacketizeError::TooLarge)?;
        self.data.extend_from_slice(&len.to_be_bytes());
        self.data.extend_from_slice(nal);
        Ok(())
    }

    fn stap_a(&mut self, mut rest: &[u8]) -> Result<(), DepacketizeError> {
        if rest.is_empty() {
            return Err(DepacketizeError::Malformed("empty STAP-A"));
        }
        while !rest.is_empty() {
            let [hi, lo, tail @ ..] = rest else {
                return Err(DepacketizeError::Truncated);
            };
            let size = usize::from(u16::from_be_bytes([*hi, *lo]));
            if size == 0 {
                return Err(DepacketizeError::Malformed("empty NAL unit in STAP-A"));
            }
            let nal = tail.get(..size).ok_or(DepacketizeError::Truncated)?;
            self.nal(nal)?;
            rest = &tail[size..];
        }
        Ok(())
    }

    fn fu_a(&mut self, indicator: u8, rest: &[u8]) -> Result<(), DepacketizeError> {
        let [fu_header, data @ ..] = rest else {
            return Err(DepacketizeError::Truncated);
        };
        let (start, end) = (fu_header & 0x80 != 0, fu_header & 0x40 != 0);
        if start {
            if self.fragment.is_some() {
                return Err(DepacketizeError::IncompleteFragment);
            }
            // The NAL header: F and NRI from the indicator, the type from the FU header.
            let mut nal = Vec::with_capacity(data.len() + 1);
            nal.push((indicator & 0xe0) | (fu_header & 0x1f));
            nal.extend_from_slice(data);
            self.fragment = Some(nal);
        } else {
            let fragment = self
                .fragment
                .as_mut()
                .ok_or(DepacketizeError::MissingStart)?;
            fragment.extend_from_slice(data);
        }
        if end {
            if let Some(nal) = self.fragment.take() {
                self.nal(&nal)?;
            }
        }
        Ok(())
    }
}

/// Whether a NAL unit (its header and the byte after) can open an access unit: a
/// parameter set, SEI or delimiter, or a slice with `first_mb_in_slice == 0` (ue(v) 0 is
/// the single bit 1).
fn opens_access_unit(header: u8, next: Option<u8>) -> bool {
    match header & 0x1f {
        1 | IDR => next.is_some_and(|b| b & 0x80 != 0),
        6..=9 | 13..=15 => true,
        _ => false,
    }
}

impl FrameCodec for H264Codec {
    fn starts_frame(&self, payload: &[u8]) -> bool {
        let Some(&header) = payload.first() else {
            return false;
        };
        match header & 0x1f {
            1..=23 => opens_access_unit(header, payload.get(1).copied()),
            STAP_A => payload
                .get(3)
                .is_some_and(|&h| opens_access_unit(h, payload.get(4).copied())),
            FU_A => payload.get(1).is_some_and(|&fu| {
                fu & 0x80 != 0
                    && opens_access_unit((header & 0xe0) | (fu & 0x1f), payload.get(2).copied())
            }),
            _ => false,
        }
    }

    fn push(&mut self, payload: &[u8]) -> Result<(), DepacketizeError> {
        let (&header, rest) = payload.split_first().ok_or(DepacketizeError::Empty)?;
        if header & 0x80 != 0 {
            return Err(DepacketizeError::Malformed("forbidden_zero_bit set"));
        }
        let ty = header & 0x1f;
        if ty != FU_A && self.fragment.is_some() {
            return Err(DepacketizeError::IncompleteFragment);
        }
        match ty {
            1..=23 => self.nal(payload),
            STAP_A => self.stap_a(rest),
            FU_A => self.fu_a(header, rest),
            25..=27 | 29 => Err(DepacketizeError::Unsupported(
                "STAP-B, MTAP or FU-B (interleaved packetization mode)",
            )),
            _ => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<Option<(Vec<u8>, bool)>, DepacketizeError> {
        if self.fragment.is_some() {
            self.reset();
            return Err(DepacketizeError::IncompleteFragment);
        }
        let keyframe = std::mem::take(&mut self.keyframe);
        let data = std::mem::take(&mut self.data);
        if !std::mem::take(&mut self.has_slice) {
            if !data.is_empty() {
                self.carry = data;
            }
            return Ok(None);
        }
        let mut frame = std::mem::take(&mut self.carry);
        frame.extend_from_slice(&data);
        Ok(Some((frame, keyframe)))
    }

    fn reset(&mut self) {
        self.data.clear();
        self.fragment = None;
        self.keyframe = false;
        self.has_slice = false;
    }
}

#[cfg(test)]
#[path = "h264_tests.rs"]
mod tests;
