//! H.264 sequence parameter sets (ITU-T H.264 section 7.3.2.1.1): the picture size and the
//! fields of the `avcC` box (ISO/IEC 14496-15 section 5.3.3.1).

use crate::bits::{unescape_rbsp, BitReader, Truncated};
use crate::DepacketizeError;

/// What a recorder needs from an SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    /// `profile_idc` (66 baseline, 77 main, 100 high, ...).
    pub profile_idc: u8,
    /// The constraint flags byte (`constraint_set0_flag` ... and reserved bits).
    pub constraint_flags: u8,
    /// `level_idc` (31 for level 3.1).
    pub level_idc: u8,
    /// `chroma_format_idc` (1 = 4:2:0, the default outside the high profiles).
    pub chroma_format_idc: u8,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u8,
    /// Displayed width in pixels (after cropping).
    pub width: u32,
    /// Displayed height in pixels (after cropping).
    pub height: u32,
}

/// The profiles whose SPS carries `chroma_format_idc`, bit depths and scaling lists.
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Parses an SPS NAL unit (with its one-byte NAL header, type 7). `None` when it is not
/// one, is cut short or holds values out of range: the size is then unknown.
pub fn parse_sps(nal: &[u8]) -> Option<Sps> {
    if nal.first()? & 0x1f != 7 {
        return None;
    }
    let rbsp = unescape_rbsp(&nal[1..]);
    parse_rbsp(&rbsp).ok().flatten()
}

fn parse_rbsp(rbsp: &[u8]) -> Result<Option<Sps>, Truncated> {
    let mut r = BitReader::new(rbsp);
    let profile_idc = r.bits(8)? as u8;
    let constraint_flags = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    let _seq_parameter_set_id = r.ue()?;
    let (mut chroma_format_idc, mut separate_colour_plane, mut depth_luma, mut depth_chroma) =
        (1, false, 0, 0);
    if has_chroma_info(profile_idc) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Ok(None);
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        depth_luma = r.ue()?;
        depth_chroma = r.ue()?;
        if depth_luma > 6 || depth_chroma > 6 {
            return Ok(None);
        }
        let _qpprime_y_zero_transform_bypass_flag = r.bit()?;
        if r.bit()? {
            // seq_scaling_matrix_present_flag: the lists only need to be read past.
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    let _log2_max_frame_num_minus4 = r.ue()?;
    match r.ue()? {
        0 => {
            let _log2_max_pic_order_cnt_lsb_minus4 = r.ue()?;
        }
        1 => {
            let _delta_pic_order_always_zero_flag = r.bit()?;
            let _offset_for_non_ref_pic = r.se()?;
            let _offset_for_top_to_bottom_field = r.se()?;
            let cycle = r.ue()?;
            if cycle > 255 {
                return Ok(None);
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        2 => {}
        _ => return Ok(None),
    }
    let _max_num_ref_frames = r.ue()?;
    let _gaps_in_frame_num_value_allowed_flag = r.bit()?;
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        let _mb_adaptive_frame_field_flag = r.bit()?;
    }
    let _direct_8x8_inference_flag = r.bit()?;
    let mut crop = [0u64; 4];
    if r.bit()? {
        for c in &mut crop {
            *c = u64::from(r.ue()?);
        }
    }
    let [left, right, top, bottom] = crop;
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    // Cropping is in chroma sample units (section 7.4.2.1.1, CropUnitX / CropUnitY).
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_width, sub_height) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let width = (width_mbs * 16).checked_sub(sub_width * (left + right));
    let height = (height_map_units * 16 * field_factor)
        .checked_sub(sub_height * field_factor * (top + bottom));
    let (Some(width), Some(height)) = (width, height) else {
        return Ok(None);
    };
    let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
        return Ok(None);
    };
    if width == 0 || height == 0 {
        return Ok(None);
    }
    Ok(Some(Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma_minus8: depth_luma as u8,
        bit_depth_chroma_minus8: depth_chroma as u8,
        width,
        height,
    }))
}

/// Reads past one `scaling_list()` (section 7.3.2.1.1.1): deltas until `nextScale` is 0.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), Truncated> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Builds an `AVCDecoderConfigurationRecord` (the body of an MP4 `avcC` box, Matroska's
/// `V_MPEG4/ISO/AVC` CodecPrivate) from one SPS and one PPS NAL unit (with their NAL
/// headers), for 4-byte NAL unit lengths as [`crate::H264Depacketizer`] writes them.
pub fn avc_decoder_configuration_record(
    sps: &[u8],
    pps: &[u8],
) -> Result<Vec<u8>, DepacketizeError> {
    if sps.len() < 4 || pps.len() < 2 {
        return Err(DepacketizeError::Truncated);
    }
    if sps[0] & 0x1f != 7 || pps[0] & 0x1f != 8 {
        return Err(DepacketizeError::Malformed("not an SPS and a PPS"));
    }
    let (Ok(sps_len), Ok(pps_len)) = (u16::try_from(sps.len()), u16::try_from(pps.len())) else {
        return Err(DepacketizeError::TooLarge);
    };
    let mut out = Vec::with_capacity(16 + sps.len() + pps.len());
    out.extend_from_slice(&[1, sps[1], sps[2], sps[3]]);
    out.push(0xfc | 3); // reserved bits, lengthSizeMinusOne = 3
    out.push(0xe0 | 1); // reserved bits, one SPS
    out.extend_from_slice(&sps_len.to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&pps_len.to_be_bytes());
    out.extend_from_slice(pps);
    if matches!(sps[1], 100 | 110 | 122 | 144) {
        // The high profiles' extension (chroma format and bit depths), when readable.
        if let Some(parsed) = parse_sps(sps) {
            out.push(0xfc | parsed.chroma_format_idc);
            out.push(0xf8 | parsed.bit_depth_luma_minus8);
            out.push(0xf8 | parsed.bit_depth_chroma_minus8);
            out.push(0); // no SPS extensions
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes bits MSB first, for hand-built SPS test vectors.
    #[derive(Default)]
    pub(crate) struct BitWriter {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        pub(crate) fn bit(&mut self, b: bool) -> &mut Self {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if b {
                *self.bytes.last_mut().unwrap() |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
            self
        }
        pub(crate) fn bits(&mut self, n: u32, v: u32) -> &mut Self {
            for i in (0..n).rev() {
                self.bit((v >> i) & 1 == 1);
            }
            self
        }
        pub(crate) fn ue(&mut self, v: u32) -> &mut Self {
            let v = u64::from(v) + 1;
            let len = 64 - v.leading_zeros();
            for _ in 1..len {
                self.bit(false);
            }
            for i in (0..len).rev() {
                self.bit((v >> i) & 1 == 1);
            }
            self
        }
        pub(crate) fn se(&mut self, v: i32) -> &mut Self {
            let k = if v > 0 { 2 * v - 1 } else { -2 * v };
            self.ue(k as u32)
        }
        /// rbsp_trailing_bits, then the bytes.
        pub(crate) fn finish(&mut self) -> Vec<u8> {
            self.bit(true);
            std::mem::take(&mut self.bytes)
        }
    }

    /// An SPS NAL unit: header 0x67, then the fields up to `frame_cropping`.
    pub(crate) fn sps(
        profile: u8,
        width_mbs: u32,
        height_units: u32,
        crop_bottom: Option<u32>,
    ) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.bits(8, u32::from(profile)).bits(8, 0).bits(8, 31).ue(0);
        if has_chroma_info(profile) {
            w.ue(1).ue(0).ue(0).bit(false).bit(false);
        }
        w.ue(0).ue(0).ue(0); // frame_num, poc type 0, poc lsb
        w.ue(1).bit(false); // refs, gaps
        w.ue(width_mbs - 1).ue(height_units - 1).bit(true).bit(true);
        match crop_bottom {
            Some(b) => w.bit(true).ue(0).ue(0).ue(0).ue(b),
            None => w.bit(false),
        };
        w.bit(false); // vui_parameters_present_flag
        let mut nal = vec![0x67];
        nal.extend(w.finish());
        nal
    }

    #[test]
    fn a_real_x264_high_profile_sps() {
        // x264, High@3.1, 1280x720, with VUI and an emulation prevention byte.
        let sps = [
            0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00,
            0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
        ];
        let parsed = parse_sps(&sps).unwrap();
        assert_eq!((parsed.width, parsed.height), (1280, 720));
        assert_eq!(
            (
                parsed.profile_idc,
                parsed.level_idc,
                parsed.chroma_format_idc
            ),
            (100, 31, 1)
        );
    }

    #[test]
    fn cropping_gives_1080_lines() {
        // 120x68 macroblocks = 1920x1088, 4 chroma lines (8 luma) cropped at the bottom.
        let parsed = parse_sps(&sps(66, 120, 68, Some(4))).unwrap();
        assert_eq!((parsed.width, parsed.height), (1920, 1080));
        let parsed = parse_sps(&sps(100, 40, 30, None)).unwrap();
        assert_eq!((parsed.width, parsed.height), (640, 480));
    }

    #[test]
    fn interlaced_heights_double() {
        let mut w = BitWriter::default();
        w.bits(8, 77).bits(8, 0).bits(8, 30).ue(0);
        w.ue(0).ue(2).ue(1).bit(false); // frame_num, poc type 2, refs, gaps
        w.ue(44).ue(17).bit(false).bit(false).bit(true).bit(false); // 720x(18*2*16), field
        let mut nal = vec![0x67];
        nal.extend(w.finish());
        let parsed = parse_sps(&nal).unwrap();
        assert_eq!((parsed.width, parsed.height), (720, 576));
    }

    #[test]
    fn scaling_lists_and_poc_type_1_are_read_past() {
        let mut w = BitWriter::default();
        w.bits(8, 100).bits(8, 0).bits(8, 40).ue(0);
        w.ue(1).ue(0).ue(0).bit(false);
        w.bit(true); // seq_scaling_matrix_present_flag
        for i in 0..8 {
            // Lists 0 and 6 present: deltas until nextScale hits 0 after a few entries.
            let present = i == 0 || i == 6;
            w.bit(present);
            if present {
                w.se(5).se(-3).se(-10); // 8 → 13 → 10 → 0: the rest repeat
            }
        }
        w.ue(0).ue(1); // frame_num, poc type 1
        w.bit(false).se(-2).se(3).ue(2).se(1).se(-1);
        w.ue(4)
            .bit(false)
            .ue(79)
            .ue(44)
            .bit(true)
            .bit(true)
            .bit(false)
            .bit(false);
        let mut nal = vec![0x67];
        nal.extend(w.finish());
        let parsed = parse_sps(&nal).unwrap();
        assert_eq!((parsed.width, parsed.height), (1280, 720));
    }

    #[test]
    fn broken_sps_have_no_size() {
        assert_eq!(parse_sps(&[]), None);
        assert_eq!(parse_sps(&[0x68, 0x42]), None);
        assert_eq!(parse_sps(&[0x67, 0x42, 0, 0x1f]), None);
        let good = sps(66, 40, 30, None);
        for len in 0..good.len() - 1 {
            assert_eq!(parse_sps(&good[..len]), None, "{len}");
        }
        // Cropping more than the picture.
        assert_eq!(parse_sps(&sps(66, 2, 2, Some(100))), None);
    }

    #[test]
    fn avcc_record_layout() {
        let sps = sps(66, 40, 30, None);
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let rec = avc_decoder_configuration_record(&sps, &pps).unwrap();
        let mut want = vec![1, 66, 0, 31, 0xff, 0xe1, 0, sps.len() as u8];
        want.extend(&sps);
        want.extend([1, 0, 4]);
        want.extend(pps);
        assert_eq!(rec, want);

        // High profile: chroma format and bit depths follow.
        let high = super::tests::sps(100, 40, 30, None);
        let rec = avc_decoder_configuration_record(&high, &pps).unwrap();
        assert_eq!(&rec[rec.len() - 4..], [0xfd, 0xf8, 0xf8, 0]);

        assert!(avc_decoder_configuration_record(&pps, &sps).is_err());
        assert!(avc_decoder_configuration_record(&sps[..3], &pps).is_err());
    }
}
