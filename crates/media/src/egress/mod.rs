//! Podium's own egress: forwarded media leaves without a pass through the viewer's str0m
//! `Rtc`. str0m still answers the offer, runs ICE-lite and DTLS and receives what the viewer
//! sends outside RTCP; once the handshake has exported the SRTP keys ([`keys`]), each copy
//! of a packet is a header written into a pooled buffer ([`wire`]), the shared payload
//! copied behind it, and AES-GCM in place ([`srtp`]). Resends come from one history per
//! source ([`history`]), sender reports from the per-track counts kept here. See
//! `docs/egress.md`.

pub mod history;
pub mod keys;
pub mod srtp;
pub mod wire;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use srtp::{SrtpContext, SrtpError};
use wire::{ExtIds, RtpHeader, SenderInfo};

/// Capacity of a pooled datagram buffer: the largest forwarded payload, a header with
/// extensions and the SRTP tag.
pub const DATAGRAM_CAPACITY: usize = 1600;

/// Most buffers kept for reuse: a few batches' worth; more would only be memory.
const POOL_MAX: usize = 4096;

/// Datagram buffers handed out for outgoing packets and handed back by the shell once sent,
/// so a forwarded copy allocates nothing once the pool is warm.
#[derive(Debug, Default)]
pub struct BufferPool {
    free: Vec<Vec<u8>>,
}

impl BufferPool {
    /// An empty buffer with room for a datagram.
    pub fn take(&mut self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(DATAGRAM_CAPACITY))
    }

    /// Returns a buffer (any length; it is cleared).
    pub fn put(&mut self, mut buf: Vec<u8>) {
        if self.free.len() < POOL_MAX && buf.capacity() >= DATAGRAM_CAPACITY {
            buf.clear();
            self.free.push(buf);
        }
    }
}

/// One outgoing track's sender state (its SSRCs, numbering of resends, SR figures).
#[derive(Debug, Clone)]
pub struct TrackTx {
    pub ssrc: u32,
    /// RTX SSRC and the next RTX sequence number, when the m-line negotiated RTX.
    pub rtx: Option<(u32, u16)>,
    pub ext: ExtIds,
    mid: [u8; 16],
    mid_len: u8,
    clock_rate: u32,
    /// Packets and payload octets sent (RFC 3550 counts, wrapping).
    pub packets: u32,
    pub octets: u32,
    /// The last RTP timestamp sent and the wall-clock instant it stands for.
    last: Option<(u32, Instant)>,
    /// Highest extended sequence number sent: NACKs carry 16 bits, extended from here.
    pub highest_seq: u64,
}

impl TrackTx {
    pub fn new(ssrc: u32, rtx: Option<u32>, mid: &str, ext: ExtIds, clock_rate: u32) -> Self {
        let mut m = [0u8; 16];
        let mid_len = mid.len().min(16);
        m[..mid_len].copy_from_slice(&mid.as_bytes()[..mid_len]);
        Self {
            ssrc,
            rtx: rtx.map(|s| (s, 0)),
            ext,
            mid: m,
            mid_len: mid_len as u8,
            clock_rate: clock_rate.max(1),
            packets: 0,
            octets: 0,
            last: None,
            highest_seq: 0,
        }
    }

    fn mid(&self) -> &[u8] {
        &self.mid[..usize::from(self.mid_len)]
    }

    /// A 16-bit sequence number from feedback, extended next to the highest one sent.
    pub fn extend_seq(&self, seq: u16) -> u64 {
        let high = self.highest_seq;
        let candidate = (high & !0xffff) | u64::from(seq);
        if candidate > high.saturating_add(0x8000) && candidate >= 0x1_0000 {
            candidate - 0x1_0000
        } else if candidate.saturating_add(0x8000) < high {
            candidate.saturating_add(0x1_0000)
        } else {
            candidate
        }
    }
}

/// One packet to send on a track.
#[derive(Debug, Clone, Copy)]
pub struct OutRtp<'a> {
    pub pt: u8,
    /// Extended sequence number (its high bits are the SRTP rollover counter).
    pub seq: u64,
    pub ts: u32,
    pub marker: bool,
    pub audio_level: Option<i8>,
    pub voice_activity: Option<bool>,
    pub video_orientation: Option<u8>,
    /// The wall-clock instant of its media time (for sender reports).
    pub captured: Instant,
    pub payload: &'a [u8],
}

/// Clocks the egress needs: `now`, and two fixed anchors the SFU was started with.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Instant,
    /// Start of the SFU: abs-send-time counts from here (only its differences matter).
    pub epoch: Instant,
    /// Time since the Unix epoch at `epoch`, for NTP timestamps in sender reports.
    pub unix_at_epoch: Duration,
}

impl Clock {
    fn abs_send_time(&self) -> u32 {
        let micros = self.now.saturating_duration_since(self.epoch).as_micros();
        ((micros << 18) / 1_000_000) as u32 & 0x00ff_ffff
    }

    /// NTP timestamp (32.32, seconds since 1900) of `at`.
    fn ntp(&self, at: Instant) -> u64 {
        const UNIX_TO_NTP: u64 = 2_208_988_800;
        let since = self.unix_at_epoch + at.saturating_duration_since(self.epoch);
        let secs = since.as_secs() + UNIX_TO_NTP;
        let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
        (secs << 32) | frac
    }
}

/// A viewer's egress: its SRTP contexts, where its media goes, its SRTCP numbering and
/// its resend budget.
#[derive(Debug)]
pub struct ViewerEgress {
    protect: SrtpContext,
    open: SrtpContext,
    pub destination: SocketAddr,
    rtcp_index: u32,
    budget: ResendBudget,
    /// When sender reports are next due.
    pub next_report: Instant,
    /// The CNAME its answer declared, repeated in every report.
    cname: Box<str>,
    /// An SRTCP packet of the viewer authenticated: its DTLS handshake is done on its side.
    heard_rtcp: bool,
}

impl ViewerEgress {
    pub fn new(
        keys: &keys::ExportedKeys,
        destination: SocketAddr,
        cname: String,
        now: Instant,
    ) -> Result<Self, SrtpError> {
        let (protect, open) =
            srtp::session_pair(keys.profile, &keys.material, keys.local_is_client)?;
        Ok(Self {
            protect,
            open,
            destination,
            rtcp_index: 0,
            budget: ResendBudget::new(now),
            // The first report soon after media starts: receivers sync audio and video by it.
            next_report: now + Duration::from_millis(500),
            cname: cname.into_boxed_str(),
            heard_rtcp: false,
        })
    }

    /// Writes and protects one RTP packet of `track` into `buf` (empty, from the pool).
    pub fn write_rtp(
        &self,
        buf: &mut Vec<u8>,
        track: &mut TrackTx,
        p: &OutRtp,
        clock: &Clock,
    ) -> Result<(), SrtpError> {
        let header = RtpHeader {
            pt: p.pt,
            marker: p.marker,
            seq: p.seq as u16,
            ts: p.ts,
            ssrc: track.ssrc,
            mid: track.mid(),
            abs_send_time: Some(clock.abs_send_time()),
            audio_level: p
                .audio_level
                .map(|l| (l, p.voice_activity.unwrap_or(false))),
            video_orientation: p.video_orientation,
        };
        let header_len = wire::write_rtp_header(buf, &header, &track.ext);
        buf.extend_from_slice(p.payload);
        self.protect
            .protect_rtp(buf, header_len, (p.seq >> 16) as u32)?;
        track.packets = track.packets.wrapping_add(1);
        track.octets = track.octets.wrapping_add(p.payload.len() as u32);
        if p.seq >= track.highest_seq {
            track.highest_seq = p.seq;
            track.last = Some((p.ts, p.captured));
        }
        Ok(())
    }

    /// Writes a retransmission of an earlier packet: on the RTX stream (`rtx_pt`, the
    /// original sequence number in front of the payload, RFC 4588) when negotiated, else
    /// as the original packet again.
    pub fn write_resend(
        &self,
        buf: &mut Vec<u8>,
        track: &mut TrackTx,
        p: &OutRtp,
        rtx_pt: Option<u8>,
        clock: &Clock,
    ) -> Result<(), SrtpError> {
        let (Some((rtx_ssrc, rtx_seq)), Some(rtx_pt)) = (track.rtx.as_mut(), rtx_pt) else {
            // Without RTX the original goes again; it is not counted twice in the SR.
            let (packets, octets) = (track.packets, track.octets);
            self.write_rtp(buf, track, p, clock)?;
            (track.packets, track.octets) = (packets, octets);
            return Ok(());
        };
        let header = RtpHeader {
            pt: rtx_pt,
            marker: p.marker,
            seq: *rtx_seq,
            ts: p.ts,
            ssrc: *rtx_ssrc,
            mid: &track.mid[..usize::from(track.mid_len)],
            abs_send_time: Some(clock.abs_send_time()),
            audio_level: None,
            video_orientation: p.video_orientation,
        };
        // RTX numbers its own packets; it starts at 0, so 2^16 resends wrap the ROC.
        let roc = 0;
        *rtx_seq = rtx_seq.wrapping_add(1);
        let header_len = wire::write_rtp_header(buf, &header, &track.ext);
        buf.extend_from_slice(&(p.seq as u16).to_be_bytes());
        buf.extend_from_slice(p.payload);
        self.protect.protect_rtp(buf, header_len, roc)
    }

    /// Whether a resend is allowed now (a viewer cannot make Podium resend without bound).
    pub fn may_resend(&mut self, now: Instant) -> bool {
        self.budget.take(now)
    }

    /// Writes the sender reports of `tracks` (those that have sent) into `buf` as one
    /// SRTCP packet; false when there is nothing to report.
    pub fn write_reports<'a>(
        &mut self,
        buf: &mut Vec<u8>,
        tracks: impl Iterator<Item = &'a TrackTx>,
        clock: &Clock,
    ) -> Result<bool, SrtpError> {
        let mut first_ssrc = None;
        for track in tracks {
            let Some((ts, captured)) = track.last else {
                continue;
            };
            // The RTP time of `now`: the last timestamp plus the media time since.
            let elapsed = clock.now.saturating_duration_since(captured);
            let ticks = (elapsed.as_nanos() * u128::from(track.clock_rate) / 1_000_000_000) as u32;
            let sr = SenderInfo {
                ssrc: track.ssrc,
                ntp: clock.ntp(clock.now),
                rtp_ts: ts.wrapping_add(ticks),
                packets: track.packets,
                octets: track.octets,
            };
            first_ssrc.get_or_insert(track.ssrc);
            wire::write_sender_report(buf, &sr, self.cname.as_bytes());
            if buf.len() > 1000 {
                break;
            }
        }
        if first_ssrc.is_none() {
            return Ok(false);
        }
        self.protect.protect_rtcp(buf, self.rtcp_index)?;
        self.rtcp_index = (self.rtcp_index + 1) & 0x7fff_ffff;
        Ok(true)
    }

    /// Opens SRTCP from the viewer in place; the plain compound packet is `buf[..n]`.
    pub fn open_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let n = self.open.unprotect_rtcp(buf)?;
        self.heard_rtcp = true;
        Ok(n)
    }

    /// Whether an SRTCP packet of the viewer has authenticated.
    pub fn heard_rtcp(&self) -> bool {
        self.heard_rtcp
    }
}

/// A token bucket of resends: a burst, then a steady rate well above what a lossy video
/// path asks for.
#[derive(Debug)]
struct ResendBudget {
    tokens: f64,
    at: Instant,
}

impl ResendBudget {
    const BURST: f64 = 300.0;
    const PER_SECOND: f64 = 600.0;

    fn new(now: Instant) -> Self {
        Self {
            tokens: Self::BURST,
            at: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = self.at.max(now);
        self.tokens = (self.tokens + elapsed * Self::PER_SECOND).min(Self::BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    #[test]
    fn feedback_sequence_numbers_extend_next_to_the_highest_sent() {
        let mut t = TrackTx::new(1, None, "0", ExtIds::default(), 90_000);
        t.highest_seq = 0x1_0005;
        assert_eq!(t.extend_seq(0x0003), 0x1_0003);
        assert_eq!(t.extend_seq(0xfff0), 0x0_fff0);
        t.highest_seq = 0x1_fff0;
        assert_eq!(t.extend_seq(0x0002), 0x2_0002);
        t.highest_seq = 10;
        assert_eq!(t.extend_seq(0xfffe), 0xfffe);
    }

    #[test]
    fn the_resend_budget_refills_at_its_rate() {
        let now = Instant::now();
        let mut b = ResendBudget::new(now);
        let burst = (0..1000).filter(|_| b.take(now)).count();
        assert_eq!(burst, ResendBudget::BURST as usize);
        let later = now + Duration::from_millis(100);
        let refilled = (0..1000).filter(|_| b.take(later)).count();
        assert_eq!(refilled, 60);
    }

    fn egress_and_client(now: Instant) -> (ViewerEgress, SrtpContext, SrtpContext) {
        let profile = srtp::Profile::AeadAes128Gcm;
        let material: Vec<u8> = (0..56u8).map(|i| i.wrapping_mul(31)).collect();
        let keys = keys::ExportedKeys {
            profile,
            material: material.clone(),
            local_is_client: false,
        };
        let egress =
            ViewerEgress::new(&keys, "127.0.0.1:9".parse().unwrap(), "cname".into(), now).unwrap();
        let (_client_tx, client_rx) = srtp::session_pair(profile, &material, true).unwrap();
        // The client's receiving context opens what the SFU protects: both directions.
        let (client_tx, _) = srtp::session_pair(profile, &material, true).unwrap();
        (egress, client_rx, client_tx)
    }

    fn sender_report(
        egress: &mut ViewerEgress,
        client: &mut SrtpContext,
        track: &TrackTx,
        clock: &Clock,
    ) -> str0m::rtp::rtcp::SenderInfo {
        let mut buf = vec![];
        assert!(egress
            .write_reports(&mut buf, [track].into_iter(), clock)
            .unwrap());
        let n = client
            .unprotect_rtcp(&mut buf)
            .expect("the viewer opens it");
        let len = 4 * (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1);
        assert!(len < n, "an SDES follows the SR");
        match str0m::rtp::rtcp::Rtcp::try_from(&buf[..len]).unwrap() {
            str0m::rtp::rtcp::Rtcp::SenderReport(sr) => sr.sender_info,
            other => panic!("{other:?}"),
        }
    }

    /// Sender reports follow the rewritten stream: counts of what was sent, and an RTP time
    /// that advances with the NTP time at the codec's rate, across an input switch.
    #[test]
    fn sender_reports_are_consistent_with_the_rewritten_stream() {
        use crate::rewrite::{InPacket, InputKey, Rewriter};
        let t0 = Instant::now();
        let (mut egress, mut client_rx, _) = egress_and_client(t0);
        let mut track = TrackTx::new(0xabcd, None, "1", ExtIds::default(), 48_000);
        let mut rewriter = Rewriter::new(48_000);
        let clock = |now| Clock {
            now,
            epoch: t0,
            unix_at_epoch: Duration::from_secs(1_700_000_000),
        };
        let mut nothing = vec![];
        assert!(
            !egress
                .write_reports(&mut nothing, [&track].into_iter(), &clock(t0))
                .unwrap(),
            "nothing sent, nothing reported"
        );
        let payload = [7u8; 80];
        let mut send = |track: &mut TrackTx, gen: u64, seq: u64, ts: u64, at: Instant| {
            let out = rewriter
                .rewrite(InPacket {
                    input: InputKey {
                        generation: gen,
                        ssrc: gen as u32,
                    },
                    seq,
                    ts,
                    now: at,
                })
                .unwrap();
            let p = OutRtp {
                pt: 111,
                seq: out.seq,
                ts: out.ts,
                marker: false,
                audio_level: None,
                voice_activity: None,
                video_orientation: None,
                captured: at,
                payload: &payload,
            };
            let mut buf = vec![];
            egress.write_rtp(&mut buf, track, &p, &clock(at)).unwrap();
            let header = wire::rtp_header_len(&buf).unwrap();
            let n = client_rx
                .unprotect_rtp(&mut buf, header, (out.seq >> 16) as u32)
                .unwrap();
            assert_eq!(&buf[header..n], &payload[..]);
            out
        };
        let mut last = None;
        for i in 0..50u64 {
            last = Some(send(
                &mut track,
                1,
                65_500 + i,
                1_000_000 + 960 * i,
                t0 + Duration::from_millis(20 * i),
            ));
        }
        // Another input (a slot switch) 300 ms later, with unrelated numbering.
        let t1 = t0 + Duration::from_millis(20 * 49 + 300);
        for i in 0..50u64 {
            last = Some(send(
                &mut track,
                2,
                17 + i,
                5 + 960 * i,
                t1 + Duration::from_millis(20 * i),
            ));
        }
        let last = last.unwrap();
        let at1 = t1 + Duration::from_millis(20 * 49 + 10);
        let sr1 = sender_report(&mut egress, &mut client_rx, &track, &clock(at1));
        assert_eq!(*sr1.ssrc, 0xabcd);
        assert_eq!(sr1.sender_packet_count, 100);
        assert_eq!(sr1.sender_octet_count, 100 * 80);
        assert_eq!(
            sr1.rtp_time.numer() as u32,
            last.ts.wrapping_add(480),
            "10 ms after the last packet"
        );
        let at2 = at1 + Duration::from_millis(1500);
        let sr2 = sender_report(&mut egress, &mut client_rx, &track, &clock(at2));
        let rtp_delta = (sr2.rtp_time.numer() as u32).wrapping_sub(sr1.rtp_time.numer() as u32);
        let ntp_delta = sr2.ntp_time.duration_since(sr1.ntp_time).unwrap();
        assert_eq!(rtp_delta, 72_000);
        assert!(ntp_delta.abs_diff(Duration::from_millis(1500)) < Duration::from_millis(1));
        let unix = sr1.ntp_time.duration_since(std::time::UNIX_EPOCH).unwrap();
        let expected = Duration::from_secs(1_700_000_000) + (at1 - t0);
        assert!(
            unix.abs_diff(expected) < Duration::from_millis(1),
            "NTP time from the wall clock anchor"
        );
    }

    #[test]
    fn resends_go_on_the_rtx_stream_with_the_original_sequence_number() {
        let t0 = Instant::now();
        let (egress, client_rx, _) = egress_and_client(t0);
        let mut track = TrackTx::new(1, Some(2), "0", ExtIds::default(), 90_000);
        let clock = Clock {
            now: t0,
            epoch: t0,
            unix_at_epoch: Duration::ZERO,
        };
        let payload = [1u8, 2, 3];
        let p = OutRtp {
            pt: 96,
            seq: 0x1_0005,
            ts: 9000,
            marker: true,
            audio_level: None,
            voice_activity: None,
            video_orientation: None,
            captured: t0,
            payload: &payload,
        };
        let mut buf = vec![];
        egress.write_rtp(&mut buf, &mut track, &p, &clock).unwrap();
        let mut rtx = vec![];
        egress
            .write_resend(&mut rtx, &mut track, &p, Some(97), &clock)
            .unwrap();
        assert_eq!(track.packets, 1, "a resend is not counted as sent media");
        let header = wire::rtp_header_len(&rtx).unwrap();
        let n = client_rx.unprotect_rtp(&mut rtx, header, 0).unwrap();
        assert_eq!(rtx[1] & 0x7f, 97);
        assert_eq!(&rtx[8..12], &2u32.to_be_bytes(), "RTX SSRC");
        assert_eq!(
            &rtx[header..n],
            &[0x00, 0x05, 1, 2, 3],
            "OSN, then the payload"
        );
        // Without RTX negotiated the original goes again, as it was.
        let mut plain = TrackTx::new(1, None, "0", ExtIds::default(), 90_000);
        let mut again = vec![];
        egress
            .write_resend(&mut again, &mut plain, &p, None, &clock)
            .unwrap();
        let n = client_rx.unprotect_rtp(&mut again, 12, 1).unwrap();
        assert_eq!(&again[12..n], &payload);
        assert_eq!(&again[2..4], &[0, 5]);
    }

    #[test]
    fn the_pool_reuses_buffers() {
        let mut pool = BufferPool::default();
        let mut a = pool.take();
        a.extend_from_slice(b"x");
        let ptr = a.as_ptr();
        pool.put(a);
        let b = pool.take();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr);
        pool.put(Vec::new());
        assert!(pool.free.is_empty(), "small buffers are dropped");
    }
}
