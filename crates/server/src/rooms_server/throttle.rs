//! Command rates of the rooms protocol: per connection (user) and per client address, so
//! one anonymous user cannot fan out tens of thousands of broadcasts a second, nor many
//! connections from one address multiply that.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::policy::connections::client_key;

/// Commands per second allowed.
#[derive(Debug, Clone, Copy)]
pub struct CommandRates {
    /// Per connection.
    pub per_user: u32,
    /// Per client address (IPv6: /64), over all its connections.
    pub per_ip: u32,
}

/// The limiters.
pub struct Throttle {
    by_user: DefaultKeyedRateLimiter<String>,
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
}

impl Throttle {
    /// Limiters for `rates`, each allowing bursts of twice the rate.
    pub fn new(rates: CommandRates) -> Self {
        let quota = |per_sec: u32| {
            let per_sec = NonZeroU32::new(per_sec.max(1)).expect("max(1) is non-zero");
            let burst = NonZeroU32::new(per_sec.get().saturating_mul(2)).expect("non-zero");
            Quota::per_second(per_sec).allow_burst(burst)
        };
        Self {
            by_user: RateLimiter::keyed(quota(rates.per_user)),
            by_ip: RateLimiter::keyed(quota(rates.per_ip)),
        }
    }

    /// Whether a command from `user` at `ip` may run now.
    pub fn allow(&self, user: &str, ip: IpAddr) -> bool {
        // The user first: a user over its own rate must not use up its address's share.
        self.by_user.check_key(&user.to_owned()).is_ok()
            && self.by_ip.check_key(&client_key(ip)).is_ok()
    }

    /// Forgets limiter state that has fully recovered.
    pub fn forget_idle(&self) {
        self.by_user.retain_recent();
        self.by_user.shrink_to_fit();
        self.by_ip.retain_recent();
        self.by_ip.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_addresses_are_limited() {
        let t = Throttle::new(CommandRates {
            per_user: 5,
            per_ip: 15,
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let allowed = (0..50).filter(|_| t.allow("ann", ip)).count();
        assert_eq!(allowed, 10, "a burst of twice the rate");
        let bob = (0..50).filter(|_| t.allow("bob", ip)).count();
        assert_eq!(bob, 10);
        let cy = (0..50).filter(|_| t.allow("cy", ip)).count();
        assert_eq!(cy, 10, "the address's burst of 30 is used up now");
        assert_eq!((0..50).filter(|_| t.allow("dee", ip)).count(), 0);
        assert!(
            t.allow("eve", "10.0.0.2".parse().unwrap()),
            "other addresses are served"
        );
    }
}
