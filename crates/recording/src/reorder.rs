//! Reorder buffer: packets in arrival order in, in sequence order out, with a bounded wait
//! for the missing ones.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a [`ReorderBuffer`] waits for a missing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReorderConfig {
    /// The window in sequence numbers: a gap is given up once a packet this far past it
    /// arrives. It also bounds what the buffer holds. At least 1.
    pub max_packets: usize,
    /// A gap is given up once the oldest packet waiting behind it has waited this long
    /// (measured by arrival times and [`ReorderBuffer::advance`]).
    pub max_delay: Duration,
}

impl Default for ReorderConfig {
    /// 64 packets or 100 ms: above the usual jitter, below a NACK round trip that would
    /// only rarely rescue a packet for a recording anyway.
    fn default() -> Self {
        Self {
            max_packets: 64,
            max_delay: Duration::from_millis(100),
        }
    }
}

/// What [`ReorderBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Buffered (and possibly already released).
    Accepted,
    /// Dropped: the same sequence number is waiting in the buffer.
    Duplicate,
    /// Dropped: its sequence number was already released or given up.
    Late,
}

/// What comes out of a [`ReorderBuffer`], in sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released<T> {
    /// The next packet.
    Packet {
        /// Its sequence number.
        seq: u64,
        /// The packet.
        item: T,
    },
    /// Packets `first .. first + count` were given up: the frames they belonged to are
    /// damaged.
    Lost {
        /// First missing sequence number.
        first: u64,
        /// How many.
        count: u64,
    },
}

/// A [`ReorderBuffer`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReorderStats {
    /// Packets accepted.
    pub accepted: u64,
    /// Packets dropped because the same sequence number was waiting.
    pub duplicates: u64,
    /// Packets dropped because their sequence number was already released or given up
    /// (including retransmissions of packets that had arrived).
    pub late: u64,
    /// Sequence numbers given up as lost.
    pub lost: u64,
    /// Times the numbering jumped back for good and the buffer started over.
    pub resyncs: u64,
}

/// A per-track reorder buffer keyed by extended sequence number. Generic over what it
/// carries so it can hold [`podium_media::RecordedPacket`]s (cheap clones) or anything else.
///
/// After every [`push`](Self::push), [`advance`](Self::advance) or [`flush`](Self::flush),
/// call [`pop`](Self::pop) until it returns `None`; the buffer itself then holds fewer than
/// `max_packets` packets.
#[derive(Debug)]
pub struct ReorderBuffer<T> {
    config: ReorderConfig,
    /// The next sequence number to release; `None` before the first packet.
    next: Option<u64>,
    /// Waiting packets, with their arrival.
    waiting: BTreeMap<u64, (Instant, T)>,
    /// Released, in order, not yet popped.
    ready: VecDeque<Released<T>>,
    /// The latest time seen (arrival or `advance`).
    now: Option<Instant>,
    /// Late packets in a row: a window's worth means the numbering restarted.
    late_run: usize,
    stats: ReorderStats,
}

impl<T> ReorderBuffer<T> {
    /// An empty buffer. `max_packets` below 1 is taken as 1.
    pub fn new(mut config: ReorderConfig) -> Self {
        config.max_packets = config.max_packets.max(1);
        Self {
            config,
            next: None,
            waiting: BTreeMap::new(),
            ready: VecDeque::new(),
            now: None,
            late_run: 0,
            stats: ReorderStats::default(),
        }
    }

    /// Adds a packet that arrived at `arrival`.
    pub fn push(&mut self, seq: u64, arrival: Instant, item: T) -> Pushed {
        self.now = Some(self.now.map_or(arrival, |now| now.max(arrival)));
        let next = *self.next.get_or_insert(seq);
        if seq < next {
            self.late_run += 1;
            if self.late_run < self.config.max_packets {
                self.stats.late += 1;
                self.release();
                return Pushed::Late;
            }
            // The sender started numbering again: release what was waiting and start over
            // at this packet (the depacketizers see the jump as a gap).
            self.stats.resyncs += 1;
            self.flush();
            self.next = Some(seq);
        }
        self.late_run = 0;
        if self.waiting.contains_key(&seq) {
            self.stats.duplicates += 1;
            self.release();
            return Pushed::Duplicate;
        }
        self.stats.accepted += 1;
        self.waiting.insert(seq, (arrival, item));
        self.release();
        Pushed::Accepted
    }

    /// Moves time forward without a packet: gaps whose packets behind them have waited
    /// `max_delay` are given up.
    pub fn advance(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |n| n.max(now)));
        self.release();
    }

    /// Gives up every gap and releases everything waiting (at the end of a recording).
    pub fn flush(&mut self) {
        while let Some((seq, (_, item))) = self.waiting.pop_first() {
            let next = self.next.unwrap_or(seq);
            if seq > next {
                self.lose(next, seq - next);
            }
            self.ready.push_back(Released::Packet { seq, item });
            self.next = Some(seq.saturating_add(1));
        }
    }

    /// The next packet or loss, in sequence order.
    pub fn pop(&mut self) -> Option<Released<T>> {
        self.ready.pop_front()
    }

    /// When [`advance`](Self::advance) would give up the current gap, if packets are
    /// waiting behind one: the shell may schedule a wake-up then.
    pub fn deadline(&self) -> Option<Instant> {
        self.oldest_waiting().map(|at| at + self.config.max_delay)
    }

    /// Packets waiting behind a gap.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// No packet is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    fn oldest_waiting(&self) -> Option<Instant> {
        self.waiting.values().map(|(at, _)| *at).min()
    }

    /// Releases the packets in order, giving up a gap when the window or the delay is
    /// exceeded.
    fn release(&mut self) {
        loop {
            let (Some(next), Some(&first)) = (self.next, self.waiting.keys().next()) else {
                return;
            };
            if first == next {
                if let Some((_, item)) = self.waiting.remove(&first) {
                    self.ready.push_back(Released::Packet { seq: first, item });
                }
                self.next = Some(next.saturating_add(1));
                continue;
            }
            // A gap before `first`.
            let last = self.waiting.keys().next_back().copied().unwrap_or(first);
            let window_full = last - next >= self.config.max_packets as u64;
            let timed_out = match (self.oldest_waiting(), self.now) {
                (Some(oldest), Some(now)) => {
                    now.saturating_duration_since(oldest) >= self.config.max_delay
                }
                _ => false,
            };
            if !(window_full || timed_out) {
                return;
            }
            self.lose(next, first - next);
            self.next = Some(first);
        }
    }

    fn lose(&mut self, first: u64, count: u64) {
        self.stats.lost += count;
        self.ready.push_back(Released::Lost { first, count });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Pops everything as `Ok(seq)` for packets and `Err((first, count))` for losses.
    fn drain(buf: &mut ReorderBuffer<u64>) -> Vec<Result<u64, (u64, u64)>> {
        std::iter::from_fn(|| buf.pop())
            .map(|r| match r {
                Released::Packet { seq, item } => {
                    assert_eq!(seq, item);
                    Ok(seq)
                }
                Released::Lost { first, count } => Err((first, count)),
            })
            .collect()
    }

    fn buffer(max_packets: usize, max_delay_ms: u64) -> ReorderBuffer<u64> {
        ReorderBuffer::new(ReorderConfig {
            max_packets,
            max_delay: ms(max_delay_ms),
        })
    }

    #[test]
    fn in_order_packets_pass_straight_through() {
        let (mut buf, t) = (buffer(8, 100), t0());
        for seq in 100..110 {
            assert_eq!(buf.push(seq, t, seq), Pushed::Accepted);
            assert_eq!(drain(&mut buf), [Ok(seq)]);
        }
        assert!(buf.is_empty());
        assert_eq!(buf.deadline(), None);
    }

    #[test]
    fn reordered_packets_come_out_in_sequence_order() {
        let (mut buf, t) = (buffer(8, 100), t0());
        buf.push(10, t, 10);
        buf.push(12, t, 12);
        buf.push(13, t, 13);
        assert_eq!(drain(&mut buf), [Ok(10)]);
        assert_eq!(buf.len(), 2);
        assert_eq!(buf.deadline(), Some(t + ms(100)));
        buf.push(11, t + ms(5), 11);
        assert_eq!(drain(&mut buf), [Ok(11), Ok(12), Ok(13)]);
        assert_eq!(buf.stats().lost, 0);
    }

    #[test]
    fn a_full_window_gives_up_the_gap() {
        let (mut buf, t) = (buffer(4, 1000), t0());
        buf.push(0, t, 0);
        for seq in 2..5 {
            buf.push(seq, t, seq);
        }
        assert_eq!(drain(&mut buf), [Ok(0)]);
        // Seq 5 is 4 past the missing 1: the window is full.
        buf.push(5, t, 5);
        assert_eq!(drain(&mut buf), [Err((1, 1)), Ok(2), Ok(3), Ok(4), Ok(5)]);
        // The missing packet turns up too late.
        assert_eq!(buf.push(1, t, 1), Pushed::Late);
        assert_eq!(drain(&mut buf), []);
        let stats = buf.stats();
        assert_eq!((stats.lost, stats.late, stats.accepted), (1, 1, 5));
    }

    #[test]
    fn a_far_jump_releases_in_order_with_the_losses() {
        let (mut buf, t) = (buffer(4, 1000), t0());
        buf.push(0, t, 0);
        buf.push(2, t, 2);
        buf.push(100, t, 100);
        assert_eq!(
            drain(&mut buf),
            [Ok(0), Err((1, 1)), Ok(2), Err((3, 97)), Ok(100)]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn the_delay_gives_up_the_gap() {
        let (mut buf, t) = (buffer(64, 100), t0());
        buf.push(0, t, 0);
        buf.push(2, t + ms(10), 2);
        buf.push(3, t + ms(50), 3);
        assert_eq!(drain(&mut buf), [Ok(0)]);
        assert_eq!(buf.deadline(), Some(t + ms(110)));
        buf.advance(t + ms(109));
        assert_eq!(drain(&mut buf), []);
        buf.advance(t + ms(110));
        assert_eq!(drain(&mut buf), [Err((1, 1)), Ok(2), Ok(3)]);
    }

    #[test]
    fn a_later_arrival_also_moves_time() {
        let (mut buf, t) = (buffer(64, 100), t0());
        buf.push(0, t, 0);
        buf.push(2, t, 2);
        buf.push(4, t + ms(100), 4);
        // 2 waited 100 ms: gap 1 given up; 4 has not waited, so gap 3 stays.
        assert_eq!(drain(&mut buf), [Ok(0), Err((1, 1)), Ok(2)]);
        buf.push(3, t + ms(101), 3);
        assert_eq!(drain(&mut buf), [Ok(3), Ok(4)]);
    }

    #[test]
    fn duplicates_and_old_packets_are_dropped() {
        let (mut buf, t) = (buffer(8, 100), t0());
        buf.push(5, t, 5);
        buf.push(7, t, 7);
        assert_eq!(buf.push(7, t, 7), Pushed::Duplicate);
        assert_eq!(buf.push(5, t, 5), Pushed::Late);
        assert_eq!(buf.push(4, t, 4), Pushed::Late);
        buf.push(6, t, 6);
        assert_eq!(drain(&mut buf), [Ok(5), Ok(6), Ok(7)]);
        let stats = buf.stats();
        assert_eq!((stats.duplicates, stats.late, stats.accepted), (1, 2, 3));
    }

    #[test]
    fn flush_releases_everything() {
        let (mut buf, t) = (buffer(64, 100), t0());
        buf.push(0, t, 0);
        buf.push(3, t, 3);
        buf.push(5, t, 5);
        buf.flush();
        assert_eq!(
            drain(&mut buf),
            [Ok(0), Err((1, 2)), Ok(3), Err((4, 1)), Ok(5)]
        );
        assert!(buf.is_empty());
        // And goes on after.
        buf.push(6, t, 6);
        assert_eq!(drain(&mut buf), [Ok(6)]);
    }

    #[test]
    fn numbering_that_restarts_lower_resynchronises() {
        let (mut buf, t) = (buffer(4, 1000), t0());
        buf.push(1000, t, 1000);
        buf.push(1002, t, 1002);
        assert_eq!(drain(&mut buf), [Ok(1000)]);
        for seq in 0..3 {
            assert_eq!(buf.push(seq, t, seq), Pushed::Late);
        }
        // The fourth late packet in a row: start over there.
        assert_eq!(buf.push(3, t, 3), Pushed::Accepted);
        assert_eq!(drain(&mut buf), [Err((1001, 1)), Ok(1002), Ok(3)]);
        buf.push(4, t, 4);
        assert_eq!(drain(&mut buf), [Ok(4)]);
        assert_eq!(buf.stats().resyncs, 1);
    }

    #[test]
    fn the_buffer_stays_within_the_window() {
        let (mut buf, t) = (buffer(16, 10_000), t0());
        buf.push(0, t, 0);
        // Every other packet missing, forever.
        for seq in (2..10_000).step_by(2) {
            buf.push(seq, t, seq);
            drain(&mut buf);
            assert!(buf.len() < 16, "{}", buf.len());
        }
    }
}
