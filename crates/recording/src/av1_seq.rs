//! AV1 sequence header OBUs (AV1 bitstream spec section 5.5): the maximum frame size and
//! the fields of the `av1C` record (AV1 ISOBMFF binding section 2.3).

use crate::bits::{read_leb128, BitReader, Truncated};

/// What a recorder needs from an AV1 sequence header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1SequenceHeader {
    /// `seq_profile` (0 main, 1 high, 2 professional).
    pub seq_profile: u8,
    /// `still_picture`.
    pub still_picture: bool,
    /// `seq_level_idx[0]`.
    pub seq_level_idx_0: u8,
    /// `seq_tier[0]`.
    pub seq_tier_0: bool,
    /// `high_bitdepth`.
    pub high_bitdepth: bool,
    /// `twelve_bit`.
    pub twelve_bit: bool,
    /// `mono_chrome`.
    pub monochrome: bool,
    /// `subsampling_x`.
    pub chroma_subsampling_x: bool,
    /// `subsampling_y`.
    pub chroma_subsampling_y: bool,
    /// `chroma_sample_position`.
    pub chroma_sample_position: u8,
    /// `max_frame_width_minus_1 + 1`.
    pub max_frame_width: u32,
    /// `max_frame_height_minus_1 + 1`.
    pub max_frame_height: u32,
}

impl Av1SequenceHeader {
    /// The `AV1CodecConfigurationRecord` (body of an MP4 `av1C` box, Matroska's `V_AV1`
    /// CodecPrivate) with `config_obus` after it: the sequence header OBU in the low
    /// overhead format, as [`crate::Av1Depacketizer::sequence_header`] gives it.
    pub fn av1c(&self, config_obus: &[u8]) -> Vec<u8> {
        let flag = |b: bool, shift: u8| u8::from(b) << shift;
        let mut out = Vec::with_capacity(4 + config_obus.len());
        out.push(0x81); // marker, version 1
        out.push(self.seq_profile << 5 | self.seq_level_idx_0);
        out.push(
            flag(self.seq_tier_0, 7)
                | flag(self.high_bitdepth, 6)
                | flag(self.twelve_bit, 5)
                | flag(self.monochrome, 4)
                | flag(self.chroma_subsampling_x, 3)
                | flag(self.chroma_subsampling_y, 2)
                | self.chroma_sample_position,
        );
        out.push(0); // no initial_presentation_delay
        out.extend_from_slice(config_obus);
        out
    }
}

/// Parses a sequence header OBU (its OBU header, with or without a size field, then the
/// payload). `None` when it is not one, is cut short or is out of range.
pub fn parse_av1_sequence_header(obu: &[u8]) -> Option<Av1SequenceHeader> {
    let &header = obu.first()?;
    if header & 0x80 != 0 || (header >> 3) & 0x0f != 1 {
        return None;
    }
    let mut at = if header & 0x04 != 0 { 2 } else { 1 };
    let mut payload = obu.get(at..)?;
    if header & 0x02 != 0 {
        let (size, n) = read_leb128(payload)?;
        at = n;
        payload = payload.get(at..at.checked_add(usize::try_from(size).ok()?)?)?;
    }
    parse_payload(&mut BitReader::new(payload)).ok().flatten()
}

fn parse_payload(r: &mut BitReader<'_>) -> Result<Option<Av1SequenceHeader>, Truncated> {
    let seq_profile = r.bits(3)? as u8;
    if seq_profile > 2 {
        return Ok(None);
    }
    let still_picture = r.bit()?;
    let reduced = r.bit()?;
    let (mut seq_level_idx_0, mut seq_tier_0) = (0, false);
    if reduced {
        seq_level_idx_0 = r.bits(5)? as u8;
    } else {
        let (mut decoder_model, mut buffer_delay_length) = (false, 0);
        if r.bit()? {
            // timing_info()
            r.skip(64)?; // num_units_in_display_tick, time_scale
            if r.bit()? {
                r.uvlc()?; // num_ticks_per_picture_minus_1
            }
            decoder_model = r.bit()?;
            if decoder_model {
                // decoder_model_info()
                buffer_delay_length = r.bits(5)? as usize + 1;
                r.skip(32 + 5 + 5)?;
            }
        }
        let initial_display_delay = r.bit()?;
        let operating_points = r.bits(5)? + 1;
        for i in 0..operating_points {
            r.skip(12)?; // operating_point_idc
            let level = r.bits(5)? as u8;
            let tier = level > 7 && r.bit()?;
            if decoder_model && r.bit()? {
                // operating_parameters_info(): two delays and low_delay_mode_flag.
                r.skip(2 * buffer_delay_length + 1)?;
            }
            if initial_display_delay && r.bit()? {
                r.skip(4)?;
            }
            if i == 0 {
                (seq_level_idx_0, seq_tier_0) = (level, tier);
            }
        }
    }
    let width_bits = r.bits(4)? + 1;
    let height_bits = r.bits(4)? + 1;
    let max_frame_width = r.bits(width_bits)? + 1;
    let max_frame_height = r.bits(height_bits)? + 1;
    if !reduced && r.bit()? {
        // frame_id_numbers_present_flag: delta_frame_id_length_minus_2,
        // additional_frame_id_length_minus_1
        r.skip(7)?;
    }
    r.skip(3)?; // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if !reduced {
        // enable_interintra_compound, enable_masked_compound, enable_warped_motion,
        // enable_dual_filter
        r.skip(4)?;
        let order_hint = r.bit()?;
        if order_hint {
            r.skip(2)?; // enable_jnt_comp, enable_ref_frame_mvs
        }
        // seq_choose_screen_content_tools, else seq_force_screen_content_tools.
        let force_screen_content_tools = if r.bit()? { 2 } else { r.bits(1)? };
        if force_screen_content_tools > 0 && !r.bit()? {
            r.skip(1)?; // seq_force_integer_mv
        }
        if order_hint {
            r.skip(3)?; // order_hint_bits_minus_1
        }
    }
    r.skip(3)?; // enable_superres, enable_cdef, enable_restoration
                // color_config()
    let high_bitdepth = r.bit()?;
    let twelve_bit = seq_profile == 2 && high_bitdepth && r.bit()?;
    let monochrome = seq_profile != 1 && r.bit()?;
    let (mut primaries, mut transfer, mut matrix) = (2, 2, 2);
    if r.bit()? {
        (primaries, transfer, matrix) = (r.bits(8)?, r.bits(8)?, r.bits(8)?);
    }
    let (mut sub_x, mut sub_y, mut sample_position) = (true, true, 0);
    if monochrome {
        r.skip(1)?; // color_range
    } else if (primaries, transfer, matrix) == (1, 13, 0) {
        // sRGB: full range 4:4:4.
        (sub_x, sub_y) = (false, false);
        r.skip(1)?; // separate_uv_delta_q
    } else {
        r.skip(1)?; // color_range
        match seq_profile {
            0 => {}
            1 => (sub_x, sub_y) = (false, false),
            _ if twelve_bit => {
                sub_x = r.bit()?;
                sub_y = sub_x && r.bit()?;
            }
            _ => (sub_x, sub_y) = (true, false),
        }
        if sub_x && sub_y {
            sample_position = r.bits(2)? as u8;
        }
        r.skip(1)?; // separate_uv_delta_q
    }
    r.skip(1)?; // film_grain_params_present
    Ok(Some(Av1SequenceHeader {
        seq_profile,
        still_picture,
        seq_level_idx_0,
        seq_tier_0,
        high_bitdepth,
        twelve_bit,
        monochrome,
        chroma_subsampling_x: sub_x,
        chroma_subsampling_y: sub_y,
        chroma_sample_position: sample_position,
        max_frame_width,
        max_frame_height,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::h264_sps::tests::BitWriter;

    /// A sequence header OBU (with its size field) as libaom writes one for a camera:
    /// profile 0, level `level`, 8-bit 4:2:0, the given maximum size.
    pub(crate) fn sequence_header(width: u32, height: u32, level: u32) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.bits(3, 0).bit(false).bit(false); // profile, still, reduced
        w.bit(false).bit(false).bits(5, 0); // timing info, initial display delay, 1 op
        w.bits(12, 0).bits(5, level);
        if level > 7 {
            w.bit(false);
        }
        w.bits(4, 15)
            .bits(4, 15)
            .bits(16, width - 1)
            .bits(16, height - 1);
        w.bit(false); // frame ids
        w.bits(3, 0b011).bits(4, 0b0011);
        w.bit(true).bits(2, 0b11); // order hint, jnt comp, ref frame mvs
        w.bit(true).bit(true); // choose screen content tools, choose integer mv
        w.bits(3, 6); // order_hint_bits_minus_1
        w.bits(3, 0b011); // superres, cdef, restoration
        w.bit(false).bit(false).bit(false); // 8-bit, not mono, no color description
        w.bit(false).bits(2, 0).bit(false); // color range, sample position, separate uv
        w.bit(false); // film grain
        let payload = w.finish();
        let mut obu = vec![0x0a, payload.len() as u8];
        obu.extend(payload);
        obu
    }

    #[test]
    fn a_camera_sequence_header() {
        let obu = sequence_header(1280, 720, 8);
        let h = parse_av1_sequence_header(&obu).unwrap();
        assert_eq!((h.max_frame_width, h.max_frame_height), (1280, 720));
        assert_eq!(
            (h.seq_profile, h.seq_level_idx_0, h.seq_tier_0),
            (0, 8, false)
        );
        assert!(h.chroma_subsampling_x && h.chroma_subsampling_y && !h.monochrome);
        let av1c = h.av1c(&obu);
        assert_eq!(&av1c[..4], [0x81, 0x08, 0x0c, 0x00]);
        assert_eq!(&av1c[4..], obu);
    }

    #[test]
    fn timing_decoder_model_and_display_delay_are_read_past() {
        let mut w = BitWriter::default();
        w.bits(3, 2).bit(false).bit(false);
        w.bit(true).bits(32, 1001).bits(32, 60_000).bit(true).ue(0); // timing, uvlc 0
        w.bit(true).bits(5, 9).bits(32, 1).bits(5, 4).bits(5, 4); // decoder model, 10-bit delays
        w.bit(true).bits(5, 1); // initial display delay, 2 operating points
        for level in [13, 4] {
            w.bits(12, 0x103).bits(5, level);
            if level > 7 {
                w.bit(true); // high tier
            }
            w.bit(true).bits(10, 5).bits(10, 6).bit(false); // operating parameters
            w.bit(true).bits(4, 9); // display delay
        }
        w.bits(4, 11).bits(4, 11).bits(12, 3839).bits(12, 2159);
        w.bit(true).bits(4, 5).bits(3, 2); // frame ids
        w.bits(3, 0).bits(4, 0).bit(false); // no order hint
        w.bit(false).bit(false); // screen content tools forced off
        w.bits(3, 0);
        // 10-bit profile 2, color description BT.2020 PQ, 4:2:0 with a sample position.
        w.bit(true)
            .bit(false)
            .bit(false)
            .bit(true)
            .bits(8, 9)
            .bits(8, 16)
            .bits(8, 9);
        w.bit(true).bit(false).bit(true);
        let mut obu = vec![0x08]; // no size field
        obu.extend(w.finish());
        let h = parse_av1_sequence_header(&obu).unwrap();
        assert_eq!((h.max_frame_width, h.max_frame_height), (3840, 2160));
        assert_eq!(
            (h.seq_profile, h.seq_level_idx_0, h.seq_tier_0),
            (2, 13, true)
        );
        assert!(h.high_bitdepth && !h.twelve_bit);
        // Profile 2 at 10 bits is 4:2:2: no sample position.
        assert!(h.chroma_subsampling_x && !h.chroma_subsampling_y);
    }

    #[test]
    fn a_reduced_still_picture_header() {
        let mut w = BitWriter::default();
        w.bits(3, 1).bit(true).bit(true).bits(5, 3);
        w.bits(4, 7).bits(4, 7).bits(8, 63).bits(8, 47);
        w.bits(3, 0).bits(3, 0);
        w.bit(false).bit(false).bit(false).bit(false); // 8-bit, no description, range, uv
        w.bit(false);
        let mut obu = vec![0x0e, 0x00]; // extension header, with size
        let payload = w.finish();
        obu.push(payload.len() as u8);
        obu.extend(payload);
        let h = parse_av1_sequence_header(&obu).unwrap();
        assert_eq!((h.max_frame_width, h.max_frame_height), (64, 48));
        assert_eq!(
            (h.seq_profile, h.still_picture, h.seq_level_idx_0),
            (1, true, 3)
        );
        assert!(!h.chroma_subsampling_x && !h.chroma_subsampling_y);
    }

    #[test]
    fn broken_sequence_headers_are_none() {
        let obu = sequence_header(640, 480, 4);
        for len in 0..obu.len() {
            assert_eq!(parse_av1_sequence_header(&obu[..len]), None, "{len}");
        }
        let mut other = obu.clone();
        other[0] = 0x32; // a frame OBU
        assert_eq!(parse_av1_sequence_header(&other), None);
        let mut profile = obu;
        profile[2] |= 0xe0; // seq_profile 7
        assert_eq!(parse_av1_sequence_header(&profile), None);
    }
}
