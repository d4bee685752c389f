//! `GET /metrics` in the Prometheus/OpenMetrics text format, and `GET /healthz`.
//!
//! The media workers keep plain running totals (no locks on the packet path); a scrape asks
//! each worker for a snapshot and encodes their sum, so scraping costs nothing between
//! scrapes. Per-worker series carry a `worker="N"` label.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::media_worker::MediaSnapshot;
use crate::state::AppState;
use crate::stats::PerWorker;

/// How long `/healthz` waits for every media worker.
const HEALTH_LIMIT: Duration = Duration::from_secs(1);

/// The metrics endpoint.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(media) = state.media.snapshot().await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "media worker not answering",
        )
            .into_response();
    };
    let mut body = String::new();
    if encode(
        &mut body,
        &registry(
            &media,
            state.sessions.list().len(),
            state.access.rooms.live_count(),
        ),
    )
    .is_err()
    {
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

/// 200 `ok` when every media worker answers within a second, 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.media.snapshot_within(HEALTH_LIMIT).await {
        Ok(_) => "ok".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("media worker {} not answering", e.worker),
        )
            .into_response(),
    }
}

fn registry(media: &MediaSnapshot, sessions: usize, room_grants: usize) -> Registry {
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
            "Open signaling WebSocket sessions",
            sessions,
        ),
        (
            "room_grants",
            "Media grants in force for room members (one per member and kind)",
            room_grants,
        ),
        (
            "media_workers",
            "Media worker threads (each with its own UDP port)",
            media.workers.len(),
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
            "udp_receive_errors",
            "Failed UDP receive calls",
            io.recv_errors,
        ),
        (
            "udp_datagrams_invalid",
            "Received datagrams dropped as oversized or without an IP source",
            io.invalid_in,
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
