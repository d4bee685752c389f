//! The Director API: turns an API token (publish) or nothing (open viewing) into the
//! WebSocket URL and a short-lived JWT bound to one stream and one action.

use axum::extract::rejection::JsonRejection;
use std::net::SocketAddr;

use crate::policy::access::Requester;
use crate::policy::Refusal;
use crate::state::{unix_now, AppState};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use podium_auth::{MillicastClaims, TokenType};
use podium_proto::director::{ConnectionData, DirectorReply, PublishRequest, SubscribeRequest};

fn bad_body(rejection: JsonRejection) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        format!("Invalid request body: {}", rejection.body_text()),
    )
}

/// Stream names: 1–128 characters of letters, digits, `-`, `_`, `.`.
pub fn validate_stream_name(name: &str) -> Result<(), Refusal> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Refusal(
            StatusCode::BAD_REQUEST,
            "Invalid streamName: use 1-128 letters, digits, '-', '_' or '.'".into(),
        ))
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

pub(crate) fn requester<'a>(
    state: &AppState,
    headers: &'a HeaderMap,
    peer: SocketAddr,
) -> Requester<'a> {
    Requester {
        bearer: bearer(headers),
        origin: headers
            .get(axum::http::header::ORIGIN)
            .and_then(|h| h.to_str().ok()),
        ip: state.access.forwarding.client_ip(peer, headers),
        now: unix_now(),
        at: std::time::Instant::now(),
    }
}

/// `POST /api/director/publish`.
pub async fn publish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<PublishRequest>, JsonRejection>,
) -> Result<Json<DirectorReply>, Refusal> {
    let who = requester(&state, &headers, peer);
    state.access.check_ip_rate(who.ip, who.at)?;
    let Json(req) = body.map_err(bad_body)?;
    validate_stream_name(&req.stream_name)?;
    if let Some(t) = req.stream_type.as_deref() {
        if !t.eq_ignore_ascii_case("webrtc") {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                format!("Unsupported streamType: {t}"),
            ));
        }
    }
    let source = req.source_id.as_deref();
    let auth = state
        .access
        .authorize_publish_source(&who, &req.stream_name, source)?;
    let requires_auth = state.access.view_requires_auth(&req.stream_name);
    let grant = MillicastClaims {
        token_type: TokenType::Publish,
        stream_account_id: state.account_id.clone(),
        stream_name: req.stream_name,
        // The publish SDK exposes it as `recordingAvailable`.
        record: auth.record,
        multisource: auth.multisource,
        source_id: req.source_id,
        token_id: auth.token_id,
    };
    let base = node_base(
        &state,
        peer,
        &headers,
        Placing::Publisher(&grant.stream_name),
    )
    .await?;
    let mut data = connection_data(&state, &base, grant, "pub");
    data.subscribe_requires_auth = Some(requires_auth);
    Ok(Json(DirectorReply::Success(data)))
}

/// `POST /api/director/subscribe`: open unless the stream requires auth to view.
pub async fn subscribe(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<SubscribeRequest>, JsonRejection>,
) -> Result<Json<DirectorReply>, Refusal> {
    let who = requester(&state, &headers, peer);
    state.access.check_ip_rate(who.ip, who.at)?;
    let Json(req) = body.map_err(bad_body)?;
    validate_stream_name(&req.stream_name)?;
    let account = req.stream_account_id.or(req.account_id);
    if account.as_deref().is_some_and(|a| a != state.account_id) {
        return Err(Refusal(
            StatusCode::NOT_FOUND,
            "Unknown streamAccountId".into(),
        ));
    }
    // Old clients send `Authorization: NoAuth` for open streams.
    let auth = state.access.authorize_view(&who, &req.stream_name)?;
    let grant = MillicastClaims {
        token_type: TokenType::Subscribe,
        stream_account_id: state.account_id.clone(),
        stream_name: req.stream_name,
        // Viewers never record.
        record: false,
        multisource: false,
        source_id: None,
        token_id: auth.token_id,
    };
    let base = node_base(&state, peer, &headers, Placing::Viewer(&grant.stream_name)).await?;
    Ok(Json(DirectorReply::Success(connection_data(
        &state, &base, grant, "sub",
    ))))
}

/// Who the Director places.
pub(crate) enum Placing<'a> {
    Publisher(&'a str),
    Viewer(&'a str),
}

/// Where the client signals: this node (its URL as the client reached it), or in a cluster
/// the node the placement chose (its `--node-public-url`).
pub(crate) async fn node_base(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    placing: Placing<'_>,
) -> Result<String, Refusal> {
    let Some(cluster) = &state.cluster else {
        return Ok(ws_base(state, peer, headers));
    };
    let placed = match placing {
        Placing::Publisher(stream) => cluster.place_publisher(stream).await,
        Placing::Viewer(stream) => cluster.place_viewer(stream).await,
    }
    .map_err(|e| Refusal(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(match placed {
        Some(url) => ws_of(&url),
        None => ws_base(state, peer, headers),
    })
}

/// `http(s)://host` → `ws(s)://host`.
fn ws_of(url: &str) -> String {
    match url.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", url.strip_prefix("http://").unwrap_or(url)),
    }
}

/// Where the client that sent `headers` from `peer` reaches signaling.
pub(crate) fn ws_base(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> String {
    state
        .access
        .forwarding
        .ws_base(peer, headers, state.http_addr)
}

/// What a client needs to open signaling: the URL under `ws_base` (see
/// [`crate::policy::forwarded::Forwarding::ws_base`]) and a JWT minted for `grant`.
pub(crate) fn connection_data(
    state: &AppState,
    ws_base: &str,
    grant: MillicastClaims,
    role: &str,
) -> ConnectionData {
    let url = format!("{ws_base}/ws/v2/{role}");
    ConnectionData {
        ws_url: url.clone(),
        urls: vec![url],
        jwt: state.mint(grant),
        ice_servers: vec![],
        stream_account_id: state.account_id.clone(),
        subscribe_requires_auth: None,
    }
}

/// Unknown API paths get the same error shape.
pub async fn not_found() -> Refusal {
    Refusal(StatusCode::NOT_FOUND, "Not found".into())
}
