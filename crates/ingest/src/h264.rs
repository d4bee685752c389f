//! RFC 6184 RTP packetizing of the AVCC-framed access units that FLV carries.
//!
//! [`H264Packetizer::packetize`] takes one access unit (the NAL units of one AVC video tag,
//! each prefixed by its length) and returns RTP payloads with their marker flags; the caller
//! owns SSRC, sequence numbers and timestamps (see [`crate::timestamp`]). It
//!
//! * splits the access unit by the NAL length size of the sequence header
//!   ([`AvcDecoderConfig::nal_length_size`]);
//! * drops access unit delimiters (type 9), filler data (type 12) and the types H.264 leaves
//!   unspecified (0, 24–31, which RFC 6184 uses for its own packet types);
//! * caches SPS and PPS by id, from the sequence header and from in-band parameter sets, and
//!   puts all of them in one STAP-A (type 24) in front of every IDR (type 5), so a viewer
//!   that joins, or loses packets, can decode from any keyframe;
//! * sends a NAL unit that fits the payload budget as a single NAL unit packet and a larger
//!   one as FU-A fragments (type 28, the NAL header's F and NRI bits copied, S on the first,
//!   E on the last);
//! * sets the marker on the last payload of the access unit.
//!
//! # Keyframe requests
//!
//! RTMP gives no way to ask the encoder for a keyframe, so a viewer's PLI or FIR cannot be
//! answered at once. [`H264Packetizer::request_keyframe`] notes the request; the next IDR the
//! encoder produces goes out with SPS and PPS in front (as every IDR does) and
//! [`Packetized::answered_keyframe_request`] tells the caller that the request is served. A
//! new viewer therefore waits up to one GOP: publishers should set a keyframe interval of 1
//! to 2 seconds (OBS: Settings → Output → Keyframe Interval 1 or 2; ffmpeg: `-g` equal to
//! one or two seconds of frames, e.g. `-g 30` or `-g 60` at 30 fps).

use std::collections::BTreeMap;

use crate::bits::{unescape_rbsp, BitReader};
use crate::flv::AvcDecoderConfig;

/// The default payload budget: an RTP payload stays under 1200 bytes, which leaves room for
/// the RTP header, extensions, SRTP and IP/UDP under a 1280-byte path MTU.
pub const DEFAULT_MAX_PAYLOAD: usize = 1200;
/// The smallest payload budget [`H264Packetizer::new`] accepts; smaller values are raised.
pub const MIN_MAX_PAYLOAD: usize = 16;
/// The largest payload budget (a STAP-A size field is 16 bits); larger values are lowered.
pub const MAX_MAX_PAYLOAD: usize = 65_535;

/// NAL unit types used here (H.264 table 7-1, RFC 6184 table 1).
pub mod nal_type {
    /// Coded slice of a non-IDR picture.
    pub const NON_IDR: u8 = 1;
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter (dropped).
    pub const AUD: u8 = 9;
    /// Filler data (dropped).
    pub const FILLER: u8 = 12;
    /// RFC 6184 single-time aggregation packet.
    pub const STAP_A: u8 = 24;
    /// RFC 6184 fragmentation unit.
    pub const FU_A: u8 = 28;
}

/// The type of a NAL unit (the low five bits of its first byte; 0 for an empty slice).
pub fn nal_unit_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Why an access unit or a parameter set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum H264Error {
    /// NAL units arrived before any sequence header gave the NAL length size.
    #[error("H.264 frames arrived before the AVC sequence header")]
    MissingConfig,
    /// A NAL unit length prefix runs past the end of the access unit.
    #[error("NAL unit at byte {offset} claims {length} bytes, {remaining} remain")]
    Overrun {
        /// Offset of the length prefix in the access unit.
        offset: usize,
        /// The length it claims (0 when the prefix itself is cut short).
        length: usize,
        /// Bytes left after the prefix.
        remaining: usize,
    },
    /// A NAL length size outside 1–4.
    #[error("NAL length size {0}, expected 1 to 4")]
    BadLengthSize(u8),
    /// An SPS or PPS whose id cannot be read or is out of range.
    #[error("malformed {0}: unreadable or out-of-range id")]
    BadParameterSet(&'static str),
}

/// One RTP payload and its marker bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPayload {
    /// The RTP payload (starting with the NAL, STAP-A or FU-A header).
    pub payload: Vec<u8>,
    /// The RTP marker: set on the last payload of an access unit.
    pub marker: bool,
}

/// The payloads of one access unit and what the packetizer noticed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packetized {
    /// The payloads in sending order; empty when nothing was left to send (say an access
    /// unit of only delimiters and filler).
    pub payloads: Vec<RtpPayload>,
    /// The access unit holds an IDR slice.
    pub idr: bool,
    /// Cached SPS/PPS were sent in front of the IDR.
    pub parameter_sets_sent: bool,
    /// This IDR answers a pending [`H264Packetizer::request_keyframe`].
    pub answered_keyframe_request: bool,
    /// NAL units dropped (delimiters, filler, unspecified types, empty ones).
    pub dropped_nals: usize,
}

/// The packetizer of one H.264 track. Sans-IO: bytes in, payloads out.
#[derive(Debug, Clone)]
pub struct H264Packetizer {
    max_payload: usize,
    nal_length_size: Option<u8>,
    sps: BTreeMap<u32, Vec<u8>>,
    pps: BTreeMap<u32, Vec<u8>>,
    keyframe_requested: bool,
}

impl Default for H264Packetizer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PAYLOAD)
    }
}

impl H264Packetizer {
    /// A packetizer whose payloads are at most `max_payload` bytes (clamped to
    /// [`MIN_MAX_PAYLOAD`]..=[`MAX_MAX_PAYLOAD`]). It needs a sequence header
    /// ([`Self::set_config`]) before the first access unit.
    pub fn new(max_payload: usize) -> Self {
        Self {
            max_payload: max_payload.clamp(MIN_MAX_PAYLOAD, MAX_MAX_PAYLOAD),
            nal_length_size: None,
            sps: BTreeMap::new(),
            pps: BTreeMap::new(),
            keyframe_requested: false,
        }
    }

    /// The payload budget in use.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Takes a sequence header: its NAL length size and parameter sets replace the previous
    /// ones (an encoder sends a new one when its settings change).
    pub fn set_config(&mut self, config: &AvcDecoderConfig) -> Result<(), H264Error> {
        if !(1..=4).contains(&config.nal_length_size) {
            return Err(H264Error::BadLengthSize(config.nal_length_size));
        }
        let mut sps = BTreeMap::new();
        for nal in &config.sps {
            sps.insert(sps_id(nal)?, nal.clone());
        }
        let mut pps = BTreeMap::new();
        for nal in &config.pps {
            pps.insert(pps_id(nal)?, nal.clone());
        }
        self.nal_length_size = Some(config.nal_length_size);
        self.sps = sps;
        self.pps = pps;
        Ok(())
    }

    /// Whether at least one SPS and one PPS are cached.
    pub fn has_parameter_sets(&self) -> bool {
        !self.sps.is_empty() && !self.pps.is_empty()
    }

    /// Notes that a viewer asked for a keyframe (PLI/FIR). See the module docs: the request
    /// is served by the encoder's next IDR.
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// Whether a keyframe request is waiting for the next IDR.
    pub fn keyframe_requested(&self) -> bool {
        self.keyframe_requested
    }

    /// Packetizes one access unit of length-prefixed NAL units (the data of an AVC video
    /// tag). On error nothing is sent and the caches are unchanged.
    pub fn packetize(&mut self, access_unit: &[u8]) -> Result<Packetized, H264Error> {
        let length_size = self.nal_length_size.ok_or(H264Error::MissingConfig)?;
        let mut out = Packetized::default();
        let mut nals = Vec::new();
        for nal in split_avcc(access_unit, length_size)? {
            match nal_unit_type(nal) {
                _ if nal.is_empty() => out.dropped_nals += 1,
                0 | nal_type::AUD | nal_type::FILLER | 24..=31 => out.dropped_nals += 1,
                t => {
                    out.idr |= t == nal_type::IDR;
                    nals.push(nal);
                }
            }
        }
        // Read every in-band parameter set before caching any, so an error changes nothing.
        let mut in_band = Vec::new();
        for nal in &nals {
            match nal_unit_type(nal) {
                nal_type::SPS => in_band.push((true, sps_id(nal)?, *nal)),
                nal_type::PPS => in_band.push((false, pps_id(nal)?, *nal)),
                _ => {}
            }
        }
        for (is_sps, id, nal) in in_band {
            let cache = if is_sps { &mut self.sps } else { &mut self.pps };
            cache.insert(id, nal.to_vec());
        }
        let send_cached = out.idr && (!self.sps.is_empty() || !self.pps.is_empty());
        if send_cached {
            let sets: Vec<&[u8]> = self
                .sps
                .values()
                .chain(self.pps.values())
                .map(Vec::as_slice)
                .collect();
            self.push_parameter_sets(&sets, &mut out.payloads);
            out.parameter_sets_sent = true;
        }
        for nal in nals {
            let t = nal_unit_type(nal);
            if send_cached && (t == nal_type::SPS || t == nal_type::PPS) {
                continue; // already in the STAP-A, from the cache it just updated
            }
            self.push_nal(nal, &mut out.payloads);
        }
        if let Some(last) = out.payloads.last_mut() {
            last.marker = true;
        }
        if out.idr {
            out.answered_keyframe_request = self.keyframe_requested;
            self.keyframe_requested = false;
        }
        Ok(out)
    }

    /// SPS and PPS as one STAP-A when they fit, one by one otherwise.
    fn push_parameter_sets(&self, sets: &[&[u8]], payloads: &mut Vec<RtpPayload>) {
        let stap_len = 1 + sets.iter().map(|s| 2 + s.len()).sum::<usize>();
        if sets.len() < 2 || stap_len > self.max_payload {
            for set in sets {
                self.push_nal(set, payloads);
            }
            return;
        }
        let forbidden = sets.iter().fold(0, |f, s| f | (s[0] & 0x80));
        let nri = sets.iter().map(|s| s[0] & 0x60).max().unwrap_or(0);
        let mut payload = Vec::with_capacity(stap_len);
        payload.push(forbidden | nri | nal_type::STAP_A);
        for set in sets {
            // Fits in 16 bits: the whole STAP-A is within the budget (at most 65 535).
            payload.extend_from_slice(&(set.len() as u16).to_be_bytes());
            payload.extend_from_slice(set);
        }
        payloads.push(RtpPayload {
            payload,
            marker: false,
        });
    }

    /// One NAL unit as a single NAL unit packet or FU-A fragments. `nal` is not empty.
    fn push_nal(&self, nal: &[u8], payloads: &mut Vec<RtpPayload>) {
        if nal.len() <= self.max_payload {
            payloads.push(RtpPayload {
                payload: nal.to_vec(),
                marker: false,
            });
            return;
        }
        let header = nal[0];
        let indicator = (header & 0xe0) | nal_type::FU_A;
        let body = &nal[1..];
        // The body is longer than the budget minus the two FU bytes, so there are at least
        // two fragments and S and E are never set together.
        let chunk = self.max_payload - 2;
        let count = body.len().div_ceil(chunk);
        for (i, piece) in body.chunks(chunk).enumerate() {
            let mut fu_header = header & 0x1f;
            if i == 0 {
                fu_header |= 0x80;
            }
            if i + 1 == count {
                fu_header |= 0x40;
            }
            let mut payload = Vec::with_capacity(2 + piece.len());
            payload.push(indicator);
            payload.push(fu_header);
            payload.extend_from_slice(piece);
            payloads.push(RtpPayload {
                payload,
                marker: false,
            });
        }
    }
}

/// Splits AVCC data (NAL units each prefixed by a `length_size`-byte big-endian length)
/// into NAL units. Zero-length units are returned as empty slices.
pub fn split_avcc(data: &[u8], length_size: u8) -> Result<Vec<&[u8]>, H264Error> {
    if !(1..=4).contains(&length_size) {
        return Err(H264Error::BadLengthSize(length_size));
    }
    let size = usize::from(length_size);
    let mut nals = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let Some(prefix) = data.get(pos..pos + size) else {
            return Err(H264Error::Overrun {
                offset: pos,
                length: 0,
                remaining: data.len() - pos,
            });
        };
        let length = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let start = pos + size;
        let Some(nal) = data.get(start..).and_then(|rest| rest.get(..length)) else {
            return Err(H264Error::Overrun {
                offset: pos,
                length,
                remaining: data.len().saturating_sub(start),
            });
        };
        nals.push(nal);
        pos = start + length;
    }
    Ok(nals)
}

/// `seq_parameter_set_id` of an SPS NAL unit (after profile, constraint flags and level).
pub fn sps_id(nal: &[u8]) -> Result<u32, H264Error> {
    let rbsp = unescape_rbsp(nal.get(1..).unwrap_or_default(), 16);
    let mut r = BitReader::new(&rbsp);
    r.read(24)
        .and_then(|_| r.read_ue())
        .filter(|&id| id <= 31)
        .ok_or(H264Error::BadParameterSet("SPS"))
}

/// `pic_parameter_set_id` of a PPS NAL unit.
pub fn pps_id(nal: &[u8]) -> Result<u32, H264Error> {
    let rbsp = unescape_rbsp(nal.get(1..).unwrap_or_default(), 16);
    BitReader::new(&rbsp)
        .read_ue()
        .filter(|&id| id <= 255)
        .ok_or(H264Error::BadParameterSet("PPS"))
}

#[cfg(test)]
#[path = "h264_tests.rs"]
mod tests;
