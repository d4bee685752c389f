//! The admin API (Bearer admin secret): API tokens and kicking sessions.
//!
//! * `POST   /api/admin/tokens` — create (body: label, action, streams, multisource, record,
//!   allowedOrigins, allowedIps, expiresAt); the secret is in the reply, once. `record` (publish
//!   tokens only) lets the publisher record.
//! * `GET    /api/admin/tokens` — list (no secrets).
//! * `DELETE /api/admin/tokens/{id}` — revoke; ends its sessions unless configured not to.
//! * `POST   /api/admin/kick` — end sessions: `{streamName, sourceId}` (publisher of a source,
//!   `sourceId: null` = main), `{streamName, subscriberId}` (one viewer), or `{streamName}` (all).
//! * `GET    /api/admin/sessions` — live sessions.
//! * `GET    /api/admin/reports` — reports people filed about people and rooms, newest first
//!   (`?all=true` includes resolved ones).
//! * `POST   /api/admin/reports/{id}/resolve` — marks one handled.

use axum::extract::rejection::JsonRejection;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use podium_media::PeerId;
use podium_tokens::NewToken;
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::director::{bearer, validate_stream_name};
use crate::policy::sessions::KickTarget;
use crate::policy::Refusal;
use crate::state::{unix_now, AppState};

/// The admin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/tokens", post(create_token).get(list_tokens))
        .route("/api/admin/tokens/{id}", delete(revoke_token))
        .route("/api/admin/kick", post(kick))
        .route("/api/admin/sessions", get(list_sessions))
        .route("/api/admin/reports", get(list_reports))
        .route("/api/admin/reports/{id}/resolve", post(resolve_report))
}

/// Most reports one listing returns.
const REPORTS_LISTED: usize = 500;

#[derive(Deserialize)]
struct ReportsQuery {
    #[serde(default)]
    all: bool,
}

async fn list_reports(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<ReportsQuery>,
) -> Result<Json<Value>, Refusal> {
    authorize(&state, peer, &headers)?;
    let reports = state
        .accounts
        .reports
        .reports(!query.all, REPORTS_LISTED)
        .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(success(json!({ "reports": reports })))
}

async fn resolve_report(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    authorize(&state, peer, &headers)?;
    let changed = state
        .accounts
        .reports
        .resolve_report(id, unix_now())
        .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if !changed {
        return Err(Refusal(StatusCode::NOT_FOUND, "No such open report".into()));
    }
    Ok(success(json!({ "resolved": id })))
}

fn success(data: Value) -> Json<Value> {
    Json(json!({"status": "success", "data": data}))
}

/// Checks the admin secret (`Authorization: Bearer`); a client that keeps getting it wrong
/// must wait before its next attempt is even compared.
pub(crate) fn authorize(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let ip = state.access.forwarding.client_ip(peer, headers);
    let now = std::time::Instant::now();
    if let Err(wait) = state.admin_guard.attempt(ip, now) {
        return Err(Refusal::too_many(format!(
            "Too many wrong admin secrets: wait {} s",
            wait.as_secs().max(1)
        )));
    }
    let Some(secret) = bearer(headers) else {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: Missing admin secret".into(),
        ));
    };
    if bool::from(secret.as_bytes().ct_eq(state.admin_secret.as_bytes())) {
        state.admin_guard.succeeded(ip);
        Ok(())
    } else {
        Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: Invalid admin secret".into(),
        ))
    }
}

fn bad_body(rejection: JsonRejection) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        format!("Invalid request body: {}", rejection.body_text()),
    )
}

fn store_error(e: podium_tokens::Error) -> Refusal {
    match e {
        podium_tokens::Error::Invalid(v) => Refusal(StatusCode::BAD_REQUEST, v.to_string()),
        podium_tokens::Error::Unavailable(why) => {
            tracing::warn!(error = %why, "token store unavailable");
            Refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "The token store is unavailable; try again shortly".into(),
            )
        }
        other => {
            tracing::error!(error = %other, "token store failed");
            Refusal(StatusCode::INTERNAL_SERVER_ERROR, "Internal error".into())
        }
    }
}

async fn create_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), Refusal> {
    authorize(&state, peer, &headers)?;
    let Json(new) = body.map_err(bad_body)?;
    let (record, secret) = state
        .access
        .store
        .create(new, unix_now())
        .map_err(store_error)?;
    Ok((
        StatusCode::CREATED,
        success(json!({"token": record, "secret": secret})),
    ))
}

async fn list_tokens(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    authorize(&state, peer, &headers)?;
    let tokens = state.access.store.list().map_err(store_error)?;
    Ok(success(json!({ "tokens": tokens })))
}

async fn revoke_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Refusal> {
    authorize(&state, peer, &headers)?;
    if !state
        .access
        .store
        .revoke(&id, unix_now())
        .map_err(store_error)?
    {
        return Err(Refusal(StatusCode::NOT_FOUND, "Unknown token id".into()));
    }
    let ended = if state.revoke_ends_sessions {
        state.end_token_sessions(&id, crate::policy::sessions::EndReason::TokenRevoked)
    } else {
        0
    };
    Ok(success(json!({"revoked": id, "sessionsEnded": ended})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KickRequest {
    stream_name: String,
    /// Present (string or null) = kick the publisher(s) of that source.
    #[serde(default, deserialize_with = "present")]
    source_id: Option<Option<String>>,
    subscriber_id: Option<String>,
}

/// Distinguishes `"sourceId": null` (the main source) from an absent `sourceId`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

async fn kick(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<KickRequest>, JsonRejection>,
) -> Result<Json<Value>, Refusal> {
    authorize(&state, peer, &headers)?;
    let Json(req) = body.map_err(bad_body)?;
    validate_stream_name(&req.stream_name)?;
    let target = match (req.source_id, req.subscriber_id) {
        (Some(_), Some(_)) => {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                "Give sourceId or subscriberId, not both".into(),
            ))
        }
        (Some(source), None) => KickTarget::Source(source),
        (None, Some(sub)) => {
            let id = sub
                .parse::<u64>()
                .map_err(|_| Refusal(StatusCode::BAD_REQUEST, "Invalid subscriberId".into()))?;
            KickTarget::Subscriber(PeerId(id))
        }
        (None, None) => KickTarget::Stream,
    };
    let ended = state.kick(&req.stream_name, &target);
    if ended == 0 {
        return Err(Refusal(StatusCode::NOT_FOUND, "No matching session".into()));
    }
    Ok(success(json!({ "sessionsEnded": ended })))
}

async fn list_sessions(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    authorize(&state, peer, &headers)?;
    let sessions: Vec<Value> = state
        .sessions
        .list()
        .into_iter()
        .map(|s| {
            json!({
                "streamName": s.stream,
                "role": format!("{:?}", s.role),
                "sourceId": s.source,
                "peerId": s.peer.map(|p| p.to_string()),
                "tokenId": s.token_id,
            })
        })
        .collect();
    Ok(success(json!({ "sessions": sessions })))
}
