//! Which publications and viewers belong to which stream and source (pure bookkeeping).
//!
//! A stream has sources; a source is identified by its `sourceId` (`None` = the main source).
//! Several publications may exist for one source at once (a reconnecting or replacing
//! encoder): the newest is the one viewers receive; when it ends the previous one still alive
//! takes over, and only when none is left does the source end. With redundant ingest
//! (publications with a `priority`) the SFU picks the current one instead and tells the
//! registry with [`Registry::make_current`] (see `sfu/redundancy.rs`).
//!
//! Names are interned: a stream gets a [`StreamId`] and each of its sources a [`SourceId`],
//! small integers that index slabs. Peers keep their ids, so the forwarding path finds the
//! current publication and the viewers of a source by indexing, without hashing or cloning a
//! name per packet.
//!
//! Lifetimes: a stream's id is valid while the stream has a publication or a viewer; a
//! source's id while the source has a publication, a viewer pinned to it or a viewer's
//! track it is projected onto. Ids are reused
//! after that, so holders must drop them when their peer leaves.

use std::collections::HashMap;

use crate::PeerId;

/// `sourceId` of a publication; `None` is the main source.
pub type SourceKey = Option<String>;

/// Interned handle of a stream (see the module docs for how long it is valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

/// Interned handle of a source within its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

#[derive(Debug)]
struct SourceEntry {
    key: SourceKey,
    /// Publications, oldest first: the last one is current.
    pubs: Vec<PeerId>,
    /// Viewers whose default transceivers carry this source.
    pinned: Vec<PeerId>,
    /// Viewers' tracks this source was projected onto (viewer, the SFU's tag of the track).
    carriers: Vec<(PeerId, u32)>,
    /// When it went live (a stream-wide counter), for listing in start order.
    live_since: u64,
}

#[derive(Debug)]
struct StreamEntry {
    name: String,
    sources: Slab<SourceEntry>,
    /// Every viewer of the stream.
    viewers: Vec<PeerId>,
    /// Viewers whose connection is up (the others are still connecting).
    connected_viewers: usize,
    next_live: u64,
}

impl StreamEntry {
    fn source_id(&self, key: &SourceKey) -> Option<u32> {
        self.sources
            .iter()
            .find(|(_, s)| s.key == *key)
            .map(|(i, _)| i)
    }

    fn intern(&mut self, key: &SourceKey) -> u32 {
        self.source_id(key).unwrap_or_else(|| {
            self.sources.insert(SourceEntry {
                key: key.clone(),
                pubs: Vec::new(),
                pinned: Vec::new(),
                carriers: Vec::new(),
                live_since: 0,
            })
        })
    }

    /// Frees a source nobody refers to any more.
    fn release(&mut self, id: u32) {
        if self
            .sources
            .get(id)
            .is_some_and(|s| s.pubs.is_empty() && s.pinned.is_empty() && s.carriers.is_empty())
        {
            self.sources.remove(id);
        }
    }
}

/// A registered publication's handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// Its stream.
    pub stream: StreamId,
    /// Its source.
    pub source: SourceId,
    /// The source was not live before.
    pub went_live: bool,
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
    by_name: HashMap<String, StreamId>,
    streams: Slab<StreamEntry>,
}

impl Registry {
    /// The id of a stream that has a publication or a viewer.
    pub fn stream_id(&self, name: &str) -> Option<StreamId> {
        self.by_name.get(name).copied()
    }

    /// The name of a stream that has a publication or a viewer.
    pub fn stream_name(&self, id: StreamId) -> Option<&str> {
        self.streams.get(id.0).map(|s| s.name.as_str())
    }

    /// Streams with at least one publication or viewer.
    pub fn stream_count(&self) -> usize {
        self.by_name.len()
    }

    /// Sources with at least one publication, over all streams.
    pub fn live_source_count(&self) -> usize {
        self.streams
            .iter()
            .flat_map(|(_, e)| e.sources.iter())
            .filter(|(_, s)| !s.pubs.is_empty())
            .count()
    }

    /// Every stream with a publication or a viewer: its id, name and viewers.
    pub fn streams(&self) -> impl Iterator<Item = (StreamId, &str, usize)> + '_ {
        self.streams
            .iter()
            .map(|(i, e)| (StreamId(i), e.name.as_str(), e.viewers.len()))
    }

    /// Whether any stream has a viewer.
    pub fn has_viewers(&self) -> bool {
        self.streams.iter().any(|(_, e)| !e.viewers.is_empty())
    }

    /// A source's `sourceId`.
    pub fn source_key(&self, stream: StreamId, source: SourceId) -> Option<&SourceKey> {
        Some(&self.source(stream, source)?.key)
    }

    /// Records a publication of `source` on `stream`. A publication added to a live source
    /// waits behind the current one until [`Registry::make_current`] (its media flows), so
    /// viewers never wait on a silent feed.
    pub fn add_publication(&mut self, stream: &str, source: &SourceKey, peer: PeerId) -> Added {
        let stream_id = self.intern_stream(stream);
        let entry = self.streams.get_mut(stream_id.0).expect("interned");
        let id = entry.intern(source);
        let next_live = entry.next_live;
        let s = entry.sources.get_mut(id).expect("interned");
        let went_live = s.pubs.is_empty();
        if went_live {
            s.live_since = next_live;
            s.pubs.push(peer);
            entry.next_live += 1;
        } else {
            s.pubs.insert(0, peer);
        }
        Added {
            stream: stream_id,
            source: SourceId(id),
            went_live,
        }
    }

    /// Makes `peer` the publication viewers of its source receive; true if that changed.
    pub fn make_current(&mut self, stream: StreamId, source: SourceId, peer: PeerId) -> bool {
        let Some(s) = self.source_mut(stream, source) else {
            return false;
        };
        match s.pubs.iter().position(|p| *p == peer) {
            Some(i) if i + 1 != s.pubs.len() => {
                s.pubs.remove(i);
                s.pubs.push(peer);
                true
            }
            _ => false,
        }
    }

    /// Forgets a publication. Its ids are invalid afterwards.
    pub fn remove_publication(
        &mut self,
        stream: StreamId,
        source: SourceId,
        peer: PeerId,
    ) -> Removed {
        let Some(entry) = self.streams.get_mut(stream.0) else {
            return Removed::default();
        };
        let Some(s) = entry.sources.get_mut(source.0) else {
            return Removed::default();
        };
        let was_current = s.pubs.last() == Some(&peer);
        s.pubs.retain(|p| *p != peer);
        let mut removed = Removed {
            new_current: if was_current {
                s.pubs.last().copied()
            } else {
                None
            },
            ..Removed::default()
        };
        if s.pubs.is_empty() {
            removed.source_ended = true;
            entry.release(source.0);
            removed.stream_idle = entry.sources.iter().all(|(_, s)| s.pubs.is_empty());
        }
        self.gc(stream);
        removed
    }

    /// The publication viewers of `source` receive.
    pub fn current(&self, stream: StreamId, source: SourceId) -> Option<PeerId> {
        self.source(stream, source)?.pubs.last().copied()
    }

    /// Every publication of `source`, the current one last.
    pub fn source_publications(&self, stream: StreamId, source: SourceId) -> &[PeerId] {
        self.source(stream, source)
            .map(|s| s.pubs.as_slice())
            .unwrap_or_default()
    }

    /// Live sources with their current publication, main source first, then in start order.
    pub fn live_sources(&self, stream: &str) -> Vec<(SourceKey, PeerId)> {
        let Some(entry) = self.stream_id(stream).and_then(|id| self.streams.get(id.0)) else {
            return vec![];
        };
        let mut out: Vec<_> = entry
            .sources
            .iter()
            .filter_map(|(_, s)| Some((s.key.is_some(), s.live_since, &s.key, *s.pubs.last()?)))
            .collect();
        out.sort_by_key(|&(named, since, _, _)| (named, since));
        out.into_iter().map(|(_, _, k, p)| (k.clone(), p)).collect()
    }

    /// Every publication of the stream (current or not).
    pub fn publications(&self, stream: StreamId) -> impl Iterator<Item = PeerId> + '_ {
        self.streams
            .get(stream.0)
            .into_iter()
            .flat_map(|e| e.sources.iter())
            .flat_map(|(_, s)| s.pubs.iter().copied())
    }

    /// Records a viewer whose default transceivers carry `pinned`.
    pub fn add_viewer(
        &mut self,
        stream: &str,
        pinned: &SourceKey,
        peer: PeerId,
    ) -> (StreamId, SourceId) {
        let stream_id = self.intern_stream(stream);
        let entry = self.streams.get_mut(stream_id.0).expect("interned");
        entry.viewers.push(peer);
        let id = entry.intern(pinned);
        entry
            .sources
            .get_mut(id)
            .expect("interned")
            .pinned
            .push(peer);
        (stream_id, SourceId(id))
    }

    /// Counts a viewer whose connection came up.
    pub fn viewer_connected(&mut self, stream: StreamId) {
        if let Some(entry) = self.streams.get_mut(stream.0) {
            entry.connected_viewers += 1;
        }
    }

    /// Viewers of the stream whose connection is up.
    pub fn connected_viewers(&self, stream: StreamId) -> usize {
        self.streams
            .get(stream.0)
            .map_or(0, |e| e.connected_viewers)
    }

    /// Viewers of the stream whose connection is up, by name.
    pub fn connected_viewers_by_name(&self, stream: &str) -> usize {
        self.stream_id(stream)
            .map_or(0, |id| self.connected_viewers(id))
    }

    /// Forgets a viewer (`connected`: whether it was counted by [`Self::viewer_connected`]);
    /// returns the remaining viewer count. Its ids are invalid afterwards.
    pub fn remove_viewer(
        &mut self,
        stream: StreamId,
        pinned: SourceId,
        peer: PeerId,
        connected: bool,
    ) -> usize {
        let Some(entry) = self.streams.get_mut(stream.0) else {
            return 0;
        };
        if connected {
            entry.connected_viewers = entry.connected_viewers.saturating_sub(1);
        }
        if let Some(i) = entry.viewers.iter().position(|p| *p == peer) {
            entry.viewers.remove(i);
        }
        if let Some(s) = entry.sources.get_mut(pinned.0) {
            if let Some(i) = s.pinned.iter().position(|p| *p == peer) {
                s.pinned.remove(i);
            }
            entry.release(pinned.0);
        }
        let projected: Vec<u32> = entry
            .sources
            .iter()
            .filter(|(_, s)| s.carriers.iter().any(|(p, _)| *p == peer))
            .map(|(i, _)| i)
            .collect();
        for i in projected {
            if let Some(s) = entry.sources.get_mut(i) {
                s.carriers.retain(|(p, _)| *p != peer);
            }
            entry.release(i);
        }
        let count = entry.viewers.len();
        self.gc(stream);
        count
    }

    /// Every viewer of the stream.
    pub fn viewers(&self, stream: StreamId) -> &[PeerId] {
        self.streams
            .get(stream.0)
            .map(|e| e.viewers.as_slice())
            .unwrap_or_default()
    }

    /// Every viewer of the stream, by name.
    pub fn viewers_by_name(&self, stream: &str) -> &[PeerId] {
        self.stream_id(stream)
            .map(|id| self.viewers(id))
            .unwrap_or_default()
    }

    /// Records that `source` is projected onto a viewer's track (`tag` names the track for
    /// the caller); once per viewer and track. The source need not be live yet.
    pub fn add_carrier(
        &mut self,
        stream: StreamId,
        source: &SourceKey,
        peer: PeerId,
        tag: u32,
    ) -> Option<SourceId> {
        let entry = self.streams.get_mut(stream.0)?;
        let id = entry.intern(source);
        let s = entry.sources.get_mut(id).expect("interned");
        if !s.carriers.contains(&(peer, tag)) {
            s.carriers.push((peer, tag));
        }
        Some(SourceId(id))
    }

    /// Forgets a projection of `source` onto a viewer's track.
    pub fn remove_carrier(&mut self, stream: StreamId, source: SourceId, peer: PeerId, tag: u32) {
        let Some(entry) = self.streams.get_mut(stream.0) else {
            return;
        };
        if let Some(s) = entry.sources.get_mut(source.0) {
            s.carriers.retain(|c| *c != (peer, tag));
            entry.release(source.0);
        }
    }

    /// Viewers' tracks `source` is projected onto.
    pub fn carriers(&self, stream: StreamId, source: SourceId) -> &[(PeerId, u32)] {
        self.source(stream, source)
            .map(|s| s.carriers.as_slice())
            .unwrap_or_default()
    }

    /// Viewers whose default transceivers carry `source`.
    pub fn pinned_viewers(&self, stream: StreamId, source: SourceId) -> &[PeerId] {
        self.source(stream, source)
            .map(|s| s.pinned.as_slice())
            .unwrap_or_default()
    }

    fn source(&self, stream: StreamId, source: SourceId) -> Option<&SourceEntry> {
        self.streams.get(stream.0)?.sources.get(source.0)
    }

    fn source_mut(&mut self, stream: StreamId, source: SourceId) -> Option<&mut SourceEntry> {
        self.streams.get_mut(stream.0)?.sources.get_mut(source.0)
    }

    fn intern_stream(&mut self, name: &str) -> StreamId {
        if let Some(id) = self.by_name.get(name) {
            return *id;
        }
        let id = StreamId(self.streams.insert(StreamEntry {
            name: name.to_owned(),
            sources: Slab::default(),
            viewers: Vec::new(),
            connected_viewers: 0,
            next_live: 0,
        }));
        self.by_name.insert(name.to_owned(), id);
        id
    }

    fn gc(&mut self, stream: StreamId) {
        if let Some(e) = self.streams.get(stream.0) {
            if e.sources.is_empty() && e.viewers.is_empty() {
                let e = self.streams.remove(stream.0).expect("present");
                self.by_name.remove(&e.name);
            }
        }
    }
}

/// A vector of optional entries whose free indexes are reused: stable small ids, O(1) access.
#[derive(Debug)]
struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = Some(value);
                i
            }
            None => {
                self.entries.push(Some(value));
                (self.entries.len() - 1) as u32
            }
        }
    }

    fn remove(&mut self, i: u32) -> Option<T> {
        let v = self.entries.get_mut(i as usize)?.take()?;
        self.free.push(i);
        self.len -= 1;
        Some(v)
    }

    fn get(&self, i: u32) -> Option<&T> {
        self.entries.get(i as usize)?.as_ref()
    }

    fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.entries.get_mut(i as usize)?.as_mut()
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i as u32, e.as_ref()?)))
    }
}

#[cfg(test)]
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
        let a = r.add_publication("s", &main(), PeerId(1));
        assert!(a.went_live);
        let b = r.add_publication("s", &main(), PeerId(2));
        assert!(!b.went_live);
        assert_eq!((a.stream, a.source), (b.stream, b.source), "one source");
        let (s, src) = (a.stream, a.source);
        assert_eq!(r.current(s, src), Some(PeerId(1)), "not flowing yet");
        assert!(r.make_current(s, src, PeerId(2)));
        assert!(!r.make_current(s, src, PeerId(2)));
        assert_eq!(r.current(s, src), Some(PeerId(2)));
        let removed = r.remove_publication(s, src, PeerId(2));
        assert_eq!(removed.new_current, Some(PeerId(1)));
        assert!(!removed.source_ended);
        let removed = r.remove_publication(s, src, PeerId(1));
        assert!(removed.source_ended && removed.stream_idle);
        assert_eq!(r.current(s, src), None);
        assert_eq!(r.stream_count(), 0, "empty streams are forgotten");
    }

    #[test]
    fn removing_an_older_publication_changes_nothing_for_viewers() {
        let mut r = Registry::default();
        let a = r.add_publication("s", &main(), PeerId(1));
        r.add_publication("s", &main(), PeerId(2));
        r.make_current(a.stream, a.source, PeerId(2));
        let removed = r.remove_publication(a.stream, a.source, PeerId(1));
        assert_eq!(removed, Removed::default());
        assert_eq!(r.current(a.stream, a.source), Some(PeerId(2)));
    }

    #[test]
    fn main_source_is_listed_first_then_start_order() {
        let mut r = Registry::default();
        r.add_publication("s", &guest(), PeerId(1));
        r.add_publication("s", &Some("b".into()), PeerId(3));
        r.add_publication("s", &main(), PeerId(2));
        let live = r.live_sources("s");
        assert_eq!(
            live,
            vec![
                (main(), PeerId(2)),
                (guest(), PeerId(1)),
                (Some("b".into()), PeerId(3))
            ]
        );
        assert_eq!(r.live_source_count(), 3);
    }

    #[test]
    fn viewers_are_indexed_by_pinned_source_which_outlives_its_publications() {
        let mut r = Registry::default();
        let (s, m) = r.add_viewer("s", &main(), PeerId(5));
        let (_, g) = r.add_viewer("s", &guest(), PeerId(6));
        assert_eq!(r.viewers(s).len(), 2);
        assert_eq!(r.pinned_viewers(s, g), &[PeerId(6)]);
        // The guest publishes and leaves; its pinned viewer keeps the source's id valid.
        let a = r.add_publication("s", &guest(), PeerId(7));
        assert_eq!(a.source, g);
        r.remove_publication(s, g, PeerId(7));
        assert_eq!(r.pinned_viewers(s, g), &[PeerId(6)]);
        assert_eq!(r.remove_viewer(s, g, PeerId(6), false), 1);
        assert!(r.pinned_viewers(s, g).is_empty());
        r.remove_viewer(s, m, PeerId(5), false);
        assert_eq!(r.stream_count(), 0, "empty streams are forgotten");
        assert!(r.streams.is_empty());
    }
}
