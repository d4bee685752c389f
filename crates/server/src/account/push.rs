//! Web Push over HTTP: the server's public key for `pushManager.subscribe`, and a signed-in
//! browser's subscription kept for its account (or dropped when it turns notifications off).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use podium_accounts::PushSubscription;
use serde::Deserialize;
use serde_json::{json, Value};

use super::handlers::success;
use super::{refusal, session};
use crate::policy::Refusal;
use crate::state::{unix_now, AppState};

/// `PushSubscription.toJSON()`: `{endpoint, expirationTime, keys: {p256dh, auth}}`.
#[derive(Deserialize)]
pub(super) struct Subscribe {
    endpoint: String,
    keys: Keys,
}

#[derive(Deserialize)]
pub(super) struct Keys {
    p256dh: String,
    auth: String,
}

#[derive(Deserialize)]
pub(super) struct Unsubscribe {
    endpoint: String,
}

/// `GET /api/push/key`: the VAPID public key (the browser's `applicationServerKey`).
pub(super) async fn key(State(state): State<AppState>) -> Json<Value> {
    success(json!({ "publicKey": state.accounts.push.sender.public_key() }))
}

/// `POST /api/account/push`: keeps this browser's subscription for the signed-in account.
pub(super) async fn subscribe(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Subscribe>,
) -> Result<Json<Value>, Refusal> {
    let me = session::for_change(&state, &headers)?;
    let subscription = PushSubscription {
        endpoint: body.endpoint,
        p256dh: body.keys.p256dh,
        auth: body.keys.auth,
    };
    let push = &state.accounts.push;
    push.sender
        .check(&subscription)
        .map_err(|message| Refusal(StatusCode::BAD_REQUEST, message))?;
    push.store
        .add_push(me.id(), &subscription, unix_now())
        .map_err(refusal)?;
    Ok(success(json!({ "subscribed": true })))
}

/// `DELETE /api/account/push`: forgets this browser's subscription.
pub(super) async fn unsubscribe(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Unsubscribe>,
) -> Result<Json<Value>, Refusal> {
    let me = session::for_change(&state, &headers)?;
    let removed = state
        .accounts
        .push
        .store
        .remove_push(me.id(), &body.endpoint)
        .map_err(refusal)?;
    Ok(success(json!({ "subscribed": false, "changed": removed })))
}
