//! What a run reports: one [`WindowReport`] per measured window (one, or one per step),
//! built from the clients' counts, /proc readings of the server and its /metrics.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::procstat::ProcSample;
use crate::stats::{Acc, Percentiles};

/// The server's side of a window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    /// CPU cores used on average (user + system).
    pub cpu_cores: f64,
    /// Server CPU µs per packet the clients received.
    pub cpu_us_per_packet: f64,
    /// Packets received by clients per server CPU-second.
    pub packets_per_cpu_second: f64,
    /// Resident memory at the end, MiB.
    pub rss_mib: f64,
    /// Resident memory added per listener since before the listeners joined, KiB.
    pub rss_per_listener_kib: f64,
    /// CPU cores per thread name.
    pub threads: BTreeMap<String, f64>,
    /// `podium_rtp_forwarded_total` per second (Podium only).
    pub forwarded_pps: Option<f64>,
    /// In-server forwarding latency from the server's histogram (Podium only), ms.
    pub in_server_latency_ms: Option<ServerLatency>,
}

/// Quantiles read off a Prometheus histogram (bucket upper bounds), ms.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServerLatency {
    /// Observations in the window.
    pub count: f64,
    /// Median (upper bound of its bucket).
    pub p50: f64,
    /// 99th percentile (upper bound of its bucket).
    pub p99: f64,
    /// 99.9th percentile (upper bound of its bucket).
    pub p999: f64,
}

/// One measured window.
#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    /// Listeners the run kept joined during the window.
    pub listeners: usize,
    /// Of those, how many still had their session at the end (not reported under churn).
    pub listeners_connected: Option<usize>,
    /// Listener-seconds in which a connected listener received nothing for over 2 s.
    pub starved_listener_seconds: f64,
    /// Wall-clock seconds measured.
    pub seconds: f64,
    /// RTP packets per second received by all clients.
    pub rx_pps: f64,
    /// RTP packets per second sent by publishers.
    pub tx_pps: f64,
    /// Received payload, Mbit/s.
    pub rx_mbit_s: f64,
    /// Loss from sequence gaps, percent.
    pub loss_pct: f64,
    /// Send → receive time of live packets, ms.
    pub latency_ms: Percentiles,
    /// Packets the SFU replayed at slot switches (not in `latency_ms`).
    pub replayed: u64,
    /// Fast listeners: packets decrypted for their probe (the latency sample).
    pub sampled: u64,
    /// Fast listeners: sampled packets that did not authenticate (must be 0).
    pub undecryptable: u64,
    /// Spurt onset → first packet at a listener whose slot changed to that speaker, ms.
    pub switch_ms: Percentiles,
    /// `view` sent → first audio packet, ms (joins since the previous window, ramp included).
    pub join_ms: Percentiles,
    /// `view` sent → ICE and DTLS connected, ms.
    pub connect_ms: Percentiles,
    /// Joins that failed in the window.
    pub join_failures: usize,
    /// `vad` events received.
    pub vad_events: u64,
    /// Client sends the kernel refused.
    pub client_send_errors: u64,
    /// Clients whose peer failed during the window (ICE or DTLS).
    pub peer_failures: u64,
    /// CPU cores the load tool itself used.
    pub loadtest_cpu_cores: f64,
    /// The server's side, when its pid is known.
    pub server: Option<ServerReport>,
    /// Loss and latency within the bounds, and no failed joins.
    pub within_bounds: bool,
}

/// Readings at the start of a window.
pub struct Marks {
    /// Server process.
    pub server: Option<ProcSample>,
    /// This process.
    pub own: Option<ProcSample>,
    /// Server metrics.
    pub metrics: BTreeMap<String, f64>,
    /// When the metrics were read.
    pub metrics_at: std::time::Instant,
    /// Server RSS before any listener joined.
    pub baseline_rss: Option<u64>,
}

/// Inputs of [`window`] besides the counts.
pub struct WindowInput<'a> {
    /// Listeners connected.
    pub listeners: usize,
    /// Listeners whose session was up at the end, when all of them should be.
    pub connected: Option<usize>,
    /// Seconds measured.
    pub seconds: f64,
    /// Readings at the start.
    pub start: &'a Marks,
    /// Readings at the end.
    pub end: &'a Marks,
    /// Joins that failed.
    pub join_failures: usize,
    /// `vad` events.
    pub vad_events: u64,
    /// Bounds: loss percent and p99 ms.
    pub bounds: (f64, f64),
}

/// Builds the report of a window.
pub fn window(acc: &Acc, w: &WindowInput<'_>) -> WindowReport {
    let secs = w.seconds.max(1e-3);
    let latency = acc.latency();
    let loss = acc.loss_pct();
    let own = match (&w.start.own, &w.end.own) {
        (Some(a), Some(b)) => (b.cpu_secs - a.cpu_secs) / between(a, b),
        _ => 0.0,
    };
    let server = match (&w.start.server, &w.end.server) {
        (Some(a), Some(b)) => {
            // Rates over each reading's own interval: a slow /metrics answer under load
            // must not stretch or shrink the CPU figures.
            let proc_secs = between(a, b);
            let cpu_cores = (b.cpu_secs - a.cpu_secs) / proc_secs;
            let rx_pps = acc.rx_packets as f64 / secs;
            let threads = b
                .threads
                .iter()
                .map(|(name, t)| {
                    (
                        name.clone(),
                        (t - a.threads.get(name).copied().unwrap_or(0.0)) / proc_secs,
                    )
                })
                .filter(|(_, c)| *c > 0.0005)
                .collect();
            let forwarded = counter_delta(
                &w.start.metrics,
                &w.end.metrics,
                "podium_rtp_forwarded_total",
            );
            Some(ServerReport {
                cpu_cores,
                cpu_us_per_packet: if rx_pps > 0.0 {
                    cpu_cores * 1e6 / rx_pps
                } else {
                    0.0
                },
                packets_per_cpu_second: if cpu_cores > 0.0 {
                    rx_pps / cpu_cores
                } else {
                    0.0
                },
                rss_mib: b.rss_bytes as f64 / 1048576.0,
                rss_per_listener_kib: match w.start.baseline_rss {
                    Some(base) if w.listeners > 0 => {
                        (b.rss_bytes.saturating_sub(base)) as f64 / 1024.0 / w.listeners as f64
                    }
                    _ => 0.0,
                },
                threads,
                forwarded_pps: forwarded.map(|f| {
                    f / (w.end.metrics_at - w.start.metrics_at)
                        .as_secs_f64()
                        .max(1e-3)
                }),
                in_server_latency_ms: histogram_quantiles(&w.start.metrics, &w.end.metrics),
            })
        }
        _ => None,
    };
    WindowReport {
        listeners: w.listeners,
        listeners_connected: w.connected,
        starved_listener_seconds: acc.starved_reports as f64 * crate::engine::REPORT.as_secs_f64(),
        seconds: w.seconds,
        rx_pps: acc.rx_packets as f64 / secs,
        tx_pps: acc.tx_packets as f64 / secs,
        rx_mbit_s: acc.rx_bytes as f64 * 8.0 / secs / 1e6,
        loss_pct: loss,
        latency_ms: latency,
        replayed: acc.replayed,
        sampled: acc.sampled,
        undecryptable: acc.undecryptable,
        switch_ms: Percentiles::of(&acc.switch_ms),
        join_ms: Percentiles::of(&acc.join_ms),
        connect_ms: Percentiles::of(&acc.connect_ms),
        join_failures: w.join_failures,
        vad_events: w.vad_events,
        client_send_errors: acc.send_errors,
        peer_failures: acc.deaths,
        loadtest_cpu_cores: own,
        server,
        // No media at all, a listener cut off, or one that hears nothing is out of bounds
        // whatever the loss among the packets that did arrive.
        within_bounds: latency.count > 0
            && acc.starved_reports == 0
            && w.connected.is_none_or(|c| c >= w.listeners)
            && loss <= w.bounds.0
            && latency.p99 <= w.bounds.1
            && w.join_failures == 0
            && acc.deaths == 0,
    }
}

/// Seconds between two readings.
fn between(a: &ProcSample, b: &ProcSample) -> f64 {
    match (a.at, b.at) {
        (Some(a), Some(b)) => (b - a).as_secs_f64().max(1e-3),
        _ => 1e-3,
    }
}

/// Parses Prometheus/OpenMetrics text into `name{labels}` → value.
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn counter_delta(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>, name: &str) -> Option<f64> {
    Some(b.get(name)? - a.get(name).copied().unwrap_or(0.0))
}

/// Quantiles of the window from the first histogram whose name mentions latency.
fn histogram_quantiles(
    a: &BTreeMap<String, f64>,
    b: &BTreeMap<String, f64>,
) -> Option<ServerLatency> {
    let mut buckets: Vec<(f64, f64)> = b
        .iter()
        .filter(|(k, _)| k.contains("latency") && k.contains("_bucket{"))
        .filter_map(|(k, v)| {
            let le = k.split("le=\"").nth(1)?.split('"').next()?;
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, v - a.get(k).copied().unwrap_or(0.0)))
        })
        .collect();
    buckets.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let q = |q: f64| {
        buckets
            .iter()
            .find(|(_, c)| *c >= q * total)
            .map_or(f64::INFINITY, |(le, _)| le * 1000.0)
    };
    Some(ServerLatency {
        count: total,
        p50: q(0.5),
        p99: q(0.99),
        p999: q(0.999),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks() -> Marks {
        Marks {
            server: None,
            own: None,
            metrics: BTreeMap::new(),
            metrics_at: std::time::Instant::now(),
            baseline_rss: None,
        }
    }

    fn within(acc: &Acc, listeners: usize, connected: Option<usize>) -> bool {
        let (start, end) = (marks(), marks());
        let input = WindowInput {
            listeners,
            connected,
            seconds: 10.0,
            start: &start,
            end: &end,
            join_failures: 0,
            vad_events: 0,
            bounds: (0.1, 50.0),
        };
        window(acc, &input).within_bounds
    }

    #[test]
    fn silence_cut_off_listeners_and_starved_ones_break_the_bounds() {
        let mut ok = Acc {
            expected: 1000,
            received: 1000,
            ..Default::default()
        };
        ok.record_latency(2_000);
        assert!(within(&ok, 10, Some(10)));
        assert!(!within(&Acc::default(), 10, Some(10)), "no media at all");
        assert!(!within(&ok, 10, Some(9)), "a listener was cut off");
        assert!(within(&ok, 10, None), "not checked under churn");
        let starved = Acc {
            starved_reports: 1,
            ..Default::default()
        };
        let mut both = Acc::default();
        both.merge(&ok);
        both.merge(&starved);
        assert!(!within(&both, 10, Some(10)), "a listener heard nothing");
        let mut lossy = Acc {
            expected: 1000,
            received: 990,
            ..Default::default()
        };
        lossy.record_latency(2_000);
        assert!(!within(&lossy, 10, Some(10)), "1 % loss");
    }

    #[test]
    fn reads_quantiles_off_histogram_buckets() {
        let before = parse_metrics("x_latency_seconds_bucket{le=\"0.0001\"} 0\nx_latency_seconds_bucket{le=\"0.001\"} 0\nx_latency_seconds_bucket{le=\"+Inf\"} 0\n");
        let after = parse_metrics("# HELP x\nx_latency_seconds_bucket{le=\"0.0001\"} 900\nx_latency_seconds_bucket{le=\"0.001\"} 995\nx_latency_seconds_bucket{le=\"+Inf\"} 1000\npodium_rtp_forwarded_total 5\n");
        let q = histogram_quantiles(&before, &after).unwrap();
        assert_eq!(q.count, 1000.0);
        assert!((q.p50 - 0.1).abs() < 1e-9);
        assert!((q.p99 - 1.0).abs() < 1e-9);
        assert!(
            q.p999.is_infinite(),
            "995 of 1000 are under 1 ms, so p99.9 is beyond"
        );
        assert_eq!(
            counter_delta(&before, &after, "podium_rtp_forwarded_total"),
            Some(5.0)
        );
    }
}
