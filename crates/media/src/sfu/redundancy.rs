//! Redundant ingest (Millicast's `priority`): several encoders publish one source at once and
//! viewers get the highest-priority one that is sending, failing over without renegotiation.
//!
//! A source is *prioritized* while at least one of its publications has a priority; only then
//! does this module pick its current publication. Otherwise the registry's rule stands
//! unchanged: the newest publication to start flowing wins, whether it keeps sending or not.
//!
//! Rank: priority (`None` below every integer), then the newest to start flowing. Candidates
//! are the publications that are *sending*: flowing and not stalled. A publication stalls when
//! none of its packets arrived for [`SfuConfig::redundant_stall_timeout`]; its next packet
//! makes it sending again. The choice is made again only when the set of sending publications
//! changes (a first packet, a resumed publication, a stall, a close), so a backup's packets
//! cost nothing but being dropped. With nothing sending, the current one stays: switching
//! between silent feeds would only cost a keyframe.
//!
//! Cost per packet: one store (`last_packet_at`) and one flag test (`stalled`). Stalls are
//! found by checks at one lazily kept deadline, the earliest `last_packet_at + stall` over the
//! sending publications of prioritized sources. Packets only move the true deadline later, so
//! a check may come early: it then finds nothing and arms the next one.
//!
//! [`SfuConfig::redundant_stall_timeout`]: super::SfuConfig::redundant_stall_timeout

use std::time::Instant;

use str0m::media::KeyframeRequestKind;

use super::{forward, IdMap, Sfu};
use crate::peer::{LocalPeer, Peer, Publication, Role};
use crate::registry::{SourceId, StreamId};
use crate::PeerId;

#[derive(Debug, Default)]
pub(super) struct Redundancy {
    /// Prioritized sources, with how many of their publications have a priority.
    sources: IdMap<(StreamId, SourceId), u32>,
    /// When to look for stalls (maybe early; `None` while nothing can stall).
    next_check: Option<Instant>,
    /// Counter behind `Publication::flow_order`.
    next_flow: u64,
    /// Scratch: the sources a check visits.
    scratch: Vec<(StreamId, SourceId)>,
}

impl Redundancy {
    /// The next stall check, for `poll_output`.
    pub(super) fn next_check(&self) -> Option<Instant> {
        self.next_check
    }

    fn is_prioritized(&self, key: (StreamId, SourceId)) -> bool {
        self.sources.contains_key(&key)
    }

    fn check_by(&mut self, at: Instant) {
        self.next_check = Some(self.next_check.map_or(at, |n| n.min(at)));
    }
}

/// Viewers get the greatest: priority first (`None` lowest), then the newest to flow.
fn rank(priority: Option<i32>, flow_order: u64) -> (i64, u64) {
    (priority.map_or(i64::MIN, i64::from), flow_order)
}

impl Sfu {
    /// A publication was registered: a priority makes its source prioritized. Other
    /// publications of the source may have been silent for long, so they are checked at once.
    pub(super) fn redundancy_registered(
        &mut self,
        now: Instant,
        key: (StreamId, SourceId),
        priority: Option<i32>,
    ) {
        if priority.is_some() {
            *self.redundancy.sources.entry(key).or_default() += 1;
            self.redundancy.check_by(now);
        }
    }

    /// A publication's first packet: it may take over (a replacing encoder, or a higher
    /// priority). Without priorities, the newest to flow wins at once, as it always did.
    pub(super) fn on_publication_flowing(
        &mut self,
        now: Instant,
        stream: StreamId,
        source: SourceId,
        id: PeerId,
    ) {
        self.redundancy.next_flow += 1;
        let order = self.redundancy.next_flow;
        if let Some(p) = publication_mut(&mut self.peers, &mut self.locals, id) {
            p.flow_order = order;
        }
        if self.redundancy.is_prioritized((stream, source)) {
            self.on_publication_resumed(now, stream, source);
            return;
        }
        let previous = self.registry.current(stream, source);
        if self.registry.make_current(stream, source, id) && previous != Some(id) {
            self.request_keyframe(now, id, KeyframeRequestKind::Fir);
        }
    }

    /// A stalled publication sent again: if it outranks the current one, it takes over.
    pub(super) fn on_publication_resumed(
        &mut self,
        now: Instant,
        stream: StreamId,
        source: SourceId,
    ) {
        if !self.redundancy.is_prioritized((stream, source)) {
            return;
        }
        // It has just sent a packet: it cannot stall before this.
        if let Some(at) = now.checked_add(self.config.redundant_stall_timeout) {
            self.redundancy.check_by(at);
        }
        self.reselect(now, stream, source);
    }

    /// A publication is going away: forgets its priority. Returns whether its source was
    /// prioritized, i.e. whether [`Sfu::successor`] must pick the next current one.
    pub(super) fn redundancy_released(
        &mut self,
        key: (StreamId, SourceId),
        priority: Option<i32>,
    ) -> bool {
        let prioritized = self.redundancy.is_prioritized(key);
        if priority.is_some() {
            if let Some(n) = self.redundancy.sources.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.redundancy.sources.remove(&key);
                }
            }
        }
        prioritized
    }

    /// After the current publication of a prioritized source closed: the best one sending
    /// takes over rather than the registry's fallback (the previous current one).
    pub(super) fn successor(
        &mut self,
        stream: StreamId,
        source: SourceId,
        fallback: PeerId,
    ) -> PeerId {
        match self.best_sending(stream, source) {
            Some(best) => {
                self.registry.make_current(stream, source, best);
                best
            }
            None => fallback,
        }
    }

    /// Finds stalled publications of prioritized sources, fails over where the current one
    /// stalled, and arms the next check.
    pub(super) fn redundancy_tick(&mut self, now: Instant) {
        if self.redundancy.next_check.is_none_or(|at| at > now) {
            return;
        }
        let stall = self.config.redundant_stall_timeout;
        let mut next: Option<Instant> = None;
        let mut sources = std::mem::take(&mut self.redundancy.scratch);
        sources.extend(self.redundancy.sources.keys().copied());
        for (stream, source) in sources.drain(..) {
            let mut stalled = false;
            for &id in self.registry.source_publications(stream, source) {
                let Some(p) = publication_mut(&mut self.peers, &mut self.locals, id) else {
                    continue;
                };
                if !p.flowing || p.stalled {
                    continue;
                }
                // A stall longer than `Instant` can represent never comes.
                let Some(deadline) = p.last_packet_at.checked_add(stall) else {
                    continue;
                };
                if deadline <= now {
                    p.stalled = true;
                    stalled = true;
                } else {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                }
            }
            if stalled {
                self.reselect(now, stream, source);
            }
        }
        self.redundancy.scratch = sources;
        self.redundancy.next_check = next;
    }

    /// Makes the best sending publication current, with a keyframe request, if it is not.
    fn reselect(&mut self, now: Instant, stream: StreamId, source: SourceId) {
        let Some(best) = self.best_sending(stream, source) else {
            return;
        };
        if self.registry.make_current(stream, source, best) {
            tracing::debug!(publication = %best, "redundant ingest: failover");
            self.request_keyframe(now, best, KeyframeRequestKind::Fir);
        }
    }

    fn best_sending(&self, stream: StreamId, source: SourceId) -> Option<PeerId> {
        self.registry
            .source_publications(stream, source)
            .iter()
            .filter_map(|&id| Some((id, forward::publication(&self.peers, &self.locals, id)?)))
            .filter(|(_, p)| p.flowing && !p.stalled)
            .max_by_key(|(_, p)| rank(p.priority, p.flow_order))
            .map(|(id, _)| id)
    }
}

/// The publication `id`, WebRTC or local, to update.
fn publication_mut<'a>(
    peers: &'a mut IdMap<PeerId, Box<Peer>>,
    locals: &'a mut IdMap<PeerId, Box<LocalPeer>>,
    id: PeerId,
) -> Option<&'a mut Publication> {
    match peers.get_mut(&id) {
        Some(peer) => match &mut peer.role {
            Role::Publisher(p) => Some(p),
            Role::Viewer(_) => None,
        },
        None => locals.get_mut(&id).map(|l| &mut l.publication),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_ranks_below_every_priority_and_the_newest_wins_between_equals() {
        assert!(rank(Some(i32::MIN), 1) > rank(None, 2));
        assert!(rank(Some(0), 1) > rank(None, 9));
        assert!(rank(Some(2), 1) > rank(Some(1), 2));
        assert!(rank(Some(1), 3) > rank(Some(1), 2));
        assert!(rank(None, 3) > rank(None, 2));
    }
}
