//! Profiles of others, following and blocking.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::handlers::success;
use super::{refusal, session};
use crate::policy::Refusal;
use crate::state::{unix_now, AppState};

/// Longest follower or following list answered.
const LIST_LIMIT: usize = 200;

fn not_found() -> Refusal {
    Refusal(StatusCode::NOT_FOUND, "No such account".into())
}

/// `GET /api/users/{name}`: a profile by username (or look-alike), with the counts and, for a
/// signed-in viewer, whether they follow or block it.
pub(super) async fn profile(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let store = &state.accounts.store;
    let account = store
        .account_named(&name)
        .map_err(refusal)?
        .ok_or_else(not_found)?;
    let (followers, following) = store.follow_counts(&account.id).map_err(refusal)?;
    let viewer = session::current(&state, &headers)?;
    let (followed, blocked) = match &viewer {
        Some(me) if me.id() != account.id => (
            store.follows(me.id(), &account.id).map_err(refusal)?,
            store
                .blocked_accounts(me.id())
                .map_err(refusal)?
                .iter()
                .any(|b| b.id == account.id),
        ),
        _ => (false, false),
    };
    Ok(success(json!({
        "account": account,
        "followers": followers,
        "following": following,
        "followedByMe": followed,
        "blockedByMe": blocked,
    })))
}

fn known(state: &AppState, id: &str) -> Result<(), Refusal> {
    state
        .accounts
        .store
        .account(id)
        .map_err(refusal)?
        .map(|_| ())
        .ok_or_else(not_found)
}

pub(super) async fn followers(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Refusal> {
    known(&state, &id)?;
    let list = state
        .accounts
        .store
        .followers(&id, LIST_LIMIT)
        .map_err(refusal)?;
    Ok(success(json!(list)))
}

pub(super) async fn following(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Refusal> {
    known(&state, &id)?;
    let list = state
        .accounts
        .store
        .following(&id, LIST_LIMIT)
        .map_err(refusal)?;
    Ok(success(json!(list)))
}

/// Changes the signed-in account's relation to another with `change` (whether it changed
/// anything), answered as `{<key>: <state>, changed}`.
fn relate(
    state: &AppState,
    headers: &HeaderMap,
    (key, to): (&str, bool),
    change: impl FnOnce(&dyn podium_accounts::Accounts, &str) -> podium_accounts::Result<bool>,
) -> Result<Json<Value>, Refusal> {
    let me = session::for_change(state, headers)?;
    let changed = change(state.accounts.store.as_ref(), me.id()).map_err(refusal)?;
    Ok(success(json!({ key: to, "changed": changed })))
}

pub(super) async fn follow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    relate(&state, &headers, ("following", true), |store, me| {
        store.follow(me, &id, unix_now())
    })
}

pub(super) async fn unfollow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    relate(&state, &headers, ("following", false), |store, me| {
        store.unfollow(me, &id)
    })
}

pub(super) async fn block(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    relate(&state, &headers, ("blocked", true), |store, me| {
        store.block(me, &id, unix_now())
    })
}

pub(super) async fn unblock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    relate(&state, &headers, ("blocked", false), |store, me| {
        store.unblock(me, &id)
    })
}

pub(super) async fn blocked(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let me = session::required(&state, &headers)?;
    let list = state
        .accounts
        .store
        .blocked_accounts(me.id())
        .map_err(refusal)?;
    Ok(success(json!(list)))
}
