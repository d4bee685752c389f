//! Per-peer deadlines without scanning every peer.
//!
//! Each peer has one deadline: the earliest of its `Rtc`'s timeout and its liveness limit
//! (connect timeout before ICE/DTLS is up, idle timeout after). Deadlines that are already
//! due go to a `ready` list; later ones go to a min-heap of `(deadline, peer)`.
//!
//! The heap is invalidated lazily: a peer remembers the instant of the entry that stands for
//! it (`scheduled`). A deadline that moves later changes nothing (the earlier entry fires
//! first and the peer is simply re-armed then), one that moves earlier pushes a new entry and
//! leaves the old one stale; stale entries (instant not the peer's `scheduled`, or peer gone)
//! are skipped when they surface. Forwarding a packet makes a viewer due *now* (a `ready`
//! push) and, once sent, its deadline goes back to the one already scheduled, so the steady
//! state costs no heap operation per packet. `handle_timeout` and `poll_output` therefore cost
//! O(due peers · log n), never O(all peers).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::time::Instant;

use crate::peer::Peer;
use crate::PeerId;

/// Something that carries a [`TimerSlot`] (a peer).
pub(super) trait HasTimer {
    fn timer_mut(&mut self) -> &mut TimerSlot;
}

impl HasTimer for Box<Peer> {
    fn timer_mut(&mut self) -> &mut TimerSlot {
        &mut self.timer
    }
}

/// A peer's place in the timer structures.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimerSlot {
    /// Instant of the heap entry that stands for this peer.
    scheduled: Option<Instant>,
    /// Queued in `ready`.
    ready: bool,
}

#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, PeerId)>>,
    ready: Vec<PeerId>,
}

impl Timers {
    /// Records that peer `id`'s deadline is now `deadline`.
    pub(super) fn arm(
        &mut self,
        slot: &mut TimerSlot,
        id: PeerId,
        deadline: Instant,
        now: Instant,
    ) {
        if deadline <= now {
            if !slot.ready {
                slot.ready = true;
                self.ready.push(id);
            }
        } else if slot.scheduled.is_none_or(|s| deadline < s) {
            slot.scheduled = Some(deadline);
            self.heap.push(Reverse((deadline, id)));
        }
    }

    /// Moves every live peer due at `now` into `out` (a peer may appear twice: the caller
    /// re-checks its deadline anyway).
    pub(super) fn take_due<T: HasTimer, S: BuildHasher>(
        &mut self,
        now: Instant,
        peers: &mut HashMap<PeerId, T, S>,
        out: &mut Vec<PeerId>,
    ) {
        for id in self.ready.drain(..) {
            if let Some(p) = peers.get_mut(&id) {
                p.timer_mut().ready = false;
                out.push(id);
            }
        }
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some(s) = peers
                .get_mut(&id)
                .map(HasTimer::timer_mut)
                .filter(|s| s.scheduled == Some(at))
            {
                s.scheduled = None;
                out.push(id);
            }
        }
    }

    /// The earliest deadline: `now` when a peer is ready, else the first live heap entry
    /// (stale entries on top are dropped on the way).
    pub(super) fn next(
        &mut self,
        now: Instant,
        mut is_live: impl FnMut(PeerId, Instant) -> bool,
    ) -> Option<Instant> {
        if !self.ready.is_empty() {
            return Some(now);
        }
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if is_live(id, at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Drops stale entries once they outnumber the live peers, so the heap stays O(peers)
    /// whatever the pattern of deadline changes.
    pub(super) fn compact(
        &mut self,
        peers: usize,
        mut is_live: impl FnMut(PeerId, Instant) -> bool,
    ) {
        if self.heap.len() > 2 * peers + 64 {
            self.heap.retain(|Reverse((at, id))| is_live(*id, *at));
        }
    }
}

impl TimerSlot {
    /// Whether a heap entry at `at` is the one standing for this peer.
    pub(super) fn is_scheduled_at(&self, at: Instant) -> bool {
        self.scheduled == Some(at)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;
    use std::time::Duration;

    impl HasTimer for TimerSlot {
        fn timer_mut(&mut self) -> &mut TimerSlot {
            self
        }
    }

    #[test]
    fn only_due_peers_come_out_and_stale_entries_are_skipped() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = Timers::default();
        let mut slots: HashMap<PeerId, TimerSlot> =
            (1..=3).map(|i| (PeerId(i), TimerSlot::default())).collect();
        let arm = |timers: &mut Timers, slots: &mut HashMap<PeerId, TimerSlot>, id, at| {
            timers.arm(slots.get_mut(&PeerId(id)).unwrap(), PeerId(id), at, t0)
        };
        arm(&mut timers, &mut slots, 1, ms(100));
        arm(&mut timers, &mut slots, 2, ms(50));
        arm(&mut timers, &mut slots, 3, t0); // due now
        arm(&mut timers, &mut slots, 1, ms(200)); // later: nothing pushed
        arm(&mut timers, &mut slots, 2, ms(20)); // earlier: the 50 ms entry goes stale
        assert_eq!(timers.heap.len(), 3);
        let mut due = Vec::new();
        timers.take_due(t0, &mut slots, &mut due);
        assert_eq!(due, vec![PeerId(3)]);
        let live = |slots: &HashMap<PeerId, TimerSlot>, id, at| {
            slots
                .get(&id)
                .is_some_and(|s: &TimerSlot| s.is_scheduled_at(at))
        };
        assert_eq!(timers.next(t0, |id, at| live(&slots, id, at)), Some(ms(20)));
        due.clear();
        timers.take_due(ms(60), &mut slots, &mut due);
        assert_eq!(due, vec![PeerId(2)], "the stale 50 ms entry is skipped");
        // Peer 1's 100 ms entry fires although its deadline moved to 200 ms: the caller
        // re-checks and re-arms.
        due.clear();
        timers.take_due(ms(100), &mut slots, &mut due);
        assert_eq!(due, vec![PeerId(1)]);
        slots.remove(&PeerId(2));
        assert_eq!(timers.next(ms(100), |id, at| live(&slots, id, at)), None);
    }
}
