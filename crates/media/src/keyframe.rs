//! Whether an RTP packet starts a keyframe, read from the payload's first bytes without
//! decoding (nor decrypting more than SRTP: the payload descriptors are outside any
//! end-to-end encryption, which covers the frame after them). A track switches source or
//! layer only at such a packet, so the viewer's decoder never gets a frame it cannot use.

use str0m::format::Codec;

/// True when `payload` is the first packet of a keyframe in `codec`.
pub fn starts_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => vp8(payload),
        Codec::Vp9 => vp9(payload),
        Codec::H264 => h264(payload),
        Codec::Av1 => av1(payload),
        Codec::H265 => h265(payload),
        _ => false,
    }
}

/// The frame size a keyframe's first packet declares, where the payload format carries it
/// at the start (VP8 and VP9 keyframes do).
pub fn keyframe_size(codec: Codec, payload: &[u8]) -> Option<(u16, u16)> {
    match codec {
        Codec::Vp8 => {
            let at = vp8_descriptor_len(payload)?;
            let frame = payload.get(at..at + 10)?;
            // Frame tag (3 bytes, P bit 0 = key), start code 9d 01 2a, 14-bit sizes.
            if frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
                return None;
            }
            let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
            let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
            Some((w, h))
        }
        Codec::Vp9 => vp9_size(payload),
        _ => None,
    }
}

/// RFC 7741: the payload descriptor's length, for a packet that starts partition 0.
fn vp8_descriptor_len(p: &[u8]) -> Option<usize> {
    let first = *p.first()?;
    let (extended, start, partition) = (first & 0x80 != 0, first & 0x10 != 0, first & 0x07);
    if !start || partition != 0 {
        return None;
    }
    let mut at = 1;
    if extended {
        let x = *p.get(at)?;
        at += 1;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits.
            at += if *p.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            at += 1; // TID / KEYIDX
        }
    }
    (at < p.len()).then_some(at)
}

fn vp8(p: &[u8]) -> bool {
    vp8_descriptor_len(p).is_some_and(|at| p[at] & 1 == 0)
}

/// RFC 9628 (VP9): P = 0 (not inter-predicted), B = 1 (start of a frame), spatial layer 0.
fn vp9(p: &[u8]) -> bool {
    let Some(&first) = p.first() else {
        return false;
    };
    let (inter, begin, layers) = (first & 0x40 != 0, first & 0x08 != 0, first & 0x20 != 0);
    if inter || !begin {
        return false;
    }
    if !layers {
        return true;
    }
    let mut at = 1;
    if first & 0x80 != 0 {
        match p.get(at) {
            Some(b) if b & 0x80 != 0 => at += 2,
            Some(_) => at += 1,
            None => return false,
        }
    }
    // Layer indices: TID(3) U(1) SID(3) D(1).
    p.get(at).is_some_and(|l| (l >> 1) & 0x07 == 0)
}

/// A keyframe's first packet with a scalability structure carries the picture size.
fn vp9_size(p: &[u8]) -> Option<(u16, u16)> {
    if !vp9(p) {
        return None;
    }
    let first = p[0];
    let mut at = 1;
    if first & 0x80 != 0 {
        at += if *p.get(at)? & 0x80 != 0 { 2 } else { 1 };
    }
    if first & 0x20 != 0 {
        at += 1;
        if first & 0x10 == 0 {
            at += 1; // TL0PICIDX in non-flexible mode
        }
    }
    if first & 0x02 == 0 {
        return None; // no scalability structure
    }
    let ss = *p.get(at)?;
    if ss & 0x10 == 0 {
        return None; // no resolutions
    }
    // The last spatial layer is the largest.
    let spatial = usize::from(ss >> 5) + 1;
    let at = at + 1 + (spatial - 1) * 4;
    let w = u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]);
    let h = u16::from_be_bytes([*p.get(at + 2)?, *p.get(at + 3)?]);
    Some((w, h))
}

/// RFC 6184: a packet carrying an SPS (how a keyframe starts, parameter sets first) or the
/// start of an IDR slice.
fn h264(p: &[u8]) -> bool {
    let Some(&first) = p.first() else {
        return false;
    };
    match first & 0x1f {
        5 | 7 => true,
        // STAP-A: 16-bit sizes before each NAL unit.
        24 => {
            let mut at = 1;
            while let (Some(&hi), Some(&lo)) = (p.get(at), p.get(at + 1)) {
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                match p.get(at + 2) {
                    Some(nal) if matches!(nal & 0x1f, 5 | 7) => return true,
                    Some(_) => at += 2 + len,
                    None => return false,
                }
            }
            false
        }
        // FU-A: the start of a fragmented IDR slice.
        28 => p.get(1).is_some_and(|h| h & 0x80 != 0 && h & 0x1f == 5),
        _ => false,
    }
}

/// RFC 7798: a VPS/SPS or the start of an IRAP picture (types 16–23).
fn h265(p: &[u8]) -> bool {
    let Some(&first) = p.first() else {
        return false;
    };
    let is_key = |t: u8| (16..=23).contains(&t) || t == 32 || t == 33;
    match (first >> 1) & 0x3f {
        // Aggregation packet: its first NAL unit after the 2-byte header and a size.
        48 => p.get(4).is_some_and(|h| is_key((h >> 1) & 0x3f)),
        // Fragmentation unit: start bit and type in the FU header.
        49 => p.get(2).is_some_and(|h| h & 0x80 != 0 && is_key(h & 0x3f)),
        t => is_key(t),
    }
}

/// AV1 RTP: the aggregation header's N bit marks the first packet of a coded video
/// sequence (a keyframe with its sequence header); Z = 0 means it starts an OBU.
fn av1(p: &[u8]) -> bool {
    p.first().is_some_and(|h| h & 0x08 != 0 && h & 0x80 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframes_and_sizes() {
        // S=1, partition 0, extended with a 15-bit picture id; then a key frame tag.
        let key = [
            0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
        ];
        assert!(starts_keyframe(Codec::Vp8, &key));
        assert_eq!(keyframe_size(Codec::Vp8, &key), Some((640, 360)));
        let mut delta = key;
        delta[4] |= 1;
        assert!(!starts_keyframe(Codec::Vp8, &delta));
        let mut later = key;
        later[0] &= !0x10;
        assert!(!starts_keyframe(Codec::Vp8, &later), "not the start");
        assert!(!starts_keyframe(Codec::Vp8, &[0x90]), "too short");
        assert!(!starts_keyframe(Codec::Vp8, &[]));
    }

    #[test]
    fn h264_parameter_sets_and_idr_starts() {
        assert!(starts_keyframe(Codec::H264, &[0x67, 0x42]), "SPS");
        assert!(starts_keyframe(Codec::H264, &[0x65, 0x88]), "IDR");
        assert!(
            !starts_keyframe(Codec::H264, &[0x41, 0x9a]),
            "non-IDR slice"
        );
        // STAP-A: SPS then PPS.
        assert!(starts_keyframe(
            Codec::H264,
            &[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce]
        ));
        assert!(!starts_keyframe(Codec::H264, &[0x78, 0x00, 0x09, 0x06]));
        assert!(
            starts_keyframe(Codec::H264, &[0x7c, 0x85]),
            "FU-A IDR start"
        );
        assert!(!starts_keyframe(Codec::H264, &[0x7c, 0x05]), "FU-A middle");
        assert!(!starts_keyframe(Codec::H264, &[0x7c, 0x81]), "FU-A non-IDR");
    }

    #[test]
    fn vp9_av1_and_h265() {
        assert!(starts_keyframe(Codec::Vp9, &[0x88]), "B, not P, no layers");
        assert!(
            !starts_keyframe(Codec::Vp9, &[0xc8, 0x01]),
            "inter-predicted"
        );
        assert!(
            !starts_keyframe(Codec::Vp9, &[0x80, 0x01]),
            "not a frame start"
        );
        assert!(starts_keyframe(Codec::Av1, &[0x18]));
        assert!(!starts_keyframe(Codec::Av1, &[0x10]));
        assert!(!starts_keyframe(Codec::Av1, &[0x88]), "continues an OBU");
        assert!(starts_keyframe(Codec::H265, &[0x40, 0x01]), "VPS");
        assert!(starts_keyframe(Codec::H265, &[0x26, 0x01]), "IDR_W_RADL");
        assert!(!starts_keyframe(Codec::H265, &[0x02, 0x01]), "TRAIL_R");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for len in 0..24 {
            for seed in 0..=255u8 {
                let p: Vec<u8> = (0..len)
                    .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7))
                    .collect();
                for codec in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::H265, Codec::Av1] {
                    let _ = starts_keyframe(codec, &p);
                    let _ = keyframe_size(codec, &p);
                }
            }
        }
    }
}
