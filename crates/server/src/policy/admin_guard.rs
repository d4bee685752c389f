//! Throttling of wrong admin secrets: after a few wrong guesses a client must wait, twice
//! as long after each further one (up to a minute), before its next attempt is even
//! compared. A right secret clears the client's record.
//!
//! The table is bounded: it only keeps clients that failed in the last ten minutes, and at
//! most [`MAX_CLIENTS`] of them. When it is full of recent failures (a guesser hopping over
//! addresses), every client not in it waits the longest wait: fail closed for a minute
//! rather than let guesses through or grow.
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
    /// Set while the table is full: clients not in it wait until then.
    overflow_until: Option<Instant>,
}

impl AdminGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `ip` may try a secret at `now`; if not, how long it must still wait.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let inner = self.lock();
        let Some(f) = inner.table.get(&client_key(ip)) else {
            return match inner.overflow_until {
                Some(until) if now < until => Err(until - now),
                _ => Ok(()),
            };
        };
        let ready = f.last + f.wait();
        if now >= ready {
            Ok(())
        } else {
            Err(ready - now)
        }
    }

    /// Records a wrong secret from `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut inner = self.lock();
        let key = client_key(ip);
        let table = &mut inner.table;
        if table.len() >= MAX_CLIENTS && !table.contains_key(&key) {
            table.retain(|_, f| now.saturating_duration_since(f.last) < FORGET_AFTER);
        }
        if table.len() >= MAX_CLIENTS && !table.contains_key(&key) {
            inner.overflow_until = Some(now + MAX_WAIT);
            return;
        }
        let f = table.entry(key).or_insert(Failures {
            count: 0,
            last: now,
        });
        f.count = f.count.saturating_add(1);
        f.last = now;
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
        let t0 = Instant::now();
        for _ in 0..FREE_ATTEMPTS {
            assert!(g.check(ip, t0).is_ok());
            g.failed(ip, t0);
        }
        assert!(
            g.check(ip, t0).is_ok(),
            "the last free failure has no wait yet"
        );
        g.failed(ip, t0);
        assert_eq!(g.check(ip, t0), Err(Duration::from_secs(2)));
        assert!(g.check(ip, t0 + Duration::from_secs(2)).is_ok());
        g.failed(ip, t0 + Duration::from_secs(2));
        assert_eq!(
            g.check(ip, t0 + Duration::from_secs(2)),
            Err(Duration::from_secs(4))
        );
        assert!(
            g.check("198.51.100.5".parse().unwrap(), t0).is_ok(),
            "others unaffected"
        );
        g.succeeded(ip);
        assert!(g.check(ip, t0).is_ok() && g.is_empty());
    }

    #[test]
    fn the_table_stays_bounded() {
        let g = AdminGuard::default();
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 50) {
            g.failed(IpAddr::V4(i.into()), t0);
        }
        assert_eq!(g.len(), MAX_CLIENTS);
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            g.check(stranger, t0),
            Err(MAX_WAIT),
            "full: everyone else waits"
        );
        assert!(g.check(stranger, t0 + MAX_WAIT).is_ok());
        let late = t0 + FORGET_AFTER + Duration::from_secs(1);
        g.failed("203.0.113.1".parse().unwrap(), late);
        assert_eq!(g.len(), 1, "old failures are forgotten to make room");
    }
}
