//! Hostile datagrams against an established session.

use std::net::SocketAddr;
use std::time::Duration;

use podium_media::Output;
use podium_testkit::Net;
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
