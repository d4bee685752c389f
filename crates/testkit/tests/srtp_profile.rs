//! Which SRTP protection profile Podium's peers negotiate.
#![allow(clippy::disallowed_methods)]

use podium_testkit::srtp::SrtpProfile;
use podium_testkit::Net;

/// The SFU answers `a=setup:passive`, so it is the DTLS server and picks the profile. A
/// client that offers GCM (str0m does, and so does Chromium, with AES-CM-SHA1-80 listed
/// first) gets AEAD AES-GCM, never the counter mode with its HMAC-SHA1.
#[test]
fn publishers_and_viewers_end_up_on_aes_gcm() {
    let mut net = Net::new();
    let publisher = net.publish("s", None, true);
    let viewer = net.view("s", None);
    let listener = net.listen("s", None, 2, &[]);
    for c in [publisher, viewer, listener] {
        assert_eq!(net.clients[c].srtp.profile(), None, "no SRTP before DTLS");
    }
    net.connect_all();
    net.talk(&[(publisher, 1)], 5);
    for c in [publisher, viewer, listener] {
        assert_eq!(
            net.clients[c].srtp.profile(),
            Some(SrtpProfile::AeadAes256Gcm),
            "client {c}"
        );
        assert!(net.clients[c].answer.contains("a=setup:passive"));
    }
    assert!(!net.clients[viewer].seen.is_empty(), "media flowed over it");
}
