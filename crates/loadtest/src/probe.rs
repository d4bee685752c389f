//! The probe every load packet carries at the end of its payload: who sent it, which talk
//! spurt it belongs to and when it left. Sender and receiver live in one process, so one
//! monotonic clock (microseconds since the run's epoch) times the whole path.

/// Bytes the probe takes at the end of a payload.
pub const PROBE_LEN: usize = 28;
const MAGIC: [u8; 2] = *b"PL";

/// What a packet tells its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Index of the sending client.
    pub sender: u16,
    /// Talk-spurt (or silence period) counter of the sender; its lowest bit is set while talking.
    pub spurt: u32,
    /// Frame number within the sender's stream.
    pub frame: u32,
    /// Send time, µs since the run's epoch.
    pub sent_us: u64,
    /// When the current spurt started, µs since the run's epoch.
    pub spurt_start_us: u64,
}

impl Probe {
    /// True while the sender is talking (the spurt counter is odd).
    pub fn talking(&self) -> bool {
        self.spurt & 1 == 1
    }

    /// Writes the probe into the last [`PROBE_LEN`] bytes of `payload`.
    pub fn write(&self, payload: &mut [u8]) {
        let at = payload.len() - PROBE_LEN;
        let out = &mut payload[at..];
        out[..2].copy_from_slice(&MAGIC);
        out[2..4].copy_from_slice(&self.sender.to_be_bytes());
        out[4..8].copy_from_slice(&self.spurt.to_be_bytes());
        out[8..12].copy_from_slice(&self.frame.to_be_bytes());
        out[12..20].copy_from_slice(&self.sent_us.to_be_bytes());
        out[20..28].copy_from_slice(&self.spurt_start_us.to_be_bytes());
    }

    /// Reads the probe at the end of `payload`, if there is one.
    pub fn read(payload: &[u8]) -> Option<Self> {
        let at = payload.len().checked_sub(PROBE_LEN)?;
        let p = &payload[at..];
        if p[..2] != MAGIC {
            return None;
        }
        let u32_at = |i: usize| u32::from_be_bytes(p[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_be_bytes(p[i..i + 8].try_into().expect("8 bytes"));
        Some(Self {
            sender: u16::from_be_bytes([p[2], p[3]]),
            spurt: u32_at(4),
            frame: u32_at(8),
            sent_us: u64_at(12),
            spurt_start_us: u64_at(20),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_the_end_of_any_payload() {
        let probe = Probe {
            sender: 7,
            spurt: 3,
            frame: 99,
            sent_us: 123_456_789,
            spurt_start_us: 123_000_000,
        };
        let mut payload = vec![0xAA; 80];
        probe.write(&mut payload);
        assert_eq!(payload[0], 0xAA, "only the tail is written");
        assert_eq!(Probe::read(&payload), Some(probe));
        assert!(probe.talking());
    }

    #[test]
    fn foreign_or_short_payloads_have_no_probe() {
        assert_eq!(Probe::read(&[1, 2, 3]), None);
        assert_eq!(Probe::read(&[0u8; 40]), None);
    }
}
