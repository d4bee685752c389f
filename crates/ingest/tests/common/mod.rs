//! Test helpers: a tiny FLV file reader and an RFC 6184 depacketizer, written independently
//! of the crate so they can check it.
#![allow(dead_code)]

use std::path::PathBuf;

/// One FLV tag.
pub struct Tag {
    /// 8 audio, 9 video, 18 script data.
    pub kind: u8,
    /// The 32-bit timestamp (24 bits + extended byte), in ms.
    pub timestamp: u32,
    pub body: Vec<u8>,
}

pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads an FLV file: the 9-byte header ("FLV", version, flags, header size), then
/// PreviousTagSize0 and tags (type, 24-bit size, 24-bit timestamp, extended byte, 24-bit
/// stream id, body, PreviousTagSize).
pub fn read_flv(data: &[u8]) -> Vec<Tag> {
    assert_eq!(&data[..3], b"FLV", "FLV signature");
    assert_eq!(data[3], 1, "FLV version");
    let header_size = u32::from_be_bytes(data[5..9].try_into().unwrap()) as usize;
    let mut pos = header_size;
    assert_eq!(&data[pos..pos + 4], &[0, 0, 0, 0], "PreviousTagSize0");
    pos += 4;
    let mut tags = Vec::new();
    while pos < data.len() {
        let h = &data[pos..pos + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let body = data[pos + 11..pos + 11 + size].to_vec();
        let previous =
            u32::from_be_bytes(data[pos + 11 + size..pos + 15 + size].try_into().unwrap());
        assert_eq!(previous as usize, 11 + size, "PreviousTagSize");
        tags.push(Tag {
            kind: h[0] & 0x1f,
            timestamp,
            body,
        });
        pos += 15 + size;
    }
    tags
}

/// Splits length-prefixed NAL units (4-byte lengths unless told).
pub fn split_nals(mut data: &[u8], length_size: usize) -> Vec<Vec<u8>> {
    let mut nals = Vec::new();
    while !data.is_empty() {
        let len = data[..length_size]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | b as usize);
        nals.push(data[length_size..length_size + len].to_vec());
        data = &data[length_size + len..];
    }
    nals
}

/// What a depacketized access unit was made of.
#[derive(Debug, Default)]
pub struct Depacketized {
    pub nals: Vec<Vec<u8>>,
    /// The packet types in order (NAL type 1–23, 24 STAP-A, 28 FU-A).
    pub packet_types: Vec<u8>,
}

/// Reassembles NAL units from RTP payloads: single NAL unit packets, STAP-A, FU-A.
pub fn depacketize<'a>(payloads: impl IntoIterator<Item = &'a [u8]>) -> Depacketized {
    let mut out = Depacketized::default();
    let mut fu: Option<Vec<u8>> = None;
    for p in payloads {
        let t = p[0] & 0x1f;
        out.packet_types.push(t);
        match t {
            1..=23 => {
                assert!(fu.is_none(), "single NAL inside a fragmented unit");
                out.nals.push(p.to_vec());
            }
            24 => {
                assert!(fu.is_none(), "STAP-A inside a fragmented unit");
                let mut rest = &p[1..];
                while !rest.is_empty() {
                    let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                    out.nals.push(rest[2..2 + len].to_vec());
                    rest = &rest[2 + len..];
                }
            }
            28 => {
                let (indicator, header) = (p[0], p[1]);
                let (start, end) = (header & 0x80 != 0, header & 0x40 != 0);
                assert!(!(start && end), "S and E on one fragment");
                assert_eq!(header & 0x20, 0, "FU header R bit");
                if start {
                    assert!(fu.is_none(), "FU-A start while another is open");
                    fu = Some(vec![(indicator & 0xe0) | (header & 0x1f)]);
                }
                let buf = fu.as_mut().expect("FU-A fragment without a start");
                buf.extend_from_slice(&p[2..]);
                if end {
                    out.nals.push(fu.take().unwrap());
                }
            }
            other => panic!("unexpected packet type {other}"),
        }
    }
    assert!(fu.is_none(), "unfinished FU-A");
    out
}
