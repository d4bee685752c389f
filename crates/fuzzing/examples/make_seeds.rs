//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/seed-*`.
//!
//! `cargo run -p podium-fuzzing --example make_seeds`. Seeds are realistic inputs: Millicast
//! signaling frames, rooms-server message scripts, Chrome-like and str0m-made SDP offers,
//! STUN binding requests, a real DTLS ClientHello, RTP and RTCP packets, RTP sequences.
//! Existing seed files are overwritten; other corpus files are left alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use podium_fuzzing::{CHROME_PUBLISH_OFFER, CHROME_VIEW_MULTIPLEX_OFFER, CHROME_VIEW_OFFER};
use podium_media::{Output, PublishParams, Sfu, SfuConfig};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Input, RtcConfig};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    dir
}

fn write(target: &str, name: &str, data: impl AsRef<[u8]>) {
    let path = corpus(target).join(format!("seed-{name}"));
    std::fs::write(&path, data).expect("seed written");
}

fn main() {
    signaling();
    rooms_args();
    let now = Instant::now();
    sdp(now);
    udp(now);
    rtp_rewrite();
    println!("seeds written under fuzz/corpus/");
}

fn signaling() {
    let short_offer = "v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n";
    let frames = [
        ("publish", format!(r#"{{"type":"cmd","transId":0,"name":"publish","data":{{"name":"myStream","sdp":"{short_offer}","codec":"h264","sourceId":null,"priority":null,"record":false,"events":["active","inactive","viewercount"]}}}}"#)),
        ("publish-source", format!(r#"{{"type":"cmd","transId":1,"name":"publish","data":{{"name":"myStream","sdp":"{short_offer}","codec":"vp8","sourceId":"guest","priority":-1}}}}"#)),
        ("view", format!(r#"{{"type":"cmd","transId":0,"name":"view","data":{{"streamId":"myStream","sdp":"{short_offer}","pinnedSourceId":null,"excludedSourceIds":null,"events":["active","inactive","stopped","vad","layers","migrate","viewercount"]}}}}"#)),
        ("view-multiplex", format!(r#"{{"type":"cmd","transId":2,"name":"view","data":{{"streamId":"myStream","sdp":"{short_offer}","pinnedSourceId":"main","excludedSourceIds":["me"],"vad":true,"multiplexedAudioTracks":3}}}}"#)),
        ("unpublish", r#"{"type":"cmd","transId":3,"name":"unpublish","data":{}}"#.to_owned()),
        ("select", r#"{"type":"cmd","transId":4,"name":"select","data":{"encodingId":"1"}}"#.to_owned()),
        ("project", r#"{"type":"cmd","transId":5,"name":"project","data":{"sourceId":"guest","mapping":[{"trackId":"audio0","mediaId":"2","media":"audio"}]}}"#.to_owned()),
        ("no-data", r#"{"type":"cmd","transId":"abc","name":"view"}"#.to_owned()),
        ("float-trans-id", r#"{"type":"cmd","transId":1.5e3,"name":"publish","data":{"name":"s","sdp":1}}"#.to_owned()),
        ("response", r#"{"type":"response","transId":9,"data":{}}"#.to_owned()),
        ("missing-name", r#"{"type":"cmd","transId":7}"#.to_owned()),
        ("array", "[1]".to_owned()),
        ("truncated", "{\"type\":\"cmd\",\"transId\":".to_owned()),
    ];
    for (name, frame) in frames {
        write("signaling", name, frame);
    }
}

fn rooms_args() {
    // `<user><event><JSON args>` per line; events 0..8 are authenticate, create-room,
    // join-room, leave-room, raise-hand, promote-user, kick-user, mute-speaker, mute;
    // 9 is unknown, `:` disconnects. `#0` is the first room created.
    let scripts = [
        ("authenticate", "00[\"Ann\"]\n"),
        ("create-room", "00[\"Ann\"]\n01[\"Morning chat\", true]\n02[\"#0\"]\n"),
        (
            "stage",
            "00[\"Ann\"]\n01[\"Room\", false]\n10[\"Bob\"]\n12[\"#0\"]\n14[\"#0\", true]\n\
             05[\"#0\", \"u1\", true]\n07[\"#0\", \"u1\"]\n18[\"#0\", true]\n18[\"#0\", false]\n\
             05[\"#0\", \"u1\", false]\n",
        ),
        (
            "kick-and-leave",
            "00[\"Ann\"]\n01[\"Room\"]\n10[\"Bob\"]\n20[\"Cleo\"]\n12[\"#0\"]\n22[\"#0\"]\n\
             06[\"#0\", \"u2\"]\n13[\"#0\"]\n03[\"#0\"]\n",
        ),
        (
            "owner-hand-over",
            "00[\"Ann\"]\n01[\"Room\", true]\n10[\"Bob\"]\n12[\"#0\"]\n05[\"#0\", \"u1\", true]\n\
             20[\"Cleo\"]\n22[\"#0\"]\n0:\n21[\"Other\", true]\n1:\n",
        ),
        (
            "look-alike-names",
            "00[\"ａｄｍｉｎ\"]\n10[\"аdmin\"]\n20[\"  Bill  \"]\n10[\"BiII\"]\n00[\"Ann\"]\n",
        ),
        (
            "bad-args",
            "00[]\n00[1]\n00[null]\n01[{\"a\":1}]\n02[]\n04[\"x\"]\n05[\"x\", 1, \"y\"]\n09[\"x\"]\n08[\"x\", \"true\"]\n",
        ),
        (
            // `?` set-moderator, `@` send-message, `A` delete-message, `B` mute-chat, `C` react,
            // `D` set-recording.
            "chat-and-moderators",
            "00[\"Ann\"]\n01[\"Room\", true]\n10[\"Bob\"]\n12[\"#0\"]\n\
             1@[\"#0\", \"<b>hi</b>\"]\n0A[\"#0\", 1]\n14[\"#0\", true, {\"reason\": \"Q\"}]\n\
             05[\"#0\", \"u1\", true]\n0?[\"#0\", \"u1\", true]\n1B[\"#0\", \"u0\", true]\n\
             0B[\"#0\", \"u1\", true]\n1@[\"#0\", \"muted?\"]\n1C[\"#0\", \"👏\", \"u0\"]\n\
             0D[\"#0\", true]\n1D[\"#0\", false]\n",
        ),
        (
            "not-signed-in",
            "12[\"#0\"]\n11[\"Room\", true]\n14[\"nope\", true]\n1:\n",
        ),
    ];
    for (name, script) in scripts {
        write("rooms_args", name, script);
    }
}

/// An offer made by a str0m client, as the load tool and the tests make them.
fn str0m_offer(now: Instant, kinds: &[(MediaKind, Direction)]) -> String {
    let mut rtc = RtcConfig::new().set_rtp_mode(true).build(now);
    rtc.add_local_candidate(
        Candidate::host("127.0.0.9:4000".parse().expect("address"), "udp").expect("candidate"),
    );
    let mut api = rtc.sdp_api();
    for (kind, dir) in kinds {
        api.add_media(*kind, *dir, None, None, None);
    }
    let (offer, _) = api.apply().expect("offer");
    offer.to_sdp_string()
}

/// The Millicast SDK's `multiopus` lines, put right after `m=audio` (before `c=`).
fn multiopus(offer: &str) -> String {
    let mut out = String::new();
    for line in offer.lines() {
        if let Some(rest) = line.strip_prefix("m=audio ") {
            out.push_str(&format!("m=audio {rest} 105\r\n"));
            out.push_str("a=rtpmap:105 multiopus/48000/6\r\n");
            out.push_str(
                "a=fmtp:105 channel_mapping=0,4,1,2,3,5;coupled_streams=2;num_streams=4\r\n",
            );
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out
}

/// The Chrome publisher offer without its video section.
fn audio_only(offer: &str) -> String {
    let cut = offer.find("m=video").expect("video section");
    offer[..cut].replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0")
}

fn prefixed(byte: u8, offer: &str) -> Vec<u8> {
    let mut v = vec![byte];
    v.extend_from_slice(offer.as_bytes());
    v
}

fn sdp(now: Instant) {
    use Direction::{RecvOnly, SendOnly};
    use MediaKind::{Audio, Video};
    write("sdp_publish", "chrome", CHROME_PUBLISH_OFFER);
    write(
        "sdp_publish",
        "chrome-audio-only",
        audio_only(CHROME_PUBLISH_OFFER),
    );
    write(
        "sdp_publish",
        "chrome-vp8",
        prefixed(1, CHROME_PUBLISH_OFFER),
    );
    write(
        "sdp_publish",
        "chrome-h264",
        prefixed(3, CHROME_PUBLISH_OFFER),
    );
    write(
        "sdp_publish",
        "chrome-unsupported-codec",
        prefixed(6, CHROME_PUBLISH_OFFER),
    );
    write(
        "sdp_publish",
        "str0m",
        str0m_offer(now, &[(Audio, SendOnly), (Video, SendOnly)]),
    );
    write(
        "sdp_publish",
        "str0m-recvonly",
        str0m_offer(now, &[(Audio, RecvOnly)]),
    );
    write("sdp_publish", "minimal", "v=0\r\n");

    write("sdp_view", "chrome", CHROME_VIEW_OFFER);
    write("sdp_view", "chrome-multiplex", CHROME_VIEW_MULTIPLEX_OFFER);
    write(
        "sdp_view",
        "chrome-multiplex-pinned",
        prefixed(0x23, CHROME_VIEW_MULTIPLEX_OFFER),
    );
    write(
        "sdp_view",
        "chrome-multiplex-excluded",
        prefixed(0x42, CHROME_VIEW_MULTIPLEX_OFFER),
    );
    write(
        "sdp_view",
        "millicast-multiopus",
        multiopus(CHROME_VIEW_OFFER),
    );
    write(
        "sdp_view",
        "str0m",
        str0m_offer(now, &[(Video, RecvOnly), (Audio, RecvOnly)]),
    );
    write(
        "sdp_view",
        "str0m-listener",
        prefixed(
            2,
            &str0m_offer(
                now,
                &[(Audio, RecvOnly), (Audio, RecvOnly), (Audio, RecvOnly)],
            ),
        ),
    );
    write(
        "sdp_view",
        "str0m-sendonly",
        str0m_offer(now, &[(Audio, SendOnly)]),
    );
}

/// Records of the `udp_demux` input format (see its documentation).
#[derive(Default)]
struct Records(Vec<u8>);

impl Records {
    const PUBLISHER: u8 = 0;
    const VIEWER: u8 = 1;
    const STRANGER: u8 = 2;
    const IPV6: u8 = 3;

    fn raw(mut self, from: u8, datagram: &[u8]) -> Self {
        self.0.push(from);
        self.0
            .extend_from_slice(&(datagram.len() as u16).to_le_bytes());
        self.0.extend_from_slice(datagram);
        self
    }

    /// A valid binding request from `from` to the publisher (`to_viewer` false) or viewer.
    fn stun(mut self, from: u8, to_viewer: bool, flags: u8) -> Self {
        self.0.push(from | 1 << 2 | u8::from(to_viewer) << 4);
        self.0.push(flags);
        self.0.push(7);
        self.0.extend_from_slice(&0x6e7f_1eff_u32.to_le_bytes());
        self
    }

    fn wait(mut self, ms: u16) -> Self {
        self.0.push(2 << 2);
        self.0.extend_from_slice(&ms.to_le_bytes());
        self
    }

    fn shaped(mut self, from: u8, class: u8, datagram: &[u8]) -> Self {
        self.0.push(from | 3 << 2 | class << 4);
        self.0
            .extend_from_slice(&(datagram.len() as u16).to_le_bytes());
        self.0.extend_from_slice(datagram);
        self
    }
}

/// The first DTLS flight (ClientHello) of a str0m client talking to a Podium SFU.
fn client_hello(now: Instant) -> Vec<u8> {
    let sfu_addr: SocketAddr = "127.0.0.1:5004".parse().expect("address");
    let client_addr: SocketAddr = "127.0.0.2:40000".parse().expect("address");
    let mut sfu = Sfu::new(SfuConfig::new(sfu_addr), now);
    let mut rtc = RtcConfig::new().set_rtp_mode(true).build(now);
    rtc.add_local_candidate(Candidate::host(client_addr, "udp").expect("candidate"));
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().expect("offer");
    let accepted = sfu
        .publish(
            now,
            PublishParams {
                stream: "s".into(),
                source: None,
                offer: offer.to_sdp_string(),
                codec: None,
                priority: None,
            },
        )
        .expect("publish accepted");
    let answer = SdpAnswer::from_sdp_string(&accepted.answer).expect("answer");
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .expect("answer accepted");
    let mut t = now;
    for _ in 0..200 {
        t += Duration::from_millis(5);
        rtc.handle_input(Input::Timeout(t)).expect("client timeout");
        loop {
            match rtc.poll_output().expect("client output") {
                str0m::Output::Transmit(tx) => {
                    if (20..=63).contains(&tx.contents[0]) {
                        return tx.contents.to_vec();
                    }
                    sfu.handle_receive(t, tx.source, sfu_addr, &tx.contents);
                }
                str0m::Output::Timeout(_) => break,
                str0m::Output::Event(_) => {}
            }
        }
        sfu.handle_timeout(t);
        loop {
            match sfu.poll_output() {
                Output::Transmit(tx) => {
                    let contents = (&*tx.contents).try_into().expect("datagram");
                    rtc.handle_input(Input::Receive(
                        t,
                        Receive {
                            proto: Protocol::Udp,
                            source: tx.source,
                            destination: tx.destination,
                            contents,
                        },
                    ))
                    .expect("client input");
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
    }
    panic!("the client never started DTLS");
}

fn rtp_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn udp(now: Instant) {
    // A browser is the controlling agent towards an ICE-lite server.
    const USE_CANDIDATE: u8 = 1 | 2;
    let hello = client_hello(now);
    // An RTP packet with the one-byte header extension (audio level) as Chrome sends Opus.
    let mut opus = rtp_packet(111, 4711, 960_000, 1_144_222_333, &[]);
    opus[0] |= 0x10;
    opus.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x10, 0x9e, 0x00, 0x00]);
    opus.extend_from_slice(&[0x78, 0x0b, 0xe4, 0xc1, 0x36, 0xec, 0xc5, 0x8d]);
    let vp8 = rtp_packet(
        0x80 | 96,
        100,
        90_000,
        2_233_445_566,
        &[0x10, 0x00, 0x9d, 0x01, 0x2a],
    );
    // RTCP sender report + SDES, as a compound packet.
    let rtcp: Vec<u8> = [
        &[0x80, 200, 0x00, 0x06][..],
        &1_144_222_333_u32.to_be_bytes(),
        &[0xe9, 0x3d, 0x2b, 0x80, 0x12, 0x34, 0x56, 0x78],
        &960_000_u32.to_be_bytes(),
        &10_u32.to_be_bytes(),
        &1_000_u32.to_be_bytes(),
        &[0x81, 202, 0x00, 0x04],
        &1_144_222_333_u32.to_be_bytes(),
        &[0x01, 0x06, b'a', b'b', b'c', b'd', b'e', b'f', 0x00, 0x00],
    ]
    .concat();
    let seeds = [
        (
            "stun-publisher",
            Records::default().stun(Records::PUBLISHER, false, USE_CANDIDATE),
        ),
        (
            "stun-both-then-dtls",
            Records::default()
                .stun(Records::PUBLISHER, false, USE_CANDIDATE)
                .stun(Records::VIEWER, true, USE_CANDIDATE)
                .raw(Records::PUBLISHER, &hello)
                .wait(50)
                .raw(Records::VIEWER, &hello)
                .wait(1_000),
        ),
        (
            "rtp-and-rtcp",
            Records::default()
                .stun(Records::PUBLISHER, false, USE_CANDIDATE)
                .raw(Records::PUBLISHER, &opus)
                .raw(Records::PUBLISHER, &vp8)
                .raw(Records::PUBLISHER, &rtcp)
                .shaped(Records::VIEWER, 2, &rtcp)
                .shaped(Records::PUBLISHER, 1, &opus[1..]),
        ),
        (
            "stun-like-garbage",
            Records::default()
                .shaped(
                    Records::STRANGER,
                    3,
                    &[0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42],
                )
                .shaped(Records::IPV6, 3, b"0123456789abcdefghijklmnop")
                .raw(Records::STRANGER, &[0x16, 0xfe, 0xfd, 0, 0]),
        ),
        (
            "stun-refused",
            Records::default()
                .stun(Records::STRANGER, false, USE_CANDIDATE | 4)
                .stun(Records::PUBLISHER, false, 1)
                .stun(Records::STRANGER, true, 8)
                .stun(Records::IPV6, false, 16),
        ),
        (
            "nat-rebinding",
            Records::default()
                .stun(Records::PUBLISHER, false, USE_CANDIDATE)
                .stun(Records::STRANGER, false, USE_CANDIDATE)
                .stun(Records::STRANGER, true, USE_CANDIDATE)
                .raw(Records::STRANGER, &opus),
        ),
        (
            "timeouts",
            Records::default()
                .stun(Records::PUBLISHER, false, USE_CANDIDATE)
                .wait(5_000)
                .wait(6_000)
                .stun(Records::VIEWER, true, USE_CANDIDATE)
                .wait(15_000)
                .wait(30_000),
        ),
    ];
    for (name, records) in seeds {
        write("udp_demux", name, records.0);
    }
}

fn rtp_rewrite() {
    // Byte 0: clock (0 = 8k, 1 = 16k, 2 = 48k, 3 = 90k, 4 = read a u32).
    // Packets: op (input | reset << 2 | seconds << 3), seq step (i8), ts step (i16, ×16),
    // time step (i16).
    fn pkt(v: &mut Vec<u8>, op: u8, dseq: i8, dts: i16, dt: i16) {
        v.push(op);
        v.push(dseq as u8);
        v.extend_from_slice(&dts.to_le_bytes());
        v.extend_from_slice(&dt.to_le_bytes());
    }
    // Opus: 20 ms frames, 960 ticks = 60 × 16.
    let mut audio = vec![2];
    for _ in 0..10 {
        pkt(&mut audio, 0, 1, 60, 20);
    }
    pkt(&mut audio, 1, 17, 1234, 100);
    for _ in 0..10 {
        pkt(&mut audio, 1, 1, 60, 20);
    }
    write("rtp_rewrite", "audio-switch", &audio);

    // VP8 at 30 fps: 3000 ticks, several packets per frame, reordered and lost packets.
    let mut video = vec![3];
    for i in 0..12 {
        pkt(&mut video, 0, 1, if i % 3 == 0 { 187 } else { 0 }, 11);
    }
    pkt(&mut video, 0, 2, 0, 1);
    pkt(&mut video, 0, -1, 0, 1);
    pkt(&mut video, 0, 3, 187, 33);
    pkt(&mut video, 2, 5, 5, 40);
    pkt(&mut video, 0, 1, 187, 33);
    pkt(&mut video, 6, 1, 187, 33);
    write("rtp_rewrite", "video-reorder-and-reuse", &video);

    // Sequence numbers wrapping past 65535, a time jump in seconds, a reset.
    let mut wrap = vec![0];
    pkt(&mut wrap, 3, 127, 10, 20);
    for _ in 0..600 / 6 {
        pkt(&mut wrap, 3, 127, 10, 20);
    }
    pkt(&mut wrap, 8 | 3, 1, 10, 3600);
    pkt(&mut wrap, 4 | 3, 1, 10, 20);
    pkt(&mut wrap, 1, 1, -30000, -20);
    write("rtp_rewrite", "wrap-and-jumps", &wrap);

    let mut odd = vec![4, 1, 0, 0, 0];
    pkt(&mut odd, 0, 1, 1, 1);
    pkt(&mut odd, 1, 1, 1, 1);
    pkt(&mut odd, 0, 1, 1, 0);
    write("rtp_rewrite", "clock-1hz", &odd);
}
