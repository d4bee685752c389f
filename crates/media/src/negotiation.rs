//! SDP negotiation of a peer: the ICE-lite, RTP-mode `Rtc` that answers an offer (codecs,
//! extensions, the DTLS role and certificate), the checks a hostile offer meets first, and
//! the answer's msids.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, Mid, Pt};
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Rtc, RtcConfig};

use crate::egress::keys::{self, KeySlot};
use crate::MediaError;

/// Largest SDP offer accepted; real offers are a few KiB.
pub(crate) const MAX_SDP_LEN: usize = 64 * 1024;

/// Which side of the SFU a peer is on, for its `Rtc` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Sends media to the SFU.
    Publisher,
    /// Receives media from the SFU.
    Viewer,
}

/// What every peer of this SFU shares: the candidate address and one DTLS certificate
/// (generating a key pair per peer would cost every join a key generation).
pub(crate) struct LocalSide {
    pub(crate) candidate: SocketAddr,
    pub(crate) cert: Option<str0m::crypto::dtls::DtlsCert>,
}

impl LocalSide {
    pub(crate) fn new(candidate: SocketAddr) -> Self {
        let cert = str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate();
        Self { candidate, cert }
    }
}

/// Builds an ICE-lite, RTP-mode `Rtc` and answers `offer` with it.
///
/// SRTP: the answer takes the DTLS server role (`a=setup:passive` to a browser's `actpass`),
/// so str0m picks the protection profile, and it prefers AEAD AES-GCM (256, then 128) over
/// AES-CM-HMAC-SHA1-80 whenever the client offers GCM, as Chromium does. See
/// `docs/benchmarks.md` for what that costs per packet.
///
/// Viewers do not negotiate transport-wide congestion control: Podium estimates the path to
/// a viewer from its receiver estimates (REMB) and reports (`sfu/layers.rs`), and with the
/// extension str0m would keep a 1000-entry send record per peer (about 44 KiB) while the
/// browser sent TWCC feedback every few tens of ms that nothing reads. A viewer's media and sender reports leave
/// through Podium's egress (`egress/`), so its `Rtc` keeps no send buffers and writes no
/// reports of its own; the DTLS keys are captured for the egress ([`keys`]).
pub(crate) fn accept_offer(
    now: Instant,
    local: &LocalSide,
    offer: &str,
    codecs: CodecChoice,
    side: Side,
) -> Result<(Rtc, String, KeySlot), MediaError> {
    if offer.len() > MAX_SDP_LEN {
        return Err(MediaError::InvalidOffer("SDP too large".into()));
    }
    if let Some(pt) = conflicting_payload_type(offer) {
        // str0m panics on this (caught below, but every such offer would log a panic).
        return Err(MediaError::InvalidOffer(format!(
            "payload type {pt} is declared differently in two media sections"
        )));
    }
    let normalized = normalize_media_sections(offer);
    // str0m's parse errors point into its input buffer; they mean nothing to a client.
    let parsed = SdpOffer::from_sdp_string(&normalized)
        .map_err(|_| MediaError::InvalidOffer("the SDP could not be parsed".into()))?;
    let dtx = offer_wants_dtx(offer);
    let mut config = RtcConfig::new()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .clear_codecs();
    if side == Side::Viewer {
        config = config
            .set_extension_map(without_twcc(ExtensionMap::standard()))
            .set_send_buffer_audio(1)
            .set_send_buffer_video(1)
            .set_rtcp_report_interval_audio(NO_STR0M_REPORTS)
            .set_rtcp_report_interval_video(NO_STR0M_REPORTS);
    }
    add_codecs(&mut config, codecs, dtx);
    if let Some(cert) = &local.cert {
        config = config.set_dtls_cert(cert.clone());
    }
    let (mut rtc, keys) = keys::build_capturing(config, now);
    let local = Candidate::host(local.candidate, "udp")
        .map_err(|e| MediaError::InvalidOffer(format!("bad local candidate: {e}")))?;
    rtc.add_local_candidate(local);
    // str0m promises not to panic on input; a hostile offer must still never take the server down.
    let answer = catch_unwind(AssertUnwindSafe(|| rtc.sdp_api().accept_offer(parsed)))
        .map_err(|_| MediaError::InvalidOffer("offer could not be processed".into()))?
        .map_err(|e| MediaError::InvalidOffer(first_line(&e.to_string())))?;
    Ok((rtc, answer.to_sdp_string(), keys))
}

/// A viewer's `Rtc` sends no reports: Podium's egress does (what str0m would report covers
/// nothing, since the media never passes through it). An hour is "never" for a peer.
const NO_STR0M_REPORTS: Duration = Duration::from_secs(3600);

/// A payload type whose `a=rtpmap`/`a=fmtp` differ between media sections. Browsers give a
/// payload type one meaning for the whole (bundled) session; a hostile offer that does not
/// trips an assertion in str0m.
fn conflicting_payload_type(sdp: &str) -> Option<String> {
    use std::collections::HashMap;
    // Per section: payload type -> (rtpmap, fmtp).
    let mut seen: HashMap<&str, (&str, &str)> = HashMap::new();
    for section in split_sections(sdp).iter().skip(1) {
        let mut here: HashMap<&str, (&str, &str)> = HashMap::new();
        for line in section {
            let (kind, rest) = if let Some(r) = line.strip_prefix("a=rtpmap:") {
                (0, r)
            } else if let Some(r) = line.strip_prefix("a=fmtp:") {
                (1, r)
            } else {
                continue;
            };
            let (pt, value) = rest.split_once(' ').unwrap_or((rest, ""));
            let entry = here.entry(pt.trim()).or_default();
            if kind == 0 {
                entry.0 = value.trim();
            } else {
                entry.1 = value.trim();
            }
        }
        for (pt, desc) in here {
            match seen.get(pt) {
                Some(known) if !known.0.eq_ignore_ascii_case(desc.0) || known.1 != desc.1 => {
                    return Some(pt.chars().take(8).collect());
                }
                Some(_) => {}
                None => {
                    seen.insert(pt, desc);
                }
            }
        }
    }
    None
}

/// Puts each media section's `i=`/`c=`/`b=`/`k=` lines right after its `m=` line, as RFC 8866
/// orders them. The Millicast SDK inserts `a=rtpmap`/`a=fmtp` for `multiopus` directly after
/// the `m=audio` line, before `c=`; browsers accept that, and so must we.
fn normalize_media_sections(sdp: &str) -> String {
    fn rank(line: &str) -> u8 {
        match line.as_bytes().first() {
            Some(b'm') => 0,
            Some(b'i') => 1,
            Some(b'c') => 2,
            Some(b'b') => 3,
            Some(b'k') => 4,
            _ => 5,
        }
    }
    let mut out = String::with_capacity(sdp.len() + 2);
    for (i, section) in split_sections(sdp).into_iter().enumerate() {
        let mut lines = section;
        if i > 0 {
            // A stable sort keeps the order of the attributes among themselves.
            lines.sort_by_key(|l| rank(l));
        }
        for line in lines {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out
}

/// Which video codecs a peer may negotiate.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CodecChoice {
    /// Every codec Podium forwards (viewers, and publishers without a preference).
    All,
    /// Only this one (the publisher's `codec`).
    Only(Codec),
}

pub(crate) fn parse_codec(name: &str) -> Result<Codec, MediaError> {
    match name.to_ascii_lowercase().as_str() {
        "vp8" => Ok(Codec::Vp8),
        "vp9" => Ok(Codec::Vp9),
        "h264" => Ok(Codec::H264),
        "av1" | "av1x" => Ok(Codec::Av1),
        "h265" => Ok(Codec::H265),
        other => Err(MediaError::UnsupportedCodec(other.to_owned())),
    }
}

fn add_codecs(config: &mut RtcConfig, choice: CodecChoice, dtx: bool) {
    let codecs = config.codec_config();
    codecs.add_config(
        Pt::from(111),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams {
            min_p_time: Some(10),
            use_inband_fec: Some(true),
            // Chromium uses DTX only when the answer asks for it.
            use_dtx: dtx.then_some(true),
            ..Default::default()
        },
    );
    let wanted = |c: Codec| match choice {
        CodecChoice::All => true,
        CodecChoice::Only(only) => only == c,
    };
    codecs.enable_vp8(wanted(Codec::Vp8));
    codecs.enable_vp9(wanted(Codec::Vp9));
    codecs.enable_h264(wanted(Codec::H264));
    codecs.enable_av1(wanted(Codec::Av1));
    codecs.enable_h265(wanted(Codec::H265));
}

fn without_twcc(standard: ExtensionMap) -> ExtensionMap {
    let mut map = ExtensionMap::empty();
    for (id, ext) in standard.iter() {
        if *ext != Extension::TransportSequenceNumber {
            map.set(id, ext.clone());
        }
    }
    map
}

/// True when the offer's Opus fmtp carries `usedtx=1` (the Millicast SDK's `dtx` option).
fn offer_wants_dtx(offer: &str) -> bool {
    offer
        .lines()
        .filter(|l| l.starts_with("a=fmtp:"))
        .any(|l| l.contains("usedtx=1"))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(200).collect()
}

/// A fresh random tag for one view's stream and track ids: 16 characters of `[0-9A-Za-z]`
/// (about 94 bits) from str0m's id generator, the one behind its ICE username fragments.
pub(crate) fn view_tag() -> String {
    str0m::IceCreds::new().ufrag
}

/// Names the media streams and tracks of a viewer's answer after `tag`, a random string of
/// this view's own ([`view_tag`]):
///
/// - the default m-lines (`main`) form one media stream `podium-<tag>`, so the browser groups
///   main video and audio into one `MediaStream` (`event.streams[0]`) and keeps them in lip
///   sync;
/// - each audio slot (`slots`) is a stream of its own, `podium-<tag>-slot-<mid>`, so apps
///   never mix it up with the main one; any other m-line is one too, `podium-<tag>-mid-<mid>`;
/// - the track of every m-line is `podium-<tag>-track-<mid>`.
///
/// No two views share an id, as with browsers and Millicast: apps key their elements by
/// stream id (the Millicast Spaces app skips a stream whose id is already an element id in the
/// page, and keeps the previous room's elements), so fixed ids would leave the second room of
/// a session silent. str0m names every m-line itself (randomly, or after the offer's own
/// `a=msid`); only the `a=msid`, `a=ssrc … msid:` and `a=msid-semantic` lines change.
pub(crate) fn name_msids(answer: &str, tag: &str, main: &[Mid], slots: &[Mid]) -> String {
    let has = |mids: &[Mid], mid: &str| mids.iter().any(|m| **m == *mid);
    let sections = split_sections(answer);
    // (stream id, track id) of each section with an `a=mid` (the session section has none).
    let names: Vec<Option<(String, String)>> = sections
        .iter()
        .map(|section| {
            let mid = section
                .iter()
                .find_map(|l| l.strip_prefix("a=mid:"))?
                .trim_end();
            let stream = if has(main, mid) {
                format!("podium-{tag}")
            } else if has(slots, mid) {
                format!("podium-{tag}-slot-{mid}")
            } else {
                format!("podium-{tag}-mid-{mid}")
            };
            Some((stream, format!("podium-{tag}-track-{mid}")))
        })
        .collect();
    let mut streams: Vec<&str> = Vec::new();
    for (section, name) in sections.iter().zip(&names) {
        if let Some((stream, _)) = name {
            let signalled = section.iter().any(|l| l.starts_with("a=msid:"));
            if signalled && !streams.contains(&stream.as_str()) {
                streams.push(stream);
            }
        }
    }
    let mut out = String::with_capacity(answer.len() + 64);
    for (section, name) in sections.iter().zip(&names) {
        for line in section.iter() {
            let rewritten = match name {
                Some((stream, track)) => rewrite_msid(line, stream, track),
                None => rewrite_msid_semantic(line, &streams),
            };
            out.push_str(rewritten.as_deref().unwrap_or(line));
            out.push_str("\r\n");
        }
    }
    out
}

fn split_sections(sdp: &str) -> Vec<Vec<&str>> {
    let mut sections: Vec<Vec<&str>> = vec![vec![]];
    for line in sdp.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("m=") {
            sections.push(vec![]);
        }
        sections.last_mut().expect("starts non-empty").push(line);
    }
    sections
}

fn rewrite_msid(line: &str, stream_id: &str, track_id: &str) -> Option<String> {
    if line.starts_with("a=msid:") {
        return Some(format!("a=msid:{stream_id} {track_id}"));
    }
    let (ssrc, attr) = line.strip_prefix("a=ssrc:")?.split_once(' ')?;
    attr.starts_with("msid:")
        .then(|| format!("a=ssrc:{ssrc} msid:{stream_id} {track_id}"))
}

/// The session's `a=msid-semantic` line, listing `streams`.
fn rewrite_msid_semantic(line: &str, streams: &[&str]) -> Option<String> {
    let rest = line.strip_prefix("a=msid-semantic:")?;
    let semantic = rest.split_whitespace().next()?;
    let mut out = format!("a=msid-semantic: {semantic}");
    for stream in streams {
        out.push(' ');
        out.push_str(stream);
    }
    Some(out)
}

/// The m-line ids of an SDP offer, in order.
pub(crate) fn offer_mids(offer: &str) -> Vec<Mid> {
    offer
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .map(Mid::from)
        .collect()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    #[test]
    fn hostile_offers_are_errors() {
        let now = Instant::now();
        let addr = "127.0.0.1:5004".parse().unwrap();
        for offer in [
            "",
            "v=0",
            "garbage\r\n\r\n",
            "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
        ] {
            assert!(
                accept_offer(
                    now,
                    &LocalSide::new(addr),
                    offer,
                    CodecChoice::All,
                    Side::Viewer
                )
                .is_err(),
                "{offer:?}"
            );
        }
        let huge = "a".repeat(MAX_SDP_LEN + 1);
        assert!(accept_offer(
            now,
            &LocalSide::new(addr),
            &huge,
            CodecChoice::All,
            Side::Publisher
        )
        .is_err());
    }
    #[test]
    fn msids_name_one_main_stream_and_one_stream_per_slot() {
        let answer = "v=0\r\ns=-\r\na=msid-semantic: WMS aaa bbb ccc ddd\r\n\
                      m=video 9 X 96\r\na=mid:0\r\na=msid:aaa t1\r\na=ssrc:5 cname:c\r\n\
                      a=ssrc:5 msid:aaa t1\r\na=ssrc:6 msid:aaa t1\r\n\
                      m=audio 9 X 111\r\na=msid:bbb t2\r\na=mid:1\r\n\
                      m=audio 9 X 111\r\na=mid:2\r\na=msid:ccc t3\r\n\
                      m=audio 9 X 111\r\na=mid:x\r\na=msid:ddd t4\r\n\
                      m=audio 0 X 111\r\na=mid:3\r\na=inactive\r\n";
        let out = name_msids(
            answer,
            "T",
            &[Mid::from("0"), Mid::from("1")],
            &[Mid::from("2")],
        );
        for line in [
            "a=msid-semantic: WMS podium-T podium-T-slot-2 podium-T-mid-x",
            "a=msid:podium-T podium-T-track-0",
            "a=ssrc:5 cname:c",
            "a=ssrc:5 msid:podium-T podium-T-track-0",
            "a=ssrc:6 msid:podium-T podium-T-track-0",
            // Found before its section's a=mid too.
            "a=msid:podium-T podium-T-track-1",
            "a=msid:podium-T-slot-2 podium-T-track-2",
            "a=msid:podium-T-mid-x podium-T-track-x",
            "a=inactive",
        ] {
            assert!(out.contains(&format!("{line}\r\n")), "{line} in {out}");
        }
        assert_eq!(out.lines().count(), answer.lines().count());
        assert!(!["aaa", "bbb", "ccc", "ddd", "t1", "t2", "t3", "t4"]
            .iter()
            .any(|old| out.contains(&format!(" {old}"))));
    }
    #[test]
    fn view_tags_are_random() {
        let a = view_tag();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, view_tag());
    }
    #[test]
    fn media_level_lines_are_moved_before_attributes() {
        let sdp = "v=0\r\ns=-\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 105\r\n\
                   a=rtpmap:105 multiopus/48000/6\r\na=fmtp:105 channel_mapping=0,4,1,2,3,5\r\n\
                   c=IN IP4 0.0.0.0\r\nb=AS:64\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n";
        let out = normalize_media_sections(sdp);
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines[3], "m=audio 9 UDP/TLS/RTP/SAVPF 111 105");
        assert_eq!(lines[4], "c=IN IP4 0.0.0.0");
        assert_eq!(lines[5], "b=AS:64");
        assert_eq!(
            lines[6], "a=rtpmap:105 multiopus/48000/6",
            "attribute order kept"
        );
        assert_eq!(lines[2], "a=group:BUNDLE 0", "session section untouched");
    }

    /// A browser-like viewer offer (str0m's default codecs: Opus, VP8, H.264 in several
    /// profiles, …) accepted as a view.
    #[test]
    fn codec_names() {
        assert_eq!(parse_codec("VP8").unwrap(), Codec::Vp8);
        assert_eq!(parse_codec("AV1X").unwrap(), Codec::Av1);
        assert!(parse_codec("theora").is_err());
    }
    #[test]
    fn a_payload_type_with_two_meanings_is_refused_before_str0m_sees_it() {
        // The fuzzer's find (fuzz/regressions/sdp_view), trimmed: 124 is H264 twice, once
        // with an fmtp.
        let offer = "v=0\r\nm=video 9 X 124\r\na=rtpmap:124 H264/90000\r\nm=audio 9 X 111\r\n\
            a=rtpmap:111 opus/48000/2\r\na=rtpmap:124 H264/90000\r\n\
            a=fmtp:124 packetization-mode=0;profile-level-id=42e01f\r\n";
        assert_eq!(conflicting_payload_type(offer).as_deref(), Some("124"));
        let same = "v=0\r\nm=video 9 X 96\r\na=rtpmap:96 VP8/90000\r\nm=video 9 X 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert_eq!(
            conflicting_payload_type(same),
            None,
            "one meaning repeated is fine"
        );
    }
}
