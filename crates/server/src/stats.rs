//! Statistics a media worker keeps by itself (plain numbers, no atomics or locks: only the
//! worker's thread writes them) and hands over in a snapshot.

use std::collections::HashMap;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::MetricType;

/// Upper bounds (seconds) of the in-server forwarding-latency histogram: 10 µs to 100 ms,
/// fine around the 2 ms target (0.1, 0.25, 0.5, 1, 2, 5 ms).
pub const LATENCY_BUCKETS: &[f64] = &[
    10e-6, 20e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3,
];

/// Upper bounds of the datagrams-per-system-call histograms.
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// A histogram with fixed buckets, written by one thread and copied out for encoding.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, then the overflow (`+Inf`) bucket; not cumulative.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// An empty histogram with these (increasing) upper bounds.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one value.
    pub fn observe(&mut self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the values recorded.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Adds another histogram with the same buckets.
    pub fn merge(&mut self, other: &Histogram) {
        debug_assert_eq!(self.bounds, other.bounds);
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// Smallest bucket bound at or under which at least `q` of the values lie (`None` when
    /// empty, infinity when in the overflow bucket).
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let want = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some(self.bounds.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        Some(f64::INFINITY)
    }
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts.iter().copied())
            .collect();
        encoder.encode_histogram::<NoLabelSet>(
            self.sum,
            self.count,
            &buckets,
            None::<&HashMap<usize, Exemplar<NoLabelSet, f64>>>,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// A counter or gauge with one value per media worker (label `worker="N"`).
#[derive(Debug, Clone)]
pub struct PerWorker {
    kind: MetricType,
    values: Vec<f64>,
}

impl PerWorker {
    /// A counter family.
    pub fn counter(values: Vec<f64>) -> Self {
        Self {
            kind: MetricType::Counter,
            values,
        }
    }

    /// A gauge family.
    pub fn gauge(values: Vec<f64>) -> Self {
        Self {
            kind: MetricType::Gauge,
            values,
        }
    }
}

impl EncodeMetric for PerWorker {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (i, v) in self.values.iter().enumerate() {
            let labels = [("worker", i.to_string())];
            let mut e = encoder.encode_family(&labels)?;
            if matches!(self.kind, MetricType::Counter) {
                e.encode_counter::<NoLabelSet, _, f64>(v, None)?;
            } else {
                e.encode_gauge(v)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

/// UDP traffic of one worker.
#[derive(Debug, Clone)]
pub struct IoStats {
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Their bytes (UDP payload).
    pub bytes_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Their bytes (UDP payload).
    pub bytes_out: u64,
    /// Datagrams the kernel refused to send (unreachable, bad address), then dropped.
    pub send_errors: u64,
    /// Datagrams dropped because the socket stayed full and too many were waiting.
    pub send_queue_dropped: u64,
    /// Failed receive calls.
    pub recv_errors: u64,
    /// Received datagrams dropped before the core: oversized or without an IP source.
    pub invalid_in: u64,
    /// Seconds spent in receive system calls.
    pub recv_seconds: f64,
    /// Seconds spent in send system calls.
    pub send_seconds: f64,
    /// Datagrams per receive call.
    pub recv_batches: Histogram,
    /// Datagrams per send call.
    pub send_batches: Histogram,
    /// Seconds from the return of the receive call that brought a datagram in to the return
    /// of the send call that put out a datagram it caused, per datagram sent (on another
    /// worker too, when the packet was relayed there).
    pub latency: Histogram,
    /// Messages received from other workers (relayed packets and control).
    pub relay_in: u64,
    /// Relayed packets dropped because the receiving worker's queue was full.
    pub relay_dropped: u64,
}

impl Default for IoStats {
    fn default() -> Self {
        Self {
            datagrams_in: 0,
            bytes_in: 0,
            datagrams_out: 0,
            bytes_out: 0,
            send_errors: 0,
            send_queue_dropped: 0,
            recv_errors: 0,
            invalid_in: 0,
            recv_seconds: 0.0,
            send_seconds: 0.0,
            recv_batches: Histogram::new(BATCH_BUCKETS),
            send_batches: Histogram::new(BATCH_BUCKETS),
            latency: Histogram::new(LATENCY_BUCKETS),
            relay_in: 0,
            relay_dropped: 0,
        }
    }
}

impl IoStats {
    /// Adds another worker's totals.
    pub fn merge(&mut self, o: &IoStats) {
        self.datagrams_in += o.datagrams_in;
        self.bytes_in += o.bytes_in;
        self.datagrams_out += o.datagrams_out;
        self.bytes_out += o.bytes_out;
        self.send_errors += o.send_errors;
        self.send_queue_dropped += o.send_queue_dropped;
        self.recv_errors += o.recv_errors;
        self.invalid_in += o.invalid_in;
        self.recv_seconds += o.recv_seconds;
        self.send_seconds += o.send_seconds;
        self.recv_batches.merge(&o.recv_batches);
        self.send_batches.merge(&o.send_batches);
        self.latency.merge(&o.latency);
        self.relay_in += o.relay_in;
        self.relay_dropped += o.relay_dropped;
    }
}

/// CPU time (user + system) the calling thread has used, from `/proc/thread-self/stat`.
pub fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / clock_ticks_per_second())
}

/// `utime + stime` (fields 14 and 15) of a `/proc/.../stat` line; the command name (field 2)
/// may hold spaces and parentheses, so fields are counted from its closing parenthesis.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    #[cfg(target_os = "linux")]
    if let Ok(Some(hz)) = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        if hz > 0 {
            return hz as f64;
        }
    }
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_sum_and_quantiles() {
        let mut h = Histogram::new(LATENCY_BUCKETS);
        for v in [5e-6, 15e-6, 15e-6, 3e-3, 1.0] {
            h.observe(v);
        }
        assert_eq!(h.count(), 5);
        assert!((h.sum() - 1.003035).abs() < 1e-9);
        assert_eq!(h.quantile_bound(0.5), Some(20e-6));
        assert_eq!(h.quantile_bound(0.8), Some(5e-3));
        assert_eq!(h.quantile_bound(1.0), Some(f64::INFINITY));
        let mut total = Histogram::new(LATENCY_BUCKETS);
        total.merge(&h);
        total.merge(&h);
        assert_eq!(total.count(), 10);
    }

    #[test]
    fn cpu_ticks_are_read_past_odd_command_names() {
        let line = "1234 (podium (media) 0) S 1 2 3 4 5 6 7 8 9 10 250 40 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(line), Some(290));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_threads_cpu_time_is_readable() {
        let t = thread_cpu_seconds().expect("procfs");
        assert!(t >= 0.0);
    }
}
