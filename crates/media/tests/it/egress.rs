//! Podium's own egress seen from str0m clients: NACKs answered from the shared history,
//! sender reports on the wire, feedback routed to the publisher.

use std::time::Duration;

use podium_testkit::hostile::rtcp;
use podium_testkit::Net;
use str0m::media::MediaKind;

/// A publisher with video, two viewers, all keyed for hand-built RTCP.
fn keyed() -> (Net, usize, usize, usize) {
    let mut net = Net::new();
    let p = net.publish("s", None, true);
    let v1 = net.view("s", None);
    let v2 = net.view("s", None);
    net.connect_all();
    for _ in 0..100 {
        net.talk(&[(p, 1)], 5);
        if net.clients.iter().all(|c| c.srtp.sender().is_ok()) {
            return (net, p, v1, v2);
        }
    }
    panic!("clients not keyed");
}

/// A viewer that lost packets (offline for a moment) gets them back: its str0m NACKs them,
/// Podium answers from the publication's shared history, and only to that viewer.
#[test]
fn lost_packets_are_recovered_from_the_shared_history_to_the_asking_viewer_only() {
    let (mut net, p, v1, v2) = keyed();
    // One tag throughout: its sequence numbers run on without a jump.
    net.talk(&[(p, 2)], 50);
    let resent_before = net.sfu.counters().rtp_resent;
    let v2_before = net.clients[v2].seen(MediaKind::Video).len();
    net.clients[v1].online = false;
    net.talk(&[(p, 2)], 3);
    net.clients[v1].online = true;
    let lost: Vec<_> = net.clients[v2].seen(MediaKind::Video)[v2_before..].to_vec();
    assert_eq!(lost.len(), 3);
    let before_v2 = net.clients[v2].datagrams_in;
    net.talk(&[(p, 2)], 50);
    let resent = net.sfu.counters().rtp_resent - resent_before;
    assert!(resent >= 3, "{resent} resent");
    let got = net.clients[v1].seen(MediaKind::Video);
    for original in &lost {
        let recovered = got
            .iter()
            .find(|s| s.seq == original.seq)
            .unwrap_or_else(|| panic!("{} recovered", original.seq));
        assert_eq!(recovered.payload, original.payload, "the same packet");
        assert_eq!(
            recovered.ts, original.ts,
            "with the same rewritten timestamp"
        );
    }
    // The other viewer got 50 ticks of audio and video and a few reports, no resends.
    let to_v2 = net.clients[v2].datagrams_in - before_v2;
    assert!(to_v2 <= 100 + 5, "{to_v2} datagrams to the other viewer");
}

#[test]
fn a_nack_for_packets_no_longer_kept_or_of_another_ssrc_resends_nothing() {
    let (mut net, p, v1, _) = keyed();
    net.talk(&[(p, 2)], 20);
    let media = net.clients[v1].recv_ssrc(MediaKind::Video).unwrap();
    let audio = net.clients[v1].recv_ssrc(MediaKind::Audio).unwrap();
    let last = net.clients[v1].seen(MediaKind::Video).last().unwrap().seq;
    let before = net.sfu.counters().rtp_resent;
    // Not sent yet, long gone, and audio (never resent).
    net.send_raw_rtcp(v1, &rtcp::nack(1, media, &[((last + 100) as u16, 0)]))
        .unwrap();
    net.send_raw_rtcp(v1, &rtcp::nack(1, media, &[((last + 30_000) as u16, 0)]))
        .unwrap();
    net.send_raw_rtcp(v1, &rtcp::nack(1, audio, &[(last as u16, 0xffff)]))
        .unwrap();
    net.step();
    assert_eq!(net.sfu.counters().rtp_resent, before);
}

#[test]
fn viewers_get_sender_reports_and_their_pli_reaches_the_publisher() {
    let (mut net, p, v1, _) = keyed();
    net.talk(&[(p, 2)], 150);
    // One per second per viewer with video (the first half a second after connecting).
    let reports = net.sfu.counters().reports_sent;
    assert!(reports >= 2 * 3, "{reports} sender reports");
    let media = net.clients[v1].recv_ssrc(MediaKind::Video).unwrap();
    net.run(Duration::from_millis(400));
    let before = net.clients[p].keyframe_requests.len();
    net.send_raw_rtcp(v1, &rtcp::pli(7, media)).unwrap();
    net.run(Duration::from_millis(50));
    assert!(net.clients[p].keyframe_requests.len() > before);
}

/// Past its handshake a viewer's str0m session is dropped and Podium answers its consent
/// checks: half a minute later (three idle limits) it is still up and still receiving, and
/// a consent check with a wrong password gets no answer.
#[test]
fn a_viewer_without_its_rtc_stays_alive_on_podiums_consent_answers() {
    let (mut net, p, v1, v2) = keyed();
    net.talk(&[(p, 2)], 20);
    assert_eq!(net.sfu.counters().viewers_without_rtc, 2, "both viewers");
    net.talk(&[(p, 2)], 1500);
    let closed = net
        .events
        .iter()
        .any(|e| matches!(e, podium_media::MediaEvent::PeerClosed { .. }));
    assert!(!closed, "nobody was closed");
    for v in [v1, v2] {
        let seen = net.clients[v].seen(MediaKind::Audio);
        assert!(seen.len() > 1500, "{} packets", seen.len());
        // The client's ICE took Podium's answers: its consent never lapsed.
        assert!(
            net.clients[v].rtc.is_connected(),
            "viewer {v} still connected"
        );
    }
    // A consent check with the viewer's username but the wrong password.
    let ufrag = net.clients[v1]
        .answer
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .trim()
        .to_owned();
    let rejected = net.sfu.counters().datagrams_rejected;
    let before = net.clients[v1].datagrams_in;
    let forged = forged_binding_request(&format!("{ufrag}:abcd"));
    net.inject(v1, &forged);
    net.run(Duration::from_millis(10));
    assert_eq!(net.sfu.counters().datagrams_rejected, rejected + 1);
    assert!(
        net.clients[v1].datagrams_in - before < 3,
        "no answer beyond the media"
    );
}

/// A Binding request for `username`, authenticated with a password that is not the SFU's.
fn forged_binding_request(username: &str) -> Vec<u8> {
    let msg = is::stun::StunMessage::binding_request(
        username,
        is::stun::TransId::new(),
        true,
        0,
        1234,
        true,
    );
    let mut buf = vec![0u8; 512];
    let hmac = |key: &[u8], parts: &[&[u8]]| {
        use aws_lc_rs::hmac;
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(p);
        }
        let mut out = [0u8; 20];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    };
    let n = msg
        .to_bytes(Some(b"not-the-password"), &mut buf, hmac)
        .unwrap();
    buf.truncate(n);
    buf
}
