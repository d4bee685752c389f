//! Replays over HTTP: a host's list (their profile), one replay with its tracks, a track's
//! file (with ranges, so the app can seek), and deletion by the host. Every read checks who
//! may watch (the store's rule: the room's privacy when it was recorded, the host's blocks).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::handlers::success;
use super::{refusal, session};
use crate::policy::Refusal;
use crate::state::AppState;

/// Most replays a profile lists.
const LIST_LIMIT: usize = 50;

/// `GET /api/users/{id}/replays`: the host's finished replays the caller may watch.
pub(super) async fn of_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let viewer = session::current(&state, &headers)?;
    let store = state.replays.store().clone();
    let viewer = viewer.map(|v| v.id().to_owned());
    let list = blocking(move || store.replays_of(&id, viewer.as_deref(), LIST_LIMIT)).await?;
    Ok(success(json!({ "replays": list })))
}

/// `GET /api/replays/{id}`: the replay and its tracks (each with the URL of its file).
pub(super) async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let (replay, tracks) = watchable(&state, &headers, &id).await?;
    let tracks: Vec<Value> = tracks
        .into_iter()
        .map(|t| {
            let url = format!("/api/replays/{id}/tracks/{}", t.n);
            let mut v = serde_json::to_value(&t).expect("a track serialises");
            v["url"] = json!(url);
            v
        })
        .collect();
    Ok(success(json!({ "replay": replay, "tracks": tracks })))
}

/// `GET /api/replays/{id}/tracks/{n}`: a track's file (WebM Opus), ranges allowed.
pub(super) async fn track(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, u32)>,
    request: Request,
) -> Result<Response, Refusal> {
    let (_, tracks) = watchable(&state, request.headers(), &id).await?;
    let file = tracks
        .into_iter()
        .find(|t| t.n == n)
        .map(|t| t.file)
        .ok_or_else(not_found)?;
    // Stored names come from the recorder (`ROOM/FILE`); checked again so no stored value
    // can reach outside the recordings directory.
    let path =
        crate::recordings::files::resolve(state.recordings.root(), &file).ok_or_else(not_found)?;
    let served = tower_http::services::ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|_| Refusal(StatusCode::INTERNAL_SERVER_ERROR, "Not readable".into()))?;
    if served.status() == StatusCode::NOT_FOUND {
        return Err(Refusal(
            StatusCode::GONE,
            "This file is no longer here".into(),
        ));
    }
    let mut response = served.map(Body::new).into_response();
    // Private replays must not sit in shared caches.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// `DELETE /api/replays/{id}`: the host deletes a replay and its files.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let me = session::for_change(&state, &headers)?;
    let host = me.id().to_owned();
    if let Ok((replay, _)) = watchable(&state, &headers, &id).await {
        if replay.host == host && replay.ended_ms.is_none() {
            return Err(Refusal(
                StatusCode::CONFLICT,
                "This room is still being recorded: stop recording first".into(),
            ));
        }
    }
    let store = state.replays.store().clone();
    let files = blocking(move || store.delete_replay(&id, &host))
        .await?
        .ok_or_else(not_found)?;
    remove_files(&state, files).await;
    Ok(success(json!({ "deleted": true })))
}

/// Removes replay files (`ROOM/FILE`, as stored) from the recordings directory.
pub(super) async fn remove_files(state: &AppState, files: Vec<String>) {
    let root = state.recordings.root().to_owned();
    for file in files {
        if let Some(path) = crate::recordings::files::resolve(&root, &file) {
            if let Err(e) = tokio::fs::remove_file(&path).await {
                tracing::warn!(error = %e, path = %path.display(), "replay file not removed");
            }
        }
    }
}

/// Replay `id` with its tracks, if the caller may listen to it (otherwise 404: whether it
/// exists is not told).
async fn watchable(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(podium_accounts::Replay, Vec<podium_accounts::ReplayTrack>), Refusal> {
    let viewer = session::current(state, headers)?.map(|v| v.id().to_owned());
    let (store, id) = (state.replays.store().clone(), id.to_owned());
    blocking(move || store.replay_for(&id, viewer.as_deref()))
        .await?
        .ok_or_else(not_found)
}

fn not_found() -> Refusal {
    Refusal(StatusCode::NOT_FOUND, "No such replay".into())
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> podium_accounts::Result<T> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Refusal(StatusCode::INTERNAL_SERVER_ERROR, "Interrupted".into()))?
        .map_err(refusal)
}
