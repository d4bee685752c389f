//! The media core's settings and its running totals.

use std::net::SocketAddr;
use std::time::Duration;

use crate::audio::slots::SlotConfig;
use crate::audio::speaker::SpeakerConfig;

/// Settings of the media core.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The address put in every answer's host candidate (the shared UDP socket as clients
    /// reach it), also used as the local address of received datagrams.
    pub candidate_addr: SocketAddr,
    /// A peer whose ICE/DTLS is not up after this long is dropped.
    pub connect_timeout: Duration,
    /// Keyframe requests to one publication are sent at most this often.
    pub keyframe_request_interval: Duration,
    /// Redundant ingest: a publication with no packet for this long has stalled, and
    /// viewers of its source fail over to the next priority that is sending.
    pub redundant_stall_timeout: Duration,
    /// A connected peer that sends nothing (no STUN consent, no RTCP) for this long has gone.
    /// Browsers refresh consent every few seconds, so silence means the peer vanished.
    pub idle_timeout: Duration,
    /// Voice-activity detection of audio sources.
    pub speaker: SpeakerConfig,
    /// Audio slot switching.
    pub slots: SlotConfig,
    /// Most viewers of one stream (`None` = no limit).
    pub max_viewers_per_stream: Option<usize>,
    /// Most live sources of one stream (`None` = no limit); replacing a live source is
    /// always allowed.
    pub max_sources_per_stream: Option<usize>,
    /// Time since the Unix epoch when the SFU starts (the shell reads the clock): sender
    /// reports carry NTP time from it.
    pub unix_time_at_start: Duration,
    /// This core's index among the server's media workers, and their number: a stream's
    /// publishers are on its home worker ([`relay::home_worker`]), its viewers anywhere.
    pub worker: usize,
    /// The number of media workers.
    pub workers: usize,
}

impl SfuConfig {
    /// Defaults for a socket reachable at `candidate_addr`.
    pub fn new(candidate_addr: SocketAddr) -> Self {
        Self {
            candidate_addr,
            // Browsers connect to an ICE-lite server in well under a second, a few seconds
            // through relays; a peer that is not up by then only holds resources.
            connect_timeout: Duration::from_secs(10),
            keyframe_request_interval: Duration::from_millis(300),
            // Video sends every frame and Opus DTX at least every 400 ms: a second of nothing
            // is a dead encoder or path, and still a short freeze for viewers.
            redundant_stall_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(10),
            speaker: SpeakerConfig::default(),
            slots: SlotConfig::default(),
            max_viewers_per_stream: None,
            max_sources_per_stream: None,
            unix_time_at_start: Duration::ZERO,
            worker: 0,
            workers: 1,
        }
    }
}

/// Running totals, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams from an address no peer uses, and not a STUN request for a known peer.
    pub datagrams_unroutable: u64,
    /// Datagrams a peer refused (malformed, wrong state).
    pub datagrams_rejected: u64,
    /// RTP packets received from publishers.
    pub rtp_received: u64,
    /// RTP packets written to viewers.
    pub rtp_forwarded: u64,
    /// Packets of a publication that is not the current one of its source.
    pub rtp_dropped_not_current: u64,
    /// Packets whose codec the viewer did not negotiate.
    pub rtp_dropped_no_codec: u64,
    /// Packets with a payload over [`forward::MAX_PAYLOAD`] bytes.
    pub rtp_dropped_oversized: u64,
    /// Audio slots that changed source.
    pub slot_switches: u64,
    /// Packets received from another worker for the viewers here (`sfu/relay.rs`).
    pub rtp_relayed_in: u64,
    /// Packets resent to viewers on their NACKs.
    pub rtp_resent: u64,
    /// Resends refused because a viewer asked for more than its budget.
    pub resends_refused: u64,
    /// Sender reports sent to viewers (one compound packet each).
    pub reports_sent: u64,
    /// Viewers whose str0m session was dropped after their handshake (`sfu/lite.rs`).
    pub viewers_without_rtc: u64,
}

impl Counters {
    /// Adds another core's totals (the shell runs one core per media worker).
    pub fn merge(&mut self, other: &Counters) {
        // Destructured without `..`, so a new counter cannot be forgotten here.
        let Counters {
            datagrams_unroutable,
            datagrams_rejected,
            rtp_received,
            rtp_forwarded,
            rtp_dropped_not_current,
            rtp_dropped_no_codec,
            rtp_dropped_oversized,
            slot_switches,
            rtp_relayed_in,
            rtp_resent,
            resends_refused,
            reports_sent,
            viewers_without_rtc,
        } = other;
        self.datagrams_unroutable += datagrams_unroutable;
        self.datagrams_rejected += datagrams_rejected;
        self.rtp_received += rtp_received;
        self.rtp_forwarded += rtp_forwarded;
        self.rtp_dropped_not_current += rtp_dropped_not_current;
        self.rtp_dropped_no_codec += rtp_dropped_no_codec;
        self.rtp_dropped_oversized += rtp_dropped_oversized;
        self.slot_switches += slot_switches;
        self.rtp_relayed_in += rtp_relayed_in;
        self.rtp_resent += rtp_resent;
        self.resends_refused += resends_refused;
        self.reports_sent += reports_sent;
        self.viewers_without_rtc += viewers_without_rtc;
    }
}
