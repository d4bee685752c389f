//! Counting what the clients saw: engines fill an [`Acc`] and hand it over every few
//! hundred milliseconds; the run merges them into windows and totals.

use hdrhistogram::Histogram;
use serde::Serialize;

/// What engines counted since their last report.
pub struct Acc {
    /// RTP packets received by clients.
    pub rx_packets: u64,
    /// Their payload bytes.
    pub rx_bytes: u64,
    /// RTP packets clients wrote.
    pub tx_packets: u64,
    /// Datagrams clients sent (RTP, RTCP, STUN, DTLS).
    pub datagrams_out: u64,
    /// Sends the kernel refused.
    pub send_errors: u64,
    /// Packets expected from sequence numbers.
    pub expected: u64,
    /// Packets received (matching `expected`).
    pub received: u64,
    /// Packets replayed by the SFU at a slot switch (not in the latency figures).
    pub replayed: u64,
    /// Packets without a probe.
    pub foreign: u64,
    /// Fast listeners: packets decrypted for their probe.
    pub sampled: u64,
    /// Fast listeners: sampled packets that did not authenticate (a tool or server bug).
    pub undecryptable: u64,
    /// Clients whose peer failed on its own.
    pub deaths: u64,
    /// Connected listeners that had received nothing for over 2 s, summed over reports.
    pub starved_reports: u64,
    /// Send-to-receive time of probed packets, µs.
    pub latency_us: Histogram<u64>,
    /// Spurt onset → first packet of it at a listener whose slot changed speaker, ms.
    pub switch_ms: Vec<f64>,
    /// Join start → first audio packet, ms.
    pub join_ms: Vec<f64>,
    /// Join start → ICE+DTLS connected, ms.
    pub connect_ms: Vec<f64>,
}

impl Default for Acc {
    fn default() -> Self {
        Self {
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            datagrams_out: 0,
            send_errors: 0,
            expected: 0,
            received: 0,
            replayed: 0,
            foreign: 0,
            sampled: 0,
            undecryptable: 0,
            deaths: 0,
            starved_reports: 0,
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            switch_ms: Vec::new(),
            join_ms: Vec::new(),
            connect_ms: Vec::new(),
        }
    }
}

impl Acc {
    /// One probed packet's latency.
    pub fn record_latency(&mut self, us: u64) {
        self.latency_us.saturating_record(us.max(1));
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Acc) {
        self.rx_packets += other.rx_packets;
        self.rx_bytes += other.rx_bytes;
        self.tx_packets += other.tx_packets;
        self.datagrams_out += other.datagrams_out;
        self.send_errors += other.send_errors;
        self.expected += other.expected;
        self.received += other.received;
        self.replayed += other.replayed;
        self.foreign += other.foreign;
        self.sampled += other.sampled;
        self.undecryptable += other.undecryptable;
        self.deaths += other.deaths;
        self.starved_reports += other.starved_reports;
        let _ = self.latency_us.add(&other.latency_us);
        self.switch_ms.extend_from_slice(&other.switch_ms);
        self.join_ms.extend_from_slice(&other.join_ms);
        self.connect_ms.extend_from_slice(&other.connect_ms);
    }

    /// Lost share of expected packets, in percent.
    pub fn loss_pct(&self) -> f64 {
        if self.expected == 0 {
            return 0.0;
        }
        self.expected.saturating_sub(self.received) as f64 * 100.0 / self.expected as f64
    }

    /// Latency percentiles in ms.
    pub fn latency(&self) -> Percentiles {
        let h = &self.latency_us;
        let at = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: h.len() as usize,
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: h.max() as f64 / 1000.0,
        }
    }
}

/// A distribution's summary, in ms.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Summary of raw samples.
    pub fn of(samples: &[f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
        Self {
            count: v.len(),
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: v[v.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_samples() {
        let samples: Vec<f64> = (1..=1000).map(f64::from).collect();
        let p = Percentiles::of(&samples);
        assert_eq!(
            (p.count, p.p50, p.p99, p.p999, p.max),
            (1000, 500.0, 990.0, 999.0, 1000.0)
        );
        assert_eq!(Percentiles::of(&[]).count, 0);
    }

    #[test]
    fn merging_adds_counts_and_loss_follows_sequence_gaps() {
        let mut a = Acc {
            expected: 1000,
            received: 990,
            ..Default::default()
        };
        a.record_latency(400);
        let mut b = Acc {
            expected: 1000,
            received: 1000,
            ..Default::default()
        };
        b.record_latency(600);
        b.join_ms.push(50.0);
        a.merge(&b);
        assert!((a.loss_pct() - 0.5).abs() < 1e-9);
        assert_eq!(a.latency().count, 2);
        assert_eq!(a.join_ms, vec![50.0]);
    }
}
