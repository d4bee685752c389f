//! Sign up, sign in, sign out, the signed-in account, profile and password changes.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use podium_accounts::{Account, ProfileUpdate, SESSION_SECONDS};
use serde::Deserialize;
use serde_json::{json, Value};

use super::refusal;
use super::session::{self, SignedIn};
use crate::policy::Refusal;
use crate::state::{unix_now, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ProfileChange {
    display_name: Option<String>,
    bio: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Deletion {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct PasswordChange {
    old_password: String,
    new_password: String,
}

/// A JSON body, or 400 saying what is wrong with it.
pub(super) fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Refusal> {
    body.map(|Json(b)| b).map_err(|r| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("Invalid request body: {}", r.body_text()),
        )
    })
}

/// `{status: "success", data}`.
pub(super) fn success(data: Value) -> Json<Value> {
    Json(json!({ "status": "success", "data": data }))
}

/// The account with what a page of its own needs: counts and the CSRF token.
fn me_json(state: &AppState, account: &Account, csrf: &str) -> Result<Value, Refusal> {
    let (followers, following) = state
        .accounts
        .store
        .follow_counts(&account.id)
        .map_err(refusal)?;
    Ok(json!({
        "account": account,
        "csrf": csrf,
        "followers": followers,
        "following": following,
    }))
}

/// Opens a new session for `account` (ending the one the browser had) and answers with it.
fn signed_in(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    account: Account,
    status: StatusCode,
) -> Result<Response, Refusal> {
    let store = &state.accounts.store;
    if let Some(old) = session::token(headers) {
        store.close_session(&old).map_err(refusal)?;
    }
    let new = store
        .open_session(&account.id, unix_now())
        .map_err(refusal)?;
    let cookie = session::set_cookie(
        &new.token,
        SESSION_SECONDS,
        session::is_https(state, peer, headers),
    );
    let data = me_json(state, &account, &new.csrf)?;
    Ok((status, [(SET_COOKIE, cookie)], success(data)).into_response())
}

/// Runs a store call that hashes a password (tens of milliseconds of CPU, 19 MiB) through
/// [`super::heavy`].
async fn hashing<T: Send + 'static>(
    state: &AppState,
    what: &str,
    call: impl FnOnce() -> podium_accounts::Result<T> + Send + 'static,
) -> Result<T, Refusal> {
    super::heavy(state, what, move || call().map_err(refusal)).await
}

fn client_ip(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
    state.access.forwarding.client_ip(peer, headers)
}

pub(super) async fn sign_up(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    req: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, Refusal> {
    session::same_origin(&state, peer, &headers)?;
    let req = body(req)?;
    let now = std::time::Instant::now();
    state
        .accounts
        .attempt(client_ip(&state, peer, &headers), None, now)?;
    let store = state.accounts.store.clone();
    let account = hashing(&state, "Sign-up", move || {
        store.sign_up(&req.username, &req.password, unix_now())
    })
    .await?;
    tracing::info!(account = %account.id, username = %account.username, "account created");
    signed_in(&state, peer, &headers, account, StatusCode::CREATED)
}

pub(super) async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    req: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, Refusal> {
    session::same_origin(&state, peer, &headers)?;
    let req = body(req)?;
    let now = std::time::Instant::now();
    state
        .accounts
        .attempt(client_ip(&state, peer, &headers), Some(&req.username), now)?;
    let store = state.accounts.store.clone();
    let account = hashing(&state, "Sign-in", move || {
        store.sign_in(&req.username, &req.password)
    })
    .await?;
    signed_in(&state, peer, &headers, account, StatusCode::OK)
}

pub(super) async fn sign_out(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let signed = session::for_change(&state, &headers)?;
    state
        .accounts
        .store
        .close_session(&signed.token)
        .map_err(refusal)?;
    let cookie = session::clear_cookie(session::is_https(&state, peer, &headers));
    Ok(([(SET_COOKIE, cookie)], success(Value::Null)).into_response())
}

pub(super) async fn me(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let SignedIn { session, token } = session::required(&state, &headers)?;
    // The store renews a session in use; the browser's cookie follows its expiry.
    let left = session.expires_at.saturating_sub(unix_now());
    let cookie = session::set_cookie(&token, left, session::is_https(&state, peer, &headers));
    let data = me_json(&state, &session.account, &session.csrf)?;
    Ok(([(SET_COOKIE, cookie)], success(data)).into_response())
}

pub(super) async fn update_profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Result<Json<ProfileChange>, JsonRejection>,
) -> Result<Json<Value>, Refusal> {
    let signed = session::for_change(&state, &headers)?;
    let req = body(req)?;
    let account = state
        .accounts
        .store
        .update_profile(
            signed.id(),
            ProfileUpdate {
                display_name: req.display_name,
                bio: req.bio,
            },
        )
        .map_err(refusal)?;
    Ok(success(me_json(&state, &account, &signed.session.csrf)?))
}

/// `DELETE /api/account` `{password}`: deletes the signed-in account with everything it
/// keeps, its replays' files included. Its rooms sockets are signed out at the next session
/// check (their session went with it).
pub(super) async fn delete_account(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    req: Result<Json<Deletion>, JsonRejection>,
) -> Result<Response, Refusal> {
    let signed = session::for_change(&state, &headers)?;
    let req = body(req)?;
    state.accounts.attempt(
        client_ip(&state, peer, &headers),
        Some(&signed.session.account.username),
        std::time::Instant::now(),
    )?;
    // A room of theirs recorded here whose replay is not made yet (it is made with the first
    // file): its files would have no replay left to keep them.
    if state.replays.records_for(signed.id()) {
        return Err(Refusal(
            StatusCode::CONFLICT,
            "One of your rooms is being recorded: stop recording first".into(),
        ));
    }
    let store = state.accounts.store.clone();
    let id = signed.id().to_owned();
    let files = hashing(&state, "Account deletion", move || {
        store.delete_account(&id, &req.password)
    })
    .await?;
    super::replays::remove_files(&state, files).await;
    tracing::info!(account = %signed.id(), "account deleted");
    let cookie = session::clear_cookie(session::is_https(&state, peer, &headers));
    Ok(([(SET_COOKIE, cookie)], success(json!({ "deleted": true }))).into_response())
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    req: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Response, Refusal> {
    let signed = session::for_change(&state, &headers)?;
    let req = body(req)?;
    let now = std::time::Instant::now();
    state.accounts.attempt(
        client_ip(&state, peer, &headers),
        Some(&signed.session.account.username),
        now,
    )?;
    let store = state.accounts.store.clone();
    let id = signed.id().to_owned();
    hashing(&state, "Password change", move || {
        store.change_password(&id, &req.old_password, &req.new_password)
    })
    .await?;
    // Every session ended with the change; this browser gets a new one.
    signed_in(
        &state,
        peer,
        &headers,
        signed.session.account,
        StatusCode::OK,
    )
}
