//! Rate limits (GCRA, from `governor`) whose time is the caller's `now`: policy never reads
//! the clock, so tests drive it with simulated instants instead of sleeping.
//!
//! Every limit allows bursts of twice its rate per second. Callers on several threads pass
//! their own `now`; the limiter's time only moves forward (the latest `now` seen wins).

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// governor's clock, fed by the callers: time since an origin, moved forward on each check.
#[derive(Debug, Clone)]
struct FedClock {
    origin: Instant,
    elapsed: Arc<AtomicU64>,
}

impl FedClock {
    fn new(origin: Instant) -> Self {
        Self {
            origin,
            elapsed: Arc::default(),
        }
    }

    fn advance_to(&self, now: Instant) {
        let nanos = now.saturating_duration_since(self.origin).as_nanos();
        self.elapsed
            .fetch_max(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl governor::clock::Clock for FedClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_nanos(self.elapsed.load(Ordering::Relaxed))
    }
}

fn quota(per_sec: u32) -> Quota {
    let per_sec = NonZeroU32::new(per_sec.max(1)).expect("max(1) is non-zero");
    let burst = NonZeroU32::new(per_sec.get().saturating_mul(2)).expect("non-zero");
    Quota::per_second(per_sec).allow_burst(burst)
}

/// A rate per key (client address, token, user).
pub struct KeyedRate<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, DashMapStateStore<K>, FedClock, NoOpMiddleware<Duration>>,
    clock: FedClock,
}

impl<K: Hash + Eq + Clone> KeyedRate<K> {
    /// `per_sec` per key, time counted from `origin`.
    pub fn new(per_sec: u32, origin: Instant) -> Self {
        let clock = FedClock::new(origin);
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota(per_sec), clock.clone()),
            clock,
        }
    }

    /// `per_minute` per key with bursts of as many, time counted from `origin` (sign-ins).
    pub fn per_minute(per_minute: u32, origin: Instant) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).expect("max(1) is non-zero");
        let clock = FedClock::new(origin);
        Self {
            limiter: RateLimiter::dashmap_with_clock(Quota::per_minute(n), clock.clone()),
            clock,
        }
    }

    /// Whether `key` may act at `now` (and counts it if so).
    pub fn check(&self, key: &K, now: Instant) -> bool {
        self.clock.advance_to(now);
        self.limiter.check_key(key).is_ok()
    }

    /// Forgets keys whose allowance has fully recovered by `now`.
    pub fn forget_idle(&self, now: Instant) {
        self.clock.advance_to(now);
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Keys with state (what the table costs).
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key has state.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// One rate for everyone.
pub struct Rate {
    limiter: RateLimiter<NotKeyed, InMemoryState, FedClock, NoOpMiddleware<Duration>>,
    clock: FedClock,
}

impl Rate {
    /// `per_sec` in all, time counted from `origin`.
    pub fn new(per_sec: u32, origin: Instant) -> Self {
        let clock = FedClock::new(origin);
        Self {
            limiter: RateLimiter::direct_with_clock(quota(per_sec), clock.clone()),
            clock,
        }
    }

    /// Whether anyone may act at `now` (and counts it if so).
    pub fn check(&self, now: Instant) -> bool {
        self.clock.advance_to(now);
        self.limiter.check().is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an arbitrary origin for simulated time
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_a_burst_then_its_rate_and_is_forgotten_once_recovered() {
        let t0 = Instant::now();
        let r = KeyedRate::new(5, t0);
        assert_eq!(
            (0..20).filter(|_| r.check(&"a", t0)).count(),
            10,
            "burst of 2x"
        );
        assert!(!r.check(&"a", t0 + Duration::from_millis(150)));
        assert!(
            r.check(&"a", t0 + Duration::from_millis(250)),
            "one per 200 ms"
        );
        assert!(r.check(&"b", t0), "keys are apart");
        r.forget_idle(t0 + Duration::from_millis(500));
        assert_eq!(r.len(), 2, "not recovered yet");
        r.forget_idle(t0 + Duration::from_secs(3));
        assert!(r.is_empty());
        let g = Rate::new(1, t0);
        assert_eq!((0..5).filter(|_| g.check(t0)).count(), 2);
        assert!(g.check(t0 + Duration::from_secs(1)));
    }
}
