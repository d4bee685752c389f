//! The cluster's admin API (Bearer admin secret), on every node:
//!
//! * `GET  /api/admin/cluster` — the nodes with their load, the streams with their origin and
//!   the viewers each node serves (what `podium cluster status` prints).
//! * `POST /api/admin/cluster/drain` — `{"drain": true}` drains this node (as `podium drain`),
//!   `{"drain": false}` makes it serve again.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::authorize;
use crate::policy::Refusal;
use crate::state::AppState;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/cluster", get(status))
        .route("/api/admin/cluster/drain", post(drain))
}

fn cluster(state: &AppState) -> Result<&std::sync::Arc<super::Cluster>, Refusal> {
    state.cluster.as_ref().ok_or(Refusal(
        StatusCode::NOT_FOUND,
        "This server is not part of a cluster (--cluster)".into(),
    ))
}

fn unreachable(e: impl std::fmt::Display) -> Refusal {
    Refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("The cluster's Redis is unreachable: {e}"),
    )
}

async fn status(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    authorize(&state, peer, &headers)?;
    let cluster = cluster(&state)?;
    let status = super::status::read_from(cluster.shared())
        .await
        .map_err(unreachable)?;
    Ok(Json(json!({"status": "success", "data": status})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DrainRequest {
    drain: bool,
}

async fn drain(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<DrainRequest>, JsonRejection>,
) -> Result<Json<Value>, Refusal> {
    authorize(&state, peer, &headers)?;
    let cluster = cluster(&state)?;
    let Json(req) = body.map_err(|r| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("Invalid request body: {}", r.body_text()),
        )
    })?;
    cluster
        .shared()
        .set_drain(cluster.node(), req.drain)
        .await
        .map_err(unreachable)?;
    Ok(Json(json!({
        "status": "success",
        "data": {"node": cluster.node(), "drain": req.drain}
    })))
}
