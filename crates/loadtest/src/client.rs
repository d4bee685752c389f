//! One simulated WebRTC client: a str0m `Rtc` (RTP mode, full ICE) on its own UDP socket.
//! Offers are made (Podium) or answered (Janus) before the client is handed to an engine
//! thread, which then only moves packets.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use anyhow::Context;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use podium_media::dtls_keys::{self, KeySlot};

use crate::fast_rx::{self, FastRx};
use crate::probe::Probe;
use crate::stats::Acc;
use crate::talk::{AudioFrame, Talker, VideoPacket, VideoSender};

/// A client whose offer went out and whose answer has not come back yet.
pub struct Offering {
    rtc: Rtc,
    keys: KeySlot,
    socket: std::net::UdpSocket,
    local: SocketAddr,
    pending: SdpPendingOffer,
    mids: Vec<(Mid, MediaKind, Direction)>,
}

/// A client whose SDP is settled; ICE and DTLS run once an engine drives it.
pub struct Negotiated {
    rtc: Rtc,
    keys: KeySlot,
    socket: std::net::UdpSocket,
    local: SocketAddr,
    mids: Vec<(Mid, MediaKind, Direction)>,
}

/// A client `Rtc` whose DTLS session's SRTP keys are captured (for the fast listener mode).
fn new_rtc(bind: IpAddr) -> io::Result<(Rtc, KeySlot, std::net::UdpSocket, SocketAddr)> {
    let socket = std::net::UdpSocket::bind(SocketAddr::new(bind, 0))?;
    socket.set_nonblocking(true)?;
    let local = socket.local_addr()?;
    let (mut rtc, keys) =
        dtls_keys::build_capturing(RtcConfig::new().set_rtp_mode(true), Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(io::Error::other)?;
    rtc.add_local_candidate(candidate);
    Ok((rtc, keys, socket, local))
}

impl Offering {
    /// A client offering one m-line per entry of `kinds`; returns it and the offer SDP.
    pub fn new(bind: IpAddr, kinds: &[(MediaKind, Direction)]) -> anyhow::Result<(Self, String)> {
        let (mut rtc, keys, socket, local) = new_rtc(bind).context("binding a client socket")?;
        let mut api = rtc.sdp_api();
        // str0m announces only media the remote adds, so our own m-lines are noted here.
        let mids = kinds
            .iter()
            .map(|(kind, dir)| (api.add_media(*kind, *dir, None, None, None), *kind, *dir))
            .collect();
        let (offer, pending) = api.apply().context("no offer")?;
        let offer = offer.to_sdp_string();
        Ok((
            Self {
                rtc,
                keys,
                socket,
                local,
                pending,
                mids,
            },
            offer,
        ))
    }

    /// Applies the server's answer.
    pub fn accept(mut self, answer: &str) -> anyhow::Result<Negotiated> {
        let answer = SdpAnswer::from_sdp_string(answer).context("answer does not parse")?;
        self.rtc
            .sdp_api()
            .accept_answer(self.pending, answer)
            .context("answer refused")?;
        Ok(Negotiated {
            rtc: self.rtc,
            keys: self.keys,
            socket: self.socket,
            local: self.local,
            mids: self.mids,
        })
    }
}

impl Negotiated {
    /// Answers a server's offer (Janus offers to subscribers); returns the answer SDP.
    pub fn answer(bind: IpAddr, offer: &str) -> anyhow::Result<(Self, String)> {
        let (mut rtc, keys, socket, local) = new_rtc(bind).context("binding a client socket")?;
        let offer = SdpOffer::from_sdp_string(offer).context("offer does not parse")?;
        let answer = rtc.sdp_api().accept_offer(offer).context("offer refused")?;
        Ok((
            Self {
                rtc,
                keys,
                socket,
                local,
                mids: Vec::new(),
            },
            answer.to_sdp_string(),
        ))
    }
}

/// What a client sends.
pub enum Sending {
    /// Nothing: a listener or viewer.
    Nothing,
    /// Speech with DTX silences.
    Audio(Talker),
    /// Video plus audio.
    AudioVideo(Talker, VideoSender),
}

impl Track {
    /// One received packet with extended sequence number `seq`, for the loss count.
    fn count(&mut self, seq: u64) {
        // A late packet older than the first one seen widens the range it counts in.
        let base = self.base_seq.map_or(seq, |b| b.min(seq));
        self.base_seq = Some(base);
        self.max_seq = self.max_seq.max(seq).max(base);
        self.received += 1;
    }
}

enum SendingKind {
    Nothing,
    Media,
}

/// Receive bookkeeping of one m-line.
#[derive(Default)]
struct Track {
    kind_audio: bool,
    base_seq: Option<u64>,
    max_seq: u64,
    received: u64,
    reported_expected: u64,
    reported_received: u64,
    speaker: Option<u16>,
    spurt: u32,
    spurt_first_recv_us: u64,
    /// Fast mode: the highest extended sequence number seen.
    ext_seq: Option<u64>,
}

/// A client an engine drives.
pub struct Client {
    /// Run-wide index, carried in probes as the sender.
    pub id: u32,
    rtc: Rtc,
    /// Its socket, registered with the engine's poll.
    pub socket: mio::net::UdpSocket,
    local: SocketAddr,
    sending: Sending,
    /// str0m's next deadline.
    pub next_timeout: Instant,
    started: Instant,
    epoch: Instant,
    connected_us: Option<u64>,
    first_audio: bool,
    tracks: HashMap<Ssrc, Track>,
    seq: [u64; 2],
    pts: (Option<Pt>, Option<Pt>),
    mids: HashMap<Mid, MediaKind>,
    audio_tx: Option<(Mid, Pt)>,
    video_tx: Option<(Mid, Pt)>,
    /// The peer ended (ICE or DTLS failure, or an error): the engine drops it.
    pub dead: bool,
    connected_at: Option<Instant>,
    last_rx: Option<Instant>,
    disconnected_since: Option<Instant>,
    keys: KeySlot,
    /// Fast listener mode: the sample rate asked for, and the receiver once connected.
    fast_every: Option<u64>,
    fast: Option<FastRx>,
    /// Fast mode: packets that did not open (should stay 0).
    pub undecryptable: u64,
}

impl Client {
    /// `started`: when the join began (for the join time).
    /// `fast`: as a listener, read RTP in the fast mode ([`fast_rx`]) decrypting one packet
    /// in that many.
    pub fn new(
        id: u32,
        n: Negotiated,
        sending: Sending,
        started: Instant,
        epoch: Instant,
        fast: Option<u64>,
    ) -> Self {
        let pt_of = |rtc: &Rtc, codec: Codec| {
            rtc.codec_config()
                .params()
                .iter()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
        };
        let pts = (pt_of(&n.rtc, Codec::Opus), pt_of(&n.rtc, Codec::Vp8));
        let own = n.mids.clone();
        let sending_kind = match &sending {
            Sending::Nothing => SendingKind::Nothing,
            _ => SendingKind::Media,
        };
        let mut client = Self {
            id,
            socket: mio::net::UdpSocket::from_std(n.socket),
            local: n.local,
            rtc: n.rtc,
            sending,
            next_timeout: started,
            started,
            epoch,
            connected_us: None,
            first_audio: false,
            tracks: HashMap::new(),
            seq: [0; 2],
            pts,
            mids: HashMap::new(),
            audio_tx: None,
            video_tx: None,
            dead: false,
            disconnected_since: None,
            connected_at: None,
            last_rx: None,
            fast_every: fast.filter(|_| matches!(sending_kind, SendingKind::Nothing)),
            keys: n.keys,
            fast: None,
            undecryptable: 0,
        };
        for (mid, kind, direction) in own {
            client.note_media(mid, kind, direction);
        }
        client
    }

    fn note_media(&mut self, mid: Mid, kind: MediaKind, direction: Direction) {
        self.mids.insert(mid, kind);
        if matches!(direction, Direction::SendOnly | Direction::SendRecv) {
            match kind {
                MediaKind::Audio => self.audio_tx = self.pts.0.map(|pt| (mid, pt)),
                MediaKind::Video => self.video_tx = self.pts.1.map(|pt| (mid, pt)),
            }
        }
    }

    /// Feeds one received datagram, then drains.
    pub fn receive(
        &mut self,
        now: Instant,
        epoch: Instant,
        source: SocketAddr,
        data: &[u8],
        acc: &mut Acc,
    ) {
        if self.fast.is_some() && fast_rx::is_rtp(data) {
            self.fast_receive(now, epoch, data, acc);
            return;
        }
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        if self.rtc.handle_input(input).is_err() {
            self.dead = true;
            return;
        }
        self.drain(epoch, acc);
    }

    /// Runs str0m's timers and sends whatever media is due, then drains.
    pub fn tick(&mut self, now: Instant, epoch: Instant, acc: &mut Acc) {
        let now_us = micros(epoch, now);
        let wrote = self.connected_us.is_some() && self.send_due(now, now_us, acc);
        if self.next_timeout <= now || wrote {
            // Written packets leave on the next drain, which a timeout input triggers.
            if self.rtc.handle_input(Input::Timeout(now)).is_err() {
                self.dead = true;
                return;
            }
            self.drain(epoch, acc);
            // A missed consent check is only a passing "disconnected"; one that lasts is a
            // failed peer (and str0m gives up on a peer by no longer being alive).
            let lost = self
                .disconnected_since
                .is_some_and(|t| now.saturating_duration_since(t) > DISCONNECT_GRACE);
            if lost || !self.rtc.is_alive() {
                self.dead = true;
            }
        }
    }

    /// Writes the media due by `now_us`; true if anything was written.
    fn send_due(&mut self, now: Instant, now_us: u64, acc: &mut Acc) -> bool {
        let mut audio = Vec::new();
        let mut video = Vec::new();
        match &mut self.sending {
            Sending::Nothing => return false,
            Sending::Audio(t) => audio.extend(std::iter::from_fn(|| t.poll(now_us))),
            Sending::AudioVideo(t, v) => {
                audio.extend(std::iter::from_fn(|| t.poll(now_us)));
                video.extend(std::iter::from_fn(|| v.poll(now_us)));
            }
        }
        let wrote = !audio.is_empty() || !video.is_empty();
        for f in audio {
            self.write_audio(now, &f, acc);
        }
        for p in video {
            self.write_video(now, &p, acc);
        }
        wrote
    }

    fn write_audio(&mut self, now: Instant, f: &AudioFrame, acc: &mut Acc) {
        let Some((mid, pt)) = self.audio_tx else {
            return;
        };
        let mut payload = vec![0u8; f.bytes];
        Probe {
            // Publishers join first, so their ids fit the probe's 16 bits.
            sender: self.id as u16,
            spurt: f.spurt,
            frame: f.frame,
            sent_us: micros(self.epoch, Instant::now()),
            spurt_start_us: f.spurt_start_us,
        }
        .write(&mut payload);
        self.seq[0] += 1;
        let ext = ExtensionValues {
            audio_level: Some(f.level),
            voice_activity: Some(f.level > -127),
            ..Default::default()
        };
        let time = (f.at_us * 48 / 1000) as u32;
        let seq = SeqNo::from(self.seq[0]);
        if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
            tx.write_rtp(RtpWrite::new(pt, seq, time, now, payload).ext_vals(ext));
            acc.tx_packets += 1;
        }
    }

    fn write_video(&mut self, now: Instant, p: &VideoPacket, acc: &mut Acc) {
        let Some((mid, pt)) = self.video_tx else {
            return;
        };
        let mut payload = vec![0u8; p.bytes];
        // A VP8 payload descriptor (S bit on a frame's first packet) and a frame tag whose
        // lowest bit is clear on keyframes, so the SFU sees believable VP8.
        payload[0] = if p.keyframe_start { 0x10 } else { 0x00 };
        payload[1] = if p.keyframe_start { 0x00 } else { 0x01 };
        Probe {
            // Publishers join first, so their ids fit the probe's 16 bits.
            sender: self.id as u16,
            spurt: 1,
            frame: p.frame,
            sent_us: micros(self.epoch, Instant::now()),
            spurt_start_us: 0,
        }
        .write(&mut payload);
        self.seq[1] += 1;
        let time = (p.at_us * 90 / 1000) as u32;
        let seq = SeqNo::from(self.seq[1]);
        if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
            tx.write_rtp(
                RtpWrite::new(pt, seq, time, now, payload)
                    .marker(p.marker)
                    .nackable(true),
            );
            acc.tx_packets += 1;
        }
    }

    fn drain(&mut self, epoch: Instant, acc: &mut Acc) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => match self.socket.send_to(&t.contents, t.destination) {
                    Ok(_) => acc.datagrams_out += 1,
                    Err(_) => acc.send_errors += 1,
                },
                Ok(Output::Event(e)) => self.event(e, epoch, acc),
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }

    fn event(&mut self, e: Event, epoch: Instant, acc: &mut Acc) {
        match e {
            Event::Connected => {
                let now = Instant::now();
                if let Some(every) = self.fast_every {
                    // The handshake has exported the keys by now.
                    self.fast =
                        dtls_keys::take_keys(&self.keys).and_then(|k| FastRx::new(&k, every));
                }
                self.connected_us = Some(micros(epoch, now));
                self.connected_at = Some(now);
                // Media starts now; nothing is owed for the time spent connecting.
                match &mut self.sending {
                    Sending::Nothing => {}
                    Sending::Audio(t) => t.restart(micros(epoch, now)),
                    Sending::AudioVideo(t, v) => {
                        t.restart(micros(epoch, now));
                        v.restart(micros(epoch, now));
                    }
                }
                acc.connect_ms.push(ms(now - self.started));
            }
            Event::MediaAdded(m) => self.note_media(m.mid, m.kind, m.direction),
            Event::IceConnectionStateChange(state) => {
                self.disconnected_since = match state {
                    str0m::IceConnectionState::Disconnected => {
                        self.disconnected_since.or(Some(Instant::now()))
                    }
                    _ => None,
                };
            }
            Event::RtpPacket(p) => {
                let recv_us = micros(epoch, p.timestamp);
                let ssrc = p.header.ssrc;
                let (rtc, mids) = (&mut self.rtc, &self.mids);
                let track = self.tracks.entry(ssrc).or_insert_with(|| Track {
                    kind_audio: rtc
                        .direct_api()
                        .stream_rx(&ssrc)
                        .and_then(|s| mids.get(&s.mid()))
                        .is_some_and(|k| *k == MediaKind::Audio),
                    ..Default::default()
                });
                acc.rx_packets += 1;
                self.last_rx = Some(p.timestamp);
                acc.rx_bytes += p.payload.len() as u64;
                track.count(*p.seq_no);
                if track.kind_audio && !self.first_audio {
                    self.first_audio = true;
                    acc.join_ms
                        .push(ms(p.timestamp.saturating_duration_since(self.started)));
                }
                let Some(probe) = Probe::read(&p.payload) else {
                    acc.foreign += 1;
                    return;
                };
                record_probe(track, &probe, recv_us, self.connected_us, acc);
            }
            _ => {}
        }
    }

    /// One RTP datagram in the fast mode: counted from its plaintext header; the probe of a
    /// sample is read after decrypting it.
    fn fast_receive(&mut self, now: Instant, epoch: Instant, data: &[u8], acc: &mut Acc) {
        let Some(fast) = self.fast.as_mut() else {
            return;
        };
        let Some((h, header_len)) = fast.header(data) else {
            acc.foreign += 1;
            return;
        };
        let recv_us = micros(epoch, now);
        let audio = Some(h.pt) == self.pts.0.map(|p| *p);
        let track = self
            .tracks
            .entry(Ssrc::from(h.ssrc))
            .or_insert_with(|| Track {
                kind_audio: audio,
                ..Default::default()
            });
        acc.rx_packets += 1;
        acc.rx_bytes += h.payload_len as u64;
        self.last_rx = Some(now);
        let seq = fast_rx::extend_seq(track.ext_seq, h.seq);
        track.ext_seq = Some(track.ext_seq.map_or(seq, |s| s.max(seq)));
        track.count(seq);
        if track.kind_audio && !self.first_audio {
            self.first_audio = true;
            acc.join_ms
                .push(ms(now.saturating_duration_since(self.started)));
        }
        if !fast.sampled(track.received, h.marker || track.received == 1) {
            return;
        }
        acc.sampled += 1;
        let Some(payload) = fast.open(data, header_len, (seq >> 16) as u32) else {
            self.undecryptable += 1;
            acc.undecryptable += 1;
            return;
        };
        let Some(probe) = Probe::read(payload) else {
            acc.foreign += 1;
            return;
        };
        record_probe(track, &probe, recv_us, self.connected_us, acc);
    }

    /// A listener connected for over 2 s that has received nothing for over 2 s (DTX still
    /// sends a frame every 400 ms, so a live slot or track is never that quiet).
    pub fn starved(&self, now: Instant) -> bool {
        const QUIET: std::time::Duration = std::time::Duration::from_secs(2);
        let listening = matches!(self.sending, Sending::Nothing);
        let since = self.last_rx.or(self.connected_at);
        listening
            && self
                .connected_at
                .is_some_and(|c| now.saturating_duration_since(c) > QUIET)
            && since.is_some_and(|t| now.saturating_duration_since(t) > QUIET)
    }

    /// Moves this client's loss counts into `acc` (packets expected and received since the
    /// last call, from RTP sequence numbers).
    pub fn report_loss(&mut self, acc: &mut Acc) {
        for t in self.tracks.values_mut() {
            let Some(base) = t.base_seq else { continue };
            let expected = t.max_seq - base + 1;
            // Duplicates must not hide another track's loss.
            let received = t.received.min(expected);
            acc.expected += expected.saturating_sub(t.reported_expected);
            acc.received += received.saturating_sub(t.reported_received);
            t.reported_expected = expected;
            t.reported_received = received;
        }
    }
}

/// Switch time, replay classification and latency of one probed packet.
fn record_probe(
    track: &mut Track,
    probe: &Probe,
    recv_us: u64,
    connected_us: Option<u64>,
    acc: &mut Acc,
) {
    if track.speaker != Some(probe.sender) {
        let was_filled = track.speaker.is_some();
        track.speaker = Some(probe.sender);
        track.spurt = probe.spurt;
        track.spurt_first_recv_us = recv_us;
        // Only spurts that began while this client was already listening count as switches.
        if was_filled && probe.talking() && connected_us.is_some_and(|c| probe.spurt_start_us > c) {
            acc.switch_ms
                .push((recv_us.saturating_sub(probe.spurt_start_us)) as f64 / 1000.0);
        }
    } else if track.spurt != probe.spurt {
        track.spurt = probe.spurt;
        track.spurt_first_recv_us = recv_us;
    }
    // Packets sent a frame or more before the first of their spurt arrived here were held
    // back and replayed by the SFU when the slot switched: they measure the replay, not
    // the forwarding path.
    if probe.sent_us + 20_000 < track.spurt_first_recv_us {
        acc.replayed += 1;
        return;
    }
    acc.record_latency(recv_us.saturating_sub(probe.sent_us));
}

/// How long ICE may stay disconnected before the client counts as failed.
const DISCONNECT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// µs from `epoch` to `t`.
pub fn micros(epoch: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(epoch).as_micros() as u64
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
