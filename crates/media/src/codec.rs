//! Payload-type translation between a publisher's and a viewer's negotiated codecs.
//!
//! Each peer negotiates its own payload-type numbers; a packet keeps its codec but may need
//! another PT on the way out. The table is built when a viewer starts receiving a publication,
//! so the per-packet cost is one array index.

use str0m::format::{Codec, CodecSpec, PayloadParams};
use str0m::media::{Mid, Pt};
use str0m::Rtc;

/// Publisher PT → viewer PT (`None` when the viewer did not negotiate that codec).
#[derive(Debug, Clone)]
pub struct PtMap([Option<Pt>; 128]);

impl PtMap {
    /// Builds the table for packets negotiated as `from` (a publisher m-line's codecs)
    /// written to an m-line that negotiated `to` ([`negotiated`]).
    pub fn build(from: &[PayloadParams], to: &[PayloadParams]) -> Self {
        let mut map = [None; 128];
        for params in from {
            let matched = to
                .iter()
                .filter_map(|p| compatibility(&params.spec(), &p.spec()).map(|score| (score, p)))
                .max_by_key(|(score, _)| *score)
                .map(|(_, p)| p);
            if let (Some(m), Some(slot)) = (matched, map.get_mut(usize::from(*params.pt()))) {
                *slot = Some(m.pt());
            }
        }
        Self(map)
    }

    /// The viewer's PT for a publisher's PT.
    pub fn get(&self, pt: Pt) -> Option<Pt> {
        self.0.get(usize::from(*pt)).copied().flatten()
    }
}

/// The codecs the m-line `mid` of `rtc` negotiated (what a PT map is built against).
pub fn negotiated(rtc: &Rtc, mid: Mid) -> Vec<PayloadParams> {
    let Some(media) = rtc.media(mid) else {
        return Vec::new();
    };
    let pts = media.remote_pts();
    rtc.codec_config()
        .params()
        .iter()
        .filter(|p| pts.contains(&p.pt()))
        .cloned()
        .collect()
}

/// Whether a packet encoded for `a` decodes as `b`; higher is a closer match.
fn compatibility(a: &CodecSpec, b: &CodecSpec) -> Option<u8> {
    if a.codec != b.codec || a.clock_rate != b.clock_rate {
        return None;
    }
    let (fa, fb) = (&a.format, &b.format);
    match a.codec {
        Codec::H264 => {
            // Profile (not level) and packetization mode must agree for the bitstream to decode.
            let profile = |f: &str0m::format::FormatParams| f.profile_level_id.map(|v| v >> 8);
            if profile(fa) != profile(fb) || fa.packetization_mode != fb.packetization_mode {
                return None;
            }
        }
        Codec::Vp9 | Codec::Av1 if fa.profile_id.unwrap_or(0) != fb.profile_id.unwrap_or(0) => {
            return None;
        }
        _ => {}
    }
    Some(if fa == fb { 2 } else { 1 })
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;
    use str0m::format::FormatParams;
    use str0m::media::Frequency;

    fn h264(profile_level_id: u32, mode: u8) -> CodecSpec {
        CodecSpec {
            codec: Codec::H264,
            clock_rate: Frequency::NINETY_KHZ,
            channels: None,
            format: FormatParams {
                profile_level_id: Some(profile_level_id),
                packetization_mode: Some(mode),
                ..Default::default()
            },
        }
    }

    #[test]
    fn h264_needs_same_profile_and_mode() {
        assert_eq!(
            compatibility(&h264(0x42e01f, 1), &h264(0x42e01f, 1)),
            Some(2)
        );
        assert_eq!(
            compatibility(&h264(0x42e01f, 1), &h264(0x42e034, 1)),
            Some(1)
        );
        assert_eq!(compatibility(&h264(0x42e01f, 1), &h264(0x42e01f, 0)), None);
        assert_eq!(compatibility(&h264(0x42e01f, 1), &h264(0x64001f, 1)), None);
    }
}
