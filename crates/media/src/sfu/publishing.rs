//! Publications in: WebRTC publish offers, local publications (RTMP ingest, mirrors of
//! sources homed on another worker), their registration and announcement.

use std::time::Instant;

use super::{relay, Sfu};
use crate::peer::{self, CodecChoice, InTrack, LocalPeer, LocalPosition, Publication, Role, Side};
use crate::registry::Added;
use crate::{
    Accepted, LocalPublishParams, MediaError, MediaEvent, PeerId, PublishParams, SourceKey,
};

impl Sfu {
    /// Accepts a publish offer. The source goes live for viewers at once; if it was already
    /// live, the new publication takes over as soon as its media flows (with priorities:
    /// while it is the highest-ranked one sending, see `redundancy.rs`).
    pub fn publish(&mut self, now: Instant, p: PublishParams) -> Result<Accepted, MediaError> {
        self.last_now = self.last_now.max(now);
        self.check_source_limit(&p.stream, &p.source)?;
        let choice = match &p.codec {
            Some(name) => CodecChoice::Only(peer::parse_codec(name)?),
            None => CodecChoice::All,
        };
        let (rtc, answer, keys) =
            peer::accept_offer(now, &self.local, &p.offer, choice, Side::Publisher)?;
        let mut tracks = peer::publication_tracks(&rtc, &peer::offer_mids(&p.offer));
        for (mid, layers) in crate::simulcast::offered_layers(&p.offer) {
            if let Some(t) = tracks
                .iter_mut()
                .find(|t| *t.mid == *mid && t.kind == crate::Kind::Video)
            {
                t.layers = layers;
            }
        }
        if tracks.is_empty() {
            return Err(MediaError::NoUsableMedia(
                "a publish offer needs a sendonly audio or video m-line with a supported codec",
            ));
        }
        let (id, added, publication) =
            self.register_publication(now, &p.stream, &p.source, p.priority, tracks);
        self.insert_peer(
            now,
            id,
            (rtc, keys),
            added.stream,
            Role::Publisher(publication),
        );
        self.announce_publication(id, added, &p.source);
        Ok(Accepted { peer: id, answer })
    }

    /// Registers a local publication: a source whose media is produced in-process (an RTMP
    /// ingest converted to RTP payloads) and handed in with [`Sfu::push_local`]. It takes
    /// part in the stream exactly like a WebRTC publication (`SourceActive`, replacement once
    /// its media flows, multisource, the sources limit, counts), but has no connection:
    /// it never times out and lives until [`Sfu::close_peer`]. Keyframe requests for it
    /// come out as [`MediaEvent::KeyframeRequested`].
    pub fn publish_local(
        &mut self,
        now: Instant,
        p: LocalPublishParams,
    ) -> Result<PeerId, MediaError> {
        self.last_now = self.last_now.max(now);
        self.check_source_limit(&p.stream, &p.source)?;
        let tracks = peer::local_tracks(&p.tracks)?;
        if tracks.is_empty() {
            return Err(MediaError::NoUsableMedia(
                "a local publication needs an audio or video track",
            ));
        }
        Ok(self.add_local(now, &p.stream, &p.source, p.priority, tracks, None))
    }

    /// Registers and announces a local publication (an ingest's, or a mirror of a source
    /// homed on another worker).
    pub(super) fn add_local(
        &mut self,
        now: Instant,
        stream: &str,
        source: &SourceKey,
        priority: Option<i32>,
        tracks: Vec<InTrack>,
        mirror: Option<relay::MirrorOf>,
    ) -> PeerId {
        let positions = vec![LocalPosition::default(); tracks.len()];
        let (id, added, publication) =
            self.register_publication(now, stream, source, priority, tracks);
        self.locals.insert(
            id,
            Box::new(LocalPeer {
                stream: added.stream,
                publication,
                positions,
                mirror,
            }),
        );
        self.announce_publication(id, added, source);
        id
    }

    /// A new publication of `source` in the registry, WebRTC or local alike: its peer id,
    /// where the registry put it, and its record (not flowing yet).
    fn register_publication(
        &mut self,
        now: Instant,
        stream: &str,
        source: &SourceKey,
        priority: Option<i32>,
        tracks: Vec<InTrack>,
    ) -> (PeerId, Added, Publication) {
        let generation = self.bump_generation();
        let id = self.next_peer_id();
        let added = self.registry.add_publication(stream, source, id);
        self.redundancy_registered(now, (added.stream, added.source), priority);
        let publication = Publication {
            source: source.clone(),
            source_id: added.source,
            generation,
            tracks,
            ssrcs: Vec::new(),
            flowing: false,
            last_keyframe_request: None,
            priority,
            flow_order: 0,
            last_packet_at: now,
            stalled: false,
            recording: false,
        };
        (id, added, publication)
    }

    fn check_source_limit(&self, stream: &str, source: &SourceKey) -> Result<(), MediaError> {
        if let Some(max) = self.config.max_sources_per_stream {
            let live = self.registry.live_sources(stream);
            if live.len() >= max && !live.iter().any(|(s, _)| s == source) {
                return Err(MediaError::LimitReached(format!(
                    "Too many sources in this stream (at most {max})"
                )));
            }
        }
        Ok(())
    }

    /// A new publication's events: `SourceActive` to the viewers if its source went live,
    /// and the viewer count to the publisher.
    fn announce_publication(&mut self, id: PeerId, added: Added, source: &SourceKey) {
        if added.went_live {
            self.relay_went_live(added.stream, added.source, id);
            let tracks = self.track_descs(id);
            for &viewer in self.registry.viewers(added.stream) {
                self.events.push_back(MediaEvent::SourceActive {
                    to: viewer,
                    source: source.clone(),
                    tracks: tracks.clone(),
                });
            }
        }
        let count = self.registry.viewers(added.stream).len();
        self.events
            .push_back(MediaEvent::ViewerCount { to: id, count });
    }
}
