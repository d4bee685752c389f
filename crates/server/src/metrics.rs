//! `GET /metrics` in the Prometheus/OpenMetrics text format.
//!
//! The media core keeps plain running totals (no locks on the packet path); a scrape asks
//! the media worker for a snapshot and encodes it, so scraping costs nothing between scrapes.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// The metrics endpoint.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(media) = state.media.snapshot().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "media worker stopped").into_response();
    };
    let mut registry = Registry::with_prefix("podium");
    let gauge = |v: usize| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    registry.register(
        "peers",
        "Live WebRTC peers (publications and views)",
        gauge(media.peers),
    );
    registry.register(
        "signaling_sessions",
        "Open signaling WebSocket sessions",
        gauge(state.sessions.list().len()),
    );
    let c = &media.counters;
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
    ] {
        registry.register(name, help, ConstCounter::new(value));
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
