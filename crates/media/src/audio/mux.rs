//! Per-stream multiplexer state: source activity, viewers' slots, and who carries what.
//!
//! The ranking is computed once per stream per tick; per viewer only its eligibility filter
//! and the slot rules run. Forwarding a packet looks up the (viewer, slot) pairs carrying
//! its source in `carriers`, so its cost is O(carriers), independent of the audience size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::slots::{assign, Ranked, Slot, SlotConfig};
use super::speaker::{Activity, SpeakerConfig};
use crate::registry::{SourceId, StreamId};
use crate::{PeerId, SourceKey};

/// How often slots are re-evaluated.
pub const TICK: Duration = Duration::from_millis(20);

/// A slot that changed source (`source: None` = emptied).
#[derive(Debug, Clone, PartialEq)]
pub struct SlotChange {
    /// The viewer's stream.
    pub stream: StreamId,
    /// The viewer.
    pub viewer: PeerId,
    /// Slot index.
    pub slot: usize,
    /// What it carries now.
    pub source: Option<SourceId>,
}

#[derive(Debug)]
struct MuxViewer {
    pinned: SourceId,
    excluded: Vec<String>,
    slots: Vec<Slot<SourceId>>,
}

impl MuxViewer {
    fn eligible(&self, id: SourceId, key: &SourceKey) -> bool {
        id != self.pinned
            && key
                .as_ref()
                .is_none_or(|s| !self.excluded.iter().any(|e| e == s))
    }
}

/// What the multiplexer knows of one source: from its first audio packet until it ends.
#[derive(Debug)]
struct SourceState {
    key: SourceKey,
    activity: Activity,
    /// The (viewer, slot) pairs carrying it.
    carriers: Vec<(PeerId, usize)>,
}

#[derive(Debug, Default)]
struct StreamMux {
    /// Indexed by [`SourceId`].
    sources: Vec<Option<SourceState>>,
    viewers: HashMap<PeerId, MuxViewer>,
    /// Other media workers whose viewers have slots fill them from this ranking: the stream
    /// is kept (and ranked) for them even with no viewer here.
    followers: usize,
    /// The ranking of the last tick, highest first (what followers are sent).
    ranking: Vec<Ranked<SourceId>>,
    /// A follower's stream: the ranking comes from the stream's home worker, not from the
    /// activity seen here (ranking happens once per stream).
    external: Option<Vec<Ranked<SourceId>>>,
}

fn set_slot(
    sources: &mut [Option<SourceState>],
    viewer: PeerId,
    slot: usize,
    old: Option<SourceId>,
    new: Option<SourceId>,
) {
    if let Some(state) = old.and_then(|o| sources.get_mut(o.0 as usize)?.as_mut()) {
        if let Some(i) = state.carriers.iter().position(|c| *c == (viewer, slot)) {
            state.carriers.swap_remove(i);
        }
    }
    if let Some(state) = new.and_then(|n| sources.get_mut(n.0 as usize)?.as_mut()) {
        state.carriers.push((viewer, slot));
    }
}

/// Buffers reused by every tick, so a tick allocates nothing once warm.
#[derive(Debug, Default)]
struct Scratch {
    ranking: Vec<Ranked<SourceId>>,
    eligible: Vec<Ranked<SourceId>>,
    before: Vec<Option<SourceId>>,
    updates: Vec<(PeerId, usize, Option<SourceId>, Option<SourceId>)>,
}

/// All streams' multiplexer state.
#[derive(Debug, Default)]
pub struct Mux {
    speaker: SpeakerConfig,
    slots: SlotConfig,
    /// Indexed by [`StreamId`]; only streams with a viewer that has slots.
    streams: Vec<Option<StreamMux>>,
    live: usize,
    next_tick: Option<Instant>,
    scratch: Scratch,
}

impl Mux {
    /// A multiplexer with the given tuning.
    pub fn new(speaker: SpeakerConfig, slots: SlotConfig) -> Self {
        Self {
            speaker,
            slots,
            ..Self::default()
        }
    }

    /// When [`Mux::tick`] is due, if any stream has slots.
    pub fn next_tick(&self) -> Option<Instant> {
        self.next_tick
    }

    /// Whether any viewer of `stream` has slots (only then is activity tracked).
    pub fn has_stream(&self, stream: StreamId) -> bool {
        self.stream(stream).is_some()
    }

    fn stream(&self, stream: StreamId) -> Option<&StreamMux> {
        self.streams.get(stream.0 as usize)?.as_ref()
    }

    fn stream_mut(&mut self, stream: StreamId) -> Option<&mut StreamMux> {
        self.streams.get_mut(stream.0 as usize)?.as_mut()
    }

    /// Registers a viewer with `n` empty slots; `pinned` (its default transceivers' source)
    /// and the sources named in `excluded` are never put in them.
    pub fn add_viewer(
        &mut self,
        now: Instant,
        stream: StreamId,
        viewer: PeerId,
        pinned: SourceId,
        excluded: Vec<String>,
        n: usize,
    ) {
        let slots = vec![
            Slot {
                source: None,
                switched_at: now
            };
            n
        ];
        self.stream_entry(now, stream).viewers.insert(
            viewer,
            MuxViewer {
                pinned,
                excluded,
                slots,
            },
        );
    }

    fn stream_entry(&mut self, now: Instant, stream: StreamId) -> &mut StreamMux {
        let i = stream.0 as usize;
        if self.streams.len() <= i {
            self.streams.resize_with(i + 1, || None);
        }
        self.next_tick.get_or_insert(now);
        self.streams[i].get_or_insert_with(|| {
            self.live += 1;
            StreamMux::default()
        })
    }

    /// Forgets a viewer.
    pub fn remove_viewer(&mut self, stream: StreamId, viewer: PeerId) {
        let Some(s) = self.stream_mut(stream) else {
            return;
        };
        if let Some(v) = s.viewers.remove(&viewer) {
            for (i, slot) in v.slots.iter().enumerate() {
                set_slot(&mut s.sources, viewer, i, slot.source, None);
            }
        }
        self.release_if_unused(stream);
    }

    fn release_if_unused(&mut self, stream: StreamId) {
        let Some(s) = self.stream_mut(stream) else {
            return;
        };
        if s.viewers.is_empty() && s.followers == 0 {
            self.streams[stream.0 as usize] = None;
            self.live -= 1;
            if self.live == 0 {
                self.next_tick = None;
            }
        }
    }

    /// Another worker's viewers with slots follow `stream` (`true`) or no longer do: while
    /// any does, the stream is ranked here even with no viewer of its own.
    pub fn set_follower(&mut self, now: Instant, stream: StreamId, follows: bool) {
        if follows {
            self.stream_entry(now, stream).followers += 1;
        } else if let Some(s) = self.stream_mut(stream) {
            s.followers = s.followers.saturating_sub(1);
            self.release_if_unused(stream);
        }
    }

    /// The ranking of the last tick (sources above the deactivation score, highest first).
    pub fn ranking(&self, stream: StreamId) -> &[Ranked<SourceId>] {
        self.stream(stream)
            .map(|s| s.ranking.as_slice())
            .unwrap_or_default()
    }

    /// A follower's stream: the home worker's ranking, used by the next ticks instead of
    /// the activity seen here. `key` names each source (its slots' eligibility).
    pub fn set_external_ranking(
        &mut self,
        now: Instant,
        stream: StreamId,
        ranking: impl Iterator<Item = (SourceId, SourceKey, f32)>,
    ) {
        let Some(s) = self.stream_mut(stream) else {
            return;
        };
        let external = s.external.get_or_insert_with(Vec::new);
        external.clear();
        for (source, key, score) in ranking {
            let i = source.0 as usize;
            if s.sources.len() <= i {
                s.sources.resize_with(i + 1, || None);
            }
            // The source's state exists for its carriers and key; activity is the home's.
            if s.sources[i].is_none() {
                s.sources[i] = Some(SourceState {
                    key,
                    activity: Activity::new(now),
                    carriers: Vec::new(),
                });
            }
            external.push(Ranked { source, score });
        }
    }

    /// Accounts one audio packet of `source` (named `key`); only streams with slots keep
    /// activity.
    pub fn observe(
        &mut self,
        stream: StreamId,
        source: SourceId,
        key: &SourceKey,
        now: Instant,
        level: Option<i8>,
        voice: Option<bool>,
    ) {
        let cfg = self.speaker;
        let Some(s) = self.stream_mut(stream) else {
            return;
        };
        if s.external.is_some() {
            // Ranked at the stream's home worker.
            return;
        }
        let i = source.0 as usize;
        if s.sources.len() <= i {
            s.sources.resize_with(i + 1, || None);
        }
        let state = s.sources[i].get_or_insert_with(|| SourceState {
            key: key.clone(),
            activity: Activity::new(now),
            carriers: Vec::new(),
        });
        state.activity.observe(now, level, voice, &cfg);
    }

    /// The (viewer, slot) pairs carrying `source`.
    pub fn carriers(&self, stream: StreamId, source: SourceId) -> &[(PeerId, usize)] {
        self.stream(stream)
            .and_then(|s| s.sources.get(source.0 as usize)?.as_ref())
            .map(|st| st.carriers.as_slice())
            .unwrap_or_default()
    }

    /// A source ended: its activity is dropped and the slots carrying it are emptied.
    pub fn source_ended(&mut self, stream: StreamId, source: SourceId) -> Vec<SlotChange> {
        let Some(s) = self.stream_mut(stream) else {
            return vec![];
        };
        let Some(state) = s.sources.get_mut(source.0 as usize).and_then(Option::take) else {
            return vec![];
        };
        let mut changes = Vec::new();
        for (viewer, slot) in state.carriers {
            if let Some(v) = s.viewers.get_mut(&viewer) {
                v.slots[slot].source = None;
                changes.push(SlotChange {
                    stream,
                    viewer,
                    slot,
                    source: None,
                });
            }
        }
        changes
    }

    /// Re-evaluates every viewer's slots; returns what changed.
    pub fn tick(&mut self, now: Instant) -> Vec<SlotChange> {
        let mut changes = Vec::new();
        let Some(due) = self.next_tick else {
            return changes;
        };
        if now < due {
            return changes;
        }
        self.next_tick = Some(now + TICK);
        let Scratch {
            ranking,
            eligible,
            before,
            updates,
        } = &mut self.scratch;
        for (index, s) in self.streams.iter_mut().enumerate() {
            let Some(s) = s else {
                continue;
            };
            let StreamMux {
                sources,
                viewers,
                ranking: kept,
                external,
                ..
            } = s;
            ranking.clear();
            match external {
                Some(from_home) => ranking.extend(from_home.iter().cloned()),
                None => {
                    for (i, state) in sources.iter().enumerate() {
                        let Some(state) = state else { continue };
                        let score = state.activity.score_at(now, &self.speaker);
                        if score >= self.slots.deactivate {
                            ranking.push(Ranked {
                                source: SourceId(i as u32),
                                score,
                            });
                        }
                    }
                    ranking.sort_by(|a, b| b.score.total_cmp(&a.score));
                }
            }
            kept.clear();
            kept.extend(ranking.iter().cloned());
            updates.clear();
            for (&viewer, v) in viewers.iter_mut() {
                eligible.clear();
                eligible.extend(
                    ranking
                        .iter()
                        .filter(|r| {
                            let key = sources[r.source.0 as usize].as_ref().map(|s| &s.key);
                            key.is_some_and(|k| v.eligible(r.source, k))
                        })
                        .cloned(),
                );
                before.clear();
                before.extend(v.slots.iter().map(|sl| sl.source));
                for slot in assign(&mut v.slots, eligible, now, &self.slots) {
                    updates.push((viewer, slot, before[slot], v.slots[slot].source));
                }
            }
            for (viewer, slot, old, new) in updates.drain(..) {
                set_slot(sources, viewer, slot, old, new);
                changes.push(SlotChange {
                    stream: StreamId(index as u32),
                    viewer,
                    slot,
                    source: new,
                });
            }
        }
        changes
    }

    /// The source in a viewer's slot (for tests and diagnostics).
    pub fn slot_source(&self, stream: StreamId, viewer: PeerId, slot: usize) -> Option<SourceId> {
        self.stream(stream)?
            .viewers
            .get(&viewer)?
            .slots
            .get(slot)?
            .source
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SOURCES: usize = 6;

    fn key(i: usize) -> SourceKey {
        (i > 0).then(|| format!("s{i}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the talk pattern: no source in two slots of a viewer, pinned and excluded
        /// sources never in a slot, carriers match the slots, and an active incumbent is only
        /// evicted after the minimum dwell.
        #[test]
        fn slot_invariants_hold(
            // Per tick and source: 0 = DTX, 1 = silence, 2.. = speech at that −dBov.
            script in proptest::collection::vec(proptest::collection::vec(0u8..90, SOURCES), 1..400),
            slot_count in 1usize..4,
            pinned in 0usize..SOURCES,
            excluded in 0usize..SOURCES,
        ) {
            let t0 = Instant::now();
            let mut mux = Mux::new(SpeakerConfig::default(), SlotConfig::default());
            let (st, viewer) = (StreamId(0), PeerId(1));
            let id = |i: usize| SourceId(i as u32);
            mux.add_viewer(t0, st, viewer, id(pinned), vec![format!("s{excluded}")], slot_count);
            let mut switched_at = vec![t0; slot_count];
            let mut holder: Vec<Option<SourceId>> = vec![None; slot_count];
            for (tick, levels) in script.iter().enumerate() {
                let now = t0 + TICK * tick as u32;
                for (i, &l) in levels.iter().enumerate() {
                    match l {
                        0 => {}
                        1 => mux.observe(st, id(i), &key(i), now, Some(-127), Some(false)),
                        db => mux.observe(st, id(i), &key(i), now, Some(-(db as i8)), Some(true)),
                    }
                }
                for change in mux.tick(now) {
                    prop_assert_eq!(change.stream, st);
                    if let Some(old) = holder[change.slot] {
                        // Evicting a still-active source needs the dwell.
                        let s = mux.streams[0].as_ref().unwrap().sources[old.0 as usize]
                            .as_ref()
                            .map_or(0.0, |s| s.activity.score_at(now, &mux.speaker));
                        if s >= mux.slots.deactivate {
                            prop_assert!(now - switched_at[change.slot] >= mux.slots.min_dwell);
                        }
                    }
                    holder[change.slot] = change.source;
                    switched_at[change.slot] = now;
                }
                let live: Vec<SourceId> = holder.iter().flatten().copied().collect();
                let unique: std::collections::HashSet<_> = live.iter().collect();
                prop_assert_eq!(live.len(), unique.len());
                prop_assert!(!live.contains(&id(pinned)));
                prop_assert!(excluded == 0 || !live.contains(&id(excluded)));
                for (slot, source) in holder.iter().enumerate() {
                    if let Some(source) = source {
                        prop_assert!(mux.carriers(st, *source).contains(&(viewer, slot)));
                    }
                    prop_assert_eq!(mux.slot_source(st, viewer, slot), *source);
                }
            }
        }
    }
}
