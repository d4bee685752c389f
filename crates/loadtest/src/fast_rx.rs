//! The listener mode that keeps the load tool from being the limit: ICE, DTLS and SRTP are
//! set up by str0m like a real client, but once connected a listener's RTP skips str0m.
//! Datagrams are read in batches (`recvmmsg`), loss is counted from the plaintext RTP header
//! (sequence numbers are not encrypted), and only a sample is decrypted for the probe
//! (latency, speaker switches): every packet with the marker bit (Podium marks the first
//! packet after a slot switch) and one in `decrypt_every` of the others. The SRTP keys come
//! from the DTLS session str0m ran (`podium_media::dtls_keys`), and the decryption is
//! `podium_media::srtp`, the code Podium protects with: a tool bug there would show as a
//! failure to open packets, which is counted.

use std::io;
use std::net::SocketAddr;

use podium_media::dtls_keys::ExportedKeys;
use podium_media::srtp::{session_pair, SrtpContext};
use podium_media::wire::rtp_header_len;

/// The receiving half of a listener's SRTP session and its sampling.
pub struct FastRx {
    open: SrtpContext,
    decrypt_every: u64,
    scratch: Vec<u8>,
}

/// What the plaintext header of one packet says, and its payload if it was decrypted.
pub struct Header {
    pub ssrc: u32,
    pub seq: u16,
    pub pt: u8,
    pub marker: bool,
    /// Payload bytes (ciphertext length, tag excluded).
    pub payload_len: usize,
}

impl FastRx {
    /// The receiving context of a client's session (`keys` exported by its DTLS).
    pub fn new(keys: &ExportedKeys, decrypt_every: u64) -> Option<Self> {
        let (_, open) = session_pair(keys.profile, &keys.material, keys.local_is_client).ok()?;
        Some(Self {
            open,
            decrypt_every: decrypt_every.max(1),
            scratch: Vec::with_capacity(2048),
        })
    }

    /// The header of an SRTP packet, without decrypting it.
    pub fn header(&self, data: &[u8]) -> Option<(Header, usize)> {
        let header_len = rtp_header_len(data)?;
        let tag = self.open.profile().rtp_overhead();
        let payload_len = data.len().checked_sub(header_len + tag)?;
        Some((
            Header {
                ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
                seq: u16::from_be_bytes([data[2], data[3]]),
                pt: data[1] & 0x7f,
                marker: data[1] & 0x80 != 0,
                payload_len,
            },
            header_len,
        ))
    }

    /// Whether the `n`th packet of a track (or a marked one) is decrypted.
    pub fn sampled(&self, n: u64, marker: bool) -> bool {
        marker || n.is_multiple_of(self.decrypt_every)
    }

    /// Decrypts a copy of `data` (rollover counter `roc`); the payload, or `None` if it does
    /// not authenticate.
    pub fn open(&mut self, data: &[u8], header_len: usize, roc: u32) -> Option<&[u8]> {
        self.scratch.clear();
        self.scratch.extend_from_slice(data);
        let n = self
            .open
            .unprotect_rtp(&mut self.scratch, header_len, roc)
            .ok()?;
        Some(&self.scratch[header_len..n])
    }
}

/// Whether a datagram is RTP (not RTCP, STUN or DTLS): RFC 7983 and RFC 5761.
pub fn is_rtp(d: &[u8]) -> bool {
    d.len() >= 12 && (128..=191).contains(&d[0]) && !(192..=223).contains(&d[1])
}

/// A 16-bit sequence number extended next to the highest extended one seen.
pub fn extend_seq(highest: Option<u64>, seq: u16) -> u64 {
    let Some(high) = highest else {
        // The rollover counter starts at 0 (RFC 3711), whatever the first number.
        return u64::from(seq);
    };
    let candidate = (high & !0xffff) | u64::from(seq);
    if candidate > high.saturating_add(0x8000) && candidate >= 0x1_0000 {
        candidate - 0x1_0000
    } else if candidate.saturating_add(0x8000) < high {
        candidate + 0x1_0000
    } else {
        candidate
    }
}

/// Batch reads with `recvmmsg`: up to [`BATCH`] datagrams per system call.
pub struct BatchReader {
    #[cfg(target_os = "linux")]
    headers: nix::sys::socket::MultiHeaders<nix::sys::socket::SockaddrStorage>,
    bufs: Box<[[u8; 2048]; BATCH]>,
    got: Vec<(usize, SocketAddr)>,
}

/// Datagrams per receive call at most.
pub const BATCH: usize = 32;

impl Default for BatchReader {
    fn default() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            headers: nix::sys::socket::MultiHeaders::preallocate(BATCH, None),
            bufs: Box::new([[0; 2048]; BATCH]),
            got: Vec::with_capacity(BATCH),
        }
    }
}

impl BatchReader {
    /// Reads what is queued on `socket` (one call); `Ok(0)` never happens (would-block is an
    /// error), so loop until it fails.
    #[cfg(target_os = "linux")]
    pub fn read(&mut self, socket: &impl std::os::fd::AsRawFd) -> io::Result<usize> {
        use nix::sys::socket::{recvmmsg, MsgFlags};
        use std::io::IoSliceMut;
        self.got.clear();
        let mut iovs = self.bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
        let msgs = recvmmsg(
            socket.as_raw_fd(),
            &mut self.headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )?;
        for msg in msgs {
            let from = msg.address.as_ref().and_then(|a| {
                if let Some(v4) = a.as_sockaddr_in() {
                    Some(SocketAddr::from((v4.ip(), v4.port())))
                } else {
                    a.as_sockaddr_in6()
                        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
                }
            });
            if let Some(from) = from {
                self.got.push((msg.bytes, from));
            }
        }
        if self.got.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(self.got.len())
    }

    /// One datagram per call elsewhere.
    #[cfg(not(target_os = "linux"))]
    pub fn read(&mut self, socket: &mio::net::UdpSocket) -> io::Result<usize> {
        self.got.clear();
        let (n, from) = socket.recv_from(&mut self.bufs[0])?;
        self.got.push((n, from));
        Ok(1)
    }

    /// The `i`th datagram of the last read and its source.
    pub fn datagram(&self, i: usize) -> (&[u8], SocketAddr) {
        let (len, from) = self.got[i];
        (&self.bufs[i][..len], from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_extend_across_wraps_and_reordering() {
        let a = extend_seq(None, 65_534);
        assert_eq!(a >> 16, 0, "the rollover counter starts at 0");
        let b = extend_seq(Some(a), 65_535);
        let c = extend_seq(Some(b), 1);
        assert_eq!((b - a, c - b), (1, 2));
        assert_eq!(c >> 16, 1);
        assert_eq!(
            extend_seq(Some(c), 65_535),
            b,
            "a late packet from before the wrap"
        );
        assert_eq!(
            extend_seq(Some(5), 65_535),
            65_535,
            "no rollover below zero"
        );
    }

    #[test]
    fn rtp_is_told_from_rtcp_stun_and_dtls() {
        let mut rtp = [0u8; 20];
        rtp[0] = 0x80;
        rtp[1] = 111;
        assert!(is_rtp(&rtp));
        rtp[1] = 200;
        assert!(!is_rtp(&rtp), "an SR");
        assert!(
            !is_rtp(&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0]),
            "STUN"
        );
        assert!(
            !is_rtp(&[22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            "DTLS"
        );
    }
}
