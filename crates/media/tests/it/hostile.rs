//! Hostile datagrams against an established session.

use std::net::SocketAddr;
use std::time::Duration;

use podium_media::{Output, SfuConfig};
use podium_testkit::hostile::{one_byte_extensions, rtcp, rtp, Rng};
use podium_testkit::Net;
use str0m::format::Codec;
use str0m::media::MediaKind;

/// A STUN binding request naming `ufrag` with a MESSAGE-INTEGRITY that is not the peer's.
fn forged_binding_request(ufrag: &str, n: u32) -> Vec<u8> {
    let username = format!("{ufrag}:attacker");
    let mut attrs = Vec::new();
    attrs.extend_from_slice(&0x0006u16.to_be_bytes());
    attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
    attrs.extend_from_slice(username.as_bytes());
    while attrs.len() % 4 != 0 {
        attrs.push(0);
    }
    attrs.extend_from_slice(&0x0024u16.to_be_bytes()); // PRIORITY
    attrs.extend_from_slice(&4u16.to_be_bytes());
    attrs.extend_from_slice(&0x6e00_1eff_u32.to_be_bytes());
    attrs.extend_from_slice(&0x0008u16.to_be_bytes()); // MESSAGE-INTEGRITY
    attrs.extend_from_slice(&20u16.to_be_bytes());
    attrs.extend_from_slice(&[0xAB; 20]);
    let mut msg = Vec::new();
    msg.extend_from_slice(&0x0001u16.to_be_bytes());
    msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    msg.extend_from_slice(&0x2112_A442u32.to_be_bytes());
    msg.extend_from_slice(&[7; 8]);
    msg.extend_from_slice(&n.to_be_bytes());
    msg.extend_from_slice(&attrs);
    msg
}

fn sfu_ufrag(answer: &str) -> String {
    answer
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("an ice-ufrag in the answer")
        .trim()
        .to_owned()
}

#[test]
fn stun_with_a_known_ufrag_but_a_wrong_password_teaches_no_address() {
    let mut net = Net::new();
    let publisher = net.publish("s", None, false);
    let viewer = net.view("s", None);
    net.connect_all();
    let known = net.sfu.known_addresses();
    let rejected = net.sfu.counters().datagrams_rejected;
    let ufrag = sfu_ufrag(&net.clients[publisher].answer);
    for n in 0..5000u32 {
        let from = SocketAddr::from(([192, 0, 2, (n % 250) as u8 + 1], 10_000 + (n / 250) as u16));
        let forged = forged_binding_request(&ufrag, n);
        net.sfu.handle_receive(net.now, from, net.sfu_addr, &forged);
        loop {
            match net.sfu.poll_output() {
                Output::Transmit(t) => {
                    assert_ne!(t.destination, from, "the forged request was answered")
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
    }
    assert_eq!(net.sfu.known_addresses(), known, "no address was learned");
    assert_eq!(net.sfu.counters().datagrams_rejected - rejected, 5000);
    // The real session carries on.
    net.clients[publisher].send(net.now, MediaKind::Audio, 7, None);
    net.run(Duration::from_millis(200));
    let seen = net.clients[viewer].seen(MediaKind::Audio);
    assert!(
        seen.iter().any(|s| s.payload.first() == Some(&7)),
        "{seen:?}"
    );
}

// ---- Hostile RTP/RTCP inside established DTLS-SRTP sessions ----
//
// Packets below are protected with the sending client's own SRTP keys (captured by the
// testkit's crypto spy), so they pass authentication and reach str0m's and Podium's
// parsing and forwarding.

/// Stream "a": publisher `a` (an attacker when the attacker publishes) and viewer `va`.
/// Stream "b": publisher `b` and viewers `vb1` (an attacker when the attacker views) and
/// `vb2`, the bystander whose service must not change.
struct Room {
    net: Net,
    a: usize,
    va: usize,
    b: usize,
    vb1: usize,
    vb2: usize,
    /// Next payload tag for legitimate media; it also sets the sequence numbers
    /// (`1000 * tag + n`), so it only grows.
    tag: u8,
}

fn room() -> Room {
    let mut net = Net::new();
    let a = net.publish("a", None, true);
    let va = net.view("a", None);
    let b = net.publish("b", None, true);
    let vb1 = net.view("b", None);
    let vb2 = net.view("b", None);
    net.connect_all();
    // Until every client has sent SRTCP too (viewers' first receiver reports): a client's
    // first encrypted packet is what points out its sending keys.
    for _ in 0..100 {
        net.talk(&[(a, 1), (b, 1)], 5);
        if net.clients.iter().all(|c| c.srtp.sender().is_ok()) {
            return Room {
                net,
                a,
                va,
                b,
                vb1,
                vb2,
                tag: 2,
            };
        }
    }
    let errors: Vec<_> = net.clients.iter().map(|c| c.srtp.sender().err()).collect();
    panic!("clients not keyed: {errors:?}");
}

impl Room {
    /// Legitimate media from both publishers for 200 ms: each `(publisher, viewer)` pair's
    /// viewer must receive its audio and video. Also checks nobody was closed.
    fn assert_served(&mut self, pairs: &[(usize, usize)]) {
        let tag = self.tag;
        self.tag += 1;
        let (a, b) = (self.a, self.b);
        self.net.talk(&[(a, tag), (b, tag)], 10);
        for &(p, v) in pairs {
            for kind in [MediaKind::Audio, MediaKind::Video] {
                let got = self.net.clients[v]
                    .seen(kind)
                    .iter()
                    .filter(|s| s.payload.first() == Some(&tag))
                    .count();
                assert!(got >= 8, "client {v} got {got} {kind:?} packets of {p}");
            }
        }
        let sfu = &self.net.sfu;
        assert_eq!(sfu.peer_count(), 5, "every peer is still there");
        assert_eq!(sfu.known_addresses(), 5, "no address learned");
        let sizes = (
            sfu.stream_count(),
            sfu.source_count(),
            sfu.publication_count(),
        );
        assert_eq!(sizes, (2, 2, 2), "no stream, source or publication made");
        assert!(
            !self
                .net
                .events
                .iter()
                .any(|e| matches!(e, podium_media::MediaEvent::PeerClosed { .. })),
            "nobody was closed"
        );
    }

    /// After a publisher (`a`) misbehaved: stream "b" is served as before. The attacker's
    /// own stream may suffer from what it sent (str0m follows its SSRC and sequence jumps).
    fn b_served(&mut self) {
        let pairs = [(self.b, self.vb1), (self.b, self.vb2)];
        self.assert_served(&pairs);
    }

    /// After a viewer (`vb1`) misbehaved: the other viewers are served as before.
    fn others_served(&mut self) {
        let pairs = [(self.b, self.vb2), (self.a, self.va)];
        self.assert_served(&pairs);
    }

    /// Reserves the sequence numbers of one tag for hand-built packets on a publisher's
    /// real SSRCs: `1000 * tag ..`, above all legitimate media so far and below all later.
    fn raw_seqs(&mut self) -> u16 {
        let base = 1000 * u16::from(self.tag);
        self.tag += 1;
        base
    }

    fn video_pt(&self, c: usize) -> u8 {
        self.net.clients[c].payload_type(Codec::Vp8)
    }
}

/// The tests' own encryption is right: a hand-built packet on the publisher's real SSRC
/// and PT is forwarded, a hand-built PLI from a viewer becomes a keyframe request, and the
/// same PLI with one bit of its tag flipped is refused.
#[test]
fn hand_built_rtp_and_rtcp_inside_the_session_are_accepted() {
    let mut r = room();
    let (a, va, b, vb1) = (r.a, r.va, r.b, r.vb1);
    let ssrc = r.net.clients[a].send_ssrc(MediaKind::Video);
    let pt = r.video_pt(a);
    let received = r.net.sfu.counters().rtp_received;
    let seq = r.raw_seqs();
    let packet = rtp(pt, seq, 90_000, ssrc, true, None, &[0xEE, 1, 2, 3]);
    r.net.send_raw_rtp(a, &packet).expect("protected");
    let opus = r.net.clients[a].payload_type(Codec::Opus);
    let audio_ssrc = r.net.clients[a].send_ssrc(MediaKind::Audio);
    let packet = rtp(opus, seq, 48_000, audio_ssrc, false, None, &[0xEF, 9]);
    r.net.send_raw_rtp(a, &packet).expect("protected");
    r.net.run(Duration::from_millis(50));
    assert_eq!(r.net.sfu.counters().rtp_received, received + 2);
    let video = r.net.clients[va].seen(MediaKind::Video);
    assert_eq!(
        video.last().map(|s| &s.payload[..]),
        Some(&[0xEE, 1, 2, 3][..])
    );
    let audio = r.net.clients[va].seen(MediaKind::Audio);
    assert_eq!(audio.last().map(|s| &s.payload[..]), Some(&[0xEF, 9][..]));

    // Past the keyframe request interval of the viewers' joins.
    r.net.run(Duration::from_millis(400));
    let media = r.net.clients[vb1]
        .recv_ssrc(MediaKind::Video)
        .expect("video");
    let requests = r.net.clients[b].keyframe_requests.len();
    let mut forged = r.net.clients[vb1]
        .protect_rtcp(&rtcp::pli(7, media))
        .unwrap();
    let tag_byte = forged.len() - 5;
    forged[tag_byte] ^= 1;
    r.net.inject(vb1, &forged);
    r.net.run(Duration::from_millis(100));
    assert_eq!(
        r.net.clients[b].keyframe_requests.len(),
        requests,
        "bad tag"
    );
    r.net.send_raw_rtcp(vb1, &rtcp::pli(7, media)).unwrap();
    r.net.run(Duration::from_millis(100));
    assert_eq!(r.net.clients[b].keyframe_requests.len(), requests + 1);
    r.others_served();
}

const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

fn video_mid(c: &podium_testkit::Client) -> String {
    c.mids
        .iter()
        .find(|(_, k)| *k == MediaKind::Video)
        .map(|(m, _)| m.to_string())
        .expect("video m-line")
}

/// Sends one video packet with a `payload_len`-byte payload from `a` and runs 50 ms.
fn send_big_video(r: &mut Room, seq: u16, payload_len: usize) {
    let a = r.a;
    let ssrc = r.net.clients[a].send_ssrc(MediaKind::Video);
    let pt = r.video_pt(a);
    let packet = rtp(pt, seq, 0, ssrc, true, None, &vec![0xAB; payload_len]);
    r.net.send_raw_rtp(a, &packet).unwrap();
    r.net.run(Duration::from_millis(50));
}

/// RTP payloads up to the forwarding limit (1500 bytes) reach the one viewer once; larger
/// ones are dropped and counted. Before the limit, a payload over 1976 bytes panicked str0m
/// when it wrote the copy out (its 2000-byte packet buffer, send.rs:743) and took the media
/// worker down with every peer on it; the shell's 2048-byte receive buffer let such
/// datagrams through.
#[test]
fn big_rtp_is_forwarded_up_to_the_limit_and_larger_is_dropped_without_harm() {
    let mut r = room();
    let base = r.raw_seqs();
    let forwarded = r.net.sfu.counters().rtp_forwarded;
    let oversized = r.net.sfu.counters().rtp_dropped_oversized;
    // Datagram = 12 header + payload + 16 SRTP tag.
    let fit = [1200, 1528];
    let too_big = [1529, 1800, 2004, 2005, 2047, 4000, 9000];
    for (i, size) in fit.iter().chain(&too_big).enumerate() {
        send_big_video(&mut r, base + i as u16, size - 28);
    }
    let copies = r.net.sfu.counters().rtp_forwarded - forwarded;
    assert_eq!(copies, fit.len() as u64, "one copy each to the one viewer");
    assert_eq!(
        r.net.sfu.counters().rtp_dropped_oversized - oversized,
        too_big.len() as u64
    );
    let big = r.net.clients[r.va].seen(MediaKind::Video);
    assert_eq!(big.last().map(|s| s.payload.len()), Some(1500));
    let (a, va) = (r.a, r.va);
    r.assert_served(&[(a, va)]);
    r.b_served();
}

/// RTP whose header extension is truncated, overruns its block, uses an unknown profile or
/// carries garbage elements, plus 3000 random RTP packets on the publisher's real SSRCs.
#[test]
fn rtp_with_broken_header_extensions_and_random_rtp_are_survived() {
    let mut r = room();
    let a = r.a;
    let video = r.net.clients[a].send_ssrc(MediaKind::Video);
    let audio = r.net.clients[a].send_ssrc(MediaKind::Audio);
    let vpt = r.video_pt(a);
    let opus = r.net.clients[a].payload_type(Codec::Opus);
    let mid_id = r.net.clients[a]
        .extension_id(MID_URI)
        .expect("mid extension");
    let base = r.raw_seqs();
    let _ = r.raw_seqs(); // two slots: 2000 sequence numbers
    let mut seq = base;
    let send = |r: &mut Room, packet: Vec<u8>| {
        r.net.send_raw_rtp(a, &packet).unwrap();
        r.net.step();
    };
    let fixed = |seq: u16, x: bool, cc: u8| {
        let mut p = rtp(vpt, seq, 0, video, false, None, &[]);
        p[0] |= cc | if x { 0x10 } else { 0 };
        p
    };
    let mut broken = Vec::new();
    // X set but no room for the extension header, or a length past the end.
    broken.push(fixed(seq, true, 0));
    seq += 1;
    let mut p = fixed(seq, true, 0);
    p.extend_from_slice(&[0xBE, 0xDE]);
    broken.push(p);
    seq += 1;
    let mut p = fixed(seq, true, 0);
    p.extend_from_slice(&[0xBE, 0xDE, 0xff, 0xff, 0x10, 1, 2, 3]);
    broken.push(p);
    seq += 1;
    // 15 CSRCs announced, none present.
    broken.push(fixed(seq, false, 15));
    seq += 1;
    // One-byte elements overrunning the block, id 15, a 16-byte mid of garbage, the
    // two-byte form with 255-byte elements, an unknown profile.
    let long_mid = [&[mid_id << 4 | 0x0f, 0xff, 0xfe, 0x80][..], &[7; 13]].concat();
    let garbage: [&[u8]; 6] = [
        &[0x1f, 1, 2],
        &[0xf0, 0xff, 0xff, 0xff],
        &long_mid,
        &[mid_id << 4 | 0x0f],
        &[1, 255, 2, 255, 3, 0],
        &[0; 3],
    ];
    for (i, body) in garbage.iter().enumerate() {
        let profile = [0xBEDE, 0xBEDE, 0xBEDE, 0xBEDE, 0x1000, 0xABCD][i];
        let ext = Some((profile, *body));
        broken.push(rtp(vpt, seq, 0, video, false, ext, &[0xAC, 0, 0, 0]));
        seq += 1;
    }
    let received = r.net.sfu.counters().rtp_received;
    for p in broken {
        send(&mut r, p);
    }
    // The five with a well-formed extension block (garbage inside) reach Podium; str0m
    // drops the truncated ones and the unknown profile.
    assert_eq!(r.net.sfu.counters().rtp_received - received, 5);
    let mut rng = Rng(0x5eed_0001);
    let mut audio_seq = base;
    for _ in 0..3000 {
        let to_video = rng.below(2) == 0;
        let (ssrc, s) = if to_video {
            seq += 1;
            (video, seq)
        } else {
            audio_seq += 1;
            (audio, audio_seq)
        };
        let pt = match rng.below(4) {
            0 => rng.next_u64() as u8 & 0x7f,
            1 => opus,
            _ => vpt,
        };
        let ext_len = rng.below(24);
        let ext = rng.bytes(ext_len);
        let profile = [0xBEDE, 0x1000, rng.next_u64() as u16][rng.below(3)];
        let payload_len = rng.below(1200);
        let payload = rng.bytes(payload_len);
        let extension = (rng.below(2) == 0).then_some((profile, &ext[..]));
        let (ts, marker) = (rng.next_u64() as u32, rng.below(2) == 0);
        let mut p = rtp(pt, s, ts, ssrc, marker, extension, &payload);
        // Padding and CSRC counts at random too.
        p[0] |= (rng.next_u64() as u8) & 0x2f;
        r.net.send_raw_rtp(a, &p).unwrap();
        if rng.below(8) == 0 {
            r.net.step();
        }
    }
    assert!(seq < base + 2000 && audio_seq < base + 2000);
    r.net.run(Duration::from_millis(100));
    r.b_served();
}

/// RTP on SSRCs that were never signalled. Without a MID extension str0m drops them before
/// decrypting; with the publisher's MID each new SSRC takes over its m-line (str0m follows
/// an SSRC change). Either way the viewers keep one SSRC per track and get no new stream.
#[test]
fn rtp_on_unsignalled_ssrcs_gives_viewers_no_new_streams() {
    let mut r = room();
    let (a, va, vb1) = (r.a, r.va, r.vb1);
    let vpt = r.video_pt(a);
    let mid_id = r.net.clients[a]
        .extension_id(MID_URI)
        .expect("mid extension");
    let a_mid = video_mid(&r.net.clients[a]);
    let vb1_mid = video_mid(&r.net.clients[vb1]);
    let va_ssrc = r.net.clients[va].recv_ssrc(MediaKind::Video).unwrap();
    let mut rng = Rng(0x5eed_0002);

    // No MID: nothing reaches Podium.
    let received = r.net.sfu.counters().rtp_received;
    for i in 0..3000u16 {
        let ssrc = rng.next_u64() as u32;
        let p = rtp(vpt, i, 0, ssrc, false, None, &[0xAD, 1]);
        r.net.send_raw_rtp(a, &p).unwrap();
        let p = rtp(vpt, i, 0, ssrc, false, None, &[0xAD, 2]);
        r.net.send_raw_rtp(vb1, &p).unwrap();
        if i % 16 == 0 {
            r.net.step();
        }
    }
    r.net.run(Duration::from_millis(100));
    assert_eq!(
        r.net.sfu.counters().rtp_received,
        received,
        "dropped by str0m"
    );

    // With the publisher's (or the viewer's own) MID.
    let received = r.net.sfu.counters().rtp_received;
    let forwarded = r.net.sfu.counters().rtp_forwarded;
    let n = 3000u64;
    let with_mid = |mid: &str, ssrc: u32, seq: u16, tag: u8| {
        let ext = one_byte_extensions(&[(mid_id, mid.as_bytes())]);
        rtp(vpt, seq, 0, ssrc, true, Some((0xBEDE, &ext)), &[0xAE, tag])
    };
    for i in 0..n {
        let ssrc = rng.next_u64() as u32;
        r.net
            .send_raw_rtp(a, &with_mid(&a_mid, ssrc, i as u16, 1))
            .unwrap();
        r.net
            .send_raw_rtp(vb1, &with_mid(&vb1_mid, ssrc, i as u16, 2))
            .unwrap();
        if i % 16 == 0 {
            r.net.step();
        }
    }
    r.net.run(Duration::from_millis(100));
    let received = r.net.sfu.counters().rtp_received - received;
    let forwarded = r.net.sfu.counters().rtp_forwarded - forwarded;
    eprintln!("unsignalled SSRCs with MID: {received} received, {forwarded} forwarded");
    assert!(received <= n, "a viewer's RTP is never taken as media");
    assert!(forwarded <= n, "one viewer, one copy at most");
    let seen = r.net.clients[va].seen(MediaKind::Video);
    assert!(
        seen.iter().all(|s| s.ssrc == va_ssrc),
        "one SSRC on the track"
    );
    assert_eq!(r.net.clients[va].recv_ssrc(MediaKind::Video), Some(va_ssrc));
    r.others_served();
}

/// Malformed and random RTCP from a viewer and from a publisher, inside their sessions.
#[test]
fn malformed_and_random_rtcp_is_survived() {
    let mut r = room();
    let (a, vb1) = (r.a, r.vb1);
    let media = r.net.clients[vb1].recv_ssrc(MediaKind::Video).unwrap();
    let a_video = r.net.clients[a].send_ssrc(MediaKind::Video);
    for (attacker, me, about) in [(vb1, 0x0bad_0001, media), (a, a_video, a_video)] {
        for p in rtcp::malformed(me, about) {
            r.net.send_raw_rtcp(attacker, &p).unwrap();
            r.net.step();
        }
    }
    let mut rng = Rng(0x5eed_0003);
    for i in 0..3000 {
        let (attacker, me) = if i % 2 == 0 {
            (vb1, 0x0bad_0001)
        } else {
            (a, a_video)
        };
        let p = rtcp::random(&mut rng, me);
        r.net.send_raw_rtcp(attacker, &p).unwrap();
        if i % 8 == 0 {
            r.net.step();
        }
    }
    r.net.run(Duration::from_millis(100));
    let pairs = [(r.b, r.vb2), (r.b, r.vb1), (r.a, r.va)];
    r.assert_served(&pairs);
}

/// Datagrams the SFU sent each client during `f`.
fn datagrams_during(r: &mut Room, f: impl FnOnce(&mut Room)) -> Vec<u64> {
    let before: Vec<u64> = r.net.clients.iter().map(|c| c.datagrams_in).collect();
    f(r);
    r.net
        .clients
        .iter()
        .zip(before)
        .map(|(c, b)| c.datagrams_in - b)
        .collect()
}

/// One second of legitimate media from both publishers, `attack` run before each 20 ms.
fn second_of_media(r: &mut Room, mut attack: impl FnMut(&mut Room, usize)) {
    let tag = r.tag;
    r.tag += 1;
    let (a, b) = (r.a, r.b);
    for i in 0..50 {
        attack(r, i);
        r.net.talk(&[(a, tag), (b, tag)], 1);
    }
}

/// NACKs from a viewer, each compound covering the last 5100 sequence numbers (300 FCIs of
/// 17), four every 20 ms for a second: the SFU's retransmissions to it stay bounded by the
/// shared history (only packets still kept), the 32 NACK entries read per datagram and the
/// viewer's resend budget; the publisher hears nothing of it and the other viewer's traffic
/// does not change.
#[test]
fn a_nack_storm_gets_bounded_retransmissions_and_spares_the_publisher() {
    let mut r = room();
    let (b, vb1, vb2) = (r.b, r.vb1, r.vb2);
    let media = r.net.clients[vb1].recv_ssrc(MediaKind::Video).unwrap();
    let quiet = datagrams_during(&mut r, |r| second_of_media(r, |_, _| {}));
    let mut nacks = 0;
    let storm = datagrams_during(&mut r, |r| {
        second_of_media(r, |r, _| {
            let last = r.net.clients[vb1]
                .seen(MediaKind::Video)
                .last()
                .unwrap()
                .seq as u16;
            let fci: Vec<(u16, u16)> = (0..300u16)
                .map(|i| (last.wrapping_sub(5100).wrapping_add(17 * i), 0xffff))
                .collect();
            // Ten NACKs of 31 FCIs in one compound (what str0m, as a client, would send).
            let compound: Vec<u8> = fci
                .chunks(31)
                .flat_map(|c| rtcp::nack(0x0bad_0001, media, c))
                .collect();
            for _ in 0..4 {
                r.net.send_raw_rtcp(vb1, &compound).unwrap();
                nacks += 1;
            }
        })
    });
    let extra = storm[vb1].saturating_sub(quiet[vb1]);
    eprintln!(
        "NACK storm: {nacks} NACKs ({} sequence numbers); to the viewer {} datagrams \
         (quiet second {}), to the other viewer {} ({}), to the publisher {} ({})",
        nacks * 5100,
        storm[vb1],
        quiet[vb1],
        storm[vb2],
        quiet[vb2],
        storm[b],
        quiet[b]
    );
    // Only packets of the current input still in the shared history (here 50 a second)
    // are resent, each NACK reads 32 entries, and the budget (300 at once, 600/s) caps the
    // rest.
    assert!(extra <= 2 * 4 * 50, "{extra} retransmissions in one second");
    assert!(
        storm[vb2] <= quiet[vb2] + 5,
        "the other viewer's traffic is unchanged"
    );
    assert!(storm[b] <= quiet[b] + 5, "the publisher is not flooded");
    r.others_served();
}

/// 1000 PLIs and FIRs in one second from a viewer (some about its audio): the publisher
/// gets at most one keyframe request per `keyframe_request_interval` (300 ms).
#[test]
fn a_pli_and_fir_flood_reaches_the_publisher_rate_limited() {
    let mut r = room();
    let (b, vb1) = (r.b, r.vb1);
    let video = r.net.clients[vb1].recv_ssrc(MediaKind::Video).unwrap();
    let audio = r.net.clients[vb1].recv_ssrc(MediaKind::Audio).unwrap();
    // Past the requests of the viewers' joins.
    r.net.run(Duration::from_millis(400));
    let requests = r.net.clients[b].keyframe_requests.len();
    let quiet = datagrams_during(&mut r, |r| second_of_media(r, |_, _| {}));
    assert_eq!(r.net.clients[b].keyframe_requests.len(), requests);
    let mut sent = 0;
    let flood = datagrams_during(&mut r, |r| {
        second_of_media(r, |r, i| {
            for k in 0..20 {
                let p = match k % 4 {
                    0 => rtcp::fir(0x0bad_0001, video, (i * 20 + k) as u8),
                    1 => rtcp::pli(0x0bad_0001, audio),
                    _ => rtcp::pli(0x0bad_0001, video),
                };
                r.net.send_raw_rtcp(vb1, &p).unwrap();
                sent += 1;
            }
        })
    });
    let got = r.net.clients[b].keyframe_requests.len() - requests;
    eprintln!(
        "PLI/FIR flood: {sent} sent, {got} keyframe requests reached the publisher; \
         datagrams to it {} (quiet second {})",
        flood[b], quiet[b]
    );
    assert_eq!(sent, 1000);
    let interval = SfuConfig::new(r.net.sfu_addr).keyframe_request_interval;
    let most = 1 + (1000 / interval.as_millis()) as usize;
    assert!(
        (1..=most).contains(&got),
        "{got} keyframe requests, {most} at most"
    );
    assert!(flood[b] <= quiet[b] + 4, "the publisher is not flooded");
    r.others_served();
}

/// A viewer and a publisher send SR, RR, BYE, PLI and NACK naming the other peers' SSRCs
/// (the publisher's, the SFU's towards another viewer): each session only knows its own
/// SSRCs, so nothing reaches the others: no keyframe request, no resend, no stream ended.
#[test]
fn rtcp_naming_other_peers_ssrcs_has_no_effect_on_them() {
    let mut r = room();
    let (a, va, b, vb1, vb2) = (r.a, r.va, r.b, r.vb1, r.vb2);
    let b_video = r.net.clients[b].send_ssrc(MediaKind::Video);
    let b_audio = r.net.clients[b].send_ssrc(MediaKind::Audio);
    let vb2_video = r.net.clients[vb2].recv_ssrc(MediaKind::Video).unwrap();
    let vb2_audio = r.net.clients[vb2].recv_ssrc(MediaKind::Audio).unwrap();
    let va_video = r.net.clients[va].recv_ssrc(MediaKind::Video).unwrap();
    let others = [b_video, b_audio, vb2_video, vb2_audio, va_video];
    let last = r.net.clients[vb2]
        .seen(MediaKind::Video)
        .last()
        .unwrap()
        .seq as u16;
    let claims = |me: u32| {
        let mut out = vec![
            [rtcp::sr(b_video, &[vb2_video]), rtcp::bye(&others)].concat(),
            [rtcp::rr(b_video, &others), rtcp::bye(&[b_video])].concat(),
            rtcp::sr(vb2_video, &[b_video, b_audio]),
            rtcp::bye(&[me, b_video, vb2_video]),
        ];
        for &s in &others {
            out.push(rtcp::pli(me, s));
            out.push(rtcp::fir(me, s, 1));
            out.push(rtcp::nack(me, s, &[(last.wrapping_sub(16), 0xffff)]));
        }
        out
    };
    r.net.run(Duration::from_millis(400));
    let requests = r.net.clients[b].keyframe_requests.len();
    let quiet = datagrams_during(&mut r, |r| second_of_media(r, |_, _| {}));
    let attack = datagrams_during(&mut r, |r| {
        second_of_media(r, |r, i| {
            if i % 5 == 0 {
                for p in claims(0x0bad_0001) {
                    r.net.send_raw_rtcp(vb1, &p).unwrap();
                }
                let a_video = r.net.clients[a].send_ssrc(MediaKind::Video);
                for p in claims(a_video) {
                    r.net.send_raw_rtcp(a, &p).unwrap();
                }
            }
        })
    });
    eprintln!(
        "claimed SSRCs: to vb2 {} (quiet {})",
        attack[vb2], quiet[vb2]
    );
    assert_eq!(
        r.net.clients[b].keyframe_requests.len(),
        requests,
        "no keyframe request"
    );
    for c in [b, vb2, va] {
        assert!(
            attack[c] <= quiet[c] + 2,
            "client {c}: {quiet:?} → {attack:?}"
        );
    }
    assert_eq!(
        r.net.clients[vb2].recv_ssrc(MediaKind::Video),
        Some(vb2_video)
    );
    // The bystander's video went on without a gap.
    let tag = r.tag - 1;
    let seen: Vec<u64> = r.net.clients[vb2]
        .seen(MediaKind::Video)
        .iter()
        .filter(|s| s.payload[0] == tag)
        .map(|s| s.seq)
        .collect();
    assert_eq!(seen.len(), 50);
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
    r.others_served();
}

/// A publisher that sends every packet on a fresh SSRC (each with its MID, so str0m takes it
/// as an SSRC change) must not grow the publication's SSRC list, which is searched on every
/// packet: it keeps the newest few, and the real SSRC is relearned when it comes back.
#[test]
fn ssrcs_a_publisher_rotates_through_stay_bounded() {
    let mut r = room();
    let a = r.a;
    let vpt = r.video_pt(a);
    let mid_id = r.net.clients[a]
        .extension_id(MID_URI)
        .expect("mid extension");
    let mid = video_mid(&r.net.clients[a]);
    let ext = one_byte_extensions(&[(mid_id, mid.as_bytes())]);
    let packet = |ssrc: u32, seq: u16| rtp(vpt, seq, 0, ssrc, true, Some((0xBEDE, &ext)), &[1]);
    let mut rng = Rng(0x5eed_0004);
    for i in 0..5_000u32 {
        r.net
            .send_raw_rtp(a, &packet(rng.next_u64() as u32, i as u16))
            .unwrap();
        if i % 64 == 0 {
            r.net.step();
        }
    }
    let publisher = r.net.clients[a].peer;
    let learned = r
        .net
        .sfu
        .publication_ssrcs(publisher)
        .expect("a publication");
    assert!(learned <= 16, "{learned} SSRCs remembered");
    r.b_served();
}
