//! The media core's inputs (`crates/media`): SDP offers and UDP datagrams.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use podium_media::{
    Accepted, MediaEvent, Output, PeerId, PublishParams, Sfu, SfuConfig, ViewParams,
};
use str0m::change::SdpAnswer;
use str0m::ice::{StunMessage, TransId};

use crate::Bytes;

/// A Chrome-like publisher offer: sendonly Opus audio and VP8/H264/AV1/VP9 video.
pub const CHROME_PUBLISH_OFFER: &str = include_str!("../offers/chrome_publish.sdp");
/// A Chrome-like viewer offer as the Millicast SDK makes it: recvonly video, then audio.
pub const CHROME_VIEW_OFFER: &str = include_str!("../offers/chrome_view.sdp");
/// The same with three more recvonly audio m-lines for multiplexed audio slots.
pub const CHROME_VIEW_MULTIPLEX_OFFER: &str = include_str!("../offers/chrome_view_multiplex.sdp");

/// The SFU's socket (loopback: nothing is ever sent, datagrams only move in memory).
pub const SFU_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5004);

/// Remote addresses a datagram can come from: the publisher's, the viewer's, a stranger's,
/// and an IPv6 one.
pub fn remote_addrs() -> [SocketAddr; 4] {
    [
        "127.0.0.2:40000".parse().expect("address"),
        "127.0.0.3:40002".parse().expect("address"),
        "127.0.0.4:40004".parse().expect("address"),
        "[::1]:40006".parse().expect("address"),
    ]
}

/// Video codecs a publish may ask for (`PublishCommand::codec`), with refused names.
const CODECS: [Option<&str>; 8] = [
    None,
    Some("vp8"),
    Some("VP9"),
    Some("h264"),
    Some("av1"),
    Some("h265"),
    Some("theora"),
    Some(""),
];

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// A fresh SFU at a fixed point of simulated time, with str0m's random numbers seeded so an
/// input always behaves the same.
fn new_sfu() -> (Sfu, Instant) {
    fastrand::seed(0x0050_0d1c_u64);
    let now = start() + Duration::from_secs(1);
    (Sfu::new(SfuConfig::new(SFU_ADDR), now), now)
}

/// Drains the SFU's output until it asks for a timeout, running due timers at once as the
/// shell does. Every datagram must go to an address the SFU has heard from.
fn drain(sfu: &mut Sfu, now: Instant, heard: &[SocketAddr], events: &mut Vec<MediaEvent>) {
    let mut immediate = 0;
    loop {
        match sfu.poll_output() {
            Output::Transmit(t) => {
                assert!(
                    heard.contains(&t.destination),
                    "datagram to {} which never sent anything",
                    t.destination
                );
            }
            Output::Event(e) => events.push(e),
            Output::Timeout(at) if at <= now && immediate < 10 => {
                immediate += 1;
                sfu.handle_timeout(now);
            }
            Output::Timeout(_) => break,
        }
    }
}

/// An answer Podium sends must be SDP a client can read.
fn check_answer(accepted: &Accepted) {
    assert!(
        SdpAnswer::from_sdp_string(&accepted.answer).is_ok(),
        "the SDP answer does not parse:\n{}",
        accepted.answer
    );
}

/// Closes what is left and checks the SFU forgets everything.
fn close_all(sfu: &mut Sfu, now: Instant, peers: &[PeerId], heard: &[SocketAddr]) {
    let mut events = Vec::new();
    for &peer in peers {
        sfu.close_peer(now, peer);
        drain(sfu, now, heard, &mut events);
    }
    assert_eq!(sfu.peer_count(), 0, "every peer closed");
    assert_eq!(sfu.stream_count(), 0, "no stream outlives its peers");
    assert_eq!(sfu.source_count(), 0, "no source outlives its publications");
    let later = now + Duration::from_secs(2);
    sfu.handle_timeout(later);
    drain(sfu, later, heard, &mut events);
}

fn refused(sfu: &Sfu, message: String, peers_before: usize) {
    assert!(!message.is_empty(), "a refusal says why");
    assert_eq!(
        sfu.peer_count(),
        peers_before,
        "a refused offer leaves nothing"
    );
}

/// `Sfu::publish` with the input as the SDP offer (invalid UTF-8 replaced).
///
/// An input that does not start with `v=` uses its first byte to pick the requested codec
/// (none, vp8, VP9, h264, av1, h265, or an unsupported name); the rest is the offer.
///
/// Invariants: a refusal leaves no peer behind; an accepted offer gets an answer that parses
/// as SDP, a viewer joining afterwards hears that the source is live, and closing both peers
/// leaves no stream or source behind.
pub fn sdp_publish(data: &[u8]) {
    let (codec, sdp) = match data.split_first() {
        Some((first, rest)) if !data.starts_with(b"v=") => {
            (CODECS[usize::from(*first) % CODECS.len()], rest)
        }
        _ => (None, data),
    };
    let (mut sfu, now) = new_sfu();
    let heard: Vec<SocketAddr> = Vec::new();
    let mut events = Vec::new();
    let published = sfu.publish(
        now,
        PublishParams {
            stream: "s".into(),
            source: None,
            offer: String::from_utf8_lossy(sdp).into_owned(),
            codec: codec.map(str::to_owned),
            priority: None,
        },
    );
    let publisher = match published {
        Ok(accepted) => {
            check_answer(&accepted);
            assert_eq!(sfu.publication_count(), 1);
            accepted.peer
        }
        Err(e) => return refused(&sfu, e.to_string(), 0),
    };
    drain(&mut sfu, now, &heard, &mut events);
    let viewer = sfu
        .view(
            now,
            ViewParams {
                stream: "s".into(),
                pinned: None,
                offer: CHROME_VIEW_MULTIPLEX_OFFER.into(),
                excluded: Vec::new(),
                max_slots: 16,
            },
        )
        .expect("a Chrome viewer offer is accepted");
    check_answer(&viewer);
    drain(&mut sfu, now, &heard, &mut events);
    assert!(
        events.iter().any(|e| matches!(
            e,
            MediaEvent::SourceActive { to, source: None, tracks } if *to == viewer.peer && !tracks.is_empty()
        )),
        "the viewer hears the main source is live: {events:?}"
    );
    let later = now + Duration::from_millis(1500);
    sfu.handle_timeout(later);
    drain(&mut sfu, later, &heard, &mut events);
    close_all(&mut sfu, later, &[viewer.peer, publisher], &heard);
}

/// `Sfu::view` with the input as the SDP offer (invalid UTF-8 replaced), on a stream whose
/// main source is live (a Chrome-like publisher).
///
/// An input that does not start with `v=` uses its first byte as options: bits 0–4 the
/// number of audio slots (at most 16, the server's cap), bit 5 pins the `guest` source
/// (live too), bit 6 excludes it from the slots; the rest is the offer. Otherwise the view
/// has 16 slots, like `vad: true`.
///
/// Invariants: a refusal leaves no peer behind; an accepted offer gets an answer that parses
/// as SDP, the viewer hears that every live source is live, and closing every peer leaves
/// no stream or source behind.
pub fn sdp_view(data: &[u8]) {
    let (opts, sdp) = match data.split_first() {
        Some((first, rest)) if !data.starts_with(b"v=") => (*first, rest),
        _ => (16, data),
    };
    let max_slots = usize::from(opts & 0x1f).min(16);
    let pinned = (opts & 0x20 != 0).then(|| "guest".to_owned());
    let excluded = if opts & 0x40 != 0 {
        vec!["guest".to_owned()]
    } else {
        Vec::new()
    };
    let (mut sfu, now) = new_sfu();
    let heard: Vec<SocketAddr> = Vec::new();
    let mut events = Vec::new();
    let mut peers = Vec::new();
    for source in [None, Some("guest".to_owned())] {
        let accepted = sfu
            .publish(
                now,
                PublishParams {
                    stream: "s".into(),
                    source,
                    offer: CHROME_PUBLISH_OFFER.into(),
                    codec: None,
                    priority: None,
                },
            )
            .expect("a Chrome publisher offer is accepted");
        peers.push(accepted.peer);
    }
    drain(&mut sfu, now, &heard, &mut events);
    let viewed = sfu.view(
        now,
        ViewParams {
            stream: "s".into(),
            pinned,
            offer: String::from_utf8_lossy(sdp).into_owned(),
            excluded,
            max_slots,
        },
    );
    let viewer = match viewed {
        Ok(accepted) => {
            check_answer(&accepted);
            assert_eq!(sfu.viewer_count(), 1);
            accepted.peer
        }
        Err(e) => return refused(&sfu, e.to_string(), 2),
    };
    events.clear();
    drain(&mut sfu, now, &heard, &mut events);
    for live in [None, Some("guest".to_owned())] {
        assert!(
            events.iter().any(|e| matches!(
                e,
                MediaEvent::SourceActive { to, source, .. } if *to == viewer && *source == live
            )),
            "the viewer hears {live:?} is live: {events:?}"
        );
    }
    let later = now + Duration::from_millis(1500);
    sfu.handle_timeout(later);
    drain(&mut sfu, later, &heard, &mut events);
    peers.insert(0, viewer);
    close_all(&mut sfu, later, &peers, &heard);
}

/// Our ICE credentials from an answer.
fn ice_creds(answer: &str) -> (String, String) {
    let find = |prefix: &str| {
        answer
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
            .expect("the answer has ICE credentials")
    };
    (find("a=ice-ufrag:"), find("a=ice-pwd:"))
}

/// Datagrams on the shared UDP socket of an SFU with one publisher and one viewer (with
/// three audio slots) already accepted, both Chrome-like.
///
/// The input is a list of records, each starting with an `op` byte: bits 0–1 pick the
/// source address ([`remote_addrs`]: publisher's, viewer's, a stranger's, IPv6), bits 2–3
/// the kind of record:
/// - `0`: a raw datagram: a u16 (LE) length, then that many bytes;
/// - `1`: a STUN binding request to the publisher (bit 4 clear) or the viewer (bit 4 set)
///   with our real ufrag and a MESSAGE-INTEGRITY made with our real password, so ICE can
///   succeed and DTLS, SRTP and RTCP parsing is reached; one flags byte (bit 0
///   USE-CANDIDATE, bit 1 ICE-CONTROLLING, bit 2 a wrong remote ufrag, bit 3 no integrity,
///   bit 4 flip the byte at the position given by the next byte) and a u32 priority follow;
/// - `2`: time passes: a u16 of milliseconds, then `handle_timeout`;
/// - `3`: a datagram forced into one class by bits 4–5 (DTLS, RTP, RTCP, STUN-looking: first
///   byte below 4 and at least 20 bytes): a u16 length, then the bytes.
///
/// After every record the output is drained until `Output::Timeout`, running due timers.
/// Invariants: the SFU only sends to addresses it has heard from, never has more than the
/// two peers, and forgets every stream and source once both are closed.
pub fn udp_demux(data: &[u8]) {
    let (mut sfu, mut now) = new_sfu();
    let addrs = remote_addrs();
    let mut heard: Vec<SocketAddr> = Vec::new();
    let mut events = Vec::new();
    let publisher = sfu
        .publish(
            now,
            PublishParams {
                stream: "s".into(),
                source: None,
                offer: CHROME_PUBLISH_OFFER.into(),
                codec: None,
                priority: None,
            },
        )
        .expect("a Chrome publisher offer is accepted");
    let viewer = sfu
        .view(
            now,
            ViewParams {
                stream: "s".into(),
                pinned: None,
                offer: CHROME_VIEW_MULTIPLEX_OFFER.into(),
                excluded: Vec::new(),
                max_slots: 3,
            },
        )
        .expect("a Chrome viewer offer is accepted");
    drain(&mut sfu, now, &heard, &mut events);
    let creds = [
        (ice_creds(&publisher.answer), "pUb1"),
        (ice_creds(&viewer.answer), "mUx1"),
    ];
    let hmac = str0m::crypto::from_feature_flags().sha1_hmac_provider;
    let mut b = Bytes::new(data);
    let mut buf = [0u8; 1500];
    while !b.is_empty() {
        let op = b.u8();
        let from = addrs[usize::from(op & 3)];
        match (op >> 2) & 3 {
            0 => {
                let len = usize::from(b.u16());
                let datagram = b.take(len);
                if !heard.contains(&from) {
                    heard.push(from);
                }
                sfu.handle_receive(now, from, SFU_ADDR, datagram);
            }
            1 => {
                let ((ufrag, pwd), theirs) = &creds[usize::from(op >> 4 & 1)];
                let flags = b.u8();
                let flip_at = usize::from(b.u8());
                let prio = b.u32();
                let remote = if flags & 4 != 0 { "nope" } else { theirs };
                let username = format!("{ufrag}:{remote}");
                let request = StunMessage::binding_request(
                    &username,
                    TransId::new(),
                    flags & 2 != 0,
                    fastrand::u64(..),
                    prio,
                    flags & 1 != 0,
                );
                let password = (flags & 8 == 0).then_some(pwd.as_bytes());
                let Ok(len) =
                    request.to_bytes(password, &mut buf, |key, parts| hmac.sha1_hmac(key, parts))
                else {
                    continue;
                };
                let datagram = &mut buf[..len];
                if flags & 16 != 0 {
                    datagram[flip_at % len] ^= 0x55;
                }
                if !heard.contains(&from) {
                    heard.push(from);
                }
                sfu.handle_receive(now, from, SFU_ADDR, datagram);
            }
            2 => {
                now += Duration::from_millis(u64::from(b.u16()));
                sfu.handle_timeout(now);
            }
            _ => {
                let len = usize::from(b.u16());
                let mut datagram = b.take(len).to_vec();
                let first = datagram.first().copied().unwrap_or(0);
                match (op >> 4) & 3 {
                    // DTLS records: content type 20..=63.
                    0 => set_first(&mut datagram, 20 + first % 44),
                    // RTP version 2.
                    1 => set_first(&mut datagram, 0x80 | (first & 0x3f)),
                    // RTCP: version 2, packet type 200..=207.
                    2 => {
                        set_first(&mut datagram, 0x80 | (first & 0x1f));
                        if datagram.len() < 2 {
                            datagram.push(0);
                        }
                        datagram[1] = 200 + datagram[1] % 8;
                    }
                    // STUN-looking: first byte below 4, at least a header long.
                    _ => {
                        datagram.resize(datagram.len().max(20), 0);
                        datagram[0] = first % 4;
                    }
                }
                if !heard.contains(&from) {
                    heard.push(from);
                }
                sfu.handle_receive(now, from, SFU_ADDR, &datagram);
            }
        }
        drain(&mut sfu, now, &heard, &mut events);
        assert!(sfu.peer_count() <= 2, "datagrams never make peers");
    }
    close_all(&mut sfu, now, &[publisher.peer, viewer.peer], &heard);
}

fn set_first(datagram: &mut Vec<u8>, byte: u8) {
    match datagram.first_mut() {
        Some(b) => *b = byte,
        None => datagram.push(byte),
    }
}
