//! A simulated network: the SFU and str0m clients exchange datagrams in memory while a
//! virtual clock advances in fixed steps, so minutes of media run in milliseconds.
//! Used by the media core's scenario tests and benchmarks.
#![allow(clippy::disallowed_methods)] // the simulated clock starts from one real Instant
#![allow(missing_docs)]

pub mod cluster;
pub mod hostile;
pub mod projection;
pub mod srtp;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use podium_media::{
    Accepted, MediaEvent, Output, PeerId, PublishParams, Sfu, SfuConfig, ViewParams,
};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Rtc, RtcConfig};

pub const STEP: Duration = Duration::from_millis(5);

/// What a viewer client saw of one RTP packet.
#[derive(Debug, Clone)]
pub struct Seen {
    pub mid: Mid,
    pub ssrc: u32,
    pub seq: u64,
    pub ts: u32,
    pub marker: bool,
    pub audio_level: Option<i8>,
    pub payload: Vec<u8>,
}

pub struct Client {
    pub rtc: Rtc,
    pub addr: SocketAddr,
    /// The media worker (SFU) it talks to: 0 is [`Net::sfu`], others [`Net::extra`].
    pub worker: usize,
    pub peer: PeerId,
    pub mids: Vec<(Mid, MediaKind)>,
    pub seen: Vec<Seen>,
    pub keyframe_requests: Vec<KeyframeRequestKind>,
    pub connected: bool,
    /// The SDP answer the SFU gave.
    pub answer: String,
    /// While false the client neither sends nor receives (a vanished browser).
    pub online: bool,
    /// The SRTP profile its DTLS handshake settled on, and its sending keys.
    pub srtp: srtp::SrtpLog,
    /// Datagrams the SFU sent it (delivered while online).
    pub datagrams_in: u64,
    /// Protects the hand-built packets of [`Net::send_raw_rtp`] and [`Net::send_raw_rtcp`].
    raw: Option<srtp::SrtpSender>,
    next_timeout: Instant,
    seq: [u64; 2],
    /// Per simulcast rid: the last sequence number sent.
    layer_seq: std::collections::HashMap<String, u64>,
}

impl Client {
    fn pt(&self, codec: Codec) -> Pt {
        self.rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec == codec)
            .expect("codec configured")
            .pt()
    }

    fn mid(&self, kind: MediaKind) -> Mid {
        self.mids
            .iter()
            .find(|(_, k)| *k == kind)
            .expect("has kind")
            .0
    }

    /// Sends one packet per kind with a payload `[tag, counter…]` and audio level `level`.
    pub fn send(&mut self, now: Instant, kind: MediaKind, tag: u8, level: Option<i8>) {
        let (codec, clock_step, counter) = match kind {
            MediaKind::Audio => (Codec::Opus, 960, 0),
            MediaKind::Video => (Codec::Vp8, 3000, 1),
        };
        self.seq[counter] += 1;
        let n = self.seq[counter];
        let pt = self.pt(codec);
        let mid = self.mid(kind);
        let seq = n + 1000 * u64::from(tag);
        let ext = ExtensionValues {
            audio_level: level,
            voice_activity: level.map(|l| l > -127),
            ..Default::default()
        };
        let mut payload = vec![tag];
        payload.extend_from_slice(&n.to_be_bytes());
        let time = (n * clock_step + 77_777 * u64::from(tag)) as u32;
        let mut api = self.rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).expect("send stream");
        tx.write_rtp(
            RtpWrite::new(pt, SeqNo::from(seq), time, now, payload)
                .marker(kind == MediaKind::Video)
                .ext_vals(ext)
                .nackable(kind == MediaKind::Video),
        );
    }

    /// Packets seen on the m-line of `kind`.
    pub fn seen(&self, kind: MediaKind) -> Vec<Seen> {
        let mid = self.mid(kind);
        self.seen.iter().filter(|s| s.mid == mid).cloned().collect()
    }
}

/// A fresh client before the SFU answers: its `Rtc`, offer, pending offer, mids, address and
/// SRTP key log.
pub(crate) type NewClient = (
    Rtc,
    String,
    SdpPendingOffer,
    Vec<(Mid, MediaKind)>,
    SocketAddr,
    srtp::SrtpLog,
);

pub struct Net {
    pub now: Instant,
    /// Worker 0.
    pub sfu: Sfu,
    pub sfu_addr: SocketAddr,
    /// Workers 1.. of a net of several media workers ([`Net::with_workers`]), each with its
    /// address; relay messages move between them like datagrams.
    pub extra: Vec<(Sfu, SocketAddr)>,
    /// Events of workers 1.. (peer ids are per worker), with the worker.
    pub extra_events: Vec<(usize, MediaEvent)>,
    pub clients: Vec<Client>,
    pub events: Vec<MediaEvent>,
    bench_steps: u64,
    /// With `Some(w)`, the workers are nodes of `w` workers of a cluster ([`Net::cluster_of`]):
    /// relay messages between nodes cross as bytes.
    cluster: Option<usize>,
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

impl Net {
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    /// A net of `n` media workers (SFUs) of one server, as `--media-workers n` runs them:
    /// publishers go to the stream's home worker, viewers where the test puts them.
    pub fn with_workers(n: usize) -> Self {
        Self::with_workers_config(n, |_| {})
    }

    /// Like [`Net::with_workers`], every worker's config adjusted by `tune`.
    pub fn with_workers_config(n: usize, tune: impl Fn(&mut SfuConfig)) -> Self {
        let mut net = Self::with_config(|c| {
            tune(c);
            c.worker = 0;
            c.workers = n;
        });
        for w in 1..n {
            let addr = SocketAddr::new(net.sfu_addr.ip(), net.sfu_addr.port() + w as u16);
            let mut cfg = SfuConfig::new(addr);
            tune(&mut cfg);
            cfg.worker = w;
            cfg.workers = n;
            net.extra.push((Sfu::new(cfg, net.now), addr));
        }
        net
    }

    /// Worker `w`'s SFU.
    pub fn worker(&mut self, w: usize) -> &mut Sfu {
        match w {
            0 => &mut self.sfu,
            w => &mut self.extra[w - 1].0,
        }
    }

    fn worker_addr(&self, w: usize) -> SocketAddr {
        match w {
            0 => self.sfu_addr,
            w => self.extra[w - 1].1,
        }
    }

    /// Hands a client's datagram to the worker it talks to.
    pub(crate) fn receive(&mut self, source: SocketAddr, data: &[u8]) {
        let w = if self.extra.is_empty() {
            0
        } else {
            self.clients
                .iter()
                .find(|c| c.addr == source)
                .map_or(0, |c| c.worker)
        };
        let (now, to) = (self.now, self.worker_addr(w));
        self.worker(w).handle_receive(now, source, to, data);
    }

    /// A net whose SFU config is adjusted by `tune`.
    pub fn with_config(tune: impl FnOnce(&mut SfuConfig)) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let now = Instant::now();
        let sfu_addr: SocketAddr = "10.0.0.1:5004".parse().unwrap();
        Self {
            now,
            sfu: Sfu::new(
                {
                    let mut cfg = SfuConfig::new(sfu_addr);
                    tune(&mut cfg);
                    cfg
                },
                now,
            ),
            sfu_addr,
            extra: Vec::new(),
            extra_events: Vec::new(),
            clients: Vec::new(),
            events: Vec::new(),
            bench_steps: 0,
            cluster: None,
        }
    }

    fn new_client(&mut self, kinds: &[(MediaKind, Direction)]) -> NewClient {
        self.new_client_with(|api| {
            kinds
                .iter()
                .map(|(k, d)| (api.add_media(*k, *d, None, None, None), *k))
                .collect()
        })
    }

    /// A client whose offer `media` adds its m-lines to.
    pub(crate) fn new_client_with(
        &mut self,
        media: impl FnOnce(&mut str0m::change::SdpApi) -> Vec<(Mid, MediaKind)>,
    ) -> NewClient {
        // 10.0.1.1, 10.0.1.2, … and on into 10.0.2.x for nets of more than 254 clients.
        let base = u32::from(std::net::Ipv4Addr::new(10, 0, 1, 0));
        let ip = std::net::Ipv4Addr::from(base + self.clients.len() as u32 + 1);
        let addr = SocketAddr::from((ip, 4000));
        let (provider, srtp) = srtp::spied_provider();
        let mut rtc = RtcConfig::new()
            .set_rtp_mode(true)
            .set_crypto_provider(provider)
            .build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mids = media(&mut api);
        let (offer, pending) = api.apply().expect("offer");
        (rtc, offer.to_sdp_string(), pending, mids, addr, srtp)
    }

    fn add_client(
        &mut self,
        (mut rtc, pending, mids, addr, srtp): (
            Rtc,
            SdpPendingOffer,
            Vec<(Mid, MediaKind)>,
            SocketAddr,
            srtp::SrtpLog,
        ),
        accepted: Accepted,
        worker: usize,
    ) -> usize {
        let answer = SdpAnswer::from_sdp_string(&accepted.answer).expect("answer parses");
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
        self.clients.push(Client {
            rtc,
            addr,
            worker,
            peer: accepted.peer,
            mids,
            seen: Vec::new(),
            keyframe_requests: Vec::new(),
            connected: false,
            answer: accepted.answer.clone(),
            online: true,
            srtp,
            datagrams_in: 0,
            raw: None,
            next_timeout: self.now,
            seq: [0; 2],
            layer_seq: Default::default(),
        });
        self.clients.len() - 1
    }

    /// A publisher of audio+video (`video`) or audio only.
    pub fn publish(&mut self, stream: &str, source: Option<&str>, video: bool) -> usize {
        let mut kinds = vec![(MediaKind::Audio, Direction::SendOnly)];
        if video {
            kinds.push((MediaKind::Video, Direction::SendOnly));
        }
        let client = self.new_client(&kinds);
        self.publish_client(stream, source, client)
    }

    /// Publishes `client`'s offer as `source` of `stream` on the stream's home worker.
    pub(crate) fn publish_client(
        &mut self,
        stream: &str,
        source: Option<&str>,
        client: NewClient,
    ) -> usize {
        let worker = podium_media::home_worker(stream, self.extra.len() + 1);
        self.publish_client_on(worker, stream, source, client)
    }

    /// Publishes `client`'s offer as `source` of `stream` on worker (or node) `worker`.
    pub(crate) fn publish_client_on(
        &mut self,
        worker: usize,
        stream: &str,
        source: Option<&str>,
        (rtc, offer, pending, mids, addr, srtp): NewClient,
    ) -> usize {
        let now = self.now;
        let accepted = self
            .worker(worker)
            .publish(
                now,
                PublishParams {
                    stream: stream.into(),
                    source: source.map(Into::into),
                    offer,
                    codec: None,
                    priority: None,
                },
            )
            .expect("publish accepted");
        self.add_client((rtc, pending, mids, addr, srtp), accepted, worker)
    }

    /// A viewer with the default video+audio transceivers.
    pub fn view(&mut self, stream: &str, pinned: Option<&str>) -> usize {
        self.view_with_slots(stream, pinned, 0, &[])
    }

    /// A viewer with the default transceivers plus `slots` multiplexed audio m-lines.
    pub fn view_with_slots(
        &mut self,
        stream: &str,
        pinned: Option<&str>,
        slots: usize,
        excluded: &[&str],
    ) -> usize {
        self.view_inner(0, stream, pinned, true, slots, excluded)
    }

    /// A viewer (video, audio and `slots` audio slots) on media worker `worker`.
    pub fn view_at(&mut self, worker: usize, stream: &str, slots: usize) -> usize {
        self.view_inner(worker, stream, None, true, slots, &[])
    }

    /// An audio-only listener (the Rooms app's audience with video off): the default audio
    /// transceiver plus `slots` multiplexed audio m-lines, no video m-line.
    pub fn listen(
        &mut self,
        stream: &str,
        pinned: Option<&str>,
        slots: usize,
        excluded: &[&str],
    ) -> usize {
        self.view_inner(0, stream, pinned, false, slots, excluded)
    }

    /// An audio-only listener with `slots` slots on media worker `worker`.
    pub fn listen_at(&mut self, worker: usize, stream: &str, slots: usize) -> usize {
        self.view_inner(worker, stream, None, false, slots, &[])
    }

    fn view_inner(
        &mut self,
        worker: usize,
        stream: &str,
        pinned: Option<&str>,
        video: bool,
        slots: usize,
        excluded: &[&str],
    ) -> usize {
        let mut kinds = Vec::with_capacity(slots + 2);
        if video {
            kinds.push((MediaKind::Video, Direction::RecvOnly));
        }
        kinds.push((MediaKind::Audio, Direction::RecvOnly));
        kinds.extend(std::iter::repeat_n(
            (MediaKind::Audio, Direction::RecvOnly),
            slots,
        ));
        let client = self.new_client(&kinds);
        self.view_client(worker, client, |offer| ViewParams {
            stream: stream.into(),
            pinned: pinned.map(Into::into),
            offer,
            excluded: excluded.iter().map(|s| s.to_string()).collect(),
            max_slots: slots,
        })
    }

    /// Views on `worker` with `client`'s offer and the parameters `params` makes of it.
    pub(crate) fn view_client(
        &mut self,
        worker: usize,
        (rtc, offer, pending, mids, addr, srtp): NewClient,
        params: impl FnOnce(String) -> ViewParams,
    ) -> usize {
        let now = self.now;
        let accepted = self
            .worker(worker)
            .view(now, params(offer))
            .expect("view accepted");
        self.add_client((rtc, pending, mids, addr, srtp), accepted, worker)
    }

    /// Moves every pending datagram and event, then advances the clock by one step.
    pub fn step(&mut self) {
        for _ in 0..50 {
            if !self.exchange() {
                break;
            }
        }
        self.now += STEP;
        for w in 0..=self.extra.len() {
            let now = self.now;
            self.worker(w).handle_timeout(now);
        }
        for c in &mut self.clients {
            if c.online && c.next_timeout <= self.now {
                c.rtc
                    .handle_input(Input::Timeout(self.now))
                    .expect("client timeout");
            }
        }
        let mut to_sfu = Vec::new();
        for i in 0..self.clients.len() {
            if self.clients[i].online {
                self.drain_client(i, &mut to_sfu);
            }
        }
        for (source, data) in to_sfu {
            self.receive(source, &data);
        }
    }

    /// Runs `steps` steps.
    pub fn run(&mut self, duration: Duration) {
        let steps = duration.as_millis() / STEP.as_millis();
        for _ in 0..steps {
            self.step();
        }
    }

    /// Runs until every client is connected (panics after 5 simulated seconds).
    pub fn connect_all(&mut self) {
        for _ in 0..1000 {
            if self.clients.iter().all(|c| c.connected || !c.online) {
                // A little more so the SFU side has seen DTLS complete too.
                self.run(Duration::from_millis(100));
                return;
            }
            self.step();
        }
        panic!("clients did not connect");
    }

    /// One round of moving output; true if anything moved. str0m requires draining an
    /// `Rtc` after every input, so each delivery is followed by a drain.
    fn exchange(&mut self) -> bool {
        let mut moved = false;
        let mut to_sfu = Vec::new();
        for w in 0..=self.extra.len() {
            moved |= self.exchange_worker(w, &mut to_sfu);
        }
        // Relay messages between workers, delivered like datagrams.
        let mut relays = Vec::new();
        for w in 0..=self.extra.len() {
            let taken: Vec<_> = self.worker(w).take_relays().collect();
            relays.extend(taken.into_iter().map(|r| (w, r)));
        }
        moved |= !relays.is_empty();
        for (from, r) in relays {
            let now = self.now;
            if self.cluster.is_some() {
                self.deliver_between_nodes(from, r);
            } else {
                self.worker(r.to()).handle_relay(now, r);
            }
        }
        for i in 0..self.clients.len() {
            if self.clients[i].online {
                self.drain_client(i, &mut to_sfu);
            }
        }
        moved |= !to_sfu.is_empty();
        for (source, data) in to_sfu {
            self.receive(source, &data);
        }
        moved
    }

    /// Moves worker `w`'s output to the clients; true if anything moved.
    fn exchange_worker(&mut self, w: usize, to_sfu: &mut Vec<(SocketAddr, Vec<u8>)>) -> bool {
        let mut moved = false;
        let mut immediate = 0;
        loop {
            match self.worker(w).poll_output() {
                Output::Transmit(t) => {
                    moved = true;
                    let now = self.now;
                    let Some(i) = self
                        .clients
                        .iter()
                        .position(|c| c.addr == t.destination && c.online)
                    else {
                        continue;
                    };
                    self.deliver(i, now, &t, to_sfu);
                }
                Output::Event(e) if w == 0 => {
                    moved = true;
                    self.events.push(e);
                }
                Output::Event(e) => {
                    moved = true;
                    self.extra_events.push((w, e));
                }
                // A deadline already due (str0m asks for an immediate timer after writes, and
                // the real shell's timer fires at once) is run now, as the shell would.
                Output::Timeout(at) if at <= self.now && immediate < 10 => {
                    immediate += 1;
                    let now = self.now;
                    self.worker(w).handle_timeout(now);
                }
                Output::Timeout(_) => break,
            }
        }
        moved
    }

    /// Drains client `idx` and delivers what it sent to the SFU now.
    fn flush_client(&mut self, idx: usize) {
        let mut to_sfu = Vec::new();
        self.drain_client(idx, &mut to_sfu);
        for (source, data) in to_sfu {
            self.receive(source, &data);
        }
    }

    /// Hands one SFU datagram to client `i` and drains it (str0m wants a drain per input).
    fn deliver(
        &mut self,
        i: usize,
        now: Instant,
        t: &podium_media::Transmit,
        to_sfu: &mut Vec<(SocketAddr, Vec<u8>)>,
    ) {
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: t.source,
                destination: t.destination,
                contents: (&*t.contents).try_into().expect("datagram"),
            },
        );
        self.clients[i].datagrams_in += 1;
        self.clients[i]
            .rtc
            .handle_input(input)
            .expect("client input");
        self.drain_client(i, to_sfu);
    }

    fn drain_client(&mut self, i: usize, to_sfu: &mut Vec<(SocketAddr, Vec<u8>)>) {
        let c = &mut self.clients[i];
        loop {
            match c.rtc.poll_output().expect("client poll") {
                str0m::Output::Timeout(t) => {
                    c.next_timeout = t;
                    return;
                }
                str0m::Output::Transmit(t) => to_sfu.push((t.source, t.contents.to_vec())),
                str0m::Output::Event(e) => match e {
                    Event::Connected => c.connected = true,
                    Event::RtpPacket(p) => {
                        let mid = c
                            .rtc
                            .direct_api()
                            .stream_rx(&p.header.ssrc)
                            .map(|s| s.mid());
                        if let Some(mid) = mid {
                            c.seen.push(Seen {
                                mid,
                                ssrc: *p.header.ssrc,
                                seq: *p.seq_no,
                                ts: p.header.timestamp,
                                marker: p.header.marker,
                                audio_level: p.header.ext_vals.audio_level,
                                payload: p.payload.to_vec(),
                            });
                        }
                    }
                    Event::KeyframeRequest(r) => c.keyframe_requests.push(r.kind),
                    _ => {}
                },
            }
        }
    }

    /// Events addressed to client `idx`, on whichever worker it is.
    pub fn events_of(&self, idx: usize) -> Vec<MediaEvent> {
        let c = &self.clients[idx];
        if c.worker == 0 {
            return self.events_for(c.peer);
        }
        self.extra_events
            .iter()
            .filter(|(w, e)| *w == c.worker && e.recipient() == c.peer)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Events addressed to `peer` (of worker 0).
    pub fn events_for(&self, peer: PeerId) -> Vec<MediaEvent> {
        self.events
            .iter()
            .filter(|e| e.recipient() == peer)
            .cloned()
            .collect()
    }

    /// One 20 ms audio tick: `plan(i)` says what publisher `i` sends: `Some(Some(level))`
    /// a speech packet, `Some(None)` a silent packet (level −127, V=0), `None` nothing (DTX).
    pub fn audio_tick(&mut self, pubs: &[usize], plan: impl Fn(usize) -> Option<Option<i8>>) {
        for (i, &idx) in pubs.iter().enumerate() {
            let Some(level) = plan(i) else { continue };
            let now = self.now;
            let c = &mut self.clients[idx];
            if !c.online {
                continue;
            }
            c.send(
                now,
                MediaKind::Audio,
                idx as u8,
                Some(level.unwrap_or(-127)),
            );
            self.flush_client(idx);
        }
        self.run(Duration::from_millis(20));
    }

    /// One 20 ms step in which only client `idx` sends an audio packet at `level` and only
    /// the SFU runs: what the SFU sends is counted and discarded. Once a simulated second the
    /// other clients run a normal step, so their ICE consent keeps the SFU's peers alive.
    /// Returns the number of datagrams the SFU sent. For benchmarks that time the SFU alone.
    pub fn sfu_only_audio_step(&mut self, idx: usize, level: i8) -> usize {
        let datagrams = self.bench_client_send(idx, level);
        self.bench_sfu_input(idx, &datagrams)
    }

    /// First half of [`Net::sfu_only_audio_step`]: advances the clock 20 ms (running a full
    /// step once a simulated second) and returns the datagrams client `idx` sends for one
    /// audio packet at `level`.
    pub fn bench_client_send(&mut self, idx: usize, level: i8) -> Vec<(SocketAddr, Vec<u8>)> {
        self.bench_client(idx, |c, now| {
            c.send(now, MediaKind::Audio, idx as u8, Some(level))
        })
    }

    /// Advances the clock 20 ms (a full step once a simulated second), lets client `idx`
    /// `send`, and returns its datagrams.
    fn bench_client(
        &mut self,
        idx: usize,
        send: impl FnOnce(&mut Client, Instant),
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        self.bench_steps += 1;
        if self.bench_steps.is_multiple_of(50) {
            self.step();
        }
        self.now += Duration::from_millis(20);
        let now = self.now;
        let c = &mut self.clients[idx];
        send(c, now);
        c.rtc
            .handle_input(Input::Timeout(now))
            .expect("client timeout");
        let mut datagrams = Vec::new();
        self.drain_client(idx, &mut datagrams);
        datagrams
    }

    /// As [`Net::bench_client_send`] for one video frame (one packet) tagged `tag`.
    pub fn bench_client_send_frame(
        &mut self,
        idx: usize,
        tag: u8,
        keyframe: bool,
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        self.bench_client(idx, |c, now| c.send_frame(now, tag, keyframe))
    }

    /// Second half of [`Net::sfu_only_audio_step`]: the SFU alone receives `datagrams` from
    /// client `idx`, runs its timers and is drained; returns the number of datagrams it sent
    /// to others (discarded).
    pub fn bench_sfu_input(&mut self, idx: usize, datagrams: &[(SocketAddr, Vec<u8>)]) -> usize {
        let now = self.now;
        for (source, data) in datagrams {
            self.sfu.handle_receive(now, *source, self.sfu_addr, data);
        }
        self.sfu.handle_timeout(now);
        let sender = self.clients[idx].addr;
        let mut sent = 0;
        loop {
            match self.sfu.poll_output() {
                // The sender's own traffic (STUN answers, RTCP) is delivered so it stays up.
                Output::Transmit(t) if t.destination == sender => {
                    let mut back = Vec::new();
                    self.deliver(idx, now, &t, &mut back);
                    for (source, data) in back {
                        self.sfu.handle_receive(now, source, self.sfu_addr, &data);
                    }
                }
                Output::Transmit(_) => sent += 1,
                Output::Event(e) => self.events.push(e),
                Output::Timeout(_) => return sent,
            }
        }
    }

    /// The mids of a viewer's slot m-lines (the audio m-lines after the first).
    pub fn slot_mids(&self, viewer: usize) -> Vec<Mid> {
        self.clients[viewer]
            .mids
            .iter()
            .filter(|(_, k)| *k == MediaKind::Audio)
            .skip(1)
            .map(|(m, _)| *m)
            .collect()
    }

    /// Turns of speech: in each turn the publishers of `pubs` whose index is in the turn's
    /// range talk (level -25 dBov, voice) for `ticks` audio ticks, the others send silence.
    pub fn speak_in_turns(
        &mut self,
        pubs: &[usize],
        turns: &[std::ops::Range<usize>],
        ticks: usize,
    ) {
        for talkers in turns {
            for _ in 0..ticks {
                self.audio_tick(pubs, |i| {
                    if talkers.contains(&i) {
                        Some(Some(-25))
                    } else {
                        Some(None)
                    }
                });
            }
        }
    }

    /// A viewer's `vad` events so far: (slot index, the source it now carries).
    pub fn vad_slots(&self, viewer: usize) -> Vec<(usize, Option<podium_media::SourceKey>)> {
        let slots = self.slot_mids(viewer);
        self.events_of(viewer)
            .into_iter()
            .filter_map(|e| match e {
                MediaEvent::SlotChanged { mid, source, .. } => {
                    let slot = slots.iter().position(|m| **m == *mid)?;
                    Some((slot, source))
                }
                _ => None,
            })
            .collect()
    }

    /// Every publisher in `pubs` sends one audio packet (and video when it has video), then
    /// the clock advances 20 ms; repeated `n` times.
    pub fn talk(&mut self, pubs: &[(usize, u8)], n: usize) {
        for _ in 0..n {
            for &(idx, tag) in pubs {
                let now = self.now;
                let c = &mut self.clients[idx];
                if !c.online {
                    continue;
                }
                c.send(now, MediaKind::Audio, tag, Some(-30));
                if c.mids.iter().any(|(_, k)| *k == MediaKind::Video) {
                    c.send(now, MediaKind::Video, tag, None);
                }
                self.flush_client(idx);
            }
            self.run(Duration::from_millis(20));
        }
    }
}
