//! Throttling of wrong admin secrets: after a few wrong guesses a client must wait, twice
//! as long after each further one (up to a minute), before its next attempt is even
//! compared. A right secret clears the client's record.
//!
//! The table is bounded: it only keeps clients that failed in the last ten minutes, and at
//! most [`MAX_CLIENTS`] of them. When it is full of recent failures (a guesser hopping over
//! addresses), the clients not in it share one attempt a second: slow, but the operator is
//! not locked out and the table does not grow.
//! Time is an input, like everywhere in policy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::policy::connections::client_key;

/// Wrong secrets allowed before waiting starts.
const FREE_ATTEMPTS: u32 = 5;
/// Longest wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// A client's failures are forgotten after this long without one.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Most clients remembered.
pub const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    fn wait(&self) -> Duration {
        match self.count.checked_sub(FREE_ATTEMPTS) {
            None | Some(0) => Duration::ZERO,
            Some(n) => Duration::from_secs(1u64 << n.min(6)).min(MAX_WAIT),
        }
    }
}

/// The failure table.
#[derive(Debug, Default)]
pub struct AdminGuard {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    table: HashMap<IpAddr, Failures>,
    /// While the table is full, clients not in it share one attempt per [`OVERFLOW_PACE`]:
    /// the next one may come then.
    overflow_next: Option<Instant>,
}

/// Attempts allowed, for all clients not in a full table together.
const OVERFLOW_PACE: Duration = Duration::from_secs(1);

impl AdminGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `ip` may try a secret at `now`; if not, how long it must still wait. An
    /// attempt allowed counts as a failure until [`Self::succeeded`] clears it, so guesses
    /// sent all at once are counted before any of them is compared.
    pub fn attempt(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut inner = self.lock();
        let key = client_key(ip);
        if let Some(f) = inner.table.get_mut(&key) {
            let ready = f.last + f.wait();
            if now < ready {
                return Err(ready - now);
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
            return Ok(());
        }
        if inner.table.len() >= MAX_CLIENTS {
            inner
                .table
                .retain(|_, f| now.saturating_duration_since(f.last) < FORGET_AFTER);
        }
        if inner.table.len() >= MAX_CLIENTS {
            // Full of recent failures (a guesser hopping over addresses): everyone else
            // shares a slow pace rather than being refused outright or growing the table.
            return match inner.overflow_next {
                Some(next) if now < next => Err(next - now),
                _ => {
                    inner.overflow_next = Some(now + OVERFLOW_PACE);
                    Ok(())
                }
            };
        }
        inner.table.insert(
            key,
            Failures {
                count: 1,
                last: now,
            },
        );
        Ok(())
    }

    /// Records a right secret from `ip`.
    pub fn succeeded(&self, ip: IpAddr) {
        self.lock().table.remove(&client_key(ip));
    }

    /// Clients remembered.
    pub fn len(&self) -> usize {
        self.lock().table.len()
    }

    /// Whether no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an arbitrary origin for simulated time
mod tests {
    use super::*;

    #[test]
    fn waiting_starts_after_a_few_wrong_secrets_and_doubles() {
        let g = AdminGuard::default();
        let ip: IpAddr = "198.51.100.4".parse().unwrap();
        let other: IpAddr = "198.51.100.5".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..FREE_ATTEMPTS {
            assert!(g.attempt(ip, t0).is_ok());
        }
        assert!(
            g.attempt(ip, t0).is_ok(),
            "the last free failure has no wait yet"
        );
        assert_eq!(g.attempt(ip, t0), Err(Duration::from_secs(2)));
        let t2 = t0 + Duration::from_secs(2);
        assert!(g.attempt(ip, t2).is_ok());
        assert_eq!(g.attempt(ip, t2), Err(Duration::from_secs(4)));
        assert!(g.attempt(other, t0).is_ok(), "others unaffected");
        g.succeeded(ip);
        g.succeeded(other);
        assert!(g.is_empty(), "a right secret clears the record");
    }

    #[test]
    fn the_table_stays_bounded_and_a_full_one_slows_everyone_else() {
        let g = AdminGuard::default();
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32) {
            assert!(g.attempt(IpAddr::V4(i.into()), t0).is_ok());
        }
        assert_eq!(g.len(), MAX_CLIENTS);
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(
            g.attempt(stranger, t0).is_ok(),
            "one attempt a second for the rest"
        );
        assert_eq!(
            g.attempt("203.0.113.10".parse().unwrap(), t0),
            Err(OVERFLOW_PACE)
        );
        assert!(g.attempt(stranger, t0 + OVERFLOW_PACE).is_ok());
        assert_eq!(g.len(), MAX_CLIENTS, "the table did not grow");
        let late = t0 + FORGET_AFTER + Duration::from_secs(1);
        assert!(g.attempt("203.0.113.1".parse().unwrap(), late).is_ok());
        assert_eq!(g.len(), 1, "old failures are forgotten to make room");
    }
}
