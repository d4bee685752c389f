//! One stream's fan-out spread over several media cores (workers of one server).
//!
//! A stream's publishers live on its **home** worker (chosen by the shell from the stream's
//! name), which keeps everything that must happen once per stream: which publication of a
//! source is current, redundancy, recording, and the multiplexer's speaker ranking. Viewers
//! may live on any worker; a worker with viewers of a stream homed elsewhere **follows** it:
//! it tells the home ([`RelayMsg::Follow`]), and the home hands it every packet of the
//! stream's current publications (the payload shared, not copied), the sources as they go
//! live and end, the ranking every tick and the stream's viewer total. On the follower each
//! source is a *mirror* publication (a local publication fed by the relay), so its viewers
//! are served exactly like the home's: rewriting, egress, NACKs from a history of their own,
//! slots filled from the home's ranking. Keyframe requests and viewer counts go back.
//!
//! Messages are opaque to the shell ([`Relay`]): it only moves them between workers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use str0m::media::KeyframeRequestKind;

use super::forward::Packet;
use super::Sfu;
use crate::peer::InTrack;
use crate::registry::{SourceId, StreamId};
use crate::{PeerId, SourceKey};

/// The worker that is home to `stream` among `workers`: FNV-1a of the name.
pub fn home_worker(stream: &str, workers: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % workers.max(1) as u64) as usize
}

/// A message from one media core to another; the shell delivers it to worker [`Relay::to`]
/// with [`Sfu::handle_relay`].
#[derive(Debug, Clone)]
pub struct Relay {
    pub(super) to: usize,
    pub(super) msg: RelayMsg,
}

impl Relay {
    /// The worker it is for.
    pub fn to(&self) -> usize {
        self.to
    }

    /// Media (a packet or a ranking), which may be dropped under overload; the rest is
    /// control that must arrive.
    pub fn is_media(&self) -> bool {
        matches!(self.msg, RelayMsg::Packet { .. } | RelayMsg::Ranking { .. })
    }
}

/// What one publication track is, for a follower's mirror (its viewers' PT maps).
#[derive(Debug, Clone)]
pub(super) struct TrackInfo {
    pub(super) desc: crate::TrackDesc,
    pub(super) params: Vec<str0m::format::PayloadParams>,
    /// Its simulcast encodings' ids (the follower measures them itself).
    pub(super) layers: Vec<String>,
}

#[derive(Debug, Clone)]
pub(super) enum RelayMsg {
    /// Follower → home: `from` has viewers of `stream` (`slots`: some with audio slots).
    Follow {
        stream: Arc<str>,
        from: usize,
        slots: bool,
    },
    /// Follower → home: `from` has no viewer of `stream` any more.
    Unfollow { stream: Arc<str>, from: usize },
    /// Follower → home: `from` has `count` viewers of `stream`, `connected` of them up.
    Count {
        stream: Arc<str>,
        from: usize,
        count: usize,
        connected: usize,
    },
    /// Follower → home: a viewer asked for a keyframe of the source.
    Keyframe {
        stream: Arc<str>,
        source: u32,
        kind: KeyframeRequestKind,
    },
    /// Home → follower: the source's current publication (new or replaced): `source` is
    /// the home's id of it, `generation` changes with the publication.
    Source {
        stream: Arc<str>,
        source: u32,
        key: SourceKey,
        generation: u64,
        tracks: Arc<[TrackInfo]>,
    },
    /// Home → follower: the source ended.
    SourceEnded { stream: Arc<str>, source: u32 },
    /// Home → follower: a packet of the source's current publication.
    Packet {
        stream: Arc<str>,
        source: u32,
        packet: Packet,
    },
    /// Home → follower: the speaker ranking of this tick (home source ids, scores).
    Ranking {
        stream: Arc<str>,
        ranked: Arc<[(u32, f32)]>,
    },
    /// Home → follower: the stream's viewers on every other worker (`connected`: those up).
    Total {
        stream: Arc<str>,
        count: usize,
        connected: usize,
    },
}

/// The home side: who follows which stream.
#[derive(Debug, Default)]
pub(super) struct Homed {
    pub(super) streams: HashMap<Arc<str>, Followed>,
}

#[derive(Debug, Default)]
pub(super) struct Followed {
    /// Following workers, with their connected viewers and whether any has slots.
    pub(super) followers: Vec<Follower>,
    /// The generation each source was last announced with (home source id → generation).
    announced: HashMap<u32, u64>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Follower {
    pub(super) worker: usize,
    pub(super) count: usize,
    pub(super) connected: usize,
    slots: bool,
    /// What it was last told of the viewers elsewhere.
    pub(super) told: Option<(usize, usize)>,
}

/// The follower side: the mirrored streams.
#[derive(Debug, Default)]
pub(super) struct Mirrored {
    pub(super) streams: HashMap<Arc<str>, Mirror>,
    /// Streams whose home is on another node (`sfu/remote.rs`): the index the shell maps
    /// to the link with that node.
    pub(super) remote_homes: HashMap<Arc<str>, usize>,
}

#[derive(Debug, Default)]
pub(super) struct Mirror {
    /// Home source id → the mirror publication here.
    pub(super) sources: HashMap<u32, PeerId>,
    /// Whether the home was told some viewer here has slots.
    pub(super) slots: bool,
    /// The stream's viewers and connected viewers on every other worker, as the home said.
    pub(super) elsewhere: Option<(usize, usize)>,
    /// Viewers and connected viewers here, as last told to the home.
    pub(super) count_sent: (usize, usize),
}

/// A mirror publication's link to its source at the home.
#[derive(Debug, Clone)]
pub(crate) struct MirrorOf {
    pub stream: Arc<str>,
    pub source: u32,
    pub home_generation: u64,
}

impl Sfu {
    /// Messages for other workers, to be delivered with their [`Sfu::handle_relay`].
    pub fn take_relays(&mut self) -> std::vec::Drain<'_, Relay> {
        self.relays.drain(..)
    }

    fn is_home(&self, stream: &str) -> bool {
        self.home_of(stream) == self.config.worker
    }

    pub(super) fn relay(&mut self, to: usize, msg: RelayMsg) {
        self.relays.push(Relay { to, msg });
    }

    /// A message from another worker.
    pub fn handle_relay(&mut self, now: Instant, relay: Relay) {
        self.last_now = self.last_now.max(now);
        match relay.msg {
            RelayMsg::Follow {
                stream,
                from,
                slots,
            } => self.on_follow(now, stream, from, slots),
            RelayMsg::Unfollow { stream, from } => self.on_unfollow(now, &stream, from),
            RelayMsg::Count {
                stream,
                from,
                count,
                connected,
            } => {
                let followed = self.homed.streams.get_mut(&stream);
                if let Some(f) =
                    followed.and_then(|f| f.followers.iter_mut().find(|f| f.worker == from))
                {
                    f.count = count;
                    f.connected = connected;
                    if let Some(id) = self.registry.stream_id(&stream) {
                        self.viewer_counts.mark(now, id);
                    } else {
                        self.send_totals(&stream);
                    }
                }
            }
            RelayMsg::Keyframe {
                stream,
                source,
                kind,
            } => {
                let current = self
                    .registry
                    .stream_id(&stream)
                    .and_then(|id| self.registry.current(id, SourceId(source)));
                if let Some(publisher) = current {
                    self.request_keyframe(now, publisher, kind);
                }
            }
            RelayMsg::Source {
                stream,
                source,
                key,
                generation,
                tracks,
            } => self.on_mirror_source(now, stream, source, key, generation, &tracks),
            RelayMsg::SourceEnded { stream, source } => {
                let mirror = self
                    .mirrored
                    .streams
                    .get_mut(&stream)
                    .and_then(|m| m.sources.remove(&source));
                if let Some(peer) = mirror {
                    self.close_peer(now, peer);
                }
            }
            RelayMsg::Packet {
                stream,
                source,
                packet,
            } => self.on_mirror_packet(now, &stream, source, packet),
            RelayMsg::Ranking { stream, ranked } => self.on_mirror_ranking(now, &stream, &ranked),
            RelayMsg::Total {
                stream,
                count,
                connected,
            } => {
                if let Some(m) = self.mirrored.streams.get_mut(&stream) {
                    m.elsewhere = Some((count, connected));
                    if let Some(id) = self.registry.stream_id(&stream) {
                        self.announce_viewer_count(id);
                    }
                    // Workers following this one hear the new total too.
                    self.send_totals(&stream);
                }
            }
        }
        self.flush(now);
    }

    // ---- home side ----

    fn on_follow(&mut self, now: Instant, stream: Arc<str>, from: usize, slots: bool) {
        let followed = self.homed.streams.entry(stream.clone()).or_default();
        // Every source is announced again to the newcomer with its next packet.
        followed.announced.clear();
        let newly_slots = match followed.followers.iter_mut().find(|f| f.worker == from) {
            Some(f) => {
                let newly = slots && !f.slots;
                f.slots |= slots;
                newly
            }
            None => {
                followed.followers.push(Follower {
                    worker: from,
                    count: 0,
                    connected: 0,
                    slots,
                    told: None,
                });
                slots
            }
        };
        if newly_slots {
            let id = self.registry.stream_id(&stream);
            // Ranked here for the follower even with no viewer of its own.
            if let Some(id) = id {
                self.mux.set_follower(now, id, true);
            }
        }
        // The live sources at once, so the follower's viewers hear `active` as here.
        if let Some(id) = self.registry.stream_id(&stream) {
            for (_, publisher) in self.registry.live_sources(&stream) {
                let source = super::forward::publication(&self.peers, &self.locals, publisher)
                    .map(|p| p.source_id);
                if let Some(source) = source {
                    self.announce_source(&stream, id, source, publisher);
                }
            }
        }
        self.send_totals(&stream);
    }

    /// Home: a source went live; its followers hear of it at once.
    pub(super) fn relay_went_live(
        &mut self,
        stream: StreamId,
        source: SourceId,
        publisher: PeerId,
    ) {
        if let Some(name) = self.followed_name(stream) {
            self.announce_source(&name, stream, source, publisher);
        }
    }

    fn on_unfollow(&mut self, now: Instant, stream: &str, from: usize) {
        let Some(followed) = self.homed.streams.get_mut(stream) else {
            return;
        };
        let Some(i) = followed.followers.iter().position(|f| f.worker == from) else {
            return;
        };
        let gone = followed.followers.swap_remove(i);
        let empty = followed.followers.is_empty();
        if empty {
            self.homed.streams.remove(stream);
        }
        if let Some(id) = self.registry.stream_id(stream) {
            if gone.slots {
                self.mux.set_follower(now, id, false);
            }
            self.viewer_counts.mark(now, id);
        }
    }

    /// Called on the home for every packet forwarded: hands it to the followers (after
    /// announcing its publication to them if they have not heard of it).
    pub(super) fn relay_packet(&mut self, stream: StreamId, source: SourceId, pkt: &Packet) {
        if self.homed.streams.is_empty() {
            return;
        }
        let Some(name) = self.registry.stream_name(stream) else {
            return;
        };
        let Some((name, followed)) = self.homed.streams.get_key_value(name) else {
            return;
        };
        let name = name.clone();
        let generation = pkt.input.generation;
        if followed.announced.get(&source.0) != Some(&generation) {
            self.announce_source(&name, stream, source, pkt.input.from);
        }
        let Some(followed) = self.homed.streams.get(&name) else {
            return;
        };
        for f in &followed.followers {
            self.relays.push(Relay {
                to: f.worker,
                msg: RelayMsg::Packet {
                    stream: name.clone(),
                    source: source.0,
                    packet: pkt.clone(),
                },
            });
        }
    }

    fn announce_source(
        &mut self,
        name: &Arc<str>,
        stream: StreamId,
        source: SourceId,
        publisher: PeerId,
    ) {
        let Some(p) = super::forward::publication(&self.peers, &self.locals, publisher) else {
            return;
        };
        let Some(key) = self.registry.source_key(stream, source).cloned() else {
            return;
        };
        let generation = p.generation;
        let tracks: Arc<[TrackInfo]> = p
            .tracks
            .iter()
            .map(|t| TrackInfo {
                desc: t.desc.clone(),
                params: t.params.clone(),
                layers: t.layers.iter().map(|l| l.encoding_id.clone()).collect(),
            })
            .collect();
        let Some(followed) = self.homed.streams.get_mut(name) else {
            return;
        };
        followed.announced.insert(source.0, generation);
        for f in followed.followers.clone() {
            self.relay(
                f.worker,
                RelayMsg::Source {
                    stream: name.clone(),
                    source: source.0,
                    key: key.clone(),
                    generation,
                    tracks: tracks.clone(),
                },
            );
        }
    }

    /// The name of `stream` if other workers follow it from here.
    pub(super) fn followed_name(&self, stream: StreamId) -> Option<Arc<str>> {
        if self.homed.streams.is_empty() {
            return None;
        }
        let name = self.registry.stream_name(stream)?;
        Some(self.homed.streams.get_key_value(name)?.0.clone())
    }

    /// Called on the home when a source of a followed stream ends.
    pub(super) fn relay_source_ended(&mut self, name: &str, source: SourceId) {
        let Some((name, followed)) = self.homed.streams.get_key_value(name) else {
            return;
        };
        let name = name.clone();
        let workers: Vec<usize> = followed.followers.iter().map(|f| f.worker).collect();
        if let Some(f) = self.homed.streams.get_mut(&name) {
            f.announced.remove(&source.0);
        }
        for w in workers {
            self.relay(
                w,
                RelayMsg::SourceEnded {
                    stream: name.clone(),
                    source: source.0,
                },
            );
        }
    }

    /// Called on the home after each multiplexer tick: the ranking to followers with slots.
    pub(super) fn relay_rankings(&mut self) {
        if self.homed.streams.is_empty() {
            return;
        }
        let mut out = Vec::new();
        for (name, followed) in &self.homed.streams {
            if !followed.followers.iter().any(|f| f.slots) {
                continue;
            }
            let Some(id) = self.registry.stream_id(name) else {
                continue;
            };
            let ranked: Arc<[(u32, f32)]> = self
                .mux
                .ranking(id)
                .iter()
                .map(|r| (r.source.0, r.score))
                .collect();
            for f in followed.followers.iter().filter(|f| f.slots) {
                out.push(Relay {
                    to: f.worker,
                    msg: RelayMsg::Ranking {
                        stream: name.clone(),
                        ranked: ranked.clone(),
                    },
                });
            }
        }
        self.relays.extend(out);
    }

    // ---- follower side ----

    /// A viewer of `stream` joined here: if the stream's home is another worker, follow it
    /// (with `slots`, its slots are filled from the home's ranking from now on).
    pub(super) fn follow_if_remote(
        &mut self,
        now: Instant,
        id: StreamId,
        stream: &str,
        slots: bool,
    ) {
        if self.is_home(stream) {
            return;
        }
        if slots {
            self.mux.set_external_ranking(now, id, std::iter::empty());
        }
        let home = self.home_of(stream);
        let worker = self.config.worker;
        let (name, newly) = match self.mirrored.streams.get_shared_key_mut(stream) {
            Some((name, m)) => {
                let newly = slots && !m.slots;
                m.slots |= slots;
                (name, newly)
            }
            None => {
                let name: Arc<str> = Arc::from(stream);
                self.mirrored.streams.insert(
                    name.clone(),
                    Mirror {
                        slots,
                        ..Mirror::default()
                    },
                );
                (name, true)
            }
        };
        if newly {
            self.relay(
                home,
                RelayMsg::Follow {
                    stream: name,
                    from: worker,
                    slots,
                },
            );
        }
    }

    /// The name of `stream` if it is followed here (a mirror of another worker's).
    pub(super) fn mirrored_name(&self, stream: StreamId) -> Option<Arc<str>> {
        if self.mirrored.streams.is_empty() {
            return None;
        }
        let name = self.registry.stream_name(stream)?;
        Some(self.mirrored.streams.get_key_value(name)?.0.clone())
    }

    /// A viewer of the mirrored stream `name` left here: with none left, stop following
    /// (its mirrors close).
    pub(super) fn unfollow_if_unused(&mut self, now: Instant, name: &str) {
        let viewers = self
            .registry
            .stream_id(name)
            .map_or(0, |id| self.registry.viewers(id).len());
        if viewers > 0 {
            return;
        }
        let Some((name, mirror)) = self.mirrored.streams.remove_entry(name) else {
            return;
        };
        let home = self.home_of(&name);
        for peer in mirror.sources.into_values() {
            self.close_peer(now, peer);
        }
        let from = self.config.worker;
        self.relay(home, RelayMsg::Unfollow { stream: name, from });
    }

    fn on_mirror_source(
        &mut self,
        now: Instant,
        stream: Arc<str>,
        source: u32,
        key: SourceKey,
        home_generation: u64,
        tracks: &[TrackInfo],
    ) {
        let Some(mirror) = self.mirrored.streams.get(&stream) else {
            return;
        };
        if let Some(&peer) = mirror.sources.get(&source) {
            let generation = self.bump_generation();
            if let Some(local) = self.locals.get_mut(&peer) {
                let same =
                    local.mirror.as_ref().map(|m| m.home_generation) == Some(home_generation);
                if !same {
                    // Another publication took over at the home: a new input for viewers.
                    local.publication.generation = generation;
                    local.publication.tracks = in_tracks(tracks);
                    if let Some(m) = local.mirror.as_mut() {
                        m.home_generation = home_generation;
                    }
                    self.ask_home_for_keyframe(&stream, source, tracks);
                }
                return;
            }
        }
        let mirror = MirrorOf {
            stream: stream.clone(),
            source,
            home_generation,
        };
        let id = self.add_local(now, &stream, &key, None, in_tracks(tracks), Some(mirror));
        if let Some(m) = self.mirrored.streams.get_mut(&stream) {
            m.sources.insert(source, id);
        }
        self.ask_home_for_keyframe(&stream, source, tracks);
    }

    fn on_mirror_packet(&mut self, now: Instant, stream: &str, source: u32, mut pkt: Packet) {
        let Some(&peer) = self
            .mirrored
            .streams
            .get(stream)
            .and_then(|m| m.sources.get(&source))
        else {
            return;
        };
        let Some(local) = self.locals.get_mut(&peer) else {
            return;
        };
        let track_idx = pkt.input.track_idx;
        let Some(track) = local.publication.tracks.get_mut(track_idx) else {
            return;
        };
        self.counters.rtp_relayed_in += 1;
        pkt.input.from = peer;
        pkt.input.generation = local.publication.generation;
        if let Some(history) = track.history.as_deref_mut() {
            history.push(pkt.kept());
        }
        track.observe(now, pkt.layer, &pkt.payload, pkt.keyframe, pkt.pt);
        let publication = &mut local.publication;
        let (stream_id, source_id) = (local.stream, publication.source_id);
        let first = !std::mem::replace(&mut publication.flowing, true);
        publication.last_packet_at = now;
        let resumed = std::mem::take(&mut publication.stalled);
        if !self.is_current(now, (stream_id, source_id), peer, first, resumed) {
            return;
        }
        self.forward(now, stream_id, source_id, pkt);
    }

    fn on_mirror_ranking(&mut self, now: Instant, stream: &str, ranked: &[(u32, f32)]) {
        let Some(m) = self.mirrored.streams.get(stream) else {
            return;
        };
        let Some(id) = self.registry.stream_id(stream) else {
            return;
        };
        let mut mapped = Vec::with_capacity(ranked.len());
        for &(home_source, score) in ranked {
            let Some(local) = m.sources.get(&home_source).and_then(|p| self.locals.get(p)) else {
                continue;
            };
            let source = local.publication.source_id;
            mapped.push((source, local.publication.source.clone(), score));
        }
        self.mux.set_external_ranking(now, id, mapped.into_iter());
    }

    /// A keyframe request for a mirror publication goes to the home.
    pub(super) fn relay_keyframe_request(&mut self, mirror: &MirrorOf, kind: KeyframeRequestKind) {
        let home = self.home_of(&mirror.stream);
        self.relay(
            home,
            RelayMsg::Keyframe {
                stream: mirror.stream.clone(),
                source: mirror.source,
                kind,
            },
        );
    }
}

fn in_tracks(tracks: &[TrackInfo]) -> Vec<InTrack> {
    tracks
        .iter()
        .map(|t| {
            let mut track = InTrack::new(
                str0m::media::Mid::from(t.desc.track_id.as_str()),
                t.desc.clone(),
                t.params.clone(),
            );
            track.layers = t
                .layers
                .iter()
                .map(|id| crate::simulcast::InLayer::new(id.clone(), None, None))
                .collect();
            track
        })
        .collect()
}

/// `HashMap<Arc<str>, V>::get_key_value` returning the key cloned and the value mutably.
pub(super) trait SharedKeyMut<V> {
    fn get_shared_key_mut(&mut self, k: &str) -> Option<(Arc<str>, &mut V)>;
}

impl<V> SharedKeyMut<V> for HashMap<Arc<str>, V> {
    fn get_shared_key_mut(&mut self, k: &str) -> Option<(Arc<str>, &mut V)> {
        let key = self.get_key_value(k)?.0.clone();
        self.get_mut(k).map(|v| (key, v))
    }
}
