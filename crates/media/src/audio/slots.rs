//! Assigning ranked speakers to one viewer's N audio slots, with hysteresis.
//!
//! Rules (applied every tick, given the stream's ranking of active sources):
//! 1. A slot keeps its source while that source is active (score above `deactivate`), and
//!    also while everyone is silent: nothing is taken away without a reason.
//! 2. A source that reaches `activate` and is not in a slot takes, in order of preference,
//!    an empty slot, then the slot of a silent source, choosing the slot switched least
//!    recently; each source is in at most one slot.
//! 3. If every slot holds an active source, a challenger evicts the weakest one only when
//!    its score is `evict_ratio` times larger and the weakest has held its slot for at least
//!    `min_dwell`: two people talking over each other do not flap.
//! 4. A slot whose source is no longer eligible (unpublished) is emptied by the caller.

use std::time::{Duration, Instant};

use crate::SourceKey;

/// Tuning of slot switching.
#[derive(Debug, Clone, Copy)]
pub struct SlotConfig {
    /// Score a source needs to take a slot.
    pub activate: f32,
    /// Score under which a slot's source counts as silent.
    pub deactivate: f32,
    /// A challenger must be this many times louder (in score) than an active incumbent.
    pub evict_ratio: f32,
    /// An active incumbent keeps its slot at least this long.
    pub min_dwell: Duration,
}

impl Default for SlotConfig {
    fn default() -> Self {
        Self {
            activate: 5.0,
            deactivate: 1.0,
            evict_ratio: 1.5,
            min_dwell: Duration::from_millis(1500),
        }
    }
}

/// One slot of a viewer. `S` names a source: a [`SourceKey`] or an interned id.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot<S = SourceKey> {
    /// The source it carries, if any.
    pub source: Option<S>,
    /// When it last changed source (or was created).
    pub switched_at: Instant,
}

/// A source and its current score, as ranked for the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked<S = SourceKey> {
    /// The source.
    pub source: S,
    /// Its activity score now.
    pub score: f32,
}

/// Applies one tick of the rules; returns the indexes of slots whose source changed.
/// `ranking` is sorted by score, highest first, and holds only the viewer's eligible sources.
pub fn assign<S: Clone + PartialEq>(
    slots: &mut [Slot<S>],
    ranking: &[Ranked<S>],
    now: Instant,
    cfg: &SlotConfig,
) -> Vec<usize> {
    let mut changed = Vec::new();
    let score_of = |source: &S| {
        ranking
            .iter()
            .find(|r| &r.source == source)
            .map_or(0.0, |r| r.score)
    };
    for challenger in ranking.iter().filter(|r| r.score >= cfg.activate) {
        if slots
            .iter()
            .any(|s| s.source.as_ref() == Some(&challenger.source))
        {
            continue;
        }
        // Empty slots first, then silent ones; least recently switched among equals.
        let free = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.source
                    .as_ref()
                    .is_none_or(|src| score_of(src) < cfg.deactivate)
            })
            .min_by_key(|(_, s)| (s.source.is_some(), s.switched_at))
            .map(|(i, _)| i);
        let target = free.or_else(|| {
            let (i, weakest) = slots
                .iter()
                .enumerate()
                .map(|(i, s)| (i, s.source.as_ref().map_or(0.0, score_of)))
                .min_by(|a, b| a.1.total_cmp(&b.1))?;
            let dwell = now.saturating_duration_since(slots[i].switched_at);
            (challenger.score >= weakest * cfg.evict_ratio && dwell >= cfg.min_dwell).then_some(i)
        });
        let Some(i) = target else { continue };
        slots[i] = Slot {
            source: Some(challenger.source.clone()),
            switched_at: now,
        };
        changed.push(i);
    }
    changed
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    fn src(s: &str) -> SourceKey {
        Some(s.to_owned())
    }

    fn rank(list: &[(&str, f32)]) -> Vec<Ranked> {
        let mut v: Vec<Ranked> = list
            .iter()
            .map(|(s, score)| Ranked {
                source: src(s),
                score: *score,
            })
            .collect();
        v.sort_by(|a, b| b.score.total_cmp(&a.score));
        v
    }

    fn empty(n: usize, at: Instant) -> Vec<Slot> {
        vec![
            Slot {
                source: None,
                switched_at: at
            };
            n
        ]
    }

    #[test]
    fn fills_empty_slots_then_reuses_silent_ones_least_recently_switched() {
        let t0 = Instant::now();
        let cfg = SlotConfig::default();
        let mut slots = empty(2, t0);
        assert_eq!(assign(&mut slots, &rank(&[("a", 10.0)]), t0, &cfg), vec![0]);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            assign(&mut slots, &rank(&[("a", 10.0), ("b", 6.0)]), t1, &cfg),
            vec![1]
        );
        // a and b go silent; c speaks: it takes a's slot (switched least recently).
        let t2 = t1 + Duration::from_secs(5);
        assert_eq!(assign(&mut slots, &rank(&[("c", 6.0)]), t2, &cfg), vec![0]);
        assert_eq!(slots[0].source, Some(src("c")));
        assert_eq!(
            slots[1].source,
            Some(src("b")),
            "a silent slot keeps its source"
        );
    }

    #[test]
    fn active_incumbents_are_protected_by_ratio_and_dwell() {
        let t0 = Instant::now();
        let cfg = SlotConfig::default();
        let mut slots = empty(1, t0);
        assign(&mut slots, &rank(&[("a", 8.0)]), t0, &cfg);
        let soon = t0 + Duration::from_millis(500);
        assert!(
            assign(&mut slots, &rank(&[("a", 8.0), ("b", 20.0)]), soon, &cfg).is_empty(),
            "min dwell"
        );
        let later = t0 + Duration::from_secs(2);
        assert!(
            assign(&mut slots, &rank(&[("a", 8.0), ("b", 10.0)]), later, &cfg).is_empty(),
            "ratio"
        );
        assert_eq!(
            assign(&mut slots, &rank(&[("a", 8.0), ("b", 13.0)]), later, &cfg),
            vec![0]
        );
    }

    #[test]
    fn below_activation_nothing_moves() {
        let t0 = Instant::now();
        let cfg = SlotConfig::default();
        let mut slots = empty(3, t0);
        assert!(assign(&mut slots, &rank(&[("a", 4.9)]), t0, &cfg).is_empty());
        assert!(slots.iter().all(|s| s.source.is_none()));
    }
}
