//! Maps keyed by server-assigned ids (peers, streams, sources).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes the server-assigned integer ids (peers, streams, sources) with one multiply:
/// they are never chosen by a client, so no flooding resistance is needed, and the lookups
/// on the per-packet path stay a few nanoseconds.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map keyed by server-assigned ids.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
