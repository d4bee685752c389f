//! Per-stream multiplexer state: source activity, viewers' slots, and who carries what.
//!
//! The ranking is computed once per stream per tick; per viewer only its eligibility filter
//! and the slot rules run. Forwarding a packet looks up the (viewer, slot) pairs carrying
//! its source in `carriers`, so its cost is O(carriers), independent of the audience size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::slots::{assign, Ranked, Slot, SlotConfig};
use super::speaker::{Activity, SpeakerConfig};
use crate::{PeerId, SourceKey};

/// How often slots are re-evaluated.
pub const TICK: Duration = Duration::from_millis(20);

/// A slot that changed source (`source: None` = emptied).
#[derive(Debug, Clone, PartialEq)]
pub struct SlotChange {
    /// The viewer.
    pub viewer: PeerId,
    /// Slot index.
    pub slot: usize,
    /// What it carries now.
    pub source: Option<SourceKey>,
}

#[derive(Debug)]
struct MuxViewer {
    pinned: SourceKey,
    excluded: Vec<String>,
    slots: Vec<Slot>,
}

impl MuxViewer {
    fn eligible(&self, source: &SourceKey) -> bool {
        source != &self.pinned
            && source
                .as_ref()
                .is_none_or(|s| !self.excluded.iter().any(|e| e == s))
    }
}

#[derive(Debug, Default)]
struct StreamMux {
    activity: HashMap<SourceKey, Activity>,
    viewers: HashMap<PeerId, MuxViewer>,
    carriers: HashMap<SourceKey, Vec<(PeerId, usize)>>,
}

impl StreamMux {
    fn set_slot(
        &mut self,
        viewer: PeerId,
        slot: usize,
        old: Option<&SourceKey>,
        new: Option<&SourceKey>,
    ) {
        if let Some(old) = old {
            if let Some(list) = self.carriers.get_mut(old) {
                list.retain(|c| *c != (viewer, slot));
                if list.is_empty() {
                    self.carriers.remove(old);
                }
            }
        }
        if let Some(new) = new {
            self.carriers
                .entry(new.clone())
                .or_default()
                .push((viewer, slot));
        }
    }
}

/// All streams' multiplexer state.
#[derive(Debug, Default)]
pub struct Mux {
    speaker: SpeakerConfig,
    slots: SlotConfig,
    streams: HashMap<String, StreamMux>,
    next_tick: Option<Instant>,
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
    pub fn has_stream(&self, stream: &str) -> bool {
        self.streams.contains_key(stream)
    }

    /// Registers a viewer with `n` empty slots.
    pub fn add_viewer(
        &mut self,
        now: Instant,
        stream: &str,
        viewer: PeerId,
        pinned: SourceKey,
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
        let s = self.streams.entry(stream.to_owned()).or_default();
        s.viewers.insert(
            viewer,
            MuxViewer {
                pinned,
                excluded,
                slots,
            },
        );
        self.next_tick.get_or_insert(now);
    }

    /// Forgets a viewer.
    pub fn remove_viewer(&mut self, stream: &str, viewer: PeerId) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        if let Some(v) = s.viewers.remove(&viewer) {
            for (i, slot) in v.slots.iter().enumerate() {
                s.set_slot(viewer, i, slot.source.as_ref(), None);
            }
        }
        if s.viewers.is_empty() {
            self.streams.remove(stream);
            if self.streams.is_empty() {
                self.next_tick = None;
            }
        }
    }

    /// Accounts one audio packet of `source` (only streams with slots keep activity).
    pub fn observe(
        &mut self,
        stream: &str,
        source: &SourceKey,
        now: Instant,
        level: Option<i8>,
        voice: Option<bool>,
    ) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        let cfg = &self.speaker;
        match s.activity.get_mut(source) {
            Some(a) => a.observe(now, level, voice, cfg),
            None => {
                let mut a = Activity::new(now);
                a.observe(now, level, voice, cfg);
                s.activity.insert(source.clone(), a);
            }
        }
    }

    /// The (viewer, slot) pairs carrying `source`.
    pub fn carriers(&self, stream: &str, source: &SourceKey) -> &[(PeerId, usize)] {
        self.streams
            .get(stream)
            .and_then(|s| s.carriers.get(source))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// A source ended: its activity is dropped and the slots carrying it are emptied.
    pub fn source_ended(&mut self, stream: &str, source: &SourceKey) -> Vec<SlotChange> {
        let Some(s) = self.streams.get_mut(stream) else {
            return vec![];
        };
        s.activity.remove(source);
        let carriers = s.carriers.remove(source).unwrap_or_default();
        let mut changes = Vec::new();
        for (viewer, slot) in carriers {
            if let Some(v) = s.viewers.get_mut(&viewer) {
                v.slots[slot].source = None;
                changes.push(SlotChange {
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
        let Some(due) = self.next_tick else {
            return vec![];
        };
        if now < due {
            return vec![];
        }
        self.next_tick = Some(now + TICK);
        let mut changes = Vec::new();
        for s in self.streams.values_mut() {
            let mut ranking: Vec<Ranked> = s
                .activity
                .iter()
                .map(|(source, a)| Ranked {
                    source: source.clone(),
                    score: a.score_at(now, &self.speaker),
                })
                .filter(|r| r.score >= self.slots.deactivate)
                .collect();
            ranking.sort_by(|a, b| b.score.total_cmp(&a.score));
            let mut updates = Vec::new();
            for (&viewer, v) in s.viewers.iter_mut() {
                let eligible: Vec<Ranked> = ranking
                    .iter()
                    .filter(|r| v.eligible(&r.source))
                    .cloned()
                    .collect();
                let before: Vec<Option<SourceKey>> =
                    v.slots.iter().map(|sl| sl.source.clone()).collect();
                for slot in assign(&mut v.slots, &eligible, now, &self.slots) {
                    updates.push((
                        viewer,
                        slot,
                        before[slot].clone(),
                        v.slots[slot].source.clone(),
                    ));
                }
            }
            for (viewer, slot, old, new) in updates {
                s.set_slot(viewer, slot, old.as_ref(), new.as_ref());
                changes.push(SlotChange {
                    viewer,
                    slot,
                    source: new,
                });
            }
        }
        changes
    }

    /// The source in a viewer's slot (for tests and diagnostics).
    pub fn slot_source(&self, stream: &str, viewer: PeerId, slot: usize) -> Option<&SourceKey> {
        self.streams
            .get(stream)?
            .viewers
            .get(&viewer)?
            .slots
            .get(slot)?
            .source
            .as_ref()
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
            let viewer = PeerId(1);
            mux.add_viewer(t0, "s", viewer, key(pinned), vec![format!("s{excluded}")], slot_count);
            let excluded_key: SourceKey = Some(format!("s{excluded}"));
            let mut switched_at = vec![t0; slot_count];
            let mut holder: Vec<Option<SourceKey>> = vec![None; slot_count];
            for (tick, levels) in script.iter().enumerate() {
                let now = t0 + TICK * tick as u32;
                for (i, &l) in levels.iter().enumerate() {
                    match l {
                        0 => {}
                        1 => mux.observe("s", &key(i), now, Some(-127), Some(false)),
                        db => mux.observe("s", &key(i), now, Some(-(db as i8)), Some(true)),
                    }
                }
                for change in mux.tick(now) {
                    let old = holder[change.slot].clone();
                    if let Some(old) = old {
                        // Evicting a still-active source needs the dwell.
                        let s = mux.streams["s"].activity.get(&old).map_or(0.0, |a| a.score_at(now, &mux.speaker));
                        if s >= mux.slots.deactivate {
                            prop_assert!(now - switched_at[change.slot] >= mux.slots.min_dwell);
                        }
                    }
                    holder[change.slot] = change.source.clone();
                    switched_at[change.slot] = now;
                }
                let live: Vec<&SourceKey> = holder.iter().flatten().collect();
                let unique: std::collections::HashSet<_> = live.iter().collect();
                prop_assert_eq!(live.len(), unique.len());
                prop_assert!(!live.contains(&&key(pinned)));
                prop_assert!(!live.contains(&&excluded_key));
                for (slot, source) in holder.iter().enumerate() {
                    if let Some(source) = source {
                        prop_assert!(mux.carriers("s", source).contains(&(viewer, slot)));
                    }
                    prop_assert_eq!(mux.slot_source("s", viewer, slot), source.as_ref());
                }
            }
        }
    }
}
