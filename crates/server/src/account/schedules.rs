//! Scheduled rooms over HTTP: a signed-in host schedules, cancels and opens their rooms; a
//! signed-in person sees what the people they follow scheduled (Upcoming) and asks to be
//! reminded. Reminders go out from the rooms gateway's timer (in-app and Web Push).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use podium_accounts::NewSchedule;
use serde::Deserialize;
use serde_json::{json, Value};

use super::handlers::success;
use super::{refusal, session};
use crate::policy::Refusal;
use crate::state::{unix_now, AppState};

/// Most schedules an Upcoming answer lists.
const UPCOMING_LIMIT: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Create {
    title: String,
    #[serde(default)]
    topic: String,
    /// Unix seconds.
    starts_at: u64,
    #[serde(default = "yes")]
    audio_only: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Opened {
    room_id: String,
}

/// `GET /api/schedules`: Upcoming for the signed-in person.
pub(super) async fn upcoming(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let me = session::required(&state, &headers)?;
    let list = state
        .accounts
        .schedules
        .upcoming(me.id(), unix_now(), UPCOMING_LIMIT)
        .map_err(refusal)?;
    Ok(success(json!({ "schedules": list, "now": unix_now() })))
}

/// `GET /api/users/{id}/schedules`: a host's upcoming rooms (their profile).
pub(super) async fn of_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let viewer = session::current(&state, &headers)?;
    let list = state
        .accounts
        .schedules
        .upcoming_of(&id, viewer.as_ref().map(|v| v.id()), unix_now())
        .map_err(refusal)?;
    Ok(success(json!({ "schedules": list })))
}

/// `POST /api/schedules`: schedules a room.
pub(super) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Create>,
) -> Result<Json<Value>, Refusal> {
    let me = session::for_change(&state, &headers)?;
    let new = NewSchedule {
        title: body.title,
        topic: body.topic,
        starts_at: body.starts_at,
        audio_only: body.audio_only,
    };
    let created = state
        .accounts
        .schedules
        .schedule(me.id(), new, unix_now())
        .map_err(refusal)?;
    Ok(success(json!({ "schedule": created })))
}

/// `DELETE /api/schedules/{id}`: the host cancels.
pub(super) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let me = session::for_change(&state, &headers)?;
    let changed = state
        .accounts
        .schedules
        .cancel_schedule(me.id(), &id)
        .map_err(refusal)?;
    Ok(success(json!({ "cancelled": changed })))
}

/// `POST /api/schedules/{id}/opened`: the host opened the live room for it.
pub(super) async fn opened(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Opened>,
) -> Result<Json<Value>, Refusal> {
    let me = session::for_change(&state, &headers)?;
    if body.room_id.is_empty() || body.room_id.len() > podium_rooms::MAX_ROOM_ID_LEN {
        return Err(Refusal(
            axum::http::StatusCode::BAD_REQUEST,
            "Invalid roomId".into(),
        ));
    }
    let changed = state
        .accounts
        .schedules
        .open_schedule(me.id(), &id, &body.room_id)
        .map_err(refusal)?;
    Ok(success(json!({ "opened": changed })))
}

/// `POST /api/schedules/{id}/remind`.
pub(super) async fn remind(
    state: State<AppState>,
    id: Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    set_reminder(state, id, headers, true).await
}

/// `DELETE /api/schedules/{id}/remind`.
pub(super) async fn forget(
    state: State<AppState>,
    id: Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    set_reminder(state, id, headers, false).await
}

async fn set_reminder(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    on: bool,
) -> Result<Json<Value>, Refusal> {
    let me = session::for_change(&state, &headers)?;
    let changed = state
        .accounts
        .schedules
        .remind(me.id(), &id, on, unix_now())
        .map_err(refusal)?;
    Ok(success(json!({ "remindMe": on, "changed": changed })))
}
