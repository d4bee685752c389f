//! AV1 (AOM "RTP Payload Format For AV1", section 4): OBU elements are reassembled across
//! packets and each temporal unit is written in the low overhead bitstream format.

use crate::assembler::{video_depacketizer_api, Assembler, FrameCodec};
use crate::av1_seq::{parse_av1_sequence_header, Av1SequenceHeader};
use crate::bits::{read_leb128, write_leb128};
use crate::DepacketizeError;

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_TILE_LIST: u8 = 8;
const OBU_PADDING: u8 = 15;

/// AV1 depacketizer. Frames are temporal units, every OBU with a size field, without
/// temporal delimiters (prepend `12 00` for a raw `.obu` stream).
#[derive(Debug)]
pub struct Av1Depacketizer {
    inner: Assembler<Av1Codec>,
}

video_depacketizer_api!(Av1Depacketizer);

impl Default for Av1Depacketizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Av1Depacketizer {
    /// A new depacketizer, waiting for a keyframe.
    pub fn new() -> Self {
        Self {
            inner: Assembler::new(Av1Codec::default()),
        }
    }

    /// The latest sequence header OBU, in the low overhead format (with its size field):
    /// the `configOBUs` of an `av1C` record.
    pub fn sequence_header(&self) -> Option<&[u8]> {
        self.inner.codec.sequence_header.as_deref()
    }

    /// The latest sequence header, parsed (`None` if it could not be).
    pub fn parsed_sequence_header(&self) -> Option<Av1SequenceHeader> {
        self.inner.codec.parsed
    }

    /// The maximum frame size from the latest sequence header.
    pub fn size(&self) -> Option<(u32, u32)> {
        self.parsed_sequence_header()
            .map(|h| (h.max_frame_width, h.max_frame_height))
    }

    /// The `av1C` record for the latest sequence header.
    pub fn av1c(&self) -> Option<Vec<u8>> {
        Some(self.parsed_sequence_header()?.av1c(self.sequence_header()?))
    }
}

#[derive(Debug, Default)]
struct Av1Codec {
    /// The temporal unit so far, low overhead format.
    data: Vec<u8>,
    /// An OBU whose end is in a later packet (Y = 1).
    fragment: Option<Vec<u8>>,
    keyframe: bool,
    sequence_header: Option<Vec<u8>>,
    parsed: Option<Av1SequenceHeader>,
}

/// The aggregation header |Z|Y|W W|N|-|-|-|.
struct Aggregation {
    /// Z: the first element continues an OBU.
    continues: bool,
    /// Y: the last element continues in the next packet.
    to_be_continued: bool,
    /// W: the element count when not 0 (the last one has no length then).
    count: u8,
    /// N: the first packet of a coded video sequence.
    new_sequence: bool,
}

impl Aggregation {
    fn parse(b: u8) -> Self {
        Self {
            continues: b & 0x80 != 0,
            to_be_continued: b & 0x40 != 0,
            count: (b >> 4) & 0x03,
            new_sequence: b & 0x08 != 0,
        }
    }
}

/// Splits a packet's OBU elements (after the aggregation header).
fn elements(mut rest: &[u8], count: u8) -> Result<Vec<&[u8]>, DepacketizeError> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let element = if count != 0 && out.len() + 1 == usize::from(count) {
            std::mem::take(&mut rest)
        } else {
            let (len, n) = read_leb128(rest).ok_or(DepacketizeError::Truncated)?;
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| n.checked_add(len))
                .ok_or(DepacketizeError::Truncated)?;
            let element = rest.get(n..end).ok_or(DepacketizeError::Truncated)?;
            rest = &rest[end..];
            element
        };
        if element.is_empty() {
            return Err(DepacketizeError::Malformed("empty AV1 OBU element"));
        }
        out.push(element);
    }
    if out.is_empty() {
        return Err(DepacketizeError::Truncated);
    }
    if count != 0 && out.len() != usize::from(count) {
        return Err(DepacketizeError::Malformed(
            "AV1 OBU element count differs from W",
        ));
    }
    Ok(out)
}

impl Av1Codec {
    /// One whole OBU from the packets; written with a size field unless dropped.
    fn obu(&mut self, obu: &[u8]) -> Result<(), DepacketizeError> {
        let &header = obu.first().ok_or(DepacketizeError::Empty)?;
        if header & 0x80 != 0 {
            return Err(DepacketizeError::Malformed("AV1 obu_forbidden_bit set"));
        }
        let ty = (header >> 3) & 0x0f;
        let header_len = if header & 0x04 != 0 { 2 } else { 1 };
        let mut payload = obu.get(header_len..).ok_or(DepacketizeError::Truncated)?;
        if header & 0x02 != 0 {
            // Senders should leave the size out, but may not: it must then fit the element.
            let (size, n) = read_leb128(payload).ok_or(DepacketizeError::Truncated)?;
            payload = &payload[n..];
            if usize::try_from(size).ok() != Some(payload.len()) {
                return Err(DepacketizeError::Malformed(
                    "AV1 OBU size differs from its element",
                ));
            }
        }
        // Temporal delimiters are implied by the RTP timestamp, tile lists are not for
        // RTP, padding is worthless: the spec lets receivers drop them all.
        if matches!(ty, OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING) {
            return Ok(());
        }
        let start = self.data.len();
        self.data.push(header | 0x02);
        self.data.extend_from_slice(&obu[1..header_len]);
        write_leb128(payload.len() as u64, &mut self.data);
        self.data.extend_from_slice(payload);
        if ty == OBU_SEQUENCE_HEADER {
            self.keyframe = true;
            let written = &self.data[start..];
            if self.sequence_header.as_deref() != Some(written) {
                self.parsed = parse_av1_sequence_header(written);
                self.sequence_header = Some(written.to_vec());
            }
        }
        Ok(())
    }
}

impl FrameCodec for Av1Codec {
    fn starts_frame(&self, payload: &[u8]) -> bool {
        let Some((&b, rest)) = payload.split_first() else {
            return false;
        };
        let agg = Aggregation::parse(b);
        if agg.continues {
            return false;
        }
        if agg.new_sequence {
            return true;
        }
        // A temporal unit that visibly starts: with its delimiter or a sequence header.
        let first = if agg.count == 1 {
            rest.first()
        } else {
            read_leb128(rest).and_then(|(_, n)| rest.get(n))
        };
        first.is_some_and(|h| {
            matches!(
                (h >> 3) & 0x0f,
                OBU_SEQUENCE_HEADER | OBU_TEMPORAL_DELIMITER
            )
        })
    }

    fn push(&mut self, payload: &[u8]) -> Result<(), DepacketizeError> {
        let (&b, rest) = payload.split_first().ok_or(DepacketizeError::Empty)?;
        let agg = Aggregation::parse(b);
        if agg.continues != self.fragment.is_some() {
            return Err(if agg.continues {
                DepacketizeError::MissingStart
            } else {
                DepacketizeError::IncompleteFragment
            });
        }
        if agg.new_sequence {
            self.keyframe = true;
        }
        let elements = elements(rest, agg.count)?;
        let last = elements.len() - 1;
        for (i, element) in elements.into_iter().enumerate() {
            let mut joined;
            let mut obu = element;
            if i == 0 {
                if let Some(fragment) = self.fragment.take() {
                    joined = fragment;
                    joined.extend_from_slice(element);
                    obu = &joined;
                }
            }
            if i == last && agg.to_be_continued {
                self.fragment = Some(obu.to_vec());
            } else {
                self.obu(obu)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Option<(Vec<u8>, bool)>, DepacketizeError> {
        let incomplete = self.fragment.is_some();
        let (data, keyframe) = (std::mem::take(&mut self.data), self.keyframe);
        self.reset();
        if incomplete {
            return Err(DepacketizeError::IncompleteFragment);
        }
        Ok((!data.is_empty()).then_some((data, keyframe)))
    }

    fn reset(&mut self) {
        self.data.clear();
        self.fragment = None;
        self.keyframe = false;
    }
}

#[cfg(test)]
#[path = "av1_tests.rs"]
mod tests;
