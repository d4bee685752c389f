//! Which publications and viewers belong to which stream and source (pure bookkeeping).
//!
//! A stream has sources; a source is identified by its `sourceId` (`None` = the main source).
//! Several publications may exist for one source at once (a reconnecting or replacing
//! encoder): the newest is the one viewers receive; when it ends the previous one still alive
//! takes over, and only when none is left does the source end.

use std::collections::HashMap;

use crate::PeerId;

/// `sourceId` of a publication; `None` is the main source.
pub type SourceKey = Option<String>;

#[derive(Debug, Default)]
struct StreamEntry {
    /// Sources in the order they went live (main source first when listing).
    sources: Vec<(SourceKey, Vec<PeerId>)>,
    /// Every viewer of the stream.
    viewers: Vec<PeerId>,
    /// Viewers by the source their default transceivers carry.
    pinned: HashMap<SourceKey, Vec<PeerId>>,
}

/// What removing a publication changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Removed {
    /// The source has no publication left.
    pub source_ended: bool,
    /// The publication viewers receive now, when the removed one was current.
    pub new_current: Option<PeerId>,
    /// No source of the stream is live any more.
    pub stream_idle: bool,
}

/// Streams, their sources and their viewers.
#[derive(Debug, Default)]
pub struct Registry {
    streams: HashMap<String, StreamEntry>,
}

impl Registry {
    /// Records a publication of `source` on `stream`; returns true when the source was not
    /// live before. A publication added to a live source waits behind the current one until
    /// [`Registry::make_current`] (its media flows), so viewers never wait on a silent feed.
    pub fn add_publication(&mut self, stream: &str, source: &SourceKey, peer: PeerId) -> bool {
        let entry = self.streams.entry(stream.to_owned()).or_default();
        match entry.sources.iter_mut().find(|(s, _)| s == source) {
            Some((_, pubs)) => {
                pubs.insert(0, peer);
                false
            }
            None => {
                entry.sources.push((source.clone(), vec![peer]));
                true
            }
        }
    }

    /// Makes `peer` the publication viewers of its source receive; true if that changed.
    pub fn make_current(&mut self, stream: &str, source: &SourceKey, peer: PeerId) -> bool {
        let Some(entry) = self.streams.get_mut(stream) else {
            return false;
        };
        let Some((_, pubs)) = entry.sources.iter_mut().find(|(s, _)| s == source) else {
            return false;
        };
        match pubs.iter().position(|p| *p == peer) {
            Some(i) if i + 1 != pubs.len() => {
                pubs.remove(i);
                pubs.push(peer);
                true
            }
            _ => false,
        }
    }

    /// Forgets a publication.
    pub fn remove_publication(
        &mut self,
        stream: &str,
        source: &SourceKey,
        peer: PeerId,
    ) -> Removed {
        let Some(entry) = self.streams.get_mut(stream) else {
            return Removed::default();
        };
        let Some(idx) = entry.sources.iter().position(|(s, _)| s == source) else {
            return Removed::default();
        };
        let pubs = &mut entry.sources[idx].1;
        let was_current = pubs.last() == Some(&peer);
        pubs.retain(|p| *p != peer);
        let mut removed = Removed {
            new_current: if was_current {
                pubs.last().copied()
            } else {
                None
            },
            ..Removed::default()
        };
        if pubs.is_empty() {
            entry.sources.remove(idx);
            removed.source_ended = true;
            removed.stream_idle = entry.sources.is_empty();
        }
        self.gc(stream);
        removed
    }

    /// The publication viewers of `source` receive.
    pub fn current(&self, stream: &str, source: &SourceKey) -> Option<PeerId> {
        let entry = self.streams.get(stream)?;
        let (_, pubs) = entry.sources.iter().find(|(s, _)| s == source)?;
        pubs.last().copied()
    }

    /// Live sources with their current publication, main source first, then in start order.
    pub fn live_sources(&self, stream: &str) -> Vec<(SourceKey, PeerId)> {
        let Some(entry) = self.streams.get(stream) else {
            return vec![];
        };
        let mut out: Vec<_> = entry
            .sources
            .iter()
            .filter_map(|(s, pubs)| pubs.last().map(|p| (s.clone(), *p)))
            .collect();
        out.sort_by_key(|(s, _)| s.is_some());
        out
    }

    /// Every publication of the stream (current or not).
    pub fn publications(&self, stream: &str) -> Vec<PeerId> {
        self.streams
            .get(stream)
            .map(|e| {
                e.sources
                    .iter()
                    .flat_map(|(_, p)| p.iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records a viewer whose default transceivers carry `pinned`.
    pub fn add_viewer(&mut self, stream: &str, pinned: &SourceKey, peer: PeerId) -> usize {
        let entry = self.streams.entry(stream.to_owned()).or_default();
        entry.viewers.push(peer);
        entry.pinned.entry(pinned.clone()).or_default().push(peer);
        entry.viewers.len()
    }

    /// Forgets a viewer; returns the remaining viewer count.
    pub fn remove_viewer(&mut self, stream: &str, pinned: &SourceKey, peer: PeerId) -> usize {
        let Some(entry) = self.streams.get_mut(stream) else {
            return 0;
        };
        entry.viewers.retain(|p| *p != peer);
        if let Some(list) = entry.pinned.get_mut(pinned) {
            list.retain(|p| *p != peer);
            if list.is_empty() {
                entry.pinned.remove(pinned);
            }
        }
        let count = entry.viewers.len();
        self.gc(stream);
        count
    }

    /// Every viewer of the stream.
    pub fn viewers(&self, stream: &str) -> &[PeerId] {
        self.streams
            .get(stream)
            .map(|e| e.viewers.as_slice())
            .unwrap_or_default()
    }

    /// Viewers whose default transceivers carry `source`.
    pub fn pinned_viewers(&self, stream: &str, source: &SourceKey) -> &[PeerId] {
        self.streams
            .get(stream)
            .and_then(|e| e.pinned.get(source))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn gc(&mut self, stream: &str) {
        if let Some(e) = self.streams.get(stream) {
            if e.sources.is_empty() && e.viewers.is_empty() {
                self.streams.remove(stream);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    fn main() -> SourceKey {
        None
    }
    fn guest() -> SourceKey {
        Some("guest".into())
    }

    #[test]
    fn newest_publication_wins_once_flowing_and_falls_back() {
        let mut r = Registry::default();
        assert!(r.add_publication("s", &main(), PeerId(1)));
        assert!(!r.add_publication("s", &main(), PeerId(2)));
        assert_eq!(r.current("s", &main()), Some(PeerId(1)), "not flowing yet");
        assert!(r.make_current("s", &main(), PeerId(2)));
        assert!(!r.make_current("s", &main(), PeerId(2)));
        assert_eq!(r.current("s", &main()), Some(PeerId(2)));
        let removed = r.remove_publication("s", &main(), PeerId(2));
        assert_eq!(removed.new_current, Some(PeerId(1)));
        assert!(!removed.source_ended);
        let removed = r.remove_publication("s", &main(), PeerId(1));
        assert!(removed.source_ended && removed.stream_idle);
        assert_eq!(r.current("s", &main()), None);
    }

    #[test]
    fn removing_an_older_publication_changes_nothing_for_viewers() {
        let mut r = Registry::default();
        r.add_publication("s", &main(), PeerId(1));
        r.add_publication("s", &main(), PeerId(2));
        r.make_current("s", &main(), PeerId(2));
        let removed = r.remove_publication("s", &main(), PeerId(1));
        assert_eq!(removed, Removed::default());
        assert_eq!(r.current("s", &main()), Some(PeerId(2)));
    }

    #[test]
    fn main_source_is_listed_first() {
        let mut r = Registry::default();
        r.add_publication("s", &guest(), PeerId(1));
        r.add_publication("s", &main(), PeerId(2));
        let live = r.live_sources("s");
        assert_eq!(live, vec![(main(), PeerId(2)), (guest(), PeerId(1))]);
    }

    #[test]
    fn viewers_are_indexed_by_pinned_source() {
        let mut r = Registry::default();
        assert_eq!(r.add_viewer("s", &main(), PeerId(5)), 1);
        assert_eq!(r.add_viewer("s", &guest(), PeerId(6)), 2);
        assert_eq!(r.pinned_viewers("s", &guest()), &[PeerId(6)]);
        assert_eq!(r.remove_viewer("s", &guest(), PeerId(6)), 1);
        assert!(r.pinned_viewers("s", &guest()).is_empty());
        r.remove_viewer("s", &main(), PeerId(5));
        assert!(r.streams.is_empty(), "empty streams are forgotten");
    }
}
