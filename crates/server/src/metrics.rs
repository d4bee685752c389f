//! `GET /metrics` in the Prometheus/OpenMetrics text format, and `GET /healthz`.
//!
//! The media workers keep plain running totals (no locks on the packet path); a scrape asks
//! each worker for a snapshot and encodes their sum, so scraping costs nothing between
//! scrapes. Per-worker series carry a `worker="N"` label.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::media_handle::{MediaHandle, MediaSnapshot, NotAnswering};
use crate::state::AppState;
use crate::stats::PerWorker;

/// How long `/healthz` waits for every media worker.
const HEALTH_LIMIT: Duration = Duration::from_secs(1);
/// `/healthz` answers from a reading at most this old, so a flood of health checks costs
/// the media workers one snapshot a second.
const HEALTH_MAX_AGE: Duration = Duration::from_secs(1);
/// `/metrics` is always fresh; concurrent scrapes still share one reading.
const METRICS_MAX_AGE: Duration = Duration::ZERO;

/// The metrics endpoint.
pub async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if state.metrics_auth {
        if let Err(refusal) = crate::admin::authorize(&state, peer, &headers) {
            return refusal.into_response();
        }
    }
    let Ok(media) = state.snapshots.get(&state.media, METRICS_MAX_AGE).await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "media worker not answering",
        )
            .into_response();
    };
    let (refused_per_ip, refused_total) = state.connections.refused();
    let shell = ShellCounts {
        sessions: state.sessions.len(),
        whip_sessions: state.whip.len(),
        room_grants: state.access.rooms.live_count(),
        http_connections: state.connections.open(),
        http_clients: state.connections.clients(),
        refused_per_ip,
        refused_total,
        rooms_overflowed: state.rooms_overflow.total(),
        rtmp: state.rtmp.read(),
        recordings: {
            let (c, dropped, active) = state.recordings.stats();
            RecordingCounts {
                started: c.started.load(std::sync::atomic::Ordering::Relaxed),
                finished: c.finished.load(std::sync::atomic::Ordering::Relaxed),
                failed: c.failed.load(std::sync::atomic::Ordering::Relaxed),
                bytes: c.bytes.load(std::sync::atomic::Ordering::Relaxed),
                dropped,
                active,
            }
        },
        local_packets_dropped: state.media.local_packets_dropped(),
    };
    let mut registry = registry(&media, &shell);
    if let Some(cluster) = &state.cluster {
        let reading = cluster.metrics_reading().await;
        crate::cluster::metrics::register(&mut registry, cluster.node(), &reading);
    }
    let mut body = String::new();
    if encode(&mut body, &registry).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed").into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// 200 `ok` when every media worker answered within a second at the last reading (at most
/// a second old), 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.snapshots.get(&state.media, HEALTH_MAX_AGE).await {
        Ok(_) => "ok".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("media worker {} not answering", e.worker),
        )
            .into_response(),
    }
}

/// The latest reading of the media workers, shared by every request that comes while it
/// is fresh enough; one request refreshes it while the others wait for that answer, and a
/// reading started after a request arrived is always fresh enough for it. So however many
/// requests are in flight, the workers answer one reading at a time.
#[derive(Default)]
pub struct SnapshotCache {
    latest: tokio::sync::Mutex<Option<(Instant, Reading)>>,
}

type Reading = Result<Arc<MediaSnapshot>, NotAnswering>;

impl SnapshotCache {
    /// A reading at most `max_age` old.
    pub async fn get(&self, media: &MediaHandle, max_age: Duration) -> Reading {
        let asked = Instant::now();
        // Held across the refresh: concurrent requests queue here and then find it fresh.
        let mut latest = self.latest.lock().await;
        if let Some((started, reading)) = latest.as_ref() {
            if *started >= asked || started.elapsed() < max_age {
                return reading.clone();
            }
        }
        let started = Instant::now();
        let reading = media.snapshot_within(HEALTH_LIMIT).await.map(Arc::new);
        *latest = Some((started, reading.clone()));
        reading
    }
}

/// What the shell counts, beside the media workers.
struct ShellCounts {
    sessions: usize,
    whip_sessions: usize,
    room_grants: usize,
    http_connections: usize,
    http_clients: usize,
    refused_per_ip: u64,
    refused_total: u64,
    rooms_overflowed: u64,
    rtmp: crate::rtmp::RtmpStats,
    local_packets_dropped: u64,
    recordings: RecordingCounts,
}

/// The recorder's counters.
struct RecordingCounts {
    started: u64,
    finished: u64,
    failed: u64,
    bytes: u64,
    dropped: u64,
    active: usize,
}

fn registry(media: &MediaSnapshot, shell: &ShellCounts) -> Registry {
    let mut registry = Registry::with_prefix("podium");
    let gauge = |v: usize| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    for (name, help, value) in [
        (
            "peers",
            "Live WebRTC peers (publications and views)",
            media.sum(|w| w.peers),
        ),
        (
            "streams",
            "Streams with a live peer",
            media.sum(|w| w.streams),
        ),
        (
            "sources",
            "Live sources (stream and source id with a publication)",
            media.sum(|w| w.sources),
        ),
        (
            "publications",
            "Live publications (a replaced source has two for a moment)",
            media.sum(|w| w.publications),
        ),
        ("viewers", "Live views", media.sum(|w| w.viewers)),
        (
            "signaling_sessions",
            "Open signaling sessions (WebSocket, WHIP and WHEP)",
            shell.sessions,
        ),
        (
            "whip_sessions",
            "Open WHIP and WHEP sessions (also counted in signaling_sessions)",
            shell.whip_sessions,
        ),
        (
            "room_grants",
            "Media grants in force for room members (one per member and kind)",
            shell.room_grants,
        ),
        (
            "http_connections",
            "Open HTTP and WebSocket connections",
            shell.http_connections,
        ),
        (
            "http_connection_clients",
            "Client addresses (IPv6: /64 prefixes) with an open connection",
            shell.http_clients,
        ),
        (
            "media_workers",
            "Media worker threads (each with its own UDP port)",
            media.workers.len(),
        ),
        (
            "rtmp_connections",
            "Open RTMP ingest connections",
            usize::try_from(shell.rtmp.open).unwrap_or(usize::MAX),
        ),
        (
            "recordings_active",
            "Recordings being written",
            shell.recordings.active,
        ),
    ] {
        registry.register(name, help, gauge(value));
    }
    let c = media.counters();
    let io = media.io();
    for (name, help, value) in [
        (
            "rtp_received",
            "RTP packets received from publishers",
            c.rtp_received,
        ),
        (
            "rtp_forwarded",
            "RTP packets written to viewers",
            c.rtp_forwarded,
        ),
        (
            "rtp_dropped_not_current",
            "Packets of a publication replaced by a newer one",
            c.rtp_dropped_not_current,
        ),
        (
            "rtp_dropped_no_codec",
            "Packets whose codec the viewer did not negotiate",
            c.rtp_dropped_no_codec,
        ),
        (
            "rtp_dropped_oversized",
            "Packets dropped for a payload over 1500 bytes",
            c.rtp_dropped_oversized,
        ),
        (
            "datagrams_unroutable",
            "Datagrams from unknown addresses that were not STUN for a peer",
            c.datagrams_unroutable,
        ),
        (
            "datagrams_rejected",
            "Datagrams a peer refused (malformed or out of state)",
            c.datagrams_rejected,
        ),
        (
            "slot_switches",
            "Audio slots that changed source",
            c.slot_switches,
        ),
        (
            "rtp_resent",
            "Packets resent to viewers on their NACKs (from the shared per-source history)",
            c.rtp_resent,
        ),
        (
            "rtp_resends_refused",
            "Resends refused because a viewer asked for more than its budget",
            c.resends_refused,
        ),
        (
            "rtcp_sender_reports",
            "Sender reports sent to viewers",
            c.reports_sent,
        ),
        (
            "viewers_without_rtc",
            "Viewers whose str0m session was dropped after their handshake (Podium answers their consent checks)",
            c.viewers_without_rtc,
        ),
        (
            "rtp_relayed_in",
            "Packets a media worker received from a stream's home worker for its viewers",
            c.rtp_relayed_in,
        ),
        (
            "udp_datagrams_received",
            "UDP datagrams received",
            io.datagrams_in,
        ),
        (
            "udp_received_bytes",
            "UDP payload bytes received",
            io.bytes_in,
        ),
        ("udp_datagrams_sent", "UDP datagrams sent", io.datagrams_out),
        ("udp_sent_bytes", "UDP payload bytes sent", io.bytes_out),
        (
            "udp_send_errors",
            "Datagrams the kernel refused to send (dropped)",
            io.send_errors,
        ),
        (
            "udp_send_queue_dropped",
            "Datagrams dropped while the socket stayed full (send queue over its limit)",
            io.send_queue_dropped,
        ),
        (
            "media_relay_messages",
            "Messages a media worker received from another (relayed packets of streams homed there, control)",
            io.relay_in,
        ),
        (
            "media_relay_dropped",
            "Relayed packets dropped because the receiving worker's queue was full",
            io.relay_dropped,
        ),
        (
            "udp_receive_errors",
            "Failed UDP receive calls",
            io.recv_errors,
        ),
        (
            "udp_datagrams_invalid",
            "Received datagrams dropped as oversized or without an IP source",
            io.invalid_in,
        ),
        (
            "media_snapshots",
            "Readings taken from the media workers (summed over the workers)",
            media.workers.iter().map(|w| w.snapshots).sum(),
        ),
        (
            "rooms_clients_overflowed",
            "socket.io clients disconnected because they stopped reading (queue full)",
            shell.rooms_overflowed,
        ),
        (
            "http_connections_refused_per_ip",
            "Connections closed at once: their client address held its share",
            shell.refused_per_ip,
        ),
        (
            "http_connections_refused_total_cap",
            "Connections closed at once: the server held all it may",
            shell.refused_total,
        ),
        (
            "rtmp_connections_accepted",
            "RTMP connections accepted (they also count in the connection caps)",
            shell.rtmp.accepted,
        ),
        (
            "rtmp_connections_refused",
            "RTMP connections closed at once by the connection caps",
            shell.rtmp.refused_connections,
        ),
        (
            "rtmp_publishes",
            "RTMP publish requests accepted",
            shell.rtmp.publishes,
        ),
        (
            "rtmp_publishes_refused",
            "RTMP connect or publish requests refused (stream key, token, stream)",
            shell.rtmp.refused_publishes,
        ),
        (
            "rtmp_closed_malformed",
            "RTMP connections closed for malformed input or an unsupported codec",
            shell.rtmp.fatal_errors,
        ),
        (
            "rtmp_closed_timeout",
            "RTMP connections closed for silence",
            shell.rtmp.timeouts,
        ),
        (
            "rtmp_media_errors",
            "RTMP media tags dropped or replaced by silence (the stream went on)",
            shell.rtmp.media_errors,
        ),
        (
            "recordings_started",
            "Recording files started",
            shell.recordings.started,
        ),
        (
            "recordings_finished",
            "Recording files closed cleanly",
            shell.recordings.finished,
        ),
        (
            "recordings_failed",
            "Recordings that could not start or stopped on a write error",
            shell.recordings.failed,
        ),
        (
            "recordings_bytes",
            "Bytes of finished recordings",
            shell.recordings.bytes,
        ),
        (
            "recording_packets_dropped",
            "Recorded packets dropped because the recorder fell behind",
            shell.recordings.dropped,
        ),
        (
            "local_packets_dropped",
            "Packets of RTMP publications dropped because a media worker's queue was full",
            shell.local_packets_dropped,
        ),
    ] {
        registry.register(name, help, ConstCounter::new(value));
    }
    for (name, help, value) in [
        (
            "udp_receive_seconds",
            "Time the media workers spent in receive system calls",
            io.recv_seconds,
        ),
        (
            "udp_send_seconds",
            "Time the media workers spent in send system calls",
            io.send_seconds,
        ),
    ] {
        registry.register(name, help, ConstCounter::new(value));
    }
    registry.register(
        "forwarding_latency_seconds",
        "Time from the receive call that brought a datagram in to the send call that put out \
         each datagram it caused",
        io.latency,
    );
    registry.register(
        "udp_receive_batch_size",
        "Datagrams per recvmmsg call",
        io.recv_batches,
    );
    registry.register(
        "udp_send_batch_size",
        "Datagrams per sendmmsg call",
        io.send_batches,
    );
    registry.register(
        "media_worker_cpu_seconds",
        "CPU time (user + system) of each media worker thread",
        PerWorker::counter(
            media
                .workers
                .iter()
                .map(|w| w.cpu_seconds.unwrap_or(0.0))
                .collect(),
        ),
    );
    registry.register(
        "media_worker_peers",
        "Live peers of each media worker",
        PerWorker::gauge(media.workers.iter().map(|w| w.peers as f64).collect()),
    );
    registry.register(
        "media_worker_datagrams_sent",
        "UDP datagrams sent by each media worker",
        PerWorker::counter(
            media
                .workers
                .iter()
                .map(|w| w.io.datagrams_out as f64)
                .collect(),
        ),
    );
    registry
}
