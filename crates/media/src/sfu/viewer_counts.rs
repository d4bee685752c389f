//! Viewer-count announcements, coalesced: a join or leave marks its stream, and marked streams
//! are announced at most once per interval. Without this a mass join of N viewers costs N²
//! events (every join tells every viewer); with it, N per interval.

use std::time::{Duration, Instant};

use crate::registry::StreamId;

/// How often a stream's viewers hear a changed count at most.
pub(super) const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct ViewerCounts {
    pending: Vec<StreamId>,
    due: Option<Instant>,
    last: Option<Instant>,
}

impl ViewerCounts {
    /// `stream`'s count changed; the first change after a quiet interval is due at once.
    pub(super) fn mark(&mut self, now: Instant, stream: StreamId) {
        if !self.pending.contains(&stream) {
            self.pending.push(stream);
        }
        if self.due.is_none() {
            let earliest = self.last.map_or(now, |l| l + INTERVAL);
            self.due = Some(earliest.max(now));
        }
    }

    /// When the next announcement is due.
    pub(super) fn next(&self) -> Option<Instant> {
        self.due
    }

    /// The streams to announce now, if due.
    pub(super) fn take_due(&mut self, now: Instant, out: &mut Vec<StreamId>) {
        if self.due.is_some_and(|d| d <= now) {
            self.due = None;
            self.last = Some(now);
            out.append(&mut self.pending);
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    #[test]
    fn first_change_is_due_at_once_then_changes_are_batched_per_interval() {
        let t0 = Instant::now();
        let mut c = ViewerCounts::default();
        let (a, b) = (StreamId(0), StreamId(1));
        c.mark(t0, a);
        assert_eq!(c.next(), Some(t0));
        let mut out = Vec::new();
        c.take_due(t0, &mut out);
        assert_eq!(out, vec![a]);
        // A burst of joins right after: one announcement per stream, one interval later.
        for _ in 0..100 {
            c.mark(t0 + Duration::from_millis(10), a);
            c.mark(t0 + Duration::from_millis(10), b);
        }
        assert_eq!(c.next(), Some(t0 + INTERVAL));
        out.clear();
        c.take_due(t0 + Duration::from_millis(500), &mut out);
        assert!(out.is_empty(), "not due yet");
        c.take_due(t0 + INTERVAL, &mut out);
        assert_eq!(out, vec![a, b]);
        assert_eq!(c.next(), None);
    }
}
