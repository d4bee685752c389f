//! Helpers for projection and layer tests: video frames that start keyframes, viewers with
//! further m-lines, and a client that adds a transceiver and answers it itself, as the
//! Millicast SDK's `addRemoteTrack` does.

use std::time::Instant;

use podium_media::{MediaError, ProjectParams, ViewParams};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};

use crate::{Client, Net, Seen};

impl Client {
    /// Sends one VP8 video packet (one frame) whose payload starts a keyframe or not; the
    /// byte after the VP8 descriptor and frame tag is `tag`.
    pub fn send_frame(&mut self, now: Instant, tag: u8, keyframe: bool) {
        self.seq[1] += 1;
        let n = self.seq[1];
        let pt = self.pt(Codec::Vp8);
        let mid = self.mid(MediaKind::Video);
        // S = 1, partition 0; frame tag with P = 0 for a keyframe.
        let mut payload = vec![0x10, if keyframe { 0x00 } else { 0x01 }, tag];
        payload.extend_from_slice(&n.to_be_bytes());
        let time = (n * 3000 + 77_777 * u64::from(tag)) as u32;
        let mut api = self.rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).expect("send stream");
        tx.write_rtp(
            RtpWrite::new(
                pt,
                SeqNo::from(n + 1000 * u64::from(tag)),
                time,
                now,
                payload,
            )
            .marker(true)
            .ext_vals(ExtensionValues::default())
            .nackable(true),
        );
    }

    /// Packets seen on `mid`.
    pub fn seen_on(&self, mid: &str) -> Vec<Seen> {
        self.seen
            .iter()
            .filter(|s| *s.mid == *mid)
            .cloned()
            .collect()
    }

    /// The mids of its m-lines of `kind`, in order.
    pub fn mids_of(&self, kind: MediaKind) -> Vec<Mid> {
        self.mids
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(m, _)| *m)
            .collect()
    }
}

/// The tag of a packet sent with [`Client::send_frame`].
pub fn frame_tag(seen: &Seen) -> u8 {
    seen.payload[2]
}

impl Net {
    /// A viewer whose offer has these recvonly m-lines, in order (the first video and audio
    /// are its default transceivers, the rest idle until projected onto).
    pub fn view_with(&mut self, stream: &str, pinned: Option<&str>, kinds: &[MediaKind]) -> usize {
        self.view_with_at(0, stream, pinned, kinds)
    }

    /// Like [`Net::view_with`], on media worker `worker`.
    pub fn view_with_at(
        &mut self,
        worker: usize,
        stream: &str,
        pinned: Option<&str>,
        kinds: &[MediaKind],
    ) -> usize {
        let kinds: Vec<_> = kinds.iter().map(|k| (*k, Direction::RecvOnly)).collect();
        let client = self.new_client(&kinds);
        self.view_client(worker, client, |offer| ViewParams {
            stream: stream.into(),
            pinned: pinned.map(Into::into),
            offer,
            excluded: vec![],
            max_slots: 0,
        })
    }

    /// Client `idx` adds a recvonly transceiver of `kind` and renegotiates without the
    /// server, as the Millicast SDK does: its answer copies the first m-line of that kind
    /// of the server's answer (codecs, extensions; no SSRC, no msid) under the new mid.
    pub fn add_transceiver(&mut self, idx: usize, kind: MediaKind) -> Mid {
        let c = &mut self.clients[idx];
        let mut api = c.rtc.sdp_api();
        let mid = api.add_media(kind, Direction::RecvOnly, None, None, None);
        let (_, pending) = api.apply().expect("offer");
        let answer = fabricated_answer(&c.answer, kind, &mid);
        let parsed = SdpAnswer::from_sdp_string(&answer).expect("fabricated answer parses");
        c.rtc
            .sdp_api()
            .accept_answer(pending, parsed)
            .expect("fabricated answer accepted");
        c.answer = answer;
        c.mids.push((mid, kind));
        mid
    }

    /// `project` for client `idx`.
    pub fn project(&mut self, idx: usize, p: ProjectParams) -> Result<(), MediaError> {
        let (worker, peer, now) = (self.clients[idx].worker, self.clients[idx].peer, self.now);
        self.worker(worker).project(now, peer, p)
    }

    /// `unproject` for client `idx`.
    pub fn unproject(&mut self, idx: usize, mids: &[&str]) -> Result<(), MediaError> {
        let (worker, peer, now) = (self.clients[idx].worker, self.clients[idx].peer, self.now);
        let mids: Vec<String> = mids.iter().map(|m| m.to_string()).collect();
        self.worker(worker).unproject(now, peer, &mids)
    }

    /// Every packet of client `idx` from now on sends one video frame per source tag,
    /// keyframes where `key` says, over `frames` frames of 33 ms.
    pub fn frames(&mut self, pubs: &[(usize, u8)], frames: usize, key: impl Fn(usize) -> bool) {
        for n in 0..frames {
            for &(p, tag) in pubs {
                let now = self.now;
                self.clients[p].send_frame(now, tag, key(n));
                self.clients[p].send(now, MediaKind::Audio, tag, Some(-30));
            }
            for _ in 0..6 {
                self.step();
            }
        }
    }
}

fn fabricated_answer(previous: &str, kind: MediaKind, mid: &Mid) -> String {
    let kind_prefix = match kind {
        MediaKind::Audio => "m=audio",
        MediaKind::Video => "m=video",
    };
    let mut sections: Vec<Vec<String>> = vec![vec![]];
    for line in previous.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("m=") {
            sections.push(vec![]);
        }
        sections.last_mut().unwrap().push(line.to_string());
    }
    let template = sections
        .iter()
        .skip(1)
        .find(|s| s[0].starts_with(kind_prefix))
        .expect("an m-line of the kind")
        .iter()
        .filter(|l| !l.starts_with("a=ssrc") && !l.starts_with("a=msid"))
        .map(|l| {
            if l.starts_with("a=mid:") {
                format!("a=mid:{mid}")
            } else {
                l.clone()
            }
        })
        .collect::<Vec<_>>();
    for line in sections[0].iter_mut() {
        if line.starts_with("a=group:BUNDLE") {
            line.push(' ');
            line.push_str(mid);
        }
    }
    sections.push(template);
    let mut out = String::new();
    for line in sections.iter().flatten() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// Where a layered frame's tag is (see [`Client::send_layer`]).
pub const LAYER_TAG_AT: usize = 11;

/// The tag of a packet sent with [`Client::send_layer`].
pub fn layer_tag(seen: &Seen) -> u8 {
    seen.payload[LAYER_TAG_AT]
}

impl Client {
    /// Sends one VP8 frame of simulcast encoding `rid`: a keyframe declares `size`; `bytes`
    /// pads the payload (the encoding's bitrate); the tag is at [`LAYER_TAG_AT`].
    pub fn send_layer(
        &mut self,
        now: Instant,
        rid: &str,
        tag: u8,
        keyframe: bool,
        size: (u16, u16),
        bytes: usize,
    ) {
        let layer = self.layer_seq.entry(rid.to_owned()).or_insert(0);
        *layer += 1;
        let n = *layer;
        let pt = self.pt(Codec::Vp8);
        let mid = self.mid(MediaKind::Video);
        let mut payload = vec![0x10, if keyframe { 0x00 } else { 0x01 }, 0, 0];
        if keyframe {
            payload.extend_from_slice(&[0x9d, 0x01, 0x2a]);
            payload.extend_from_slice(&size.0.to_le_bytes());
            payload.extend_from_slice(&size.1.to_le_bytes());
        } else {
            payload.resize(LAYER_TAG_AT, 0);
        }
        payload.push(tag);
        payload.resize(bytes.max(LAYER_TAG_AT + 1), 0xaa);
        let mut api = self.rtc.direct_api();
        let tx = api
            .stream_tx_by_mid(mid, Some(rid.into()))
            .expect("a send stream for the rid");
        tx.write_rtp(
            RtpWrite::new(pt, SeqNo::from(n), (n * 3000) as u32, now, payload)
                .marker(true)
                .ext_vals(ExtensionValues::default())
                .nackable(true),
        );
    }
}

impl Net {
    /// A publisher of audio and rid-simulcast video with the encodings `rids`.
    pub fn publish_simulcast(
        &mut self,
        stream: &str,
        source: Option<&str>,
        rids: &[&str],
    ) -> usize {
        let client = self.new_client_with(|api| {
            let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            let mut simulcast = str0m::media::Simulcast::new();
            for rid in rids {
                simulcast.send.push(str0m::media::SimulcastLayer::new(rid));
            }
            let video = api.add_media(
                MediaKind::Video,
                Direction::SendOnly,
                None,
                None,
                Some(simulcast),
            );
            vec![(audio, MediaKind::Audio), (video, MediaKind::Video)]
        });
        self.publish_client(stream, source, client)
    }

    /// `select` for client `idx`.
    pub fn select(
        &mut self,
        idx: usize,
        layer: Option<podium_media::LayerRequest>,
    ) -> Result<(), MediaError> {
        let (worker, peer, now) = (self.clients[idx].worker, self.clients[idx].peer, self.now);
        self.worker(worker).select(now, peer, layer)
    }

    /// Client `idx` (a viewer) tells the server its receive estimate (REMB) for its main video.
    pub fn remb(&mut self, idx: usize, bits_per_second: u64) {
        let c = &mut self.clients[idx];
        let mid = c.mid(MediaKind::Video);
        let mut api = c.rtc.direct_api();
        if let Some(rx) = api.stream_rx_by_mid(mid, None) {
            rx.request_remb(str0m::bwe::Bitrate::bps(bits_per_second));
        }
    }
}
