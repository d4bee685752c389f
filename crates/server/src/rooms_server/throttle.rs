//! Command rates of the rooms protocol: per connection (user) and per client address, so
//! one anonymous user cannot fan out tens of thousands of broadcasts a second, nor many
//! connections from one address multiply that.

use std::net::IpAddr;
use std::time::Instant;

use crate::policy::connections::client_key;
use crate::policy::rate::KeyedRate;

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
    by_user: KeyedRate<String>,
    by_ip: KeyedRate<IpAddr>,
}

impl Throttle {
    /// Limiters for `rates` (bursts of twice the rate), time counted from `origin`.
    pub fn new(rates: CommandRates, origin: Instant) -> Self {
        Self {
            by_user: KeyedRate::new(rates.per_user, origin),
            by_ip: KeyedRate::new(rates.per_ip, origin),
        }
    }

    /// Whether a command from `user` at `ip` may run at `now`.
    pub fn allow(&self, user: &str, ip: IpAddr, now: Instant) -> bool {
        // The user first: a user over its own rate must not use up its address's share.
        self.by_user.check(&user.to_owned(), now) && self.by_ip.check(&client_key(ip), now)
    }

    /// Forgets limiter state that has fully recovered by `now`.
    pub fn forget_idle(&self, now: Instant) {
        self.by_user.forget_idle(now);
        self.by_ip.forget_idle(now);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an arbitrary origin for simulated time
mod tests {
    use super::*;

    #[test]
    fn users_and_addresses_are_limited() {
        let t0 = Instant::now();
        let t = Throttle::new(
            CommandRates {
                per_user: 5,
                per_ip: 15,
            },
            t0,
        );
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let allowed = (0..50).filter(|_| t.allow("ann", ip, t0)).count();
        assert_eq!(allowed, 10, "a burst of twice the rate");
        let bob = (0..50).filter(|_| t.allow("bob", ip, t0)).count();
        assert_eq!(bob, 10);
        let cy = (0..50).filter(|_| t.allow("cy", ip, t0)).count();
        assert_eq!(cy, 10, "the address's burst of 30 is used up now");
        assert_eq!((0..50).filter(|_| t.allow("dee", ip, t0)).count(), 0);
        assert!(
            t.allow("eve", "10.0.0.2".parse().unwrap(), t0),
            "other addresses are served"
        );
    }
}
