//! RTP and RTCP on the wire, as Podium's egress writes and reads them: an RTP header with
//! one-byte header extensions (RFC 8285), sender reports with a CNAME (RFC 3550), and the
//! feedback a viewer sends (RFC 4585 NACK and PLI, RFC 5104 FIR).

use str0m::rtp::{Extension, ExtensionMap};

/// The header extensions a viewer's m-line negotiated that Podium writes (their ids).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtIds {
    /// `urn:ietf:params:rtp-hdrext:sdes:mid`.
    pub mid: Option<u8>,
    /// `http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time`.
    pub abs_send_time: Option<u8>,
    /// `urn:ietf:params:rtp-hdrext:ssrc-audio-level` (RFC 6464).
    pub audio_level: Option<u8>,
    /// `urn:3gpp:video-orientation` (CVO).
    pub video_orientation: Option<u8>,
}

impl ExtIds {
    /// The one-byte ids (1..=14) of `map`; two-byte-only ids are left out.
    pub fn from_map(map: &ExtensionMap) -> Self {
        let id = |e: Extension| map.id_of(e).filter(|id| (1..=14).contains(id));
        Self {
            mid: id(Extension::RtpMid),
            abs_send_time: id(Extension::AbsoluteSendTime),
            audio_level: id(Extension::AudioLevel),
            video_orientation: id(Extension::VideoOrientation),
        }
    }
}

/// What one outgoing RTP packet's header says.
#[derive(Debug, Clone, Copy)]
pub struct RtpHeader<'a> {
    /// Payload type.
    pub pt: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// The m-line's mid (at most 16 bytes), when negotiated.
    pub mid: &'a [u8],
    /// 6.18 fixed-point seconds (24 bits).
    pub abs_send_time: Option<u32>,
    /// RFC 6464: level in -dBov (0..=-127) and the voice-activity flag.
    pub audio_level: Option<(i8, bool)>,
    /// RFC 7742's CVO byte.
    pub video_orientation: Option<u8>,
}

/// Appends the header to `buf` and returns its length.
pub fn write_rtp_header(buf: &mut Vec<u8>, h: &RtpHeader, ids: &ExtIds) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0x80, (u8::from(h.marker) << 7) | (h.pt & 0x7f)]);
    buf.extend_from_slice(&h.seq.to_be_bytes());
    buf.extend_from_slice(&h.ts.to_be_bytes());
    buf.extend_from_slice(&h.ssrc.to_be_bytes());
    let ext_start = buf.len();
    buf.extend_from_slice(&[0xbe, 0xde, 0, 0]);
    let mut element = |id: Option<u8>, data: &[u8]| {
        if let Some(id) = id {
            if !data.is_empty() && data.len() <= 16 {
                buf.push((id << 4) | (data.len() as u8 - 1));
                buf.extend_from_slice(data);
            }
        }
    };
    element(ids.mid, h.mid);
    if let Some(t) = h.abs_send_time {
        element(ids.abs_send_time, &t.to_be_bytes()[1..]);
    }
    if let Some((level, voice)) = h.audio_level {
        element(
            ids.audio_level,
            &[(u8::from(voice) << 7) | (level.unsigned_abs() & 0x7f)],
        );
    }
    if let Some(cvo) = h.video_orientation {
        element(ids.video_orientation, &[cvo]);
    }
    let ext_len = buf.len() - ext_start - 4;
    if ext_len == 0 {
        buf.truncate(ext_start);
    } else {
        let padded = ext_len.div_ceil(4) * 4;
        buf.resize(ext_start + 4 + padded, 0);
        buf[start] |= 0x10;
        let words = (padded / 4) as u16;
        buf[ext_start + 2..ext_start + 4].copy_from_slice(&words.to_be_bytes());
    }
    buf.len() - start
}

/// The header length of an RTP packet (fixed part, CSRCs and extension block), if whole.
pub fn rtp_header_len(p: &[u8]) -> Option<usize> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(p[0] & 0x0f);
    if p[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*p.get(len + 2)?, *p.get(len + 3)?]);
        len += 4 + 4 * usize::from(words);
    }
    (len <= p.len()).then_some(len)
}

/// One sender report's figures.
#[derive(Debug, Clone, Copy)]
pub struct SenderInfo {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// NTP timestamp (seconds since 1900 in 32.32 fixed point).
    pub ntp: u64,
    /// The RTP timestamp of the same instant.
    pub rtp_ts: u32,
    /// Packets sent so far.
    pub packets: u32,
    /// Payload octets sent so far.
    pub octets: u32,
}

/// Appends an SR (no report blocks) and an SDES with the CNAME: the compound packet RFC 3550
/// asks for.
pub fn write_sender_report(buf: &mut Vec<u8>, sr: &SenderInfo, cname: &[u8]) {
    buf.extend_from_slice(&[0x80, 200, 0, 6]);
    buf.extend_from_slice(&sr.ssrc.to_be_bytes());
    buf.extend_from_slice(&sr.ntp.to_be_bytes());
    buf.extend_from_slice(&sr.rtp_ts.to_be_bytes());
    buf.extend_from_slice(&sr.packets.to_be_bytes());
    buf.extend_from_slice(&sr.octets.to_be_bytes());
    let cname = &cname[..cname.len().min(255)];
    // SSRC, CNAME item (type, length, text), the END item, padded to a word.
    let chunk = 4 + 2 + cname.len() + 1;
    let padded = chunk.div_ceil(4) * 4;
    buf.extend_from_slice(&[0x81, 202]);
    buf.extend_from_slice(&((padded / 4) as u16).to_be_bytes());
    buf.extend_from_slice(&sr.ssrc.to_be_bytes());
    buf.extend_from_slice(&[1, cname.len() as u8]);
    buf.extend_from_slice(cname);
    buf.resize(buf.len() + padded - chunk + 1, 0);
}

/// Feedback from a viewer about one of the SSRCs Podium sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// Generic NACK: `pid` and the 16 following packets flagged in `blp` are missing.
    Nack {
        /// The media SSRC.
        ssrc: u32,
        /// First lost packet.
        pid: u16,
        /// Bitmask of the 16 following.
        blp: u16,
    },
    /// Picture loss.
    Pli {
        /// The media SSRC.
        ssrc: u32,
    },
    /// Full intra request.
    Fir {
        /// The media SSRC.
        ssrc: u32,
    },
    /// Receiver-estimated maximum bitrate (draft-alvestrand-rmcat-remb) for the path.
    Remb {
        /// Bits per second.
        bitrate: u64,
    },
    /// A reception report block: the share of packets of `ssrc` lost since the last one.
    Loss {
        /// The media SSRC.
        ssrc: u32,
        /// Fraction lost, in 1/256.
        fraction: u8,
    },
}

/// The feedback in a plain compound RTCP packet; malformed parts end the walk (what came
/// before them counts). Of reports, only the loss of each report block is read.
pub fn read_feedback(mut p: &[u8], mut each: impl FnMut(Feedback)) {
    while p.len() >= 4 {
        if p[0] >> 6 != 2 {
            return;
        }
        let len = 4 * (usize::from(u16::from_be_bytes([p[2], p[3]])) + 1);
        if len > p.len() {
            return;
        }
        let (packet, rest) = p.split_at(len);
        p = rest;
        let fmt = packet[0] & 0x1f;
        let media_ssrc = |pk: &[u8]| {
            pk.get(8..12)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        match (packet[1], fmt) {
            (205, 1) => {
                let Some(ssrc) = media_ssrc(packet) else {
                    return;
                };
                for fci in packet[12..].chunks_exact(4) {
                    each(Feedback::Nack {
                        ssrc,
                        pid: u16::from_be_bytes([fci[0], fci[1]]),
                        blp: u16::from_be_bytes([fci[2], fci[3]]),
                    });
                }
            }
            (206, 1) => {
                let Some(ssrc) = media_ssrc(packet) else {
                    return;
                };
                each(Feedback::Pli { ssrc });
            }
            (206, 4) => {
                for fci in packet.get(12..).unwrap_or_default().chunks_exact(8) {
                    let ssrc = u32::from_be_bytes([fci[0], fci[1], fci[2], fci[3]]);
                    each(Feedback::Fir { ssrc });
                }
            }
            (206, 15) => {
                let Some(fci) = packet.get(12..20) else {
                    return;
                };
                if &fci[..4] == b"REMB" {
                    let exp = u32::from(fci[5] >> 2);
                    let mantissa = (u64::from(fci[5] & 0x03) << 16)
                        | (u64::from(fci[6]) << 8)
                        | u64::from(fci[7]);
                    each(Feedback::Remb {
                        bitrate: mantissa.checked_shl(exp).unwrap_or(u64::MAX),
                    });
                }
            }
            // Receiver report blocks (an SR's come after its 20 bytes of sender info).
            (201 | 200, _) => {
                let first = if packet[1] == 201 { 8 } else { 28 };
                let blocks = usize::from(packet[0] & 0x1f);
                for block in packet
                    .get(first..)
                    .unwrap_or_default()
                    .chunks_exact(24)
                    .take(blocks)
                {
                    each(Feedback::Loss {
                        ssrc: u32::from_be_bytes([block[0], block[1], block[2], block[3]]),
                        fraction: block[4],
                    });
                }
            }
            _ => {}
        }
    }
}

/// Whether a datagram on a WebRTC 5-tuple is RTCP (RFC 5761 demultiplexing: RTP/RTCP
/// first byte 128..=191, RTCP packet types 192..=223).
pub fn is_rtcp(d: &[u8]) -> bool {
    d.len() >= 8 && (128..=191).contains(&d[0]) && (192..=223).contains(&d[1])
}

/// Whether a datagram is RTP or RTCP (not STUN, DTLS or TURN channel data).
pub fn is_rtp_or_rtcp(d: &[u8]) -> bool {
    d.first().is_some_and(|b| (128..=191).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::rtp::ExtensionMap;

    #[test]
    fn header_with_extensions() {
        let map = ExtensionMap::standard();
        let ids = ExtIds::from_map(&map);
        let mut buf = vec![];
        let h = RtpHeader {
            pt: 111,
            marker: true,
            seq: 65535,
            ts: 0xdead_beef,
            ssrc: 0x1234_5678,
            mid: b"1",
            abs_send_time: Some(0x12_3456),
            audio_level: Some((-37, true)),
            video_orientation: None,
        };
        let len = write_rtp_header(&mut buf, &h, &ids);
        assert_eq!(len % 4, 0);
        assert_eq!(rtp_header_len(&buf), Some(len));
        assert_eq!(
            &buf[..12],
            &[
                0x90,
                0x80 | 111,
                0xff,
                0xff,
                0xde,
                0xad,
                0xbe,
                0xef,
                0x12,
                0x34,
                0x56,
                0x78
            ]
        );
        assert_eq!(&buf[12..14], &[0xbe, 0xde]);
        // Elements: (id, data) in order, then zero padding.
        let mut elements = vec![];
        let mut i = 16;
        while i < len && buf[i] != 0 {
            let n = usize::from(buf[i] & 0x0f) + 1;
            elements.push((buf[i] >> 4, buf[i + 1..i + 1 + n].to_vec()));
            i += 1 + n;
        }
        assert_eq!(
            elements,
            vec![
                (ids.mid.unwrap(), b"1".to_vec()),
                (ids.abs_send_time.unwrap(), vec![0x12, 0x34, 0x56]),
                (ids.audio_level.unwrap(), vec![0x80 | 37]),
            ]
        );
    }

    #[test]
    fn no_extensions_means_no_extension_block() {
        let mut buf = vec![];
        let h = RtpHeader {
            pt: 96,
            marker: false,
            seq: 1,
            ts: 2,
            ssrc: 3,
            mid: b"0",
            abs_send_time: None,
            audio_level: None,
            video_orientation: None,
        };
        assert_eq!(write_rtp_header(&mut buf, &h, &ExtIds::default()), 12);
        assert_eq!(buf[0], 0x80);
    }

    #[test]
    fn sender_report_is_a_valid_compound_packet() {
        let mut buf = vec![];
        let sr = SenderInfo {
            ssrc: 7,
            ntp: 0x1122_3344_5566_7788,
            rtp_ts: 90_000,
            packets: 10,
            octets: 12_000,
        };
        write_sender_report(&mut buf, &sr, b"podium-cname");
        assert_eq!(buf.len() % 4, 0);
        let mut seen = vec![];
        let mut p = &buf[..];
        while !p.is_empty() {
            let len = 4 * (usize::from(u16::from_be_bytes([p[2], p[3]])) + 1);
            seen.push(str0m::rtp::rtcp::Rtcp::try_from(&p[..len]).expect("str0m parses it"));
            p = &p[len..];
        }
        match &seen[..] {
            [str0m::rtp::rtcp::Rtcp::SenderReport(r), str0m::rtp::rtcp::Rtcp::SourceDescription(_)] =>
            {
                assert_eq!(*r.sender_info.ssrc, 7);
                assert_eq!(r.sender_info.rtp_time.numer(), 90_000);
                assert_eq!(r.sender_info.sender_packet_count, 10);
                assert_eq!(r.sender_info.sender_octet_count, 12_000);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn feedback_is_read_and_garbage_ends_the_walk() {
        let mut p = vec![];
        // RR with no blocks.
        p.extend_from_slice(&[0x80, 201, 0, 1, 0, 0, 0, 9]);
        // NACK for ssrc 5: pid 100, blp 0b101.
        p.extend_from_slice(&[0x81, 205, 0, 3, 0, 0, 0, 9, 0, 0, 0, 5, 0, 100, 0, 5]);
        // PLI for 6.
        p.extend_from_slice(&[0x81, 206, 0, 2, 0, 0, 0, 9, 0, 0, 0, 6]);
        // FIR for 7.
        p.extend_from_slice(&[
            0x84, 206, 0, 4, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 7, 1, 0, 0, 0,
        ]);
        // REMB: exponent 3, mantissa 0x01_86a0 (100000) -> 800 kbit/s.
        p.extend_from_slice(&[
            0x8f, 206, 0, 5, 0, 0, 0, 9, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 1, 0x0d, 0x86, 0xa0,
            0, 0, 0, 5,
        ]);
        // RR with one block about ssrc 5: 64/256 lost.
        p.extend_from_slice(&[0x81, 201, 0, 7, 0, 0, 0, 9, 0, 0, 0, 5, 64]);
        p.extend_from_slice(&[0; 19]);
        // A length past the end.
        p.extend_from_slice(&[0x81, 206, 0, 9, 0, 0, 0, 9]);
        let mut got = vec![];
        read_feedback(&p, |f| got.push(f));
        assert_eq!(
            got,
            vec![
                Feedback::Nack {
                    ssrc: 5,
                    pid: 100,
                    blp: 5
                },
                Feedback::Pli { ssrc: 6 },
                Feedback::Fir { ssrc: 7 },
                Feedback::Remb { bitrate: 800_000 },
                Feedback::Loss {
                    ssrc: 5,
                    fraction: 64
                },
            ]
        );
        read_feedback(&[0x81, 205, 0, 1, 0, 0, 0, 9], |f| panic!("{f:?}"));
        read_feedback(&[], |f| panic!("{f:?}"));
    }
}
