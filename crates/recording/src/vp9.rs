//! VP9 (RFC 9628): the payload descriptor (flexible and non-flexible mode, scalability
//! structure) is parsed and stripped; spatial layer 0 of each picture is kept.

use crate::assembler::{video_depacketizer_api, Assembler, FrameCodec};
use crate::bits::{BitReader, Truncated};
use crate::DepacketizeError;

/// VP9 depacketizer. Keeps spatial layer 0 only (all of a non-SVC stream): see the crate
/// docs.
#[derive(Debug)]
pub struct Vp9Depacketizer {
    inner: Assembler<Vp9Codec>,
}

video_depacketizer_api!(Vp9Depacketizer);

impl Default for Vp9Depacketizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Vp9Depacketizer {
    /// A new depacketizer, waiting for a keyframe.
    pub fn new() -> Self {
        Self {
            inner: Assembler::new(Vp9Codec::default()),
        }
    }

    /// Size of the recorded layer, from the latest keyframe header.
    pub fn size(&self) -> Option<(u32, u32)> {
        self.inner.codec.size
    }

    /// VP9 profile (0 to 3) from the latest keyframe header.
    pub fn profile(&self) -> Option<u8> {
        self.inner.codec.profile
    }
}

#[derive(Debug, Default)]
struct Vp9Codec {
    /// Spatial layer 0 of the current picture.
    data: Vec<u8>,
    /// Between its B and E packets.
    in_layer: bool,
    /// Its E packet was seen.
    done: bool,
    /// Its P flag: inter-picture predicted.
    inter: bool,
    size: Option<(u32, u32)>,
    profile: Option<u8>,
}

/// What the payload descriptor says about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Descriptor {
    /// P: inter-picture predicted.
    inter: bool,
    /// B: first packet of a layer frame.
    begins: bool,
    /// E: last packet of a layer frame.
    ends: bool,
    /// Spatial layer (0 without layer indices).
    sid: u8,
    /// Where the VP9 data begins.
    len: usize,
}

/// Parses the payload descriptor (RFC 9628 section 4.2).
fn descriptor(payload: &[u8]) -> Result<Descriptor, DepacketizeError> {
    let &b0 = payload.first().ok_or(DepacketizeError::Empty)?;
    let get = |i: usize| payload.get(i).copied().ok_or(DepacketizeError::Truncated);
    let [i, p, l, f, b, e, v] = [0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02].map(|m| b0 & m != 0);
    let mut len = 1;
    if i {
        // Picture id: 7 bits, or 15 when M is set.
        len += if get(len)? & 0x80 != 0 { 2 } else { 1 };
    }
    let mut sid = 0;
    if l {
        // |TID|U|SID|D|, then TL0PICIDX in non-flexible mode.
        sid = (get(len)? >> 1) & 0x07;
        len += if f { 1 } else { 2 };
    }
    if f && p {
        // Up to three reference indices |P_DIFF|N|, chained by N.
        let mut count = 0;
        loop {
            let diff = get(len)?;
            len += 1;
            count += 1;
            if diff & 1 == 0 {
                break;
            }
            if count == 3 {
                return Err(DepacketizeError::Malformed(
                    "more than 3 VP9 reference indices",
                ));
            }
        }
    }
    if v {
        len = skip_scalability_structure(payload, len)?;
    }
    if payload.len() <= len {
        return Err(DepacketizeError::Truncated);
    }
    Ok(Descriptor {
        inter: p,
        begins: b,
        ends: e,
        sid,
        len,
    })
}

/// Reads past the scalability structure at `at` (RFC 9628 section 4.2.1); where it ends.
fn skip_scalability_structure(payload: &[u8], mut at: usize) -> Result<usize, DepacketizeError> {
    let get = |i: usize| payload.get(i).copied().ok_or(DepacketizeError::Truncated);
    let header = get(at)?;
    at += 1;
    let layers = usize::from(header >> 5) + 1;
    if header & 0x10 != 0 {
        // Y: a 16-bit width and height per spatial layer.
        at += 4 * layers;
    }
    if header & 0x08 != 0 {
        // G: N_G pictures in the group, each |T|U|R|-|-| then R P_DIFF bytes.
        let pictures = get(at)?;
        at += 1;
        for _ in 0..pictures {
            let picture = get(at)?;
            at += 1 + usize::from((picture >> 2) & 0x03);
        }
    }
    Ok(at)
}

/// What a keyframe's uncompressed header says (VP9 bitstream spec section 6.2).
struct KeyframeHeader {
    profile: u8,
    width: u32,
    height: u32,
}

/// `Ok(Some)` for a keyframe, `Ok(None)` for another frame; an error when the frame
/// marker is wrong or a keyframe header is cut short.
fn keyframe_header(data: &[u8]) -> Result<Option<KeyframeHeader>, DepacketizeError> {
    let mut r = BitReader::new(data);
    if r.bits(2)? != 2 {
        return Err(DepacketizeError::Malformed("VP9 frame marker"));
    }
    let low = r.bits(1)? as u8;
    let profile = (r.bits(1)? as u8) << 1 | low;
    if profile == 3 {
        r.skip(1)?;
    }
    if r.bit()? {
        return Ok(None); // show_existing_frame
    }
    let key = !r.bit()?;
    r.skip(2)?; // show_frame, error_resilient_mode
    if !key {
        return Ok(None);
    }
    let parse = |r: &mut BitReader<'_>| -> Result<Option<KeyframeHeader>, Truncated> {
        if r.bits(24)? != 0x49_83_42 {
            return Ok(None);
        }
        if profile >= 2 {
            r.skip(1)?; // ten_or_twelve_bit
        }
        let color_space = r.bits(3)?;
        let subsampling = profile == 1 || profile == 3;
        if color_space != 7 {
            // color_range, then subsampling_x, subsampling_y, reserved_zero.
            r.skip(if subsampling { 4 } else { 1 })?;
        } else if subsampling {
            r.skip(1)?;
        }
        let width = r.bits(16)? + 1;
        let height = r.bits(16)? + 1;
        Ok(Some(KeyframeHeader {
            profile,
            width,
            height,
        }))
    };
    match parse(&mut r) {
        Ok(Some(header)) => Ok(Some(header)),
        Ok(None) => Err(DepacketizeError::Malformed("VP9 keyframe sync code")),
        Err(Truncated) => Err(DepacketizeError::Truncated),
    }
}

impl FrameCodec for Vp9Codec {
    fn starts_frame(&self, payload: &[u8]) -> bool {
        descriptor(payload).is_ok_and(|d| d.begins && d.sid == 0)
    }

    fn push(&mut self, payload: &[u8]) -> Result<(), DepacketizeError> {
        let d = descriptor(payload)?;
        if d.sid != 0 {
            // Upper spatial layers are not recorded.
            return Ok(());
        }
        let data = &payload[d.len..];
        if d.begins {
            if self.in_layer {
                return Err(DepacketizeError::IncompleteFragment);
            }
            if self.done {
                return Err(DepacketizeError::Malformed(
                    "two VP9 layer 0 frames with one timestamp",
                ));
            }
            // Every VP9 frame opens with frame_marker = 2 (the descriptor left a byte).
            if data.first().is_none_or(|b| b >> 6 != 2) {
                return Err(DepacketizeError::Malformed("VP9 frame marker"));
            }
            self.in_layer = true;
            self.inter = d.inter;
        } else if !self.in_layer {
            return Err(DepacketizeError::MissingStart);
        }
        self.data.extend_from_slice(data);
        if d.ends {
            self.in_layer = false;
            self.done = true;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Option<(Vec<u8>, bool)>, DepacketizeError> {
        let (in_layer, done) = (self.in_layer, self.done);
        let (data, inter) = (std::mem::take(&mut self.data), self.inter);
        self.reset();
        if in_layer {
            return Err(DepacketizeError::IncompleteFragment);
        }
        if !done {
            return Ok(None);
        }
        // A keyframe is not inter-picture predicted and says so in its header (read from
        // the whole layer frame: the first packet may be short).
        let mut keyframe = false;
        if !inter {
            if let Some(h) = keyframe_header(&data)? {
                self.size = Some((h.width, h.height));
                self.profile = Some(h.profile);
                keyframe = true;
            }
        }
        Ok(Some((data, keyframe)))
    }

    fn reset(&mut self) {
        self.data.clear();
        self.in_layer = false;
        self.done = false;
        self.inter = false;
    }
}

#[cfg(test)]
#[path = "vp9_tests.rs"]
mod tests;
