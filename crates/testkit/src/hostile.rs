//! Hand-built RTP and RTCP sent inside a client's established SRTP session: protected with
//! the client's own sending keys ([`crate::srtp`]), so they pass authentication and reach
//! the SFU's parsing and forwarding. str0m has no API to send raw packets.

use std::net::SocketAddr;

use str0m::format::Codec;
use str0m::media::MediaKind;

use crate::srtp::{SrtpError, SrtpSender};
use crate::{Client, Net};

impl Client {
    fn raw_sender(&mut self) -> Result<&mut SrtpSender, SrtpError> {
        if self.raw.is_none() {
            self.raw = Some(self.srtp.sender()?);
        }
        Ok(self.raw.as_mut().expect("just set"))
    }

    /// The SRTP datagram of a plaintext RTP packet, protected with this client's keys.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.raw_sender()?.protect_rtp(packet)
    }

    /// The SRTCP datagram of a plaintext (compound) RTCP packet.
    pub fn protect_rtcp(&mut self, compound: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.raw_sender()?.protect_rtcp(compound)
    }

    /// The payload type this client negotiated for `codec`.
    pub fn payload_type(&self, codec: Codec) -> u8 {
        *self.pt(codec)
    }

    /// The SSRC this client sends on its m-line of `kind` (publishers).
    pub fn send_ssrc(&mut self, kind: MediaKind) -> u32 {
        let mid = self.mid(kind);
        let mut api = self.rtc.direct_api();
        *api.stream_tx_by_mid(mid, None).expect("send stream").ssrc()
    }

    /// The SSRC this client receives on its m-line of `kind` (viewers: the SFU's SSRC),
    /// once a packet arrived there.
    pub fn recv_ssrc(&mut self, kind: MediaKind) -> Option<u32> {
        let mid = self.mid(kind);
        let mut api = self.rtc.direct_api();
        api.stream_rx_by_mid(mid, None).map(|s| *s.ssrc())
    }

    /// The id the SFU's answer gives the RTP header extension `uri`.
    pub fn extension_id(&self, uri: &str) -> Option<u8> {
        self.answer.lines().find_map(|l| {
            let rest = l.strip_prefix("a=extmap:")?;
            let (id, name) = rest.split_once(' ')?;
            let id = id.split('/').next()?;
            (name.trim() == uri).then(|| id.parse().ok()).flatten()
        })
    }
}

impl Net {
    /// Hands `datagram` to the SFU now, as if client `idx` had sent it from its address.
    /// What the SFU answers moves on the next step.
    pub fn inject(&mut self, idx: usize, datagram: &[u8]) {
        let from: SocketAddr = self.clients[idx].addr;
        self.receive(from, datagram);
    }

    /// Sends a hand-built plaintext RTP packet from client `idx` inside its SRTP session.
    pub fn send_raw_rtp(&mut self, idx: usize, packet: &[u8]) -> Result<(), SrtpError> {
        let datagram = self.clients[idx].protect_rtp(packet)?;
        self.inject(idx, &datagram);
        Ok(())
    }

    /// Sends a hand-built plaintext (compound) RTCP packet from client `idx` inside its
    /// SRTP session.
    pub fn send_raw_rtcp(&mut self, idx: usize, compound: &[u8]) -> Result<(), SrtpError> {
        let datagram = self.clients[idx].protect_rtcp(compound)?;
        self.inject(idx, &datagram);
        Ok(())
    }
}

/// A plaintext RTP packet: fixed header, then `extension` (profile, body; the body padded to
/// whole words, the length field counting them) if any, then `payload`.
pub fn rtp(
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    marker: bool,
    extension: Option<(u16, &[u8])>,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![0x80 | if extension.is_some() { 0x10 } else { 0 }];
    p.push(pt & 0x7f | if marker { 0x80 } else { 0 });
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    if let Some((profile, body)) = extension {
        let words = body.len().div_ceil(4);
        p.extend_from_slice(&profile.to_be_bytes());
        p.extend_from_slice(&(words as u16).to_be_bytes());
        p.extend_from_slice(body);
        p.resize(p.len() + words * 4 - body.len(), 0);
    }
    p.extend_from_slice(payload);
    p
}

/// One-byte-form header extension elements (RFC 8285): `(id, value)`, value 1–16 bytes.
pub fn one_byte_extensions(elements: &[(u8, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, value) in elements {
        body.push(id << 4 | (value.len() as u8).wrapping_sub(1) & 0x0f);
        body.extend_from_slice(value);
    }
    body
}

/// Plaintext RTCP packets (RFC 3550, RFC 4585, RFC 5104); concatenate them for a compound.
pub mod rtcp {
    use super::Rng;

    /// A header plus `body`, the length field counting `body` (whole words).
    pub fn packet(count: u8, pt: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80 | (count & 0x1f), pt];
        p.extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
        p.extend_from_slice(body);
        p
    }

    fn ssrcs(list: &[u32]) -> Vec<u8> {
        list.iter().flat_map(|s| s.to_be_bytes()).collect()
    }

    /// A report block about `ssrc` (nothing lost, highest sequence number `highest`).
    fn report_block(ssrc: u32, highest: u32) -> Vec<u8> {
        let mut b = ssrc.to_be_bytes().to_vec();
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&highest.to_be_bytes());
        b.extend_from_slice(&[0; 12]);
        b
    }

    /// A sender report from `ssrc`, with report blocks about `about`.
    pub fn sr(ssrc: u32, about: &[u32]) -> Vec<u8> {
        let mut body = ssrc.to_be_bytes().to_vec();
        body.extend_from_slice(&[0x12; 8]); // NTP time
        body.extend_from_slice(&0x0101_0101u32.to_be_bytes());
        body.extend_from_slice(&1_000u32.to_be_bytes());
        body.extend_from_slice(&100_000u32.to_be_bytes());
        for &s in about {
            body.extend(report_block(s, 1_000));
        }
        packet(about.len() as u8, 200, &body)
    }

    /// A receiver report from `sender`, with report blocks about `about`.
    pub fn rr(sender: u32, about: &[u32]) -> Vec<u8> {
        let mut body = sender.to_be_bytes().to_vec();
        for &s in about {
            body.extend(report_block(s, 1_000));
        }
        packet(about.len() as u8, 201, &body)
    }

    /// A BYE for `list`.
    pub fn bye(list: &[u32]) -> Vec<u8> {
        packet(list.len() as u8, 203, &ssrcs(list))
    }

    /// A picture loss indication about `media`.
    pub fn pli(sender: u32, media: u32) -> Vec<u8> {
        packet(1, 206, &ssrcs(&[sender, media]))
    }

    /// A full intra request for `media`, command sequence number `seq`.
    pub fn fir(sender: u32, media: u32, seq: u8) -> Vec<u8> {
        let mut body = ssrcs(&[sender, 0, media]);
        body.extend_from_slice(&[seq, 0, 0, 0]);
        packet(4, 206, &body)
    }

    /// A generic NACK about `media`: one FCI per `(pid, blp)`.
    pub fn nack(sender: u32, media: u32, fci: &[(u16, u16)]) -> Vec<u8> {
        let mut body = ssrcs(&[sender, media]);
        for (pid, blp) in fci {
            body.extend_from_slice(&pid.to_be_bytes());
            body.extend_from_slice(&blp.to_be_bytes());
        }
        packet(1, 205, &body)
    }

    /// Malformed RTCP: lengths past the end, zero and inconsistent lengths, odd sizes, bad
    /// padding, truncated compounds, unknown packet types, and compounds of 100 reports.
    pub fn malformed(me: u32, media: u32) -> Vec<Vec<u8>> {
        let pli = pli(me, media);
        let rr = rr(me, &[media]);
        let with_len = |p: &[u8], words: u16| {
            let mut p = p.to_vec();
            p[2..4].copy_from_slice(&words.to_be_bytes());
            p
        };
        let cat = |parts: &[&[u8]]| parts.concat();
        let ids = cat(&[&me.to_be_bytes(), &media.to_be_bytes()]);
        let remb = cat(&[&ids, b"REMB", &[0xff; 12]]);
        let twcc = cat(&[&ids, &[0xff; 24]]);
        let mut out = vec![
            with_len(&pli, 100),
            with_len(&rr, u16::MAX),
            with_len(&pli, 0),
            cat(&[&with_len(&pli, 0), &[0x80, 201, 0, 0].repeat(100)]),
            cat(&[&pli, &[0x81]]),
            cat(&[&pli, &[0x80, 206, 0]]),
            // Report and source counts that the length does not hold.
            packet(31, 201, &me.to_be_bytes()),
            packet(31, 203, &me.to_be_bytes()),
            packet(1, 205, &[0; 6]),
            packet(4, 206, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
            // Truncated compounds.
            cat(&[&sr(me, &[media]), &rr[..rr.len() - 7]]),
            sr(me, &[media])[..30].to_vec(),
            // Unknown packet types and formats, APP, XR, REMB, TWCC and SDES of garbage.
            packet(0, 192, &[7; 12]),
            packet(0, 199, &[7; 12]),
            packet(3, 204, &[0xff; 40]),
            packet(0, 207, &[0xff; 40]),
            packet(15, 206, &[0xff; 40]),
            packet(15, 206, &remb),
            packet(15, 205, &twcc),
            packet(31, 205, &[0xff; 40]),
            packet(31, 202, &[0xff; 40]),
            packet(0, 208, &[0; 8]),
            packet(0, 255, &[0; 8]),
            // Version 0.
            cat(&[&[0x00, 201, 0, 1], &me.to_be_bytes()]),
            // 100 reports in one compound, and one report with 31 blocks.
            rr.repeat(100),
            sr(me, &[media]).repeat(100),
            self::rr(me, &[media; 31]),
        ];
        // The padding bit with a pad count of 0, 255 and the whole packet.
        for pad in [0u8, 255, pli.len() as u8] {
            let mut p = pli.clone();
            p[0] |= 0x20;
            *p.last_mut().expect("bytes") = pad;
            out.push(p);
        }
        out
    }

    /// A random compound of 1–5 RTCP-looking packets: types around 192–210, lengths right,
    /// short or long, bodies of random bytes.
    pub fn random(rng: &mut Rng, me: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..1 + rng.below(5) {
            let body_len = 4 * rng.below(20) + if rng.below(4) == 0 { rng.below(4) } else { 0 };
            let mut body = rng.bytes(body_len);
            if i == 0 && body.len() >= 4 {
                body[..4].copy_from_slice(&me.to_be_bytes());
            }
            let pt = if rng.below(8) == 0 {
                rng.next_u64() as u8
            } else {
                192 + rng.below(19) as u8
            };
            let mut p = packet(rng.next_u64() as u8, pt, &body);
            match rng.below(4) {
                0 => p[2..4].copy_from_slice(&(rng.next_u64() as u16).to_be_bytes()),
                1 => p[0] |= 0x20,
                _ => {}
            }
            out.extend(p);
        }
        if out.len() < 8 {
            out.resize(8, 0);
        }
        out
    }
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}
